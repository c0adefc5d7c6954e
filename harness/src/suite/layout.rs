//! How a logical tensor is laid out in the buffer handed to the backend.
//!
//! Suites generate the logical tensor; the layout decides its strides, so a
//! backend that ignores strides (reads a non-contiguous input as if it were
//! contiguous) produces wrong numbers instead of passing by luck.

use serde::{Deserialize, Serialize};

use crate::numerics::HostTensor;

/// Elements of padding after every row of a [`Layout::Padded`] tensor. Odd,
/// so padded rows are not aligned the way a contiguous tensor's rows are.
pub const ROW_PAD: usize = 3;

/// Byte written into every storage element the logical tensor does not use:
/// 0xFF.. is a NaN in every float dtype, -1 in signed integers and the maximum
/// in unsigned ones, so reading padding shows up in the result.
pub const POISON: u8 = 0xFF;

/// Physical storage of an input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Row-major, no gaps.
    #[default]
    Contiguous,
    /// Stored as the tensor with all axes reversed, row-major; the logical
    /// strides are therefore column-major.
    Transposed,
    /// Row-major with [`ROW_PAD`] unused elements after every row of the last
    /// dimension (row stride = last dim + `ROW_PAD`).
    Padded,
    /// Row-major with every stride doubled: one unused element after each.
    Strided,
}

impl Layout {
    /// Element strides of each logical axis and the storage length in
    /// elements (including the gaps) for a tensor of `shape`.
    pub fn strides_and_len(&self, shape: &[usize]) -> (Vec<i64>, usize) {
        let n = shape.len();
        let numel: usize = shape.iter().product();
        let row_major = |shape: &[usize]| {
            let mut s = vec![0i64; shape.len()];
            let mut acc = 1i64;
            for i in (0..shape.len()).rev() {
                s[i] = acc;
                acc *= shape[i].max(1) as i64;
            }
            s
        };
        match self {
            Layout::Contiguous => (row_major(shape), numel),
            Layout::Transposed => {
                let mut s = vec![0i64; n];
                let mut acc = 1i64;
                for i in 0..n {
                    s[i] = acc;
                    acc *= shape[i].max(1) as i64;
                }
                (s, numel)
            }
            Layout::Padded => {
                if n == 0 {
                    return (Vec::new(), numel);
                }
                let row = shape[n - 1] + ROW_PAD;
                let mut s = vec![0i64; n];
                s[n - 1] = 1;
                let mut acc = row as i64;
                for i in (0..n - 1).rev() {
                    s[i] = acc;
                    acc *= shape[i].max(1) as i64;
                }
                let rows: usize = shape[..n - 1].iter().product();
                (s, if numel == 0 { 0 } else { rows * row })
            }
            Layout::Strided => {
                let s = row_major(shape).into_iter().map(|x| 2 * x).collect();
                (s, 2 * numel)
            }
        }
    }

    /// Writes the logical (row-major) tensor `t` into a buffer of this layout;
    /// returns the bytes and the element strides. Unused elements hold
    /// [`POISON`] bytes.
    pub fn store(&self, t: &HostTensor) -> (Vec<u8>, Vec<i64>) {
        let (strides, len) = self.strides_and_len(&t.shape);
        if t.dtype.is_packed() {
            // Element k of the stride grid is code k of the buffer (lowest
            // bits first), as the header defines for the packed dtypes.
            let mut buf = vec![POISON; t.dtype.bytes_for(len)];
            let codes = t.unpacked_codes();
            for (code, off) in codes.into_iter().zip(offsets(&t.shape, &strides)) {
                t.dtype.set_packed_code(&mut buf, off, code);
            }
            return (buf, strides);
        }
        let sz = t.dtype.size();
        let mut buf = vec![POISON; len * sz];
        for (i, off) in offsets(&t.shape, &strides).into_iter().enumerate() {
            buf[off * sz..(off + 1) * sz].copy_from_slice(&t.data[i * sz..(i + 1) * sz]);
        }
        (buf, strides)
    }
}

/// Storage offset (in elements) of every logical element, in row-major order.
pub fn offsets(shape: &[usize], strides: &[i64]) -> Vec<usize> {
    let numel: usize = shape.iter().product();
    let mut out = Vec::with_capacity(numel);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..numel {
        let off: i64 = idx.iter().zip(strides).map(|(&i, &s)| i as i64 * s).sum();
        out.push(off as usize);
        for ax in (0..shape.len()).rev() {
            idx[ax] += 1;
            if idx[ax] < shape[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    out
}
