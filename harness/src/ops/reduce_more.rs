//! More reductions along axes: ReduceMin, ReduceProd, ReduceL1, ReduceL2,
//! ReduceLogSum, ReduceLogSumExp and ReduceSumSquare (axes as an attribute
//! at 11, as an input from 18), the attribute-axes versions of ReduceSum,
//! ReduceMean and ReduceMax (11), ArgMax and ArgMin (11; 12 adds
//! select_last_index), CumSum (11) and Hardmax (11 coerces the input to
//! 2-D; 13 works along one axis), and ReduceMax/ReduceMin-20 (bool
//! admitted).
//!
//! Opsets 12 and 13 of the Reduce* ops, ArgMax/ArgMin 13 and CumSum 14 only
//! widened the admitted dtypes; the versions here admit every numeric dtype
//! (as ReduceSum-13 does), so a model at those opsets is served by the
//! version before.

use ndarray::{ArrayD, ArrayViewMut1, Axis, IxDyn};

use super::reduce::{self, Reduction, reduce_axes, reduce_shape, reduced_terms};
use super::rules::{self, no_sum, per_input_element};
use super::spec::{T_FLOAT, T_IND, T_NUMERIC, TypeVar, fixed};
use super::{
    AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape, Value,
    finish,
};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;

/// The attributes of a Reduce* version whose axes are an attribute.
const AXES_ATTRS: &[(&str, AttrType)] = &[("axes", AttrType::Ints), ("keepdims", AttrType::Int)];

/// A Reduce* version with the axes as an attribute (ReduceSum 11-12, the
/// others 11-17).
const fn reduce_spec_attr(name: &'static str, opset: i64) -> OpSpec {
    OpSpec {
        name,
        domain: "",
        opset,
        arity: fixed(1, 0),
        input_names: &["data"],
        input_types: &[T_NUMERIC],
        outputs: 1,
        attributes: AXES_ATTRS,
    }
}

/// One Reduce* definition of this file: the axes from an attribute at 11,
/// from the optional input at 18.
const fn reduce_def(
    name: &'static str,
    opset: i64,
    oracle: super::OracleFn,
    check: CheckPolicy,
) -> OpDef {
    OpDef {
        spec: if opset >= 18 {
            reduce::reduce_spec(name, opset)
        } else {
            reduce_spec_attr(name, opset)
        },
        oracle,
        shape: reduce_shape,
        cost: per_input_element::<1>,
        check,
        terms: if matches!(check, CheckPolicy::Exact) {
            no_sum
        } else {
            reduced_terms
        },
    }
}

/// ReduceSum-11: axes as an attribute. As ReduceSum.
pub(super) const REDUCE_SUM_11: OpDef = reduce_def(
    "ReduceSum",
    11,
    |c| Ok(vec![reduce::reduce(c, Reduction::Sum)?]),
    CheckPolicy::SumBound,
);
/// ReduceMean-11: axes as an attribute. As ReduceMean.
pub(super) const REDUCE_MEAN_11: OpDef = reduce_def(
    "ReduceMean",
    11,
    |c| Ok(vec![reduce::reduce(c, Reduction::Mean)?]),
    CheckPolicy::SumBound,
);
/// ReduceMax-11: axes as an attribute. Exact.
pub(super) const REDUCE_MAX_11: OpDef = reduce_def(
    "ReduceMax",
    11,
    |c| Ok(vec![reduce::reduce(c, Reduction::Max)?]),
    CheckPolicy::Exact,
);

/// A minimum rounds nothing: exact.
pub(super) const REDUCE_MIN: OpDef = reduce_def(
    "ReduceMin",
    18,
    |c| Ok(vec![reduce_more(c, More::Min)?]),
    CheckPolicy::Exact,
);
/// As ReduceMin.
pub(super) const REDUCE_MIN_11: OpDef = reduce_def(
    "ReduceMin",
    11,
    |c| Ok(vec![reduce_more(c, More::Min)?]),
    CheckPolicy::Exact,
);
/// What ReduceMax-20 and ReduceMin-20 admit: every numeric dtype and bool
/// (ordered `false < true`).
const T_NUMERIC_BOOL: TypeVar = TypeVar {
    name: "T",
    allowed: &[
        DType::F64,
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::F8E4M3FN,
        DType::F8E5M2,
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

/// ReduceMax/ReduceMin at 20: 18's signature, bool admitted. A bool holds
/// 0 or 1, so the maximum is "any" and the minimum "all", and an empty set
/// gives the dtype's lowest (false) or highest (true) value.
const fn extreme_20(name: &'static str, oracle: super::OracleFn) -> OpDef {
    let mut def = reduce_def(name, 20, oracle, CheckPolicy::Exact);
    def.spec.input_types = &[T_NUMERIC_BOOL, T_IND];
    def
}
/// ReduceMax-20: bool admitted. Exact.
pub(super) const REDUCE_MAX_20: OpDef = extreme_20("ReduceMax", |c| {
    Ok(vec![reduce::reduce(c, Reduction::Max)?])
});
/// ReduceMin-20: bool admitted. Exact.
pub(super) const REDUCE_MIN_20: OpDef =
    extreme_20("ReduceMin", |c| Ok(vec![reduce_more(c, More::Min)?]));

/// A product of n factors: each multiplication rounds relatively, so `M =
/// |y|` with the worst-case growth `c = 4 + n` (no cancellation, no random
/// walk to count on: the roundings of a product all scale the result).
pub(super) const REDUCE_PROD: OpDef = reduce_def(
    "ReduceProd",
    18,
    |c| Ok(vec![reduce_more(c, More::Prod)?]),
    CheckPolicy::WorstCaseSumBound,
);
/// As ReduceProd.
pub(super) const REDUCE_PROD_11: OpDef = reduce_def(
    "ReduceProd",
    11,
    |c| Ok(vec![reduce_more(c, More::Prod)?]),
    CheckPolicy::WorstCaseSumBound,
);
/// A sum of |x|: the summation bound, `M = sum |x|`.
pub(super) const REDUCE_L1: OpDef = reduce_def(
    "ReduceL1",
    18,
    |c| Ok(vec![reduce_more(c, More::L1)?]),
    CheckPolicy::SumBound,
);
/// As ReduceL1.
pub(super) const REDUCE_L1_11: OpDef = reduce_def(
    "ReduceL1",
    11,
    |c| Ok(vec![reduce_more(c, More::L1)?]),
    CheckPolicy::SumBound,
);
/// The square root of a sum of squares: the sum's relative error, halved
/// by the root, `M = |y|` with the summation growth.
pub(super) const REDUCE_L2: OpDef = reduce_def(
    "ReduceL2",
    18,
    |c| Ok(vec![reduce_more(c, More::L2)?]),
    CheckPolicy::SumBound,
);
/// As ReduceL2.
pub(super) const REDUCE_L2_11: OpDef = reduce_def(
    "ReduceL2",
    11,
    |c| Ok(vec![reduce_more(c, More::L2)?]),
    CheckPolicy::SumBound,
);
/// The log of a sum: the sum's error relative to the sum becomes an
/// absolute error, `M = sum |x| / |S| + |y|` with the summation growth.
pub(super) const REDUCE_LOG_SUM: OpDef = reduce_def(
    "ReduceLogSum",
    18,
    |c| Ok(vec![reduce_more(c, More::LogSum)?]),
    CheckPolicy::SumBound,
);
/// As ReduceLogSum.
pub(super) const REDUCE_LOG_SUM_11: OpDef = reduce_def(
    "ReduceLogSum",
    11,
    |c| Ok(vec![reduce_more(c, More::LogSum)?]),
    CheckPolicy::SumBound,
);
/// `m + log sum exp(x - m)`: see [`reduce_row`] for `M`; the summation
/// growth.
pub(super) const REDUCE_LOG_SUM_EXP: OpDef = reduce_def(
    "ReduceLogSumExp",
    18,
    |c| Ok(vec![reduce_more(c, More::LogSumExp)?]),
    CheckPolicy::SumBound,
);
/// As ReduceLogSumExp.
pub(super) const REDUCE_LOG_SUM_EXP_11: OpDef = reduce_def(
    "ReduceLogSumExp",
    11,
    |c| Ok(vec![reduce_more(c, More::LogSumExp)?]),
    CheckPolicy::SumBound,
);
/// A sum of squares: the summation bound, `M = sum x^2`.
pub(super) const REDUCE_SUM_SQUARE: OpDef = reduce_def(
    "ReduceSumSquare",
    18,
    |c| Ok(vec![reduce_more(c, More::SumSquare)?]),
    CheckPolicy::SumBound,
);
/// As ReduceSumSquare.
pub(super) const REDUCE_SUM_SQUARE_11: OpDef = reduce_def(
    "ReduceSumSquare",
    11,
    |c| Ok(vec![reduce_more(c, More::SumSquare)?]),
    CheckPolicy::SumBound,
);

/// Which reduction of this file.
#[derive(Clone, Copy, PartialEq)]
enum More {
    Min,
    Prod,
    L1,
    L2,
    LogSum,
    LogSumExp,
    SumSquare,
}

/// The largest value of a dtype: ReduceMin's result over an empty set for
/// types without +inf (as the ONNX reference: the dtype's maximum).
fn highest(dtype: DType) -> f64 {
    match dtype {
        DType::I8 => i8::MAX as f64,
        DType::I16 => i16::MAX as f64,
        DType::I32 => i32::MAX as f64,
        DType::I64 => i64::MAX as f64,
        DType::U8 => u8::MAX as f64,
        DType::U16 => u16::MAX as f64,
        DType::U32 => u32::MAX as f64,
        DType::U64 => u64::MAX as f64,
        DType::Bool => 1.0,
        _ => f64::INFINITY,
    }
}

/// One reduction of `row` (empty: the reduction over the empty set) of a
/// `dtype` tensor: the exact value and the magnitude of its error model.
///
/// * Min: NaN propagates; an empty set gives +inf (the dtype's maximum for
///   integers).
/// * Prod: `M = |y|`; empty: 1.
/// * L1 `M = sum |x|`, SumSquare `M = sum x^2`, L2 `M = |y|`; empty: 0.
/// * LogSum: `log S` with `S = sum x`; `M = sum |x| / |S| + |y|` (the
///   sum's error relative to S is the log's absolute error; `|y|` for the
///   log's own rounding); empty: -inf.
/// * LogSumExp: `m + log sum_j exp(x_j - m)`, m the maximum. Rounding
///   `x_j - m` costs `u |x_j - m|`, which exp makes relative, so the sum
///   carries the weighted average `K = sum_j p_j |x_j - m|` (`p` the
///   softmax), plus the exponentials', the sum's and the log's own
///   roundings and the final addition: `M = K + 3 + |y|`. The naive
///   `log sum exp(x)` of the spec's function body (no `x - m`) is inside
///   it. An all -inf row gives -inf, a +inf gives +inf, NaN propagates;
///   empty: -inf.
fn reduce_row(kind: More, dtype: DType, row: &[f64]) -> (f64, f64) {
    match kind {
        More::Min => {
            let v = row.iter().fold(highest(dtype), |acc, &v| {
                if acc.is_nan() || v.is_nan() {
                    f64::NAN
                } else {
                    acc.min(v)
                }
            });
            (v, 0.0)
        }
        More::Prod => {
            let v: f64 = row.iter().product();
            (v, v.abs())
        }
        More::L1 => {
            let v: f64 = row.iter().map(|v| v.abs()).sum();
            (v, v)
        }
        More::SumSquare => {
            let v: f64 = row.iter().map(|v| v * v).sum();
            (v, v)
        }
        More::L2 => {
            let v = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            (v, v)
        }
        More::LogSum => {
            let s: f64 = row.iter().sum();
            let a: f64 = row.iter().map(|v| v.abs()).sum();
            let y = s.ln();
            let m = if s != 0.0 && y.is_finite() {
                a / s.abs() + y.abs()
            } else {
                0.0
            };
            (y, m)
        }
        More::LogSumExp => {
            if row.iter().any(|v| v.is_nan()) {
                return (f64::NAN, 0.0);
            }
            let m = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v));
            if m.is_infinite() {
                return (m, 0.0);
            }
            let s: f64 = row.iter().map(|&v| (v - m).exp()).sum();
            // Terms that vanish (x_j = -inf) carry no error.
            let k: f64 = row
                .iter()
                .map(|&v| {
                    let p = (v - m).exp() / s;
                    if p > 0.0 { p * (v - m).abs() } else { 0.0 }
                })
                .sum();
            let y = m + s.ln();
            (y, k + 3.0 + y.abs())
        }
    }
}

/// The rows of the reduction: X with the reduced axes moved last, as an
/// (outer, inner) matrix, and the output shape. No axes (noop) makes every
/// element its own row.
fn reduction_rows(
    call: &Call,
    x: &Value,
    axes: &[usize],
    keepdims: bool,
) -> Result<(ndarray::Array2<f64>, Vec<usize>)> {
    let shape = x.shape();
    let kept: Vec<usize> = (0..shape.len()).filter(|d| !axes.contains(d)).collect();
    let perm: Vec<usize> = kept.iter().chain(axes.iter()).copied().collect();
    let outer: usize = kept.iter().map(|&d| shape[d]).product();
    let inner: usize = axes.iter().map(|&d| shape[d]).product();
    let permuted = x.data.view().permuted_axes(IxDyn(&perm));
    let rows = permuted
        .to_shape((outer, inner))
        .map_err(|e| call.err(format!("data: {e}")))?
        .to_owned();
    let out_shape: Vec<usize> = if keepdims {
        (0..shape.len())
            .map(|d| if axes.contains(&d) { 1 } else { shape[d] })
            .collect()
    } else {
        kept.iter().map(|&d| shape[d]).collect()
    };
    Ok((rows, out_shape))
}

/// ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp,
/// ReduceSumSquare: keepdims defaults to 1; the axes come from the `axes`
/// attribute (11) or the optional input (18), absent or empty meaning every
/// axis. With `noop_with_empty_axes=1` and no axes, each element is reduced
/// alone (ONNX's reference reduces over `axis=()`): ReduceSumSquare squares,
/// ReduceL1 and ReduceL2 take |x|, ReduceLogSum takes the log, the others
/// copy. Integer outputs wrap as the dtype does ([`finish`]).
fn reduce_more(call: &Call, kind: More) -> Result<Output> {
    let x = call.input(0)?;
    let keepdims = call.int("keepdims", 1)? != 0;
    let axes = reduce_axes(call, x.shape().len())?.unwrap_or_default();
    let (rows, out_shape) = reduction_rows(call, x, &axes, keepdims)?;
    let mut value = Vec::with_capacity(rows.nrows());
    let mut magnitude = Vec::with_capacity(rows.nrows());
    for row in rows.rows() {
        let row: Vec<f64> = row.iter().copied().collect();
        let (v, m) = reduce_row(kind, x.dtype, &row);
        value.push(v);
        magnitude.push(m);
    }
    let to_array = |v: Vec<f64>| {
        ArrayD::from_shape_vec(IxDyn(&out_shape), v).map_err(|e| call.err(format!("output: {e}")))
    };
    let value = finish(x.dtype, to_array(value)?);
    Ok(if kind == More::Min {
        Output::plain(x.dtype, value)
    } else {
        Output::bounded(x.dtype, value, to_array(magnitude)?, None)
    })
}

// ------------------------------------------------------------ ArgMax, ArgMin

/// ArgMax or ArgMin at `opset`: select_last_index from 12.
const fn arg_spec(name: &'static str, opset: i64) -> OpSpec {
    OpSpec {
        name,
        domain: "",
        opset,
        arity: fixed(1, 0),
        input_names: &["data"],
        input_types: &[T_NUMERIC],
        outputs: 1,
        attributes: if opset >= 12 {
            &[
                ("axis", AttrType::Int),
                ("keepdims", AttrType::Int),
                ("select_last_index", AttrType::Int),
            ]
        } else {
            &[("axis", AttrType::Int), ("keepdims", AttrType::Int)]
        },
    }
}

/// An ArgMax/ArgMin version: an index is exact.
const fn arg_def(name: &'static str, opset: i64, max: bool) -> OpDef {
    OpDef {
        spec: arg_spec(name, opset),
        oracle: if max {
            |c| Ok(vec![arg_extreme(c, true)?])
        } else {
            |c| Ok(vec![arg_extreme(c, false)?])
        },
        shape: arg_shape,
        cost: per_input_element::<1>,
        check: CheckPolicy::Exact,
        terms: no_sum,
    }
}

/// Selection: exact (ties go to the first index, or the last with
/// select_last_index=1).
pub(super) const ARGMAX: OpDef = arg_def("ArgMax", 12, true);
/// ArgMax-11: no select_last_index (the first index wins).
pub(super) const ARGMAX_11: OpDef = arg_def("ArgMax", 11, true);
/// As ArgMax.
pub(super) const ARGMIN: OpDef = arg_def("ArgMin", 12, false);
/// As ArgMax-11.
pub(super) const ARGMIN_11: OpDef = arg_def("ArgMin", 11, false);

/// ArgMax/ArgMin's axis (default 0) for data of `shape`, and whether the
/// last index wins ties: the axis must exist and be non-empty (an empty
/// lane has no extreme), select_last_index must be 0 or 1.
fn arg_params(attrs: &Attributes, shape: &[usize]) -> std::result::Result<(usize, bool), String> {
    let axis = rules::resolve_axis("axis", attrs.int("axis", 0)?, shape.len())?;
    if shape[axis] == 0 {
        return Err(format!(
            "axis {axis} of data {shape:?} is empty: an empty lane has no extreme"
        ));
    }
    Ok((axis, rules::flag(attrs, "select_last_index", false)?))
}

/// ArgMax/ArgMin's output: int64, the axis kept as 1 (keepdims, default) or
/// dropped.
fn arg_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (_, shape) = rules::input(inputs, 0)?;
    let (axis, _) = arg_params(attrs, shape)?;
    Ok(vec![(DType::I64, kept_shape(attrs, shape, axis))])
}

/// `shape` with `axis` set to 1 (keepdims, default 1) or removed.
fn kept_shape(attrs: &Attributes, shape: &[usize], axis: usize) -> Vec<usize> {
    let mut out = shape.to_vec();
    if rules::int_attr(attrs, "keepdims", 1) != 0 {
        out[axis] = 1;
    } else {
        out.remove(axis);
    }
    out
}

/// The index of the largest (`max`) or smallest element of a lane: the
/// first of equal ones, or the last with `last`. NaN wins over every
/// number, as numpy's argmax and argmin (ONNX's reference) have it; -0 and
/// +0 are equal.
fn extreme_index<'a>(lane: impl IntoIterator<Item = &'a f64>, max: bool, last: bool) -> usize {
    let mut best: Option<(usize, f64)> = None;
    for (i, &v) in lane.into_iter().enumerate() {
        let better = match best {
            None => true,
            Some((_, b)) if b.is_nan() => last && v.is_nan(),
            Some(_) if v.is_nan() => true,
            Some((_, b)) if v == b => last,
            Some((_, b)) => (v > b) == max,
        };
        if better {
            best = Some((i, v));
        }
    }
    best.map_or(0, |(i, _)| i)
}

/// ArgMax (`max`) or ArgMin (11, 12): the index of the extreme along `axis`
/// (default 0), as int64, with keepdims (default 1).
fn arg_extreme(call: &Call, max: bool) -> Result<Output> {
    let x = call.input(0)?;
    let (axis, last) = arg_params(call.attrs, x.shape()).map_err(|m| call.err(m))?;
    let index: Vec<f64> = x
        .data
        .lanes(Axis(axis))
        .into_iter()
        .map(|lane| extreme_index(lane.iter(), max, last) as f64)
        .collect();
    let shape = kept_shape(call.attrs, x.shape(), axis);
    let value = ArrayD::from_shape_vec(IxDyn(&shape), index)
        .map_err(|e| call.err(format!("output: {e}")))?;
    Ok(Output::plain(DType::I64, value))
}

// ------------------------------------------------------------------- CumSum

/// Each element is a prefix sum: the summation bound over its own terms
/// (`M` = the prefix sum of |x|), `n` the longest axis (the axis is an
/// input the summation length cannot read).
pub(super) const CUMSUM: OpDef = OpDef {
    spec: OpSpec {
        name: "CumSum",
        domain: "",
        opset: 11,
        arity: fixed(2, 0),
        input_names: &["x", "axis"],
        input_types: &[T_NUMERIC, T_IND],
        outputs: 1,
        attributes: &[("exclusive", AttrType::Int), ("reverse", AttrType::Int)],
    },
    oracle: |c| Ok(vec![scan(c, Scan::Sum)?]),
    shape: |attrs, inputs, values| {
        let (dtype, shape) = rules::input(inputs, 0)?;
        let (_, axis_shape) = rules::input(inputs, 1)?;
        cumsum_params(attrs, shape, axis_shape, &values(1))?;
        Ok(vec![(*dtype, shape.clone())])
    },
    cost: per_input_element::<1>,
    check: CheckPolicy::SumBound,
    terms: |_, shapes, _| {
        shapes
            .first()
            .and_then(Option::as_ref)
            .and_then(|s| s.iter().max().copied())
            .unwrap_or(1)
    },
};

/// CumProd (26): as CumSum, multiplying. A prefix product's rounding
/// error grows with its length whatever the order (`gamma_n |y|`, as
/// ReduceProd's), so the worst-case bound over the product of |x|, `n`
/// the longest axis (as CumSum's).
pub(super) const CUMPROD: OpDef = OpDef {
    spec: OpSpec {
        name: "CumProd",
        opset: 26,
        ..CUMSUM.spec
    },
    oracle: |c| Ok(vec![scan(c, Scan::Prod)?]),
    check: CheckPolicy::WorstCaseSumBound,
    ..CUMSUM
};

/// CumSum's axis (from the `axis` input of `axis_shape` holding `axis`) and
/// its exclusive and reverse flags. The spec makes axis a 0-D tensor; a
/// one-element 1-D tensor is accepted too, as ONNX Runtime does.
fn cumsum_params(
    attrs: &Attributes,
    shape: &[usize],
    axis_shape: &[usize],
    axis: &[f64],
) -> std::result::Result<(usize, bool, bool), String> {
    let given = rules::ints_of("axis", axis)?;
    if axis_shape.len() > 1 || given.len() != 1 {
        return Err(format!(
            "axis must be a 0-D tensor (or 1-D with one element), got shape {axis_shape:?}"
        ));
    }
    let axis = rules::resolve_axis("axis", given[0], shape.len())?;
    let exclusive = rules::flag(attrs, "exclusive", false)?;
    let reverse = rules::flag(attrs, "reverse", false)?;
    Ok((axis, exclusive, reverse))
}

/// How a running scan combines its running value with the next element.
type Step<'a> = &'a dyn Fn(f64, f64) -> f64;

/// What a running scan does: CumSum adds, CumProd multiplies.
#[derive(Clone, Copy)]
enum Scan {
    Sum,
    Prod,
}

/// The running scan of one lane in place, `exclusive` (each element's
/// result leaves itself out: the first is the identity, 0 or 1) and
/// `reverse` (from the end) as CumSum-11 and CumProd-26 say. `step`
/// combines the running value with the next element.
fn running(
    mut lane: ArrayViewMut1<'_, f64>,
    exclusive: bool,
    reverse: bool,
    identity: f64,
    step: &dyn Fn(f64, f64) -> f64,
) {
    let n = lane.len();
    let mut acc = identity;
    for k in 0..n {
        let j = if reverse { n - 1 - k } else { k };
        let v = lane[j];
        if exclusive {
            lane[j] = acc;
            acc = step(acc, v);
        } else {
            acc = step(acc, v);
            lane[j] = acc;
        }
    }
}

/// `a * b` wrapped into the integer dtype `dtype`: the product is formed
/// in i128 (its own wrap-around is harmless, since 2^bits divides 2^128),
/// not in f64, where a product beyond 2^53 would round. Exact while the
/// wrapped running values fit f64's 53 bits (every 8- to 32-bit dtype;
/// int64 running values beyond 2^53 are beyond the f64 oracle, so the
/// generated cases multiply only 0, ±1 and ±2, whose products stay powers
/// of two).
fn wrapping_product(dtype: DType, a: f64, b: f64) -> f64 {
    wrap_exact(dtype, (a as i128).wrapping_mul(b as i128))
}

/// `v` wrapped into the integer dtype `dtype` (two's complement), exactly.
fn wrap_exact(dtype: DType, v: i128) -> f64 {
    let (bits, signed) = match dtype {
        DType::I8 => (8, true),
        DType::U8 => (8, false),
        DType::I16 => (16, true),
        DType::U16 => (16, false),
        DType::I32 => (32, true),
        DType::U32 => (32, false),
        DType::I64 => (64, true),
        _ => (64, false),
    };
    let m = v.rem_euclid(1i128 << bits);
    (if signed && m >= 1i128 << (bits - 1) {
        m - (1i128 << bits)
    } else {
        m
    }) as f64
}

/// CumSum (11) and CumProd (26): running sums or products of x along the
/// axis given as an input; `exclusive=1` leaves each element's own value
/// out (the first result is 0, or 1), `reverse=1` runs from the end.
/// Integers wrap as their dtype does (products exactly, step by step). The
/// magnitude is the same scan of |x|: a prefix sum's `sum |x|`, a prefix
/// product's `|product|`.
fn scan(call: &Call, how: Scan) -> Result<Output> {
    let x = call.input(0)?;
    let axis_shape = call.input(1)?.shape().to_vec();
    let (axis, exclusive, reverse) =
        cumsum_params(call.attrs, x.shape(), &axis_shape, &call.values(1))
            .map_err(|m| call.err(m))?;
    let dtype = x.dtype;
    let int_product = move |a: f64, b: f64| wrapping_product(dtype, a, b);
    let (identity, step, magnitude_step): (f64, Step<'_>, Step<'_>) = match how {
        Scan::Sum => (0.0, &|a, b| a + b, &|a, b| a + b),
        Scan::Prod if dtype.is_float() => (1.0, &|a, b| a * b, &|a, b| a * b),
        Scan::Prod => (1.0, &int_product, &|a, b| a * b),
    };
    let mut value = x.data.clone();
    let mut magnitude = x.data.mapv(f64::abs);
    for lane in value.lanes_mut(Axis(axis)) {
        running(lane, exclusive, reverse, identity, step);
    }
    for lane in magnitude.lanes_mut(Axis(axis)) {
        running(lane, exclusive, reverse, identity, magnitude_step);
    }
    Ok(Output::bounded(
        dtype,
        finish(dtype, value),
        magnitude,
        None,
    ))
}

// ------------------------------------------------------------------ Hardmax

/// A Hardmax version: 11 coerces the input to 2-D at `axis` (default 1),
/// 13 works along `axis` (default -1).
const fn hardmax_def(opset: i64) -> OpDef {
    OpDef {
        spec: OpSpec {
            name: "Hardmax",
            domain: "",
            opset,
            arity: fixed(1, 0),
            input_names: &["input"],
            input_types: &[T_FLOAT],
            outputs: 1,
            attributes: &[("axis", AttrType::Int)],
        },
        oracle: if opset >= 13 {
            |c| Ok(vec![hardmax(c, false)?])
        } else {
            |c| Ok(vec![hardmax(c, true)?])
        },
        shape: if opset >= 13 {
            |attrs, inputs, _| {
                let (dtype, shape) = rules::input(inputs, 0)?;
                hardmax_axis(attrs, shape, false)?;
                Ok(vec![(*dtype, shape.clone())])
            }
        } else {
            |attrs, inputs, _| {
                let (dtype, shape) = rules::input(inputs, 0)?;
                hardmax_axis(attrs, shape, true)?;
                Ok(vec![(*dtype, shape.clone())])
            }
        },
        cost: per_input_element::<1>,
        check: CheckPolicy::Exact,
        terms: no_sum,
    }
}

/// Selection: exact (the first of equal maxima is the one).
pub(super) const HARDMAX: OpDef = hardmax_def(13);
/// Hardmax-11: the input coerced to 2-D.
pub(super) const HARDMAX_11: OpDef = hardmax_def(11);

/// Hardmax's axis for an input of `shape`: default 1 for the coerced
/// version (11), -1 for 13.
fn hardmax_axis(
    attrs: &Attributes,
    shape: &[usize],
    coerced: bool,
) -> std::result::Result<usize, String> {
    let default = if coerced { 1 } else { -1 };
    rules::resolve_axis("axis", attrs.int("axis", default)?, shape.len())
}

/// Hardmax: 1 at the first maximum of each lane, 0 elsewhere (NaN ranks
/// highest, as numpy's argmax in ONNX's reference). At 13 the lanes run
/// along `axis`; at 11 (`coerced`) the input is seen as a 2-D matrix of
/// `prod(shape[..axis])` rows and each row is one lane.
fn hardmax(call: &Call, coerced: bool) -> Result<Output> {
    let x = call.input(0)?;
    let axis = hardmax_axis(call.attrs, x.shape(), coerced).map_err(|m| call.err(m))?;
    let value = if coerced {
        let inner: usize = x.shape()[axis..].iter().product();
        let flat: Vec<f64> = x.data.iter().copied().collect();
        let mut out = vec![0.0; flat.len()];
        if inner > 0 {
            for (row, o) in flat.chunks_exact(inner).zip(out.chunks_exact_mut(inner)) {
                o[extreme_index(row, true, false)] = 1.0;
            }
        }
        ArrayD::from_shape_vec(IxDyn(x.shape()), out)
            .map_err(|e| call.err(format!("output: {e}")))?
    } else {
        let mut out = ArrayD::zeros(IxDyn(x.shape()));
        if x.shape()[axis] > 0 {
            for (lane, mut o) in x
                .data
                .lanes(Axis(axis))
                .into_iter()
                .zip(out.lanes_mut(Axis(axis)))
            {
                o[extreme_index(lane.iter(), true, false)] = 1.0;
            }
        }
        out
    };
    Ok(Output::plain(x.dtype, value))
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};
use super::reduce::{axis_size, shape_with_axis};

/// The Reduce* ops of this file: ranks 1-4, the axes as first / last / -1 /
/// middle / negative / two of them / all (no `axes` input), keepdims 0 and
/// 1, the reduced axis 0, 1, prime, 1024 and 4096 long, equal and distinct
/// dims, every layout; values from `fill` (positive for ReduceLogSum, near
/// 1 for ReduceProd, so that long products neither vanish nor overflow).
fn reduce_more_space(fill: Fill, sizes: &'static [&'static str]) -> Option<CaseSpace> {
    super::reduce::reduce_space_with(fill, sizes)
}

/// Every size class, the empty axis included.
const ALL_SIZES: &[&str] = &["n0", "n1", "prime", "w1024", "w4096"];

pub(super) fn reduce_min_cases() -> Option<CaseSpace> {
    reduce_more_space(Fill::Default, &["n1", "prime", "w1024", "w4096"])
}

pub(super) fn reduce_prod_cases() -> Option<CaseSpace> {
    reduce_more_space(Fill::Uniform(0.9, 1.1), ALL_SIZES)
}

pub(super) fn reduce_l1_cases() -> Option<CaseSpace> {
    reduce_more_space(Fill::Default, ALL_SIZES)
}

pub(super) fn reduce_l2_cases() -> Option<CaseSpace> {
    reduce_more_space(Fill::Default, ALL_SIZES)
}

pub(super) fn reduce_log_sum_cases() -> Option<CaseSpace> {
    reduce_more_space(Fill::Uniform(0.5, 2.0), ALL_SIZES)
}

pub(super) fn reduce_log_sum_exp_cases() -> Option<CaseSpace> {
    reduce_more_space(Fill::Normal(3.0), ALL_SIZES)
}

pub(super) fn reduce_sum_square_cases() -> Option<CaseSpace> {
    reduce_more_space(Fill::Default, ALL_SIZES)
}

/// ArgMax and ArgMin: floats and int32/int64, ranks 1-4, the axis first /
/// last / middle / negative / -1, keepdims 0 and 1, select_last_index 0 and
/// 1, values with many ties (small integers) or few, the axis 1, prime or
/// 1024 long, every layout.
fn arg_space() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS_AND_INTS),
            Factor::new("rank", &["r1", "r2", "r3", "r4"]),
            Factor::new("axis", &["first", "last", "mid", "neg", "neglast"]),
            Factor::new("keepdims", &["keep1", "keep0"]),
            Factor::new("select", &["firstindex", "lastindex"]),
            Factor::new("values", &["ties", "spread"]),
            Factor::new("size", &["n1", "prime", "w1024"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let axis = cases::axis_of(p.get("axis"), rank)?;
            let size = axis_size(p.get("size"));
            let shape = shape_with_axis(rank, cases::resolve(axis, rank), size, false);
            let fill = match (p.is("values", "ties"), p.dtype().is_float()) {
                (true, _) => Fill::Int(-2, 2),
                (false, true) => Fill::Normal(1.0),
                (false, false) => Fill::Int(-1000, 1000),
            };
            let x = GenInput::new(p.dtype(), shape)
                .fill(fill)
                .stored(Storage::from_level(p.get("layout")));
            Some(
                GenCase::new(vec![x.some()])
                    .int("axis", axis)
                    .int("keepdims", i64::from(p.is("keepdims", "keep1")))
                    .int("select_last_index", i64::from(p.is("select", "lastindex"))),
            )
        }),
    })
}

pub(super) fn argmax_cases() -> Option<CaseSpace> {
    arg_space()
}

pub(super) fn argmin_cases() -> Option<CaseSpace> {
    arg_space()
}

/// CumSum: floats and int32/int64, ranks 1-3, the axis first / last /
/// middle / negative / -1, exclusive and reverse each 0 and 1, the axis 1,
/// prime or 1024 long, every layout.
pub(super) fn cumsum_cases() -> Option<CaseSpace> {
    scan_space(Scan::Sum)
}

/// CumProd: CumSum's space, the float values of magnitude 0.98 to 1.02
/// with either sign (a product of 1024 of them stays far from overflow
/// and underflow even in f16, and every sign pattern is met), integers
/// in [-2, 2] (whose products wrap to 0 past 2^63, exactly).
pub(super) fn cumprod_cases() -> Option<CaseSpace> {
    scan_space(Scan::Prod)
}

/// The case space of the running scans (CumSum, CumProd).
fn scan_space(how: Scan) -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS_AND_INTS),
            Factor::new("rank", &["r1", "r2", "r3"]),
            Factor::new("axis", &["first", "last", "mid", "neg", "neglast"]),
            Factor::new("exclusive", &["inclusive", "exclusive"]),
            Factor::new("reverse", &["forward", "reverse"]),
            Factor::new("size", &["n1", "prime", "w1024"]),
            cases::layout_factor(),
        ],
        build: Box::new(move |p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let axis = cases::axis_of(p.get("axis"), rank)?;
            let size = axis_size(p.get("size"));
            let shape = shape_with_axis(rank, cases::resolve(axis, rank), size, false);
            let n: usize = shape.iter().product();
            let fill = match how {
                Scan::Sum if p.dtype().is_float() => Fill::Default,
                Scan::Sum => Fill::Int(-100, 100),
                Scan::Prod if p.dtype().is_float() => Fill::Values(
                    (0..n)
                        .map(|k| {
                            let m = 1.0 + 0.04 * (((k * 37) % 41) as f64 / 40.0 - 0.5);
                            if (k * 7) % 5 < 2 { -m } else { m }
                        })
                        .collect(),
                ),
                Scan::Prod => Fill::Int(-2, 2),
            };
            let x = GenInput::new(p.dtype(), shape)
                .fill(fill)
                .stored(Storage::from_level(p.get("layout")));
            let axis_input = GenInput::values(DType::I64, vec![axis as f64]).shaped(vec![]);
            Some(
                GenCase::new(vec![x.some(), axis_input.some()])
                    .int("exclusive", i64::from(p.is("exclusive", "exclusive")))
                    .int("reverse", i64::from(p.is("reverse", "reverse"))),
            )
        }),
    })
}

/// Hardmax: ranks 1-4, the axis first / last / middle / negative / -1,
/// values with ties or without, the axis 1, prime or 1024 long, every
/// layout.
pub(super) fn hardmax_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("rank", &["r1", "r2", "r3", "r4"]),
            Factor::new("axis", &["first", "last", "mid", "neg", "neglast"]),
            Factor::new("values", &["ties", "spread"]),
            Factor::new("size", &["n1", "prime", "w1024"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let axis = cases::axis_of(p.get("axis"), rank)?;
            let size = axis_size(p.get("size"));
            let shape = shape_with_axis(rank, cases::resolve(axis, rank), size, false);
            let fill = if p.is("values", "ties") {
                Fill::Int(-2, 2)
            } else {
                Fill::Normal(1.0)
            };
            let x = GenInput::new(p.dtype(), shape)
                .fill(fill)
                .stored(Storage::from_level(p.get("layout")));
            Some(GenCase::new(vec![x.some()]).int("axis", axis))
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::numerics::DType;
    use crate::ops::{AttrValue, Attributes};

    fn x23() -> Value {
        // [[1, 2, 3], [4, 5, -6]]
        f(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, -6.0])
    }
    use super::Value;

    fn axes(list: &[i64]) -> Attributes {
        attrs(&[("axes", AttrValue::Ints(list.to_vec()))])
    }

    #[test]
    fn reductions_by_hand_at_18() {
        let none = Attributes::new();
        let a1 = || Some(i(&[1], &[1]));
        let one = |op: &str| {
            run_opt(op, &none, &[Some(x23()), a1()])
                .unwrap_or_else(|e| panic!("{e}"))
                .remove(0)
        };
        let y = one("ReduceMin");
        assert_eq!(y.value.shape(), &[2, 1]);
        close(&y.value.data, &[1.0, -6.0], 0.0);
        assert!(y.magnitude.is_none());
        let y = one("ReduceProd");
        close(&y.value.data, &[6.0, -120.0], 0.0);
        close(y.magnitude.as_ref().unwrap(), &[6.0, 120.0], 0.0);
        let y = one("ReduceL1");
        close(&y.value.data, &[6.0, 15.0], 0.0);
        close(y.magnitude.as_ref().unwrap(), &[6.0, 15.0], 0.0);
        let y = one("ReduceSumSquare");
        close(&y.value.data, &[14.0, 77.0], 0.0);
        let y = one("ReduceL2");
        close(&y.value.data, &[14f64.sqrt(), 77f64.sqrt()], 1e-15);
        // log(6) and log(3): M = sum|x| / |S| + |y|.
        let y = one("ReduceLogSum");
        close(&y.value.data, &[6f64.ln(), 3f64.ln()], 1e-15);
        close(
            y.magnitude.as_ref().unwrap(),
            &[1.0 + 6f64.ln(), 5.0 + 3f64.ln()],
            1e-15,
        );
        // log(e + e^2 + e^3) = 3 + log(1 + e^-1 + e^-2).
        let y = one("ReduceLogSumExp");
        let e = std::f64::consts::E;
        let want0 = (e + e * e + e * e * e).ln();
        let want1 = 5.0 + (1.0 + (-1f64).exp() + (-11f64).exp()).ln();
        close(&y.value.data, &[want0, want1], 1e-15);
    }

    #[test]
    fn log_sum_exp_does_not_overflow_and_keeps_infinities() {
        let none = Attributes::new();
        let x = f(&[3], &[1000.0, 1000.0, -5.0]);
        let y = run1("ReduceLogSumExp", &none, &[x]);
        close(&y.data, &[1000.0 + 2f64.ln()], 1e-15);
        let x = f(&[2], &[f64::NEG_INFINITY, f64::NEG_INFINITY]);
        let y = run1("ReduceLogSumExp", &none, &[x]);
        assert_eq!(y.data[[0]], f64::NEG_INFINITY);
        let x = f(&[2], &[f64::INFINITY, 1.0]);
        assert_eq!(
            run1("ReduceLogSumExp", &none, &[x]).data[[0]],
            f64::INFINITY
        );
        // A -inf term adds nothing, to the value or to the error model.
        let x = f(&[3], &[f64::NEG_INFINITY, 0.0, 0.0]);
        let out = run_opt("ReduceLogSumExp", &none, &[Some(x), None]).unwrap();
        close(&out[0].value.data, &[2f64.ln()], 1e-15);
        close(
            out[0].magnitude.as_ref().unwrap(),
            &[3.0 + 2f64.ln()],
            1e-15,
        );
    }

    #[test]
    fn empty_sets_and_noop() {
        let none = Attributes::new();
        let empty = || Some(f(&[2, 0], &[]));
        let ax = || Some(i(&[1], &[1]));
        let val = |op: &str| {
            run_opt(op, &none, &[empty(), ax()])
                .unwrap()
                .remove(0)
                .value
                .data[[0, 0]]
        };
        assert_eq!(val("ReduceMin"), f64::INFINITY);
        assert_eq!(val("ReduceProd"), 1.0);
        assert_eq!(val("ReduceL1"), 0.0);
        assert_eq!(val("ReduceL2"), 0.0);
        assert_eq!(val("ReduceSumSquare"), 0.0);
        assert_eq!(val("ReduceLogSum"), f64::NEG_INFINITY);
        assert_eq!(val("ReduceLogSumExp"), f64::NEG_INFINITY);
        let y = run1(
            "ReduceMin",
            &none,
            &[t(DType::I32, &[0], &[]), i(&[1], &[0])],
        );
        close(&y.data, &[i32::MAX as f64], 0.0);
        // noop with empty axes: each element reduced alone.
        let noop = attrs(&[("noop_with_empty_axes", AttrValue::Int(1))]);
        let y = run1("ReduceSumSquare", &noop, &[x23(), i(&[0], &[])]);
        assert_eq!(y.shape(), &[2, 3]);
        close(&y.data, &[1.0, 4.0, 9.0, 16.0, 25.0, 36.0], 0.0);
        let y = run_opt("ReduceL1", &noop, &[Some(x23()), None]).unwrap();
        close(&y[0].value.data, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 0.0);
        let y = run_opt("ReduceMin", &noop, &[Some(x23()), None]).unwrap();
        assert_eq!(y[0].value, x23());
    }

    #[test]
    fn min_propagates_nan() {
        let x = f(&[2, 2], &[f64::NAN, 1.0, 0.0, -1.0]);
        let y = run1("ReduceMin", &Attributes::new(), &[x, i(&[1], &[1])]);
        assert!(y.data[[0, 0]].is_nan());
        assert_eq!(y.data[[1, 0]], -1.0);
    }

    #[test]
    fn axes_as_an_attribute_at_11() {
        // ReduceMin-11 reads `axes` from the attribute and has no input.
        let keep0 = attrs(&[
            ("axes", AttrValue::Ints(vec![0])),
            ("keepdims", AttrValue::Int(0)),
        ]);
        let y = run_at("ReduceMin", 13, &keep0, &[Some(x23())]).unwrap();
        close(&y[0].value.data, &[1.0, 2.0, -6.0], 0.0);
        assert_eq!(y[0].value.shape(), &[3]);
        // No axes attribute: every axis.
        let y = run_at("ReduceSumSquare", 17, &Attributes::new(), &[Some(x23())]).unwrap();
        assert_eq!(y[0].value.shape(), &[1, 1]);
        close(&y[0].value.data, &[91.0], 0.0);
        // The older ReduceSum, ReduceMean and ReduceMax.
        let y = run_at("ReduceSum", 11, &axes(&[-1]), &[Some(x23())]).unwrap();
        close(&y[0].value.data, &[6.0, 3.0], 0.0);
        let y = run_at("ReduceMean", 17, &axes(&[1]), &[Some(x23())]).unwrap();
        close(&y[0].value.data, &[2.0, 1.0], 0.0);
        let y = run_at("ReduceMax", 13, &axes(&[0, 1]), &[Some(x23())]).unwrap();
        close(&y[0].value.data, &[5.0], 0.0);
        // ReduceSum-13 takes the axes as an input; the attribute is gone.
        let e = run_at("ReduceSum", 13, &axes(&[0]), &[Some(x23())]).unwrap_err();
        assert!(e.to_string().contains("unknown attribute axes"), "{e}");
        // At 11 there is no axes input.
        let e = run_at(
            "ReduceL1",
            11,
            &Attributes::new(),
            &[Some(x23()), Some(i(&[1], &[0]))],
        )
        .unwrap_err();
        assert!(e.to_string().contains("at most 1"), "{e}");
        let e = run_at("ReduceProd", 11, &axes(&[0, 2]), &[Some(x23())]).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
        let e = run_at("ReduceProd", 11, &axes(&[1, -1]), &[Some(x23())]).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }

    #[test]
    fn argmax_argmin_ties_and_last_index() {
        // [[1, 3, 3], [2, 2, -1]]
        let x = f(&[2, 3], &[1.0, 3.0, 3.0, 2.0, 2.0, -1.0]);
        let a1 = attrs(&[("axis", AttrValue::Int(1))]);
        let y = run1("ArgMax", &a1, std::slice::from_ref(&x));
        assert_eq!(y.dtype, DType::I64);
        assert_eq!(y.shape(), &[2, 1]);
        close(&y.data, &[1.0, 0.0], 0.0);
        let last = attrs(&[
            ("axis", AttrValue::Int(1)),
            ("select_last_index", AttrValue::Int(1)),
            ("keepdims", AttrValue::Int(0)),
        ]);
        let y = run1("ArgMax", &last, std::slice::from_ref(&x));
        assert_eq!(y.shape(), &[2]);
        close(&y.data, &[2.0, 1.0], 0.0);
        let y = run1("ArgMin", &last, std::slice::from_ref(&x));
        close(&y.data, &[0.0, 2.0], 0.0);
        // Default axis 0: column-wise.
        let y = run1("ArgMin", &Attributes::new(), std::slice::from_ref(&x));
        assert_eq!(y.shape(), &[1, 3]);
        close(&y.data, &[0.0, 1.0, 1.0], 0.0);
        // Version 11 has no select_last_index.
        let e = run_at("ArgMax", 11, &last, &[Some(x.clone())]).unwrap_err();
        assert!(e.to_string().contains("select_last_index"), "{e}");
        let y = run_at("ArgMax", 11, &a1, &[Some(x)]).unwrap();
        close(&y[0].value.data, &[1.0, 0.0], 0.0);
    }

    #[test]
    fn argmax_nan_wins_and_errors() {
        let x = f(&[4], &[1.0, f64::NAN, 7.0, f64::NAN]);
        close(
            &run1("ArgMax", &Attributes::new(), std::slice::from_ref(&x)).data,
            &[1.0],
            0.0,
        );
        close(
            &run1("ArgMin", &Attributes::new(), std::slice::from_ref(&x)).data,
            &[1.0],
            0.0,
        );
        let last = attrs(&[("select_last_index", AttrValue::Int(1))]);
        close(&run1("ArgMax", &last, &[x]).data, &[3.0], 0.0);
        fails(
            "ArgMax",
            &Attributes::new(),
            &[Some(f(&[0, 2], &[]))],
            "empty",
        );
        fails(
            "ArgMin",
            &attrs(&[("axis", AttrValue::Int(1))]),
            &[Some(f(&[3], &[0.0; 3]))],
            "out of range",
        );
        fails(
            "ArgMax",
            &attrs(&[("select_last_index", AttrValue::Int(2))]),
            &[Some(f(&[3], &[0.0; 3]))],
            "0 or 1",
        );
    }

    #[test]
    fn cumsum_exclusive_and_reverse() {
        let x = f(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, -6.0]);
        let ax = |a: i64| i(&[], &[a]);
        let run = |a: &Attributes, axis: i64| run1("CumSum", a, &[x.clone(), ax(axis)]);
        let none = Attributes::new();
        close(&run(&none, 1).data, &[1.0, 3.0, 6.0, 4.0, 9.0, 3.0], 0.0);
        close(&run(&none, 0).data, &[1.0, 2.0, 3.0, 5.0, 7.0, -3.0], 0.0);
        let excl = attrs(&[("exclusive", AttrValue::Int(1))]);
        close(&run(&excl, -1).data, &[0.0, 1.0, 3.0, 0.0, 4.0, 9.0], 0.0);
        let rev = attrs(&[("reverse", AttrValue::Int(1))]);
        close(&run(&rev, 1).data, &[6.0, 5.0, 3.0, 3.0, -1.0, -6.0], 0.0);
        let both = attrs(&[
            ("reverse", AttrValue::Int(1)),
            ("exclusive", AttrValue::Int(1)),
        ]);
        let out = run_opt("CumSum", &both, &[Some(x.clone()), Some(ax(1))]).unwrap();
        close(&out[0].value.data, &[5.0, 3.0, 0.0, -1.0, -6.0, 0.0], 0.0);
        close(
            out[0].magnitude.as_ref().unwrap(),
            &[5.0, 3.0, 0.0, 11.0, 6.0, 0.0],
            0.0,
        );
        // A one-element 1-D axis is accepted; two elements are not.
        close(
            &run1("CumSum", &none, &[x.clone(), i(&[1], &[1])]).data,
            &[1.0, 3.0, 6.0, 4.0, 9.0, 3.0],
            0.0,
        );
        fails(
            "CumSum",
            &none,
            &[Some(x.clone()), Some(i(&[2], &[0, 1]))],
            "0-D",
        );
        fails(
            "CumSum",
            &none,
            &[Some(x.clone()), Some(ax(2))],
            "out of range",
        );
        // Integers wrap.
        let xi = t(DType::I8, &[2], &[100.0, 100.0]);
        close(
            &run1("CumSum", &none, &[xi, ax(0)]).data,
            &[100.0, -56.0],
            0.0,
        );
    }

    #[test]
    fn cumprod_exclusive_reverse_and_wrapping() {
        let x = f(&[2, 3], &[1.0, 2.0, 3.0, 4.0, -5.0, 0.5]);
        let ax = |a: i64| i(&[], &[a]);
        let run = |a: &Attributes, axis: i64| run1("CumProd", a, &[x.clone(), ax(axis)]);
        let none = Attributes::new();
        close(
            &run(&none, 1).data,
            &[1.0, 2.0, 6.0, 4.0, -20.0, -10.0],
            0.0,
        );
        close(&run(&none, 0).data, &[1.0, 2.0, 3.0, 4.0, -10.0, 1.5], 0.0);
        let both = attrs(&[
            ("reverse", AttrValue::Int(1)),
            ("exclusive", AttrValue::Int(1)),
        ]);
        let out = run_opt("CumProd", &both, &[Some(x.clone()), Some(ax(-1))]).unwrap();
        close(&out[0].value.data, &[6.0, 3.0, 1.0, -2.5, 0.5, 1.0], 0.0);
        close(
            out[0].magnitude.as_ref().unwrap(),
            &[6.0, 3.0, 1.0, 2.5, 0.5, 1.0],
            0.0,
        );
        // Integer products wrap step by step: 3^40 mod 2^32, and powers of
        // two in int64 past 2^63 (exact in f64 at every step).
        let threes = t(DType::I32, &[40], &[3.0; 40]);
        let y = run1("CumProd", &none, &[threes, ax(0)]);
        assert_eq!(y.data[[39]], f64::from(3i32.wrapping_pow(40)));
        let twos = t(DType::I64, &[65], &[-2.0; 65]);
        let y = run1("CumProd", &none, &[twos, ax(0)]);
        assert_eq!(y.data[[62]], -(2f64.powi(63)));
        assert_eq!(y.data[[63]], 0.0);
        let xi = t(DType::I8, &[3], &[100.0, 3.0, -1.0]);
        close(
            &run1("CumProd", &none, &[xi, ax(0)]).data,
            &[100.0, 44.0, -44.0],
            0.0,
        );
        fails("CumProd", &none, &[Some(x), Some(ax(2))], "out of range");
    }

    #[test]
    fn hardmax_per_axis_and_coerced() {
        // [2, 2, 2]: [[[1, 3], [3, 0]], [[0, 0], [5, 1]]]
        let x = f(&[2, 2, 2], &[1.0, 3.0, 3.0, 0.0, 0.0, 0.0, 5.0, 1.0]);
        // 13, default axis -1: per pair.
        let y = run1("Hardmax", &Attributes::new(), std::slice::from_ref(&x));
        close(&y.data, &[0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0], 0.0);
        // 13, axis 1.
        let a1 = attrs(&[("axis", AttrValue::Int(1))]);
        let y = run1("Hardmax", &a1, std::slice::from_ref(&x));
        close(&y.data, &[0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0], 0.0);
        // 11, default axis 1: rows of 4 (the first 3 of [1, 3, 3, 0] wins).
        let y = run_at("Hardmax", 11, &Attributes::new(), &[Some(x.clone())]).unwrap();
        close(
            &y[0].value.data,
            &[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            0.0,
        );
        // 11, axis 0: one row of 8.
        let a0 = attrs(&[("axis", AttrValue::Int(0))]);
        let y = run_at("Hardmax", 11, &a0, &[Some(x)]).unwrap();
        close(
            &y[0].value.data,
            &[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            0.0,
        );
    }
}
