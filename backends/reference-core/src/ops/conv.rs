//! Conv (11), MaxPool (11, 12), AveragePool (11, 19), GlobalAveragePool
//! and GlobalMaxPool (1).
//!
//! Conv is im2col onto the MatMul GEMM ([`super::linalg::matmul_acc`]):
//! for each batch element and group, the taps of every window are gathered
//! into a `(C/group · kernel) × outputs` matrix (padding as zeros) and
//! multiplied by the group's `M/group × (C/group · kernel)` weights, which
//! W's row-major layout already is. Each output is then one blocked FMA sum
//! of `C/group · kernel` products, within the harness's summation bound.
//! f16 and bf16 are computed in f32 and rounded once.
//!
//! The pools walk the same tap table ([`Geometry::taps`]): one entry per
//! (tap, window), an input offset or padding. The window geometry follows
//! ONNX's shape inference (see [`geometry`]).

use xpucert_abi::BackendError;

use super::Args;
use super::linalg::matmul_acc;
use crate::support::Attrs;
use crate::tensor::{Data, Real, Tensor, with_real};

/// The geometry of a window sliding over the spatial axes of `[N, C, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    /// The input's spatial sizes.
    pub input: Vec<usize>,
    /// Taps per axis.
    pub kernel: Vec<usize>,
    /// Step between windows.
    pub strides: Vec<usize>,
    /// Step between taps.
    pub dilations: Vec<usize>,
    /// Padding before each axis.
    pub begin: Vec<usize>,
    /// Padding after each axis.
    pub end: Vec<usize>,
    /// The output's spatial sizes.
    pub output: Vec<usize>,
}

/// A tap in the padding.
pub const PAD: isize = -1;
/// A tap beyond the padding (a ceil_mode window's overhang).
const OUTSIDE: isize = -2;

impl Geometry {
    /// Windows per channel.
    pub fn outputs(&self) -> usize {
        self.output.iter().product()
    }

    /// Taps per window.
    pub fn taps_per_window(&self) -> usize {
        self.kernel.iter().product()
    }

    /// For tap `t` of window `p` (both row-major), at `t * outputs + p`:
    /// the input's flat spatial offset (row-major, or column-major with
    /// `column_major`), [`PAD`] or [`OUTSIDE`].
    pub fn taps(&self, column_major: bool) -> Vec<isize> {
        let rank = self.input.len();
        // Per axis, [o * k + j]: the coordinate, PAD or OUTSIDE.
        let axes: Vec<Vec<isize>> = (0..rank)
            .map(|i| {
                let (n, b, e) = (
                    self.input[i] as isize,
                    self.begin[i] as isize,
                    self.end[i] as isize,
                );
                let mut v = Vec::with_capacity(self.output[i] * self.kernel[i]);
                for o in 0..self.output[i] as isize {
                    for j in 0..self.kernel[i] as isize {
                        let c = o * self.strides[i] as isize - b + j * self.dilations[i] as isize;
                        v.push(if (0..n).contains(&c) {
                            c
                        } else if (-b..n + e).contains(&c) {
                            PAD
                        } else {
                            OUTSIDE
                        });
                    }
                }
                v
            })
            .collect();
        combine(&axes, &self.kernel, &self.output, &self.input, column_major)
    }
}

/// The tap table from per-axis coordinates: `axes[i][o * k_i + j]` is the
/// input coordinate of tap `j` of output `o` on axis `i`, or [`PAD`] /
/// [`OUTSIDE`]; the result holds, at `t * outputs + p`, the flat spatial
/// offset in an input of spatial shape `input` (row-major, or
/// column-major), or the marker. Conv's windows and ConvTranspose's
/// scattered taps differ only in `axes`.
pub fn combine(
    axes: &[Vec<isize>],
    kernel: &[usize],
    output: &[usize],
    input: &[usize],
    column_major: bool,
) -> Vec<isize> {
    let rank = input.len();
    let mut weight = vec![1isize; rank];
    if column_major {
        for i in 1..rank {
            weight[i] = weight[i - 1] * input[i - 1] as isize;
        }
    } else {
        for i in (0..rank.saturating_sub(1)).rev() {
            weight[i] = weight[i + 1] * input[i + 1] as isize;
        }
    }
    let (taps, outs) = (
        kernel.iter().product::<usize>(),
        output.iter().product::<usize>(),
    );
    let mut table = Vec::with_capacity(taps * outs);
    let (mut j, mut o) = (vec![0; rank], vec![0; rank]);
    for t in 0..taps {
        unflatten(t, kernel, &mut j);
        for p in 0..outs {
            unflatten(p, output, &mut o);
            let mut off = 0isize;
            for i in 0..rank {
                let c = axes[i][o[i] * kernel[i] + j[i]];
                off = match (c, off) {
                    (OUTSIDE, _) | (_, OUTSIDE) => OUTSIDE,
                    (PAD, _) | (_, PAD) => PAD,
                    (c, f) => f + c * weight[i],
                };
            }
            table.push(off);
        }
    }
    table
}

/// The row-major multi-index of `flat` in `dims`.
fn unflatten(mut flat: usize, dims: &[usize], out: &mut [usize]) {
    for i in (0..dims.len()).rev() {
        out[i] = flat % dims[i];
        flat /= dims[i];
    }
}

/// An int-list attribute of `rank` values of at least 1, all 1 if absent.
pub fn positive(attrs: &Attrs<'_>, name: &str, rank: usize) -> Result<Vec<usize>, BackendError> {
    match attrs.ints(name)? {
        None => Ok(vec![1; rank]),
        Some(v) if v.len() == rank && v.iter().all(|&x| (1..=1 << 32).contains(&x)) => {
            Ok(v.iter().map(|&x| x as usize).collect())
        }
        Some(v) => Err(BackendError::invalid(format!(
            "attribute {name} {v:?}: {rank} values of at least 1 expected"
        ))),
    }
}

/// The window of an op on an input of spatial shape `input` with `kernel`
/// taps per axis. `ceil`: the op has `ceil_mode`. `needs_input`: every
/// window must hold an input element (MaxPool; AveragePool without
/// count_include_pad). Output sizes as ONNX's `convPoolShapeInference`:
/// `floor` (or `ceil`) of `(in + begin + end - ek) / s`, plus one; under
/// ceil_mode a last window starting in the end padding is dropped;
/// SAME_* pad `max(0, (ceil(in / s) - 1) s + ek - in)` in total, the odd
/// unit at the end (UPPER) or the beginning (LOWER).
pub fn geometry(
    op: &str,
    attrs: &Attrs<'_>,
    input: &[usize],
    kernel: Vec<usize>,
    ceil: bool,
    needs_input: bool,
) -> Result<Geometry, BackendError> {
    let bad = |m: String| BackendError::invalid(format!("{op}: {m}"));
    let rank = input.len();
    if input.contains(&0) || kernel.iter().any(|&k| k == 0 || k > 1 << 32) {
        return Err(bad(format!(
            "spatial shape {input:?} with kernel {kernel:?}: sizes must be positive"
        )));
    }
    let strides = positive(attrs, "strides", rank)?;
    let dilations = positive(attrs, "dilations", rank)?;
    let auto_pad = attrs.string("auto_pad", "NOTSET")?;
    let pads = attrs.ints("pads")?;
    if let Some(p) = pads
        && (auto_pad != "NOTSET"
            || p.len() != 2 * rank
            || p.iter().any(|&x| !(0..=1 << 32).contains(&x)))
    {
        return Err(bad(format!(
            "pads {p:?} (auto_pad {auto_pad}): {} values of 0 or more, with auto_pad NOTSET, expected",
            2 * rank
        )));
    }
    let ceil_mode = ceil
        && match attrs.int("ceil_mode", 0)? {
            0 => false,
            1 => true,
            v => return Err(bad(format!("ceil_mode must be 0 or 1, got {v}"))),
        };
    let mut g = Geometry {
        input: input.to_vec(),
        kernel,
        strides,
        dilations,
        begin: vec![0; rank],
        end: vec![0; rank],
        output: vec![0; rank],
    };
    for i in 0..rank {
        let (n, k, s, d) = (
            g.input[i] as i128,
            g.kernel[i] as i128,
            g.strides[i] as i128,
            g.dilations[i] as i128,
        );
        let ek = (k - 1) * d + 1;
        let (b, e) = match (auto_pad, pads) {
            ("NOTSET", Some(p)) => (i128::from(p[i]), i128::from(p[rank + i])),
            ("NOTSET" | "VALID", _) => (0, 0),
            ("SAME_UPPER" | "SAME_LOWER", _) => {
                let total = (((n + s - 1) / s - 1) * s + ek - n).max(0);
                if auto_pad == "SAME_UPPER" {
                    (total / 2, total - total / 2)
                } else {
                    (total - total / 2, total / 2)
                }
            }
            (other, _) => return Err(bad(format!("auto_pad {other:?}"))),
        };
        let padded = n + b + e;
        if padded < ek {
            return Err(bad(format!(
                "window of {ek} on spatial axis {i} exceeds its padded size {padded}"
            )));
        }
        let mut out = (padded - ek + if ceil_mode { s - 1 } else { 0 }) / s + 1;
        if ceil_mode && (out - 1) * s >= n + b {
            out -= 1;
        }
        if needs_input && (0..out).any(|o| !(0..k).any(|j| (0..n).contains(&(o * s - b + j * d)))) {
            return Err(bad(format!(
                "a window on spatial axis {i} covers only padding"
            )));
        }
        (g.begin[i], g.end[i], g.output[i]) = (b as usize, e as usize, out as usize);
    }
    Ok(g)
}

/// X's shape split into batch, channels and spatial shape.
pub fn split(op: &str, x: &[usize]) -> Result<(usize, usize, Vec<usize>), BackendError> {
    if x.len() < 3 {
        return Err(BackendError::invalid(format!(
            "{op}: X must be [N, C, D1, ...], got {x:?}"
        )));
    }
    Ok((x[0], x[1], x[2..].to_vec()))
}

/// `[N, C or M, out...]`.
pub fn out_shape(n: usize, c: usize, g: &Geometry) -> Vec<usize> {
    let mut s = vec![n, c];
    s.extend(&g.output);
    s
}

/// A Conv call's window and group, its shapes checked.
pub fn conv_geometry(args: &Args<'_>) -> Result<(Geometry, usize), BackendError> {
    let (x, w) = (args.input(0)?, args.input(1)?);
    let (_, c, spatial) = split(args.op, &x.shape)?;
    let group = args.attrs.int("group", 1)?;
    let g = usize::try_from(group)
        .ok()
        .filter(|&g| g >= 1 && c % g == 0);
    let Some(g) = g else {
        return Err(args.invalid(format!("group {group} does not divide {c} channels")));
    };
    if w.shape.len() != x.shape.len() || w.shape[0] % g != 0 || w.shape[1] * g != c {
        return Err(args.invalid(format!(
            "W {:?} does not fit X {:?} in {g} groups",
            w.shape, x.shape
        )));
    }
    let kernel = w.shape[2..].to_vec();
    if let Some(k) = args.attrs.ints("kernel_shape")?
        && !k.iter().map(|&v| v as usize).eq(kernel.iter().copied())
    {
        return Err(args.invalid(format!("kernel_shape {k:?} differs from W {:?}", w.shape)));
    }
    if let Some(b) = args.optional(2)
        && b.shape != [w.shape[0]]
    {
        return Err(args.invalid(format!("B {:?} must be [{}]", b.shape, w.shape[0])));
    }
    Ok((
        geometry(args.op, &args.attrs, &spatial, kernel, false, false)?,
        g,
    ))
}

/// Conv: see the module documentation.
pub fn conv(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (g, group) = conv_geometry(args)?;
    conv_with(args, &g, group)
}

/// Conv with a given window (the mutants backend passes a wrong one).
pub fn conv_with(args: &Args<'_>, g: &Geometry, group: usize) -> Result<Tensor, BackendError> {
    let (x, w) = (args.input(0)?, args.input(1)?);
    let (n, c) = (x.shape[0], x.shape[1]);
    let m = w.shape[0];
    let lowered = Lowered {
        batch: n,
        channels: c,
        maps: m,
        group,
        spatial: g.input.iter().product(),
        taps: g.taps_per_window(),
        outputs: g.outputs(),
        table: g.taps(false),
    };
    with_real!(x.dtype(), T => {
        let (xv, wv) = (x.to_real::<T>()?, w.to_real::<T>()?);
        let y = lowered.run(&xv, &wv, args.optional(2))?;
        Tensor::from_real(x.dtype(), out_shape(n, m, g), y)
    })
}

/// A convolution lowered to im2col + GEMM: per (batch, group), the gathered
/// `(C/group · taps) × outputs` matrix times the group's `M/group ×
/// (C/group · taps)` weights. Conv and ConvTranspose differ only in the
/// gather table and the weights' layout.
pub struct Lowered {
    /// N.
    pub batch: usize,
    /// X's channels.
    pub channels: usize,
    /// Output channels.
    pub maps: usize,
    /// Groups.
    pub group: usize,
    /// Elements of one input channel.
    pub spatial: usize,
    /// Taps per output.
    pub taps: usize,
    /// Elements of one output channel.
    pub outputs: usize,
    /// At `t * outputs + p`: tap `t` of output `p`'s input offset, or
    /// negative for padding ([`Geometry::taps`]).
    pub table: Vec<isize>,
}

impl Lowered {
    /// `Y = B + W · im2col(X)` per (batch, group), `weights` row-major `M ×
    /// (C/group · taps)`.
    pub fn run<T: Real>(
        &self,
        xv: &[T],
        weights: &[T],
        bias: Option<&Tensor>,
    ) -> Result<Vec<T>, BackendError> {
        let (n, c, m, outs) = (self.batch, self.channels, self.maps, self.outputs);
        let (cg, mg) = (c / self.group, m / self.group);
        let (taps, spatial) = (self.taps, self.spatial);
        let k = cg * taps;
        let mut y = vec![T::ZERO; n * m * outs];
        let mut cols = vec![T::ZERO; k * outs];
        for batch in 0..n {
            for grp in 0..self.group {
                for ci in 0..cg {
                    let plane = &xv[(batch * c + grp * cg + ci) * spatial..][..spatial];
                    let rows = &mut cols[ci * taps * outs..(ci + 1) * taps * outs];
                    for (col, &off) in rows.iter_mut().zip(&self.table) {
                        *col = if off >= 0 {
                            plane[off as usize]
                        } else {
                            T::ZERO
                        };
                    }
                }
                let out = &mut y[(batch * m + grp * mg) * outs..][..mg * outs];
                matmul_acc(
                    &weights[grp * mg * k..(grp + 1) * mg * k],
                    &cols,
                    out,
                    mg,
                    k,
                    outs,
                );
            }
        }
        if let Some(b) = bias {
            let bv = b.to_real::<T>()?;
            for (row, &bias) in y.chunks_mut(outs.max(1)).zip(bv.iter().cycle()) {
                for v in row {
                    *v += bias;
                }
            }
        }
        Ok(y)
    }
}

/// A pool's window from its attributes (`kernel_shape` required).
pub fn pool_geometry(args: &Args<'_>, needs_input: bool) -> Result<Geometry, BackendError> {
    let x = args.input(0)?;
    let (_, _, spatial) = split(args.op, &x.shape)?;
    let kernel = args
        .attrs
        .ints("kernel_shape")?
        .ok_or_else(|| args.invalid("attribute kernel_shape is required"))?;
    if kernel.len() != spatial.len() || kernel.iter().any(|&k| k < 1) {
        return Err(args.invalid(format!("kernel_shape {kernel:?} for spatial {spatial:?}")));
    }
    let kernel = kernel.iter().map(|&k| k as usize).collect();
    geometry(args.op, &args.attrs, &spatial, kernel, true, needs_input)
}

/// An int8/uint8 tensor's values as f64 (MaxPool-12's integer inputs).
fn small_ints(t: &Tensor) -> Option<Vec<f64>> {
    match &t.data {
        Data::I8(v) => Some(v.iter().map(|&x| f64::from(x)).collect()),
        Data::U8(v) => Some(v.iter().map(|&x| f64::from(x)).collect()),
        _ => None,
    }
}

/// MaxPool: values and int64 indices (see [`maxpool_with`]).
pub fn maxpool(args: &Args<'_>) -> Result<Vec<Tensor>, BackendError> {
    let g = pool_geometry(args, true)?;
    maxpool_with(args, &g)
}

/// MaxPool over a given window: the largest element of each window (ties
/// to the first tap, NaN winning), and its flat index in X, the spatial
/// part column-major with storage_order 1.
pub fn maxpool_with(args: &Args<'_>, g: &Geometry) -> Result<Vec<Tensor>, BackendError> {
    let x = args.input(0)?;
    let column_major = match args.attrs.int("storage_order", 0)? {
        0 => false,
        1 => true,
        v => return Err(args.invalid(format!("storage_order must be 0 or 1, got {v}"))),
    };
    let (n, c) = (x.shape[0], x.shape[1]);
    let values_at = g.taps(false);
    let index_at = if column_major {
        g.taps(true)
    } else {
        values_at.clone()
    };
    let shape = out_shape(n, c, g);
    let run = |xv: &[f64]| pool_max(xv, n * c, g, &values_at, &index_at);
    if let Some(xv) = small_ints(x) {
        let (y, ix) = run(&xv);
        let data = match x.data {
            Data::I8(_) => Data::I8(y.iter().map(|&v| v as i8).collect()),
            _ => Data::U8(y.iter().map(|&v| v as u8).collect()),
        };
        return Ok(vec![
            Tensor::new(shape.clone(), data)?,
            Tensor::new(shape, Data::I64(ix))?,
        ]);
    }
    with_real!(x.dtype(), T => {
        // Widening to f64 is exact, and a maximum rounds nothing.
        let xv: Vec<f64> = x.to_real::<T>()?.into_iter().map(Real::to_f64).collect();
        let (y, ix) = run(&xv);
        let y: Vec<T> = y.into_iter().map(T::from_f64).collect();
        Ok(vec![
            Tensor::from_real(x.dtype(), shape.clone(), y)?,
            Tensor::new(shape, Data::I64(ix))?,
        ])
    })
}

/// The max of every window of every one of `planes` channels.
fn pool_max(
    xv: &[f64],
    planes: usize,
    g: &Geometry,
    values_at: &[isize],
    index_at: &[isize],
) -> (Vec<f64>, Vec<i64>) {
    let (taps, outs) = (g.taps_per_window(), g.outputs());
    let spatial: usize = g.input.iter().product();
    let mut y = vec![f64::NEG_INFINITY; planes * outs];
    let mut ix = vec![0i64; planes * outs];
    for plane in 0..planes {
        let xs = &xv[plane * spatial..][..spatial];
        let (ys, is) = (
            &mut y[plane * outs..][..outs],
            &mut ix[plane * outs..][..outs],
        );
        let mut seen = vec![false; outs];
        for t in 0..taps {
            for p in 0..outs {
                let off = values_at[t * outs + p];
                if off < 0 {
                    continue;
                }
                let v = xs[off as usize];
                let best = ys[p];
                if !seen[p] || (!best.is_nan() && (v.is_nan() || v > best)) {
                    seen[p] = true;
                    ys[p] = v;
                    is[p] = (plane * spatial) as i64 + index_at[t * outs + p] as i64;
                }
            }
        }
    }
    (y, ix)
}

/// AveragePool: each window's mean, padding counted as zeros only with
/// count_include_pad, a ceil_mode overhang never counted.
pub fn average_pool(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let include = match args.attrs.int("count_include_pad", 0)? {
        0 => false,
        1 => true,
        v => return Err(args.invalid(format!("count_include_pad must be 0 or 1, got {v}"))),
    };
    let g = pool_geometry(args, !include)?;
    let (n, c) = (x.shape[0], x.shape[1]);
    let (taps, outs) = (g.taps_per_window(), g.outputs());
    let spatial: usize = g.input.iter().product();
    let table = g.taps(false);
    // The divisor of each window (the same in every channel).
    let counts: Vec<usize> = (0..outs)
        .map(|p| {
            (0..taps)
                .filter(|t| {
                    let off = table[t * outs + p];
                    off >= 0 || (include && off == PAD)
                })
                .count()
                .max(1)
        })
        .collect();
    with_real!(x.dtype(), T => {
        let xv = x.to_real::<T>()?;
        let mut y = vec![T::ZERO; n * c * outs];
        for (plane, ys) in y.chunks_mut(outs.max(1)).enumerate() {
            let xs = &xv[plane * spatial..][..spatial];
            for t in 0..taps {
                for (p, acc) in ys.iter_mut().enumerate() {
                    let off = table[t * outs + p];
                    if off >= 0 {
                        *acc += xs[off as usize];
                    }
                }
            }
            for (acc, &count) in ys.iter_mut().zip(&counts) {
                *acc /= T::from_f64(count as f64);
            }
        }
        Tensor::from_real(x.dtype(), out_shape(n, c, &g), y)
    })
}

/// GlobalAveragePool (`max` false) and GlobalMaxPool: the mean or the
/// maximum (NaN propagating) over all spatial axes, shape `[N, C, 1, ...]`.
pub fn global_pool(args: &Args<'_>, max: bool) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let (n, c, spatial) = split(args.op, &x.shape)?;
    if spatial.contains(&0) {
        return Err(args.invalid(format!("X {:?} has an empty spatial axis", x.shape)));
    }
    let size: usize = spatial.iter().product();
    let mut shape = vec![n, c];
    shape.extend(std::iter::repeat_n(1, spatial.len()));
    with_real!(x.dtype(), T => {
        let xv = x.to_real::<T>()?;
        let y: Vec<T> = xv
            .chunks(size)
            .map(|plane| {
                if max {
                    plane.iter().copied().fold(T::NEG_INFINITY, |m, v| {
                        if m.is_nan() || v.is_nan() { v + m } else if v > m { v } else { m }
                    })
                } else {
                    plane.iter().copied().fold(T::ZERO, |s, v| s + v)
                        / T::from_f64(size as f64)
                }
            })
            .collect();
        Tensor::from_real(x.dtype(), shape, y)
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::Data;
    use xpucert_abi::{AttrValue, Status};

    #[test]
    fn conv_asymmetric_pads_bias_and_groups() {
        // Padded X = [0, 1, 2, 3, 4, 5, 0, 0]; y[o] = p[o] - p[o + 2] - 10.
        let y = run1(
            "Conv",
            &[("pads", AttrValue::Ints(&[1, 2]))],
            vec![
                f32t(&[1, 1, 5], &[1.0, 2.0, 3.0, 4.0, 5.0]),
                f32t(&[1, 1, 3], &[1.0, 0.0, -1.0]),
                f32t(&[1], &[-10.0]),
            ],
        )
        .unwrap();
        assert_eq!(y.shape, [1, 1, 6]);
        assert_eq!(values(&y), [-12.0, -12.0, -12.0, -12.0, -6.0, -5.0]);
        let y = run1(
            "Conv",
            &[("group", AttrValue::Int(2))],
            vec![
                f32t(&[1, 2, 2], &[1.0, 2.0, 3.0, 4.0]),
                f32t(&[2, 1, 1], &[2.0, 3.0]),
            ],
        )
        .unwrap();
        assert_eq!(values(&y), [2.0, 4.0, 9.0, 12.0]);
        let lower = run1(
            "Conv",
            &[("auto_pad", AttrValue::String("SAME_LOWER"))],
            vec![
                f32t(&[1, 1, 4], &[1.0, 2.0, 3.0, 4.0]),
                f32t(&[1, 1, 2], &[1.0, 1.0]),
            ],
        )
        .unwrap();
        assert_eq!(values(&lower), [1.0, 3.0, 5.0, 7.0]);
    }

    #[test]
    fn conv_2d_stride_dilation() {
        let ramp: Vec<f32> = (0..25u8).map(f32::from).collect();
        let y = run1(
            "Conv",
            &[
                ("strides", AttrValue::Ints(&[2, 2])),
                ("dilations", AttrValue::Ints(&[2, 2])),
            ],
            vec![
                f32t(&[1, 1, 5, 5], &ramp),
                f32t(&[1, 1, 2, 2], &[1.0, 0.0, 0.0, 10.0]),
            ],
        )
        .unwrap();
        assert_eq!(y.shape, [1, 1, 2, 2]);
        assert_eq!(values(&y), [120.0, 142.0, 230.0, 252.0]);
        let bad = run1(
            "Conv",
            &[("group", AttrValue::Int(3))],
            vec![f32t(&[1, 4, 5], &[0.0; 20]), f32t(&[3, 1, 1], &[0.0; 3])],
        )
        .unwrap_err();
        assert_eq!(bad.status, Status::InvalidArgument);
    }

    #[test]
    fn maxpool_ceil_mode_and_indices() {
        let out = run(
            "MaxPool",
            &[
                ("kernel_shape", AttrValue::Ints(&[2])),
                ("strides", AttrValue::Ints(&[2])),
                ("ceil_mode", AttrValue::Int(1)),
            ],
            vec![f32t(&[1, 1, 5], &[1.0, 5.0, 2.0, 4.0, 3.0])],
        )
        .unwrap();
        assert_eq!(values(&out[0]), [5.0, 4.0, 3.0]);
        assert_eq!(out[1].data, Data::I64(vec![1, 3, 4]));
        let x = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 9.0, 6.0];
        let out = run(
            "MaxPool",
            &[
                ("kernel_shape", AttrValue::Ints(&[2, 3])),
                ("storage_order", AttrValue::Int(1)),
            ],
            vec![f32t(&[1, 2, 2, 3], &x)],
        )
        .unwrap();
        assert_eq!(values(&out[0]), [0.0, 9.0]);
        assert_eq!(out[1].data, Data::I64(vec![0, 9]));
    }

    #[test]
    fn maxpool_int8_from_opset_12() {
        let x = || Some(crate::tensor::Tensor::new(vec![1, 1, 2], Data::I8(vec![-5, 7])).unwrap());
        let k = [("kernel_shape", AttrValue::Ints(&[2]))];
        let out = run_at("MaxPool", 12, &k, vec![x()]).unwrap();
        assert_eq!(out[0].data, Data::I8(vec![7]));
        assert_eq!(out[1].data, Data::I64(vec![1]));
        let e = run_at("MaxPool", 11, &k, vec![x()]).unwrap_err();
        assert_eq!(e.status, Status::Unsupported);
    }

    #[test]
    fn average_pool_padding_and_overhang() {
        let x = || f32t(&[1, 1, 3], &[1.0, 2.0, 3.0]);
        let k = ("kernel_shape", AttrValue::Ints(&[2]));
        let p = ("pads", AttrValue::Ints(&[1, 1]));
        let y = run1("AveragePool", &[k, p], vec![x()]).unwrap();
        assert_eq!(values(&y), [1.0, 1.5, 2.5, 3.0]);
        let inc = ("count_include_pad", AttrValue::Int(1));
        let y = run1("AveragePool", &[k, p, inc], vec![x()]).unwrap();
        assert_eq!(values(&y), [0.5, 1.5, 2.5, 1.5]);
        let y = run1(
            "AveragePool",
            &[
                k,
                inc,
                ("strides", AttrValue::Ints(&[2])),
                ("ceil_mode", AttrValue::Int(1)),
            ],
            vec![f32t(&[1, 1, 5], &[1.0, 2.0, 3.0, 4.0, 5.0])],
        )
        .unwrap();
        assert_eq!(values(&y), [1.5, 3.5, 5.0]);
        let d = ("dilations", AttrValue::Ints(&[2]));
        let y = run_at(
            "AveragePool",
            19,
            &[k, d],
            vec![f32t(&[1, 1, 5], &[1.0, 2.0, 3.0, 4.0, 5.0])],
        )
        .unwrap();
        assert_eq!(values(&y[0]), [2.0, 3.0, 4.0]);
        let e = run_at("AveragePool", 11, &[k, d], vec![x()]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }

    #[test]
    fn global_pools() {
        let x = || f32t(&[1, 2, 2], &[1.0, 2.0, -3.0, -5.0]);
        let y = run1("GlobalAveragePool", &[], vec![x()]).unwrap();
        assert_eq!(y.shape, [1, 2, 1]);
        assert_eq!(values(&y), [1.5, -4.0]);
        let y = run1("GlobalMaxPool", &[], vec![x()]).unwrap();
        assert_eq!(values(&y), [2.0, -3.0]);
    }
}
