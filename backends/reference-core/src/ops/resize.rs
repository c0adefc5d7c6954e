//! Resize (opsets 11, 13, 18 and 19), separably: one pass per resized axis.
//!
//! Each resized axis gets a table of taps (input index, weight) per output
//! index, computed in f64 from the coordinate transform; nearest becomes a
//! single tap of weight 1 and is a pure gather (any dtype), linear and
//! cubic run one weighted pass per axis in the compute type (f32 for
//! f32/f16/bf16, f64 for f64). tf_crop_and_resize's extrapolated points get
//! `extrapolation_value` once at the end, wherever any axis samples outside
//! the input. Versions differ in inputs (11: roi and scales required, an
//! empty scales meaning "use sizes"), attributes (18: antialias, axes,
//! keep_aspect_ratio_policy) and transforms (11 only: tf_half_pixel_for_nn;
//! 19: half_pixel_symmetric).

use xpucert_abi::{BackendError, DType};

use super::Args;
use crate::layout::{contiguous_strides, normalize_axis};
use crate::tensor::{Data, Real, Tensor};

#[derive(Clone, Copy, PartialEq)]
enum Interp {
    Nearest,
    Linear,
    Cubic,
}

/// One axis: lengths, the scale its coordinates divide by, its roi.
struct Axis {
    len_in: usize,
    len_out: usize,
    scale: f64,
    /// `scale * len_in`: fractional when the scale is given.
    width: f64,
    start: f64,
    end: f64,
    resized: bool,
}

/// The attributes that shape the taps.
struct Sampling<'a> {
    interp: Interp,
    transform: &'a str,
    nearest: &'a str,
    a: f64,
    exclude_outside: bool,
    antialias: bool,
}

/// The taps of one output index, or `None` where it extrapolates.
type Taps = Option<Vec<(usize, f64)>>;

/// Resize at `opset` (one of the support table's).
pub fn resize(args: &Args<'_>, opset: i64) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let at = &args.attrs;
    let rank = x.shape.len();
    if rank == 0 {
        return Err(args.invalid("X must have at least one dimension"));
    }
    if opset < 13 && (args.optional(1).is_none() || args.optional(2).is_none()) {
        return Err(args.invalid("roi and scales are required inputs before opset 13"));
    }
    if opset < 13 && x.dtype() == DType::BF16 {
        return Err(BackendError::unsupported("Resize-11: bf16 X (added in 13)"));
    }
    let interp = match at.string("mode", "nearest")? {
        "nearest" => Interp::Nearest,
        "linear" => Interp::Linear,
        "cubic" => Interp::Cubic,
        m => return Err(args.invalid(format!("unknown mode {m:?}"))),
    };
    let transform = at.string("coordinate_transformation_mode", "half_pixel")?;
    let known = match transform {
        "half_pixel" | "pytorch_half_pixel" | "align_corners" | "asymmetric"
        | "tf_crop_and_resize" => true,
        "tf_half_pixel_for_nn" => opset < 13,
        "half_pixel_symmetric" => opset >= 19,
        _ => false,
    };
    if !known {
        return Err(args.invalid(format!(
            "coordinate_transformation_mode {transform:?} at opset {opset}"
        )));
    }
    let nearest = at.string("nearest_mode", "round_prefer_floor")?;
    if !matches!(
        nearest,
        "round_prefer_floor" | "round_prefer_ceil" | "floor" | "ceil"
    ) {
        return Err(args.invalid(format!("unknown nearest_mode {nearest:?}")));
    }
    let newer = opset >= 18;
    let flag = |name: &str| -> Result<bool, BackendError> {
        match at.int(name, 0)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(args.invalid(format!("{name} must be 0 or 1, got {v}"))),
        }
    };
    let sampling = Sampling {
        interp,
        transform,
        nearest,
        a: at.float("cubic_coeff_a", -0.75)?,
        exclude_outside: flag("exclude_outside")?,
        antialias: newer && flag("antialias")?,
    };
    let extrapolation = at.float("extrapolation_value", 0.0)?;
    let policy = if newer {
        at.string("keep_aspect_ratio_policy", "stretch")?
    } else {
        "stretch"
    };
    let axes: Vec<usize> = match at.ints("axes")? {
        Some(list) if newer => list
            .iter()
            .map(|&a| normalize_axis(a, rank, args.op))
            .collect::<Result<_, _>>()?,
        _ => (0..rank).collect(),
    };
    if (1..axes.len()).any(|i| axes[..i].contains(&axes[i])) {
        return Err(args.invalid(format!("axes {axes:?} repeat an axis")));
    }
    let nonempty = |i: usize| args.optional(i).filter(|t| t.numel() > 0);
    let mut plan: Vec<Axis> = x
        .shape
        .iter()
        .map(|&d| Axis {
            len_in: d,
            len_out: d,
            scale: 1.0,
            width: d as f64,
            start: 0.0,
            end: 1.0,
            resized: false,
        })
        .collect();
    match (nonempty(2), nonempty(3)) {
        (Some(scales), None) => {
            let s = scales.to_real::<f64>()?;
            if s.len() != axes.len() {
                return Err(args.invalid(format!("{} scales for {} axes", s.len(), axes.len())));
            }
            for (&d, &s) in axes.iter().zip(&s) {
                if !(s > 0.0 && s.is_finite()) {
                    return Err(args.invalid(format!("scale {s} is not positive")));
                }
                let p = &mut plan[d];
                p.width = p.len_in as f64 * s;
                p.len_out = p.width as usize;
                p.scale = s;
                p.resized = true;
            }
        }
        (None, Some(sizes)) => {
            let sizes = sizes.to_indices()?;
            if sizes.len() != axes.len() {
                return Err(args.invalid(format!("{} sizes for {} axes", sizes.len(), axes.len())));
            }
            let mut ratios = Vec::with_capacity(axes.len());
            for (&d, &n) in axes.iter().zip(&sizes) {
                let n = usize::try_from(n)
                    .map_err(|_| args.invalid(format!("size {n} is negative")))?;
                let len = plan[d].len_in;
                if len == 0 && n > 0 {
                    return Err(args.invalid(format!("axis {d} is empty")));
                }
                ratios.push(if len == 0 { 1.0 } else { n as f64 / len as f64 });
                plan[d].len_out = n;
                plan[d].width = n as f64;
            }
            let common = match policy {
                "stretch" => None,
                "not_larger" => Some(ratios.iter().copied().fold(f64::INFINITY, f64::min)),
                "not_smaller" => Some(ratios.iter().copied().fold(0.0, f64::max)),
                p => return Err(args.invalid(format!("unknown keep_aspect_ratio_policy {p:?}"))),
            };
            for (k, &d) in axes.iter().enumerate() {
                let p = &mut plan[d];
                p.resized = true;
                p.scale = ratios[k];
                if let Some(s) = common {
                    p.scale = s;
                    p.width = s * p.len_in as f64;
                    p.len_out = (p.width + 0.5).floor() as usize;
                }
            }
        }
        _ => return Err(args.invalid("exactly one of scales and sizes must be given")),
    }
    if transform == "tf_crop_and_resize" {
        let roi = nonempty(1)
            .ok_or_else(|| args.invalid("tf_crop_and_resize needs roi"))?
            .to_real::<f64>()?;
        let n = axes.len();
        if roi.len() != 2 * n {
            return Err(args.invalid(format!("roi has {} values for {n} axes", roi.len())));
        }
        for (k, &d) in axes.iter().enumerate() {
            plan[d].start = roi[k];
            plan[d].end = roi[n + k];
        }
    }
    let tables: Vec<Option<Vec<Taps>>> = plan
        .iter()
        .map(|p| p.resized.then(|| axis_taps(p, &sampling)))
        .collect();
    let out_shape: Vec<usize> = plan.iter().map(|p| p.len_out).collect();
    let outside = extrapolated(&out_shape, &tables);
    if interp == Interp::Nearest {
        return nearest_gather(x, &out_shape, &tables, &outside, extrapolation);
    }
    match x.dtype() {
        DType::F64 => interpolate::<f64>(x, &out_shape, &tables, &outside, extrapolation),
        DType::F32 | DType::F16 | DType::BF16 => {
            interpolate::<f32>(x, &out_shape, &tables, &outside, extrapolation)
        }
        d => Err(args.invalid(format!("{d} X cannot be interpolated (only nearest)"))),
    }
}

/// The input coordinate of output index `y`.
fn coordinate(p: &Axis, transform: &str, y: usize) -> f64 {
    let y = y as f64;
    let (w_in, w_out) = (p.len_in as f64, p.width);
    match transform {
        "asymmetric" => y / p.scale,
        "tf_half_pixel_for_nn" => (y + 0.5) / p.scale,
        "align_corners" if w_out == 1.0 => 0.0,
        "align_corners" => y * (w_in - 1.0) / (w_out - 1.0),
        "pytorch_half_pixel" if w_out == 1.0 => 0.0,
        "half_pixel_symmetric" => {
            let offset = w_in / 2.0 * (1.0 - p.len_out as f64 / w_out);
            offset + (y + 0.5) / p.scale - 0.5
        }
        "tf_crop_and_resize" if w_out == 1.0 => (p.start + p.end) * (w_in - 1.0) / 2.0,
        "tf_crop_and_resize" => {
            p.start * (w_in - 1.0) + y * (p.end - p.start) * (w_in - 1.0) / (w_out - 1.0)
        }
        // half_pixel, and pytorch_half_pixel beyond one output.
        _ => (y + 0.5) / p.scale - 0.5,
    }
}

/// Every output index's taps along one resized axis.
fn axis_taps(p: &Axis, s: &Sampling<'_>) -> Vec<Taps> {
    let last = p.len_in.saturating_sub(1) as i64;
    let edge = |i: i64| i.clamp(0, last) as usize;
    (0..p.len_out)
        .map(|y| {
            let c = coordinate(p, s.transform, y);
            if s.transform == "tf_crop_and_resize" && (c < 0.0 || c > last as f64) {
                return None;
            }
            let base = c.floor();
            let frac = c - base;
            let b = base as i64;
            if s.interp == Interp::Nearest {
                let up = match s.nearest {
                    _ if frac == 0.0 => false,
                    "round_prefer_floor" => frac > 0.5,
                    "round_prefer_ceil" => frac >= 0.5,
                    "floor" => false,
                    _ => true,
                };
                return Some(vec![(edge(b + i64::from(up)), 1.0)]);
            }
            let mut taps: Vec<(i64, f64)> = if s.antialias {
                // The filter stretched by 1/scale when downsampling, its
                // weights normalised to sum to one.
                let f = p.scale.min(1.0);
                let radius = if s.interp == Interp::Linear { 1.0 } else { 2.0 } / f;
                let lo = (c - radius).floor() as i64 + 1;
                let hi = (c + radius).ceil() as i64 - 1;
                let raw: Vec<(i64, f64)> = (lo..=hi)
                    .map(|t| (t, kernel(s, (t as f64 - c) * f)))
                    .collect();
                let total: f64 = raw.iter().map(|t| t.1).sum();
                raw.into_iter().map(|(t, w)| (t, w / total)).collect()
            } else if s.interp == Interp::Linear {
                vec![(b, 1.0 - frac), (b + 1, frac)]
            } else {
                (-1..=2)
                    .map(|k| (b + k, kernel(s, (k as f64) - frac)))
                    .collect()
            };
            if s.exclude_outside {
                for t in &mut taps {
                    if t.0 < 0 || t.0 > last {
                        t.1 = 0.0;
                    }
                }
                let total: f64 = taps.iter().map(|t| t.1).sum();
                if total != 0.0 {
                    taps.iter_mut().for_each(|t| t.1 /= total);
                }
            }
            Some(taps.into_iter().map(|(t, w)| (edge(t), w)).collect())
        })
        .collect()
}

/// The interpolation kernel at distance `d` (in input samples).
fn kernel(s: &Sampling<'_>, d: f64) -> f64 {
    let d = d.abs();
    let a = s.a;
    match s.interp {
        Interp::Linear => (1.0 - d).max(0.0),
        _ if d <= 1.0 => (a + 2.0) * d * d * d - (a + 3.0) * d * d + 1.0,
        _ if d < 2.0 => a * d * d * d - 5.0 * a * d * d + 8.0 * a * d - 4.0 * a,
        _ => 0.0,
    }
}

/// Whether each output element (row-major) extrapolates on some axis.
fn extrapolated(out_shape: &[usize], tables: &[Option<Vec<Taps>>]) -> Vec<bool> {
    let total: usize = out_shape.iter().product();
    let strides = contiguous_strides(out_shape);
    (0..total)
        .map(|flat| {
            tables.iter().enumerate().any(|(d, t)| {
                t.as_ref()
                    .is_some_and(|t| t[(flat / strides[d]) % out_shape[d]].is_none())
            })
        })
        .collect()
}

/// Nearest: a gather of one input element per output element (the
/// extrapolation value appended to the input as one more element).
fn nearest_gather(
    x: &Tensor,
    out_shape: &[usize],
    tables: &[Option<Vec<Taps>>],
    outside: &[bool],
    extrapolation: f64,
) -> Result<Tensor, BackendError> {
    let in_strides = contiguous_strides(&x.shape);
    let out_strides = contiguous_strides(out_shape);
    let beyond = x.numel();
    let index: Vec<usize> = (0..outside.len())
        .map(|flat| {
            if outside[flat] {
                return beyond;
            }
            (0..out_shape.len())
                .map(|d| {
                    let y = (flat / out_strides[d]) % out_shape[d];
                    let i = match &tables[d] {
                        Some(t) => t[y].as_ref().map_or(0, |taps| taps[0].0),
                        None => y,
                    };
                    i * in_strides[d]
                })
                .sum()
        })
        .collect();
    let extended = Data::concat(&[&x.data, &scalar(x.dtype(), extrapolation)?])?;
    Tensor::new(out_shape.to_vec(), extended.gather(&index))
}

/// `v` as one element of `dtype`: rounded to nearest even for floats,
/// truncated and wrapped for integers, nonzero for bool.
fn scalar(dtype: DType, v: f64) -> Result<Data, BackendError> {
    let i = v.trunc() as i128;
    Ok(match dtype {
        DType::I64 => Data::I64(vec![i as i64]),
        DType::I32 => Data::I32(vec![i as i32]),
        DType::I16 => Data::I16(vec![i as i16]),
        DType::I8 => Data::I8(vec![i as i8]),
        DType::U16 => Data::U16(vec![i as u16]),
        DType::U8 => Data::U8(vec![i as u8]),
        DType::Bool => Data::Bool(vec![u8::from(v != 0.0)]),
        d => Tensor::from_real::<f64>(d, vec![1], vec![v])?.data,
    })
}

/// Linear and cubic: one weighted pass per resized axis in the compute
/// type `T`, then the extrapolated elements.
fn interpolate<T: Real>(
    x: &Tensor,
    out_shape: &[usize],
    tables: &[Option<Vec<Taps>>],
    outside: &[bool],
    extrapolation: f64,
) -> Result<Tensor, BackendError> {
    let mut shape = x.shape.clone();
    let mut cur: Vec<T> = x.to_real::<T>()?;
    for (d, table) in tables.iter().enumerate() {
        let Some(table) = table else { continue };
        let outer: usize = shape[..d].iter().product();
        let inner: usize = shape[d + 1..].iter().product();
        let len_in = shape[d];
        let len_out = table.len();
        let mut next = vec![T::ZERO; outer * len_out * inner];
        for o in 0..outer {
            for (y, taps) in table.iter().enumerate() {
                let Some(taps) = taps else { continue };
                let dst = &mut next[(o * len_out + y) * inner..][..inner];
                for &(t, w) in taps {
                    let w = T::from_f64(w);
                    let src = &cur[(o * len_in + t) * inner..][..inner];
                    for (acc, &v) in dst.iter_mut().zip(src) {
                        *acc += w * v;
                    }
                }
            }
        }
        shape[d] = len_out;
        cur = next;
    }
    let e = T::from_f64(extrapolation);
    for (v, &out) in cur.iter_mut().zip(outside) {
        if out {
            *v = e;
        }
    }
    Tensor::from_real(x.dtype(), out_shape.to_vec(), cur)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{f32t, i64t, run1, values};
    use xpucert_abi::AttrValue;

    #[test]
    fn linear_half_pixel_upsampling() {
        let x = f32t(&[4], &[1.0, 2.0, 3.0, 4.0]);
        let y = run1(
            "Resize",
            &[("mode", AttrValue::String("linear"))],
            vec![x, f32t(&[0], &[]), f32t(&[1], &[2.0])],
        )
        .unwrap();
        assert_eq!(values(&y), [1.0, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4.0]);
    }

    #[test]
    fn nearest_sizes_and_tf_crop_extrapolation() {
        let x = f32t(&[5], &[0.0, 10.0, 20.0, 30.0, 40.0]);
        let y = run1(
            "Resize",
            &[
                (
                    "coordinate_transformation_mode",
                    AttrValue::String("tf_crop_and_resize"),
                ),
                ("extrapolation_value", AttrValue::Float(-1.0)),
                ("mode", AttrValue::String("linear")),
            ],
            vec![
                x,
                f32t(&[2], &[-0.25, 1.25]),
                f32t(&[0], &[]),
                i64t(&[1], &[9]),
            ],
        )
        .unwrap();
        assert_eq!(
            values(&y),
            [-1.0, -1.0, 5.0, 12.5, 20.0, 27.5, 35.0, -1.0, -1.0]
        );
    }

    #[test]
    fn cubic_and_nearest_ties() {
        let x = f32t(&[5], &[1.0, 2.0, 4.0, 8.0, 16.0]);
        let asym = (
            "coordinate_transformation_mode",
            AttrValue::String("asymmetric"),
        );
        let y = run1(
            "Resize",
            &[asym, ("mode", AttrValue::String("cubic"))],
            vec![x.clone(), f32t(&[0], &[]), f32t(&[1], &[2.0])],
        )
        .unwrap();
        assert_eq!(values(&y)[1], 1.3125);
        assert_eq!(values(&y)[5], 5.4375);
        let y = run1(
            "Resize",
            &[
                asym,
                ("nearest_mode", AttrValue::String("round_prefer_ceil")),
            ],
            vec![x, f32t(&[0], &[]), f32t(&[1], &[2.0])],
        )
        .unwrap();
        assert_eq!(
            values(&y),
            [1.0, 2.0, 2.0, 4.0, 4.0, 8.0, 8.0, 16.0, 16.0, 16.0]
        );
    }
}
