//! Resize, at every version from opset 11 to the newest that changed its
//! semantics: 11 (roi and scales are required inputs, possibly empty; the
//! `tf_half_pixel_for_nn` transform), 13 (roi and scales optional; that
//! transform gone; bfloat16), 18 (`antialias`, `axes`,
//! `keep_aspect_ratio_policy`) and 19 (`half_pixel_symmetric`).
//!
//! The oracle follows the ONNX specification text. Where the text is silent
//! or contradicts itself it follows what the ONNX reference evaluator and
//! onnxruntime both do, and says so:
//! * the output length is `floor(input_length * scale)`; the spec's
//!   `(roi_end - roi_start)` factor is ignored by both (roi only moves
//!   `tf_crop_and_resize`'s sampling points);
//! * with `sizes`, the scale of an axis is `output_length / input_length`;
//! * `length_resized` in the align_corners, pytorch_half_pixel and
//!   tf_crop_and_resize formulas is Resize-19's `output_width`, `scale *
//!   input_length`, which is fractional when the scale is given (the
//!   output length is its floor): ONNX's reference and its published test
//!   outputs (test_resize_downsample_scales_linear_align_corners) use it
//!   at every version;
//! * `pytorch_half_pixel` and `align_corners` at an output width of 1 map
//!   to 0 (the spec's text; ONNX's reference maps pytorch_half_pixel to
//!   -0.5, which differs only for cubic and antialiased linear, and no
//!   published test tells them apart);
//! * `antialias` has no effect on `nearest` (the spec names only linear and
//!   cubic; ONNX's reference raises instead);
//! * linear and cubic on integer or bool data are refused: ONNX does not say
//!   how an interpolated integer is rounded, and implementations differ.
//!
//! Every output element is the weighted sum, over the tensor product of the
//! per-axis taps, of input elements at edge-clamped indices (the spec's
//! "weighted average of neighborhood"), computed here directly rather than
//! axis by axis as implementations do.
//!
//! Check: nearest copies an input element, so its magnitude is 0 and the
//! bound admits only the exact value. Linear and cubic are short weighted
//! sums whose weights an implementation computes from coordinates in its
//! own precision, so the bound (`c = 1`, the error model in the magnitude)
//! has three parts: the sum's roundoff `(2 + sum of taps) sum |w x|`; the
//! coordinate's roundoff, `4 C_a sum |dw/dx_a| |x|` per resized axis, where
//! `C_a` bounds the magnitudes of the coordinate's intermediates
//! (`|x_original| + (y + 1) / scale + length_original (1 + |roi|)`); and,
//! as the io magnitude, one rounding of `sum |w x|` per axis pass after the
//! first, for separable kernels that keep intermediates in the io dtype.
//! Cases keep scales dyadic so that nearest ties and tf_crop_and_resize's
//! extrapolation edges are exact in every precision and every operation
//! order (a tie computed through an inexact `1/scale` can go either way,
//! which no exact check could allow).

use ndarray::{ArrayD, IxDyn};

use super::rules::{self, ints_of, no_sum, per_input_element, resolve_axis};
use super::spec::{TypeVar, fixed};
use super::{AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;

/// `T1` of Resize-11: every tensor type xpucert has but bfloat16 and fp8.
const T1_11: TypeVar = TypeVar {
    name: "T1",
    allowed: &[
        DType::F64,
        DType::F32,
        DType::F16,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::Bool,
    ],
};
/// `T1` of Resize-13 and later: bfloat16 joins.
const T1_13: TypeVar = TypeVar {
    name: "T1",
    allowed: &[
        DType::F64,
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::Bool,
    ],
};
/// `T2`: roi's type.
const T2: TypeVar = TypeVar {
    name: "T2",
    allowed: &[DType::F16, DType::F32, DType::F64],
};
/// scales is `tensor(float)`.
const T_SCALES: TypeVar = TypeVar {
    name: "tensor(float)",
    allowed: &[DType::F32],
};
/// sizes is `tensor(int64)`.
const T_SIZES: TypeVar = TypeVar {
    name: "tensor(int64)",
    allowed: &[DType::I64],
};

const INPUTS: &[&str] = &["X", "roi", "scales", "sizes"];

const ATTRS_11: &[(&str, AttrType)] = &[
    ("coordinate_transformation_mode", AttrType::String),
    ("cubic_coeff_a", AttrType::Float),
    ("exclude_outside", AttrType::Int),
    ("extrapolation_value", AttrType::Float),
    ("mode", AttrType::String),
    ("nearest_mode", AttrType::String),
];
const ATTRS_18: &[(&str, AttrType)] = &[
    ("antialias", AttrType::Int),
    ("axes", AttrType::Ints),
    ("coordinate_transformation_mode", AttrType::String),
    ("cubic_coeff_a", AttrType::Float),
    ("exclude_outside", AttrType::Int),
    ("extrapolation_value", AttrType::Float),
    ("keep_aspect_ratio_policy", AttrType::String),
    ("mode", AttrType::String),
    ("nearest_mode", AttrType::String),
];

/// Resize-11's input types.
const TYPES_11: &[TypeVar] = &[T1_11, T2, T_SCALES, T_SIZES];
/// Resize-13 and later's input types.
const TYPES_13: &[TypeVar] = &[T1_13, T2, T_SCALES, T_SIZES];

const fn resize_spec(
    opset: i64,
    required: usize,
    input_types: &'static [TypeVar],
    attributes: &'static [(&'static str, AttrType)],
) -> OpSpec {
    OpSpec {
        name: "Resize",
        domain: "",
        opset,
        arity: fixed(required, 4 - required),
        input_names: INPUTS,
        input_types,
        outputs: 1,
        attributes,
    }
}

/// Resize-11: roi and scales are required inputs (either may be empty).
pub(super) const RESIZE_11: OpDef = OpDef {
    spec: resize_spec(11, 3, TYPES_11, ATTRS_11),
    oracle: |c| Ok(vec![resize(c, 11)?]),
    shape: |a, i, v| resize_shape(11, a, i, v),
    cost: per_input_element::<4>,
    check: CheckPolicy::ModelBound,
    terms: no_sum,
};
/// Resize-13: roi and scales optional; bfloat16.
pub(super) const RESIZE_13: OpDef = OpDef {
    spec: resize_spec(13, 1, TYPES_13, ATTRS_11),
    oracle: |c| Ok(vec![resize(c, 13)?]),
    shape: |a, i, v| resize_shape(13, a, i, v),
    cost: per_input_element::<4>,
    check: CheckPolicy::ModelBound,
    terms: no_sum,
};
/// Resize-18: antialias, axes, keep_aspect_ratio_policy.
pub(super) const RESIZE_18: OpDef = OpDef {
    spec: resize_spec(18, 1, TYPES_13, ATTRS_18),
    oracle: |c| Ok(vec![resize(c, 18)?]),
    shape: |a, i, v| resize_shape(18, a, i, v),
    cost: per_input_element::<4>,
    check: CheckPolicy::ModelBound,
    terms: no_sum,
};
/// Resize-19: the half_pixel_symmetric transform.
pub(super) const RESIZE_19: OpDef = OpDef {
    spec: resize_spec(19, 1, TYPES_13, ATTRS_18),
    oracle: |c| Ok(vec![resize(c, 19)?]),
    shape: |a, i, v| resize_shape(19, a, i, v),
    cost: per_input_element::<4>,
    check: CheckPolicy::ModelBound,
    terms: no_sum,
};

/// How values between samples are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Nearest,
    Linear,
    Cubic,
}

/// `coordinate_transformation_mode`: output coordinate to input coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transform {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfHalfPixelForNn,
    TfCropAndResize,
}

/// `nearest_mode`: which sample a coordinate between two picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rounding {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

/// One axis of X: its lengths, scale and region of interest.
#[derive(Debug, Clone, Copy)]
struct AxisPlan {
    input: usize,
    output: usize,
    /// `output / input` for sizes, the given scale for scales.
    scale: f64,
    /// `output_width`: `scale * input`, fractional when the scale is
    /// given (Resize-19's definition; the output length is its floor).
    width: f64,
    /// roi start and end (only tf_crop_and_resize reads them).
    roi: (f64, f64),
    /// False for an axis outside `axes`: copied, never resampled.
    resized: bool,
}

/// A validated Resize call.
#[derive(Debug, Clone)]
struct Plan {
    mode: Mode,
    transform: Transform,
    rounding: Rounding,
    cubic_a: f64,
    exclude_outside: bool,
    extrapolation: f64,
    antialias: bool,
    axes: Vec<AxisPlan>,
}

impl Plan {
    fn output_shape(&self) -> Vec<usize> {
        self.axes.iter().map(|a| a.output).collect()
    }
}

/// Resize's shape rule: X's dtype and the plan's output lengths.
fn resize_shape(
    version: i64,
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, _) = rules::input(inputs, 0)?;
    let plan = resolve(version, attrs, inputs, values)?;
    Ok(vec![(*dtype, plan.output_shape())])
}

/// A present input with at least one element: an empty one counts as not
/// given (Resize-11 requires scales as an input and passes an empty one to
/// mean "use sizes").
fn given(inputs: &[Option<TypedShape>], i: usize) -> Option<&[usize]> {
    inputs
        .get(i)
        .and_then(Option::as_ref)
        .map(|(_, s)| s.as_slice())
        .filter(|s| s.iter().product::<usize>() > 0)
}

/// Every check of a Resize call at `version`, shared by the shape rule and
/// the oracle.
fn resolve(
    version: i64,
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Plan, String> {
    let (dtype, xs) = rules::input(inputs, 0)?;
    let rank = xs.len();
    if rank == 0 {
        return Err("X is a scalar (rank 0), which has no axis to resize".into());
    }
    if version < 18 {
        for name in ["antialias", "axes", "keep_aspect_ratio_policy"] {
            if attrs.contains_key(name) {
                return Err(format!("attribute {name} is not defined before Resize-18"));
            }
        }
    }
    let mode = match attrs.string("mode", "nearest")? {
        "nearest" => Mode::Nearest,
        "linear" => Mode::Linear,
        "cubic" => Mode::Cubic,
        m => return Err(format!("mode must be nearest, linear or cubic, got {m:?}")),
    };
    if mode != Mode::Nearest && !dtype.is_float() {
        return Err(format!(
            "mode {:?} interpolates, which is defined here for float X only (ONNX does not say how an interpolated {dtype} is rounded)",
            attrs.string("mode", "nearest")?
        ));
    }
    let transform = match (
        attrs.string("coordinate_transformation_mode", "half_pixel")?,
        version,
    ) {
        ("half_pixel", _) => Transform::HalfPixel,
        ("half_pixel_symmetric", 19..) => Transform::HalfPixelSymmetric,
        ("pytorch_half_pixel", _) => Transform::PytorchHalfPixel,
        ("align_corners", _) => Transform::AlignCorners,
        ("asymmetric", _) => Transform::Asymmetric,
        ("tf_half_pixel_for_nn", ..=12) => Transform::TfHalfPixelForNn,
        ("tf_crop_and_resize", _) => Transform::TfCropAndResize,
        (t, v) => {
            return Err(format!(
                "coordinate_transformation_mode {t:?} is not defined at Resize-{v} (accepted: half_pixel, {}pytorch_half_pixel, align_corners, asymmetric, {}tf_crop_and_resize)",
                if v >= 19 {
                    "half_pixel_symmetric, "
                } else {
                    ""
                },
                if v < 13 { "tf_half_pixel_for_nn, " } else { "" },
            ));
        }
    };
    let rounding = match attrs.string("nearest_mode", "round_prefer_floor")? {
        "round_prefer_floor" => Rounding::RoundPreferFloor,
        "round_prefer_ceil" => Rounding::RoundPreferCeil,
        "floor" => Rounding::Floor,
        "ceil" => Rounding::Ceil,
        m => {
            return Err(format!(
                "nearest_mode must be round_prefer_floor, round_prefer_ceil, floor or ceil, got {m:?}"
            ));
        }
    };
    let cubic_a = attrs.float("cubic_coeff_a", -0.75)?;
    let extrapolation = attrs.float("extrapolation_value", 0.0)?;
    if !cubic_a.is_finite() {
        return Err(format!("cubic_coeff_a must be finite, got {cubic_a}"));
    }
    let exclude_outside = rules::flag(attrs, "exclude_outside", false)?;
    let antialias = rules::flag(attrs, "antialias", false)?;
    #[derive(PartialEq)]
    enum Policy {
        Stretch,
        NotLarger,
        NotSmaller,
    }
    let policy = match attrs.string("keep_aspect_ratio_policy", "stretch")? {
        "stretch" => Policy::Stretch,
        "not_larger" => Policy::NotLarger,
        "not_smaller" => Policy::NotSmaller,
        p => {
            return Err(format!(
                "keep_aspect_ratio_policy must be stretch, not_larger or not_smaller, got {p:?}"
            ));
        }
    };
    let axes: Vec<usize> = match attrs.ints("axes")? {
        None => (0..rank).collect(),
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for &a in list {
                let r = resolve_axis("axis", a, rank)?;
                if out.contains(&r) {
                    return Err(format!("axes {list:?} name axis {r} twice"));
                }
                out.push(r);
            }
            out
        }
    };
    let n = axes.len();
    let one_d = |i: usize, what: &str| -> std::result::Result<(), String> {
        match inputs.get(i).and_then(Option::as_ref) {
            Some((_, s)) if s.len() != 1 => Err(format!("{what} must be 1-D, got shape {s:?}")),
            _ => Ok(()),
        }
    };
    one_d(1, "roi")?;
    one_d(2, "scales")?;
    one_d(3, "sizes")?;
    let count = |what: &str, len: usize| -> std::result::Result<(), String> {
        if len == n {
            Ok(())
        } else if n == rank {
            Err(format!("{what} has {len} values, X has rank {rank}"))
        } else {
            Err(format!("{what} has {len} values, axes names {n} axes"))
        }
    };
    let mut plans: Vec<AxisPlan> = xs
        .iter()
        .map(|&d| AxisPlan {
            input: d,
            output: d,
            scale: 1.0,
            width: d as f64,
            roi: (0.0, 1.0),
            resized: false,
        })
        .collect();
    match (given(inputs, 2), given(inputs, 3)) {
        (Some(_), Some(_)) => {
            return Err("scales and sizes are both given; exactly one may be".into());
        }
        (None, None) => {
            return Err(
                "neither scales nor sizes is given (an empty tensor counts as not given)".into(),
            );
        }
        (Some(s), None) => {
            count("scales", s[0])?;
            let scales = values(2);
            for (&d, &s) in axes.iter().zip(&scales) {
                if !(s.is_finite() && s > 0.0) {
                    return Err(format!(
                        "scales must be finite and greater than 0, got {scales:?}"
                    ));
                }
                let out = (xs[d] as f64 * s).floor();
                if out > (1u64 << 40) as f64 {
                    return Err(format!(
                        "scale {s} makes axis {d} of length {} too long",
                        xs[d]
                    ));
                }
                plans[d].output = out as usize;
                plans[d].scale = s;
                plans[d].width = xs[d] as f64 * s;
                plans[d].resized = true;
            }
        }
        (None, Some(s)) => {
            count("sizes", s[0])?;
            let sizes = ints_of("sizes", &values(3))?;
            for (&d, &size) in axes.iter().zip(&sizes) {
                if !(0..=1 << 40).contains(&size) {
                    return Err(format!("sizes must be >= 0, got {sizes:?}"));
                }
                if xs[d] == 0 && size != 0 {
                    return Err(format!(
                        "axis {d} of X is empty and cannot be resized to {size}"
                    ));
                }
            }
            let ratio = |d: usize, size: i64| {
                if xs[d] == 0 {
                    1.0
                } else {
                    size as f64 / xs[d] as f64
                }
            };
            let ratios = axes.iter().zip(&sizes).map(|(&d, &s)| ratio(d, s));
            let common = match policy {
                Policy::Stretch => None,
                Policy::NotLarger => Some(ratios.fold(f64::INFINITY, f64::min)),
                Policy::NotSmaller => Some(ratios.fold(0.0, f64::max)),
            };
            for (&d, &size) in axes.iter().zip(&sizes) {
                let (out, scale, width) = match common {
                    None => (size as usize, ratio(d, size), size as f64),
                    // round_int: halfway rounds up; the width stays
                    // fractional, as with scales.
                    Some(s) => {
                        let w = s * xs[d] as f64;
                        ((w + 0.5).floor() as usize, s, w)
                    }
                };
                if out > 0 && scale <= 0.0 {
                    return Err(format!(
                        "keep_aspect_ratio_policy gives axis {d} scale 0 (sizes {sizes:?})"
                    ));
                }
                plans[d].output = out;
                plans[d].scale = scale;
                plans[d].width = width;
                plans[d].resized = true;
            }
        }
    }
    if transform == Transform::TfCropAndResize {
        let roi = given(inputs, 1)
            .ok_or("coordinate_transformation_mode tf_crop_and_resize needs roi")?;
        if roi[0] != 2 * n {
            return Err(format!(
                "roi has {} values; tf_crop_and_resize needs a start and an end for each of the {n} resized axes",
                roi[0]
            ));
        }
        let r = values(1);
        if r.iter().any(|v| !v.is_finite()) {
            return Err(format!("roi must be finite, got {r:?}"));
        }
        for (k, &d) in axes.iter().enumerate() {
            plans[d].roi = (r[k], r[n + k]);
        }
    }
    plans
        .iter()
        .try_fold(1usize, |acc, a| acc.checked_mul(a.output))
        .ok_or("the output has more elements than can be counted")?;
    Ok(Plan {
        mode,
        transform,
        rounding,
        cubic_a,
        exclude_outside,
        extrapolation,
        antialias,
        axes: plans,
    })
}

/// The input coordinate output index `y` of `axis` samples, and whether it
/// lies outside the input (tf_crop_and_resize's extrapolation).
fn source_coordinate(transform: Transform, axis: &AxisPlan, y: usize) -> (f64, bool) {
    let (y, len_in, s, width) = (y as f64, axis.input as f64, axis.scale, axis.width);
    let x = match transform {
        Transform::HalfPixel => (y + 0.5) / s - 0.5,
        Transform::HalfPixelSymmetric => {
            let adjustment = axis.output as f64 / width;
            let offset = len_in / 2.0 * (1.0 - adjustment);
            offset + (y + 0.5) / s - 0.5
        }
        Transform::PytorchHalfPixel if width != 1.0 => (y + 0.5) / s - 0.5,
        Transform::AlignCorners if width != 1.0 => y * (len_in - 1.0) / (width - 1.0),
        Transform::PytorchHalfPixel | Transform::AlignCorners => 0.0,
        Transform::Asymmetric => y / s,
        Transform::TfHalfPixelForNn => (y + 0.5) / s,
        Transform::TfCropAndResize => {
            let (start, end) = axis.roi;
            if width != 1.0 {
                start * (len_in - 1.0) + y * (end - start) * (len_in - 1.0) / (width - 1.0)
            } else {
                0.5 * (start + end) * (len_in - 1.0)
            }
        }
    };
    let outside = transform == Transform::TfCropAndResize && (x < 0.0 || x > len_in - 1.0);
    (x, outside)
}

/// The taps of one output index along one axis: clamped input index,
/// weight, and a bound on |d weight / d coordinate|.
#[derive(Debug, Default)]
struct Taps {
    taps: Vec<(usize, f64, f64)>,
    outside: bool,
    /// Bound on the magnitudes of the coordinate's intermediates.
    coordinate: f64,
}

/// The cubic convolution kernel of Keys (1981) with coefficient `a`.
pub(super) fn cubic(a: f64, s: f64) -> f64 {
    let s = s.abs();
    if s <= 1.0 {
        ((a + 2.0) * s - (a + 3.0)) * s * s + 1.0
    } else if s < 2.0 {
        ((a * s - 5.0 * a) * s + 8.0 * a) * s - 4.0 * a
    } else {
        0.0
    }
}

/// The largest |slope| of the cubic kernel: its derivative's extremes lie
/// at the ends of each piece or where the second derivative vanishes.
pub(super) fn cubic_slope_bound(a: f64) -> f64 {
    let d1 = |s: f64| 3.0 * (a + 2.0) * s * s - 2.0 * (a + 3.0) * s;
    let d2 = |s: f64| 3.0 * a * s * s - 10.0 * a * s + 8.0 * a;
    let mut m: f64 = 0.0;
    for s in [0.0, 1.0] {
        m = m.max(d1(s).abs());
    }
    if a + 2.0 != 0.0 {
        let s = (a + 3.0) / (3.0 * (a + 2.0));
        if (0.0..=1.0).contains(&s) {
            m = m.max(d1(s).abs());
        }
    }
    for s in [1.0, 2.0, 5.0 / 3.0] {
        m = m.max(d2(s).abs());
    }
    m
}

/// The taps of output index `y` along `axis` under `plan`.
fn taps(plan: &Plan, axis: &AxisPlan, y: usize) -> Taps {
    if !axis.resized {
        return Taps {
            taps: vec![(y, 1.0, 0.0)],
            outside: false,
            coordinate: 0.0,
        };
    }
    let (x, outside) = source_coordinate(plan.transform, axis, y);
    let last = axis.input as i64 - 1;
    let clamp = |t: i64| t.clamp(0, last.max(0)) as usize;
    let coordinate = x.abs()
        + (y as f64 + 1.0) / axis.scale
        + axis.input as f64 * (1.0 + axis.roi.0.abs() + axis.roi.1.abs());
    if outside {
        return Taps {
            taps: Vec::new(),
            outside,
            coordinate,
        };
    }
    if plan.mode == Mode::Nearest {
        let floor = x.floor();
        let frac = x - floor;
        let pick = match plan.rounding {
            _ if frac == 0.0 => floor,
            Rounding::RoundPreferFloor if frac <= 0.5 => floor,
            Rounding::RoundPreferCeil if frac < 0.5 => floor,
            Rounding::RoundPreferFloor | Rounding::RoundPreferCeil => floor + 1.0,
            Rounding::Floor => floor,
            Rounding::Ceil => floor + 1.0,
        };
        return Taps {
            taps: vec![(clamp(pick as i64), 1.0, 0.0)],
            outside,
            coordinate,
        };
    }
    // Antialiasing stretches the kernel by 1/scale when downsampling.
    let stretch = if plan.antialias {
        axis.scale.min(1.0)
    } else {
        1.0
    };
    let (support, slope) = match plan.mode {
        Mode::Linear => (1.0, 1.0),
        _ => (2.0, cubic_slope_bound(plan.cubic_a)),
    };
    let kernel = |d: f64| match plan.mode {
        Mode::Linear => (1.0 - d.abs()).max(0.0),
        _ => cubic(plan.cubic_a, d),
    };
    let reach = support / stretch;
    let (lo, hi) = ((x - reach).ceil() as i64, (x + reach).floor() as i64);
    let mut raw: Vec<(i64, f64)> = (lo..=hi)
        .map(|t| (t, kernel((t as f64 - x) * stretch)))
        .collect();
    if plan.exclude_outside {
        for (t, w) in &mut raw {
            if *t < 0 || *t > last {
                *w = 0.0;
            }
        }
    }
    let normalize = plan.antialias || plan.exclude_outside;
    let sum: f64 = raw.iter().map(|&(_, w)| w).sum();
    let (scale_by, slope) = if normalize && sum != 0.0 {
        (1.0 / sum, 2.0 * stretch * slope / sum.abs())
    } else {
        (1.0, stretch * slope)
    };
    Taps {
        taps: raw
            .into_iter()
            .map(|(t, w)| (clamp(t), w * scale_by, slope))
            .collect(),
        outside,
        coordinate,
    }
}

/// The tensor-product sum of one output element: value, `sum |w x|`,
/// and `sum_a C_a sum |dw_a prod_{b != a} w_b| |x|`.
fn weighted_sum(
    x: &ndarray::ArrayViewD<f64>,
    per_axis: &[&Taps],
    index: &mut [usize],
    pick: &mut [usize],
) -> (f64, f64, f64) {
    let rank = per_axis.len();
    let (mut value, mut abs, mut slope) = (0.0, 0.0, 0.0);
    pick.iter_mut().for_each(|p| *p = 0);
    if per_axis.iter().any(|t| t.taps.is_empty()) {
        return (0.0, 0.0, 0.0);
    }
    loop {
        let mut w = 1.0;
        for a in 0..rank {
            let (i, wa, _) = per_axis[a].taps[pick[a]];
            index[a] = i;
            w *= wa;
        }
        let v = x[&*index];
        value += w * v;
        abs += (w * v).abs();
        for a in 0..rank {
            let (_, _, da) = per_axis[a].taps[pick[a]];
            if da == 0.0 {
                continue;
            }
            let others: f64 = (0..rank)
                .filter(|&b| b != a)
                .map(|b| per_axis[b].taps[pick[b]].1.abs())
                .product();
            slope += per_axis[a].coordinate * da * others * v.abs();
        }
        // Odometer over the taps, last axis fastest.
        let mut a = rank;
        loop {
            if a == 0 {
                return (value, abs, slope);
            }
            a -= 1;
            pick[a] += 1;
            if pick[a] < per_axis[a].taps.len() {
                break;
            }
            pick[a] = 0;
        }
    }
}

/// Resize at `version`: see the module documentation.
fn resize(call: &Call, version: i64) -> Result<Output> {
    let x = call.input(0)?;
    let plan = resolve(version, call.attrs, &call.typed_shapes(), &mut |i| {
        call.values(i)
    })
    .map_err(|m| call.err(m))?;
    let out_shape = plan.output_shape();
    let rank = out_shape.len();
    let table: Vec<Vec<Taps>> = plan
        .axes
        .iter()
        .map(|a| (0..a.output).map(|y| taps(&plan, a, y)).collect())
        .collect();
    // Taps of every resized axis whose kernel spans more than one sample:
    // the sum's length and the number of axis passes.
    let total = out_shape.iter().product::<usize>();
    let mut value = Vec::with_capacity(total);
    let mut magnitude = Vec::with_capacity(total);
    let mut io = Vec::with_capacity(total);
    let mut out_index = vec![0usize; rank];
    let mut in_index = vec![0usize; rank];
    let mut pick = vec![0usize; rank];
    let view = x.data.view();
    for _ in 0..total {
        let per_axis: Vec<&Taps> = (0..rank).map(|a| &table[a][out_index[a]]).collect();
        if per_axis.iter().any(|t| t.outside) {
            value.push(plan.extrapolation);
            let growth = 2.0 + per_axis.iter().map(|t| t.taps.len().max(1)).sum::<usize>() as f64;
            magnitude.push(growth * plan.extrapolation.abs());
            io.push(0.0);
        } else {
            let (v, abs, slope) = weighted_sum(&view, &per_axis, &mut in_index, &mut pick);
            value.push(v);
            if plan.mode == Mode::Nearest {
                magnitude.push(0.0);
                io.push(0.0);
            } else {
                let passes = per_axis.iter().filter(|t| t.taps.len() > 1).count();
                let growth = 2.0 + per_axis.iter().map(|t| t.taps.len()).sum::<usize>() as f64;
                magnitude.push(growth * abs + 4.0 * slope);
                io.push(passes.saturating_sub(1) as f64 * abs);
            }
        }
        for a in (0..rank).rev() {
            out_index[a] += 1;
            if out_index[a] < out_shape[a] {
                break;
            }
            out_index[a] = 0;
        }
    }
    let array = |v: Vec<f64>| {
        ArrayD::from_shape_vec(IxDyn(&out_shape), v).map_err(|e| call.err(format!("Y: {e}")))
    };
    let data = super::finish(x.dtype, array(value)?);
    if !x.dtype.is_float() || !call.magnitudes {
        return Ok(Output::plain(x.dtype, data));
    }
    Ok(Output::bounded(
        x.dtype,
        data,
        array(magnitude)?,
        Some(array(io)?),
    ))
}

// ------------------------------------------------------------- generated cases
// The case space (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, GenCase, GenInput, Pick, Storage};

/// Resize (newest version): every mode and coordinate transform, each
/// nearest rounding, up- and downsampling by scales or to sizes (with each
/// aspect-ratio policy), a subset of axes, antialias, exclude_outside, a
/// cubic coefficient other than the default, on NCHW inputs of the float
/// dtypes and, for nearest, integers and bool. Every scale, given or
/// derived from sizes, is exact in f32 (2, 0.5, 1.5, 3, 4), so a
/// coordinate whose exact value is an integer or a half (where floor,
/// ceil and the rounding ties decide) comes out exact from the spec's
/// division in any precision; a scale like 6/5 would round differently
/// in f32 and f64 and make nearest's exact check ill-posed.
pub(super) fn resize_cases() -> Option<CaseSpace> {
    let mut dtypes = cases::FLOATS.to_vec();
    dtypes.extend([DType::I32, DType::U8, DType::Bool]);
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(&dtypes),
            Factor::new("mode", &["nearest", "linear", "cubic"]),
            Factor::new(
                "transform",
                &[
                    "halfpixel",
                    "symmetric",
                    "pytorch",
                    "aligncorners",
                    "asymmetric",
                    "crop",
                ],
            ),
            Factor::new("rounding", &["prefloor", "preceil", "floor", "ceil"]),
            Factor::new(
                "target",
                &[
                    "up2",
                    "down2",
                    "up3over2",
                    "sizes",
                    "notlarger",
                    "notsmaller",
                ],
            ),
            Factor::new("axesattr", &["allaxes", "hw", "wonly"]),
            Factor::new("filter", &["plain", "antialias", "exclude", "cubica"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let dtype = p.dtype();
            let mode = p.get("mode");
            if mode != "nearest" && !dtype.is_float() {
                return None;
            }
            if mode != "nearest" && !p.is("rounding", "prefloor") {
                return None;
            }
            if mode == "nearest" && !p.is("filter", "plain") {
                return None;
            }
            if p.is("filter", "cubica") && mode != "cubic" {
                return None;
            }
            let transform = match p.get("transform") {
                "halfpixel" => "half_pixel",
                "symmetric" => "half_pixel_symmetric",
                "pytorch" => "pytorch_half_pixel",
                "aligncorners" => "align_corners",
                "asymmetric" => "asymmetric",
                _ => "tf_crop_and_resize",
            };
            let input = vec![2, 3, 5, 4];
            let axes: Vec<usize> = match p.get("axesattr") {
                "allaxes" => vec![0, 1, 2, 3],
                "hw" => vec![2, 3],
                _ => vec![3],
            };
            let n = axes.len();
            // Per resized axis: scale, or target size.
            let (scales, sizes, policy): (Option<Vec<f64>>, Option<Vec<f64>>, &str) =
                match p.get("target") {
                    "up2" => (Some(per_axis(&axes, 2.0, 2.0)), None, "stretch"),
                    "down2" => (Some(per_axis(&axes, 0.5, 0.5)), None, "stretch"),
                    "up3over2" => (Some(per_axis(&axes, 1.5, 2.0)), None, "stretch"),
                    "sizes" => (
                        None,
                        Some(sized(
                            &axes,
                            &input,
                            |d, l| if d == 3 { l / 2 * 3 } else { l * 3 },
                        )),
                        "stretch",
                    ),
                    "notlarger" => (
                        None,
                        Some(sized(
                            &axes,
                            &input,
                            |d, l| if d == 2 { l * 2 } else { l * 4 },
                        )),
                        "not_larger",
                    ),
                    _ => (
                        None,
                        Some(sized(
                            &axes,
                            &input,
                            |d, l| if d == 3 { l * 2 } else { l / 2 },
                        )),
                        "not_smaller",
                    ),
                };
            if policy != "stretch" && n == 4 {
                // Aspect ratio over N and C as well is legal but not the
                // intent; the 2-D and 1-D subsets cover the policy.
                return None;
            }
            let mut case = GenCase::new(vec![
                GenInput::new(dtype, input.clone())
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                (transform == "tf_crop_and_resize").then(|| {
                    // Starts and ends outside [0, 1], chosen so that no
                    // sampling point of these lengths falls exactly on an
                    // input edge (where an operation order decides between
                    // the edge sample and the extrapolation value).
                    // N and C keep [0, 1]: their samples are the inputs'.
                    let mut roi: Vec<f64> = axes
                        .iter()
                        .map(|&d| if d < 2 { 0.0 } else { -0.15 })
                        .collect();
                    roi.extend(axes.iter().map(|&d| if d < 2 { 1.0 } else { 1.35 }));
                    GenInput::values(DType::F32, roi)
                }),
                scales.map(|s| GenInput::values(DType::F32, s)),
                sizes.map(|s| GenInput::values(DType::I64, s)),
            ])
            .string("mode", mode)
            .string("coordinate_transformation_mode", transform);
            if n != 4 {
                case = case.ints("axes", axes.iter().map(|&a| a as i64).collect());
            }
            if policy != "stretch" {
                case = case.string("keep_aspect_ratio_policy", policy);
            }
            if transform == "tf_crop_and_resize" {
                // An integer X gets an integral value: ONNX does not say how
                // 0.75 becomes an integer.
                let e = if dtype.is_float() { 0.75 } else { 2.0 };
                case = case.float("extrapolation_value", e);
            }
            if mode == "nearest" {
                let rounding = match p.get("rounding") {
                    "prefloor" => "round_prefer_floor",
                    "preceil" => "round_prefer_ceil",
                    "floor" => "floor",
                    _ => "ceil",
                };
                case = case.string("nearest_mode", rounding);
            }
            case = match p.get("filter") {
                "antialias" => case.int("antialias", 1),
                "exclude" => case.int("exclude_outside", 1),
                "cubica" => case.float("cubic_coeff_a", -0.5),
                _ => case,
            };
            Some(case)
        }),
    })
}

/// Scales for the resized `axes` of the NCHW case input: `hw` on H and W,
/// 1 on N and C (when every axis is listed).
fn per_axis(axes: &[usize], hw: f64, w: f64) -> Vec<f64> {
    axes.iter()
        .map(|&d| match d {
            2 => hw,
            3 => w,
            _ => 1.0,
        })
        .collect()
}

/// Sizes for the resized `axes`: `f(axis, length)` on H and W, the length
/// itself on N and C.
fn sized(axes: &[usize], input: &[usize], f: impl Fn(usize, usize) -> usize) -> Vec<f64> {
    axes.iter()
        .map(|&d| if d >= 2 { f(d, input[d]) } else { input[d] } as f64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::numerics::DType;
    use crate::ops::{AttrValue, Attributes, Value};

    fn s(v: &str) -> AttrValue {
        AttrValue::String(v.into())
    }

    /// Resize at `opset` of a 1-D `x` by `scale` (opset 11 needs roi).
    fn scaled(opset: i64, a: &Attributes, x: &[f64], scale: f64) -> Value {
        let roi = (opset < 13).then(|| f(&[0], &[]));
        let inputs = [Some(f(&[x.len()], x)), roi, Some(f(&[1], &[scale]))];
        run_at("Resize", opset, a, &inputs)
            .unwrap_or_else(|e| panic!("{e}"))
            .remove(0)
            .value
    }

    #[test]
    fn nearest_upsampling_rounds_half_pixel_coordinates() {
        // half_pixel at scale 2: x = y/2 - 0.25, so -0.25, 0.25, 0.75, ...
        // round_prefer_floor takes 0.75 up, floor takes it down.
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = scaled(19, &Attributes::new(), &x, 2.0);
        close(&y.data, &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0], 0.0);
        let floor = attrs(&[("nearest_mode", s("floor"))]);
        let y = scaled(19, &floor, &x, 2.0);
        close(&y.data, &[1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0], 0.0);
    }

    #[test]
    fn nearest_ties_follow_the_nearest_mode() {
        // asymmetric at scale 2: x = y/2, ties at 0.5, 1.5, 2.5.
        let x = [1.0, 2.0, 3.0];
        let at = |mode: &str| {
            let a = attrs(&[
                ("coordinate_transformation_mode", s("asymmetric")),
                ("nearest_mode", s(mode)),
            ]);
            scaled(13, &a, &x, 2.0)
        };
        close(
            &at("round_prefer_floor").data,
            &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0],
            0.0,
        );
        close(
            &at("round_prefer_ceil").data,
            &[1.0, 2.0, 2.0, 3.0, 3.0, 3.0],
            0.0,
        );
        close(&at("floor").data, &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0], 0.0);
        close(&at("ceil").data, &[1.0, 2.0, 2.0, 3.0, 3.0, 3.0], 0.0);
    }

    #[test]
    fn linear_half_pixel_and_asymmetric_differ_by_the_half_pixel_shift() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let linear = attrs(&[("mode", s("linear"))]);
        let y = scaled(19, &linear, &x, 2.0);
        close(
            &y.data,
            &[1.0, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4.0],
            1e-15,
        );
        let asym = attrs(&[
            ("mode", s("linear")),
            ("coordinate_transformation_mode", s("asymmetric")),
        ]);
        let y = scaled(11, &asym, &x, 2.0);
        close(&y.data, &[1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.0], 1e-15);
    }

    #[test]
    fn cubic_weights_by_hand() {
        // a = -0.75: k(0.5) = 0.59375, k(1.5) = -0.09375. asymmetric at
        // scale 2: y = 5 samples x = 2.5 from taps 1..4; y = 1 samples 0.5
        // from taps -1 (clamped to 0), 0, 1, 2.
        let x = [1.0, 2.0, 4.0, 8.0, 16.0];
        let a = attrs(&[
            ("mode", s("cubic")),
            ("coordinate_transformation_mode", s("asymmetric")),
        ]);
        let y = scaled(19, &a, &x, 2.0);
        assert_eq!(y.data[[5]], 5.4375);
        assert_eq!(y.data[[1]], 1.3125);
        // exclude_outside drops tap -1 and renormalises: 1.40625 / 1.09375.
        let mut ex = a.clone();
        ex.insert("exclude_outside".into(), AttrValue::Int(1));
        let y = scaled(19, &ex, &x, 2.0);
        assert!((y.data[[1]] - 9.0 / 7.0).abs() < 1e-15, "{}", y.data[[1]]);
    }

    #[test]
    fn tf_crop_and_resize_extrapolates_outside_the_input() {
        // W = 5, roi [-0.25, 1.25], 9 outputs: x = -1 + 0.75 y.
        let x = f(&[5], &[0.0, 10.0, 20.0, 30.0, 40.0]);
        let a = attrs(&[
            ("mode", s("linear")),
            ("coordinate_transformation_mode", s("tf_crop_and_resize")),
            ("extrapolation_value", AttrValue::Float(-1.0)),
        ]);
        let inputs = [
            Some(x),
            Some(f(&[2], &[-0.25, 1.25])),
            Some(f(&[0], &[])),
            Some(i(&[1], &[9])),
        ];
        let y = run_at("Resize", 11, &a, &inputs).unwrap().remove(0).value;
        close(
            &y.data,
            &[-1.0, -1.0, 5.0, 12.5, 20.0, 27.5, 35.0, -1.0, -1.0],
            1e-15,
        );
    }

    #[test]
    fn align_corners_divides_by_the_fractional_output_width() {
        // ONNX's test_resize_downsample_scales_linear_align_corners: scale
        // 0.6 of [2, 4] is width [1.2, 2.4], lengths [1, 2]; W's second
        // sample is x = 1 * 3 / (2.4 - 1) = 15/7, so 1 + 15/7 on row 0.
        let x = f(&[1, 1, 2, 4], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        let a = attrs(&[
            ("mode", s("linear")),
            ("coordinate_transformation_mode", s("align_corners")),
        ]);
        let sc = f64::from(0.6f32);
        let inputs = [Some(x), None, Some(f(&[4], &[1.0, 1.0, sc, sc]))];
        let y = run_at("Resize", 19, &a, &inputs).unwrap().remove(0).value;
        assert_eq!(y.shape(), &[1, 1, 1, 2]);
        close(&y.data, &[1.0, 1.0 + 15.0 / 7.0], 1e-6);
    }

    #[test]
    fn half_pixel_symmetric_centres_a_fractional_output() {
        // scale 0.6 of 4: output_width 2.4, 2 outputs; offset 2 (1 - 2/2.4).
        let a = attrs(&[
            ("mode", s("linear")),
            ("coordinate_transformation_mode", s("half_pixel_symmetric")),
        ]);
        let y = scaled(19, &a, &[1.0, 2.0, 3.0, 4.0], f64::from(0.6f32));
        close(&y.data, &[1.0 + 2.0 / 3.0, 3.0 + 1.0 / 3.0], 1e-6);
        // Before 19 the transform does not exist.
        let x = [Some(f(&[4], &[1.0; 4])), None, Some(f(&[1], &[0.5]))];
        let e = run_at("Resize", 18, &a, &x).unwrap_err().to_string();
        assert!(e.contains("not defined at Resize-18"), "{e}");
    }

    #[test]
    fn antialias_widens_the_linear_kernel_when_downsampling() {
        // scale 0.5, half_pixel: x = 2y + 0.5; the triangle stretched to
        // radius 2 weighs taps x-1.5 .. x+1.5 by 1, 3, 3, 1 (/8).
        let a = attrs(&[("mode", s("linear")), ("antialias", AttrValue::Int(1))]);
        let y = scaled(18, &a, &[1.0, 2.0, 3.0, 4.0], 0.5);
        close(&y.data, &[1.625, 3.375], 1e-15);
    }

    #[test]
    fn versions_differ_in_inputs_and_transforms() {
        let x = f(&[4], &[1.0, 2.0, 3.0, 4.0]);
        let nn = attrs(&[("coordinate_transformation_mode", s("tf_half_pixel_for_nn"))]);
        let y = scaled(11, &nn, &[1.0, 2.0, 3.0, 4.0], 2.0);
        close(&y.data, &[1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 4.0], 0.0);
        let e = run_at(
            "Resize",
            13,
            &nn,
            &[Some(x.clone()), None, Some(f(&[1], &[2.0]))],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not defined at Resize-13"), "{e}");
        // 11 requires scales as an input; 13 does not.
        let sizes = [
            Some(x.clone()),
            Some(f(&[0], &[])),
            None,
            Some(i(&[1], &[2])),
        ];
        let e = run_at("Resize", 11, &Attributes::new(), &sizes).unwrap_err();
        assert!(e.to_string().contains("scales"), "{e}");
        let sizes13 = [Some(x.clone()), None, None, Some(i(&[1], &[2]))];
        let y = run_at("Resize", 13, &Attributes::new(), &sizes13).unwrap();
        assert_eq!(y[0].value.shape(), &[2]);
        // axes only from 18.
        let ax = attrs(&[("axes", AttrValue::Ints(vec![0]))]);
        let e = run_at("Resize", 13, &ax, &sizes13).unwrap_err().to_string();
        assert!(e.contains("axes"), "{e}");
        // bfloat16 only from 13.
        let b = t(DType::BF16, &[4], &[1.0; 4]);
        let e = run_at(
            "Resize",
            11,
            &Attributes::new(),
            &[Some(b), Some(f(&[0], &[])), Some(f(&[1], &[2.0]))],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("bf16"), "{e}");
    }

    #[test]
    fn keep_aspect_ratio_policies() {
        let x = Some(f(&[1, 1, 2, 4], &[0.0; 8]));
        let sizes = Some(i(&[2], &[4, 4]));
        let shape = |policy: &str| {
            let a = attrs(&[
                ("axes", AttrValue::Ints(vec![2, 3])),
                ("keep_aspect_ratio_policy", s(policy)),
            ]);
            let out = run_at("Resize", 19, &a, &[x.clone(), None, None, sizes.clone()]).unwrap();
            out[0].value.shape().to_vec()
        };
        assert_eq!(shape("stretch"), [1, 1, 4, 4]);
        assert_eq!(shape("not_larger"), [1, 1, 2, 4]);
        assert_eq!(shape("not_smaller"), [1, 1, 4, 8]);
    }

    #[test]
    fn nearest_is_exact_and_linear_carries_a_magnitude() {
        let x = [Some(f(&[2], &[1.0, -3.0])), None, Some(f(&[1], &[2.0]))];
        let nearest = run_at("Resize", 19, &Attributes::new(), &x).unwrap();
        assert!(
            nearest[0]
                .magnitude
                .as_ref()
                .unwrap()
                .iter()
                .all(|&m| m == 0.0)
        );
        let linear = attrs(&[("mode", s("linear"))]);
        let out = run_at("Resize", 19, &linear, &x).unwrap();
        let m = out[0].magnitude.as_ref().unwrap();
        // Element 1 (x = 0.25) mixes 1 and -3: sum |w x| = 0.75 + 0.75.
        assert!(m[[1]] >= 1.5 * 4.0, "{m:?}");
    }

    #[test]
    fn resize_errors() {
        let x = Some(f(&[4], &[1.0; 4]));
        let sc = Some(f(&[1], &[2.0]));
        let sz = Some(i(&[1], &[8]));
        let none = Attributes::new();
        fails(
            "Resize",
            &none,
            &[x.clone(), None, sc.clone(), sz.clone()],
            "both given",
        );
        fails(
            "Resize",
            &none,
            &[x.clone(), None, Some(f(&[0], &[]))],
            "neither",
        );
        fails(
            "Resize",
            &none,
            &[x.clone(), None, Some(f(&[2], &[2.0, 2.0]))],
            "rank 1",
        );
        fails(
            "Resize",
            &none,
            &[x.clone(), None, Some(f(&[1], &[0.0]))],
            "greater than 0",
        );
        let bad = attrs(&[("mode", s("bilinear"))]);
        fails(
            "Resize",
            &bad,
            &[x.clone(), None, sc.clone()],
            "mode must be",
        );
        let lin = attrs(&[("mode", s("linear"))]);
        let ints = Some(t(DType::I32, &[4], &[1.0; 4]));
        fails("Resize", &lin, &[ints, None, sc.clone()], "float X only");
        let crop = attrs(&[("coordinate_transformation_mode", s("tf_crop_and_resize"))]);
        fails("Resize", &crop, &[x.clone(), None, sc.clone()], "needs roi");
        let twice = attrs(&[("axes", AttrValue::Ints(vec![0, -1]))]);
        fails(
            "Resize",
            &twice,
            &[x, None, Some(f(&[2], &[2.0, 2.0]))],
            "twice",
        );
    }
}
