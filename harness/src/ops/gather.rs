//! Indexing and data movement by index tensors (issue 17): GatherElements,
//! GatherND, ScatterElements, DepthToSpace, SpaceToDepth, OneHot,
//! ReverseSequence. Values
//! are copied (or, for ScatterElements' reductions, combined one step at a
//! time in the dtype, as ScatterND's are), never computed otherwise, so
//! every check is `exact`.
//!
//! Each op's validity and output shape come from one `*_plan` function
//! that both the shape rule and the oracle call, so they cannot judge a
//! call differently; the plans also give the flat offset in the data that
//! every output element copies (or every update lands on). An index out of
//! its axis' range `[-s, s-1]` is an error naming the index and the axis
//! (OneHot is the exception the spec makes: such an index gives a row of
//! off values).
//!
//! Versions (ONNX Changelog): GatherElements 11 and 13, DepthToSpace 11
//! (mode) and 13, SpaceToDepth 1 and 13, GatherND 12 and 13 only widened
//! the dtypes, so each has its newest version plus the one that serves
//! opset 11, sharing semantics and the newest type constraints (xpucert's
//! dtypes are a subset), as Slice and ScatterND do in `indexing.rs`.
//! GatherND-11 has no `batch_dims` (12 adds it), ScatterElements gains
//! reductions add and mul at 16 and max and min at 18, each its own
//! definition. OneHot-11 (negative indices) is the version from 11 on,
//! ReverseSequence-10 the only one.

use ndarray::{ArrayD, IxDyn};

use super::indexing::{scatter_reduction, scatter_step};
use super::rules;
use super::spec::{T_ANY, TypeVar, fixed};
use super::{AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape};
use crate::numerics::DType;

/// `Tind` of GatherElements and ScatterElements: int32 or int64.
const T_IDX: TypeVar = TypeVar {
    name: "Tind",
    allowed: &[DType::I32, DType::I64],
};
/// GatherND's indices: `tensor(int64)`.
const T_I64: TypeVar = TypeVar {
    name: "tensor(int64)",
    allowed: &[DType::I64],
};
/// OneHot's numeric types (its `T1`, `T2`): ONNX lists the integers,
/// float16, float and double (no bfloat16, no fp8).
const ONE_HOT_NUMERIC: &[DType] = &[
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
];
/// OneHot's `T3` (the values and the output): the numeric types and bool.
const ONE_HOT_VALUES: &[DType] = &[
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
];

/// A shape rule's value reader.
type Values<'a> = &'a mut dyn FnMut(usize) -> Vec<f64>;
/// A shape rule's result.
type Shapes = std::result::Result<Vec<TypedShape>, String>;
/// A plan's result: the message is the shape rule's and the oracle's.
type Plan<T> = std::result::Result<T, String>;

/// A data-movement op with one output: exact, no FLOPs.
#[allow(clippy::too_many_arguments)]
const fn def(
    name: &'static str,
    opset: i64,
    arity: super::Arity,
    inputs: &'static [&'static str],
    types: &'static [TypeVar],
    attributes: &'static [(&'static str, AttrType)],
    oracle: super::OracleFn,
    shape: super::ShapeFn,
) -> OpDef {
    super::indexing::def(
        name, opset, arity, inputs, types, 1, attributes, oracle, shape,
    )
}

/// The same definition at an older opset whose semantics are the same.
const fn at(def: OpDef, opset: i64) -> OpDef {
    OpDef {
        spec: OpSpec { opset, ..def.spec },
        ..def
    }
}

// ---------------------------------------------------------------- definitions

const ELEMENTS_INPUTS: &[&str] = &["data", "indices"];
const ELEMENTS_TYPES: &[TypeVar] = &[T_ANY, T_IDX];

pub(super) const GATHER_ELEMENTS: OpDef = def(
    "GatherElements",
    13,
    fixed(2, 0),
    ELEMENTS_INPUTS,
    ELEMENTS_TYPES,
    &[("axis", AttrType::Int)],
    |c| Ok(vec![gather_elements_eval(c)?]),
    gather_elements_shape,
);
pub(super) const GATHER_ELEMENTS_11: OpDef = at(GATHER_ELEMENTS, 11);

const ND_INPUTS: &[&str] = &["data", "indices"];
const ND_TYPES: &[TypeVar] = &[T_ANY, T_I64];

pub(super) const GATHER_ND: OpDef = def(
    "GatherND",
    13,
    fixed(2, 0),
    ND_INPUTS,
    ND_TYPES,
    &[("batch_dims", AttrType::Int)],
    |c| Ok(vec![gather_nd_eval(c, 13)?]),
    |a, s, v| gather_nd_shape(a, s, v, 13),
);
pub(super) const GATHER_ND_12: OpDef = at(GATHER_ND, 12);
pub(super) const GATHER_ND_11: OpDef = def(
    "GatherND",
    11,
    fixed(2, 0),
    ND_INPUTS,
    ND_TYPES,
    &[],
    |c| Ok(vec![gather_nd_eval(c, 11)?]),
    |a, s, v| gather_nd_shape(a, s, v, 11),
);

const SCATTER_INPUTS: &[&str] = &["data", "indices", "updates"];
const SCATTER_TYPES: &[TypeVar] = &[T_ANY, T_IDX, T_ANY];
const SCATTER_ATTRS: &[(&str, AttrType)] =
    &[("axis", AttrType::Int), ("reduction", AttrType::String)];

pub(super) const SCATTER_ELEMENTS: OpDef = def(
    "ScatterElements",
    18,
    fixed(3, 0),
    SCATTER_INPUTS,
    SCATTER_TYPES,
    SCATTER_ATTRS,
    |c| Ok(vec![scatter_elements_eval(c, 18)?]),
    |a, s, v| scatter_elements_shape(a, s, v, 18),
);
pub(super) const SCATTER_ELEMENTS_16: OpDef = def(
    "ScatterElements",
    16,
    fixed(3, 0),
    SCATTER_INPUTS,
    SCATTER_TYPES,
    SCATTER_ATTRS,
    |c| Ok(vec![scatter_elements_eval(c, 16)?]),
    |a, s, v| scatter_elements_shape(a, s, v, 16),
);
pub(super) const SCATTER_ELEMENTS_13: OpDef = def(
    "ScatterElements",
    13,
    fixed(3, 0),
    SCATTER_INPUTS,
    SCATTER_TYPES,
    &[("axis", AttrType::Int)],
    |c| Ok(vec![scatter_elements_eval(c, 13)?]),
    |a, s, v| scatter_elements_shape(a, s, v, 13),
);
pub(super) const SCATTER_ELEMENTS_11: OpDef = at(SCATTER_ELEMENTS_13, 11);

pub(super) const DEPTH_TO_SPACE: OpDef = def(
    "DepthToSpace",
    13,
    fixed(1, 0),
    &["input"],
    &[T_ANY],
    &[("blocksize", AttrType::Int), ("mode", AttrType::String)],
    |c| Ok(vec![depth_to_space_eval(c)?]),
    |a, s, _| {
        let (dtype, _) = rules::input(s, 0)?;
        Ok(vec![(*dtype, depth_to_space_plan(a, s)?.0)])
    },
);
pub(super) const DEPTH_TO_SPACE_11: OpDef = at(DEPTH_TO_SPACE, 11);

pub(super) const SPACE_TO_DEPTH: OpDef = def(
    "SpaceToDepth",
    13,
    fixed(1, 0),
    &["input"],
    &[T_ANY],
    &[("blocksize", AttrType::Int)],
    |c| Ok(vec![space_to_depth_eval(c)?]),
    |a, s, _| {
        let (dtype, _) = rules::input(s, 0)?;
        Ok(vec![(*dtype, space_to_depth_plan(a, s)?.0)])
    },
);
pub(super) const SPACE_TO_DEPTH_1: OpDef = at(SPACE_TO_DEPTH, 1);

pub(super) const ONE_HOT: OpDef = def(
    "OneHot",
    11,
    fixed(3, 0),
    &["indices", "depth", "values"],
    &[
        TypeVar {
            name: "T1",
            allowed: ONE_HOT_NUMERIC,
        },
        TypeVar {
            name: "T2",
            allowed: ONE_HOT_NUMERIC,
        },
        TypeVar {
            name: "T3",
            allowed: ONE_HOT_VALUES,
        },
    ],
    &[("axis", AttrType::Int)],
    |c| Ok(vec![one_hot_eval(c)?]),
    |a, s, v| {
        let (dtype, _) = rules::input(s, 2)?;
        Ok(vec![(*dtype, one_hot_plan(a, s, v)?.2)])
    },
);

pub(super) const REVERSE_SEQUENCE: OpDef = def(
    "ReverseSequence",
    10,
    fixed(2, 0),
    &["input", "sequence_lens"],
    &[T_ANY, T_I64],
    &[("batch_axis", AttrType::Int), ("time_axis", AttrType::Int)],
    |c| Ok(vec![reverse_sequence_eval(c)?]),
    |a, s, v| {
        let (dtype, x) = rules::input(s, 0)?;
        reverse_sequence_plan(a, s, v)?;
        Ok(vec![(*dtype, x.clone())])
    },
);

// ------------------------------------------------------------------ helpers

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        s[a] = s[a + 1] * shape[a + 1];
    }
    s
}

/// An index `v` into an axis of length `s`, resolved (negative counts from
/// the end), or the error naming it.
fn resolve_index(v: i64, s: usize, what: impl FnOnce() -> String) -> Plan<usize> {
    let n = s as i64;
    if !(-n..n).contains(&v) {
        return Err(format!(
            "index {v} {} is out of bounds for an axis of length {s} (accepted: {} to {})",
            what(),
            -n,
            n - 1
        ));
    }
    Ok(if v < 0 { v + n } else { v } as usize)
}

/// The data offsets of an elementwise index (GatherElements,
/// ScatterElements): entry `p` of `indices` (shape `ind`, values `idx`)
/// addresses the data element whose coordinate along `axis` is `idx[p]`
/// and whose other coordinates are `p`'s own. So `indices` must have the
/// data's rank, and outside the axis each of its dims must fit in the
/// data's (equal dims, as ONNX's examples have, or smaller, as ONNX
/// Runtime and PyTorch's gather accept).
fn element_offsets(data: &[usize], ind: &[usize], axis: usize, idx: &[i64]) -> Plan<Vec<usize>> {
    if ind.len() != data.len() {
        return Err(format!(
            "indices {ind:?} have rank {}, data {data:?} rank {}: they must be equal",
            ind.len(),
            data.len()
        ));
    }
    if let Some(d) = (0..data.len()).find(|&d| d != axis && ind[d] > data[d]) {
        return Err(format!(
            "indices {ind:?} are longer than data {data:?} on axis {d}, which is not the \
             indexed axis {axis}: there an entry's own coordinate must exist in data"
        ));
    }
    let ds = strides(data);
    let mut coord = vec![0usize; ind.len()];
    let mut out = Vec::with_capacity(idx.len());
    for &v in idx {
        let c = resolve_index(v, data[axis], || format!("at {coord:?} on axis {axis}"))?;
        let mut o = c * ds[axis];
        for d in (0..ind.len()).filter(|&d| d != axis) {
            o += coord[d] * ds[d];
        }
        out.push(o);
        for d in (0..ind.len()).rev() {
            coord[d] += 1;
            if coord[d] < ind[d] {
                break;
            }
            coord[d] = 0;
        }
    }
    Ok(out)
}

/// Reads the flat values of `v` at `offsets`, as a tensor of `shape`.
fn pick(v: &super::Value, offsets: &[usize], shape: &[usize]) -> ArrayD<f64> {
    let flat: Vec<f64> = v.data.iter().copied().collect();
    let data: Vec<f64> = offsets.iter().map(|&o| flat[o]).collect();
    ArrayD::from_shape_vec(IxDyn(shape), data).expect("the plan's shape")
}

// ----------------------------------------------------------- GatherElements

/// GatherElements' plan: the axis (default 0) and, per output element (the
/// output has the indices' shape), the data offset it copies.
fn gather_elements_plan(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
) -> Plan<Vec<usize>> {
    let (_, data) = rules::input(inputs, 0)?;
    let (_, ind) = rules::input(inputs, 1)?;
    let axis = rules::resolve_axis("axis", attrs.int("axis", 0)?, data.len())?;
    let idx = rules::ints_of("indices", &values(1))?;
    element_offsets(data, ind, axis, &idx)
}

fn gather_elements_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
) -> Shapes {
    let (dtype, _) = rules::input(inputs, 0)?;
    let (_, ind) = rules::input(inputs, 1)?;
    gather_elements_plan(attrs, inputs, values)?;
    Ok(vec![(*dtype, ind.clone())])
}

/// GatherElements (11, 13): `out[p] = data[p with p[axis] = indices[p]]`.
fn gather_elements_eval(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let ind = call.input(1)?.shape().to_vec();
    let offsets = gather_elements_plan(call.attrs, &call.typed_shapes(), &mut |i| call.values(i))
        .map_err(|m| call.err(m))?;
    Ok(Output::plain(x.dtype, pick(x, &offsets, &ind)))
}

// ----------------------------------------------------------------- GatherND

/// GatherND's plan: the output shape, the data offset of every gathered
/// slice (one per index tuple, in order) and the slice length. At 11
/// `batch_dims` does not exist (0); from 12 the first `b` dims of data and
/// indices are batch dims (equal in both) and each tuple indexes its own
/// batch's data. The rules are the spec's five: r >= 1, q >= 1, equal
/// batch dims, b < min(q, r), 1 <= indices.shape[-1] <= r - b, every index
/// within its axis.
fn gather_nd_plan(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    opset: i64,
) -> Plan<(Vec<usize>, Vec<usize>, usize)> {
    let (_, data) = rules::input(inputs, 0)?;
    let (_, ind) = rules::input(inputs, 1)?;
    let (r, q) = (data.len(), ind.len());
    if r == 0 || q == 0 {
        return Err(format!(
            "data {data:?} and indices {ind:?} must both have rank >= 1"
        ));
    }
    let b = if opset >= 12 {
        attrs.int("batch_dims", 0)?
    } else {
        0
    };
    if b < 0 || b as usize >= r.min(q) {
        return Err(format!(
            "batch_dims {b} must be at least 0 and less than both ranks (data {r}, indices {q})"
        ));
    }
    let b = b as usize;
    if data[..b] != ind[..b] {
        return Err(format!(
            "the first {b} (batch) dims of data {data:?} and indices {ind:?} differ"
        ));
    }
    let k = ind[q - 1];
    if k < 1 || k > r - b {
        return Err(format!(
            "indices.shape[-1] is {k}: it must be from 1 to rank(data) - batch_dims = {}",
            r - b
        ));
    }
    let mut out = ind[..q - 1].to_vec();
    out.extend(&data[b + k..]);
    let slice: usize = data[b + k..].iter().product();
    let batch_stride: usize = data[b..].iter().product();
    let ds = strides(data);
    let tuples: usize = ind[..q - 1].iter().product();
    let per_batch: usize = ind[b..q - 1].iter().product();
    let idx = rules::ints_of("indices", &values(1))?;
    let mut starts = Vec::with_capacity(tuples);
    for n in 0..tuples {
        let mut o = (n / per_batch) * batch_stride;
        for a in 0..k {
            let c = resolve_index(idx[n * k + a], data[b + a], || {
                format!("(tuple {n}) on axis {} of data {data:?}", b + a)
            })?;
            o += c * ds[b + a];
        }
        starts.push(o);
    }
    Ok((out, starts, slice))
}

fn gather_nd_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    opset: i64,
) -> Shapes {
    let (dtype, _) = rules::input(inputs, 0)?;
    Ok(vec![(
        *dtype,
        gather_nd_plan(attrs, inputs, values, opset)?.0,
    )])
}

/// GatherND (11, 12, 13): the slices the index tuples name, one after the
/// other.
fn gather_nd_eval(call: &Call, opset: i64) -> Result<Output> {
    let x = call.input(0)?;
    let (shape, starts, slice) = gather_nd_plan(
        call.attrs,
        &call.typed_shapes(),
        &mut |i| call.values(i),
        opset,
    )
    .map_err(|m| call.err(m))?;
    let offsets: Vec<usize> = starts.iter().flat_map(|&s| s..s + slice).collect();
    Ok(Output::plain(x.dtype, pick(x, &offsets, &shape)))
}

// ---------------------------------------------------------- ScatterElements

/// ScatterElements' plan: the reduction and, per update (the updates have
/// the indices' shape), the data offset it lands on, in order. With
/// reduction none two updates of one place leave the result undefined in
/// ONNX ("indices should not have duplicate entries"), so the call is
/// refused, as ScatterND's is.
fn scatter_elements_plan(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    opset: i64,
) -> Plan<(String, Vec<usize>)> {
    let (dtype, data) = rules::input(inputs, 0)?;
    let (_, ind) = rules::input(inputs, 1)?;
    let (ud, upd) = rules::input(inputs, 2)?;
    if ud != dtype {
        return Err(format!(
            "updates are {ud}, data is {dtype}: they must match"
        ));
    }
    let reduction = scatter_reduction(attrs, "ScatterElements", opset, *dtype)?;
    let axis = rules::resolve_axis("axis", attrs.int("axis", 0)?, data.len())?;
    if upd != ind {
        return Err(format!(
            "updates have shape {upd:?}, indices {ind:?}: they must be equal"
        ));
    }
    let idx = rules::ints_of("indices", &values(1))?;
    let offsets = element_offsets(data, ind, axis, &idx)?;
    if reduction == "none" {
        let mut seen = offsets.clone();
        seen.sort_unstable();
        if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "two updates write data element {} with reduction none, which ONNX leaves \
                 undefined",
                w[0]
            ));
        }
    }
    Ok((reduction, offsets))
}

fn scatter_elements_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    opset: i64,
) -> Shapes {
    let (dtype, data) = rules::input(inputs, 0)?;
    scatter_elements_plan(attrs, inputs, values, opset)?;
    Ok(vec![(*dtype, data.clone())])
}

/// ScatterElements (11, 13, 16, 18): a copy of the data with every update
/// written (or combined, each step in the dtype: `scatter_step`) at the
/// place its index names, in the updates' order.
fn scatter_elements_eval(call: &Call, opset: i64) -> Result<Output> {
    let x = call.input(0)?;
    let (reduction, offsets) = scatter_elements_plan(
        call.attrs,
        &call.typed_shapes(),
        &mut |i| call.values(i),
        opset,
    )
    .map_err(|m| call.err(m))?;
    let mut out: Vec<f64> = x.data.iter().copied().collect();
    for (&o, &u) in offsets.iter().zip(&call.values(2)) {
        out[o] = scatter_step(&reduction, x.dtype, out[o], u);
    }
    let y = ArrayD::from_shape_vec(IxDyn(x.shape()), out).expect("the data's shape");
    Ok(Output::plain(x.dtype, y))
}

// ------------------------------------------------ DepthToSpace, SpaceToDepth

/// The required `blocksize` of a 4-D input (`[N, C, H, W]`): at least 1.
fn blocksize(attrs: &Attributes, x: &[usize]) -> Plan<usize> {
    if x.len() != 4 {
        return Err(format!("input must be 4-D [N, C, H, W], got {x:?}"));
    }
    if !attrs.contains_key("blocksize") {
        return Err("attribute blocksize is required".into());
    }
    let b = attrs.int("blocksize", 0)?;
    if b < 1 {
        return Err(format!("blocksize must be at least 1, got {b}"));
    }
    Ok(b as usize)
}

/// DepthToSpace's plan: the output shape `[N, C/b², H·b, W·b]`, the block
/// size and whether the mode is CRD (column-row-depth: the channel index is
/// `c·b² + i·b + j`) rather than DCR (depth-column-row, the default:
/// `(i·b + j)·C/b² + c`), where (i, j) is the place in the b×b block.
fn depth_to_space_plan(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
) -> Plan<(Vec<usize>, usize, bool)> {
    let (_, x) = rules::input(inputs, 0)?;
    let b = blocksize(attrs, x)?;
    let crd = match attrs.string("mode", "DCR")? {
        "DCR" => false,
        "CRD" => true,
        m => return Err(format!("mode must be \"DCR\" or \"CRD\", got {m:?}")),
    };
    if x[1] % (b * b) != 0 {
        return Err(format!(
            "the channels ({}) must be a multiple of blocksize² ({})",
            x[1],
            b * b
        ));
    }
    Ok((vec![x[0], x[1] / (b * b), x[2] * b, x[3] * b], b, crd))
}

/// DepthToSpace (11, 13): the channels of each pixel spread over a b×b block.
fn depth_to_space_eval(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let (shape, b, crd) =
        depth_to_space_plan(call.attrs, &call.typed_shapes()).map_err(|m| call.err(m))?;
    let (cin, h, w) = (x.shape()[1], x.shape()[2], x.shape()[3]);
    let (c_out, ho, wo) = (shape[1], shape[2], shape[3]);
    let mut offsets = Vec::with_capacity(shape.iter().product());
    for n in 0..shape[0] {
        for c in 0..c_out {
            for y in 0..ho {
                for z in 0..wo {
                    let (i, j) = (y % b, z % b);
                    let ch = if crd {
                        c * b * b + i * b + j
                    } else {
                        (i * b + j) * c_out + c
                    };
                    offsets.push(((n * cin + ch) * h + y / b) * w + z / b);
                }
            }
        }
    }
    Ok(Output::plain(x.dtype, pick(x, &offsets, &shape)))
}

/// SpaceToDepth's plan: the output shape `[N, C·b², H/b, W/b]` and the
/// block size; H and W must be multiples of it.
fn space_to_depth_plan(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
) -> Plan<(Vec<usize>, usize)> {
    let (_, x) = rules::input(inputs, 0)?;
    let b = blocksize(attrs, x)?;
    if x[2] % b != 0 || x[3] % b != 0 {
        return Err(format!(
            "height {} and width {} must be multiples of blocksize {b}",
            x[2], x[3]
        ));
    }
    Ok((vec![x[0], x[1] * b * b, x[2] / b, x[3] / b], b))
}

/// SpaceToDepth (1, 13): each b×b block becomes channels, the block place
/// (i, j) outermost: output channel `(i·b + j)·C + c` (DepthToSpace DCR's
/// inverse).
fn space_to_depth_eval(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let (shape, b) =
        space_to_depth_plan(call.attrs, &call.typed_shapes()).map_err(|m| call.err(m))?;
    let (cin, h, w) = (x.shape()[1], x.shape()[2], x.shape()[3]);
    let mut offsets = Vec::with_capacity(shape.iter().product());
    for n in 0..shape[0] {
        for oc in 0..shape[1] {
            let (i, j, c) = (oc / (b * cin), (oc / cin) % b, oc % cin);
            for y in 0..shape[2] {
                for z in 0..shape[3] {
                    offsets.push(((n * cin + c) * h + y * b + i) * w + z * b + j);
                }
            }
        }
    }
    Ok(Output::plain(x.dtype, pick(x, &offsets, &shape)))
}

// ------------------------------------------------------------------- OneHot

/// OneHot's plan: the axis (in the output, `[-r-1, r]` for indices of rank
/// r, default -1), the depth and the output shape. depth is a scalar or a
/// one-element 1-D tensor, cast to int64 (truncated) as the spec says, and
/// must be at least 1; values is `[off, on]`, two elements.
fn one_hot_plan(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
) -> Plan<(usize, usize, Vec<usize>)> {
    let (_, ind) = rules::input(inputs, 0)?;
    let (_, dshape) = rules::input(inputs, 1)?;
    let (_, vshape) = rules::input(inputs, 2)?;
    if !(dshape.is_empty() || dshape == &[1]) {
        return Err(format!(
            "depth must be a scalar or a one-element 1-D tensor, got shape {dshape:?}"
        ));
    }
    if vshape != &[2] {
        return Err(format!(
            "values must be [off_value, on_value], shape [2], got shape {vshape:?}"
        ));
    }
    let d = values(1)[0];
    if !d.is_finite() || d.trunc() < 1.0 {
        return Err(format!(
            "depth must be at least 1 (after the cast to int64), got {d}"
        ));
    }
    let depth = d.trunc() as usize;
    let r = ind.len() as i64;
    let a = attrs.int("axis", -1)?;
    if !(-r - 1..=r).contains(&a) {
        return Err(format!(
            "axis {a} is out of range for indices of rank {r} (accepted: {} to {r})",
            -r - 1
        ));
    }
    let axis = if a < 0 { a + r + 1 } else { a } as usize;
    let mut out = ind[..axis].to_vec();
    out.push(depth);
    out.extend(&ind[axis..]);
    Ok((axis, depth, out))
}

/// OneHot (11): off everywhere but at each index's place along the new
/// axis, which gets on. Indices are cast to int64 (truncated: the spec's
/// "casted to int64" for float indices); a negative one counts from the
/// end; one outside `[-depth, depth-1]` (or not finite) leaves its row all
/// off.
fn one_hot_eval(call: &Call) -> Result<Output> {
    let ind = call.input(0)?;
    let vals = call.input(2)?;
    let (axis, depth, shape) =
        one_hot_plan(call.attrs, &call.typed_shapes(), &mut |i| call.values(i))
            .map_err(|m| call.err(m))?;
    let (off, on) = (call.values(2)[0], call.values(2)[1]);
    let inner: usize = ind.shape()[axis..].iter().product();
    let mut out = vec![off; shape.iter().product()];
    let d = depth as f64;
    for (p, &v) in ind.data.iter().enumerate() {
        let v = v.trunc();
        if !v.is_finite() || v < -d || v >= d {
            continue;
        }
        let k = if v < 0.0 { v + d } else { v } as usize;
        let (o, i) = (p / inner, p % inner);
        out[(o * depth + k) * inner + i] = on;
    }
    let y = ArrayD::from_shape_vec(IxDyn(&shape), out).expect("the plan's shape");
    Ok(Output::plain(vals.dtype, y))
}

// ---------------------------------------------------------- ReverseSequence

/// ReverseSequence's plan: the offset every output element copies. The
/// input has rank >= 2; batch_axis and time_axis are 0 and 1 (either way
/// round, the defaults 1 and 0); sequence_lens has one length per batch,
/// each from 0 to the time axis' length.
fn reverse_sequence_plan(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
) -> Plan<Vec<usize>> {
    let (_, x) = rules::input(inputs, 0)?;
    let (_, lens_shape) = rules::input(inputs, 1)?;
    if x.len() < 2 {
        return Err(format!("input must have rank >= 2, got {x:?}"));
    }
    let (b, t) = (attrs.int("batch_axis", 1)?, attrs.int("time_axis", 0)?);
    if !matches!((b, t), (0, 1) | (1, 0)) {
        return Err(format!(
            "batch_axis and time_axis must be 0 and 1 (one each), got {b} and {t}"
        ));
    }
    let (b, t) = (b as usize, t as usize);
    if lens_shape != &[x[b]] {
        return Err(format!(
            "sequence_lens has shape {lens_shape:?}, the batch axis needs [{}]",
            x[b]
        ));
    }
    let lens = rules::ints_of("sequence_lens", &values(1))?;
    if let Some((i, l)) = lens
        .iter()
        .enumerate()
        .find(|&(_, &l)| !(0..=x[t] as i64).contains(&l))
    {
        return Err(format!(
            "sequence_lens[{i}] is {l}, outside 0 to the time axis' length {}",
            x[t]
        ));
    }
    let st = strides(x);
    let n: usize = x.iter().product();
    Ok((0..n)
        .map(|o| {
            let (bi, ti) = ((o / st[b]) % x[b], (o / st[t]) % x[t]);
            let l = lens[bi] as usize;
            if ti < l {
                o - ti * st[t] + (l - 1 - ti) * st[t]
            } else {
                o
            }
        })
        .collect())
}

/// ReverseSequence (10): each batch's first `sequence_lens[i]` steps
/// reversed along the time axis, the rest copied.
fn reverse_sequence_eval(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let offsets = reverse_sequence_plan(call.attrs, &call.typed_shapes(), &mut |i| call.values(i))
        .map_err(|m| call.err(m))?;
    Ok(Output::plain(x.dtype, pick(x, &offsets, x.shape())))
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};

/// Every dtype xpucert has: data movement takes them all (floats, fp8,
/// every integer width, bool).
const EVERY: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I64,
    DType::I32,
    DType::I16,
    DType::I8,
    DType::U64,
    DType::U32,
    DType::U16,
    DType::U8,
    DType::Bool,
    DType::F8E4M3FN,
    DType::F8E5M2,
];

/// The length of the dimension a size level is about.
fn size_of(level: &str) -> usize {
    match level {
        "n1" => 1,
        "prime" => 7,
        "large" => 1031,
        other => panic!("`{other}` is not a size level"),
    }
}

/// The index dtype of an `indextype` level.
fn index_type(level: &str) -> DType {
    match level {
        "i64idx" => DType::I64,
        "i32idx" => DType::I32,
        other => panic!("`{other}` is not an index type level"),
    }
}

/// A data input of `shape` stored as the `layout` level says.
fn data(p: &Pick, shape: Vec<usize>) -> Option<GenInput> {
    GenInput::new(p.dtype(), shape)
        .stored(Storage::from_level(p.get("layout")))
        .some()
}

/// Data of `rank` whose axis `axis` is `size` long and whose other dims
/// are small and distinct.
fn data_shape(rank: usize, axis: usize, size: usize) -> Vec<usize> {
    let mut shape = cases::dims(rank, size, false);
    shape.swap(axis, rank - 1);
    shape
}

/// GatherElements: every dtype, ranks 1-3, the axis first / last / middle
/// / negative / -1, indices of the data's shape, narrower than the data
/// off the axis (and of another length on it), or empty, int64 or int32,
/// with or without negative indices, the indexed axis 1, prime or large,
/// every layout.
pub(super) fn gather_elements_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(EVERY),
            Factor::new("rank", &["r1", "r2", "r3"]),
            Factor::new("axis", &["first", "last", "mid", "neg", "neglast"]),
            Factor::new("ishape", &["same", "narrow", "iempty"]),
            Factor::new("indextype", &["i64idx", "i32idx"]),
            Factor::new("sign", &["posidx", "negidx"]),
            Factor::new("size", &["n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let axis = cases::axis_of(p.get("axis"), rank)?;
            let ax = cases::resolve(axis, rank);
            let s = size_of(p.get("size"));
            let shape = data_shape(rank, ax, s);
            let mut ind = shape.clone();
            match p.get("ishape") {
                "narrow" => {
                    for (d, v) in ind.iter_mut().enumerate() {
                        *v = if d == ax { 4 } else { (*v - 1).max(1) };
                    }
                }
                "iempty" => ind[ax] = 0,
                _ => {}
            }
            let n = s as i64;
            let low = if p.is("sign", "negidx") { -n } else { 0 };
            Some(
                GenCase::new(vec![
                    data(p, shape),
                    GenInput::new(index_type(p.get("indextype")), ind)
                        .fill(Fill::Int(low, n - 1))
                        .some(),
                ])
                .int("axis", axis),
            )
        }),
    })
}

/// The literal values of `count` index tuples of `k` indices into the
/// axes `axes` (lengths): a deterministic walk that differs per tuple and
/// per axis, every other index spelled negative when `negative`.
fn tuples(count: usize, axes: &[usize], negative: bool) -> Vec<f64> {
    let mut out = Vec::with_capacity(count * axes.len());
    for n in 0..count {
        for (a, &s) in axes.iter().enumerate() {
            let v = ((n * 5 + a * 3 + 1) % s) as i64;
            let v = if negative && (n + a) % 2 == 0 {
                v - s as i64
            } else {
                v
            };
            out.push(v as f64);
        }
    }
    out
}

/// GatherND: every dtype, data of rank 1-4, batch_dims 0-2, index tuples
/// addressing every non-batch axis (elements) or only the first (slices),
/// one / a vector / a matrix of tuples per batch, with or without negative
/// indices, the last data axis 1, prime or large, every layout.
pub(super) fn gather_nd_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(EVERY),
            Factor::new("rank", &["r1", "r2", "r3", "r4"]),
            Factor::new("batch", &["b0", "b1", "b2"]),
            Factor::new("depth", &["kfull", "kone"]),
            Factor::new("lead", &["lnone", "lvec", "lmat"]),
            Factor::new("sign", &["posidx", "negidx"]),
            Factor::new("size", &["n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let r = cases::rank_of(p.get("rank"));
            let b: usize = p.get("batch")[1..].parse().expect("batch level");
            if b >= r {
                return None;
            }
            let k = if p.is("depth", "kfull") { r - b } else { 1 };
            if p.is("depth", "kone") && r - b == 1 {
                // The same case as kfull.
                return None;
            }
            let shape = cases::dims(r, size_of(p.get("size")), false);
            let lead: &[usize] = match p.get("lead") {
                "lvec" => &[3],
                "lmat" => &[2, 2],
                _ => &[],
            };
            let mut ind = shape[..b].to_vec();
            ind.extend(lead);
            ind.push(k);
            let count: usize = ind[..ind.len() - 1].iter().product();
            let idx = tuples(count, &shape[b..b + k], p.is("sign", "negidx"));
            let mut case = GenCase::new(vec![
                data(p, shape),
                GenInput::values(DType::I64, idx).shaped(ind).some(),
            ]);
            if b > 0 {
                case = case.int("batch_dims", b as i64);
            }
            Some(case)
        }),
    })
}

/// ScatterElements: every dtype, each reduction, distinct places or one
/// place written twice (only where the result does not depend on the order:
/// integers, max, min; ScatterND's rule), ranks 1-3, the axis first / last
/// / middle / negative / -1, int64 or int32 indices, with or without
/// negative ones, the indexed axis 1, prime or large, every layout.
pub(super) fn scatter_elements_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(EVERY),
            Factor::new("reduction", &["nored", "add", "mul", "max", "min"]),
            Factor::new("places", &["unique", "repeated"]),
            Factor::new("rank", &["r1", "r2", "r3"]),
            Factor::new("axis", &["first", "last", "mid", "neg", "neglast"]),
            Factor::new("indextype", &["i64idx", "i32idx"]),
            Factor::new("sign", &["posidx", "negidx"]),
            Factor::new("size", &["n1", "prime", "large"]),
            cases::layout_factor(),
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
            let axis = cases::axis_of(p.get("axis"), rank)?;
            let ax = cases::resolve(axis, rank);
            let s = size_of(p.get("size"));
            let shape = data_shape(rank, ax, s);
            // Along the axis: 3 distinct places per lane (the lane's
            // number shifts them), or 2 updates of one place.
            let m = if repeated { 2 } else { s.min(3) };
            let mut ind = shape.clone();
            ind[ax] = m;
            let inner: usize = ind[ax + 1..].iter().product();
            let negative = p.is("sign", "negidx");
            let total: usize = ind.iter().product();
            let idx: Vec<f64> = (0..total)
                .map(|e| {
                    let j = (e / inner) % m;
                    let lane = (e / (inner * m)) * inner + e % inner;
                    let v = if repeated { lane % s } else { (j + lane) % s } as i64;
                    let v = if negative && j.is_multiple_of(2) {
                        v - s as i64
                    } else {
                        v
                    };
                    v as f64
                })
                .collect();
            let mut case = GenCase::new(vec![
                data(p, shape),
                GenInput::values(index_type(p.get("indextype")), idx)
                    .shaped(ind.clone())
                    .some(),
                GenInput::new(dt, ind).some(),
            ])
            .int("axis", axis);
            if red != "nored" {
                case = case.string("reduction", red);
            }
            Some(case)
        }),
    })
}

/// The `[N, C, H, W]` dims of a space level: one pixel, a 2x3 image or a
/// 5x7 one (prime, so a kernel that swaps H and W is caught).
fn space_of(level: &str) -> (usize, usize) {
    match level {
        "px1" => (1, 1),
        "rect" => (2, 3),
        "primes" => (5, 7),
        other => panic!("`{other}` is not a space level"),
    }
}

/// DepthToSpace: every dtype, both modes, blocksize 1-3, 1 or 3 output
/// channels, batch 1 or 2, a pixel / 2x3 / 5x7 input, every layout.
pub(super) fn depth_to_space_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(EVERY),
            Factor::new("mode", &["dcr", "crd"]),
            Factor::new("block", &["bs1", "bs2", "bs3"]),
            Factor::new("chans", &["c1", "c3"]),
            Factor::new("batch", &["nb1", "nb2"]),
            Factor::new("space", &["px1", "rect", "primes"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let b: usize = p.get("block")[2..].parse().expect("block level");
            let c: usize = p.get("chans")[1..].parse().expect("chans level");
            let n: usize = p.get("batch")[2..].parse().expect("batch level");
            let (h, w) = space_of(p.get("space"));
            let mode = if p.is("mode", "crd") { "CRD" } else { "DCR" };
            Some(
                GenCase::new(vec![data(p, vec![n, c * b * b, h, w])])
                    .int("blocksize", b as i64)
                    .string("mode", mode),
            )
        }),
    })
}

/// SpaceToDepth: every dtype, blocksize 1-3, 1 or 3 channels, batch 1 or
/// 2, blocks of a pixel / 2x3 / 5x7, every layout.
pub(super) fn space_to_depth_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(EVERY),
            Factor::new("block", &["bs1", "bs2", "bs3"]),
            Factor::new("chans", &["c1", "c3"]),
            Factor::new("batch", &["nb1", "nb2"]),
            Factor::new("space", &["px1", "rect", "primes"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let b: usize = p.get("block")[2..].parse().expect("block level");
            let c: usize = p.get("chans")[1..].parse().expect("chans level");
            let n: usize = p.get("batch")[2..].parse().expect("batch level");
            let (h, w) = space_of(p.get("space"));
            Some(GenCase::new(vec![data(p, vec![n, c, h * b, w * b])]).int("blocksize", b as i64))
        }),
    })
}

/// OneHot: every values dtype, indices of int64 / int32 / uint8 / float /
/// float16, depth of int64 / int32 / float, as a scalar or a one-element
/// vector, indices of rank 0-3, the new axis first / last / -1 / -r-1 /
/// middle, indices in range, negative or partly out of range (rows of
/// off), depth 1, prime or large.
pub(super) fn one_hot_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(ONE_HOT_VALUES),
            Factor::new(
                "indextype",
                &["i64idx", "i32idx", "u8idx", "f32idx", "f16idx"],
            ),
            Factor::new("depthtype", &["i64depth", "i32depth", "f32depth"]),
            Factor::new("depthshape", &["dscalar", "dvec"]),
            Factor::new("rank", &["r0", "r1", "r2", "r3"]),
            Factor::new("axis", &["first", "last", "neglast", "negfirst", "mid"]),
            Factor::new("range", &["inrange", "negidx", "outrange"]),
            Factor::new("size", &["n1", "prime", "large"]),
        ],
        build: Box::new(|p: &Pick| {
            let r = cases::rank_of(p.get("rank"));
            let ri = r as i64;
            let axis = match p.get("axis") {
                "first" => 0,
                "last" => ri,
                "neglast" => -1,
                "negfirst" => -ri - 1,
                _ if r >= 2 => 1,
                _ => return None,
            };
            let d = size_of(p.get("size"));
            let it = match p.get("indextype") {
                "i32idx" => DType::I32,
                "u8idx" => DType::U8,
                "f32idx" => DType::F32,
                "f16idx" => DType::F16,
                _ => DType::I64,
            };
            let di = d as i64;
            let (low, high) = match p.get("range") {
                "negidx" => (-di, di - 1),
                "outrange" => (-di - 3, di + 3),
                _ => (0, di - 1),
            };
            // uint8 indices hold neither negatives nor more than 255.
            let (low, high) = if it == DType::U8 {
                if p.is("range", "negidx") {
                    return None;
                }
                (0, high.min(255))
            } else {
                (low, high)
            };
            let shape: Vec<usize> = [3, 2, 4][..r].to_vec();
            let dt_depth = match p.get("depthtype") {
                "i32depth" => DType::I32,
                "f32depth" => DType::F32,
                _ => DType::I64,
            };
            let depth = GenInput::values(dt_depth, vec![d as f64]);
            let depth = if p.is("depthshape", "dscalar") {
                depth.shaped(vec![])
            } else {
                depth
            };
            let dt = p.dtype();
            let (off, on) = if dt == DType::Bool {
                (0.0, 1.0)
            } else if dt.is_float()
                || matches!(dt, DType::I8 | DType::I16 | DType::I32 | DType::I64)
            {
                (3.0, -2.0)
            } else {
                (3.0, 7.0)
            };
            Some(
                GenCase::new(vec![
                    GenInput::new(it, shape).fill(Fill::Int(low, high)).some(),
                    depth.some(),
                    GenInput::values(dt, vec![off, on]).some(),
                ])
                .int("axis", axis),
            )
        }),
    })
}

/// ReverseSequence: every dtype, time-major (the defaults) or
/// batch-major, rank 2-4, lengths all full, mixed (0, 1, full, between)
/// or all zero, the time axis 1, prime or large, every layout.
pub(super) fn reverse_sequence_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(EVERY),
            Factor::new("major", &["timemajor", "batchmajor"]),
            Factor::new("rank", &["r2", "r3", "r4"]),
            Factor::new("lens", &["full", "mixed", "zeros"]),
            Factor::new("size", &["n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let steps = size_of(p.get("size"));
            let batch = 4;
            let time_major = p.is("major", "timemajor");
            let (t, b) = if time_major { (0, 1) } else { (1, 0) };
            let mut shape = cases::dims(rank, 3, false);
            shape[t] = steps;
            shape[b] = batch;
            let lens: Vec<f64> = (0..batch)
                .map(|i| match p.get("lens") {
                    "full" => steps,
                    "zeros" => 0,
                    _ => [0, 1, steps, steps / 2 + 1][i].min(steps),
                } as f64)
                .collect();
            let mut case = GenCase::new(vec![
                data(p, shape),
                GenInput::values(DType::I64, lens).some(),
            ]);
            if !time_major {
                case = case.int("batch_axis", 0).int("time_axis", 1);
            }
            Some(case)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::numerics::DType;
    use crate::ops::{AttrValue, Attributes};

    fn axis(a: i64) -> Attributes {
        attrs(&[("axis", AttrValue::Int(a))])
    }

    fn vals(v: &super::super::Value) -> Vec<f64> {
        v.data.iter().copied().collect()
    }

    #[test]
    fn gather_elements_by_hand() {
        // The spec's example 1: axis 1.
        let data = f(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let y = run1(
            "GatherElements",
            &axis(1),
            &[data, i(&[2, 2], &[0, 0, 1, 0])],
        );
        assert_eq!(vals(&y), [1.0, 1.0, 4.0, 3.0]);
        // Axis 0, negative indices, indices narrower than data off the
        // axis and longer on it: out[i][j] = data[idx[i][j]][j].
        let data = f(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let y = run1(
            "GatherElements",
            &Attributes::new(),
            &[data.clone(), i(&[3, 2], &[-1, 0, 0, 1, 1, -2])],
        );
        assert_eq!(y.shape(), [3, 2]);
        assert_eq!(vals(&y), [4.0, 2.0, 1.0, 5.0, 4.0, 2.0]);
        fails(
            "GatherElements",
            &Attributes::new(),
            &[Some(data.clone()), Some(i(&[1, 2], &[2, 0]))],
            "index 2 at [0, 0] on axis 0 is out of bounds for an axis of length 2",
        );
        fails(
            "GatherElements",
            &Attributes::new(),
            &[Some(data.clone()), Some(i(&[1, 4], &[0, 0, 0, 0]))],
            "longer than data",
        );
        fails(
            "GatherElements",
            &Attributes::new(),
            &[Some(data.clone()), Some(i(&[2], &[0, 0]))],
            "rank",
        );
        fails(
            "GatherElements",
            &axis(2),
            &[Some(data), Some(i(&[1, 1], &[0]))],
            "axis 2 is out of range",
        );
        let at11 = run_at(
            "GatherElements",
            11,
            &axis(1),
            &[Some(f(&[1, 2], &[5.0, 6.0])), Some(i(&[1, 1], &[1]))],
        )
        .unwrap();
        assert_eq!(vals(&at11[0].value), [6.0]);
    }

    #[test]
    fn gather_nd_by_hand() {
        let none = Attributes::new();
        let d2 = f(&[2, 2], &[0.0, 1.0, 2.0, 3.0]);
        // The spec's examples 1 and 2.
        let y = run1("GatherND", &none, &[d2.clone(), i(&[2, 2], &[0, 0, 1, 1])]);
        assert_eq!((y.shape(), vals(&y)), (&[2][..], vec![0.0, 3.0]));
        let y = run1("GatherND", &none, &[d2.clone(), i(&[2, 1], &[1, 0])]);
        assert_eq!(vals(&y), [2.0, 3.0, 0.0, 1.0]);
        // Example 5: batch_dims 1; each tuple indexes its own batch.
        let d3 = f(&[2, 2, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let b1 = attrs(&[("batch_dims", AttrValue::Int(1))]);
        let y = run1("GatherND", &b1, &[d3.clone(), i(&[2, 1], &[1, 0])]);
        assert_eq!(
            (y.shape(), vals(&y)),
            (&[2, 2][..], vec![2.0, 3.0, 4.0, 5.0])
        );
        // Negative indices count from the end.
        let y = run1("GatherND", &none, &[d3.clone(), i(&[1, 3], &[-1, 0, -1])]);
        assert_eq!(vals(&y), [5.0]);
        fails(
            "GatherND",
            &none,
            &[Some(d2.clone()), Some(i(&[1, 2], &[0, 2]))],
            "index 2 (tuple 0) on axis 1",
        );
        fails(
            "GatherND",
            &b1,
            &[Some(d3.clone()), Some(i(&[1, 1], &[0]))],
            "batch",
        );
        fails(
            "GatherND",
            &b1,
            &[Some(d3.clone()), Some(i(&[2, 3], &[0; 6]))],
            "from 1 to rank(data) - batch_dims = 2",
        );
        fails(
            "GatherND",
            &attrs(&[("batch_dims", AttrValue::Int(2))]),
            &[Some(d3.clone()), Some(i(&[2, 2], &[0; 4]))],
            "less than both ranks",
        );
        // GatherND-11 has no batch_dims.
        let e = run_at("GatherND", 11, &b1, &[Some(d3), Some(i(&[2, 1], &[1, 0]))]).unwrap_err();
        assert!(
            e.to_string().contains("unknown attribute batch_dims"),
            "{e}"
        );
    }

    #[test]
    fn scatter_elements_by_hand() {
        // The spec's example 1.
        let data = f(&[3, 3], &[0.0; 9]);
        let idx = i(&[2, 3], &[1, 0, 2, 0, 2, 1]);
        let upd = f(&[2, 3], &[1.0, 1.1, 1.2, 2.0, 2.1, 2.2]);
        let y = run1("ScatterElements", &Attributes::new(), &[data, idx, upd]);
        assert_eq!(vals(&y), [2.0, 1.1, 0.0, 1.0, 0.0, 2.2, 0.0, 2.1, 1.2]);
        // Example 2: axis 1, and reductions in index order.
        let data = f(&[1, 5], &[1.0, 2.0, 3.0, 4.0, 5.0]);
        let idx = i(&[1, 3], &[1, 3, -2]);
        let upd = f(&[1, 3], &[1.0, 3.0, 2.0]);
        let red = |r: &str| {
            attrs(&[
                ("axis", AttrValue::Int(1)),
                ("reduction", AttrValue::String(r.into())),
            ])
        };
        let go = |a: &Attributes| {
            vals(&run1(
                "ScatterElements",
                a,
                &[data.clone(), idx.clone(), upd.clone()],
            ))
        };
        assert_eq!(go(&red("add")), [1.0, 3.0, 3.0, 9.0, 5.0]);
        assert_eq!(go(&red("mul")), [1.0, 2.0, 3.0, 24.0, 5.0]);
        assert_eq!(go(&red("max")), [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(go(&red("min")), [1.0, 1.0, 3.0, 2.0, 5.0]);
        fails(
            "ScatterElements",
            &axis(1),
            &[Some(data.clone()), Some(idx.clone()), Some(upd.clone())],
            "undefined",
        );
        let inputs = [Some(data.clone()), Some(idx.clone()), Some(upd.clone())];
        let e = run_at("ScatterElements", 16, &red("max"), &inputs).unwrap_err();
        assert!(e.to_string().contains("not one of"), "{e}");
        assert!(run_at("ScatterElements", 16, &red("add"), &inputs).is_ok());
        let e = run_at("ScatterElements", 13, &red("add"), &inputs).unwrap_err();
        assert!(e.to_string().contains("unknown attribute reduction"), "{e}");
        // Integers wrap step by step.
        let y = run1(
            "ScatterElements",
            &attrs(&[("reduction", AttrValue::String("add".into()))]),
            &[
                t(DType::I8, &[1], &[100.0]),
                i(&[2], &[0, 0]),
                t(DType::I8, &[2], &[20.0, 10.0]),
            ],
        );
        assert_eq!(vals(&y), [-126.0]);
        fails(
            "ScatterElements",
            &axis(1),
            &[
                Some(data.clone()),
                Some(i(&[1, 1], &[5])),
                Some(f(&[1, 1], &[0.0])),
            ],
            "index 5 at [0, 0] on axis 1 is out of bounds",
        );
        fails(
            "ScatterElements",
            &axis(1),
            &[
                Some(data),
                Some(i(&[1, 1], &[0])),
                Some(f(&[1, 2], &[0.0, 0.0])),
            ],
            "must be equal",
        );
        fails(
            "ScatterElements",
            &red("add"),
            &[
                Some(t(DType::Bool, &[1, 1], &[1.0])),
                Some(i(&[1, 1], &[0])),
                Some(t(DType::Bool, &[1, 1], &[1.0])),
            ],
            "not defined on bool",
        );
    }

    #[test]
    fn depth_to_space_modes_differ_as_the_spec_says() {
        // x = [1, 8, 1, 1] with channels 0..8, blocksize 2: 2 output
        // channels of 2x2. DCR: out[c][i][j] = x[(i*2+j)*2 + c];
        // CRD: out[c][i][j] = x[c*4 + i*2 + j].
        let x = f(&[1, 8, 1, 1], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let b = |mode: &str| {
            attrs(&[
                ("blocksize", AttrValue::Int(2)),
                ("mode", AttrValue::String(mode.into())),
            ])
        };
        let dcr = run1("DepthToSpace", &b("DCR"), std::slice::from_ref(&x));
        assert_eq!(dcr.shape(), [1, 2, 2, 2]);
        assert_eq!(vals(&dcr), [0.0, 2.0, 4.0, 6.0, 1.0, 3.0, 5.0, 7.0]);
        let crd = run1("DepthToSpace", &b("CRD"), std::slice::from_ref(&x));
        assert_eq!(vals(&crd), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let default = attrs(&[("blocksize", AttrValue::Int(2))]);
        assert_eq!(
            vals(&run1("DepthToSpace", &default, std::slice::from_ref(&x))),
            vals(&dcr)
        );
        // SpaceToDepth is DCR's inverse.
        let back = run1("SpaceToDepth", &default, &[dcr]);
        assert_eq!(back.shape(), [1, 8, 1, 1]);
        assert_eq!(vals(&back), vals(&x));
        // Two pixels wide: the block column moves with w.
        let x2 = f(&[1, 4, 1, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let y = run1("DepthToSpace", &b("CRD"), &[x2]);
        assert_eq!(vals(&y), [0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]);
        fails("DepthToSpace", &b("DRC"), &[Some(x.clone())], "mode");
        fails(
            "DepthToSpace",
            &Attributes::new(),
            &[Some(x.clone())],
            "blocksize is required",
        );
        fails(
            "DepthToSpace",
            &attrs(&[("blocksize", AttrValue::Int(3))]),
            &[Some(x.clone())],
            "multiple of blocksize",
        );
        fails(
            "SpaceToDepth",
            &default,
            &[Some(x)],
            "multiples of blocksize",
        );
        fails("SpaceToDepth", &default, &[Some(f(&[4], &[0.0; 4]))], "4-D");
    }

    #[test]
    fn reverse_sequence_examples() {
        let x = f(&[4, 4], &(0..16).map(f64::from).collect::<Vec<_>>());
        // Example 2 of the spec: batch-major.
        let bm = attrs(&[
            ("batch_axis", AttrValue::Int(0)),
            ("time_axis", AttrValue::Int(1)),
        ]);
        let y = run1("ReverseSequence", &bm, &[x.clone(), i(&[4], &[1, 2, 3, 4])]);
        #[rustfmt::skip]
        let want = [
            0.0, 1.0, 2.0, 3.0,
            5.0, 4.0, 6.0, 7.0,
            10.0, 9.0, 8.0, 11.0,
            15.0, 14.0, 13.0, 12.0,
        ];
        assert_eq!(vals(&y), want);
        // Time-major (the defaults): column j reverses its first lens[j].
        let y = run1(
            "ReverseSequence",
            &Attributes::new(),
            &[x.clone(), i(&[4], &[4, 0, 2, 1])],
        );
        #[rustfmt::skip]
        let want = [
            12.0, 1.0, 6.0, 3.0,
            8.0, 5.0, 2.0, 7.0,
            4.0, 9.0, 10.0, 11.0,
            0.0, 13.0, 14.0, 15.0,
        ];
        assert_eq!(vals(&y), want);
        fails(
            "ReverseSequence",
            &Attributes::new(),
            &[Some(x.clone()), Some(i(&[4], &[5, 0, 0, 0]))],
            "sequence_lens[0] is 5",
        );
        fails(
            "ReverseSequence",
            &Attributes::new(),
            &[Some(x.clone()), Some(i(&[3], &[1, 1, 1]))],
            "needs [4]",
        );
        let same = attrs(&[("batch_axis", AttrValue::Int(0))]);
        fails(
            "ReverseSequence",
            &same,
            &[Some(x), Some(i(&[4], &[1; 4]))],
            "must be 0 and 1",
        );
    }

    #[test]
    fn one_hot_by_hand() {
        let values = f(&[2], &[0.5, 9.0]);
        let depth = |d: f64| t(DType::F32, &[], &[d]);
        // Indices [1, -1, 3, 7] with depth 4 (as 4.7: cast to int64):
        // -1 is 3, 7 is out of range (a row of off).
        let y = run1(
            "OneHot",
            &Attributes::new(),
            &[i(&[4], &[1, -1, 3, 7]), depth(4.7), values.clone()],
        );
        assert_eq!(y.shape(), [4, 4]);
        #[rustfmt::skip]
        let want = [
            0.5, 9.0, 0.5, 0.5,
            0.5, 0.5, 0.5, 9.0,
            0.5, 0.5, 0.5, 9.0,
            0.5, 0.5, 0.5, 0.5,
        ];
        assert_eq!(vals(&y), want);
        // Axis 0: the one-hot axis first; float indices truncate.
        let y = run1(
            "OneHot",
            &axis(0),
            &[
                f(&[2], &[2.9, -0.5]),
                t(DType::I64, &[1], &[3.0]),
                values.clone(),
            ],
        );
        assert_eq!(y.shape(), [3, 2]);
        assert_eq!(vals(&y), [0.5, 9.0, 0.5, 0.5, 9.0, 0.5]);
        // Axis 1 of rank-2 indices: output [2, depth, 2].
        let y = run1(
            "OneHot",
            &axis(-2),
            &[
                i(&[2, 2], &[0, 1, 1, 0]),
                depth(2.0),
                t(DType::Bool, &[2], &[0.0, 1.0]),
            ],
        );
        assert_eq!((y.dtype, y.shape()), (DType::Bool, &[2, 2, 2][..]));
        assert_eq!(vals(&y), [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0]);
        let ind = Some(i(&[2], &[0, 1]));
        fails(
            "OneHot",
            &Attributes::new(),
            &[ind.clone(), Some(depth(0.5)), Some(values.clone())],
            "at least 1",
        );
        fails(
            "OneHot",
            &axis(2),
            &[ind.clone(), Some(depth(2.0)), Some(values.clone())],
            "axis 2 is out of range",
        );
        fails(
            "OneHot",
            &Attributes::new(),
            &[
                ind.clone(),
                Some(f(&[2], &[2.0, 2.0])),
                Some(values.clone()),
            ],
            "depth must be a scalar",
        );
        fails(
            "OneHot",
            &Attributes::new(),
            &[ind, Some(depth(2.0)), Some(f(&[3], &[0.0; 3]))],
            "values must be",
        );
    }
}
