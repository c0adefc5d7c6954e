//! Shape arithmetic shared by the kernels: axis normalisation, numpy
//! broadcasting, and element offset maps of strided views over contiguous data.

use xpucert_abi::BackendError;

/// Row-major strides (in elements) of a contiguous tensor of `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    strides
}

/// Turns a possibly negative ONNX axis into an index in `0..rank`.
pub fn normalize_axis(axis: i64, rank: usize, what: &str) -> Result<usize, BackendError> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(BackendError::invalid(format!(
            "{what}: axis {axis} is out of range for rank {rank}"
        )));
    }
    Ok(a as usize)
}

/// Splits `shape` around `axis` into (product before, the axis, product after).
pub fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// The numpy broadcast of several shapes (aligned at the right).
pub fn broadcast_shapes(shapes: &[&[usize]]) -> Result<Vec<usize>, BackendError> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for shape in shapes {
        let pad = rank - shape.len();
        for (i, &d) in shape.iter().enumerate() {
            let o = &mut out[pad + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(BackendError::invalid(format!(
                    "shapes {shapes:?} cannot be broadcast together"
                )));
            }
        }
    }
    Ok(out)
}

/// For every element of a tensor of shape `dst` (row-major), the flat index of
/// the element of a contiguous tensor of shape `src` that broadcasts onto it.
/// `src` must be broadcastable to `dst` (checked).
pub fn broadcast_offsets(src: &[usize], dst: &[usize]) -> Result<Vec<usize>, BackendError> {
    if src.len() > dst.len() {
        return Err(BackendError::invalid(format!(
            "shape {src:?} has more dimensions than {dst:?}"
        )));
    }
    let pad = dst.len() - src.len();
    let src_strides = contiguous_strides(src);
    let mut strides = vec![0usize; dst.len()];
    for (i, &d) in src.iter().enumerate() {
        if d == dst[pad + i] {
            strides[pad + i] = src_strides[i];
        } else if d != 1 {
            return Err(BackendError::invalid(format!(
                "shape {src:?} cannot be broadcast to {dst:?}"
            )));
        }
    }
    Ok(view_offsets(dst, &strides))
}

/// Flat offsets, in row-major order of `shape`, of a view with the given
/// element `strides` over contiguous data.
pub fn view_offsets(shape: &[usize], strides: &[usize]) -> Vec<usize> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let rank = shape.len();
    if rank == 0 {
        out.push(0);
        return out;
    }
    let last = rank - 1;
    let (inner_len, inner_stride) = (shape[last], strides[last]);
    let mut idx = vec![0usize; rank];
    let mut base = 0usize;
    loop {
        out.extend((0..inner_len).map(|j| base + j * inner_stride));
        // Advance the odometer over all but the last dimension.
        let mut ax = last;
        loop {
            if ax == 0 {
                return out;
            }
            ax -= 1;
            idx[ax] += 1;
            base += strides[ax];
            if idx[ax] < shape[ax] {
                break;
            }
            base -= strides[ax] * shape[ax];
            idx[ax] = 0;
        }
    }
}

/// Converts ONNX dimension values (i64) of a shape to `usize`.
pub fn dims_to_usize(dims: &[i64], what: &str) -> Result<Vec<usize>, BackendError> {
    dims.iter()
        .map(|&d| {
            usize::try_from(d)
                .map_err(|_| BackendError::invalid(format!("{what}: negative dimension {d}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting() {
        assert_eq!(
            broadcast_shapes(&[&[2, 1, 3], &[4, 1]]).unwrap(),
            vec![2, 4, 3]
        );
        assert!(broadcast_shapes(&[&[2, 3], &[4, 3]]).is_err());
        assert_eq!(
            broadcast_offsets(&[3], &[2, 3]).unwrap(),
            vec![0, 1, 2, 0, 1, 2]
        );
        assert_eq!(
            broadcast_offsets(&[2, 1], &[2, 3]).unwrap(),
            vec![0, 0, 0, 1, 1, 1]
        );
        assert_eq!(broadcast_offsets(&[], &[2]).unwrap(), vec![0, 0]);
        assert!(broadcast_offsets(&[2], &[3]).is_err());
    }

    #[test]
    fn view_offsets_of_a_transpose() {
        // A 2x3 contiguous matrix viewed as its 3x2 transpose.
        assert_eq!(view_offsets(&[3, 2], &[1, 3]), vec![0, 3, 1, 4, 2, 5]);
        assert_eq!(view_offsets(&[], &[]), vec![0]);
        assert!(view_offsets(&[2, 0], &[0, 1]).is_empty());
    }

    #[test]
    fn axes() {
        assert_eq!(normalize_axis(-1, 3, "t").unwrap(), 2);
        assert!(normalize_axis(3, 3, "t").is_err());
        assert!(normalize_axis(-4, 3, "t").is_err());
        assert_eq!(split_at_axis(&[2, 3, 4], 1), (2, 3, 4));
        assert_eq!(contiguous_strides(&[2, 3, 4]), vec![12, 4, 1]);
    }
}
