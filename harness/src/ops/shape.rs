//! Data movement: Gather, Transpose, Reshape, Concat. Values are copied,
//! never computed, so the check for these is `exact`; what matters here is
//! that every shape rule of the spec is enforced.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};

use super::rules::{self, no_flops, no_sum, norm_axis};
use super::spec::{T_ANY, T_IND, fixed};
use super::{AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape};
use crate::numerics::check::CheckPolicy;

/// A data-movement op of opset `opset`: copies, so exact, and no FLOPs.
macro_rules! movement_op {
    ($name:literal, $opset:literal, $arity:expr, $inputs:expr, $types:expr, $attrs:expr, $oracle:ident, $shape:ident) => {
        OpDef {
            spec: OpSpec {
                name: $name,
                domain: "",
                opset: $opset,
                arity: $arity,
                input_names: $inputs,
                input_types: $types,
                outputs: 1,
                attributes: $attrs,
            },
            oracle: |c| Ok(vec![$oracle(c)?]),
            shape: $shape,
            cost: no_flops,
            check: CheckPolicy::Exact,
            terms: no_sum,
        }
    };
}

pub(super) const GATHER: OpDef = movement_op!(
    "Gather",
    13,
    fixed(2, 0),
    &["data", "indices"],
    &[T_ANY, T_IND],
    &[("axis", AttrType::Int)],
    gather,
    gather_shape
);
pub(super) const TRANSPOSE: OpDef = movement_op!(
    "Transpose",
    21,
    fixed(1, 0),
    &["data"],
    &[T_ANY],
    &[("perm", AttrType::Ints)],
    transpose,
    transpose_shape
);
pub(super) const RESHAPE: OpDef = movement_op!(
    "Reshape",
    21,
    fixed(2, 0),
    &["data", "shape"],
    &[T_ANY, T_IND],
    &[("allowzero", AttrType::Int)],
    reshape,
    reshape_shape
);
pub(super) const CONCAT: OpDef = movement_op!(
    "Concat",
    13,
    super::Arity::Variadic,
    &["inputs"],
    &[T_ANY],
    &[("axis", AttrType::Int)],
    concat,
    concat_shape
);

/// Gather's output: data's dims before `axis`, then indices' dims, then the rest.
fn gather_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, data) = rules::input(inputs, 0)?;
    let (_, idx) = rules::input(inputs, 1)?;
    let (axis, _) = gather_picks(attrs, data, &values(1))?;
    let mut out = data[..axis].to_vec();
    out.extend(idx);
    out.extend(&data[axis + 1..]);
    Ok(vec![(*dtype, out)])
}

/// Gather's axis and the rows it picks along it: every index within
/// `[-s, s-1]` for an axis of length s (the spec: "It is an error if any of
/// the index values are out of bounds"), negative ones counted from the end.
fn gather_picks(
    attrs: &Attributes,
    data: &[usize],
    indices: &[f64],
) -> std::result::Result<(usize, Vec<usize>), String> {
    let axis = norm_axis(attrs.int("axis", 0)?, data.len())?;
    let s = data[axis] as i64;
    let mut picks = Vec::with_capacity(indices.len());
    for k in rules::ints_of("indices", indices)? {
        if !(-s..s).contains(&k) {
            return Err(format!(
                "index {k} is out of bounds for axis {axis} of length {s} (data {data:?})"
            ));
        }
        picks.push(if k < 0 { k + s } else { k } as usize);
    }
    Ok((axis, picks))
}

/// Transpose's output: dims permuted by `perm` (default: reversed).
fn transpose_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, data) = rules::input(inputs, 0)?;
    let perm = permutation(attrs, data.len())?;
    Ok(vec![(*dtype, perm.iter().map(|&p| data[p]).collect())])
}

/// Transpose's `perm` for rank `rank` (default: reversed). The spec's perm
/// holds non-negative axes; a negative, repeated or missing one is not a
/// permutation.
fn permutation(attrs: &Attributes, rank: usize) -> std::result::Result<Vec<usize>, String> {
    let Some(p) = attrs.ints("perm")? else {
        return Ok((0..rank).rev().collect());
    };
    let mut seen = vec![false; rank];
    let mut perm = Vec::with_capacity(rank);
    for &d in p {
        match usize::try_from(d) {
            Ok(u) if u < rank && !seen[u] => {
                seen[u] = true;
                perm.push(u);
            }
            _ => return Err(format!("perm {p:?} is not a permutation of 0..{rank}")),
        }
    }
    if perm.len() != rank {
        return Err(format!("perm {p:?} is not a permutation of 0..{rank}"));
    }
    Ok(perm)
}

/// Reshape's output: the shape input resolved against the data's shape.
fn reshape_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, data) = rules::input(inputs, 0)?;
    let (_, shape) = rules::input(inputs, 1)?;
    Ok(vec![(
        *dtype,
        reshape_target(attrs, data, shape, &values(1))?,
    )])
}

/// Reshape (opset 21)'s output shape for data of `in_shape` and the shape
/// input (its own shape and values). A 0 copies the input's dimension at
/// the same index (unless allowzero=1, when it means an empty dimension),
/// and one -1 is inferred from the element count. The spec forbids more
/// than one -1 and, with allowzero=1, a 0 together with a -1; both are
/// errors here, as is any other negative value or a count that does not
/// match.
fn reshape_target(
    attrs: &Attributes,
    in_shape: &[usize],
    shape_shape: &[usize],
    shape: &[f64],
) -> std::result::Result<Vec<usize>, String> {
    if shape_shape.len() != 1 {
        return Err(format!("shape must be 1-D, got shape {shape_shape:?}"));
    }
    let requested = rules::ints_of("shape", shape)?;
    let allowzero = attrs.int("allowzero", 0)? != 0;
    let total: usize = in_shape.iter().product();
    if allowzero && requested.contains(&0) && requested.contains(&-1) {
        return Err(format!(
            "shape {requested:?} has both 0 and -1, which allowzero=1 forbids"
        ));
    }
    let mut infer = None;
    let mut out = Vec::with_capacity(requested.len());
    for (k, &d) in requested.iter().enumerate() {
        let dim = match d {
            -1 => {
                if infer.replace(k).is_some() {
                    return Err(format!("shape {requested:?} has more than one -1"));
                }
                1
            }
            0 if !allowzero => *in_shape.get(k).ok_or_else(|| {
                format!(
                    "shape {requested:?} copies dimension {k} (a 0), but data {in_shape:?} has rank {}",
                    in_shape.len()
                )
            })?,
            d if d < 0 => return Err(format!("shape {requested:?} has invalid dimension {d}")),
            d => usize::try_from(d).map_err(|_| format!("dimension {d} is too large"))?,
        };
        out.push(dim);
    }
    let known = out
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("shape {requested:?} has more elements than can be counted"))?;
    if let Some(k) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!(
                "cannot infer the -1 in {requested:?}: data {in_shape:?} has {total} elements"
            ));
        }
        out[k] = total / known;
    } else if known != total {
        return Err(format!(
            "shape {requested:?} has {known} elements, data {in_shape:?} has {total}"
        ));
    }
    Ok(out)
}

/// Concat's output: the inputs' shape with the `axis` sizes added up.
fn concat_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (dtype, _) = rules::input(inputs, 0)?;
    let shapes: Vec<&[usize]> = inputs.iter().flatten().map(|(_, s)| s.as_slice()).collect();
    let (_, out) = concat_axis(attrs, &shapes)?;
    Ok(vec![(*dtype, out)])
}

/// Concat (opset 13)'s axis (required; negative counts from the end) and
/// output shape: inputs of one rank, all dimensions but the axis equal
/// (inputs empty along the axis are allowed).
fn concat_axis(
    attrs: &Attributes,
    shapes: &[&[usize]],
) -> std::result::Result<(usize, Vec<usize>), String> {
    if !attrs.contains_key("axis") {
        return Err("attribute axis is required".into());
    }
    let first = shapes.first().ok_or("needs at least one input")?;
    let rank = first.len();
    let axis = norm_axis(attrs.int("axis", 0)?, rank)?;
    let mut out = first.to_vec();
    out[axis] = 0;
    for (i, s) in shapes.iter().enumerate() {
        let others_match = s.len() == rank && (0..rank).all(|d| d == axis || s[d] == first[d]);
        if !others_match {
            return Err(format!(
                "input {i} has shape {s:?}, which does not match input 0 {first:?} outside axis {axis}"
            ));
        }
        out[axis] += s[axis];
    }
    Ok((axis, out))
}

/// Copies `view` into a row-major owned array of `shape` (which must have
/// the same number of elements).
fn reshaped(call: &Call, view: ArrayViewD<f64>, shape: &[usize]) -> Result<ArrayD<f64>> {
    Ok(view
        .to_shape(IxDyn(shape))
        .map_err(|e| {
            call.err(format!(
                "cannot reshape {:?} to {shape:?}: {e}",
                view.shape()
            ))
        })?
        .into_owned())
}

/// Gather (opset 13): entries of `data` along `axis` (default 0) picked by
/// `indices` (int32 or int64, any shape). Output shape is
/// `data.shape[..axis] ++ indices.shape ++ data.shape[axis+1..]`. Negative
/// indices count from the end; anything outside `[-s, s-1]` is an error (the
/// spec: "It is an error if any of the index values are out of bounds").
fn gather(call: &Call) -> Result<Output> {
    let data = call.input(0)?;
    let iv = call.input(1)?;
    let (axis, picks) =
        gather_picks(call.attrs, data.shape(), &call.values(1)).map_err(|m| call.err(m))?;
    let selected = data.data.select(Axis(axis), &picks);
    let mut out_shape = data.shape()[..axis].to_vec();
    out_shape.extend_from_slice(iv.shape());
    out_shape.extend_from_slice(&data.shape()[axis + 1..]);
    let out = reshaped(call, selected.view(), &out_shape)?;
    Ok(Output::plain(data.dtype, out))
}

/// Transpose (opset 21): dimensions permuted by `perm` (default: reversed).
fn transpose(call: &Call) -> Result<Output> {
    let x = call.input(0)?;
    let perm = permutation(call.attrs, x.data.ndim()).map_err(|m| call.err(m))?;
    let out = x
        .data
        .view()
        .permuted_axes(IxDyn(&perm))
        .as_standard_layout()
        .into_owned();
    Ok(Output::plain(x.dtype, out))
}

/// Reshape (opset 21): the data's values in the shape [`reshape_target`]
/// resolves.
fn reshape(call: &Call) -> Result<Output> {
    let data = call.input(0)?;
    let sv = call.input(1)?;
    let out = reshape_target(call.attrs, data.shape(), sv.shape(), &call.values(1))
        .map_err(|m| call.err(m))?;
    let y = reshaped(call, data.data.view(), &out)?;
    Ok(Output::plain(data.dtype, y))
}

/// Concat (opset 13): inputs of one rank and dtype joined along `axis`
/// (required; negative counts from the end). All other dimensions must match;
/// inputs empty along the axis are allowed.
fn concat(call: &Call) -> Result<Output> {
    let first = call.input(0)?;
    let mut values = Vec::with_capacity(call.inputs.len());
    for i in 0..call.inputs.len() {
        values.push(call.input(i)?);
    }
    let shapes: Vec<&[usize]> = values.iter().map(|v| v.shape()).collect();
    let (axis, _) = concat_axis(call.attrs, &shapes).map_err(|m| call.err(m))?;
    let views: Vec<_> = values.iter().map(|v| v.data.view()).collect();
    let out = ndarray::concatenate(Axis(axis), &views)
        .map_err(|e| call.err(format!("cannot concatenate: {e}")))?;
    Ok(Output::plain(first.dtype, out))
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};
use crate::numerics::DType;

/// The length of the dimension a size level is about.
fn movement_size(level: &str) -> usize {
    match level {
        "n0" => 0,
        "n1" => 1,
        "prime" => 7,
        "large" => 1031,
        other => panic!("`{other}` is not a size level"),
    }
}

/// Gather: every movable dtype, data of rank 1-3, the axis first / last / -1 /
/// middle / negative, scalar / 1-D / 2-D / empty indices of i64 or i32,
/// with or without negative indices, the gathered axis 1, prime or large,
/// every layout of the data.
pub(super) fn gather_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("rank", &["r1", "r2", "r3"]),
            Factor::new("axis", &["first", "last", "mid", "neg", "neglast"]),
            Factor::new("indices", &["iscalar", "ivec", "imat", "iempty"]),
            Factor::new("indextype", &["i64idx", "i32idx"]),
            Factor::new("sign", &["posidx", "negidx"]),
            Factor::new("size", &["n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let axis = cases::axis_of(p.get("axis"), rank)?;
            let ax = cases::resolve(axis, rank);
            let size = movement_size(p.get("size"));
            let mut data = cases::dims(rank, size, false);
            data.swap(ax, rank - 1);
            let shape = match p.get("indices") {
                "iscalar" => vec![],
                "ivec" => vec![5],
                "imat" => vec![2, 3],
                _ => vec![0],
            };
            let n = size as i64;
            let low = if p.is("sign", "negidx") { -n } else { 0 };
            let it = if p.is("indextype", "i64idx") {
                DType::I64
            } else {
                DType::I32
            };
            Some(
                GenCase::new(vec![
                    GenInput::new(p.dtype(), data)
                        .stored(Storage::from_level(p.get("layout")))
                        .some(),
                    GenInput::new(it, shape).fill(Fill::Int(low, n - 1)).some(),
                ])
                .int("axis", axis),
            )
        }),
    })
}

/// Transpose: every movable dtype, ranks 1-4, perm absent (reverse) /
/// identity / last two swapped / rotated, equal or distinct dims, the last
/// dim 0, 1, prime or large, every layout.
pub(super) fn transpose_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("rank", &["r1", "r2", "r3", "r4"]),
            Factor::new("perm", &["reverse", "identity", "swaplast", "rotate"]),
            Factor::new("dims", &["eqdims", "distinct"]),
            Factor::new("size", &["n0", "n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let size = movement_size(p.get("size"));
            let eq = p.is("dims", "eqdims");
            if eq && size > 64 {
                return None;
            }
            let r = rank as i64;
            let perm: Option<Vec<i64>> = match p.get("perm") {
                "reverse" => None,
                "identity" => Some((0..r).collect()),
                "swaplast" if rank >= 2 => {
                    let mut v: Vec<i64> = (0..r).collect();
                    v.swap(rank - 2, rank - 1);
                    Some(v)
                }
                "rotate" if rank >= 3 => Some((1..r).chain([0]).collect()),
                _ => return None,
            };
            let x = GenInput::new(p.dtype(), cases::dims(rank, size, eq))
                .stored(Storage::from_level(p.get("layout")));
            let mut case = GenCase::new(vec![x.some()]);
            if let Some(perm) = perm {
                case = case.ints("perm", perm);
            }
            Some(case)
        }),
    })
}

/// Reshape: every movable dtype, a 3-D input reshaped with -1, flattened,
/// with a 1 inserted, with 0 copying a dim, and with allowzero (a literal
/// 0 when the input is empty), the last dim 0, 1, prime or large, every
/// layout.
pub(super) fn reshape_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new(
                "target",
                &["minus1", "flatten", "unsqueeze", "zerocopy", "allowzero"],
            ),
            Factor::new("size", &["n0", "n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let size = movement_size(p.get("size"));
            let x = cases::dims(3, size, false);
            let (a, b, c) = (x[0] as i64, x[1] as i64, x[2] as i64);
            let (target, allowzero) = match p.get("target") {
                "minus1" if size > 0 => (vec![-1, c], false),
                "flatten" => (vec![-1], false),
                "unsqueeze" if size > 0 => (vec![a, b, 1, c], false),
                "zerocopy" if size > 0 => (vec![0, -1], false),
                "allowzero" => (vec![c, a * b], true),
                _ => return None,
            };
            let n = target.len();
            let mut case = GenCase::new(vec![
                GenInput::new(p.dtype(), x)
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::values(DType::I64, target.into_iter().map(|v| v as f64).collect())
                    .shaped(vec![n])
                    .some(),
            ]);
            if allowzero {
                case = case.int("allowzero", 1);
            }
            Some(case)
        }),
    })
}

/// Concat: every movable dtype, ranks 1-4, the axis first / last / -1 / middle
/// / negative, one to three inputs of equal or unequal lengths along the
/// axis or with an empty one, equal or distinct dims, the last dim 1,
/// prime or large, every layout of the second input.
pub(super) fn concat_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("rank", &["r1", "r2", "r3", "r4"]),
            Factor::new("axis", &["first", "last", "mid", "neg", "neglast"]),
            Factor::new("count", &["one", "two", "three"]),
            Factor::new("parts", &["equal", "unequal", "withempty"]),
            Factor::new("dims", &["eqdims", "distinct"]),
            Factor::new("size", &["n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let axis = cases::axis_of(p.get("axis"), rank)?;
            let ax = cases::resolve(axis, rank);
            let size = movement_size(p.get("size"));
            let eq = p.is("dims", "eqdims");
            if eq && size > 64 {
                return None;
            }
            let count = match p.get("count") {
                "one" => 1,
                "two" => 2,
                _ => 3,
            };
            let parts = p.get("parts");
            if count == 1 && parts != "equal" {
                return None;
            }
            let base = cases::dims(rank, size, eq);
            let dt = p.dtype();
            let inputs = (0..count)
                .map(|i| {
                    let mut s = base.clone();
                    match parts {
                        "unequal" => s[ax] += i,
                        "withempty" if i == 1 => s[ax] = 0,
                        _ => {}
                    }
                    let t = GenInput::new(dt, s);
                    if i == 1 {
                        t.stored(Storage::from_level(p.get("layout"))).some()
                    } else {
                        t.some()
                    }
                })
                .collect();
            if count == 1 && !p.is("layout", "contiguous") {
                return None; // the layout factor is about the second input
            }
            Some(GenCase::new(inputs).int("axis", axis))
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::Value;
    use super::super::testutil::*;
    use crate::numerics::DType;
    use crate::ops::{AttrValue, Attributes};

    fn x23() -> Value {
        f(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    }

    #[test]
    fn gather_by_hand() {
        // axis 0 with indices [[1, 0], [-1, 1]] -> shape [2, 2, 3].
        let idx = i(&[2, 2], &[1, 0, -1, 1]);
        let y = run1("Gather", &Attributes::new(), &[x23(), idx]);
        assert_eq!(y.shape(), &[2, 2, 3]);
        close(
            &y.data,
            &[4.0, 5.0, 6.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 4.0, 5.0, 6.0],
            0.0,
        );
        // axis 1 with int32 indices [2, 0] -> columns 2 and 0.
        let a = attrs(&[("axis", AttrValue::Int(-1))]);
        let y = run1("Gather", &a, &[x23(), t(DType::I32, &[2], &[2.0, 0.0])]);
        assert_eq!(y.shape(), &[2, 2]);
        close(&y.data, &[3.0, 1.0, 6.0, 4.0], 0.0);
        // A scalar index removes the axis.
        let y = run1("Gather", &a, &[x23(), i(&[], &[1])]);
        assert_eq!(y.shape(), &[2]);
        close(&y.data, &[2.0, 5.0], 0.0);
    }

    #[test]
    fn gather_errors() {
        let none = Attributes::new();
        fails(
            "Gather",
            &none,
            &[Some(x23()), Some(i(&[1], &[2]))],
            "index 2 is out of bounds",
        );
        fails(
            "Gather",
            &none,
            &[Some(x23()), Some(i(&[1], &[-3]))],
            "out of bounds",
        );
        fails(
            "Gather",
            &none,
            &[Some(x23()), Some(f(&[1], &[0.0]))],
            "integer tensor",
        );
        fails(
            "Gather",
            &attrs(&[("axis", AttrValue::Int(2))]),
            &[Some(x23()), Some(i(&[1], &[0]))],
            "out of range",
        );
    }

    #[test]
    fn transpose_default_and_perm() {
        let y = run1("Transpose", &Attributes::new(), &[x23()]);
        assert_eq!(y.shape(), &[3, 2]);
        close(&y.data, &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0], 0.0);
        // [2, 3, 2] with perm [1, 0, 2] and back again is the identity.
        let vals: Vec<f64> = (0..12).map(f64::from).collect();
        let x = f(&[2, 3, 2], &vals);
        let p = attrs(&[("perm", AttrValue::Ints(vec![1, 0, 2]))]);
        let y = run1("Transpose", &p, std::slice::from_ref(&x));
        assert_eq!(y.shape(), &[3, 2, 2]);
        // y[1, 0, :] = x[0, 1, :] = [2, 3]
        assert_eq!(y.data[[1, 0, 0]], 2.0);
        assert_eq!(y.data[[1, 0, 1]], 3.0);
        assert_eq!(run1("Transpose", &p, &[y]), x);
        let p = attrs(&[("perm", AttrValue::Ints(vec![2, 0, 1]))]);
        let inv = attrs(&[("perm", AttrValue::Ints(vec![1, 2, 0]))]);
        let y = run1("Transpose", &p, std::slice::from_ref(&x));
        assert_eq!(y.shape(), &[2, 2, 3]);
        assert_eq!(run1("Transpose", &inv, &[y]), x);
        for bad in [vec![0, 0, 1], vec![0, 1], vec![0, 1, 3], vec![-1, 0, 1]] {
            let a = attrs(&[("perm", AttrValue::Ints(bad))]);
            fails("Transpose", &a, &[Some(x.clone())], "not a permutation");
        }
    }

    #[test]
    fn reshape_rules() {
        let none = Attributes::new();
        let y = run1("Reshape", &none, &[x23(), i(&[2], &[3, -1])]);
        assert_eq!(y.shape(), &[3, 2]);
        close(&y.data, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 0.0);
        // 0 copies the input dimension.
        let y = run1("Reshape", &none, &[x23(), i(&[3], &[0, 3, 1])]);
        assert_eq!(y.shape(), &[2, 3, 1]);
        // Round trip through a transposed layout keeps row-major order.
        let tr = run1("Transpose", &none, &[x23()]);
        let y = run1("Reshape", &none, &[tr, i(&[1], &[-1])]);
        close(&y.data, &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0], 0.0);
        let back = run1("Reshape", &none, &[y, i(&[2], &[3, 2])]);
        assert_eq!(back.shape(), &[3, 2]);
        // allowzero=1: 0 is a real empty dimension.
        let az = attrs(&[("allowzero", AttrValue::Int(1))]);
        let y = run1("Reshape", &az, &[f(&[0, 3], &[]), i(&[2], &[3, 0])]);
        assert_eq!(y.shape(), &[3, 0]);
    }

    #[test]
    fn reshape_errors() {
        let none = Attributes::new();
        let az = attrs(&[("allowzero", AttrValue::Int(1))]);
        let x = Some(x23());
        fails(
            "Reshape",
            &none,
            &[x.clone(), Some(i(&[2], &[-1, -1]))],
            "more than one -1",
        );
        fails(
            "Reshape",
            &none,
            &[x.clone(), Some(i(&[2], &[4, -1]))],
            "cannot infer",
        );
        fails(
            "Reshape",
            &none,
            &[x.clone(), Some(i(&[2], &[4, 2]))],
            "has 8 elements",
        );
        fails(
            "Reshape",
            &none,
            &[x.clone(), Some(i(&[2], &[-2, 3]))],
            "invalid dimension -2",
        );
        fails(
            "Reshape",
            &none,
            &[x.clone(), Some(i(&[3], &[1, 6, 0]))],
            "has rank 2",
        );
        fails(
            "Reshape",
            &az,
            &[x.clone(), Some(i(&[2], &[0, -1]))],
            "both 0 and -1",
        );
        fails(
            "Reshape",
            &none,
            &[x, Some(i(&[1, 2], &[3, 2]))],
            "must be 1-D",
        );
    }

    #[test]
    fn concat_axes_and_empty_inputs() {
        let a0 = attrs(&[("axis", AttrValue::Int(0))]);
        let a1 = attrs(&[("axis", AttrValue::Int(-1))]);
        let b = f(&[2, 1], &[7.0, 8.0]);
        let y = run1("Concat", &a1, &[x23(), b.clone()]);
        assert_eq!(y.shape(), &[2, 4]);
        close(&y.data, &[1.0, 2.0, 3.0, 7.0, 4.0, 5.0, 6.0, 8.0], 0.0);
        let y = run1(
            "Concat",
            &a0,
            &[f(&[0, 3], &[]), x23(), f(&[1, 3], &[9.0; 3])],
        );
        assert_eq!(y.shape(), &[3, 3]);
        close(&y.data, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 9.0, 9.0, 9.0], 0.0);
        fails(
            "Concat",
            &a0,
            &[Some(x23()), Some(b.clone())],
            "does not match",
        );
        fails(
            "Concat",
            &a0,
            &[Some(x23()), Some(f(&[6], &[0.0; 6]))],
            "does not match",
        );
        fails(
            "Concat",
            &Attributes::new(),
            &[Some(x23())],
            "axis is required",
        );
        fails(
            "Concat",
            &a1,
            &[Some(x23()), Some(t(DType::F16, &[2, 1], &[0.0; 2]))],
            "same dtype",
        );
    }
}
