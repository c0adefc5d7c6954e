//! Reductions along axes: ReduceSum/Mean/Max, Softmax/LogSoftmax and TopK.

use std::cmp::Ordering;

use ndarray::{ArrayD, Axis, IxDyn, Zip};

use super::rules::{self, dim_from_end, int_attr, no_flops, no_sum, norm_axis, per_input_element};
use super::spec::{T_FLOAT, T_IND, T_NUMERIC, fixed};
use super::{
    AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape, Value,
    finish,
};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;

const REDUCE_ATTRS: &[(&str, AttrType)] = &[
    ("keepdims", AttrType::Int),
    ("noop_with_empty_axes", AttrType::Int),
];

/// A Reduce* op of `opset`, axes as an input (ReduceSum from 13, the rest
/// from 18).
pub(super) const fn reduce_spec(name: &'static str, opset: i64) -> OpSpec {
    OpSpec {
        name,
        domain: "",
        opset,
        arity: fixed(1, 1),
        input_names: &["data", "axes"],
        input_types: &[T_NUMERIC, T_IND],
        outputs: 1,
        attributes: REDUCE_ATTRS,
    }
}

/// Softmax or LogSoftmax.
const fn softmax_spec(name: &'static str) -> OpSpec {
    OpSpec {
        name,
        domain: "",
        opset: 13,
        arity: fixed(1, 0),
        input_names: &["input"],
        input_types: &[T_FLOAT],
        outputs: 1,
        attributes: &[("axis", AttrType::Int)],
    }
}

/// Terms per output element of a Reduce*: input elements over output elements.
pub(super) fn reduced_terms(_: &Attributes, shapes: &[Option<Vec<usize>>], out: &[usize]) -> usize {
    let n: usize = shapes
        .first()
        .and_then(|s| s.as_ref())
        .map(|s| s.iter().product())
        .unwrap_or(1);
    let m: usize = out.iter().product();
    n / m.max(1)
}

/// Terms per output element of Softmax: the length of its axis.
fn softmax_terms(attrs: &Attributes, shapes: &[Option<Vec<usize>>], _: &[usize]) -> usize {
    let rank = shapes.first().and_then(|s| s.as_ref()).map_or(0, Vec::len) as i64;
    let axis = int_attr(attrs, "axis", -1);
    let axis = if axis < 0 { axis + rank } else { axis };
    usize::try_from(axis).map_or(1, |a| dim_from_end(shapes, 0, rank as usize - a))
}

/// A sum of n terms: `bound` with `c = 4 + 2 sqrt(n)`.
pub(super) const REDUCE_SUM: OpDef = OpDef {
    spec: reduce_spec("ReduceSum", 13),
    oracle: |c| Ok(vec![reduce(c, Reduction::Sum)?]),
    shape: reduce_shape,
    cost: per_input_element::<1>,
    check: CheckPolicy::SumBound,
    terms: reduced_terms,
};
/// As ReduceSum.
pub(super) const REDUCE_MEAN: OpDef = OpDef {
    spec: reduce_spec("ReduceMean", 18),
    oracle: |c| Ok(vec![reduce(c, Reduction::Mean)?]),
    shape: reduce_shape,
    cost: per_input_element::<1>,
    check: CheckPolicy::SumBound,
    terms: reduced_terms,
};
/// A maximum rounds nothing: exact.
pub(super) const REDUCE_MAX: OpDef = OpDef {
    spec: reduce_spec("ReduceMax", 18),
    oracle: |c| Ok(vec![reduce(c, Reduction::Max)?]),
    shape: reduce_shape,
    cost: per_input_element::<1>,
    check: CheckPolicy::Exact,
    terms: no_sum,
};
/// Sums of exponentials swamp: the worst-case `c = 4 + n`.
pub(super) const SOFTMAX: OpDef = OpDef {
    spec: softmax_spec("Softmax"),
    oracle: |c| Ok(vec![softmax(c, false)?]),
    shape: softmax_shape,
    cost: per_input_element::<5>,
    check: CheckPolicy::WorstCaseSumBound,
    terms: softmax_terms,
};
/// As Softmax.
pub(super) const LOG_SOFTMAX: OpDef = OpDef {
    spec: softmax_spec("LogSoftmax"),
    oracle: |c| Ok(vec![softmax(c, true)?]),
    shape: softmax_shape,
    cost: per_input_element::<5>,
    check: CheckPolicy::WorstCaseSumBound,
    terms: softmax_terms,
};
/// Selection: exact.
pub(super) const TOPK: OpDef = OpDef {
    spec: OpSpec {
        name: "TopK",
        domain: "",
        opset: 11,
        arity: fixed(2, 0),
        input_names: &["X", "K"],
        input_types: &[T_NUMERIC, T_IND],
        outputs: 2,
        attributes: &[
            ("axis", AttrType::Int),
            ("largest", AttrType::Int),
            ("sorted", AttrType::Int),
        ],
    },
    oracle: topk,
    shape: topk_shape,
    cost: no_flops,
    check: CheckPolicy::Exact,
    terms: no_sum,
};

/// Softmax's output: X's, once the axis exists.
fn softmax_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (_, shape) = rules::input(inputs, 0)?;
    norm_axis(attrs.int("axis", -1)?, shape.len())?;
    rules::same_as_first(attrs, inputs, values)
}

/// A Reduce* output: the reduced axes dropped, or kept as 1 (keepdims).
pub(super) fn reduce_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, shape) = rules::input(inputs, 0)?;
    let keep = int_attr(attrs, "keepdims", 1) != 0;
    let axes_input = inputs.get(1).and_then(Option::as_ref);
    let given = axes_input.map(|(_, s)| (s.as_slice(), values(1)));
    let Some(axes) = reduced_axes(attrs, shape.len(), given)? else {
        return Ok(vec![(*dtype, shape.clone())]);
    };
    let mut out = Vec::new();
    for (i, &d) in shape.iter().enumerate() {
        if !axes.contains(&i) {
            out.push(d);
        } else if keep {
            out.push(1);
        }
    }
    Ok(vec![(*dtype, out)])
}

/// TopK's outputs: values and int64 indices, K long along the axis.
fn topk_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, shape) = rules::input(inputs, 0)?;
    let (_, k_shape) = rules::input(inputs, 1)?;
    let (axis, k) = topk_params(attrs, shape, k_shape, &values(1))?;
    let mut out = shape.clone();
    out[axis] = k;
    Ok(vec![(*dtype, out.clone()), (DType::I64, out)])
}

/// TopK's axis and K for X of `shape` and the K input (`k_shape`, `k`):
/// K is one element, `0 <= K <=` the axis length.
fn topk_params(
    attrs: &Attributes,
    shape: &[usize],
    k_shape: &[usize],
    k: &[f64],
) -> std::result::Result<(usize, usize), String> {
    let ks = rules::ints_of("K", k)?;
    if k_shape.len() != 1 || ks.len() != 1 {
        return Err(format!(
            "K must be a 1-D tensor with one element, got shape {k_shape:?}"
        ));
    }
    let axis = norm_axis(attrs.int("axis", -1)?, shape.len())?;
    let n = shape[axis];
    let k = ks[0];
    if k < 0 || k as u64 > n as u64 {
        return Err(format!(
            "K = {k} is outside [0, {n}] (the length of axis {axis} of X {shape:?})"
        ));
    }
    Ok((axis, k as usize))
}

/// The axes a Reduce* reduces, sorted, or `None` for the identity
/// (`noop_with_empty_axes=1` with no axes), from the optional axes input
/// (its shape and values), or from the `axes` attribute of the versions
/// before the input (ReduceSum before 13, the rest before 18; only those
/// declare it, so a call cannot give both). Absent or empty axes reduce
/// everything unless noop_with_empty_axes is set.
pub(super) fn reduced_axes(
    attrs: &Attributes,
    rank: usize,
    given: Option<(&[usize], Vec<f64>)>,
) -> std::result::Result<Option<Vec<usize>>, String> {
    let noop = attrs.int("noop_with_empty_axes", 0)? != 0;
    let given = match given {
        None => attrs.ints("axes")?.map(<[i64]>::to_vec).unwrap_or_default(),
        Some((shape, values)) => {
            if shape.len() > 1 {
                return Err(format!("axes must be 1-D, got shape {shape:?}"));
            }
            rules::ints_of("axes", &values)?
        }
    };
    if given.is_empty() {
        return Ok(if noop {
            None
        } else {
            Some((0..rank).collect())
        });
    }
    let mut axes = Vec::with_capacity(given.len());
    for &a in &given {
        let ax = rules::resolve_axis("axis", a, rank)?;
        if axes.contains(&ax) {
            return Err(format!("axes {given:?} name dimension {ax} twice"));
        }
        axes.push(ax);
    }
    axes.sort_unstable();
    Ok(Some(axes))
}

/// Which Reduce* op.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Reduction {
    /// ReduceSum
    Sum,
    /// ReduceMean
    Mean,
    /// ReduceMax
    Max,
}

/// The axes a Reduce* call reduces, sorted, or `None` for the identity
/// (`noop_with_empty_axes=1` with no axes). The axes come from the optional
/// int64 input (opset 13 for ReduceSum, 18 for Mean/Max); absent or empty
/// axes reduce everything unless noop_with_empty_axes is set.
pub(super) fn reduce_axes(call: &Call, rank: usize) -> Result<Option<Vec<usize>>> {
    let given = call.opt(1).map(|v| (v.shape(), call.values(1)));
    reduced_axes(call.attrs, rank, given).map_err(|m| call.err(m))
}

/// The smallest value of a dtype: ReduceMax's result over an empty set for
/// types without -inf ("minus infinity (if supported by the datatype) or the
/// minimum value of the data type otherwise").
pub(super) fn lowest(dtype: DType) -> f64 {
    match dtype {
        DType::I8 => i8::MIN as f64,
        DType::I16 => i16::MIN as f64,
        DType::I32 => i32::MIN as f64,
        DType::I64 => i64::MIN as f64,
        DType::U8 | DType::U16 | DType::U32 | DType::U64 | DType::Bool => 0.0,
        _ => f64::NEG_INFINITY,
    }
}

/// ReduceSum (13), ReduceMean (18), ReduceMax (18), and their versions with
/// the axes as an attribute (11; `reduce_more.rs`). keepdims defaults to 1.
/// Over an empty set: ReduceSum gives 0 (the spec's "yields 0"); ReduceMean
/// gives NaN (0/0; the spec says "yields undefined"); ReduceMax gives -inf,
/// or the dtype's minimum for integers (the spec's wording). ReduceMax
/// propagates NaN: a NaN anywhere in the reduced set gives NaN.
pub(super) fn reduce(call: &Call, op: Reduction) -> Result<Output> {
    let x = call.input(0)?;
    let keepdims = call.int("keepdims", 1)? != 0;
    let shape = x.shape().to_vec();
    let Some(axes) = reduce_axes(call, shape.len())? else {
        let magnitude = (op != Reduction::Max).then(|| x.data.mapv(f64::abs));
        return Ok(Output {
            value: x.clone(),
            magnitude,
            io_magnitude: None,
            product_magnitude: None,
        });
    };
    // Move the reduced axes last, so each output element is one contiguous
    // row of a (outer, inner) matrix.
    let kept: Vec<usize> = (0..shape.len()).filter(|d| !axes.contains(d)).collect();
    let perm: Vec<usize> = kept.iter().chain(axes.iter()).copied().collect();
    let outer: usize = kept.iter().map(|&d| shape[d]).product();
    let inner: usize = axes.iter().map(|&d| shape[d]).product();
    let permuted = x.data.view().permuted_axes(IxDyn(&perm));
    let rows = permuted
        .to_shape((outer, inner))
        .map_err(|e| call.err(format!("data: {e}")))?;
    let out_shape: Vec<usize> = if keepdims {
        (0..shape.len())
            .map(|d| if axes.contains(&d) { 1 } else { shape[d] })
            .collect()
    } else {
        kept.iter().map(|&d| shape[d]).collect()
    };
    let n = inner as f64;
    let mut value = Vec::with_capacity(outer);
    let mut magnitude = Vec::with_capacity(outer);
    for row in rows.rows() {
        let abs_sum: f64 = row.iter().map(|v| v.abs()).sum();
        match op {
            Reduction::Sum => {
                value.push(row.sum());
                magnitude.push(abs_sum);
            }
            Reduction::Mean => {
                value.push(row.sum() / n);
                magnitude.push(abs_sum / n);
            }
            Reduction::Max => value.push(row.iter().fold(lowest(x.dtype), |acc, &v| {
                if acc.is_nan() || v.is_nan() {
                    f64::NAN
                } else {
                    acc.max(v)
                }
            })),
        }
    }
    let to_array = |v: Vec<f64>| {
        ArrayD::from_shape_vec(IxDyn(&out_shape), v).map_err(|e| call.err(format!("output: {e}")))
    };
    let magnitude = if op == Reduction::Max {
        None
    } else {
        Some(to_array(magnitude)?)
    };
    Ok(Output {
        value: Value::new(x.dtype, finish(x.dtype, to_array(value)?)),
        magnitude,
        io_magnitude: None,
        product_magnitude: None,
    })
}

/// Softmax and LogSoftmax (opset 13) along one axis (default -1), computed
/// with the maximum subtracted so large logits cannot overflow. A lane whose
/// maximum is +-inf gives NaN, as exp(inf - inf) does in the spec's
/// definition.
///
/// Magnitudes, for the `bound` check. With m the lane maximum and
/// y the softmax, computing `x - m` in the working precision has an absolute
/// error of u * |x - m|, which exp turns into a relative error; the sum S then
/// carries the weighted average of those, K = sum_j y_j |x_j - m|, plus its own
/// summation error (relative, since every term is positive). So:
/// Softmax: M = y * (1 + |x - m| + K);
/// LogSoftmax (y = x - m - log S): M = 1 + |x - m| + |log S| + K.
/// Terms with y_j = 0 (x_j = -inf, or underflow) contribute nothing.
///
/// The io-dtype magnitudes: the function body of Softmax-13 (`Exp(X -
/// ReduceMax(X)) / ReduceSum(...)`) run in the io dtype rounds `x - m`, each
/// exponential, the sum and the quotient, so Softmax `M_io = y (|x - m| + K
/// + 3)` and LogSoftmax `M_io = |x - m| + K + |log S| + 2`
/// (`docs/error-models.md`).
fn softmax(call: &Call, log: bool) -> Result<Output> {
    let x = call.input(0)?;
    let axis = call.axis("axis", call.int("axis", -1)?, x.data.ndim())?;
    let mut data = x.data.clone();
    let mut magnitude = x.data.clone();
    let mut io_magnitude = x.data.clone();
    for ((mut lane, mut mag), mut io) in data
        .lanes_mut(Axis(axis))
        .into_iter()
        .zip(magnitude.lanes_mut(Axis(axis)))
        .zip(io_magnitude.lanes_mut(Axis(axis)))
    {
        let max = lane.fold(
            f64::NEG_INFINITY,
            |m, &v| if v.is_nan() || v > m { v } else { m },
        );
        let sum: f64 = lane.iter().map(|&v| (v - max).exp()).sum();
        let spread: f64 = lane
            .iter()
            .map(|&v| {
                let y = (v - max).exp() / sum;
                if y > 0.0 { y * (v - max).abs() } else { 0.0 }
            })
            .sum();
        let log_sum = sum.ln();
        for ((v, m), io) in lane.iter_mut().zip(mag.iter_mut()).zip(io.iter_mut()) {
            let d = (*v - max).abs();
            if log {
                *m = 1.0 + d + log_sum.abs() + spread;
                *io = d + spread + log_sum.abs() + 2.0;
                *v = *v - max - log_sum;
            } else {
                let y = (*v - max).exp() / sum;
                *m = if y > 0.0 { y * (1.0 + d + spread) } else { 0.0 };
                *io = if y > 0.0 { y * (d + spread + 3.0) } else { 0.0 };
                *v = y;
            }
        }
    }
    Ok(Output {
        value: Value::new(x.dtype, data),
        magnitude: Some(magnitude),
        io_magnitude: Some(io_magnitude),
        product_magnitude: None,
    })
}

/// The order TopK ranks values in: the usual one, with NaN above everything
/// (so NaN comes first for largest=1 and last for largest=0, as in numpy's
/// sort, which puts NaN at the end), and -0 equal to +0.
fn rank_order(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// TopK (opset 11): the K largest (or smallest) elements along `axis`
/// (default -1) and their indices (int64). K is a one-element int64 input,
/// 0 <= K <= the axis length. Ties keep the lower index first, which the spec
/// requires ("If two or more elements are equal, the one with the lower index
/// appears first"); the output is always sorted, which is also a valid result
/// for sorted=0 (whose order the spec leaves unspecified).
fn topk(call: &Call) -> Result<Vec<Output>> {
    let x = call.input(0)?;
    let kv = call.input(1)?;
    let (axis, k) =
        topk_params(call.attrs, x.shape(), kv.shape(), &call.values(1)).map_err(|m| call.err(m))?;
    let largest = call.int("largest", 1)? != 0;
    let n = x.shape()[axis];
    let mut out_shape = x.shape().to_vec();
    out_shape[axis] = k;
    let mut values = ArrayD::<f64>::zeros(IxDyn(&out_shape));
    let mut indices = ArrayD::<f64>::zeros(IxDyn(&out_shape));
    let mut order: Vec<usize> = Vec::with_capacity(n);
    Zip::from(x.data.lanes(Axis(axis)))
        .and(values.lanes_mut(Axis(axis)))
        .and(indices.lanes_mut(Axis(axis)))
        .for_each(|lane, mut vals, mut idxs| {
            order.clear();
            order.extend(0..n);
            // A stable sort over increasing indices keeps ties in index order.
            if largest {
                order.sort_by(|&i, &j| rank_order(lane[j], lane[i]));
            } else {
                order.sort_by(|&i, &j| rank_order(lane[i], lane[j]));
            }
            for (slot, &i) in order.iter().take(k).enumerate() {
                vals[slot] = lane[i];
                idxs[slot] = i as f64;
            }
        });
    Ok(vec![
        Output::plain(x.dtype, values),
        Output::plain(DType::I64, indices),
    ])
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};

/// The length of the reduced (or softmax, or TopK) axis for a size level:
/// the long rows are where a half-precision running sum goes wrong.
pub(super) fn axis_size(level: &str) -> usize {
    match level {
        "n0" => 0,
        "n1" => 1,
        "prime" => 7,
        "w1024" => 1024,
        "w4096" => 4096,
        other => panic!("`{other}` is not a size level"),
    }
}

/// A shape of `rank` whose axis `axis` has `size` (`eq`: every dim does).
pub(super) fn shape_with_axis(rank: usize, axis: usize, size: usize, eq: bool) -> Vec<usize> {
    let mut s = cases::dims(rank, size, eq);
    s.swap(axis, rank - 1);
    s
}

/// ReduceSum, ReduceMean, ReduceMax: ranks 1-4, the axes as first / last /
/// -1 / middle / negative / two of them / all (no `axes` input), keepdims 0 and
/// 1, the reduced axis 0 (where the reduction allows it), 1, prime, 1024
/// and 4096 long, equal and distinct dims, every layout.
fn reduce_space(empty: bool) -> Option<CaseSpace> {
    let sizes: &'static [&'static str] = if empty {
        &["n0", "n1", "prime", "w1024", "w4096"]
    } else {
        &["n1", "prime", "w1024", "w4096"]
    };
    reduce_space_with(Fill::Default, sizes)
}

/// [`reduce_space`] with the input values from `fill` and the reduced
/// axis' sizes from `sizes` (the Reduce* ops of `reduce_more.rs` need
/// positive values, or values near 1, so that their results stay finite).
pub(super) fn reduce_space_with(fill: Fill, sizes: &'static [&'static str]) -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("rank", &["r1", "r2", "r3", "r4"]),
            Factor::new(
                "axes",
                &["first", "last", "mid", "neg", "neglast", "two", "all"],
            ),
            Factor::new("keepdims", &["keep1", "keep0"]),
            Factor::new("size", sizes),
            Factor::new("dims", &["eqdims", "distinct"]),
            cases::layout_factor(),
        ],
        build: Box::new(move |p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let size = axis_size(p.get("size"));
            let eq = p.is("dims", "eqdims");
            if eq && size > 64 {
                return None;
            }
            let axes: Option<Vec<i64>> = match p.get("axes") {
                "all" => None,
                "two" if rank >= 2 => Some(vec![0, rank as i64 - 1]),
                "two" => return None,
                level => Some(vec![cases::axis_of(level, rank)?]),
            };
            let first = axes
                .as_ref()
                .map_or(rank - 1, |a| cases::resolve(a[0], rank));
            let x = GenInput::new(p.dtype(), shape_with_axis(rank, first, size, eq))
                .fill(fill.clone())
                .stored(Storage::from_level(p.get("layout")));
            let mut inputs = vec![x.some()];
            if let Some(a) = axes {
                let n = a.len();
                inputs.push(
                    GenInput::values(DType::I64, a.into_iter().map(|v| v as f64).collect())
                        .shaped(vec![n])
                        .some(),
                );
            }
            let keep = i64::from(p.is("keepdims", "keep1"));
            Some(GenCase::new(inputs).int("keepdims", keep))
        }),
    })
}

pub(super) fn reduce_sum_cases() -> Option<CaseSpace> {
    reduce_space(true)
}

pub(super) fn reduce_mean_cases() -> Option<CaseSpace> {
    reduce_space(false)
}

pub(super) fn reduce_max_cases() -> Option<CaseSpace> {
    reduce_space(false)
}

/// Softmax and LogSoftmax: ranks 1-4, the axis first / last / -1 / middle /
/// negative, every dim equal to the axis' (so reducing the wrong axis is
/// invisible in the shapes) or distinct, the axis 1, prime or 1024 long,
/// every layout.
fn softmax_space() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::FLOATS),
            Factor::new("rank", &["r1", "r2", "r3", "r4"]),
            Factor::new("axis", &["first", "last", "mid", "neg", "neglast"]),
            Factor::new("dims", &["eqdims", "distinct"]),
            Factor::new("size", &["n1", "prime", "w1024"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let axis = cases::axis_of(p.get("axis"), rank)?;
            let size = axis_size(p.get("size"));
            let eq = p.is("dims", "eqdims");
            if eq && !(2..=64).contains(&size) {
                return None; // all dims 1 are not "equal dims"; all 1024 too big
            }
            let shape = shape_with_axis(rank, cases::resolve(axis, rank), size, eq);
            let x = GenInput::new(p.dtype(), shape)
                .fill(Fill::Normal(3.0))
                .stored(Storage::from_level(p.get("layout")));
            Some(GenCase::new(vec![x.some()]).int("axis", axis))
        }),
    })
}

pub(super) fn softmax_cases() -> Option<CaseSpace> {
    softmax_space()
}

pub(super) fn log_softmax_cases() -> Option<CaseSpace> {
    softmax_space()
}

/// TopK: ranks 1-3, the axis first / last / -1 / middle / negative, K of 0, 1,
/// half and all of the axis, largest and smallest, the axis 1, prime or
/// 1024 long, every layout.
pub(super) fn topk_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            // Integers too: their ties are frequent, and their order must be
            // exact beyond f64's 53 bits.
            Factor::dtypes(cases::FLOATS_AND_INTS),
            Factor::new("rank", &["r1", "r2", "r3"]),
            Factor::new("axis", &["first", "last", "mid", "neg", "neglast"]),
            Factor::new("k", &["k0", "k1", "khalf", "kall"]),
            Factor::new("largest", &["largest", "smallest"]),
            Factor::new("size", &["n1", "prime", "w1024"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let axis = cases::axis_of(p.get("axis"), rank)?;
            let size = axis_size(p.get("size"));
            let k = match p.get("k") {
                "k0" => 0,
                "k1" => 1,
                "khalf" if size >= 4 => size / 2,
                "kall" if size >= 2 => size,
                _ => return None,
            };
            let shape = shape_with_axis(rank, cases::resolve(axis, rank), size, false);
            let x = GenInput::new(p.dtype(), shape).stored(Storage::from_level(p.get("layout")));
            let k = GenInput::values(DType::I64, vec![k as f64]);
            Some(
                GenCase::new(vec![x.some(), k.some()])
                    .int("axis", axis)
                    .int("largest", i64::from(p.is("largest", "largest"))),
            )
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::ops::{AttrValue, Attributes};

    fn x23() -> Value {
        // [[1, 2, 3], [4, 5, 6]]
        f(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, -6.0])
    }

    #[test]
    fn reduce_sum_axes_and_keepdims() {
        let none = Attributes::new();
        let out = run("ReduceSum", &none, &[x23(), i(&[1], &[1])])
            .unwrap()
            .remove(0);
        assert_eq!(out.value.shape(), &[2, 1]);
        close(&out.value.data, &[6.0, 3.0], 0.0);
        close(out.magnitude.as_ref().unwrap(), &[6.0, 15.0], 0.0);
        let nokeep = attrs(&[("keepdims", AttrValue::Int(0))]);
        let y = run1("ReduceSum", &nokeep, &[x23(), i(&[1], &[-2])]);
        assert_eq!(y.shape(), &[3]);
        close(&y.data, &[5.0, 7.0, -3.0], 0.0);
        // No axes: everything, keeping rank.
        let out = run_opt("ReduceSum", &none, &[Some(x23()), None])
            .unwrap()
            .remove(0);
        assert_eq!(out.value.shape(), &[1, 1]);
        close(&out.value.data, &[9.0], 0.0);
        close(out.magnitude.as_ref().unwrap(), &[21.0], 0.0);
        // Empty axes with noop: identity.
        let noop = attrs(&[("noop_with_empty_axes", AttrValue::Int(1))]);
        let y = run1("ReduceSum", &noop, &[x23(), i(&[0], &[])]);
        assert_eq!(y, x23());
        // Both axes given explicitly, in reverse order.
        let y = run1("ReduceSum", &nokeep, &[x23(), i(&[2], &[1, 0])]);
        assert_eq!(y.shape(), &[] as &[usize]);
        close(&y.data, &[9.0], 0.0);
    }

    #[test]
    fn reduce_mean_and_max() {
        let none = Attributes::new();
        let out = run("ReduceMean", &none, &[x23(), i(&[1], &[0])])
            .unwrap()
            .remove(0);
        close(&out.value.data, &[2.5, 3.5, -1.5], 0.0);
        close(out.magnitude.as_ref().unwrap(), &[2.5, 3.5, 4.5], 0.0);
        let out = run("ReduceMax", &none, &[x23(), i(&[1], &[1])])
            .unwrap()
            .remove(0);
        close(&out.value.data, &[3.0, 5.0], 0.0);
        assert!(out.magnitude.is_none());
        // NaN propagates through ReduceMax, wherever it sits.
        let xn = f(&[2, 2], &[f64::NAN, 1.0, 1.0, f64::NAN]);
        let y = run1("ReduceMax", &none, &[xn, i(&[1], &[1])]);
        assert!(y.data.iter().all(|v| v.is_nan()));
        // Integer mean truncates toward zero in the int dtype: mean(-3, 0) = -1.
        let xi = t(DType::I32, &[2], &[-3.0, 0.0]);
        let y = run1("ReduceMean", &none, &[xi, i(&[1], &[0])]);
        close(&y.data, &[-1.0], 0.0);
    }

    #[test]
    fn reduce_over_empty_sets() {
        let none = Attributes::new();
        let empty = f(&[2, 0], &[]);
        let axis1 = i(&[1], &[1]);
        close(
            &run1("ReduceSum", &none, &[empty.clone(), axis1.clone()]).data,
            &[0.0, 0.0],
            0.0,
        );
        let mean = run1("ReduceMean", &none, &[empty.clone(), axis1.clone()]);
        assert!(mean.data.iter().all(|v| v.is_nan()));
        let max = run1("ReduceMax", &none, &[empty, axis1.clone()]);
        close(&max.data, &[f64::NEG_INFINITY, f64::NEG_INFINITY], 0.0);
        let max = run1("ReduceMax", &none, &[t(DType::I8, &[1, 0], &[]), axis1]);
        close(&max.data, &[-128.0], 0.0);
        // Rank-0 input, all axes: the element itself.
        let y = run1("ReduceSum", &none, &[f(&[], &[4.5])]);
        close(&y.data, &[4.5], 0.0);
    }

    #[test]
    fn reduce_errors() {
        let none = Attributes::new();
        fails(
            "ReduceSum",
            &none,
            &[Some(x23()), Some(i(&[1], &[2]))],
            "out of range",
        );
        fails(
            "ReduceSum",
            &none,
            &[Some(x23()), Some(i(&[2], &[0, -2]))],
            "twice",
        );
        fails(
            "ReduceSum",
            &none,
            &[Some(x23()), Some(f(&[1], &[0.0]))],
            "integer tensor",
        );
        fails(
            "ReduceMax",
            &none,
            &[Some(x23()), Some(i(&[1, 1], &[0]))],
            "1-D",
        );
    }

    #[test]
    fn softmax_by_hand_and_identities() {
        // softmax([0, ln 2, ln 5]) = [1, 2, 5] / 8
        let x = f(&[1, 3], &[0.0, 2f64.ln(), 5f64.ln()]);
        let y = run1("Softmax", &Attributes::new(), std::slice::from_ref(&x));
        close(&y.data, &[0.125, 0.25, 0.625], 1e-15);
        let ly = run1("LogSoftmax", &Attributes::new(), &[x]);
        close(
            &ly.data,
            &[-(8f64.ln()), -(4f64.ln()), (0.625f64).ln()],
            1e-15,
        );
        // Large logits do not overflow; axis 0 sums to 1; log_softmax = ln softmax.
        let x = f(&[2, 3], &[1000.0, -5.0, 3.0, 1001.0, -4.0, 3.5]);
        let a0 = attrs(&[("axis", AttrValue::Int(0))]);
        let y = run1("Softmax", &a0, std::slice::from_ref(&x));
        for j in 0..3 {
            assert!((y.data[[0, j]] + y.data[[1, j]] - 1.0).abs() < 1e-15);
        }
        // Column 0: [1000, 1001] -> [1/(1+e), e/(1+e)]
        let e = std::f64::consts::E;
        assert!((y.data[[0, 0]] - 1.0 / (1.0 + e)).abs() < 1e-15);
        let ly = run1("LogSoftmax", &a0, &[x]);
        Zip::from(&ly.data)
            .and(&y.data)
            .for_each(|&l, &s| assert!((l - s.ln()).abs() < 1e-13));
        fails(
            "Softmax",
            &attrs(&[("axis", AttrValue::Int(2))]),
            &[Some(f(&[2, 3], &[0.0; 6]))],
            "out of range",
        );
    }

    #[test]
    fn softmax_all_masked_row_is_nan() {
        let x = f(&[2], &[f64::NEG_INFINITY, f64::NEG_INFINITY]);
        let y = run1("Softmax", &Attributes::new(), &[x]);
        assert!(y.data.iter().all(|v| v.is_nan()));
    }

    fn topk(a: &Attributes, x: Value, k: i64) -> (Value, Value) {
        let mut out = run("TopK", a, &[x, i(&[1], &[k])]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.len(), 2);
        let idx = out.remove(1).value;
        (out.remove(0).value, idx)
    }

    #[test]
    fn topk_by_hand_with_ties() {
        // Row [3, 1, 3, 2]: top-3 largest = 3 (i0), 3 (i2), 2 (i3).
        // Row [0, 5, 5, 5]: top-3 = 5 (i1), 5 (i2), 5 (i3).
        let x = f(&[2, 4], &[3.0, 1.0, 3.0, 2.0, 0.0, 5.0, 5.0, 5.0]);
        let (v, ix) = topk(&Attributes::new(), x.clone(), 3);
        assert_eq!(v.shape(), &[2, 3]);
        assert_eq!(ix.dtype, DType::I64);
        assert_eq!(v.dtype, DType::F32);
        close(&v.data, &[3.0, 3.0, 2.0, 5.0, 5.0, 5.0], 0.0);
        close(&ix.data, &[0.0, 2.0, 3.0, 1.0, 2.0, 3.0], 0.0);
        // Smallest 2: [1 (i1), 2 (i3)] and [0 (i0), 5 (i1)].
        let small = attrs(&[("largest", AttrValue::Int(0))]);
        let (v, ix) = topk(&small, x.clone(), 2);
        close(&v.data, &[1.0, 2.0, 0.0, 5.0], 0.0);
        close(&ix.data, &[1.0, 3.0, 0.0, 1.0], 0.0);
        // Along axis 0: column maxima.
        let a0 = attrs(&[("axis", AttrValue::Int(0))]);
        let (v, ix) = topk(&a0, x, 1);
        assert_eq!(v.shape(), &[1, 4]);
        close(&v.data, &[3.0, 5.0, 5.0, 5.0], 0.0);
        close(&ix.data, &[0.0, 1.0, 1.0, 1.0], 0.0);
    }

    #[test]
    fn topk_nan_ranks_highest() {
        let x = f(&[4], &[1.0, f64::NAN, 7.0, -1.0]);
        let (v, ix) = topk(&Attributes::new(), x.clone(), 2);
        assert!(v.data[[0]].is_nan());
        assert_eq!(v.data[[1]], 7.0);
        close(&ix.data, &[1.0, 2.0], 0.0);
        let (_, ix) = topk(&attrs(&[("largest", AttrValue::Int(0))]), x, 4);
        close(&ix.data, &[3.0, 0.0, 2.0, 1.0], 0.0);
    }

    #[test]
    fn topk_errors() {
        let none = Attributes::new();
        let x = f(&[3], &[1.0, 2.0, 3.0]);
        fails(
            "TopK",
            &none,
            &[Some(x.clone()), Some(i(&[1], &[4]))],
            "K = 4 is outside [0, 3]",
        );
        fails(
            "TopK",
            &none,
            &[Some(x.clone()), Some(i(&[1], &[-1]))],
            "outside",
        );
        fails(
            "TopK",
            &none,
            &[Some(x.clone()), Some(i(&[2], &[1, 1]))],
            "one element",
        );
        fails(
            "TopK",
            &none,
            &[Some(f(&[], &[1.0])), Some(i(&[1], &[1]))],
            "the input is a scalar (rank 0), which has no axes",
        );
    }
}
