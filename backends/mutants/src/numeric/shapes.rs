//! Faults in how an op finds its axes: an axis looked up by its size, and a
//! broadcast that expands only the dims added by rank padding.

use xpucert_abi::{AttrValue, BackendError};
use xpucert_reference_core::layout::{broadcast_offsets, broadcast_shapes};
use xpucert_reference_core::tensor::Tensor;

use super::io::{Loaded, computes_in_f32, f32s, from_f32};
use super::{Patch, fault};
use crate::Mode;

/// Softmax/LogSoftmax whose axis is found by its size: the first dim of
/// that size wins, so when dim(axis) == dim(0) and axis != 0 the row runs
/// along axis 0.
fn axis_by_size(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let shape = l.input(0)?.shape.clone();
    let rank = shape.len() as i64;
    let axis = l.int("axis", -1);
    let axis = if axis < 0 { axis + rank } else { axis };
    if axis > 0 && axis < rank && shape[axis as usize] == shape[0] {
        l.set("axis", AttrValue::Int(0));
    }
    l.reference()
}

/// Fault: the softmax axis looked up by size.
pub fn softmax_axis_by_size() -> Mode {
    fault(
        "softmax_axis_by_size",
        "Softmax/LogSoftmax find the axis by its size: when dim(axis) == dim(0), axis != 0, they reduce over axis 0",
        Patch::new(&["Softmax", "LogSoftmax"], axis_by_size),
    )
}

/// Whether the element at output coordinates `at` is read from a lower-rank
/// operand's leading size-1 dim past its first position: the buggy expand
/// replicates the operand over the dims that rank padding added, but not
/// along its own leading 1, so those positions read the zero-filled staging
/// buffer.
fn unexpanded(operand: &[usize], out: &[usize], at: &[usize]) -> bool {
    let pad = out.len() - operand.len();
    pad > 0 && operand.first() == Some(&1) && out[pad] > 1 && at[pad] > 0
}

fn binary(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let (a, b) = (l.input(0)?, l.input(1)?);
    if !computes_in_f32(a.dtype()) {
        return l.reference();
    }
    let Ok(shape) = broadcast_shapes(&[&a.shape, &b.shape]) else {
        return l.reference();
    };
    let (ai, bi) = (
        broadcast_offsets(&a.shape, &shape)?,
        broadcast_offsets(&b.shape, &shape)?,
    );
    let (av, bv) = (f32s(a)?, f32s(b)?);
    let op: fn(f32, f32) -> f32 = match l.op() {
        "Add" => |x, y| x + y,
        "Sub" => |x, y| x - y,
        "Mul" => |x, y| x * y,
        _ => |x, y| x / y,
    };
    let mut at = vec![0usize; shape.len()];
    let mut out = Vec::with_capacity(ai.len());
    for (&i, &j) in ai.iter().zip(&bi) {
        let x = if unexpanded(&a.shape, &shape, &at) {
            0.0
        } else {
            av[i]
        };
        let y = if unexpanded(&b.shape, &shape, &at) {
            0.0
        } else {
            bv[j]
        };
        out.push(op(x, y));
        // Next row-major coordinate.
        for ax in (0..shape.len()).rev() {
            at[ax] += 1;
            if at[ax] < shape[ax] {
                break;
            }
            at[ax] = 0;
        }
    }
    Ok(vec![from_f32(a.dtype(), shape, out)?])
}

/// Fault: a lower-rank operand's leading 1 is not broadcast.
pub fn broadcast_leading_one() -> Mode {
    fault(
        "broadcast_leading_one",
        "Add/Sub/Mul/Div: a lower-rank operand's leading size-1 dim is not expanded (only rank-padding dims are); later positions read zeros",
        Patch::new(&["Add", "Sub", "Mul", "Div"], binary),
    )
}

#[cfg(test)]
mod tests {
    use super::unexpanded;

    #[test]
    fn only_a_lower_rank_leading_one_against_a_larger_dim() {
        let out = [2, 3, 4];
        assert!(unexpanded(&[1, 4], &out, &[0, 1, 0]));
        assert!(!unexpanded(&[1, 4], &out, &[1, 0, 3]));
        assert!(!unexpanded(&[4], &out, &[1, 2, 3]));
        assert!(!unexpanded(&[1, 3, 4], &out, &[1, 2, 3]));
        assert!(!unexpanded(&[1, 7], &[5, 1, 7], &[4, 0, 6]));
    }
}
