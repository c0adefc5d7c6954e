//! Shape and indexing (issue 17): Slice, Squeeze, Unsqueeze, Shape, Size,
//! Identity, Flatten, Expand, Tile, Range, Pad, Split, EyeLike, Trilu
//! (ConstantOfShape is in `constant.rs`, with Constant). Values are copied
//! (or, for Range and EyeLike, written from exact integers), never computed, so every
//! check is `exact`; what matters is that every shape rule of the spec,
//! and every clamping rule, is what the oracle enforces.
//!
//! Each op's validity and output shapes come from one `*_plan` function
//! that both the shape rule and the oracle call, so they cannot judge a
//! call differently. Most ops are then an *axis map*: for every output
//! axis, the input coordinate each output coordinate copies, or `None` for
//! a fill value ([`gather_axes`]).
//!
//! Versions: every version from opset 11 whose inputs or attributes
//! differ is its own `OpDef` (Slice-10/11/13, Squeeze and Unsqueeze-11/13,
//! Shape-1/13/15, Pad-11/13/18/19, Split-11/13/18), plus the version that
//! serves opset 11 where the semantics have not changed since
//! (Size-1, Identity-1, Flatten-11, Expand-8, Tile-6). Versions that only
//! add dtypes share the newest one's type constraints (xpucert's dtypes
//! are a subset of them).

use ndarray::{ArrayD, IxDyn};

use super::rules::{self, no_flops, no_sum};
use super::spec::{T_ANY, TypeVar, fixed};
use super::{AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;
use crate::numerics::round_to;

/// `Tind` of Slice, Pad's axes: int32 or int64, as ONNX constrains them.
const T_IDX: TypeVar = TypeVar {
    name: "Tind",
    allowed: &[DType::I32, DType::I64],
};
/// `tensor(int64)`: shapes, repeats, pads, split sizes, axes of Squeeze-13.
const T_I64: TypeVar = TypeVar {
    name: "tensor(int64)",
    allowed: &[DType::I64],
};
/// Range's `T`: float, double, int16, int32, int64.
const T_RANGE: TypeVar = TypeVar {
    name: "T",
    allowed: &[DType::F32, DType::F64, DType::I16, DType::I32, DType::I64],
};
/// Range-27 adds the half floats.
const T_RANGE_27: TypeVar = TypeVar {
    name: "T",
    allowed: &[
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I16,
        DType::I32,
        DType::I64,
    ],
};

/// A shape rule's value reader.
type Values<'a> = &'a mut dyn FnMut(usize) -> Vec<f64>;
/// A shape rule's result.
type Shapes = std::result::Result<Vec<TypedShape>, String>;

/// A data-movement op: exact, no FLOPs, `outputs` outputs (0: as many as
/// the call asks for, Split).
#[allow(clippy::too_many_arguments)]
pub(super) const fn def(
    name: &'static str,
    opset: i64,
    arity: super::Arity,
    inputs: &'static [&'static str],
    types: &'static [TypeVar],
    outputs: usize,
    attributes: &'static [(&'static str, AttrType)],
    oracle: super::OracleFn,
    shape: super::ShapeFn,
) -> OpDef {
    OpDef {
        spec: OpSpec {
            name,
            domain: "",
            opset,
            arity,
            input_names: inputs,
            input_types: types,
            outputs,
            attributes,
        },
        oracle,
        shape,
        cost: no_flops,
        check: CheckPolicy::Exact,
        terms: no_sum,
    }
}

/// The same definition at an older opset whose semantics are the same.
macro_rules! at_opset {
    ($def:expr, $opset:literal) => {
        OpDef {
            spec: OpSpec {
                opset: $opset,
                ..$def.spec
            },
            ..$def
        }
    };
}
pub(super) use at_opset;

// ---------------------------------------------------------------- definitions

const SLICE_INPUTS: &[&str] = &["data", "starts", "ends", "axes", "steps"];
const SLICE_TYPES: &[TypeVar] = &[T_ANY, T_IDX, T_IDX, T_IDX, T_IDX];

pub(super) const SLICE: OpDef = def(
    "Slice",
    13,
    fixed(3, 2),
    SLICE_INPUTS,
    SLICE_TYPES,
    1,
    &[],
    |c| slice_eval(c, 13),
    |a, s, v| slice_shape(a, s, v, 13),
);
pub(super) const SLICE_11: OpDef = def(
    "Slice",
    11,
    fixed(3, 2),
    SLICE_INPUTS,
    SLICE_TYPES,
    1,
    &[],
    |c| slice_eval(c, 11),
    |a, s, v| slice_shape(a, s, v, 11),
);
pub(super) const SLICE_10: OpDef = def(
    "Slice",
    10,
    fixed(3, 2),
    SLICE_INPUTS,
    SLICE_TYPES,
    1,
    &[],
    |c| slice_eval(c, 10),
    |a, s, v| slice_shape(a, s, v, 10),
);

pub(super) const SQUEEZE: OpDef = def(
    "Squeeze",
    13,
    fixed(1, 1),
    &["data", "axes"],
    &[T_ANY, T_I64],
    1,
    &[],
    |c| reshape_eval(c, squeeze_plan_13),
    |a, s, v| reshape_shape(a, s, v, squeeze_plan_13),
);
pub(super) const SQUEEZE_11: OpDef = def(
    "Squeeze",
    11,
    fixed(1, 0),
    &["data"],
    &[T_ANY],
    1,
    &[("axes", AttrType::Ints)],
    |c| reshape_eval(c, squeeze_plan_11),
    |a, s, v| reshape_shape(a, s, v, squeeze_plan_11),
);
pub(super) const UNSQUEEZE: OpDef = def(
    "Unsqueeze",
    13,
    fixed(2, 0),
    &["data", "axes"],
    &[T_ANY, T_I64],
    1,
    &[],
    |c| reshape_eval(c, unsqueeze_plan_13),
    |a, s, v| reshape_shape(a, s, v, unsqueeze_plan_13),
);
pub(super) const UNSQUEEZE_11: OpDef = def(
    "Unsqueeze",
    11,
    fixed(1, 0),
    &["data"],
    &[T_ANY],
    1,
    &[("axes", AttrType::Ints)],
    |c| reshape_eval(c, unsqueeze_plan_11),
    |a, s, v| reshape_shape(a, s, v, unsqueeze_plan_11),
);
pub(super) const FLATTEN: OpDef = def(
    "Flatten",
    13,
    fixed(1, 0),
    &["input"],
    &[T_ANY],
    1,
    &[("axis", AttrType::Int)],
    |c| reshape_eval(c, flatten_plan),
    |a, s, v| reshape_shape(a, s, v, flatten_plan),
);
pub(super) const FLATTEN_11: OpDef = at_opset!(FLATTEN, 11);
pub(super) const IDENTITY: OpDef = def(
    "Identity",
    16,
    fixed(1, 0),
    &["input"],
    &[T_ANY],
    1,
    &[],
    |c| reshape_eval(c, same_shape),
    |a, s, v| reshape_shape(a, s, v, same_shape),
);
pub(super) const IDENTITY_1: OpDef = at_opset!(IDENTITY, 1);

pub(super) const SHAPE: OpDef = def(
    "Shape",
    15,
    fixed(1, 0),
    &["data"],
    &[T_ANY],
    1,
    &[("start", AttrType::Int), ("end", AttrType::Int)],
    shape_eval,
    shape_shape,
);
pub(super) const SHAPE_13: OpDef = def(
    "Shape",
    13,
    fixed(1, 0),
    &["data"],
    &[T_ANY],
    1,
    &[],
    shape_eval,
    shape_shape,
);
pub(super) const SHAPE_1: OpDef = at_opset!(SHAPE_13, 1);
pub(super) const SIZE: OpDef = def(
    "Size",
    13,
    fixed(1, 0),
    &["data"],
    &[T_ANY],
    1,
    &[],
    size_eval,
    |_, s, _| rules::input(s, 0).map(|_| vec![(DType::I64, vec![])]),
);
pub(super) const SIZE_1: OpDef = at_opset!(SIZE, 1);

pub(super) const EXPAND: OpDef = def(
    "Expand",
    13,
    fixed(2, 0),
    &["input", "shape"],
    &[T_ANY, T_I64],
    1,
    &[],
    |c| map_eval(c, expand_plan),
    |a, s, v| map_shape(a, s, v, expand_plan),
);
pub(super) const EXPAND_8: OpDef = at_opset!(EXPAND, 8);
pub(super) const TILE: OpDef = def(
    "Tile",
    13,
    fixed(2, 0),
    &["input", "repeats"],
    &[T_ANY, T_I64],
    1,
    &[],
    |c| map_eval(c, tile_plan),
    |a, s, v| map_shape(a, s, v, tile_plan),
);
pub(super) const TILE_6: OpDef = at_opset!(TILE, 6);

pub(super) const RANGE: OpDef = def(
    "Range",
    27,
    fixed(3, 0),
    &["start", "limit", "delta"],
    &[T_RANGE_27, T_RANGE_27, T_RANGE_27],
    1,
    &[("stash_type", AttrType::Int)],
    range_eval,
    range_shape,
);
pub(super) const RANGE_11: OpDef = def(
    "Range",
    11,
    fixed(3, 0),
    &["start", "limit", "delta"],
    &[T_RANGE, T_RANGE, T_RANGE],
    1,
    &[],
    range_eval,
    range_shape,
);

const PAD_INPUTS: &[&str] = &["data", "pads", "constant_value", "axes"];
const PAD_TYPES: &[TypeVar] = &[T_ANY, T_I64, T_ANY, T_IDX];
const PAD_ATTRS: &[(&str, AttrType)] = &[("mode", AttrType::String)];

pub(super) const PAD: OpDef = def(
    "Pad",
    19,
    fixed(2, 2),
    PAD_INPUTS,
    PAD_TYPES,
    1,
    PAD_ATTRS,
    |c| pad_eval(c, 19),
    |a, s, v| pad_shape(a, s, v, 19),
);
pub(super) const PAD_18: OpDef = def(
    "Pad",
    18,
    fixed(2, 2),
    PAD_INPUTS,
    PAD_TYPES,
    1,
    PAD_ATTRS,
    |c| pad_eval(c, 18),
    |a, s, v| pad_shape(a, s, v, 18),
);
pub(super) const PAD_13: OpDef = def(
    "Pad",
    13,
    fixed(2, 1),
    PAD_INPUTS,
    PAD_TYPES,
    1,
    PAD_ATTRS,
    |c| pad_eval(c, 13),
    |a, s, v| pad_shape(a, s, v, 13),
);
pub(super) const PAD_11: OpDef = def(
    "Pad",
    11,
    fixed(2, 1),
    PAD_INPUTS,
    PAD_TYPES,
    1,
    PAD_ATTRS,
    |c| pad_eval(c, 11),
    |a, s, v| pad_shape(a, s, v, 11),
);

pub(super) const SPLIT: OpDef = def(
    "Split",
    18,
    fixed(1, 1),
    &["input", "split"],
    &[T_ANY, T_I64],
    0,
    &[("axis", AttrType::Int), ("num_outputs", AttrType::Int)],
    |c| split_eval(c, 18),
    |a, s, v| split_shape(a, s, v, 18),
);
pub(super) const SPLIT_13: OpDef = def(
    "Split",
    13,
    fixed(1, 1),
    &["input", "split"],
    &[T_ANY, T_I64],
    0,
    &[("axis", AttrType::Int)],
    |c| split_eval(c, 13),
    |a, s, v| split_shape(a, s, v, 13),
);
pub(super) const SPLIT_11: OpDef = def(
    "Split",
    11,
    fixed(1, 0),
    &["input"],
    &[T_ANY],
    0,
    &[("axis", AttrType::Int), ("split", AttrType::Ints)],
    |c| split_eval(c, 11),
    |a, s, v| split_shape(a, s, v, 11),
);

pub(super) const EYE_LIKE: OpDef = def(
    "EyeLike",
    22,
    fixed(1, 0),
    &["input"],
    &[T_ANY],
    1,
    &[("dtype", AttrType::Int), ("k", AttrType::Int)],
    eye_like_eval,
    eye_like_shape,
);
pub(super) const TRILU: OpDef = def(
    "Trilu",
    14,
    fixed(1, 1),
    &["input", "k"],
    &[T_ANY, T_I64],
    1,
    &[("upper", AttrType::Int)],
    |c| map_eval(c, trilu_plan),
    |a, s, v| map_shape(a, s, v, trilu_plan),
);

// --------------------------------------------------------------- axis maps

/// For every output axis, the input coordinate each output coordinate
/// copies; `None` writes the fill value instead.
type AxisMaps = Vec<Vec<Option<usize>>>;

/// An axis-map op's plan: the maps, and the input's shape as the maps
/// address it (the input's own, or with leading 1s for Expand).
struct MapPlan {
    /// The input shape the maps index (its rank is the output's).
    in_shape: Vec<usize>,
    /// One map per output axis.
    maps: AxisMaps,
    /// Elements the maps cannot describe alone (Trilu's triangle): `None`
    /// keeps the element, `Some(keep)` is asked per (row, column) of the
    /// last two axes.
    triangle: Option<(bool, i64)>,
}

/// The output of `maps` applied to `flat` (row-major, of `in_shape`):
/// each element copies the input element its coordinates map to, or
/// `fill` where any axis maps to `None`.
fn gather_axes(flat: &[f64], plan: &MapPlan, fill: f64) -> ArrayD<f64> {
    let shape: Vec<usize> = plan.maps.iter().map(Vec::len).collect();
    let rank = shape.len();
    let mut strides = vec![1usize; rank];
    for k in (0..rank.saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * plan.in_shape[k + 1];
    }
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut at = vec![0usize; rank];
    for _ in 0..n {
        let mut offset = Some(0usize);
        for k in 0..rank {
            offset = match (offset, plan.maps[k][at[k]]) {
                (Some(o), Some(j)) => Some(o + j * strides[k]),
                _ => None,
            };
        }
        if let Some((upper, diag)) = plan.triangle {
            let (i, j) = (at[rank - 2] as i64, at[rank - 1] as i64);
            let keep = if upper { j - i >= diag } else { j - i <= diag };
            if !keep {
                offset = None;
            }
        }
        out.push(offset.map_or(fill, |o| flat[o]));
        for k in (0..rank).rev() {
            at[k] += 1;
            if at[k] < shape[k] {
                break;
            }
            at[k] = 0;
        }
    }
    ArrayD::from_shape_vec(IxDyn(&shape), out).expect("the maps give the shape")
}

/// A planning function of an axis-map op: attributes, input shapes and
/// values to the plan, or why the call is invalid.
type MapPlanFn =
    fn(&Attributes, &[Option<TypedShape>], Values<'_>) -> std::result::Result<MapPlan, String>;

fn map_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    plan: MapPlanFn,
) -> Shapes {
    let (dtype, _) = rules::input(inputs, 0)?;
    let p = plan(attrs, inputs, values)?;
    Ok(vec![(*dtype, p.maps.iter().map(Vec::len).collect())])
}

fn map_eval(call: &Call, plan: MapPlanFn) -> Result<Vec<Output>> {
    let x = call.input(0)?;
    let p =
        plan(call.attrs, &call.typed_shapes(), &mut |i| call.values(i)).map_err(|m| call.err(m))?;
    let flat: Vec<f64> = x.data.iter().copied().collect();
    Ok(vec![Output::plain(x.dtype, gather_axes(&flat, &p, 0.0))])
}

/// The identity map of an axis of length `n`.
fn identity(n: usize) -> Vec<Option<usize>> {
    (0..n).map(Some).collect()
}

/// An integer input's values, or an error naming it.
fn ints(name: &str, values: &[f64]) -> std::result::Result<Vec<i64>, String> {
    rules::ints_of(name, values)
}

/// A 1-D input's shape check.
fn one_d(name: &str, shape: &[usize]) -> std::result::Result<usize, String> {
    match shape {
        [n] => Ok(*n),
        s => Err(format!("{name} must be 1-D, got shape {s:?}")),
    }
}

/// Axes resolved against `rank`, each at most once; `negative` says
/// whether this version accepts negative axes.
fn axes_of(
    what: &str,
    axes: &[i64],
    rank: usize,
    negative: bool,
) -> std::result::Result<Vec<usize>, String> {
    let mut seen = vec![false; rank];
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        if a < 0 && !negative {
            return Err(format!(
                "{what} {a} is negative, which this opset does not accept"
            ));
        }
        let r = rules::resolve_axis(what, a, rank)?;
        if std::mem::replace(&mut seen[r], true) {
            return Err(format!("{what} {axes:?} name axis {r} twice"));
        }
        out.push(r);
    }
    Ok(out)
}

// -------------------------------------------------------------------- Slice

/// One sliced axis: its first input coordinate, step and output length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sliced {
    start: i64,
    step: i64,
    len: usize,
}

/// Slice's effective start, step and length on one axis of length `dim`,
/// as Slice-13's text says: negative starts and ends have `dim` added;
/// then, stepping forward, both clamp to `[0, dim]`; stepping backward the
/// start clamps to `[0, dim-1]` and the end to `[-1, dim-1]` (so that a
/// backward slice can reach element 0). The length is
/// `max(0, ceil((end - start) / step))`.
fn slice_axis(dim: usize, start: i64, end: i64, step: i64) -> Sliced {
    let d = dim as i128;
    let (mut s, mut e, st) = (i128::from(start), i128::from(end), i128::from(step));
    if s < 0 {
        s += d;
    }
    if e < 0 {
        e += d;
    }
    let (s, e) = if st > 0 {
        (s.clamp(0, d), e.clamp(0, d))
    } else {
        // An empty axis has nothing to step back over.
        (s.clamp(0, (d - 1).max(0)), e.clamp(-1, d - 1))
    };
    let span = e - s;
    let len = if dim == 0 || span == 0 || (span > 0) != (st > 0) {
        0
    } else {
        // Ceiling division of two same-signed numbers.
        ((span.abs() + st.abs() - 1) / st.abs()) as usize
    };
    Sliced {
        start: s as i64,
        step,
        len,
    }
}

/// Slice's plan: the effective slice of every axis (axes not named copy
/// whole). starts/ends (and axes/steps when given) are 1-D of one length;
/// axes are distinct and in range (negative ones from Slice-11 on); no
/// step is 0.
fn slice_plan(
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    opset: i64,
) -> std::result::Result<Vec<Sliced>, String> {
    let (_, data) = rules::input(inputs, 0)?;
    let rank = data.len();
    let n = one_d("starts", &rules::input(inputs, 1)?.1)?;
    let names = ["starts", "ends", "axes", "steps"];
    for (k, name) in names.iter().enumerate().skip(1) {
        if let Some(Some((_, s))) = inputs.get(k + 1) {
            let m = one_d(name, s)?;
            if m != n {
                return Err(format!(
                    "{name} has {m} elements, starts has {n}: they must match"
                ));
            }
        }
    }
    let starts = ints("starts", &values(1))?;
    let ends = ints("ends", &values(2))?;
    let axes: Vec<i64> = match inputs.get(3) {
        Some(Some(_)) => ints("axes", &values(3))?,
        _ => (0..n as i64).collect(),
    };
    let steps: Vec<i64> = match inputs.get(4) {
        Some(Some(_)) => ints("steps", &values(4))?,
        _ => vec![1; n],
    };
    let axes = axes_of("axes", &axes, rank, opset >= 11)?;
    if let Some(k) = steps.iter().position(|&s| s == 0) {
        return Err(format!("steps[{k}] is 0; a step cannot be 0"));
    }
    let mut out: Vec<Sliced> = data
        .iter()
        .map(|&d| Sliced {
            start: 0,
            step: 1,
            len: d,
        })
        .collect();
    for (k, &a) in axes.iter().enumerate() {
        out[a] = slice_axis(data[a], starts[k], ends[k], steps[k]);
    }
    Ok(out)
}

fn slice_maps(plan: &[Sliced]) -> AxisMaps {
    plan.iter()
        .map(|s| {
            (0..s.len)
                .map(|k| Some((s.start + k as i64 * s.step) as usize))
                .collect()
        })
        .collect()
}

fn slice_shape(
    _: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    opset: i64,
) -> Shapes {
    let (dtype, _) = rules::input(inputs, 0)?;
    let plan = slice_plan(inputs, values, opset)?;
    Ok(vec![(*dtype, plan.iter().map(|s| s.len).collect())])
}

/// Slice (10, 11, 13): the elements `start, start + step, ...` of every
/// axis, as [`slice_axis`] resolves them.
fn slice_eval(call: &Call, opset: i64) -> Result<Vec<Output>> {
    let x = call.input(0)?;
    let plan = slice_plan(&call.typed_shapes(), &mut |i| call.values(i), opset)
        .map_err(|m| call.err(m))?;
    let map = MapPlan {
        in_shape: x.shape().to_vec(),
        maps: slice_maps(&plan),
        triangle: None,
    };
    let flat: Vec<f64> = x.data.iter().copied().collect();
    Ok(vec![Output::plain(x.dtype, gather_axes(&flat, &map, 0.0))])
}

// ----------------------------------------- Squeeze, Unsqueeze, Flatten, Identity

/// A reshaping op's plan: the output shape from the attributes, the
/// input's shape and the values reader (the values are unchanged).
type ReshapePlanFn =
    fn(&Attributes, &[Option<TypedShape>], Values<'_>) -> std::result::Result<Vec<usize>, String>;

fn reshape_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    plan: ReshapePlanFn,
) -> Shapes {
    let (dtype, _) = rules::input(inputs, 0)?;
    Ok(vec![(*dtype, plan(attrs, inputs, values)?)])
}

fn reshape_eval(call: &Call, plan: ReshapePlanFn) -> Result<Vec<Output>> {
    let x = call.input(0)?;
    let shape =
        plan(call.attrs, &call.typed_shapes(), &mut |i| call.values(i)).map_err(|m| call.err(m))?;
    let flat: Vec<f64> = x.data.iter().copied().collect();
    let y = ArrayD::from_shape_vec(IxDyn(&shape), flat)
        .map_err(|e| call.err(format!("cannot reshape {:?} to {shape:?}: {e}", x.shape())))?;
    Ok(vec![Output::plain(x.dtype, y)])
}

/// Identity's output shape: the input's.
fn same_shape(
    _: &Attributes,
    inputs: &[Option<TypedShape>],
    _: Values<'_>,
) -> std::result::Result<Vec<usize>, String> {
    Ok(rules::input(inputs, 0)?.1.clone())
}

/// Squeeze's output: the named axes (each of length 1) removed, or every
/// axis of length 1 when none are named.
fn squeeze(data: &[usize], axes: Option<&[i64]>) -> std::result::Result<Vec<usize>, String> {
    let Some(axes) = axes else {
        return Ok(data.iter().copied().filter(|&d| d != 1).collect());
    };
    let axes = axes_of("axes", axes, data.len(), true)?;
    if let Some(&a) = axes.iter().find(|&&a| data[a] != 1) {
        return Err(format!(
            "axis {a} has length {}, only axes of length 1 can be squeezed (data {data:?})",
            data[a]
        ));
    }
    Ok(data
        .iter()
        .enumerate()
        .filter(|(k, _)| !axes.contains(k))
        .map(|(_, &d)| d)
        .collect())
}

fn squeeze_plan_11(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    _: Values<'_>,
) -> std::result::Result<Vec<usize>, String> {
    let (_, data) = rules::input(inputs, 0)?;
    squeeze(data, attrs.ints("axes")?)
}

/// Squeeze-13's axes are an optional 1-D input. An empty one is refused:
/// ONNX's reference squeezes nothing for it, runtimes squeeze every 1,
/// and the spec does not say.
fn squeeze_plan_13(
    _: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
) -> std::result::Result<Vec<usize>, String> {
    let (_, data) = rules::input(inputs, 0)?;
    match inputs.get(1) {
        Some(Some((_, s))) => {
            if one_d("axes", s)? == 0 {
                return Err(
                    "axes is empty, which ONNX leaves unspecified; omit it to squeeze every 1"
                        .into(),
                );
            }
            squeeze(data, Some(&ints("axes", &values(1))?))
        }
        _ => squeeze(data, None),
    }
}

/// Unsqueeze's output: a 1 inserted at every named axis of the output
/// (rank + len(axes); negative axes count from its end), each named once.
fn unsqueeze(data: &[usize], axes: &[i64]) -> std::result::Result<Vec<usize>, String> {
    let rank = data.len() + axes.len();
    let axes = axes_of("axes", axes, rank, true)?;
    let mut rest = data.iter();
    Ok((0..rank)
        .map(|k| {
            if axes.contains(&k) {
                1
            } else {
                *rest.next().expect("rank counts the input's dims")
            }
        })
        .collect())
}

fn unsqueeze_plan_11(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    _: Values<'_>,
) -> std::result::Result<Vec<usize>, String> {
    let (_, data) = rules::input(inputs, 0)?;
    let axes = attrs.ints("axes")?.ok_or("attribute axes is required")?;
    unsqueeze(data, axes)
}

fn unsqueeze_plan_13(
    _: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
) -> std::result::Result<Vec<usize>, String> {
    let (_, data) = rules::input(inputs, 0)?;
    unsqueeze(data, &ints("axes", &values(1))?)
}

/// Flatten's output: `[prod(dims[..axis]), prod(dims[axis..])]`, axis in
/// `[-r, r]` (default 1; r itself gives `[n, 1]`).
fn flatten_plan(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    _: Values<'_>,
) -> std::result::Result<Vec<usize>, String> {
    let (_, data) = rules::input(inputs, 0)?;
    let r = data.len() as i64;
    let axis = attrs.int("axis", 1)?;
    if axis < -r || axis > r {
        return Err(format!(
            "axis {axis} is out of range for rank {r} (accepted: {} to {r})",
            -r
        ));
    }
    let a = if axis < 0 { axis + r } else { axis } as usize;
    Ok(vec![data[..a].iter().product(), data[a..].iter().product()])
}

// ------------------------------------------------------------- Shape, Size

/// Shape-15's dims `[start, end)`: negative values have the rank added,
/// then both clamp to `[0, r]`; start > end is empty. Shape-13 has no
/// attributes (the signature check refuses them), so it takes the whole.
fn shape_range(attrs: &Attributes, rank: usize) -> std::result::Result<(usize, usize), String> {
    let r = rank as i64;
    let fix = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = fix(attrs.int("start", 0)?);
    let end = fix(attrs.int("end", r)?);
    Ok((start, end.max(start)))
}

fn shape_shape(attrs: &Attributes, inputs: &[Option<TypedShape>], _: Values<'_>) -> Shapes {
    let (_, data) = rules::input(inputs, 0)?;
    let (s, e) = shape_range(attrs, data.len())?;
    Ok(vec![(DType::I64, vec![e - s])])
}

/// Shape (1, 13, 15): the input's dims `[start, end)` as int64.
fn shape_eval(call: &Call) -> Result<Vec<Output>> {
    let x = call.input(0)?;
    let (s, e) = shape_range(call.attrs, x.shape().len()).map_err(|m| call.err(m))?;
    let dims: Vec<f64> = x.shape()[s..e].iter().map(|&d| d as f64).collect();
    let y = ArrayD::from_shape_vec(IxDyn(&[dims.len()]), dims).expect("1-D");
    Ok(vec![Output::plain(DType::I64, y)])
}

/// Size (1, 13): the element count as an int64 scalar.
fn size_eval(call: &Call) -> Result<Vec<Output>> {
    let x = call.input(0)?;
    let y = ArrayD::from_elem(IxDyn(&[]), x.data.len() as f64);
    Ok(vec![Output::plain(DType::I64, y)])
}

// ----------------------------------------------------------- Expand, Tile

/// A shape input's values: 1-D, every value >= 0.
pub(super) fn dims_input(
    name: &str,
    shape: &[usize],
    values: &[f64],
) -> std::result::Result<Vec<usize>, String> {
    one_d(name, shape)?;
    ints(name, values)?
        .into_iter()
        .map(|v| usize::try_from(v).map_err(|_| format!("{name} holds {v}, which is negative")))
        .collect()
}

/// Expand's plan: the input broadcast (both ways, numpy's rule) with the
/// shape input; the input's dims of length 1 repeat their one element.
fn expand_plan(
    _: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
) -> std::result::Result<MapPlan, String> {
    let (_, data) = rules::input(inputs, 0)?;
    let (_, s) = rules::input(inputs, 1)?;
    let target = dims_input("shape", s, &values(1))?;
    let out = rules::broadcast(data, &target)?;
    let mut in_shape = vec![1; out.len() - data.len()];
    in_shape.extend(data);
    let maps = out
        .iter()
        .zip(&in_shape)
        .map(|(&o, &i)| (0..o).map(|k| Some(if i == 1 { 0 } else { k })).collect())
        .collect();
    Ok(MapPlan {
        in_shape,
        maps,
        triangle: None,
    })
}

/// Tile's plan: `repeats` (1-D, one value >= 0 per axis) copies of the
/// input along every axis.
fn tile_plan(
    _: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
) -> std::result::Result<MapPlan, String> {
    let (_, data) = rules::input(inputs, 0)?;
    let (_, s) = rules::input(inputs, 1)?;
    let reps = dims_input("repeats", s, &values(1))?;
    if reps.len() != data.len() {
        return Err(format!(
            "repeats has {} values, the input has rank {}: they must match",
            reps.len(),
            data.len()
        ));
    }
    let maps = data
        .iter()
        .zip(&reps)
        .map(|(&d, &r)| (0..d * r).map(|k| Some(k % d)).collect())
        .collect();
    Ok(MapPlan {
        in_shape: data.clone(),
        maps,
        triangle: None,
    })
}

// ------------------------------------------------ Range, EyeLike

/// Range's plan: the three scalars (a one-element 1-D tensor is accepted
/// too, as runtimes do), delta not 0, and the element count
/// `max(ceil((limit - start) / delta), 0)`, computed exactly in f64 from
/// the inputs' exact values.
fn range_plan(
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
) -> std::result::Result<(f64, f64, usize), String> {
    let mut v = [0.0; 3];
    for (k, name) in ["start", "limit", "delta"].iter().enumerate() {
        let (_, s) = rules::input(inputs, k)?;
        if s.len() > 1 || s.iter().product::<usize>() != 1 {
            return Err(format!("{name} must be a scalar, got shape {s:?}"));
        }
        v[k] = values(k)[0];
    }
    let [start, limit, delta] = v;
    if delta == 0.0 || !delta.is_finite() || !start.is_finite() || !limit.is_finite() {
        return Err(format!(
            "start {start}, limit {limit}, delta {delta}: delta must be nonzero and all finite"
        ));
    }
    let n = ((limit - start) / delta).ceil().max(0.0);
    if n > (1u64 << 32) as f64 {
        return Err(format!("{n} elements is more than the harness allocates"));
    }
    Ok((start, delta, n as usize))
}

fn range_shape(_: &Attributes, inputs: &[Option<TypedShape>], values: Values<'_>) -> Shapes {
    let (dtype, _) = rules::input(inputs, 0)?;
    let (_, _, n) = range_plan(inputs, values)?;
    Ok(vec![(*dtype, vec![n])])
}

/// Range (11, 27): `start + i * delta` for `i` below the count. Integer
/// results wrap into the dtype; f32 and f64 results are rounded once into
/// it (the value is defined as the sum, which f64 holds exactly for the
/// suites' inputs). f16 and bf16 (27) compute in `stash_type` as the spec's
/// pseudo-code does (f32 by default, or f64): `i * delta`, then `start +`
/// it, each rounded in the stash type, then the result into the dtype.
fn range_eval(call: &Call) -> Result<Vec<Output>> {
    let dtype = call.input(0)?.dtype;
    let stash = match dtype {
        DType::F16 | DType::BF16 => Some(match call.int("stash_type", 1)? {
            1 => DType::F32,
            11 => DType::F64,
            other => {
                return Err(call.err(format!(
                    "stash_type {other} is neither 1 (float) nor 11 (double)"
                )));
            }
        }),
        _ => None,
    };
    let (start, delta, n) =
        range_plan(&call.typed_shapes(), &mut |i| call.values(i)).map_err(|m| call.err(m))?;
    let v: Vec<f64> = (0..n)
        .map(|i| match stash {
            Some(s) => round_to(dtype, round_to(s, start + round_to(s, i as f64 * delta))),
            None if dtype.is_float() => round_to(dtype, start + i as f64 * delta),
            None => super::wrap_int(dtype, start + i as f64 * delta),
        })
        .collect();
    let y = ArrayD::from_shape_vec(IxDyn(&[n]), v).expect("1-D");
    Ok(vec![Output::plain(dtype, y)])
}

/// EyeLike's output dtype: `dtype` when given (any dtype xpucert knows),
/// else the input's; the input is 2-D.
fn eye_like_plan(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
) -> std::result::Result<(DType, Vec<usize>, i64), String> {
    let (dtype, s) = rules::input(inputs, 0)?;
    if s.len() != 2 {
        return Err(format!("input must be 2-D, got shape {s:?}"));
    }
    let out = match attrs.get("dtype") {
        None => *dtype,
        Some(_) => {
            let code = attrs.int("dtype", 0)?;
            i32::try_from(code)
                .ok()
                .and_then(DType::from_code)
                .ok_or_else(|| format!("attribute dtype = {code} is not a dtype xpucert knows"))?
        }
    };
    Ok((out, s.clone(), attrs.int("k", 0)?))
}

fn eye_like_shape(attrs: &Attributes, inputs: &[Option<TypedShape>], _: Values<'_>) -> Shapes {
    let (d, s, _) = eye_like_plan(attrs, inputs)?;
    Ok(vec![(d, s)])
}

/// EyeLike (9/22): ones on the diagonal `k` (column - row = k), zeros
/// elsewhere, of the input's shape.
fn eye_like_eval(call: &Call) -> Result<Vec<Output>> {
    let (d, s, k) = eye_like_plan(call.attrs, &call.typed_shapes()).map_err(|m| call.err(m))?;
    let y = ArrayD::from_shape_fn(IxDyn(&s), |ix| {
        f64::from(u8::from(ix[1] as i64 - ix[0] as i64 == k))
    });
    Ok(vec![Output::plain(d, y)])
}

/// Trilu's plan: the identity map with the triangle of the last two axes
/// (rank >= 2) kept: `upper` (default 1) keeps column - row >= k, else
/// column - row <= k; k is the optional int64 scalar input (default 0).
fn trilu_plan(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
) -> std::result::Result<MapPlan, String> {
    let (_, data) = rules::input(inputs, 0)?;
    if data.len() < 2 {
        return Err(format!("input must have rank >= 2, got shape {data:?}"));
    }
    let k = match inputs.get(1) {
        Some(Some((_, s))) => {
            if !s.is_empty() && s != &[1] {
                return Err(format!("k must be a scalar, got shape {s:?}"));
            }
            ints("k", &values(1))?[0]
        }
        _ => 0,
    };
    let upper = rules::flag(attrs, "upper", true)?;
    Ok(MapPlan {
        in_shape: data.clone(),
        maps: data.iter().map(|&d| identity(d)).collect(),
        triangle: Some((upper, k)),
    })
}

// ---------------------------------------------------------------------- Pad

/// Pad's plan: the axis maps (`None` = the constant) for `mode`.
/// pads (1-D int64) holds the begin pads of every padded axis, then the
/// end pads; the padded axes are all (before opset 18, or with axes
/// omitted) or the `axes` input's (distinct, negative from the end).
/// Modes: constant (default), reflect, edge, and from opset 19 wrap.
/// Reflect mirrors about the first and last elements (numpy's `reflect`,
/// repeated for pads longer than the axis; an axis of length 1 repeats its
/// element), edge repeats them, wrap continues periodically. Negative pads
/// remove elements; ONNX's own reference (numpy.pad) refuses them, and
/// runtimes only agree on what they mean for constant mode, so the other
/// modes refuse them. The non-constant modes need a nonempty axis to copy
/// from when it is padded. The constant is the optional scalar
/// `constant_value` (default 0), of the data's dtype.
fn pad_plan(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    opset: i64,
) -> std::result::Result<MapPlan, String> {
    let (dtype, data) = rules::input(inputs, 0)?;
    let rank = data.len();
    let mode = attrs.string("mode", "constant")?;
    let modes: &[&str] = if opset >= 19 {
        &["constant", "reflect", "edge", "wrap"]
    } else {
        &["constant", "reflect", "edge"]
    };
    if !modes.contains(&mode) {
        return Err(format!(
            "mode {mode:?} is not one of {modes:?} (Pad-{opset})"
        ));
    }
    if let Some(Some((cd, cs))) = inputs.get(2) {
        if cd != dtype {
            return Err(format!(
                "constant_value is {cd}, data is {dtype}: they must have the same dtype"
            ));
        }
        if !cs.is_empty() && cs != &[1] {
            return Err(format!("constant_value must be a scalar, got shape {cs:?}"));
        }
    }
    // The default fill is zero, which E8M0 (Pad-24+) cannot hold.
    let has_value = matches!(inputs.get(2), Some(Some(_)));
    if mode == "constant" && *dtype == DType::F8E8M0 && !has_value {
        return Err("float8e8m0 has no zero: constant mode needs a constant_value".into());
    }
    let axes: Vec<usize> = match inputs.get(3) {
        Some(Some((_, s))) => {
            one_d("axes", s)?;
            axes_of("axes", &ints("axes", &values(3))?, rank, true)?
        }
        _ => (0..rank).collect(),
    };
    let (_, ps) = rules::input(inputs, 1)?;
    let n = one_d("pads", ps)?;
    if n != 2 * axes.len() {
        return Err(format!(
            "pads has {n} values, {} padded axes need {}",
            axes.len(),
            2 * axes.len()
        ));
    }
    let pads = ints("pads", &values(1))?;
    let mut begin = vec![0i64; rank];
    let mut end = vec![0i64; rank];
    for (k, &a) in axes.iter().enumerate() {
        begin[a] = pads[k];
        end[a] = pads[axes.len() + k];
    }
    let mut maps = Vec::with_capacity(rank);
    for a in 0..rank {
        let (b, e, d) = (begin[a], end[a], data[a] as i64);
        if mode != "constant" && (b < 0 || e < 0) {
            return Err(format!(
                "pads {pads:?} are negative on axis {a}; only constant mode may crop"
            ));
        }
        let len = d + b + e;
        if len < 0 {
            return Err(format!(
                "pads {pads:?} remove more than the {d} elements of axis {a}"
            ));
        }
        if mode != "constant" && d == 0 && len > 0 {
            return Err(format!(
                "axis {a} is empty: mode {mode} has nothing to pad it with"
            ));
        }
        let map = (0..len)
            .map(|k| {
                let j = k - b;
                if (0..d).contains(&j) {
                    return Some(j as usize);
                }
                match mode {
                    "constant" => None,
                    "edge" => Some(j.clamp(0, d - 1) as usize),
                    "wrap" => Some(j.rem_euclid(d) as usize),
                    _ => Some(reflect(j, d) as usize),
                }
            })
            .collect();
        maps.push(map);
    }
    Ok(MapPlan {
        in_shape: data.clone(),
        maps,
        triangle: None,
    })
}

/// The coordinate `j` (outside `[0, d)`) mirrored about the first and
/// last elements, repeatedly: period `2(d-1)`.
fn reflect(j: i64, d: i64) -> i64 {
    if d == 1 {
        return 0;
    }
    let period = 2 * (d - 1);
    let m = j.rem_euclid(period);
    if m >= d { period - m } else { m }
}

fn pad_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    opset: i64,
) -> Shapes {
    let (dtype, _) = rules::input(inputs, 0)?;
    let p = pad_plan(attrs, inputs, values, opset)?;
    Ok(vec![(*dtype, p.maps.iter().map(Vec::len).collect())])
}

/// Pad (11, 13, 18, 19): see [`pad_plan`].
fn pad_eval(call: &Call, opset: i64) -> Result<Vec<Output>> {
    let x = call.input(0)?;
    let p = pad_plan(
        call.attrs,
        &call.typed_shapes(),
        &mut |i| call.values(i),
        opset,
    )
    .map_err(|m| call.err(m))?;
    let fill = call
        .opt(2)
        .map_or(0.0, |c| c.data.iter().copied().next().unwrap_or(0.0));
    let flat: Vec<f64> = x.data.iter().copied().collect();
    Ok(vec![Output::plain(x.dtype, gather_axes(&flat, &p, fill))])
}

// -------------------------------------------------------------------- Split

/// Split's axis and part lengths. The parts come from the `split` input
/// (13, 18; values >= 0 summing to the axis) or attribute (11), or, from
/// opset 18, `num_outputs` equal parts of `ceil(dim / n)` with the last
/// one smaller (and not negative); exactly one of split and num_outputs
/// at 18. Without either, the parts are as many equal ones as the call
/// requests outputs (`requested`, a node's output count; ONNX's "split to
/// equal sized parts", which must divide the axis); a call that requests
/// no count cannot say how many. A requested count must match the parts.
fn split_plan(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    opset: i64,
    requested: Option<usize>,
) -> std::result::Result<(usize, Vec<usize>), String> {
    let (_, data) = rules::input(inputs, 0)?;
    let axis = rules::norm_axis(attrs.int("axis", 0)?, data.len())?;
    let dim = data[axis];
    let given: Option<Vec<i64>> = if opset >= 13 {
        match inputs.get(1) {
            Some(Some((_, s))) => {
                one_d("split", s)?;
                Some(ints("split", &values(1))?)
            }
            _ => None,
        }
    } else {
        attrs.ints("split")?.map(<[i64]>::to_vec)
    };
    let num = if opset >= 18 {
        attrs
            .get("num_outputs")
            .map(|_| attrs.int("num_outputs", 0))
            .transpose()?
    } else {
        None
    };
    let parts = match (given, num) {
        (Some(_), Some(_)) => {
            return Err("split and num_outputs are both given; ONNX allows one".into());
        }
        (Some(s), None) => {
            let parts: Vec<usize> = s
                .iter()
                .map(|&v| {
                    usize::try_from(v).map_err(|_| format!("split {s:?} has a negative length"))
                })
                .collect::<std::result::Result<_, _>>()?;
            if parts.iter().sum::<usize>() != dim {
                return Err(format!(
                    "split {s:?} sums to {}, axis {axis} has length {dim}",
                    parts.iter().sum::<usize>()
                ));
            }
            parts
        }
        (None, Some(n)) => {
            let n = usize::try_from(n)
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| format!("num_outputs {n} must be at least 1"))?;
            let chunk = dim.div_ceil(n);
            let last = dim as i64 - (chunk * (n - 1)) as i64;
            if last < 0 {
                return Err(format!(
                    "num_outputs {n} parts of {chunk} overrun axis {axis} of length {dim}"
                ));
            }
            let mut parts = vec![chunk; n - 1];
            parts.push(last as usize);
            parts
        }
        (None, None) if requested.is_some() => {
            let n = requested.unwrap_or(1).max(1);
            if dim % n != 0 {
                return Err(format!(
                    "axis {axis} of length {dim} does not split into {n} equal parts (the {n} outputs requested, without split{})",
                    if opset >= 18 { " or num_outputs" } else { "" }
                ));
            }
            vec![dim / n; n]
        }
        (None, None) => {
            return Err(if opset >= 18 {
                "give split or num_outputs: an op-level call has no node whose output count could say how many parts".into()
            } else {
                "give split: an op-level call has no node whose output count could say how many parts".into()
            });
        }
    };
    if parts.is_empty() {
        return Err("split is empty: there must be at least one output".into());
    }
    if let Some(n) = requested.filter(|&n| n != parts.len()) {
        return Err(format!(
            "{n} outputs requested, but the split makes {} parts",
            parts.len()
        ));
    }
    Ok((axis, parts))
}

fn split_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    opset: i64,
) -> Shapes {
    split_shapes(attrs, inputs, values, opset, None)
}

/// Split's shape rule for a call requesting `n` outputs
/// (`outputs::counted_shape`).
pub(super) fn split_shape_counted(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    opset: i64,
    n: usize,
) -> Shapes {
    split_shapes(attrs, inputs, values, opset, Some(n))
}

fn split_shapes(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    opset: i64,
    requested: Option<usize>,
) -> Shapes {
    let (dtype, data) = rules::input(inputs, 0)?;
    let (axis, parts) = split_plan(attrs, inputs, values, opset, requested)?;
    Ok(parts
        .iter()
        .map(|&p| {
            let mut s = data.clone();
            s[axis] = p;
            (*dtype, s)
        })
        .collect())
}

/// Split (11, 13, 18): consecutive parts of the input along `axis`, one
/// output each.
fn split_eval(call: &Call, opset: i64) -> Result<Vec<Output>> {
    let x = call.input(0)?;
    let (axis, parts) = split_plan(
        call.attrs,
        &call.typed_shapes(),
        &mut |i| call.values(i),
        opset,
        call.requested,
    )
    .map_err(|m| call.err(m))?;
    let flat: Vec<f64> = x.data.iter().copied().collect();
    let mut offset = 0;
    let mut out = Vec::with_capacity(parts.len());
    for &p in &parts {
        let maps = x
            .shape()
            .iter()
            .enumerate()
            .map(|(a, &d)| {
                if a == axis {
                    (offset..offset + p).map(Some).collect()
                } else {
                    identity(d)
                }
            })
            .collect();
        let plan = MapPlan {
            in_shape: x.shape().to_vec(),
            maps,
            triangle: None,
        };
        out.push(Output::plain(x.dtype, gather_axes(&flat, &plan, 0.0)));
        offset += p;
    }
    Ok(out)
}

// ---------------------------------------------------------------- ScatterND

const SCATTER_INPUTS: &[&str] = &["data", "indices", "updates"];
const SCATTER_TYPES: &[TypeVar] = &[T_ANY, T_I64, T_ANY];

pub(super) const SCATTER_ND: OpDef = def(
    "ScatterND",
    18,
    fixed(3, 0),
    SCATTER_INPUTS,
    SCATTER_TYPES,
    1,
    &[("reduction", AttrType::String)],
    |c| scatter_nd_eval(c, 18),
    |a, s, v| scatter_nd_shape(a, s, v, 18),
);
pub(super) const SCATTER_ND_16: OpDef = def(
    "ScatterND",
    16,
    fixed(3, 0),
    SCATTER_INPUTS,
    SCATTER_TYPES,
    1,
    &[("reduction", AttrType::String)],
    |c| scatter_nd_eval(c, 16),
    |a, s, v| scatter_nd_shape(a, s, v, 16),
);
pub(super) const SCATTER_ND_13: OpDef = def(
    "ScatterND",
    13,
    fixed(3, 0),
    SCATTER_INPUTS,
    SCATTER_TYPES,
    1,
    &[],
    |c| scatter_nd_eval(c, 13),
    |a, s, v| scatter_nd_shape(a, s, v, 13),
);
pub(super) const SCATTER_ND_11: OpDef = at_opset!(SCATTER_ND_13, 11);

/// ScatterND's plan: the reduction, the flat offset of every update's
/// slice in the data, and the slice length. indices (int64, rank q >= 1)
/// address the first `k = indices.shape[-1] <= r` axes of the data (each
/// value in `[-s, s-1]`, negative from the end, as numpy indexing reads
/// them); updates have shape `indices.shape[..q-1] ++ data.shape[k..]`.
/// Reductions: none (every opset), add and mul (16+), max and min (18+);
/// not on bool. With none, two updates of one place leave the result
/// undefined in ONNX, so the call is refused.
fn scatter_nd_plan(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    opset: i64,
) -> std::result::Result<(String, Vec<usize>, usize), String> {
    let (dtype, data) = rules::input(inputs, 0)?;
    let (_, ind) = rules::input(inputs, 1)?;
    let (ud, upd) = rules::input(inputs, 2)?;
    if ud != dtype {
        return Err(format!(
            "updates are {ud}, data is {dtype}: they must match"
        ));
    }
    let reduction = scatter_reduction(attrs, "ScatterND", opset, *dtype)?;
    let (&k, lead) = ind
        .split_last()
        .ok_or("indices must have rank >= 1, got a scalar")?;
    if k > data.len() {
        return Err(format!(
            "indices address {k} axes, data {data:?} has {}",
            data.len()
        ));
    }
    let mut want = lead.to_vec();
    want.extend(&data[k..]);
    if upd != &want {
        return Err(format!(
            "updates have shape {upd:?}, indices {ind:?} and data {data:?} need {want:?}"
        ));
    }
    let strides: Vec<usize> = (0..data.len())
        .map(|a| data[a + 1..].iter().product())
        .collect();
    let slice: usize = data[k..].iter().product();
    let idx = ints("indices", &values(1))?;
    let updates: usize = lead.iter().product();
    let mut offsets = Vec::with_capacity(updates);
    for n in 0..updates {
        let mut o = 0;
        for a in 0..k {
            let (v, s) = (idx[n * k + a], data[a] as i64);
            if !(-s..s).contains(&v) {
                return Err(format!(
                    "index {v} is out of bounds for axis {a} of length {s}"
                ));
            }
            o += (if v < 0 { v + s } else { v }) as usize * strides[a];
        }
        offsets.push(o);
    }
    if reduction == "none" {
        let mut seen = offsets.clone();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) && slice > 0 {
            return Err(
                "two updates write one place with reduction none, which ONNX leaves undefined"
                    .into(),
            );
        }
    }
    Ok((reduction, offsets, slice))
}

/// The `reduction` attribute of a scatter op (ScatterND, ScatterElements)
/// at `opset`: none (every opset), add and mul (16+), max and min (18+);
/// not on bool, where ONNX defines no arithmetic.
pub(super) fn scatter_reduction(
    attrs: &Attributes,
    op: &str,
    opset: i64,
    dtype: DType,
) -> std::result::Result<String, String> {
    let reduction = attrs.string("reduction", "none")?.to_string();
    let allowed: &[&str] = match opset {
        o if o >= 18 => &["none", "add", "mul", "max", "min"],
        o if o >= 16 => &["none", "add", "mul"],
        _ => &["none"],
    };
    if !allowed.contains(&reduction.as_str()) {
        return Err(format!(
            "reduction {reduction:?} is not one of {allowed:?} ({op}-{opset})"
        ));
    }
    if reduction != "none" && dtype == DType::Bool {
        return Err(format!("reduction {reduction} is not defined on bool"));
    }
    Ok(reduction)
}

/// One scatter step: the value a place holding `old` gets from update `u`
/// under `reduction`. add and mul round into the dtype (integers wrap), as
/// ONNX's reference computes in the tensor's dtype, so a chain of updates
/// to one place is rounded step by step, in index order.
pub(super) fn scatter_step(reduction: &str, dtype: DType, old: f64, u: f64) -> f64 {
    let into = |v: f64| {
        if dtype.is_float() {
            round_to(dtype, v)
        } else {
            super::wrap_int(dtype, v)
        }
    };
    match reduction {
        "add" => into(old + u),
        "mul" => into(old * u),
        // NaN propagates, as numpy's maximum and minimum do.
        "max" if old.is_nan() || u.is_nan() => f64::NAN,
        "max" => old.max(u),
        "min" if old.is_nan() || u.is_nan() => f64::NAN,
        "min" => old.min(u),
        _ => u,
    }
}

fn scatter_nd_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    opset: i64,
) -> Shapes {
    let (dtype, data) = rules::input(inputs, 0)?;
    scatter_nd_plan(attrs, inputs, values, opset)?;
    Ok(vec![(*dtype, data.clone())])
}

/// ScatterND (11, 13, 16, 18): a copy of the data with every update's
/// slice written (or reduced) in at its index, in index order. Each
/// reduction step is rounded into the dtype (integers wrap), as ONNX's
/// reference computes in the tensor's dtype; with one update per place
/// (the generated cases for floats) that is a single rounding.
fn scatter_nd_eval(call: &Call, opset: i64) -> Result<Vec<Output>> {
    let x = call.input(0)?;
    let (reduction, offsets, slice) = scatter_nd_plan(
        call.attrs,
        &call.typed_shapes(),
        &mut |i| call.values(i),
        opset,
    )
    .map_err(|m| call.err(m))?;
    let mut out: Vec<f64> = x.data.iter().copied().collect();
    let upd: Vec<f64> = call.values(2);
    let dtype = x.dtype;
    for (n, &o) in offsets.iter().enumerate() {
        for e in 0..slice {
            out[o + e] = scatter_step(&reduction, dtype, out[o + e], upd[n * slice + e]);
        }
    }
    let y = ArrayD::from_shape_vec(IxDyn(x.shape()), out).expect("the data's shape");
    Ok(vec![Output::plain(dtype, y)])
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, GenCase, GenInput, Pick, Storage};

/// The length of the dimension a size level is about.
fn size_of(level: &str) -> usize {
    match level {
        "n0" => 0,
        "n1" => 1,
        "prime" => 7,
        "large" => 1031,
        other => panic!("`{other}` is not a size level"),
    }
}

/// A 1-D int64 input holding `v`.
fn i64s(v: &[i64]) -> Option<GenInput> {
    GenInput::values(DType::I64, v.iter().map(|&x| x as f64).collect()).some()
}

/// A 1-D input of an index dtype holding `v`.
fn idx(dtype: DType, v: &[i64]) -> Option<GenInput> {
    GenInput::values(dtype, v.iter().map(|&x| x as f64).collect()).some()
}

/// The data input of a movement case: `shape`, stored as the layout level.
fn data(p: &Pick, shape: Vec<usize>) -> Option<GenInput> {
    GenInput::new(p.dtype(), shape)
        .stored(Storage::from_level(p.get("layout")))
        .some()
}

/// Slice: every movable dtype, ranks 1-3, steps 1, 2, -1, -2, bounds in
/// range, negative, far out of range (INT_MIN/near INT_MAX of the index
/// dtype: the clamping rules) or giving an empty slice, axes omitted /
/// all / one negative / two out of order, steps given or omitted, int64
/// or int32 indices, the axis empty, 1, prime or large, every layout.
pub(super) fn slice_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("rank", &["r1", "r2", "r3"]),
            Factor::new("step", &["pos1", "pos2", "neg1", "neg2"]),
            Factor::new("bounds", &["inrange", "negidx", "clampbig", "emptyslice"]),
            Factor::new("axes", &["noaxes", "allaxes", "negaxis", "twoaxes"]),
            Factor::new("steps", &["stepsgiven", "stepsomitted"]),
            Factor::new("indextype", &["i64idx", "i32idx"]),
            Factor::new("size", &["n0", "n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let shape = cases::dims(rank, size_of(p.get("size")), false);
            let step: i64 = match p.get("step") {
                "pos1" => 1,
                "pos2" => 2,
                "neg1" => -1,
                _ => -2,
            };
            if p.is("steps", "stepsomitted") && step != 1 {
                return None;
            }
            let it = if p.is("indextype", "i64idx") {
                DType::I64
            } else {
                DType::I32
            };
            let (min, max) = if it == DType::I64 {
                (i64::MIN, i64::MAX - 1023)
            } else {
                (i64::from(i32::MIN), i64::from(i32::MAX))
            };
            let bounds = p.get("bounds");
            let rule = |d: usize| -> (i64, i64) {
                let d = d as i64;
                match (bounds, step > 0) {
                    ("inrange", true) => (1.min(d), (d - 1).max(0)),
                    ("inrange", false) => ((d - 2).max(0), 0),
                    ("negidx", true) => (-d + 1, -1),
                    ("negidx", false) => (-1, -d - 1),
                    ("clampbig", true) => (min, max),
                    ("clampbig", false) => (max, min),
                    (_, true) => ((d - 1).max(0), 0),
                    (_, false) => (0, (d - 1).max(0)),
                }
            };
            let axes: Vec<i64> = match p.get("axes") {
                "noaxes" | "allaxes" => (0..rank as i64).collect(),
                "negaxis" => vec![-1],
                _ if rank >= 2 => vec![rank as i64 - 1, 0],
                _ => return None,
            };
            let resolved: Vec<usize> = axes.iter().map(|&a| cases::resolve(a, rank)).collect();
            let (starts, ends): (Vec<i64>, Vec<i64>) =
                resolved.iter().map(|&a| rule(shape[a])).unzip();
            let n = axes.len();
            let mut inputs = vec![data(p, shape), idx(it, &starts), idx(it, &ends)];
            inputs.push(if p.is("axes", "noaxes") {
                None
            } else {
                idx(it, &axes)
            });
            if p.is("steps", "stepsgiven") {
                inputs.push(idx(it, &vec![step; n]));
            } else if inputs[3].is_none() {
                inputs.pop();
            }
            Some(GenCase::new(inputs))
        }),
    })
}

/// Squeeze: every movable dtype, ranks 1-4 with 1s at the front, back and
/// middle, axes omitted (every 1) / one / two / negative, the other dims
/// 1, prime or large, every layout.
pub(super) fn squeeze_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("ones", &["front", "back", "both"]),
            Factor::new("axes", &["noaxes", "oneaxis", "twoaxes", "negaxes"]),
            Factor::new("size", &["n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let s = size_of(p.get("size"));
            let (shape, ones): (Vec<usize>, Vec<i64>) = match p.get("ones") {
                "front" => (vec![1, 3, s], vec![0]),
                "back" => (vec![3, s, 1], vec![2]),
                _ => (vec![1, 2, 1, s], vec![0, 2]),
            };
            let axes: Option<Vec<i64>> = match p.get("axes") {
                "noaxes" => None,
                "oneaxis" => Some(vec![ones[0]]),
                "twoaxes" if ones.len() == 2 => Some(vec![ones[1], ones[0]]),
                "negaxes" => Some(ones.iter().map(|&a| a - shape.len() as i64).collect()),
                _ => return None,
            };
            let mut inputs = vec![data(p, shape)];
            if let Some(a) = axes {
                inputs.push(i64s(&a));
            }
            Some(GenCase::new(inputs))
        }),
    })
}

/// Unsqueeze: every movable dtype, ranks 0-3, a 1 inserted at the front,
/// back or middle, by a negative axis, or two at once out of order, the
/// last dim 1, prime or large, every layout.
pub(super) fn unsqueeze_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("rank", &["r0", "r1", "r2", "r3"]),
            Factor::new("axes", &["front", "back", "middle", "negaxis", "twoaxes"]),
            Factor::new("size", &["n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let r = rank as i64;
            let axes = match p.get("axes") {
                "front" => vec![0],
                "back" => vec![r],
                "middle" if rank >= 2 => vec![1],
                "negaxis" => vec![-1],
                "twoaxes" => vec![r + 1, 0],
                _ => return None,
            };
            Some(GenCase::new(vec![
                data(p, cases::dims(rank, size_of(p.get("size")), false)),
                i64s(&axes),
            ]))
        }),
    })
}

/// Shape: every movable dtype, ranks 0-4, the whole shape or a start /
/// end / negative start / negative end / clamped out-of-range pair / start
/// past end, the last dim 0, 1 or prime.
pub(super) fn shape_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("rank", &["r0", "r1", "r2", "r3", "r4"]),
            Factor::new(
                "range",
                &[
                    "whole", "start", "end", "negstart", "negend", "clamped", "crossed",
                ],
            ),
            Factor::new("size", &["n0", "n1", "prime"]),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let case = GenCase::new(vec![
                GenInput::new(p.dtype(), cases::dims(rank, size_of(p.get("size")), false)).some(),
            ]);
            Some(match p.get("range") {
                "whole" => case,
                "start" => case.int("start", 1),
                "end" => case.int("end", 2),
                "negstart" => case.int("start", -2),
                "negend" => case.int("end", -1),
                "clamped" => case.int("start", -100).int("end", 100),
                _ => case.int("start", 3).int("end", 1),
            })
        }),
    })
}

/// Size: every movable dtype, ranks 0-3, the last dim 0, 1, prime or large.
pub(super) fn size_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("rank", &["r0", "r1", "r2", "r3"]),
            Factor::new("size", &["n0", "n1", "prime", "large"]),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            if rank == 0 && !p.is("size", "n1") {
                return None;
            }
            Some(GenCase::new(vec![
                GenInput::new(p.dtype(), cases::dims(rank, size_of(p.get("size")), false)).some(),
            ]))
        }),
    })
}

/// Identity: every movable dtype, ranks 0-3, the last dim 0, 1, prime or
/// large, every layout.
pub(super) fn identity_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("rank", &["r0", "r1", "r2", "r3"]),
            Factor::new("size", &["n0", "n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            if rank == 0 && !p.is("size", "n1") {
                return None;
            }
            Some(GenCase::new(vec![data(
                p,
                cases::dims(rank, size_of(p.get("size")), false),
            )]))
        }),
    })
}

/// Flatten: every movable dtype, ranks 0-4, axis 0, the default 1, the
/// last, the rank itself or negative, the last dim 0, 1, prime or large,
/// every layout.
pub(super) fn flatten_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("rank", &["r0", "r1", "r2", "r3", "r4"]),
            Factor::new("axis", &["zero", "default", "last", "rankaxis", "negaxis"]),
            Factor::new("size", &["n0", "n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let r = rank as i64;
            if rank == 0 && !p.is("size", "n1") {
                return None;
            }
            let axis = match p.get("axis") {
                "zero" => Some(0),
                "default" if rank >= 1 => None,
                "last" if rank >= 1 => Some(r - 1),
                "rankaxis" => Some(r),
                "negaxis" if rank >= 1 => Some(-1),
                _ => return None,
            };
            let case = GenCase::new(vec![data(
                p,
                cases::dims(rank, size_of(p.get("size")), false),
            )]);
            Some(match axis {
                Some(a) => case.int("axis", a),
                None => case,
            })
        }),
    })
}

/// Expand: every movable dtype, a 1 stretched, new leading dims, the
/// target's 1s kept at the input's size (broadcasting both ways), the
/// same shape, a scalar input; the stretched dim 0, 1, prime or large;
/// every layout.
pub(super) fn expand_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new(
                "pattern",
                &["stretch", "prepend", "targetones", "same", "scalar"],
            ),
            Factor::new("size", &["n0", "n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let s = size_of(p.get("size"));
            let (input, target): (Vec<usize>, Vec<i64>) = match p.get("pattern") {
                "stretch" => (vec![3, 1], vec![3, s as i64]),
                "prepend" => (vec![2, 1], vec![s as i64, 2, 3]),
                "targetones" => (vec![2, s], vec![1, 1]),
                "same" => (vec![2, s], vec![2, s as i64]),
                _ => (vec![], vec![2, s as i64]),
            };
            Some(GenCase::new(vec![data(p, input), i64s(&target)]))
        }),
    })
}

/// Tile: every movable dtype, ranks 1-3, repeats all 1, all 2, with a 0,
/// or 3 on the last axis only, the last dim 0, 1, prime or large, every
/// layout.
pub(super) fn tile_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("rank", &["r1", "r2", "r3"]),
            Factor::new("repeats", &["ones", "twos", "withzero", "lastonly"]),
            Factor::new("size", &["n0", "n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let reps: Vec<i64> = (0..rank)
                .map(|k| match p.get("repeats") {
                    "ones" => 1,
                    "twos" => 2,
                    "withzero" => i64::from(k != 0) * 2,
                    _ => {
                        if k == rank - 1 {
                            3
                        } else {
                            1
                        }
                    }
                })
                .collect();
            Some(GenCase::new(vec![
                data(p, cases::dims(rank, size_of(p.get("size")), false)),
                i64s(&reps),
            ]))
        }),
    })
}

/// Range: f32, f64, i32, i64; counting up, down, empty (limit behind
/// start) or by a fraction (floats), from 1, prime or large counts.
pub(super) fn range_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(&[DType::F32, DType::F64, DType::I32, DType::I64]),
            Factor::new("direction", &["up", "down", "emptyrange", "fraction"]),
            Factor::new("size", &["n1", "prime", "large"]),
        ],
        build: Box::new(|p: &Pick| {
            let dt = p.dtype();
            let n = size_of(p.get("size")) as f64;
            let (start, limit, delta) = match p.get("direction") {
                "up" => (-3.0, -3.0 + 3.0 * n - 1.0, 3.0),
                "down" => (10.0, 10.0 - 2.0 * n, -2.0),
                "emptyrange" => (5.0, 5.0 - n, 1.0),
                _ if dt.is_float() => (0.25, 0.25 + 0.5 * n, 0.5),
                _ => return None,
            };
            let scalar = |v: f64| GenInput::values(dt, vec![v]).shaped(vec![]).some();
            Some(GenCase::new(vec![
                scalar(start),
                scalar(limit),
                scalar(delta),
            ]))
        }),
    })
}

/// Pad: every movable dtype, every mode (constant, reflect, edge, wrap),
/// ranks 1-3, pads at the begin, the end, both, longer than the axis
/// (reflect repeats) or negative (constant crops), axes omitted, given or
/// negative, a constant value given or not, the last dim 1, prime or
/// large, every layout.
pub(super) fn pad_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("mode", &["constant", "reflect", "edge", "wrap"]),
            Factor::new("rank", &["r1", "r2", "r3"]),
            Factor::new("pads", &["begin", "end", "both", "long", "crop"]),
            Factor::new("axes", &["noaxes", "lastaxis", "negaxes"]),
            Factor::new("value", &["novalue", "withvalue"]),
            Factor::new("size", &["n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let mode = p.get("mode");
            let shape = cases::dims(rank, size_of(p.get("size")), false);
            let last = *shape.last().expect("rank >= 1") as i64;
            let (b, e): (i64, i64) = match p.get("pads") {
                "begin" => (2, 0),
                "end" => (0, 3),
                "both" => (1, 2),
                "long" => (last + 2, 2 * last + 1),
                _ if mode == "constant" && last >= 3 => (-1, 2),
                _ => return None,
            };
            if p.is("value", "withvalue") && mode != "constant" {
                return None;
            }
            // The padded axes: every axis (the last gets (b, e), the first
            // (1, 0) when there are others), or the last alone.
            let (axes, pads): (Option<Vec<i64>>, Vec<i64>) = match p.get("axes") {
                "noaxes" => {
                    let mut begin = vec![0; rank];
                    let mut end = vec![0; rank];
                    begin[rank - 1] = b;
                    end[rank - 1] = e;
                    if rank >= 2 {
                        begin[0] = 1;
                    }
                    (None, begin.into_iter().chain(end).collect())
                }
                "lastaxis" => (Some(vec![rank as i64 - 1]), vec![b, e]),
                _ if rank >= 2 => (Some(vec![-1, -(rank as i64)]), vec![b, 1, e, 1]),
                _ => return None,
            };
            let value = p.is("value", "withvalue").then(|| {
                let v = if p.dtype() == DType::Bool { 1.0 } else { 3.0 };
                GenInput::values(p.dtype(), vec![v]).shaped(vec![]).some()
            });
            let mut inputs = vec![data(p, shape), i64s(&pads)];
            match (value, axes) {
                (None, None) => {}
                (v, None) => inputs.push(v.flatten()),
                (v, Some(a)) => {
                    inputs.push(v.flatten());
                    inputs.push(i64s(&a));
                }
            }
            Some(GenCase::new(inputs).string("mode", mode))
        }),
    })
}

/// Split: every movable dtype, ranks 1-3, the axis first / last /
/// negative, parts from the split input (equal, unequal, one empty) or
/// num_outputs (dividing evenly or not), the axis prime or large
/// (splittable), every layout.
pub(super) fn split_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("rank", &["r1", "r2", "r3"]),
            Factor::new("axis", &["first", "last", "neglast"]),
            Factor::new(
                "parts",
                &["equal", "unequal", "withempty", "numeven", "numuneven"],
            ),
            Factor::new("size", &["n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let axis = cases::axis_of(p.get("axis"), rank)?;
            let ax = cases::resolve(axis, rank);
            let mut shape = cases::dims(rank, size_of(p.get("size")), false);
            // The split axis has the size level's length.
            shape.swap(ax, rank - 1);
            let d = shape[ax] as i64;
            let case = match p.get("parts") {
                "equal" if d % 2 == 0 => GenCase::new(vec![data(p, shape), i64s(&[d / 2, d / 2])]),
                "equal" => GenCase::new(vec![data(p, shape), i64s(&[d])]),
                "unequal" if d >= 3 => GenCase::new(vec![data(p, shape), i64s(&[1, d - 3, 2])]),
                "withempty" => GenCase::new(vec![data(p, shape), i64s(&[0, d])]),
                "numeven" => GenCase::new(vec![data(p, shape)]).int("num_outputs", 1),
                "numuneven" if d >= 3 => GenCase::new(vec![data(p, shape)]).int("num_outputs", 3),
                _ => return None,
            };
            Some(case.int("axis", axis))
        }),
    })
}

/// EyeLike: every movable dtype in, the same or another dtype out, square,
/// wide and tall inputs, the main diagonal, one above, one below or past
/// the edge, the long side 1, prime or large.
pub(super) fn eye_like_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("outdtype", &["sameout", "f32out", "i64out"]),
            Factor::new("form", &["square", "wide", "tall"]),
            Factor::new("k", &["main", "above", "below", "past"]),
            Factor::new("size", &["n1", "prime", "large"]),
        ],
        build: Box::new(|p: &Pick| {
            let s = size_of(p.get("size"));
            let shape = match p.get("form") {
                "square" if s <= 64 => vec![s, s],
                "square" => return None,
                "wide" => vec![3, s],
                _ => vec![s, 2],
            };
            let k = match p.get("k") {
                "main" => 0,
                "above" => 1,
                "below" => -1,
                _ => s as i64 + 3,
            };
            let case = GenCase::new(vec![GenInput::new(p.dtype(), shape).some()]).int("k", k);
            Some(match p.get("outdtype") {
                "sameout" => case,
                "f32out" => case.int("dtype", 1),
                _ => case.int("dtype", 7),
            })
        }),
    })
}

/// Trilu: every movable dtype, upper or lower, k omitted, 0, above, below
/// or far past the matrix, ranks 2-3, square, wide and tall matrices, the
/// long side 1, prime or large, every layout.
pub(super) fn trilu_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("triangle", &["upper", "lower"]),
            Factor::new("k", &["nok", "zero", "above", "below", "far"]),
            Factor::new("rank", &["r2", "r3"]),
            Factor::new("form", &["square", "wide", "tall"]),
            Factor::new("size", &["n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let s = size_of(p.get("size"));
            let mut shape = match p.get("form") {
                "square" if s <= 64 => vec![s, s],
                "square" => return None,
                "wide" => vec![4, s],
                _ => vec![s, 3],
            };
            if p.is("rank", "r3") {
                shape.insert(0, 2);
            }
            let k = match p.get("k") {
                "nok" => None,
                "zero" => Some(0),
                "above" => Some(2),
                "below" => Some(-1),
                _ => Some(-(s as i64) - 5),
            };
            let mut inputs = vec![data(p, shape)];
            if let Some(k) = k {
                inputs.push(
                    GenInput::values(DType::I64, vec![k as f64])
                        .shaped(vec![])
                        .some(),
                );
            }
            let case = GenCase::new(inputs);
            Some(if p.is("triangle", "lower") {
                case.int("upper", 0)
            } else {
                case
            })
        }),
    })
}

/// ScatterND: every movable dtype, reduction none / add / mul / max / min,
/// indices addressing every axis (elements) or the first (rows), unique
/// places or repeated ones (integers and max/min: exact however they are
/// ordered), ranks 1-3, the data's last dim 1, prime or large.
pub(super) fn scatter_nd_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("reduction", &["nored", "add", "mul", "max", "min"]),
            Factor::new("depth", &["elements", "rows"]),
            Factor::new("places", &["unique", "repeated"]),
            Factor::new("rank", &["r1", "r2", "r3"]),
            Factor::new("size", &["n1", "prime", "large"]),
        ],
        build: Box::new(|p: &Pick| {
            let dt = p.dtype();
            let red = p.get("reduction");
            if red != "nored" && dt == DType::Bool {
                return None;
            }
            let repeated = p.is("places", "repeated");
            let exact_anyhow = !dt.is_float() || red == "max" || red == "min";
            if repeated && (red == "nored" || !exact_anyhow) {
                return None;
            }
            let rank = cases::rank_of(p.get("rank"));
            let data = cases::dims(rank, size_of(p.get("size")), false);
            let k = if p.is("depth", "elements") { rank } else { 1 };
            // Places: walk the addressed block diagonally (distinct), or
            // write the first place twice.
            let block: Vec<usize> = data[..k].to_vec();
            let total: usize = block.iter().product();
            let count = total.min(5);
            let mut idx = Vec::new();
            for n in 0..count {
                let place = if repeated && n == count - 1 {
                    0
                } else {
                    (n * 7) % total
                };
                let mut rest = place;
                let mut tuple = vec![0i64; k];
                for a in (0..k).rev() {
                    tuple[a] = (rest % block[a]) as i64;
                    rest /= block[a];
                }
                idx.extend(tuple);
            }
            if !repeated {
                let mut seen: Vec<&[i64]> = idx.chunks(k).collect();
                seen.sort_unstable();
                seen.dedup();
                if seen.len() != count {
                    return None;
                }
            } else if count < 2 {
                return None;
            }
            let mut upd = vec![count];
            upd.extend(&data[k..]);
            let idx: Vec<f64> = idx.into_iter().map(|v| v as f64).collect();
            let mut case = GenCase::new(vec![
                GenInput::new(dt, data).some(),
                GenInput::values(DType::I64, idx)
                    .shaped(vec![count, k])
                    .some(),
                GenInput::new(dt, upd).some(),
            ]);
            if red != "nored" {
                case = case.string("reduction", red);
            }
            Some(case)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::Value;
    use super::super::testutil::*;
    use super::slice_axis;
    use crate::numerics::DType;
    use crate::ops::{AttrValue, Attributes};

    fn none() -> Attributes {
        Attributes::new()
    }

    fn seq(shape: &[usize]) -> Value {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|k| k as f64).collect();
        f(shape, &v)
    }

    fn slice1(x: &Value, s: i64, e: i64, step: i64) -> Vec<f64> {
        let y = run_opt(
            "Slice",
            &none(),
            &[
                Some(x.clone()),
                Some(i(&[1], &[s])),
                Some(i(&[1], &[e])),
                None,
                Some(i(&[1], &[step])),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        y[0].value.data.iter().copied().collect()
    }

    #[test]
    fn slice_clamps_as_slice_13_says() {
        let x = seq(&[5]);
        // Forward: starts and ends clamp to [0, 5].
        assert_eq!(slice1(&x, -100, 100, 1), [0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(slice1(&x, 1, -1, 2), [1.0, 3.0]);
        assert_eq!(slice1(&x, 4, 1, 1), Vec::<f64>::new());
        // Backward: start clamps to [0, 4], end to [-1, 4]; INT_MIN reaches 0.
        assert_eq!(
            slice1(&x, i64::MAX - 1023, i64::MIN, -1),
            [4.0, 3.0, 2.0, 1.0, 0.0]
        );
        assert_eq!(slice1(&x, 100, -100, -2), [4.0, 2.0, 0.0]);
        // -1 as an end is the last element (4), not "before 0".
        assert_eq!(slice1(&x, 4, -1, -1), Vec::<f64>::new());
        assert_eq!(slice1(&x, -1, -6, -1), [4.0, 3.0, 2.0, 1.0, 0.0]);
        assert_eq!(slice1(&x, 3, 0, -1), [3.0, 2.0, 1.0]);
        assert_eq!(slice1(&x, 0, 3, -1), Vec::<f64>::new());
        // An empty axis gives nothing either way.
        assert_eq!(slice_axis(0, -1, i64::MIN, -1).len, 0);
        assert_eq!(slice_axis(0, 0, 5, 1).len, 0);
    }

    #[test]
    fn slice_axes_steps_and_versions() {
        // ONNX's example 1: axes [0, 1], starts [1, 0], ends [2, 3], steps [1, 2].
        let x = f(&[2, 4], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        let y = run1(
            "Slice",
            &none(),
            &[
                x.clone(),
                i(&[2], &[1, 0]),
                i(&[2], &[2, 3]),
                i(&[2], &[0, 1]),
                i(&[2], &[1, 2]),
            ],
        );
        assert_eq!(y.shape(), &[1, 2]);
        close(&y.data, &[5.0, 7.0], 0.0);
        // Example 2: starts [0, 1], ends [-1, 1000] -> [[2, 3, 4]].
        let y = run1(
            "Slice",
            &none(),
            &[x.clone(), i(&[2], &[0, 1]), i(&[2], &[-1, 1000])],
        );
        close(&y.data, &[2.0, 3.0, 4.0], 0.0);
        // int32 indices; a negative axis in reverse order.
        let i32s = |v: &[f64]| t(DType::I32, &[v.len()], v);
        let y = run1(
            "Slice",
            &none(),
            &[
                x.clone(),
                i32s(&[-1.0]),
                i32s(&[-5.0]),
                i32s(&[-1.0]),
                i32s(&[-1.0]),
            ],
        );
        close(&y.data, &[4.0, 3.0, 2.0, 1.0, 8.0, 7.0, 6.0, 5.0], 0.0);
        let inputs = [
            Some(x.clone()),
            Some(i(&[1], &[0])),
            Some(i(&[1], &[1])),
            Some(i(&[1], &[-1])),
        ];
        assert!(run_at("Slice", 11, &none(), &inputs).is_ok());
        let e = run_at("Slice", 10, &none(), &inputs)
            .unwrap_err()
            .to_string();
        assert!(e.contains("negative"), "{e}");
        fails(
            "Slice",
            &none(),
            &[
                Some(x.clone()),
                Some(i(&[1], &[0])),
                Some(i(&[1], &[1])),
                None,
                Some(i(&[1], &[0])),
            ],
            "cannot be 0",
        );
        fails(
            "Slice",
            &none(),
            &[
                Some(x.clone()),
                Some(i(&[2], &[0, 0])),
                Some(i(&[2], &[1, 1])),
                Some(i(&[2], &[1, -1])),
            ],
            "twice",
        );
        fails(
            "Slice",
            &none(),
            &[Some(x), Some(i(&[2], &[0, 0])), Some(i(&[1], &[1]))],
            "must match",
        );
    }

    #[test]
    fn squeeze_and_unsqueeze_both_versions() {
        let x = seq(&[1, 3, 1]);
        assert_eq!(
            run1("Squeeze", &none(), std::slice::from_ref(&x)).shape(),
            &[3]
        );
        let y = run1("Squeeze", &none(), &[x.clone(), i(&[1], &[-1])]);
        assert_eq!(y.shape(), &[1, 3]);
        fails(
            "Squeeze",
            &none(),
            &[Some(x.clone()), Some(i(&[1], &[1]))],
            "length 3",
        );
        fails(
            "Squeeze",
            &none(),
            &[Some(x.clone()), Some(i(&[0], &[]))],
            "empty",
        );
        let a = attrs(&[("axes", AttrValue::Ints(vec![0]))]);
        let y = run_at("Squeeze", 11, &a, &[Some(x.clone())]).unwrap();
        assert_eq!(y[0].value.shape(), &[3, 1]);
        // Unsqueeze: axes name positions of the output (rank 3 + 2 = 5).
        let y = run1("Unsqueeze", &none(), &[x.clone(), i(&[2], &[4, 0])]);
        assert_eq!(y.shape(), &[1, 1, 3, 1, 1]);
        let y = run1("Unsqueeze", &none(), &[seq(&[2, 3]), i(&[1], &[-2])]);
        assert_eq!(y.shape(), &[2, 1, 3]);
        close(&y.data, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 0.0);
        fails(
            "Unsqueeze",
            &none(),
            &[Some(x.clone()), Some(i(&[2], &[1, 1]))],
            "twice",
        );
        fails(
            "Unsqueeze",
            &none(),
            &[Some(x.clone()), Some(i(&[1], &[5]))],
            "out of range",
        );
        let a = attrs(&[("axes", AttrValue::Ints(vec![1]))]);
        let y = run_at("Unsqueeze", 11, &a, &[Some(seq(&[2]))]).unwrap();
        assert_eq!(y[0].value.shape(), &[2, 1]);
        let e = run_at("Unsqueeze", 11, &none(), &[Some(seq(&[2]))]).unwrap_err();
        assert!(e.to_string().contains("axes is required"));
    }

    #[test]
    fn shape_size_flatten_identity() {
        let x = seq(&[2, 3, 4]);
        let sh = |a: &[(&str, AttrValue)]| -> Vec<f64> {
            run1("Shape", &attrs(a), std::slice::from_ref(&x))
                .data
                .iter()
                .copied()
                .collect()
        };
        assert_eq!(sh(&[]), [2.0, 3.0, 4.0]);
        assert_eq!(sh(&[("start", AttrValue::Int(-1))]), [4.0]);
        assert_eq!(sh(&[("end", AttrValue::Int(-1))]), [2.0, 3.0]);
        assert_eq!(
            sh(&[("start", AttrValue::Int(-9)), ("end", AttrValue::Int(9))]),
            [2.0, 3.0, 4.0]
        );
        assert_eq!(
            sh(&[("start", AttrValue::Int(2)), ("end", AttrValue::Int(1))]),
            Vec::<f64>::new()
        );
        let a = attrs(&[("start", AttrValue::Int(1))]);
        let e = run_at("Shape", 13, &a, &[Some(x.clone())]).unwrap_err();
        assert!(e.to_string().contains("unknown attribute start"));
        let y = run1("Size", &none(), std::slice::from_ref(&x));
        assert_eq!(
            (y.dtype, y.shape(), y.data[[]]),
            (DType::I64, &[][..], 24.0)
        );
        let fl = |axis: i64| {
            run1(
                "Flatten",
                &attrs(&[("axis", AttrValue::Int(axis))]),
                std::slice::from_ref(&x),
            )
            .shape()
            .to_vec()
        };
        assert_eq!(fl(0), [1, 24]);
        assert_eq!(fl(3), [24, 1]);
        assert_eq!(fl(-1), [6, 4]);
        assert_eq!(
            run1("Flatten", &none(), std::slice::from_ref(&x)).shape(),
            &[2, 12]
        );
        fails(
            "Flatten",
            &attrs(&[("axis", AttrValue::Int(4))]),
            &[Some(x.clone())],
            "out of range",
        );
        assert_eq!(run1("Identity", &none(), std::slice::from_ref(&x)), x);
    }

    #[test]
    fn expand_and_tile() {
        let x = f(&[3, 1], &[1.0, 2.0, 3.0]);
        let y = run1("Expand", &none(), &[x.clone(), i(&[3], &[2, 1, 2])]);
        assert_eq!(y.shape(), &[2, 3, 2]);
        close(
            &y.data,
            &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0],
            0.0,
        );
        // A 1 in the shape keeps the input's dimension (both-way broadcast).
        assert_eq!(
            run1("Expand", &none(), &[x.clone(), i(&[1], &[1])]).shape(),
            &[3, 1]
        );
        fails(
            "Expand",
            &none(),
            &[Some(x.clone()), Some(i(&[2], &[2, 2]))],
            "do not broadcast",
        );
        fails(
            "Expand",
            &none(),
            &[Some(x.clone()), Some(i(&[1], &[-1]))],
            "negative",
        );
        let y = run1("Tile", &none(), &[f(&[2], &[1.0, 2.0]), i(&[1], &[3])]);
        close(&y.data, &[1.0, 2.0, 1.0, 2.0, 1.0, 2.0], 0.0);
        let y = run1("Tile", &none(), &[x.clone(), i(&[2], &[0, 2])]);
        assert_eq!(y.shape(), &[0, 2]);
        fails(
            "Tile",
            &none(),
            &[Some(x), Some(i(&[1], &[2]))],
            "must match",
        );
    }

    #[test]
    fn range_eye_trilu() {
        let sc = |d: DType, v: f64| t(d, &[], &[v]);
        let r = |d: DType, a: f64, b: f64, c: f64| {
            run1("Range", &none(), &[sc(d, a), sc(d, b), sc(d, c)])
        };
        close(&r(DType::I64, 3.0, 9.0, 3.0).data, &[3.0, 6.0], 0.0);
        close(&r(DType::I32, 10.0, 4.0, -2.0).data, &[10.0, 8.0, 6.0], 0.0);
        close(
            &r(DType::F32, 0.25, 1.5, 0.5).data,
            &[0.25, 0.75, 1.25],
            0.0,
        );
        assert_eq!(r(DType::I64, 5.0, 1.0, 1.0).shape(), &[0]);
        // 0.1 is not an f32: its multiples are rounded once into f32.
        let y = r(DType::F32, 0.0, 0.35, f64::from(0.1f32));
        assert_eq!(y.shape(), &[4]);
        assert_eq!(y.data[[3]], f64::from(0.3f32));
        fails(
            "Range",
            &none(),
            &[
                Some(sc(DType::I64, 0.0)),
                Some(sc(DType::I64, 1.0)),
                Some(sc(DType::I64, 0.0)),
            ],
            "nonzero",
        );
        // Range-27: bf16 steps in f32 and rounds each element once (257 and
        // 259 are not bf16: they round to the even 256 and 260), and a
        // stash_type that is neither float nor double is refused.
        close(
            &r(DType::BF16, 256.0, 260.0, 1.0).data,
            &[256.0, 256.0, 258.0, 260.0],
            0.0,
        );
        let half = [
            Some(sc(DType::F16, 0.0)),
            Some(sc(DType::F16, 1.0)),
            Some(sc(DType::F16, 0.5)),
        ];
        fails(
            "Range",
            &attrs(&[("stash_type", AttrValue::Int(10))]),
            &half,
            "stash_type 10 is neither 1 (float) nor 11 (double)",
        );
        let x = seq(&[2, 3]);
        let e = run1(
            "EyeLike",
            &attrs(&[("k", AttrValue::Int(1))]),
            std::slice::from_ref(&x),
        );
        close(&e.data, &[0.0, 1.0, 0.0, 0.0, 0.0, 1.0], 0.0);
        let e = run1(
            "EyeLike",
            &attrs(&[("dtype", AttrValue::Int(7))]),
            std::slice::from_ref(&x),
        );
        assert_eq!(e.dtype, DType::I64);
        close(&e.data, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0], 0.0);
        fails("EyeLike", &none(), &[Some(seq(&[3]))], "2-D");
        let up = run1("Trilu", &none(), std::slice::from_ref(&x));
        close(&up.data, &[0.0, 1.0, 2.0, 0.0, 4.0, 5.0], 0.0);
        let low = run1(
            "Trilu",
            &attrs(&[("upper", AttrValue::Int(0))]),
            &[x.clone(), i(&[], &[-1])],
        );
        close(&low.data, &[0.0, 0.0, 0.0, 3.0, 0.0, 0.0], 0.0);
        fails("Trilu", &none(), &[Some(seq(&[3]))], "rank >= 2");
    }

    #[test]
    fn pad_every_mode() {
        let x = f(&[3], &[1.0, 2.0, 3.0]);
        let pad = |mode: &str, b: i64, e: i64| -> Vec<f64> {
            let a = attrs(&[("mode", AttrValue::String(mode.into()))]);
            run1("Pad", &a, &[x.clone(), i(&[2], &[b, e])])
                .data
                .iter()
                .copied()
                .collect()
        };
        // numpy.pad([1, 2, 3], (5, 5), mode), checked by hand against numpy.
        assert_eq!(
            pad("reflect", 5, 5),
            [
                2.0, 1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 2.0
            ]
        );
        assert_eq!(
            pad("wrap", 5, 5),
            [
                2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0
            ]
        );
        assert_eq!(pad("edge", 2, 1), [1.0, 1.0, 1.0, 2.0, 3.0, 3.0]);
        assert_eq!(pad("constant", 1, 2), [0.0, 1.0, 2.0, 3.0, 0.0, 0.0]);
        assert_eq!(pad("constant", -2, 1), [3.0, 0.0]);
        // ONNX's example 2: reflect [0, 2, 0, 0] on a 3x2 input.
        let m = f(&[3, 2], &[1.0, 1.2, 2.3, 3.4, 4.5, 5.7]);
        let a = attrs(&[("mode", AttrValue::String("reflect".into()))]);
        let y = run1("Pad", &a, &[m.clone(), i(&[4], &[0, 2, 0, 0])]);
        close(
            &y.data,
            &[1.0, 1.2, 1.0, 1.2, 2.3, 3.4, 2.3, 3.4, 4.5, 5.7, 4.5, 5.7],
            0.0,
        );
        // A constant value and axes (18+): pad axis -1 only.
        let y = run_opt(
            "Pad",
            &none(),
            &[
                Some(m.clone()),
                Some(i(&[2], &[1, 0])),
                Some(f(&[], &[9.0])),
                Some(i(&[1], &[-1])),
            ],
        )
        .unwrap();
        close(
            &y[0].value.data,
            &[9.0, 1.0, 1.2, 9.0, 2.3, 3.4, 9.0, 4.5, 5.7],
            0.0,
        );
        let wrap = attrs(&[("mode", AttrValue::String("wrap".into()))]);
        let e = run_at("Pad", 18, &wrap, &[Some(x.clone()), Some(i(&[2], &[1, 1]))]).unwrap_err();
        assert!(e.to_string().contains("not one of"), "{e}");
        let e = run_at(
            "Pad",
            13,
            &none(),
            &[
                Some(m.clone()),
                Some(i(&[2], &[1, 0])),
                None,
                Some(i(&[1], &[0])),
            ],
        )
        .unwrap_err();
        assert!(e.to_string().contains("at most 3"), "{e}");
        fails(
            "Pad",
            &a,
            &[Some(x.clone()), Some(i(&[2], &[-1, 1]))],
            "only constant mode",
        );
        fails(
            "Pad",
            &none(),
            &[Some(x.clone()), Some(i(&[2], &[-2, -2]))],
            "remove more",
        );
        fails(
            "Pad",
            &none(),
            &[Some(x.clone()), Some(i(&[3], &[1, 1, 1]))],
            "pads has 3",
        );
        fails(
            "Pad",
            &a,
            &[Some(f(&[0], &[])), Some(i(&[2], &[1, 1]))],
            "empty",
        );
        fails(
            "Pad",
            &none(),
            &[
                Some(x),
                Some(i(&[2], &[1, 1])),
                Some(t(DType::F16, &[], &[1.0])),
            ],
            "same dtype",
        );
    }

    #[test]
    fn split_versions_and_variable_outputs() {
        let x = seq(&[2, 5]);
        let a = attrs(&[
            ("axis", AttrValue::Int(-1)),
            ("num_outputs", AttrValue::Int(3)),
        ]);
        let out = run("Split", &a, std::slice::from_ref(&x)).unwrap();
        let shapes: Vec<&[usize]> = out.iter().map(|o| o.value.shape()).collect();
        assert_eq!(shapes, [&[2, 2][..], &[2, 2], &[2, 1]]);
        close(&out[2].value.data, &[4.0, 9.0], 0.0);
        let out = run(
            "Split",
            &attrs(&[("axis", AttrValue::Int(1))]),
            &[x.clone(), i(&[2], &[0, 5])],
        )
        .unwrap();
        assert_eq!(out[0].value.shape(), &[2, 0]);
        assert_eq!(out[1].value, x);
        let a11 = attrs(&[("split", AttrValue::Ints(vec![1, 1]))]);
        let out = run_at("Split", 11, &a11, &[Some(x.clone())]).unwrap();
        close(&out[1].value.data, &[5.0, 6.0, 7.0, 8.0, 9.0], 0.0);
        fails(
            "Split",
            &none(),
            &[Some(x.clone())],
            "give split or num_outputs",
        );
        fails(
            "Split",
            &none(),
            &[Some(x.clone()), Some(i(&[2], &[1, 2]))],
            "sums to 3",
        );
        let both = attrs(&[("num_outputs", AttrValue::Int(2))]);
        fails(
            "Split",
            &both,
            &[Some(x.clone()), Some(i(&[2], &[1, 1]))],
            "both",
        );
        // 5 parts of ceil(2/5) = 1 overrun an axis of 2.
        let five = attrs(&[("num_outputs", AttrValue::Int(5))]);
        fails("Split", &five, &[Some(x)], "overrun");
    }

    #[test]
    fn scatter_nd_reductions_and_versions() {
        let data = f(&[4], &[1.0, 2.0, 3.0, 4.0]);
        let idx = i(&[3, 1], &[3, 1, 3]);
        let upd = f(&[3], &[10.0, 20.0, 30.0]);
        let red = |r: &str| attrs(&[("reduction", AttrValue::String(r.into()))]);
        let go = |a: &Attributes| -> Vec<f64> {
            run1("ScatterND", a, &[data.clone(), idx.clone(), upd.clone()])
                .data
                .iter()
                .copied()
                .collect()
        };
        assert_eq!(go(&red("add")), [1.0, 22.0, 3.0, 44.0]);
        assert_eq!(go(&red("mul")), [1.0, 40.0, 3.0, 1200.0]);
        assert_eq!(go(&red("max")), [1.0, 20.0, 3.0, 30.0]);
        assert_eq!(go(&red("min")), [1.0, 2.0, 3.0, 4.0]);
        fails(
            "ScatterND",
            &none(),
            &[Some(data.clone()), Some(idx.clone()), Some(upd.clone())],
            "undefined",
        );
        // Rows: index [1] of a 2x2 replaces row 1; negative indices count back.
        let y = run1(
            "ScatterND",
            &none(),
            &[
                f(&[2, 2], &[1.0, 2.0, 3.0, 4.0]),
                i(&[1, 1], &[-1]),
                f(&[1, 2], &[8.0, 9.0]),
            ],
        );
        close(&y.data, &[1.0, 2.0, 8.0, 9.0], 0.0);
        let inputs = [Some(data.clone()), Some(idx.clone()), Some(upd.clone())];
        let e = run_at("ScatterND", 16, &red("max"), &inputs).unwrap_err();
        assert!(e.to_string().contains("not one of"), "{e}");
        assert!(run_at("ScatterND", 16, &red("add"), &inputs).is_ok());
        let e = run_at("ScatterND", 13, &red("add"), &inputs).unwrap_err();
        assert!(e.to_string().contains("unknown attribute reduction"), "{e}");
        fails(
            "ScatterND",
            &none(),
            &[
                Some(data.clone()),
                Some(i(&[1, 1], &[4])),
                Some(f(&[1], &[0.0])),
            ],
            "out of bounds",
        );
        fails(
            "ScatterND",
            &none(),
            &[
                Some(data),
                Some(i(&[1, 1], &[0])),
                Some(f(&[2], &[0.0, 0.0])),
            ],
            "need [1]",
        );
    }
}
