//! The second normalization family: InstanceNormalization (6, 22),
//! GroupNormalization (18, 21), MeanVarianceNormalization (9, 13),
//! LpNormalization (1, 22), LRN (1, 13), and Dropout (10, 12, 13, 22,
//! inference mode) and CastLike (15, 19).
//!
//! Statistics are two-pass (mean, then the mean square deviation) in the
//! compute type (f32 for f32/f16/bf16, f64 for f64).

use xpucert_abi::{BackendError, DType};

use super::Args;
use crate::layout::normalize_axis;
use crate::tensor::{Data, Real, Tensor, with_real};

/// `|v|` in the compute type.
fn abs<T: Real>(v: T) -> T {
    if v < T::ZERO { -v } else { v }
}

/// Standardises each row of `len` consecutive values in place:
/// `(x - mean) / sqrt(var + eps)`, the variance over the row (1 / len).
fn standardize_rows<T: Real>(v: &mut [T], len: usize, eps: T) {
    if len == 0 {
        return;
    }
    let n = T::from_f64(len as f64);
    for row in v.chunks_exact_mut(len) {
        let mut sum = T::ZERO;
        for &x in row.iter() {
            sum += x;
        }
        let mean = sum / n;
        let mut sq = T::ZERO;
        for &x in row.iter() {
            sq += (x - mean) * (x - mean);
        }
        let denom = (sq / n + eps).sqrt();
        for x in row.iter_mut() {
            *x = (*x - mean) / denom;
        }
    }
}

/// A 1-D parameter of `len` values, or an invalid-argument error naming it.
fn param<'a>(
    args: &Args<'a>,
    i: usize,
    name: &str,
    len: usize,
) -> Result<&'a Tensor, BackendError> {
    let t = args.input(i)?;
    if t.shape != [len] {
        return Err(args.invalid(format!("{name} must have shape [{len}], got {:?}", t.shape)));
    }
    Ok(t)
}

/// The epsilon attribute (default 1e-5), finite and >= 0.
fn epsilon(args: &Args<'_>) -> Result<f64, BackendError> {
    let eps = args.attrs.float("epsilon", 1e-5)?;
    if eps.is_finite() && eps >= 0.0 {
        Ok(eps)
    } else {
        Err(args.invalid(format!("epsilon must be finite and >= 0, got {eps}")))
    }
}

/// InstanceNormalization (6, 22) and GroupNormalization (18, 21):
/// standardise each instance's group of `C / groups` channels (a group per
/// channel for InstanceNormalization), then `y = scale * x̂ + bias`, the
/// parameters indexed by channel, or by group for GroupNormalization-18.
pub fn group_norm(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let instance = args.op == "InstanceNormalization";
    let min_rank = if instance { 3 } else { 2 };
    if x.shape.len() < min_rank {
        return Err(args.invalid(format!(
            "X must have rank {min_rank} or more (N x C x D1 ...), got {:?}",
            x.shape
        )));
    }
    let c = x.shape[1];
    let groups = if instance {
        c
    } else {
        if !args.attrs.has("num_groups") {
            return Err(args.invalid("attribute num_groups is required"));
        }
        let g = args.attrs.int("num_groups", 0)?;
        usize::try_from(g)
            .ok()
            .filter(|&g| g > 0 && c % g == 0)
            .ok_or_else(|| {
                args.invalid(format!("num_groups {g} does not divide the {c} channels"))
            })?
    };
    let per_group_params = !instance && args.opset < 21;
    let len = if per_group_params { groups } else { c };
    let scale = param(args, 1, "scale", len)?;
    let bias = param(args, 2, "bias", len)?;
    let eps = epsilon(args)?;
    let spatial: usize = x.shape[2..].iter().product();
    let per_group = c.checked_div(groups).unwrap_or(0);
    with_real!(x.dtype(), T => {
        let mut v = x.to_real::<T>()?;
        standardize_rows(&mut v, per_group * spatial, T::from_f64(eps));
        let s = scale.to_real::<T>()?;
        let b = bias.to_real::<T>()?;
        if spatial > 0 {
            for (k, plane) in v.chunks_exact_mut(spatial).enumerate() {
                let ch = k % c;
                let p = if per_group_params { ch / per_group } else { ch };
                for e in plane.iter_mut() {
                    *e = *e * s[p] + b[p];
                }
            }
        }
        Tensor::from_real(x.dtype(), x.shape.clone(), v)
    })
}

/// MeanVarianceNormalization (9, 13): `(x - mean) / (sqrt(var) + 1e-9)`
/// over `axes` (default [0, 2, 3]; empty: every axis), as the function
/// body writes it (the epsilon outside the root).
pub fn mvn(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let rank = x.shape.len();
    let given = args.attrs.ints("axes")?;
    let mut axes = Vec::new();
    match given {
        Some([]) => axes.extend(0..rank),
        Some(list) => {
            for &a in list {
                axes.push(normalize_axis(a, rank, args.op)?);
            }
        }
        None => {
            for a in [0, 2, 3] {
                axes.push(normalize_axis(a, rank, args.op)?);
            }
        }
    }
    axes.sort_unstable();
    if axes.windows(2).any(|w| w[0] == w[1]) {
        return Err(args.invalid(format!("axes {axes:?} repeat an axis")));
    }
    // Kept axes first, reduced axes last: a gather into that order makes
    // each group one contiguous row.
    let mut perm: Vec<usize> = (0..rank).filter(|a| !axes.contains(a)).collect();
    perm.extend(&axes);
    let mut strides = vec![1usize; rank];
    for a in (0..rank.saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * x.shape[a + 1];
    }
    let pshape: Vec<usize> = perm.iter().map(|&a| x.shape[a]).collect();
    let offsets = permuted_offsets(
        &pshape,
        &perm.iter().map(|&a| strides[a]).collect::<Vec<_>>(),
    );
    let len: usize = axes.iter().map(|&a| x.shape[a]).product();
    let eps = f64::from(1e-9f32);
    with_real!(x.dtype(), T => {
        let src = x.to_real::<T>()?;
        let mut rows: Vec<T> = offsets.iter().map(|&o| src[o]).collect();
        if len > 0 {
            let n = T::from_f64(len as f64);
            for row in rows.chunks_exact_mut(len) {
                let mut sum = T::ZERO;
                for &v in row.iter() {
                    sum += v;
                }
                let mean = sum / n;
                let mut sq = T::ZERO;
                for &v in row.iter() {
                    sq += (v - mean) * (v - mean);
                }
                let denom = (sq / n).sqrt() + T::from_f64(eps);
                for v in row.iter_mut() {
                    *v = (*v - mean) / denom;
                }
            }
        }
        let mut out = vec![T::ZERO; src.len()];
        for (&o, &v) in offsets.iter().zip(&rows) {
            out[o] = v;
        }
        Tensor::from_real(x.dtype(), x.shape.clone(), out)
    })
}

/// The row-major flat offsets of every element of `shape` walked in order,
/// each dimension stepping by `strides`.
fn permuted_offsets(shape: &[usize], strides: &[usize]) -> Vec<usize> {
    let total: usize = shape.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..total {
        out.push(index.iter().zip(strides).map(|(i, s)| i * s).sum());
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

/// LpNormalization (1, 22): `x / ||x||_p` along `axis` (default -1), p 1 or
/// 2 (default 2); a zero norm gives zeros.
pub fn lp_norm(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let axis = normalize_axis(args.attrs.int("axis", -1)?, x.shape.len(), args.op)?;
    let p = args.attrs.int("p", 2)?;
    if !matches!(p, 1 | 2) {
        return Err(args.invalid(format!("p must be 1 or 2, got {p}")));
    }
    let len = x.shape[axis];
    let inner: usize = x.shape[axis + 1..].iter().product();
    let outer: usize = x.shape[..axis].iter().product();
    with_real!(x.dtype(), T => {
        let mut v = x.to_real::<T>()?;
        for o in 0..outer {
            for i in 0..inner {
                let base = o * len * inner + i;
                let mut acc = T::ZERO;
                for j in 0..len {
                    let e = v[base + j * inner];
                    acc += if p == 1 { abs(e) } else { e * e };
                }
                let norm = if p == 1 { acc } else { acc.sqrt() };
                for j in 0..len {
                    let e = &mut v[base + j * inner];
                    *e = if norm == T::ZERO { T::ZERO } else { *e / norm };
                }
            }
        }
        Tensor::from_real(x.dtype(), x.shape.clone(), v)
    })
}

/// LRN (1, 13): `x / (bias + alpha / size * square_sum)^beta`, the squares
/// summed over the channels `c - floor((size - 1) / 2) ..= c + ceil((size -
/// 1) / 2)` clipped to `0..C`.
pub fn lrn(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    if x.shape.len() < 3 {
        return Err(args.invalid(format!(
            "X must have rank 3 or more (N x C x D1 ...), got {:?}",
            x.shape
        )));
    }
    if !args.attrs.has("size") {
        return Err(args.invalid("attribute size is required"));
    }
    let size = args.attrs.int("size", 0)?;
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s >= 1)
        .ok_or_else(|| args.invalid(format!("size must be >= 1, got {size}")))?;
    let alpha = args.attrs.float("alpha", 1e-4)?;
    let beta = args.attrs.float("beta", 0.75)?;
    let bias = args.attrs.float("bias", 1.0)?;
    let c = x.shape[1];
    let inner: usize = x.shape[2..].iter().product();
    let (below, above) = ((size - 1) / 2, size / 2);
    with_real!(x.dtype(), T => {
        let v = x.to_real::<T>()?;
        let mut out = v.clone();
        let scale = T::from_f64(alpha / size as f64);
        let bias = T::from_f64(bias);
        let plane = c * inner;
        if plane > 0 {
            for (nb, block) in out.chunks_exact_mut(plane).enumerate() {
                let src = &v[nb * plane..(nb + 1) * plane];
                for ch in 0..c {
                    let (lo, hi) = (ch.saturating_sub(below), (ch + above).min(c - 1));
                    for i in 0..inner {
                        let mut sq = T::ZERO;
                        for k in lo..=hi {
                            let e = src[k * inner + i];
                            sq += e * e;
                        }
                        let base = bias + scale * sq;
                        let d = T::from_f64(base.to_f64().powf(beta));
                        block[ch * inner + i] = src[ch * inner + i] / d;
                    }
                }
            }
        }
        Tensor::from_real(x.dtype(), x.shape.clone(), out)
    })
}

/// Dropout (10, 12, 13, 22) in inference mode: the data unchanged and, if
/// asked for, a mask of trues. Training (training_mode true, a value the
/// support check cannot see) with a non-zero ratio is refused here as
/// unsupported; with ratio 0 it is the same copy.
pub fn dropout(args: &Args<'_>) -> Result<Vec<Tensor>, BackendError> {
    let x = args.input(0)?;
    let ratio = if args.opset >= 12 {
        match args.optional(1) {
            Some(r) => {
                if !r.shape.is_empty() {
                    return Err(args.invalid(format!("ratio must be a scalar, got {:?}", r.shape)));
                }
                r.to_real::<f64>()?[0]
            }
            None => 0.5,
        }
    } else {
        args.attrs.float("ratio", 0.5)?
    };
    if !(0.0..1.0).contains(&ratio) {
        return Err(args.invalid(format!("ratio must be in [0, 1), got {ratio}")));
    }
    if let Some(t) = args.optional(2) {
        let training = match &t.data {
            Data::Bool(v) if t.shape.is_empty() => v[0] != 0,
            _ => {
                return Err(args.invalid(format!(
                    "training_mode must be a bool scalar, got {} {:?}",
                    t.dtype(),
                    t.shape
                )));
            }
        };
        // Training with ratio 0 drops nothing: the spec's copy.
        if training && ratio != 0.0 {
            return Err(BackendError::unsupported(format!(
                "Dropout: training_mode=true with ratio {ratio} (only inference is implemented)"
            )));
        }
    }
    let mut out = vec![x.clone()];
    if args.outputs > 1 {
        out.push(Tensor::new(
            x.shape.clone(),
            Data::Bool(vec![1; x.numel()]),
        )?);
    }
    Ok(out)
}

/// CastLike (15, 19): Cast to the dtype of the second input.
pub fn cast_like(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let to: DType = args.input(1)?.dtype();
    let saturate = crate::support::saturate(&args.attrs)?;
    let round = crate::support::e8m0_rounding(&args.attrs)?;
    super::movement::convert(x, to, saturate, round)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::{AttrValue, DType, Status};

    fn bool_scalar(b: bool) -> Option<Tensor> {
        Some(Tensor::new(vec![], Data::Bool(vec![u8::from(b)])).unwrap())
    }

    #[test]
    fn instance_and_group_norm_by_hand() {
        // Instance: channel 0 [1, 3] -> x̂ [-1, 1], scale 2, B 1: [-1, 3];
        // channel 1 [0, 4] -> [-1, 1], scale -3: [3, -3].
        let eps = [("epsilon", AttrValue::Float(0.0))];
        let x = f32t(&[1, 2, 2], &[1., 3., 0., 4.]);
        for opset in [6, 22] {
            let y = run_at(
                "InstanceNormalization",
                opset,
                &eps,
                vec![x.clone(), f32t(&[2], &[2., -3.]), f32t(&[2], &[1., 0.])],
            )
            .unwrap();
            assert_close(&values(&y[0]), &[-1., 3., 3., -3.], 1e-6);
        }
        // Group: [1, 4, 1] in 2 groups -> x̂ [-1, 1, -1, 1]; 21 per channel,
        // 18 per group.
        let g = [
            ("epsilon", AttrValue::Float(0.0)),
            ("num_groups", AttrValue::Int(2)),
        ];
        let x = f32t(&[1, 4, 1], &[1., 3., 0., 4.]);
        let y = run_at(
            "GroupNormalization",
            21,
            &g,
            vec![
                x.clone(),
                f32t(&[4], &[1., 2., 3., 4.]),
                f32t(&[4], &[0., 0., 0., 1.]),
            ],
        )
        .unwrap();
        assert_close(&values(&y[0]), &[-1., 2., -3., 5.], 1e-6);
        let y = run_at(
            "GroupNormalization",
            18,
            &g,
            vec![x.clone(), f32t(&[2], &[2., 3.]), f32t(&[2], &[1., 0.])],
        )
        .unwrap();
        assert_close(&values(&y[0]), &[-1., 3., -3., 3.], 1e-6);
        let e = run_at(
            "GroupNormalization",
            21,
            &g,
            vec![x, f32t(&[2], &[2., 3.]), f32t(&[2], &[1., 0.])],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }

    #[test]
    fn mvn_lp_norm_and_lrn_by_hand() {
        // MVN per channel: [1, 3] -> [-1, 1] / (1 + 1e-9); [0, 4] -> [-2, 2] / (2 + 1e-9).
        let x = f32t(&[1, 2, 1, 2], &[1., 3., 0., 4.]);
        let y = run1("MeanVarianceNormalization", &[], vec![x]).unwrap();
        assert_close(&values(&y), &[-1., 1., -1., 1.], 1e-6);
        // Lp: [3, 4] -> [0.6, 0.8]; a zero row stays zero; p 1 counts magnitudes.
        let x = f32t(&[3, 2], &[3., 4., 0., 0., -3., 4.]);
        let y = run1("LpNormalization", &[], vec![x.clone()]).unwrap();
        assert_close(&values(&y), &[0.6, 0.8, 0., 0., -0.6, 0.8], 1e-6);
        let y = run1("LpNormalization", &[("p", AttrValue::Int(1))], vec![x]).unwrap();
        let s = 1. / 7.;
        assert_close(
            &values(&y),
            &[3. * s, 4. * s, 0., 0., -3. * s, 4. * s],
            1e-6,
        );
        // LRN, size 2 (window c..=c+1), alpha/size 1, beta 1, bias 1.
        let lrn = [
            ("size", AttrValue::Int(2)),
            ("alpha", AttrValue::Float(2.0)),
            ("beta", AttrValue::Float(1.0)),
        ];
        let y = run1("LRN", &lrn, vec![f32t(&[1, 3, 1], &[1., 2., 3.])]).unwrap();
        assert_close(&values(&y), &[1. / 6., 2. / 14., 3. / 10.], 1e-6);
    }

    #[test]
    fn dropout_copies_and_refuses_training() {
        let x = f32t(&[2, 2], &[1., f32::NAN, -0., 4.]);
        let out = run("Dropout", &[], vec![x.clone()]).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(values(&out[0])[3], 4.);
        assert!(values(&out[0])[1].is_nan());
        assert!(matches!(&out[1].data, Data::Bool(m) if m == &[1, 1, 1, 1]));
        let ratio = f32t(&[], &[0.3]);
        let e = run("Dropout", &[], vec![x.clone(), ratio, bool_scalar(true)]).unwrap_err();
        assert_eq!(e.status, Status::Unsupported);
        // Training with ratio 0 is the same copy.
        let zero = f32t(&[], &[0.]);
        let out = run("Dropout", &[], vec![x.clone(), zero, bool_scalar(true)]).unwrap();
        assert_eq!(values(&out[0])[0], 1.);
        let r = [("ratio", AttrValue::Float(0.2))];
        let out = run_at("Dropout", 10, &r, vec![x]).unwrap();
        assert_eq!(values(&out[0])[3], 4.);
    }

    #[test]
    fn cast_like_takes_the_targets_dtype() {
        let x = f32t(&[3], &[1.5, -2.7, 0.1]);
        let target = Some(Tensor::new(vec![1], Data::I32(vec![0])).unwrap());
        let y = run1("CastLike", &[], vec![x.clone(), target]).unwrap();
        assert_eq!(y.dtype(), DType::I32);
        assert!(matches!(&y.data, Data::I32(v) if v == &[1, -2, 0]));
        let target = Some(Tensor::new(vec![1], Data::F16(vec![0])).unwrap());
        let y = run1("CastLike", &[], vec![x, target]).unwrap();
        // f16 of -2.7 is -2.69921875 (0xC166).
        assert!(matches!(&y.data, Data::F16(v) if v[1] == 0xC166));
    }
}
