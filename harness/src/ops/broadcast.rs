//! Numpy-style broadcasting, as ONNX defines it: multidirectional (every
//! input may stretch) for elementwise ops and Where, unidirectional (only the
//! second operand stretches to a given shape) for Gemm's C and the
//! normalisation scales.

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use super::{Call, Result};

/// The common shape of `shapes` under multidirectional broadcasting: shapes
/// are aligned on the right, and each dimension must be equal or 1.
pub(super) fn shapes(call: &Call, shapes: &[&[usize]]) -> Result<Vec<usize>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for s in shapes {
        let offset = rank - s.len();
        for (k, &d) in s.iter().enumerate() {
            let o = &mut out[offset + k];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(call.err(format!(
                    "shapes {} cannot be broadcast together",
                    shapes
                        .iter()
                        .map(|s| format!("{s:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    Ok(out)
}

/// A view of `data` stretched to `target` (which must be a valid broadcast
/// of its shape), or an error naming `what`.
pub(super) fn to<'a>(
    call: &Call,
    what: &str,
    data: &'a ArrayD<f64>,
    target: &[usize],
) -> Result<ArrayViewD<'a, f64>> {
    data.broadcast(IxDyn(target)).ok_or_else(|| {
        call.err(format!(
            "{what} of shape {:?} cannot be broadcast to {target:?}",
            data.shape()
        ))
    })
}

/// For an output multi-index `idx` of a broadcast result, the flat row-major
/// index into an input of shape `shape` (right-aligned; size-1 dims pin to 0).
/// Used to pair batch matrices without materialising broadcast copies.
pub(super) fn flat_index(idx: &[usize], shape: &[usize]) -> usize {
    let offset = idx.len() - shape.len();
    let mut flat = 0;
    for (k, &d) in shape.iter().enumerate() {
        let i = if d == 1 { 0 } else { idx[offset + k] };
        flat = flat * d + i;
    }
    flat
}

/// Every multi-index of `shape` in row-major order (one entry for a 0-D shape).
pub(super) fn indices(shape: &[usize]) -> impl Iterator<Item = Vec<usize>> + '_ {
    let n: usize = shape.iter().product();
    (0..n).map(move |mut flat| {
        let mut idx = vec![0; shape.len()];
        for k in (0..shape.len()).rev() {
            idx[k] = flat % shape[k];
            flat /= shape[k];
        }
        idx
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::ops::{Attributes, Op};

    fn call() -> Call<'static> {
        static ATTRS: std::sync::OnceLock<Attributes> = std::sync::OnceLock::new();
        Call {
            spec: Op::Add.spec(),
            attrs: ATTRS.get_or_init(Attributes::new),
            inputs: &[],
            magnitudes: true,
            requested: None,
        }
    }

    #[test]
    fn broadcast_shapes_follow_numpy() {
        let c = call();
        assert_eq!(shapes(&c, &[&[2, 3, 4], &[4]]).unwrap(), vec![2, 3, 4]);
        assert_eq!(shapes(&c, &[&[2, 1, 4], &[3, 1]]).unwrap(), vec![2, 3, 4]);
        assert_eq!(shapes(&c, &[&[], &[5]]).unwrap(), vec![5]);
        assert_eq!(shapes(&c, &[&[0, 1], &[1, 3]]).unwrap(), vec![0, 3]);
        let e = shapes(&c, &[&[2, 3], &[4]]).unwrap_err().to_string();
        assert!(e.contains("[2, 3], [4]"), "{e}");
    }

    #[test]
    fn flat_index_pins_broadcast_dims() {
        // Output index (1, 2) into a [3] input: element 2; into [2, 1]: row 1.
        assert_eq!(flat_index(&[1, 2], &[3]), 2);
        assert_eq!(flat_index(&[1, 2], &[2, 1]), 1);
        assert_eq!(flat_index(&[1, 2], &[2, 3]), 5);
        assert_eq!(flat_index(&[1, 2], &[]), 0);
        let all: Vec<Vec<usize>> = indices(&[2, 2]).collect();
        assert_eq!(all, vec![vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1]]);
        assert_eq!(indices(&[]).count(), 1);
        let v = f(&[1, 2], &[1.0, 2.0]);
        assert_eq!(
            to(&c_ref(), "x", &v.data, &[3, 2]).unwrap().shape(),
            &[3, 2]
        );
        assert!(to(&c_ref(), "x", &v.data, &[3, 3]).is_err());
    }

    fn c_ref() -> Call<'static> {
        call()
    }
}
