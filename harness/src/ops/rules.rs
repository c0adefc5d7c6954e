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

/// Resolves a possibly negative axis against `rank`.
pub(super) fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r.max(1) {
        return Err(format!("axis {axis} out of range for rank {rank}"));
    }
    Ok(a as usize)
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
    }
}

/// Cost: data movement only.
pub(super) fn no_flops(_: &Attributes, _: &[Option<&[usize]>]) -> Work {
    Work {
        flops: None,
        multiply_adds: 0.0,
    }
}

/// Cost: `k` FLOPs per element of the first input.
pub(super) fn per_input_element<const K: u32>(_: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
    Work {
        flops: Some(K as f64 * numel(shape_of(inputs, 0))),
        multiply_adds: 0.0,
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
