//! The pieces several definitions share: shape rules (same shape as the
//! first input, broadcasting), cost models (per output element, per input
//! element, none), summation lengths, and attribute readers that tolerate
//! a missing or mistyped attribute (those rules never judge a call: the
//! oracle does).

use super::{AttrValue, Attributes, Work};
use crate::numerics::DType;

/// A tensor's dtype and shape.
pub type TypedShape = (DType, Vec<usize>);

/// Integer attribute or `default` (a mistyped one reads as absent: the
/// oracle reports it).
pub(super) fn int_attr(attrs: &Attributes, name: &str, default: i64) -> i64 {
    match attrs.get(name) {
        Some(AttrValue::Int(v)) => *v,
        _ => default,
    }
}

/// A 0/1 attribute (`is_causal`, `interleaved`, `saturate`) as a bool, or
/// an error for any other value.
pub(super) fn flag(attrs: &Attributes, name: &str, default: bool) -> Result<bool, String> {
    use super::AttributesExt;
    match attrs.int(name, i64::from(default))? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(format!("attribute {name} must be 0 or 1, got {v}")),
    }
}

/// Resolves a possibly negative axis attribute against `rank`.
pub(super) fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    resolve_axis("axis", axis, rank)
}

/// Resolves a possibly negative axis (`what` names it in the message)
/// against `rank`: ONNX accepts `-rank..=rank-1`, and a scalar has none.
pub(super) fn resolve_axis(what: &str, axis: i64, rank: usize) -> Result<usize, String> {
    if rank == 0 {
        return Err(format!(
            "{what} {axis} does not exist: the input is a scalar (rank 0), which has no axes"
        ));
    }
    let r = rank as i64;
    if axis < -r || axis >= r {
        return Err(format!(
            "{what} {axis} is out of range for rank {rank} (accepted: {} to {})",
            -r,
            r - 1
        ));
    }
    Ok(if axis < 0 { axis + r } else { axis } as usize)
}

/// 2^63: the i64 range in f64 is `[-2^63, 2^63)`.
const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// An integer input's values (axes, shape, K, indices) as i64. The values
/// come from an integer dtype, so only a fractional value (a float fed
/// where ints belong) is refused; every i64, -2^63 included, is exact in
/// f64 or was rounded when the suite was read.
pub(super) fn ints_of(name: &str, values: &[f64]) -> Result<Vec<i64>, String> {
    values
        .iter()
        .map(|&x| {
            if x.is_finite() && x.fract() == 0.0 && (-TWO_63..TWO_63).contains(&x) {
                Ok(x as i64)
            } else {
                Err(format!(
                    "input {name} holds {x}, which is not an i64 integer"
                ))
            }
        })
        .collect()
}

/// Unidirectional broadcasting: `shape` (of the input `what`) must stretch
/// to `target`, as Gemm's C and the normalisation scales must.
pub(super) fn stretches_to(what: &str, shape: &[usize], target: &[usize]) -> Result<(), String> {
    let fits = shape.len() <= target.len()
        && shape
            .iter()
            .rev()
            .zip(target.iter().rev())
            .all(|(&s, &t)| s == t || s == 1);
    if fits {
        Ok(())
    } else {
        Err(format!(
            "{what} of shape {shape:?} cannot be broadcast to {target:?}"
        ))
    }
}

/// Input `i`'s dtype and shape, or an error naming it.
pub(super) fn input(inputs: &[Option<TypedShape>], i: usize) -> Result<&TypedShape, String> {
    inputs
        .get(i)
        .and_then(|s| s.as_ref())
        .ok_or_else(|| format!("input {i} missing"))
}

/// Multidirectional (numpy) broadcasting of two shapes.
pub(super) fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        *o = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        };
    }
    Ok(out)
}

/// Shape rule: one output of the first input's dtype and shape.
pub(super) fn same_as_first(
    _: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> Result<Vec<TypedShape>, String> {
    Ok(vec![input(inputs, 0)?.clone()])
}

/// Shape rule: one output of the first input's dtype, every present input
/// broadcast together.
pub(super) fn broadcast_all(
    _: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> Result<Vec<TypedShape>, String> {
    let (dtype, first) = input(inputs, 0)?;
    let mut shape = first.clone();
    for (_, s) in inputs.iter().skip(1).flatten() {
        shape = broadcast(&shape, s)?;
    }
    Ok(vec![(*dtype, shape)])
}

/// The number of elements of a shape, as f64.
pub(super) fn numel(s: &[usize]) -> f64 {
    s.iter().product::<usize>() as f64
}

/// Input `i`'s shape, empty when omitted.
pub(super) fn shape_of<'a>(inputs: &[Option<&'a [usize]>], i: usize) -> &'a [usize] {
    inputs.get(i).copied().flatten().unwrap_or(&[])
}

/// The broadcast shape of every present input (dimensions that do not
/// broadcast take the larger size: a cost model never fails).
pub(super) fn broadcast_numel(inputs: &[Option<&[usize]>]) -> f64 {
    let rank = inputs.iter().flatten().map(|s| s.len()).max().unwrap_or(0);
    let mut shape = vec![1usize; rank];
    for s in inputs.iter().flatten() {
        for (k, &d) in s.iter().enumerate() {
            let o = &mut shape[rank - s.len() + k];
            *o = (*o).max(d);
        }
    }
    numel(&shape)
}

/// Cost: one FLOP per (broadcast) output element.
pub(super) fn per_output_element(_: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
    Work {
        flops: Some(broadcast_numel(inputs)),
        multiply_adds: 0.0,
        scratch: 0.0,
    }
}

/// Cost: data movement only.
pub(super) fn no_flops(_: &Attributes, _: &[Option<&[usize]>]) -> Work {
    Work {
        flops: None,
        multiply_adds: 0.0,
        scratch: 0.0,
    }
}

/// Cost: `k` FLOPs per element of the first input.
pub(super) fn per_input_element<const K: u32>(_: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
    Work {
        flops: Some(K as f64 * numel(shape_of(inputs, 0))),
        multiply_adds: 0.0,
        scratch: 0.0,
    }
}

/// Summation length of ops that sum nothing.
pub(super) fn no_sum(_: &Attributes, _: &[Option<Vec<usize>>], _: &[usize]) -> usize {
    1
}

/// Dimension `from_end` places from the end of input `i`'s shape (1 when
/// absent), for summation lengths.
pub(super) fn dim_from_end(shapes: &[Option<Vec<usize>>], i: usize, from_end: usize) -> usize {
    shapes
        .get(i)
        .and_then(|s| s.as_ref())
        .and_then(|s| {
            s.len()
                .checked_sub(from_end)
                .and_then(|k| s.get(k))
                .copied()
        })
        .unwrap_or(1)
}
