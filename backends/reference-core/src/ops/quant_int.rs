//! MatMulInteger (10), QLinearMatMul (10, 21), ConvInteger (10),
//! QLinearConv (10) and DynamicQuantizeLinear (11).
//!
//! The integer products run on MatMul's and Conv's own kernels
//! ([`MatMulPlan`], [`Lowered`]) in f64 on the operands with their zero
//! points subtracted: every product and partial sum is an integer below
//! 2^53, so the f64 sum is the exact int32 accumulation. The requantizing
//! ops then rescale as a typical CPU kernel does, in f32: the multiplier
//! `s_a · s_b / s_y` (or `s_x · s_w / s_y`), the accumulator converted to
//! f32, their product plus the zero point, rounded half to even and
//! saturated. That is the honest f32 computation the harness's near-tie
//! allowance is made for. DynamicQuantizeLinear computes its scale, zero
//! point and quotients in f32 as ONNX's reference does.

use xpucert_abi::{BackendError, DType};

use super::Args;
use super::conv::{Lowered, geometry, out_shape, split};
use super::linalg::MatMulPlan;
use crate::tensor::{Data, Tensor};

/// The values of an int8, uint8 or int32 tensor, exactly, as f64.
fn ints(args: &Args<'_>, t: &Tensor) -> Result<Vec<f64>, BackendError> {
    Ok(match &t.data {
        Data::I8(v) => v.iter().map(|&e| f64::from(e)).collect(),
        Data::U8(v) => v.iter().map(|&e| f64::from(e)).collect(),
        Data::I32(v) => v.iter().map(|&e| f64::from(e)).collect(),
        other => {
            return Err(args.invalid(format!("integer tensor expected, got {}", other.dtype())));
        }
    })
}

/// An optional scale or zero point's values (`default` for an absent one).
fn values(args: &Args<'_>, i: usize, default: f64) -> Result<Vec<f64>, BackendError> {
    match args.optional(i) {
        None => Ok(vec![default]),
        Some(t) if matches!(t.dtype(), DType::F32 | DType::F16 | DType::BF16) => t.to_real::<f64>(),
        Some(t) => ints(args, t),
    }
}

/// A per-tensor, per-row (of A) or per-column (of B) parameter spread over
/// the `batches × len` rows or columns of its operand of shape `x`: `[1]`
/// or a scalar everywhere; `[len]` for a 2-D operand; the operand's shape
/// with the other matrix axis 1.
fn spread(
    args: &Args<'_>,
    i: usize,
    x: &[usize],
    rows: bool,
    default: f64,
) -> Result<Vec<f64>, BackendError> {
    let v = values(args, i, default)?;
    let r = x.len();
    let batches: usize = x[..r.saturating_sub(2)].iter().product();
    let len = match (r, rows) {
        (1, _) => 1,
        (_, true) => x[r - 2],
        (_, false) => x[r - 1],
    };
    if v.len() == 1 {
        return Ok(vec![v[0]; batches * len]);
    }
    let shape = args
        .optional(i)
        .map(|t| t.shape.clone())
        .unwrap_or_default();
    let mut nd = x.to_vec();
    if r >= 2 {
        nd[if rows { r - 1 } else { r - 2 }] = 1;
    }
    if r >= 2 && ((r == 2 && shape == [len]) || shape == nd) {
        return Ok(v);
    }
    Err(args.invalid(format!(
        "input {i} of shape {shape:?} is neither per tensor nor per {} of {x:?}",
        if rows { "row" } else { "column" }
    )))
}

/// `x - zp`, the zero point spread over A's rows (`rows`) or B's columns.
fn shift(x: &[f64], zp: &[f64], shape: &[usize], rows: bool) -> Vec<f64> {
    let r = shape.len();
    let (m, n) = if r == 1 {
        if rows { (1, shape[0]) } else { (shape[0], 1) }
    } else {
        (shape[r - 2], shape[r - 1])
    };
    x.iter()
        .enumerate()
        .map(|(e, &v)| {
            let (batch, i, j) = (e / (m * n), (e / n) % m, e % n);
            let z = if rows {
                zp[batch * m + i]
            } else {
                zp[batch * n + j]
            };
            v - z
        })
        .collect()
}

/// The int32 product of `(a - zp_a)` and `(b - zp_b)` (inputs `ia`, `ib`;
/// zero points `za`, `zb`), with its plan.
fn integer_product(
    args: &Args<'_>,
    [ia, za, ib, zb]: [usize; 4],
) -> Result<(Vec<f64>, MatMulPlan), BackendError> {
    let (a, b) = (args.input(ia)?, args.input(ib)?);
    let plan = MatMulPlan::new(&a.shape, &b.shape).map_err(|e| args.invalid(e))?;
    let av = shift(
        &ints(args, a)?,
        &spread(args, za, &a.shape, true, 0.0)?,
        &a.shape,
        true,
    );
    let bv = shift(
        &ints(args, b)?,
        &spread(args, zb, &b.shape, false, 0.0)?,
        &b.shape,
        false,
    );
    let mut acc = vec![0.0f64; plan.a_index.len() * plan.m * plan.n];
    plan.run(&av, &bv, &mut acc);
    Ok((acc, plan))
}

/// An int32 tensor from exact integer values.
fn int32(shape: Vec<usize>, v: &[f64]) -> Result<Tensor, BackendError> {
    Tensor::new(shape, Data::I32(v.iter().map(|&x| x as i32).collect()))
}

/// MatMulInteger: `(A - a_zero_point) · (B - b_zero_point)` in int32.
pub fn matmul_integer(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (acc, plan) = integer_product(args, [0, 2, 1, 3])?;
    int32(plan.shape, &acc)
}

/// `saturate(round_half_even(acc · multiplier + zp))` in f32, into the
/// dtype of `zp`'s tensor.
fn requantize(out: DType, acc: f64, multiplier: f32, zp: f32) -> f64 {
    let (lo, hi) = if out == DType::I8 {
        (-128.0, 127.0)
    } else {
        (0.0, 255.0)
    };
    let v = (acc as f32) * multiplier + zp;
    f64::from(v.round_ties_even()).clamp(lo, hi)
}

/// An int8 or uint8 tensor of `out` from saturated integer values.
fn small(out: DType, shape: Vec<usize>, v: &[f64]) -> Result<Tensor, BackendError> {
    let data = if out == DType::I8 {
        Data::I8(v.iter().map(|&x| x as i8).collect())
    } else {
        Data::U8(v.iter().map(|&x| x as u8).collect())
    };
    Tensor::new(shape, data)
}

/// QLinearMatMul: the integer product rescaled in f32 (module docs).
pub fn qlinear_matmul(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (acc, plan) = integer_product(args, [0, 2, 3, 5])?;
    let (a, b) = (args.input(0)?, args.input(3)?);
    let sa = spread(args, 1, &a.shape, true, 1.0)?;
    let sb = spread(args, 4, &b.shape, false, 1.0)?;
    let (sy, zy) = (values(args, 6, 1.0)?, values(args, 7, 0.0)?);
    if sy.len() != 1 || zy.len() != 1 {
        return Err(args.invalid("y_scale and y_zero_point must be per tensor"));
    }
    let out = args.input(7)?.dtype();
    let (m, n) = (plan.m, plan.n);
    let y: Vec<f64> = acc
        .iter()
        .enumerate()
        .map(|(e, &v)| {
            let (batch, i, j) = (e / (m * n), (e / n) % m, e % n);
            let (ai, bj) = (plan.a_index[batch], plan.b_index[batch]);
            let mult = (sa[ai * m + i] as f32) * (sb[bj * n + j] as f32) / (sy[0] as f32);
            requantize(out, v, mult, zy[0] as f32)
        })
        .collect();
    small(out, plan.shape, &y)
}

/// The int32 convolution of `x - x_zero_point` and `w - w_zero_point` (w
/// at input `wi`, zero points at `xz`, `wz`; w's per output channel),
/// padding reading as x's zero point; with the output shape and M.
fn integer_conv(
    args: &Args<'_>,
    wi: usize,
    xz: usize,
    wz: usize,
) -> Result<(Vec<f64>, Vec<usize>, usize), BackendError> {
    let (x, w) = (args.input(0)?, args.input(wi)?);
    let (n, c, spatial) = split(args.op, &x.shape)?;
    let group = args.attrs.int("group", 1)?;
    let g = usize::try_from(group)
        .ok()
        .filter(|&g| g >= 1 && c % g == 0)
        .ok_or_else(|| args.invalid(format!("group {group} does not divide {c} channels")))?;
    if w.shape.len() != x.shape.len() || w.shape[0] % g != 0 || w.shape[1] * g != c {
        return Err(args.invalid(format!(
            "w {:?} does not fit x {:?} in {g} groups",
            w.shape, x.shape
        )));
    }
    let m = w.shape[0];
    let kernel = w.shape[2..].to_vec();
    if let Some(k) = args.attrs.ints("kernel_shape")?
        && !k.iter().map(|&v| v as usize).eq(kernel.iter().copied())
    {
        return Err(args.invalid(format!("kernel_shape {k:?} differs from w {:?}", w.shape)));
    }
    let geo = geometry(args.op, &args.attrs, &spatial, kernel, false, false)?;
    let zx = values(args, xz, 0.0)?;
    let zw = values(args, wz, 0.0)?;
    if zx.len() != 1 || (zw.len() != 1 && zw.len() != m) {
        return Err(args.invalid(format!(
            "x's zero point must be per tensor, w's per tensor or per channel [{m}]"
        )));
    }
    let xv: Vec<f64> = ints(args, x)?.iter().map(|&v| v - zx[0]).collect();
    let per = w.numel() / m.max(1);
    let wv: Vec<f64> = ints(args, w)?
        .iter()
        .enumerate()
        .map(|(e, &v)| v - if zw.len() == 1 { zw[0] } else { zw[e / per] })
        .collect();
    let lowered = Lowered {
        batch: n,
        channels: c,
        maps: m,
        group: g,
        spatial: geo.input.iter().product(),
        taps: geo.taps_per_window(),
        outputs: geo.outputs(),
        table: geo.taps(false),
    };
    let y = lowered.run(&xv, &wv, None)?;
    Ok((y, out_shape(n, m, &geo), m))
}

/// ConvInteger: Conv of the shifted operands in int32.
pub fn conv_integer(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (acc, shape, _) = integer_conv(args, 1, 2, 3)?;
    int32(shape, &acc)
}

/// QLinearConv: ConvInteger's sum plus the int32 bias, rescaled in f32 by
/// `x_scale · w_scale[m] / y_scale` (module docs).
pub fn qlinear_conv(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (mut acc, shape, m) = integer_conv(args, 3, 2, 5)?;
    let plane: usize = shape[2..].iter().product();
    if let Some(b) = args.optional(8) {
        if b.shape != [m] {
            return Err(args.invalid(format!("B {:?} must be [{m}]", b.shape)));
        }
        let bv = ints(args, b)?;
        for (e, v) in acc.iter_mut().enumerate() {
            *v += bv[(e / plane.max(1)) % m];
        }
    }
    let (sx, sw, sy, zy) = (
        values(args, 1, 1.0)?,
        values(args, 4, 1.0)?,
        values(args, 6, 1.0)?,
        values(args, 7, 0.0)?,
    );
    if sx.len() != 1 || sy.len() != 1 || zy.len() != 1 || (sw.len() != 1 && sw.len() != m) {
        return Err(args.invalid(
            "x's and y's scales and zero points must be per tensor, w's per tensor or per channel",
        ));
    }
    let out = args.input(7)?.dtype();
    let y: Vec<f64> = acc
        .iter()
        .enumerate()
        .map(|(e, &v)| {
            let ch = (e / plane.max(1)) % m;
            let s = if sw.len() == 1 { sw[0] } else { sw[ch] };
            let mult = (sx[0] as f32) * (s as f32) / (sy[0] as f32);
            requantize(out, v, mult, zy[0] as f32)
        })
        .collect();
    small(out, shape, &y)
}

/// DynamicQuantizeLinear: in f32, `s = (max(0, max x) - min(0, min x)) /
/// 255` (1/255 for a zero range), `zp = saturate(round(0 - min / s))`, `y =
/// saturate(round(x / s) + zp)`, rounding half to even.
pub fn dynamic_quantize_linear(args: &Args<'_>) -> Result<Vec<Tensor>, BackendError> {
    let x = args.input(0)?;
    let xv = x.to_real::<f32>()?;
    if xv.is_empty() || xv.iter().any(|v| !v.is_finite()) {
        return Err(args.invalid("x must be nonempty and finite"));
    }
    let hi = xv.iter().copied().fold(0.0f32, f32::max);
    let lo = xv.iter().copied().fold(0.0f32, f32::min);
    let range = if hi == lo { 1.0 } else { hi - lo };
    let scale = range / 255.0;
    let zp = (0.0 - lo / scale).round_ties_even().clamp(0.0, 255.0) + 0.0;
    let y: Vec<u8> = xv
        .iter()
        .map(|&v| ((v / scale).round_ties_even() + zp).clamp(0.0, 255.0) as u8)
        .collect();
    Ok(vec![
        Tensor::new(x.shape.clone(), Data::U8(y))?,
        Tensor::new(vec![], Data::F32(vec![scale]))?,
        Tensor::new(vec![], Data::U8(vec![zp as u8]))?,
    ])
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};

    fn t(shape: &[usize], data: Data) -> Option<Tensor> {
        Some(Tensor::new(shape.to_vec(), data).unwrap())
    }

    #[test]
    fn matmul_integer_subtracts_row_and_column_zero_points() {
        // A - [1, 2] per row = [[0, 1], [1, 2]]; B - [1, 0] per column.
        let a = t(&[2, 2], Data::U8(vec![1, 2, 3, 4]));
        let b = t(&[2, 2], Data::U8(vec![1, 2, 3, 4]));
        let za = t(&[2], Data::U8(vec![1, 2]));
        let zb = t(&[2], Data::U8(vec![1, 0]));
        let y = run("MatMulInteger", &[], vec![a, b, za, zb]).unwrap();
        // B' = [[0, 2], [2, 4]].
        assert_eq!(y[0].data, Data::I32(vec![2, 4, 4, 10]));
    }

    #[test]
    fn qlinear_matmul_rounds_half_to_even_and_saturates() {
        // acc = a · b = [1, 3, 255]; scale 1/2: [0.5, 1.5, 127.5] -> 0, 2, 128.
        let a = t(&[3, 1], Data::U8(vec![1, 3, 255]));
        let b = t(&[1, 1], Data::U8(vec![1]));
        let f = |v: f32| t(&[], Data::F32(vec![v]));
        let z = || t(&[], Data::U8(vec![0]));
        let y = run(
            "QLinearMatMul",
            &[],
            vec![
                a,
                f(0.5),
                z(),
                b,
                f(1.0),
                z(),
                f(1.0),
                t(&[], Data::I8(vec![0])),
            ],
        )
        .unwrap();
        assert_eq!(y[0].data, Data::I8(vec![0, 2, 127]));
    }

    #[test]
    fn dynamic_quantize_linear_by_hand() {
        // ONNX's example: scale 5/255, zero point 153.
        let x = t(&[6], Data::F32(vec![0.0, 2.0, -3.0, -2.5, 1.34, 0.5]));
        let y = run("DynamicQuantizeLinear", &[], vec![x]).unwrap();
        assert_eq!(y[0].data, Data::U8(vec![153, 255, 0, 26, 221, 179]));
        assert_eq!(y[1].data, Data::F32(vec![5.0 / 255.0]));
        assert_eq!(y[2].data, Data::U8(vec![153]));
    }
}
