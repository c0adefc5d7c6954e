//! Spatial sampling: GridSample (16, 20, 22), AffineGrid (20), RoiAlign
//! (10, 16, 22) and CenterCropPad (18).
//!
//! The oracles follow the ONNX specification text; where it is silent they
//! follow ONNX's reference evaluator (`onnx/reference/ops`), whose outputs
//! are the published node tests, and say so:
//!
//! * GridSample: a normalized coordinate `g` of an axis of length `L` maps
//!   to `x = (g + 1) (L - 1) / 2` (align_corners) or `((g + 1) L - 1) / 2`;
//!   grid's last axis lists the coordinates innermost axis first. The
//!   border interval is `[0, L - 1]` (align_corners) or `[-0.5, L - 0.5]`.
//!   nearest rounds `x` half to even (the spec's words since 20; the
//!   reference at every version), then a rounded `x` outside the interval
//!   is clamped to `[0, L - 1]` (border) or reflected (reflection), and an
//!   index outside the input reads 0 (zeros). linear and cubic apply the
//!   same clamp or reflection to the unrounded `x` when it lies outside the
//!   interval, then weigh the taps `floor(x) + k` (k = 0, 1; cubic: -1..2,
//!   Keys' kernel with a = -0.75), each tap index clamped (border),
//!   reflected (reflection) or read as 0 (zeros). For cubic with border
//!   padding this differs from PyTorch (which never clamps the coordinate,
//!   only the taps) for `x` in `[-1.5, -0.5)` and the mirror interval; the
//!   ONNX reference clamps, and its node tests are what ONNX publishes.
//!   Interpolating modes on integer or bool X are refused, as for Resize:
//!   ONNX says "cast to integer at the end" without saying how.
//! * AffineGrid: the base coordinate of index `i` of an axis of length `L`
//!   is `-1 + (2 i + 1) / L`, or `-1 + 2 i / (L - 1)` with align_corners;
//!   for `L = 1` with align_corners the reference gives -1 (PyTorch gives
//!   0; the function body divides by zero for H and W, and gives -1 for D).
//! * RoiAlign: the ONNX reference (the Caffe2/onnxruntime kernel): a
//!   sample outside `[-1, H] x [-1, W]` contributes 0 (and counts in avg's
//!   divisor), a sample in `[-1, 0)` is moved to 0, one at or past the
//!   last row or column reads that row or column. `max` mode is **not**
//!   the maximum of the bilinearly interpolated samples: the reference and
//!   onnxruntime take the maximum, over samples, of the largest of the
//!   four weighted corner terms `w_i x_i` (and test_roialign_mode_max's
//!   published output is that). The spec says only "max pooling"; the
//!   oracle follows the published output and documents the divergence
//!   from the natural reading (max of interpolated values, as in
//!   torchvision's ps/roi pooling variants). RoiAlign-10 has no
//!   coordinate_transformation_mode and computes as output_half_pixel
//!   (no half-pixel shift, malformed ROIs forced to 1 x 1); 16's default
//!   is half_pixel.
//! * CenterCropPad: per axis, a crop keeps `[(d - s) / 2, ...)` (the
//!   extra element of an odd difference dropped at the end) and a pad
//!   puts the input at `(s - d) / 2` with zeros around it.
//!
//! Checks (error models, also in docs/error-models.md):
//!
//! * CenterCropPad: exact (data movement).
//! * GridSample linear/cubic, as Resize (`resize.rs`): the weighted sum's
//!   roundoff `(2 + taps) sum |w x|`, plus the coordinate's: an
//!   implementation computes `x` in its own precision with an error of a
//!   few units of roundoff of `C = (|g| + 2) (L + 1)` (the magnitudes of
//!   the intermediates, the reflection's included), which moves every
//!   weight by `|dw/dx|` times that: `4 C sum |dw_a/dx_a prod_b w_b| |x|`;
//!   as io magnitude, one rounding of `sum |w x|` per axis pass after the
//!   first (separable kernels keeping intermediates in the io dtype).
//!   `c = 1` ([`CheckPolicy::ModelBound`]).
//! * GridSample nearest copies an input element, so it is exact except
//!   next to a tie: the value is a step function of `x` with steps at the
//!   half-integers, and a backend whose coordinate, off by up to `4 u C`,
//!   lands on the other side of a step returns the other neighbour. The
//!   same "local slope times the coordinate's error" as for linear, with
//!   the step's slope taken as `J / dist` (J the jump, dist the distance
//!   of the exact `x` from the step): the magnitude gets `4 C J / dist`,
//!   which admits the other neighbour exactly when `dist <= 4 u C` and
//!   adds a few ulps elsewhere. An exact tie (dist = 0) must follow ONNX's
//!   rule (half to even): it arises only when `g` is a short dyadic
//!   (`g = (2k + 2)/L - 1` or `(2k + 1)/(L - 1) - 1` must be
//!   representable), and then every intermediate of the coordinate is a
//!   short dyadic too, exact in any precision and any operation order.
//!   Integer and bool X are checked exactly: their cases draw the grid
//!   from f16 values, whose coordinates are exact in f32, so no near-tie
//!   arises. The jump of cubic's border clamp at `x = -0.5` and
//!   `L - 0.5` (align_corners 0) is handled the same way.
//! * AffineGrid: each output is a 3- or 4-term dot product of theta with
//!   base coordinates an implementation computes in its precision (error
//!   below `4 u` each, the division and the addition): `(2 + k) sum |t b|
//!   + 8 sum_spatial |t|`, `c = 1`.
//! * RoiAlign avg: the mean of `n = count` samples, each a 4-term weighted
//!   sum: `(3 + 4 n) sum |w x| / n` for the sum and the division, plus the
//!   sample coordinates' error (`4 C_s` times the weights' slopes, `C_s`
//!   the magnitudes of the ROI corner, the bin and the sample position)
//!   and, for a sample next to the `-1` or `H`/`W` cut-off, the jump of
//!   its contribution over its distance (as nearest's ties). max: the
//!   maximum moves by at most the largest error of a candidate, so the
//!   magnitude is the largest candidate bound (`3 |w x|` plus its slope
//!   term), plus the cut-off jumps. Cases keep ROIs dyadic, so that the
//!   adaptive sample count `ceil(roi / output)` (a step function of the
//!   ROI) is computed exactly in every precision.

use ndarray::{ArrayD, IxDyn};

use super::resize::{cubic, cubic_slope_bound};
use super::rules::{self, ints_of};
use super::spec::{TypeVar, fixed};
use super::{
    AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape, Work,
};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;

/// Keys' cubic coefficient GridSample uses (PyTorch's and ONNX's -0.75).
const CUBIC_A: f64 = -0.75;

/// The floats of GridSample-16/20 and RoiAlign-10/16 (no bfloat16).
const FLOATS_16: &[DType] = &[DType::F64, DType::F32, DType::F16];
/// The floats from opset 22 (bfloat16 joins).
const FLOATS_22: &[DType] = &[DType::F64, DType::F32, DType::F16, DType::BF16];

/// GridSample-16/20's `T1` as xpucert holds it: every numeric dtype and
/// bool but bfloat16 and fp8 (ONNX's strings and complex are not xpucert
/// dtypes).
const T1_GS_16: TypeVar = TypeVar {
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
/// GridSample-22's `T1`: bfloat16 joins.
const T1_GS_22: TypeVar = TypeVar {
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
/// `T2` (grid) before 22.
const T2_16: TypeVar = TypeVar {
    name: "T2",
    allowed: FLOATS_16,
};
/// `T2` (grid) from 22.
const T2_22: TypeVar = TypeVar {
    name: "T2",
    allowed: FLOATS_22,
};
/// `T1` of RoiAlign-10/16.
const T1_ROI_10: TypeVar = TypeVar {
    name: "T1",
    allowed: FLOATS_16,
};
/// `T1` of RoiAlign-22 and AffineGrid-20.
const T1_ROI_22: TypeVar = TypeVar {
    name: "T1",
    allowed: FLOATS_22,
};
/// `tensor(int64)`.
const T_I64: TypeVar = TypeVar {
    name: "T2",
    allowed: &[DType::I64],
};
/// CenterCropPad's `T`: every xpucert dtype but fp8 (added to ONNX's
/// lists only from opset 19).
const T_CROP: TypeVar = TypeVar {
    name: "T",
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
/// CenterCropPad's `Tind`: int32 or int64.
const T_CROP_IND: TypeVar = TypeVar {
    name: "Tind",
    allowed: &[DType::I32, DType::I64],
};

// ------------------------------------------------------------------ GridSample

const GS_ATTRS: &[(&str, AttrType)] = &[
    ("align_corners", AttrType::Int),
    ("mode", AttrType::String),
    ("padding_mode", AttrType::String),
];

const fn grid_sample_def(opset: i64, types: &'static [TypeVar]) -> OpSpec {
    OpSpec {
        name: "GridSample",
        domain: "",
        opset,
        arity: fixed(2, 0),
        input_names: &["X", "grid"],
        input_types: types,
        outputs: 1,
        attributes: GS_ATTRS,
    }
}

/// GridSample-16: 4-D X only; modes bilinear, nearest, bicubic.
pub(super) const GRID_SAMPLE_16: OpDef = OpDef {
    spec: grid_sample_def(16, &[T1_GS_16, T2_16]),
    oracle: |c| Ok(vec![grid_sample(c, 16)?]),
    shape: |a, i, v| grid_sample_shape(16, a, i, v),
    cost: grid_sample_cost,
    check: CheckPolicy::ModelBound,
    terms: rules::no_sum,
};
/// GridSample-20: N-D; modes linear, nearest, cubic.
pub(super) const GRID_SAMPLE_20: OpDef = OpDef {
    spec: grid_sample_def(20, &[T1_GS_16, T2_16]),
    oracle: |c| Ok(vec![grid_sample(c, 20)?]),
    shape: |a, i, v| grid_sample_shape(20, a, i, v),
    cost: grid_sample_cost,
    check: CheckPolicy::ModelBound,
    terms: rules::no_sum,
};
/// GridSample-22: bfloat16.
pub(super) const GRID_SAMPLE: OpDef = OpDef {
    spec: grid_sample_def(22, &[T1_GS_22, T2_22]),
    oracle: |c| Ok(vec![grid_sample(c, 22)?]),
    shape: |a, i, v| grid_sample_shape(22, a, i, v),
    cost: grid_sample_cost,
    check: CheckPolicy::ModelBound,
    terms: rules::no_sum,
};

/// Cost: up to 4^r taps per output element, a multiply-add each.
fn grid_sample_cost(_: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
    let x = rules::shape_of(inputs, 0);
    let grid = rules::shape_of(inputs, 1);
    let channels = x.get(1).copied().unwrap_or(1) as f64;
    let r = grid.last().copied().unwrap_or(1).min(8) as i32;
    let points = rules::numel(grid) / grid.last().copied().unwrap_or(1).max(1) as f64;
    Work {
        flops: Some(2.0 * 4f64.powi(r) * points * channels),
        multiply_adds: 0.0,
        scratch: 0.0,
    }
}

/// How values between samples are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interp {
    Nearest,
    Linear,
    Cubic,
}

/// What a coordinate outside the input reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Padding {
    Zeros,
    Border,
    Reflection,
}

/// A validated GridSample call.
#[derive(Debug, Clone)]
struct Sampler {
    interp: Interp,
    padding: Padding,
    align: bool,
    /// X's spatial lengths.
    spatial: Vec<usize>,
    /// The grid's (and Y's) spatial lengths.
    points: Vec<usize>,
    batch: usize,
    channels: usize,
}

impl Sampler {
    fn output_shape(&self) -> Vec<usize> {
        let mut s = vec![self.batch, self.channels];
        s.extend(&self.points);
        s
    }

    /// The border interval of an axis of length `len`.
    fn interval(&self, len: usize) -> (f64, f64) {
        if self.align {
            (0.0, len as f64 - 1.0)
        } else {
            (-0.5, len as f64 - 0.5)
        }
    }

    /// The unnormalized coordinate of `g` on an axis of length `len`.
    fn denormalize(&self, g: f64, len: usize) -> f64 {
        let l = len as f64;
        if self.align {
            (g + 1.0) / 2.0 * (l - 1.0)
        } else {
            ((g + 1.0) * l - 1.0) / 2.0
        }
    }
}

/// Every check of a GridSample call, shared by the shape rule and the
/// oracle.
fn gs_resolve(
    version: i64,
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Sampler, String> {
    let (dtype, xs) = rules::input(inputs, 0)?;
    let (_, gs) = rules::input(inputs, 1)?;
    let interp = match (
        attrs.string("mode", if version < 20 { "bilinear" } else { "linear" })?,
        version,
    ) {
        ("nearest", _) => Interp::Nearest,
        ("bilinear", ..=19) | ("linear", 20..) => Interp::Linear,
        ("bicubic", ..=19) | ("cubic", 20..) => Interp::Cubic,
        (m, v) => {
            return Err(format!(
                "mode {m:?} is not defined at GridSample-{v} (accepted: {})",
                if v < 20 {
                    "bilinear, nearest, bicubic"
                } else {
                    "linear, nearest, cubic"
                }
            ));
        }
    };
    let padding = match attrs.string("padding_mode", "zeros")? {
        "zeros" => Padding::Zeros,
        "border" => Padding::Border,
        "reflection" => Padding::Reflection,
        p => {
            return Err(format!(
                "padding_mode must be zeros, border or reflection, got {p:?}"
            ));
        }
    };
    let align = rules::flag(attrs, "align_corners", false)?;
    if interp != Interp::Nearest && !dtype.is_float() {
        return Err(format!(
            "mode {:?} interpolates, which is defined here for float X only (ONNX does not say how an interpolated {dtype} is rounded)",
            attrs.string("mode", "linear")?
        ));
    }
    if version < 20 && xs.len() != 4 {
        return Err(format!(
            "X must be 4-D (N, C, H, W) at GridSample-16, got shape {xs:?}"
        ));
    }
    if xs.len() < 3 {
        return Err(format!(
            "X must have rank r + 2 with at least one spatial axis, got shape {xs:?}"
        ));
    }
    let r = xs.len() - 2;
    if gs.len() != r + 2 || gs[0] != xs[0] || gs[r + 1] != r {
        return Err(format!(
            "grid must have shape (N, D1_out, ..., D{r}_out, {r}) with N = {}, got {gs:?}",
            xs[0]
        ));
    }
    let spatial = xs[2..].to_vec();
    let points = gs[1..=r].to_vec();
    let outputs: usize = points.iter().product::<usize>() * xs[0] * xs[1];
    if outputs > 0 && spatial.contains(&0) {
        return Err(format!(
            "X has an empty spatial axis ({xs:?}) to sample from"
        ));
    }
    if gs.iter().product::<usize>() > 0 && values(1).iter().any(|g| !g.is_finite()) {
        return Err("grid holds a non-finite value".into());
    }
    Ok(Sampler {
        interp,
        padding,
        align,
        spatial,
        points,
        batch: xs[0],
        channels: xs[1],
    })
}

fn grid_sample_shape(
    version: i64,
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, _) = rules::input(inputs, 0)?;
    let s = gs_resolve(version, attrs, inputs, values)?;
    Ok(vec![(*dtype, s.output_shape())])
}

/// Reflects `x` by the borders `lo` and `hi` until it lies between them
/// (the spec's example: -3.5 in [-1, 1] -> 1.5 -> 0.5).
fn reflect(x: f64, lo: f64, hi: f64) -> f64 {
    let range = hi - lo;
    if range <= 0.0 {
        return lo;
    }
    if x < lo {
        let d = lo - x;
        let n = (d / range).floor();
        let r = d - n * range;
        if n % 2.0 == 0.0 { lo + r } else { hi - r }
    } else if x > hi {
        let d = x - hi;
        let n = (d / range).floor();
        let r = d - n * range;
        if n % 2.0 == 0.0 { hi - r } else { lo + r }
    } else {
        x
    }
}

/// One tap along one axis: the input index (`None`: reads 0), its weight
/// and a bound on |d weight / d coordinate|.
type Tap = (Option<usize>, f64, f64);

impl Sampler {
    /// The input index an integer position `i` reads along an axis of
    /// length `len` under the padding mode.
    fn index(&self, i: f64, len: usize) -> Option<usize> {
        let last = len as f64 - 1.0;
        match self.padding {
            Padding::Zeros => (0.0..=last).contains(&i).then_some(i as usize),
            Padding::Border => Some(i.clamp(0.0, last) as usize),
            Padding::Reflection => {
                let (lo, hi) = self.interval(len);
                // The reference truncates the reflected position.
                Some((reflect(i, lo, hi).trunc()).clamp(0.0, last) as usize)
            }
        }
    }

    /// The coordinate after the padding mode's treatment of a point
    /// outside the border interval.
    fn bounded(&self, x: f64, len: usize) -> f64 {
        let (lo, hi) = self.interval(len);
        if x >= lo && x <= hi {
            return x;
        }
        match self.padding {
            Padding::Zeros => x,
            Padding::Border => x.clamp(0.0, len as f64 - 1.0),
            Padding::Reflection => reflect(x, lo, hi),
        }
    }

    /// nearest's tap at coordinate `x`.
    fn nearest(&self, x: f64, len: usize) -> Option<usize> {
        let x = self.bounded(x.round_ties_even(), len);
        self.index(x.trunc(), len)
    }

    /// linear's or cubic's taps at coordinate `x` (not yet bounded).
    fn taps(&self, x: f64, len: usize) -> Vec<Tap> {
        let x = self.bounded(x, len);
        let x0 = x.floor();
        let f = x - x0;
        match self.interp {
            Interp::Cubic => {
                let slope = cubic_slope_bound(CUBIC_A);
                (-1..=2)
                    .map(|k| {
                        let w = cubic(CUBIC_A, f - k as f64);
                        (self.index(x0 + k as f64, len), w, slope)
                    })
                    .collect()
            }
            _ => vec![
                (self.index(x0, len), 1.0 - f, 1.0),
                (self.index(x0 + 1.0, len), f, 1.0),
            ],
        }
    }
}

/// The tensor-product sum over per-axis taps of one (n, c) plane `plane`
/// (row-major over `dims`): value, `sum |w x|` and `sum_a C_a sum |dw_a
/// prod_{b != a} w_b| |x|`.
fn tap_sum(plane: &[f64], dims: &[usize], taps: &[Vec<Tap>], coord: &[f64]) -> (f64, f64, f64) {
    let r = dims.len();
    let mut pick = vec![0usize; r];
    let (mut value, mut abs, mut slope) = (0.0, 0.0, 0.0);
    if taps.iter().any(Vec::is_empty) {
        return (0.0, 0.0, 0.0);
    }
    loop {
        let mut w = 1.0;
        let mut flat = Some(0usize);
        for a in 0..r {
            let (i, wa, _) = taps[a][pick[a]];
            w *= wa;
            flat = match (flat, i) {
                (Some(f), Some(i)) => Some(f * dims[a] + i),
                _ => None,
            };
        }
        let v = flat.map_or(0.0, |f| plane[f]);
        value += w * v;
        abs += (w * v).abs();
        for a in 0..r {
            let da = taps[a][pick[a]].2;
            let others: f64 = (0..r)
                .filter(|&b| b != a)
                .map(|b| taps[b][pick[b]].1.abs())
                .product();
            slope += coord[a] * da * others * v.abs();
        }
        let mut a = r;
        loop {
            if a == 0 {
                return (value, abs, slope);
            }
            a -= 1;
            pick[a] += 1;
            if pick[a] < taps[a].len() {
                break;
            }
            pick[a] = 0;
        }
    }
}

/// GridSample at `version`: see the module documentation.
fn grid_sample(call: &Call, version: i64) -> Result<Output> {
    let x = call.input(0)?;
    let grid = call.input(1)?;
    let s = gs_resolve(version, call.attrs, &call.typed_shapes(), &mut |i| {
        call.values(i)
    })
    .map_err(|m| call.err(m))?;
    let out_shape = s.output_shape();
    let r = s.spatial.len();
    let pixels: usize = s.spatial.iter().product();
    let points: usize = s.points.iter().product();
    let xs: Vec<f64> = x.data.iter().copied().collect();
    let gs: Vec<f64> = grid.data.iter().copied().collect();
    let total = out_shape.iter().product::<usize>();
    let mut value = vec![0.0; total];
    let mut magnitude = vec![0.0; total];
    let mut io = vec![0.0; total];
    let mut coords = vec![0.0; r];
    let mut bounds = vec![0.0; r];
    for n in 0..s.batch {
        for p in 0..points {
            let g = &gs[(n * points + p) * r..(n * points + p + 1) * r];
            for a in 0..r {
                // grid lists the innermost axis first.
                let ga = g[r - 1 - a];
                coords[a] = s.denormalize(ga, s.spatial[a]);
                bounds[a] = (ga.abs() + 2.0) * (s.spatial[a] as f64 + 1.0);
            }
            for c in 0..s.channels {
                let plane = &xs[(n * s.channels + c) * pixels..(n * s.channels + c + 1) * pixels];
                let o = (n * s.channels + c) * points + p;
                let (v, m, i) = if s.interp == Interp::Nearest {
                    nearest_point(&s, plane, &coords, &bounds)
                } else {
                    smooth_point(&s, plane, &coords, &bounds)
                };
                value[o] = v;
                magnitude[o] = m;
                io[o] = i;
            }
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

/// Flat index of per-axis picks, or `None` when one reads padding.
fn flat_index(picks: &[Option<usize>], dims: &[usize]) -> Option<usize> {
    picks
        .iter()
        .zip(dims)
        .try_fold(0usize, |f, (i, &d)| i.map(|i| f * d + i))
}

/// nearest at one point: the value and, per axis, the step term `4 C J /
/// dist` of the half-integer step nearest to the coordinate.
fn nearest_point(s: &Sampler, plane: &[f64], coords: &[f64], bounds: &[f64]) -> (f64, f64, f64) {
    let r = coords.len();
    let mut picks: Vec<Option<usize>> =
        (0..r).map(|a| s.nearest(coords[a], s.spatial[a])).collect();
    let read = |picks: &[Option<usize>]| flat_index(picks, &s.spatial).map_or(0.0, |f| plane[f]);
    let value = read(&picks);
    let mut magnitude = 0.0;
    for a in 0..r {
        let step = coords[a].floor() + 0.5;
        let dist = (coords[a] - step).abs();
        if dist == 0.0 {
            continue;
        }
        let keep = picks[a];
        picks[a] = s.nearest(step - 0.25, s.spatial[a]);
        let below = read(&picks);
        picks[a] = s.nearest(step + 0.25, s.spatial[a]);
        let above = read(&picks);
        picks[a] = keep;
        magnitude += 4.0 * bounds[a] * (above - below).abs() / dist;
    }
    (value, magnitude, 0.0)
}

/// linear or cubic at one point: value, magnitude and io magnitude (see
/// the module documentation).
fn smooth_point(s: &Sampler, plane: &[f64], coords: &[f64], bounds: &[f64]) -> (f64, f64, f64) {
    let r = coords.len();
    let mut taps: Vec<Vec<Tap>> = (0..r).map(|a| s.taps(coords[a], s.spatial[a])).collect();
    let (value, abs, slope) = tap_sum(plane, &s.spatial, &taps, bounds);
    let growth = 2.0 + taps.iter().map(Vec::len).sum::<usize>() as f64;
    let mut magnitude = growth * abs + 4.0 * slope;
    // cubic's border clamp jumps at the ends of [-0.5, L - 0.5].
    if s.interp == Interp::Cubic && s.padding == Padding::Border && !s.align {
        for a in 0..r {
            let len = s.spatial[a];
            let (lo, hi) = s.interval(len);
            let (edge, dist) = if (coords[a] - lo).abs() < (coords[a] - hi).abs() {
                (lo, (coords[a] - lo).abs())
            } else {
                (hi, (coords[a] - hi).abs())
            };
            if dist == 0.0 || dist > 0.5 {
                continue;
            }
            let keep = std::mem::take(&mut taps[a]);
            // At the edge the coordinate is used as it is; just past it,
            // clamped to the nearest sample.
            taps[a] = s.taps(edge, len);
            let at = tap_sum(plane, &s.spatial, &taps, bounds).0;
            taps[a] = s.taps(edge.clamp(0.0, len as f64 - 1.0), len);
            let past = tap_sum(plane, &s.spatial, &taps, bounds).0;
            taps[a] = keep;
            magnitude += 4.0 * bounds[a] * (at - past).abs() / dist;
        }
    }
    (value, magnitude, (r.saturating_sub(1)) as f64 * abs)
}

// ------------------------------------------------------------------ AffineGrid

/// AffineGrid-20.
pub(super) const AFFINE_GRID: OpDef = OpDef {
    spec: OpSpec {
        name: "AffineGrid",
        domain: "",
        opset: 20,
        arity: fixed(2, 0),
        input_names: &["theta", "size"],
        input_types: &[T1_ROI_22, T_I64_SIZE],
        outputs: 1,
        attributes: &[("align_corners", AttrType::Int)],
    },
    oracle: |c| Ok(vec![affine_grid(c)?]),
    shape: affine_grid_shape,
    cost: rules::per_output_element,
    check: CheckPolicy::ModelBound,
    terms: rules::no_sum,
};

/// AffineGrid's `size`: `tensor(int64)`.
const T_I64_SIZE: TypeVar = TypeVar {
    name: "tensor(int64)",
    allowed: &[DType::I64],
};

/// A validated AffineGrid call: batch, spatial lengths (D, H, W or H, W)
/// and align_corners.
fn affine_resolve(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<(usize, Vec<usize>, bool), String> {
    let (_, theta) = rules::input(inputs, 0)?;
    let (_, size) = rules::input(inputs, 1)?;
    let align = rules::flag(attrs, "align_corners", false)?;
    let r = match theta.as_slice() {
        [_, 2, 3] => 2,
        [_, 3, 4] => 3,
        _ => {
            return Err(format!(
                "theta must have shape (N, 2, 3) or (N, 3, 4), got {theta:?}"
            ));
        }
    };
    if size.len() != 1 || size[0] != r + 2 {
        return Err(format!(
            "size must be 1-D with {} values (N, C, {}) for theta of shape {theta:?}, got shape {size:?}",
            r + 2,
            if r == 2 { "H, W" } else { "D, H, W" }
        ));
    }
    let v = ints_of("size", &values(1))?;
    if v.iter().any(|&d| d < 0) {
        return Err(format!("size holds a negative length: {v:?}"));
    }
    if v[0] as usize != theta[0] {
        return Err(format!("size's N is {}, theta's is {}", v[0], theta[0]));
    }
    let spatial: Vec<usize> = v[2..].iter().map(|&d| d as usize).collect();
    let total = spatial
        .iter()
        .try_fold(theta[0].max(1) * r, |acc, &d| acc.checked_mul(d.max(1)));
    if total.is_none_or(|t| t > 1 << 40) {
        return Err(format!("size {v:?} makes a grid too large to hold"));
    }
    Ok((theta[0], spatial, align))
}

fn affine_grid_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, _) = rules::input(inputs, 0)?;
    let (n, spatial, _) = affine_resolve(attrs, inputs, values)?;
    let mut shape = vec![n];
    shape.extend(&spatial);
    shape.push(spatial.len());
    Ok(vec![(*dtype, shape)])
}

/// The base coordinate of index `i` of an axis of length `len`.
fn base_coordinate(i: usize, len: usize, align: bool) -> f64 {
    if align {
        if len <= 1 {
            -1.0
        } else {
            -1.0 + 2.0 * i as f64 / (len - 1) as f64
        }
    } else {
        -1.0 + (2 * i + 1) as f64 / len as f64
    }
}

/// AffineGrid-20: see the module documentation.
fn affine_grid(call: &Call) -> Result<Output> {
    let theta = call.input(0)?;
    let (n, spatial, align) =
        affine_resolve(call.attrs, &call.typed_shapes(), &mut |i| call.values(i))
            .map_err(|m| call.err(m))?;
    let r = spatial.len();
    let k = r + 1;
    let t: Vec<f64> = theta.data.iter().copied().collect();
    let points: usize = spatial.iter().product();
    let mut shape = vec![n];
    shape.extend(&spatial);
    shape.push(r);
    let mut value = Vec::with_capacity(n * points * r);
    let mut magnitude = Vec::with_capacity(n * points * r);
    let mut index = vec![0usize; r];
    let mut base = vec![1.0; k];
    for b in 0..n {
        for p in 0..points {
            let mut rest = p;
            for a in (0..r).rev() {
                index[a] = rest % spatial[a];
                rest /= spatial[a];
            }
            // base = [x (innermost axis), y, (z), 1].
            for (slot, (&i, &len)) in base.iter_mut().zip(index.iter().zip(&spatial).rev()) {
                *slot = base_coordinate(i, len, align);
            }
            for i in 0..r {
                let row = &t[(b * r + i) * k..(b * r + i + 1) * k];
                let dot: f64 = row.iter().zip(&base).map(|(a, b)| a * b).sum();
                let abs: f64 = row.iter().zip(&base).map(|(a, b)| (a * b).abs()).sum();
                let coordinate: f64 = row[..r].iter().map(|a| a.abs()).sum();
                value.push(dot);
                magnitude.push((2.0 + k as f64) * abs + 8.0 * coordinate);
            }
        }
    }
    let array = |v: Vec<f64>| {
        ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|e| call.err(format!("grid: {e}")))
    };
    let data = array(value)?;
    if !call.magnitudes {
        return Ok(Output::plain(theta.dtype, data));
    }
    Ok(Output::bounded(theta.dtype, data, array(magnitude)?, None))
}

// -------------------------------------------------------------------- RoiAlign

const ROI_ATTRS_10: &[(&str, AttrType)] = &[
    ("mode", AttrType::String),
    ("output_height", AttrType::Int),
    ("output_width", AttrType::Int),
    ("sampling_ratio", AttrType::Int),
    ("spatial_scale", AttrType::Float),
];
const ROI_ATTRS_16: &[(&str, AttrType)] = &[
    ("coordinate_transformation_mode", AttrType::String),
    ("mode", AttrType::String),
    ("output_height", AttrType::Int),
    ("output_width", AttrType::Int),
    ("sampling_ratio", AttrType::Int),
    ("spatial_scale", AttrType::Float),
];

const fn roi_align_spec(
    opset: i64,
    types: &'static [TypeVar],
    attributes: &'static [(&'static str, AttrType)],
) -> OpSpec {
    OpSpec {
        name: "RoiAlign",
        domain: "",
        opset,
        arity: fixed(3, 0),
        input_names: &["X", "rois", "batch_indices"],
        input_types: types,
        outputs: 1,
        attributes,
    }
}

/// RoiAlign-10: no coordinate_transformation_mode (output_half_pixel).
pub(super) const ROI_ALIGN_10: OpDef = OpDef {
    spec: roi_align_spec(10, &[T1_ROI_10, T1_ROI_10, T_I64], ROI_ATTRS_10),
    oracle: |c| Ok(vec![roi_align(c, 10)?]),
    shape: |a, i, v| roi_align_shape(10, a, i, v),
    cost: roi_align_cost,
    check: CheckPolicy::ModelBound,
    terms: rules::no_sum,
};
/// RoiAlign-16: coordinate_transformation_mode, half_pixel by default.
pub(super) const ROI_ALIGN_16: OpDef = OpDef {
    spec: roi_align_spec(16, &[T1_ROI_10, T1_ROI_10, T_I64], ROI_ATTRS_16),
    oracle: |c| Ok(vec![roi_align(c, 16)?]),
    shape: |a, i, v| roi_align_shape(16, a, i, v),
    cost: roi_align_cost,
    check: CheckPolicy::ModelBound,
    terms: rules::no_sum,
};
/// RoiAlign-22: bfloat16.
pub(super) const ROI_ALIGN: OpDef = OpDef {
    spec: roi_align_spec(22, &[T1_ROI_22, T1_ROI_22, T_I64], ROI_ATTRS_16),
    oracle: |c| Ok(vec![roi_align(c, 22)?]),
    shape: |a, i, v| roi_align_shape(22, a, i, v),
    cost: roi_align_cost,
    check: CheckPolicy::ModelBound,
    terms: rules::no_sum,
};

/// Cost: 4 multiply-adds per sample; the adaptive count is taken as 4
/// samples per bin (the ROIs' values are not read here).
fn roi_align_cost(attrs: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
    let x = rules::shape_of(inputs, 0);
    let rois = rules::shape_of(inputs, 1);
    let channels = x.get(1).copied().unwrap_or(1) as f64;
    let bins = (rules::int_attr(attrs, "output_height", 1).max(1)
        * rules::int_attr(attrs, "output_width", 1).max(1)) as f64;
    let ratio = rules::int_attr(attrs, "sampling_ratio", 0);
    let samples = if ratio > 0 {
        (ratio * ratio) as f64
    } else {
        4.0
    };
    Work {
        flops: Some(8.0 * samples * bins * channels * rois.first().copied().unwrap_or(1) as f64),
        multiply_adds: 0.0,
        scratch: 0.0,
    }
}

/// A validated RoiAlign call.
#[derive(Debug, Clone)]
struct Pooling {
    max: bool,
    half_pixel: bool,
    height: usize,
    width: usize,
    ratio: usize,
    scale: f64,
    rois: usize,
    channels: usize,
    batch: usize,
    /// X's H and W.
    h: usize,
    w: usize,
}

fn roi_resolve(
    version: i64,
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Pooling, String> {
    let (dtype, xs) = rules::input(inputs, 0)?;
    let (rd, rs) = rules::input(inputs, 1)?;
    let (_, bs) = rules::input(inputs, 2)?;
    if rd != dtype {
        return Err(format!(
            "rois is {rd}, X is {dtype}; they share the type T1"
        ));
    }
    if xs.len() != 4 {
        return Err(format!("X must be 4-D (N, C, H, W), got shape {xs:?}"));
    }
    if rs.len() != 2 || rs[1] != 4 {
        return Err(format!("rois must have shape (num_rois, 4), got {rs:?}"));
    }
    if bs.len() != 1 || bs[0] != rs[0] {
        return Err(format!(
            "batch_indices must have shape ({},), one per ROI, got {bs:?}",
            rs[0]
        ));
    }
    let max = match attrs.string("mode", "avg")? {
        "avg" => false,
        "max" => true,
        m => return Err(format!("mode must be avg or max, got {m:?}")),
    };
    let half_pixel = if version < 16 {
        false
    } else {
        match attrs.string("coordinate_transformation_mode", "half_pixel")? {
            "half_pixel" => true,
            "output_half_pixel" => false,
            m => {
                return Err(format!(
                    "coordinate_transformation_mode must be half_pixel or output_half_pixel, got {m:?}"
                ));
            }
        }
    };
    let positive = |name: &str| -> std::result::Result<usize, String> {
        match attrs.int(name, 1)? {
            v @ 1..=65536 => Ok(v as usize),
            v => Err(format!("attribute {name} must be at least 1, got {v}")),
        }
    };
    let height = positive("output_height")?;
    let width = positive("output_width")?;
    let ratio = match attrs.int("sampling_ratio", 0)? {
        v @ 0..=4096 => v as usize,
        v => {
            return Err(format!(
                "attribute sampling_ratio must be 0 (adaptive) or positive, got {v}"
            ));
        }
    };
    let scale = attrs.float("spatial_scale", 1.0)?;
    if !scale.is_finite() {
        return Err(format!("spatial_scale must be finite, got {scale}"));
    }
    if rs[0] > 0 {
        if values(1).iter().any(|v| !v.is_finite()) {
            return Err("rois holds a non-finite coordinate".into());
        }
        let batch = values(2);
        if let Some(b) = batch.iter().find(|&&b| b < 0.0 || b >= xs[0] as f64) {
            return Err(format!(
                "batch_indices holds {b}, outside [0, {}) (X's batch)",
                xs[0]
            ));
        }
        if xs[2] == 0 || xs[3] == 0 {
            return Err(format!("X has an empty spatial axis ({xs:?}) to pool from"));
        }
    }
    let p = Pooling {
        max,
        half_pixel,
        height,
        width,
        ratio,
        scale,
        rois: rs[0],
        channels: xs[1],
        batch: xs[0],
        h: xs[2],
        w: xs[3],
    };
    if p.rois > 0 {
        // The adaptive sample count grows with the ROI: bound the work.
        let rois = values(1);
        let mut samples = 0.0;
        for roi in rois.chunks(4) {
            let (_, (gh, gw)) = roi_grid(&p, roi);
            samples += (gh.max(0) as f64) * (gw.max(0) as f64);
        }
        let total = samples * (p.height * p.width * p.channels) as f64;
        if total > (1u64 << 32) as f64 {
            return Err(format!(
                "the ROIs need {total:e} samples (sampling_ratio 0 adapts to the ROI size times spatial_scale): too many to compute"
            ));
        }
    }
    Ok(p)
}

fn roi_align_shape(
    version: i64,
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, _) = rules::input(inputs, 0)?;
    let p = roi_resolve(version, attrs, inputs, values)?;
    Ok(vec![(*dtype, vec![p.rois, p.channels, p.height, p.width])])
}

/// One sample's bilinear corners: flat pixel index and weight, with the
/// slopes of the weights along y and x.
#[derive(Debug, Clone, Copy, Default)]
struct Corner {
    pixel: usize,
    weight: f64,
    /// |d weight / dy| and |d weight / dx|.
    dy: f64,
    dx: f64,
}

/// A sample point of one bin.
#[derive(Debug, Clone)]
struct Sample {
    /// `None`: outside `[-1, H] x [-1, W]`, contributes 0.
    corners: Option<[Corner; 4]>,
    /// Coordinate magnitude bounds along y and x.
    cy: f64,
    cx: f64,
    /// Distance of the exact coordinate from the nearest cut-off and the
    /// corners on the other side of it (`None` there: the sample is cut).
    cut: Option<(f64, Option<[Corner; 4]>)>,
}

/// The bilinear corners of the point (y, x) per the reference, or `None`
/// when it is cut off.
fn corners(p: &Pooling, y: f64, x: f64) -> Option<[Corner; 4]> {
    let (h, w) = (p.h as f64, p.w as f64);
    if y < -1.0 || y > h || x < -1.0 || x > w {
        return None;
    }
    let (mut y, mut x) = (y.max(0.0), x.max(0.0));
    let (mut y0, mut x0) = (y.floor() as usize, x.floor() as usize);
    let (y1, x1);
    if y0 >= p.h - 1 {
        y0 = p.h - 1;
        y1 = y0;
        y = y0 as f64;
    } else {
        y1 = y0 + 1;
    }
    if x0 >= p.w - 1 {
        x0 = p.w - 1;
        x1 = x0;
        x = x0 as f64;
    } else {
        x1 = x0 + 1;
    }
    let (ly, lx) = (y - y0 as f64, x - x0 as f64);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    let c = |yy: usize, xx: usize, weight: f64, dy: f64, dx: f64| Corner {
        pixel: yy * p.w + xx,
        weight,
        dy,
        dx,
    };
    Some([
        c(y0, x0, hy * hx, hx, hy),
        c(y0, x1, hy * lx, lx, hy),
        c(y1, x0, ly * hx, hx, ly),
        c(y1, x1, ly * lx, lx, ly),
    ])
}

/// The extent (height, width) of an ROI on the feature map and its
/// sample grid per bin (rows, columns; 0 or less: no sample).
fn roi_grid(p: &Pooling, roi: &[f64]) -> ((f64, f64), (i64, i64)) {
    let (mut rw, mut rh) = ((roi[2] - roi[0]) * p.scale, (roi[3] - roi[1]) * p.scale);
    if !p.half_pixel {
        rw = rw.max(1.0);
        rh = rh.max(1.0);
    }
    let count_of = |extent: f64, bins: usize| -> i64 {
        if p.ratio > 0 {
            p.ratio as i64
        } else {
            (extent / bins as f64).ceil().clamp(-1.0, 1e18) as i64
        }
    };
    ((rh, rw), (count_of(rh, p.height), count_of(rw, p.width)))
}

/// The samples of bin (ph, pw) of one ROI, and the sample count divisor.
fn bin_samples(p: &Pooling, roi: &[f64], ph: usize, pw: usize) -> (Vec<Sample>, usize) {
    let offset = if p.half_pixel { 0.5 } else { 0.0 };
    let start_w = roi[0] * p.scale - offset;
    let start_h = roi[1] * p.scale - offset;
    let ((rh, rw), (gh, gw)) = roi_grid(p, roi);
    let bin_h = rh / p.height as f64;
    let bin_w = rw / p.width as f64;
    let count = (gh * gw).max(1) as usize;
    let mut out = Vec::new();
    if gh <= 0 || gw <= 0 {
        return (out, count);
    }
    // Magnitudes of the coordinates' intermediates: the ROI corners, the
    // shift, the bin offsets.
    let base_h = (roi[1] * p.scale).abs() + (roi[3] * p.scale).abs() + offset + 1.0;
    let base_w = (roi[0] * p.scale).abs() + (roi[2] * p.scale).abs() + offset + 1.0;
    let (h, w) = (p.h as f64, p.w as f64);
    for iy in 0..gh {
        let y = start_h + ph as f64 * bin_h + (iy as f64 + 0.5) * bin_h / gh as f64;
        let cy = base_h + (ph as f64 + 2.0) * bin_h.abs() + y.abs();
        for ix in 0..gw {
            let x = start_w + pw as f64 * bin_w + (ix as f64 + 0.5) * bin_w / gw as f64;
            let cx = base_w + (pw as f64 + 2.0) * bin_w.abs() + x.abs();
            let here = corners(p, y, x);
            // The nearest cut-off (-1, H along y; -1, W along x) and what
            // the sample becomes on its other side.
            let mut cut: Option<(f64, Option<[Corner; 4]>)> = None;
            for (edge, along_y) in [(-1.0, true), (h, true), (-1.0, false), (w, false)] {
                let at = if along_y { y } else { x };
                let dist = (at - edge).abs();
                if dist == 0.0 || dist > 0.5 {
                    continue;
                }
                let mirrored = 2.0 * edge - at;
                let other = if along_y {
                    corners(p, mirrored, x)
                } else {
                    corners(p, y, mirrored)
                };
                // Stored over the coordinate's magnitude bound, so that
                // the jump term is `4 C J / dist`.
                let scaled = dist / if along_y { cy } else { cx };
                if cut.is_none_or(|(d, _)| scaled < d) {
                    cut = Some((scaled, other));
                }
            }
            out.push(Sample {
                corners: here,
                cy,
                cx,
                cut,
            });
        }
    }
    (out, count)
}

/// RoiAlign at `version`: see the module documentation.
fn roi_align(call: &Call, version: i64) -> Result<Output> {
    let x = call.input(0)?;
    let p = roi_resolve(version, call.attrs, &call.typed_shapes(), &mut |i| {
        call.values(i)
    })
    .map_err(|m| call.err(m))?;
    let rois = call.values(1);
    let batch = call.values(2);
    let xs: Vec<f64> = x.data.iter().copied().collect();
    let shape = vec![p.rois, p.channels, p.height, p.width];
    let total = shape.iter().product::<usize>();
    let mut value = Vec::with_capacity(total);
    let mut magnitude = Vec::with_capacity(total);
    let plane_len = p.h * p.w;
    let _ = p.batch;
    for r in 0..p.rois {
        let roi = &rois[r * 4..r * 4 + 4];
        let b = batch[r] as usize;
        let bins: Vec<(Vec<Sample>, usize)> = (0..p.height * p.width)
            .map(|k| bin_samples(&p, roi, k / p.width, k % p.width))
            .collect();
        for c in 0..p.channels {
            let plane = &xs[(b * p.channels + c) * plane_len..(b * p.channels + c + 1) * plane_len];
            for (samples, count) in &bins {
                let (v, m) = pool_bin(&p, plane, samples, *count);
                value.push(v);
                magnitude.push(m);
            }
        }
    }
    let array = |v: Vec<f64>| {
        ArrayD::from_shape_vec(IxDyn(&shape), v).map_err(|e| call.err(format!("Y: {e}")))
    };
    let data = array(value)?;
    if !call.magnitudes {
        return Ok(Output::plain(x.dtype, data));
    }
    Ok(Output::bounded(x.dtype, data, array(magnitude)?, None))
}

/// One sample's terms on a plane: `w_i x_i` for the four corners, and each
/// term's coordinate slope `(|dw/dy| C_y + |dw/dx| C_x) |x_i|`.
fn sample_terms(plane: &[f64], corners: &Option<[Corner; 4]>, cy: f64, cx: f64) -> [(f64, f64); 4] {
    match corners {
        None => [(0.0, 0.0); 4],
        Some(cs) => cs.map(|c| {
            let v = plane[c.pixel];
            (c.weight * v, (c.dy * cy + c.dx * cx) * v.abs())
        }),
    }
}

/// One output element of RoiAlign: value and magnitude.
fn pool_bin(p: &Pooling, plane: &[f64], samples: &[Sample], count: usize) -> (f64, f64) {
    let n = count as f64;
    if p.max {
        let (mut best, mut bound) = (None::<f64>, 0.0f64);
        for s in samples {
            let terms = sample_terms(plane, &s.corners, s.cy, s.cx);
            let top = terms.iter().map(|t| t.0).fold(f64::NEG_INFINITY, f64::max);
            best = Some(best.map_or(top, |b| b.max(top)));
            for (t, slope) in terms {
                bound = bound.max(3.0 * t.abs() + 4.0 * slope);
            }
            if let Some((dist, other)) = &s.cut {
                let alt = sample_terms(plane, other, s.cy, s.cx)
                    .iter()
                    .map(|t| t.0)
                    .fold(f64::NEG_INFINITY, f64::max);
                bound = bound.max(4.0 * (alt - top).abs() / dist);
            }
        }
        (best.unwrap_or(0.0), bound)
    } else {
        let (mut sum, mut abs, mut slope, mut jumps) = (0.0, 0.0, 0.0, 0.0);
        for s in samples {
            let terms = sample_terms(plane, &s.corners, s.cy, s.cx);
            let here: f64 = terms.iter().map(|t| t.0).sum();
            sum += here;
            abs += terms.iter().map(|t| t.0.abs()).sum::<f64>();
            slope += terms.iter().map(|t| t.1).sum::<f64>();
            if let Some((dist, other)) = &s.cut {
                let alt: f64 = sample_terms(plane, other, s.cy, s.cx)
                    .iter()
                    .map(|t| t.0)
                    .sum();
                jumps += 4.0 * (alt - here).abs() / dist;
            }
        }
        let growth = 3.0 + 4.0 * n;
        (sum / n, (growth * abs + 4.0 * slope + jumps) / n)
    }
}

// --------------------------------------------------------------- CenterCropPad

/// CenterCropPad-18.
pub(super) const CENTER_CROP_PAD: OpDef = OpDef {
    spec: OpSpec {
        name: "CenterCropPad",
        domain: "",
        opset: 18,
        arity: fixed(2, 0),
        input_names: &["input_data", "shape"],
        input_types: &[T_CROP, T_CROP_IND],
        outputs: 1,
        attributes: &[("axes", AttrType::Ints)],
    },
    oracle: |c| Ok(vec![center_crop_pad(c)?]),
    shape: center_crop_pad_shape,
    cost: rules::no_flops,
    check: CheckPolicy::Exact,
    terms: rules::no_sum,
};

/// The output shape of a CenterCropPad call: every check of the shape
/// rule and the oracle.
fn crop_resolve(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<usize>, String> {
    let (_, xs) = rules::input(inputs, 0)?;
    let (_, ss) = rules::input(inputs, 1)?;
    let rank = xs.len();
    if ss.len() != 1 {
        return Err(format!("shape must be 1-D, got shape {ss:?}"));
    }
    let axes: Vec<usize> = match attrs.ints("axes")? {
        None => (0..rank).collect(),
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for &a in list {
                let r = rules::resolve_axis("axis", a, rank)?;
                if out.contains(&r) {
                    return Err(format!("axes {list:?} name axis {r} twice"));
                }
                out.push(r);
            }
            out
        }
    };
    if ss[0] != axes.len() {
        return Err(format!(
            "shape has {} values, but {} axes are cropped or padded",
            ss[0],
            axes.len()
        ));
    }
    let sizes = ints_of("shape", &values(1))?;
    let mut out = xs.clone();
    for (&a, &s) in axes.iter().zip(&sizes) {
        if !(0..=1 << 40).contains(&s) {
            return Err(format!("shape holds {s}: lengths must be >= 0"));
        }
        out[a] = s as usize;
    }
    out.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&t| t <= 1 << 40)
        .ok_or("the output has more elements than can be held")?;
    Ok(out)
}

fn center_crop_pad_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, _) = rules::input(inputs, 0)?;
    Ok(vec![(*dtype, crop_resolve(attrs, inputs, values)?)])
}

/// CenterCropPad-18: see the module documentation.
fn center_crop_pad(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let out_shape = crop_resolve(call.attrs, &call.typed_shapes(), &mut |i| call.values(i))
        .map_err(|m| call.err(m))?;
    let in_shape = x.shape().to_vec();
    // Output index o along an axis reads input index o + shift (crop:
    // positive, pad: negative), when that is inside the input.
    let shift: Vec<i64> = in_shape
        .iter()
        .zip(&out_shape)
        .map(|(&d, &s)| {
            let (d, s) = (d as i64, s as i64);
            if s <= d { (d - s) / 2 } else { -((s - d) / 2) }
        })
        .collect();
    let out = ArrayD::from_shape_fn(IxDyn(&out_shape), |o| {
        let mut at = Vec::with_capacity(in_shape.len());
        for (a, &d) in in_shape.iter().enumerate() {
            let i = o[a] as i64 + shift[a];
            if i < 0 || i >= d as i64 {
                return 0.0;
            }
            at.push(i as usize);
        }
        x.data[IxDyn(&at)]
    });
    Ok(Output::plain(x.dtype, out))
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};

/// GridSample (newest version): every mode, padding mode and
/// align_corners, 1, 2 and 3 spatial axes of even and odd lengths, grid
/// points inside the image, past its border, far past it (several
/// reflections) and on a lattice of quarter steps (exact ties of nearest,
/// exact corners and borders), on the floats and, for nearest, integers
/// and bool (their grid in f16, whose coordinates are exact in f32: see
/// the module documentation).
pub(super) fn grid_sample_cases() -> Option<CaseSpace> {
    let mut dtypes = cases::FLOATS.to_vec();
    dtypes.extend([DType::I32, DType::U8, DType::Bool]);
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(&dtypes),
            Factor::new("mode", &["nearest", "linear", "cubic"]),
            Factor::new("padding", &["zeros", "border", "reflection"]),
            Factor::new("align", &["align0", "align1"]),
            Factor::new("spatial", &["hw", "dhw", "w"]),
            Factor::new("points", &["inside", "beyond", "far", "lattice"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let dt = p.dtype();
            let mode = p.get("mode");
            if mode != "nearest" && !dt.is_float() {
                return None;
            }
            let (x, points): (Vec<usize>, Vec<usize>) = match p.get("spatial") {
                "hw" => (vec![2, 2, 5, 4], vec![3, 4]),
                "dhw" => (vec![1, 2, 3, 4, 5], vec![2, 3, 2]),
                _ => (vec![2, 3, 6], vec![7]),
            };
            let r = points.len();
            let mut grid_shape = vec![x[0]];
            grid_shape.extend(&points);
            grid_shape.push(r);
            let count: usize = grid_shape.iter().product();
            let fill = match p.get("points") {
                "inside" => Fill::Uniform(-1.0, 1.0),
                "beyond" => Fill::Uniform(-1.6, 1.6),
                "far" => Fill::Uniform(-4.0, 4.0),
                // -1.25 .. 1.25 in quarter steps, cycled with a stride
                // coprime to 11 so the axes differ.
                _ => Fill::Values(
                    (0..count)
                        .map(|k| -1.25 + 0.25 * ((k * 7) % 11) as f64)
                        .collect(),
                ),
            };
            let grid_dtype = if dt.is_float() { dt } else { DType::F16 };
            let mode_name = match mode {
                "nearest" => "nearest",
                "linear" => "linear",
                _ => "cubic",
            };
            let case = GenCase::new(vec![
                GenInput::new(dt, x)
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::new(grid_dtype, grid_shape).fill(fill).some(),
            ])
            .string("mode", mode_name)
            .string("padding_mode", p.get("padding"))
            .int("align_corners", i64::from(p.is("align", "align1")));
            Some(case)
        }),
    })
}

/// AffineGrid: 2-D and 3-D, align_corners, lengths of 1 (the align_corners
/// special case), even and odd, one or several thetas, every layout.
pub(super) fn affine_grid_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("dims", &["2d", "3d"]),
            Factor::new("align", &["align0", "align1"]),
            Factor::new("lengths", &["mixed", "unit", "long"]),
            Factor::new("batch", &["n1", "n3"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let n = if p.is("batch", "n1") { 1 } else { 3 };
            let three = p.is("dims", "3d");
            let spatial: Vec<usize> = match (p.get("lengths"), three) {
                ("mixed", false) => vec![4, 5],
                ("mixed", true) => vec![2, 3, 4],
                ("unit", false) => vec![1, 6],
                ("unit", true) => vec![3, 1, 2],
                (_, false) => vec![3, 17],
                (_, true) => vec![2, 2, 9],
            };
            let r = spatial.len();
            let mut size = vec![n as f64, 2.0];
            size.extend(spatial.iter().map(|&d| d as f64));
            let case = GenCase::new(vec![
                GenInput::new(p.dtype(), vec![n, r, r + 1])
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::values(DType::I64, size).some(),
            ])
            .int("align_corners", i64::from(p.is("align", "align1")));
            Some(case)
        }),
    })
}

/// RoiAlign (newest version): avg and max, both coordinate transforms,
/// adaptive and fixed sampling ratios, spatial scales 1 and 1/2, square
/// and oblong output bins, on ROIs that lie inside the image, cross its
/// border (samples cut off), are malformed (end before start) or smaller
/// than a bin. ROI coordinates are dyadic (see the module documentation).
pub(super) fn roi_align_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("mode", &["avg", "max"]),
            Factor::new("transform", &["halfpixel", "outputhalfpixel"]),
            Factor::new("ratio", &["adaptive", "ratio2", "ratio1"]),
            Factor::new("scale", &["scale1", "scalehalf"]),
            Factor::new("bins", &["b2x2", "b3x1"]),
            Factor::new("rois", &["inside", "crossing", "malformed"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let dt = p.dtype();
            let scale = if p.is("scale", "scale1") { 1.0 } else { 0.5 };
            // In image coordinates; the feature map is the image times
            // `scale`, so the image coordinates scale back up.
            let k = 1.0 / scale;
            let rois: Vec<f64> = match p.get("rois") {
                "inside" => vec![
                    0.0, 0.0, 6.0, 5.0, //
                    1.5, 0.5, 4.25, 3.75, //
                    2.0, 1.0, 2.5, 1.25,
                ],
                "crossing" => vec![
                    -1.75, -0.5, 3.0, 2.25, //
                    3.5, 2.5, 8.5, 7.0, //
                    -2.5, 4.0, 1.0, 6.75,
                ],
                _ => vec![
                    4.0, 3.0, 1.0, 2.0, //
                    2.0, 2.0, 2.0, 2.0, //
                    0.25, 0.5, 5.5, 0.75,
                ],
            };
            let rois: Vec<f64> = rois.iter().map(|v| v * k).collect();
            let (oh, ow) = if p.is("bins", "b2x2") { (2, 2) } else { (3, 1) };
            let mut case = GenCase::new(vec![
                GenInput::new(dt, vec![2, 3, 6, 7])
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::values(dt, rois).shaped(vec![3, 4]).some(),
                GenInput::values(DType::I64, vec![1.0, 0.0, 1.0]).some(),
            ])
            .string("mode", p.get("mode"))
            .string(
                "coordinate_transformation_mode",
                if p.is("transform", "halfpixel") {
                    "half_pixel"
                } else {
                    "output_half_pixel"
                },
            )
            .int("output_height", oh)
            .int("output_width", ow)
            .float("spatial_scale", scale);
            case = match p.get("ratio") {
                "adaptive" => case,
                "ratio2" => case.int("sampling_ratio", 2),
                _ => case.int("sampling_ratio", 1),
            };
            Some(case)
        }),
    })
}

/// CenterCropPad's dtypes in the cases.
const CROP_DTYPES: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I32,
    DType::I64,
    DType::U8,
    DType::Bool,
];

/// CenterCropPad: crop, pad, both at once and neither, by even and odd
/// differences (where the extra element goes), on all axes or a subset
/// (positive and negative axes), int32 and int64 shapes, every layout.
pub(super) fn center_crop_pad_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(CROP_DTYPES),
            Factor::new("change", &["crop", "pad", "croppad", "same"]),
            Factor::new("parity", &["even", "odd"]),
            Factor::new("axes", &["all", "subset", "negative"]),
            Factor::new("shapetype", &["i64", "i32"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let input = vec![3, 6, 7, 4];
            let axes: Vec<i64> = match p.get("axes") {
                "all" => vec![0, 1, 2, 3],
                "subset" => vec![1, 2],
                _ => vec![-3, -1],
            };
            let odd = p.is("parity", "odd");
            let target: Vec<f64> = axes
                .iter()
                .enumerate()
                .map(|(k, &a)| {
                    let d = input[cases::resolve(a, 4)] as i64;
                    let delta = if odd { 3 } else { 2 };
                    let s = match p.get("change") {
                        "crop" => d - delta,
                        "pad" => d + delta,
                        "croppad" if k % 2 == 0 => d - delta,
                        "croppad" => d + delta,
                        _ => d,
                    };
                    s.max(0) as f64
                })
                .collect();
            let shape_dtype = if p.is("shapetype", "i64") {
                DType::I64
            } else {
                DType::I32
            };
            let mut case = GenCase::new(vec![
                GenInput::new(p.dtype(), input)
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::values(shape_dtype, target).some(),
            ]);
            if !p.is("axes", "all") {
                case = case.ints("axes", axes);
            }
            Some(case)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::ops::{AttrValue, Value};

    fn s(v: &str) -> AttrValue {
        AttrValue::String(v.into())
    }

    /// GridSample at `opset` of a 1 x 1 x 1 x L row at normalized x
    /// coordinates `gx` (y = 0).
    fn row(opset: i64, a: &Attributes, x: &[f64], gx: &[f64]) -> Output {
        let grid: Vec<f64> = gx.iter().flat_map(|&g| [g, 0.0]).collect();
        let inputs = [
            Some(f(&[1, 1, 1, x.len()], x)),
            Some(f(&[1, 1, gx.len(), 2], &grid)),
        ];
        run_at("GridSample", opset, a, &inputs)
            .unwrap_or_else(|e| panic!("{e}"))
            .remove(0)
    }

    #[test]
    fn reflection_follows_the_spec_example() {
        // -3.5 reflects by -1 to 1.5, then by 1 to 0.5.
        assert_eq!(reflect(-3.5, -1.0, 1.0), 0.5);
        assert_eq!(reflect(2.25, 0.0, 2.0), 1.75);
        assert_eq!(reflect(0.5, 0.0, 2.0), 0.5);
    }

    #[test]
    fn nearest_rounds_ties_to_even_and_is_exact_there() {
        // align_corners 0, L = 4: x = ((g + 1) 4 - 1) / 2; g = -0.5 gives
        // x = 0.5 (to 0), g = 0 gives 1.5 (to 2), g = 0.5 gives 2.5 (to 2).
        let a = attrs(&[("mode", s("nearest"))]);
        let out = row(22, &a, &[1.0, 2.0, 3.0, 4.0], &[-0.5, 0.0, 0.5]);
        close(&out.value.data, &[1.0, 3.0, 3.0], 0.0);
        // Exact ties must follow the rule: the allowance (from the y axis,
        // half a pixel from its steps) stays far below the jump of 1.
        assert!(
            out.magnitude
                .unwrap()
                .iter()
                .all(|&m| m * 2f64.powi(-24) < 1e-4)
        );
    }

    #[test]
    fn nearest_next_to_a_tie_admits_the_other_neighbour() {
        // g just below 0: x = 1.5 - 2 delta, picks 1 (value 2); a backend
        // whose coordinate rounds to 1.5 picks 3. The allowance 4 C J /
        // dist must cover J = 1 at f32's roundoff.
        let a = attrs(&[("mode", s("nearest"))]);
        let g = -(2f64.powi(-24));
        let out = row(22, &a, &[1.0, 2.0, 3.0, 4.0], &[g]);
        assert_eq!(out.value.data[[0, 0, 0, 0]], 2.0);
        let m = out.magnitude.unwrap()[[0, 0, 0, 0]];
        assert!(m * 2f64.powi(-24) >= 1.0, "{m}");
        // Far from a tie the allowance is a few ulps of the jump.
        let out = row(22, &a, &[1.0, 2.0, 3.0, 4.0], &[-0.25]);
        let m = out.magnitude.unwrap()[[0, 0, 0, 0]];
        assert!(m * 2f64.powi(-24) < 1e-5, "{m}");
    }

    #[test]
    fn linear_zeros_padding_fades_out_past_the_border() {
        // L = 2, align 0: g = -1 is x = -0.5, half of pixel 0 and half of
        // the zero padding; g = 1 is x = 1.5, half of pixel 1.
        let out = row(20, &Attributes::new(), &[4.0, 8.0], &[-1.0, 0.0, 1.0]);
        close(&out.value.data, &[2.0, 6.0, 4.0], 0.0);
        // border: the coordinate is clamped instead.
        let b = attrs(&[("padding_mode", s("border"))]);
        let out = row(20, &b, &[4.0, 8.0], &[-1.0, 1.0]);
        close(&out.value.data, &[4.0, 8.0], 0.0);
        // align_corners 1: -1 and 1 are the pixel centres.
        let al = attrs(&[("align_corners", AttrValue::Int(1))]);
        let out = row(16, &al, &[4.0, 8.0], &[-1.0, 0.5]);
        close(&out.value.data, &[4.0, 7.0], 0.0);
    }

    #[test]
    fn cubic_weights_by_hand() {
        // L = 4, align 1: g = -1/3 is x = 1; g = 0 is x = 1.5, taps 0..3
        // with Keys' weights at a = -0.75: -0.09375, 0.59375, 0.59375,
        // -0.09375.
        let a = attrs(&[("mode", s("cubic")), ("align_corners", AttrValue::Int(1))]);
        let x = [1.0, 2.0, 4.0, 8.0];
        let out = row(20, &a, &x, &[0.0]);
        let want = -0.09375 * 1.0 + 0.59375 * 2.0 + 0.59375 * 4.0 - 0.09375 * 8.0;
        close(&out.value.data, &[want], 1e-15);
        // Before 20 the mode is called bicubic.
        let old = attrs(&[("mode", s("bicubic")), ("align_corners", AttrValue::Int(1))]);
        let out = row(16, &old, &x, &[0.0]);
        close(&out.value.data, &[want], 1e-15);
    }

    #[test]
    fn grid_lists_the_innermost_axis_first() {
        // 2 x 2 image, align 1: grid (x = -1, y = 1) is row 1, column 0.
        let x = f(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let g = f(&[1, 1, 1, 2], &[-1.0, 1.0]);
        let a = attrs(&[("align_corners", AttrValue::Int(1))]);
        let y = run1("GridSample", &a, &[x, g]);
        close(&y.data, &[3.0], 0.0);
    }

    #[test]
    fn grid_sample_versions_and_errors() {
        let x4 = Some(f(&[1, 1, 2, 2], &[0.0; 4]));
        let g4 = Some(f(&[1, 1, 1, 2], &[0.0; 2]));
        let linear = attrs(&[("mode", s("linear"))]);
        let e = run_at("GridSample", 16, &linear, &[x4.clone(), g4.clone()]).unwrap_err();
        assert!(
            e.to_string().contains("not defined at GridSample-16"),
            "{e}"
        );
        let bilinear = attrs(&[("mode", s("bilinear"))]);
        let e = run_at("GridSample", 20, &bilinear, &[x4.clone(), g4.clone()]).unwrap_err();
        assert!(
            e.to_string().contains("not defined at GridSample-20"),
            "{e}"
        );
        let x5 = Some(f(&[1, 1, 1, 2, 2], &[0.0; 4]));
        let g5 = Some(f(&[1, 1, 1, 1, 3], &[0.0; 3]));
        let e = run_at(
            "GridSample",
            16,
            &Attributes::new(),
            &[x5.clone(), g5.clone()],
        );
        assert!(e.unwrap_err().to_string().contains("4-D"));
        assert!(run_at("GridSample", 20, &Attributes::new(), &[x5, g5]).is_ok());
        let ints = Some(t(DType::I32, &[1, 1, 2, 2], &[1.0; 4]));
        fails(
            "GridSample",
            &Attributes::new(),
            &[ints.clone(), g4.clone()],
            "float X only",
        );
        let nearest = attrs(&[("mode", s("nearest"))]);
        assert!(run_opt("GridSample", &nearest, &[ints, g4.clone()]).is_ok());
        let g_bad = Some(f(&[1, 1, 1, 3], &[0.0; 3]));
        fails(
            "GridSample",
            &Attributes::new(),
            &[x4.clone(), g_bad],
            "grid must have shape",
        );
        let bad = attrs(&[("padding_mode", s("wrap"))]);
        fails(
            "GridSample",
            &bad,
            &[x4.clone(), g4.clone()],
            "padding_mode",
        );
        let nan = Some(f(&[1, 1, 1, 2], &[f64::NAN, 0.0]));
        fails("GridSample", &Attributes::new(), &[x4, nan], "non-finite");
    }

    #[test]
    fn affine_grid_of_the_identity_is_the_base_grid() {
        let id = f(&[1, 2, 3], &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        // H = 1, W = 2, align 0: x at -0.5, 0.5; y at 0.
        let y = run1(
            "AffineGrid",
            &Attributes::new(),
            &[id.clone(), i(&[4], &[1, 1, 1, 2])],
        );
        assert_eq!(y.shape(), &[1, 1, 2, 2]);
        close(&y.data, &[-0.5, 0.0, 0.5, 0.0], 0.0);
        // align 1, W = 3, H = 1: x at -1, 0, 1; y at -1 (the reference's
        // value for a length of 1).
        let a = attrs(&[("align_corners", AttrValue::Int(1))]);
        let y = run1("AffineGrid", &a, &[id, i(&[4], &[1, 1, 1, 3])]);
        close(&y.data, &[-1.0, -1.0, 0.0, -1.0, 1.0, -1.0], 0.0);
        // A translation moves every point.
        let tr = f(&[1, 2, 3], &[1.0, 0.0, 0.25, 0.0, 2.0, -1.0]);
        let y = run1(
            "AffineGrid",
            &Attributes::new(),
            &[tr, i(&[4], &[1, 1, 2, 1])],
        );
        close(&y.data, &[0.25, -2.0, 0.25, 0.0], 0.0);
    }

    #[test]
    fn affine_grid_errors() {
        let th = Some(f(&[1, 2, 3], &[0.0; 6]));
        fails(
            "AffineGrid",
            &Attributes::new(),
            &[th.clone(), Some(i(&[5], &[1, 1, 1, 2, 2]))],
            "size must be 1-D with 4",
        );
        fails(
            "AffineGrid",
            &Attributes::new(),
            &[th.clone(), Some(i(&[4], &[2, 1, 1, 2]))],
            "size's N",
        );
        fails(
            "AffineGrid",
            &Attributes::new(),
            &[Some(f(&[1, 2, 4], &[0.0; 8])), Some(i(&[4], &[1, 1, 1, 2]))],
            "theta must have shape",
        );
    }

    /// A 1 x 1 x 4 x 4 image whose value is its column index.
    fn ramp() -> Value {
        let v: Vec<f64> = (0..16).map(|k| (k % 4) as f64).collect();
        f(&[1, 1, 4, 4], &v)
    }

    #[test]
    fn roi_align_avg_of_a_ramp_is_the_mean_sample_column() {
        // ROI [0, 0, 3, 3], one bin, 2 x 2 samples. output_half_pixel:
        // columns 0.75 and 2.25, mean 1.5; half_pixel shifts them by -0.5.
        let rois = f(&[1, 4], &[0.0, 0.0, 3.0, 3.0]);
        let b = i(&[1], &[0]);
        let a = |mode: &str| {
            attrs(&[
                ("coordinate_transformation_mode", s(mode)),
                ("sampling_ratio", AttrValue::Int(2)),
            ])
        };
        let y = run1(
            "RoiAlign",
            &a("output_half_pixel"),
            &[ramp(), rois.clone(), b.clone()],
        );
        close(&y.data, &[1.5], 1e-15);
        let y = run1(
            "RoiAlign",
            &a("half_pixel"),
            &[ramp(), rois.clone(), b.clone()],
        );
        close(&y.data, &[1.0], 1e-15);
        // RoiAlign-10 has no transform attribute and does not shift.
        let ten = attrs(&[("sampling_ratio", AttrValue::Int(2))]);
        let y = run_at("RoiAlign", 10, &ten, &[Some(ramp()), Some(rois), Some(b)]).unwrap();
        close(&y[0].value.data, &[1.5], 1e-15);
    }

    #[test]
    fn roi_align_max_takes_the_largest_weighted_corner() {
        // A constant image of 1, one sample at the centre of four pixels:
        // each corner weighs 1/4, so max mode gives 0.25, not 1 (ONNX's
        // reference and onnxruntime; see the module documentation).
        let x = f(&[1, 1, 4, 4], &[1.0; 16]);
        let rois = f(&[1, 4], &[1.0, 1.0, 2.0, 2.0]);
        let a = attrs(&[
            ("mode", s("max")),
            ("coordinate_transformation_mode", s("output_half_pixel")),
            ("sampling_ratio", AttrValue::Int(1)),
        ]);
        let y = run1("RoiAlign", &a, &[x, rois, i(&[1], &[0])]);
        close(&y.data, &[0.25], 0.0);
    }

    #[test]
    fn roi_align_cuts_samples_outside_the_image() {
        // ROI [-4, 0, -2, 1] (output_half_pixel): the sample column is -3,
        // outside [-1, W]: it contributes 0.
        let rois = f(&[1, 4], &[-4.0, 0.0, -2.0, 1.0]);
        let a = attrs(&[
            ("coordinate_transformation_mode", s("output_half_pixel")),
            ("sampling_ratio", AttrValue::Int(1)),
        ]);
        let y = run1("RoiAlign", &a, &[ramp(), rois, i(&[1], &[0])]);
        close(&y.data, &[0.0], 0.0);
    }

    #[test]
    fn roi_align_errors() {
        let rois = Some(f(&[1, 4], &[0.0, 0.0, 1.0, 1.0]));
        let none = Attributes::new();
        fails(
            "RoiAlign",
            &none,
            &[Some(ramp()), rois.clone(), Some(i(&[1], &[1]))],
            "outside [0, 1)",
        );
        fails(
            "RoiAlign",
            &none,
            &[Some(ramp()), rois.clone(), Some(i(&[2], &[0, 0]))],
            "one per ROI",
        );
        let bad = attrs(&[("output_height", AttrValue::Int(0))]);
        fails(
            "RoiAlign",
            &bad,
            &[Some(ramp()), rois.clone(), Some(i(&[1], &[0]))],
            "at least 1",
        );
        let ct = attrs(&[("coordinate_transformation_mode", s("half_pixel"))]);
        let e = run_at(
            "RoiAlign",
            10,
            &ct,
            &[Some(ramp()), rois, Some(i(&[1], &[0]))],
        );
        assert!(e.unwrap_err().to_string().contains("unknown attribute"));
    }

    #[test]
    fn center_crop_pad_centres_and_puts_the_odd_element_at_the_end() {
        let x = f(&[5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        let y = run1(
            "CenterCropPad",
            &Attributes::new(),
            &[x.clone(), i(&[1], &[2])],
        );
        close(&y.data, &[2.0, 3.0], 0.0);
        let y = run1(
            "CenterCropPad",
            &Attributes::new(),
            &[x.clone(), i(&[1], &[8])],
        );
        close(&y.data, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 0.0, 0.0], 0.0);
        // Crop one axis, pad the other (negative axis).
        let m = f(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let a = attrs(&[("axes", AttrValue::Ints(vec![0, -1]))]);
        let y = run1("CenterCropPad", &a, &[m, i(&[2], &[1, 4])]);
        close(&y.data, &[0.0, 3.0, 4.0, 0.0], 0.0);
        fails(
            "CenterCropPad",
            &Attributes::new(),
            &[Some(x), Some(i(&[2], &[1, 1]))],
            "shape has 2 values",
        );
    }
}
