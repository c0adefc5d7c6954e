//! ReduceSum/ReduceMean/ReduceMax over trailing axes (row by row, lane
//! sums) or leading axes (column by column, in the generic kernel's order).

use xpucert_abi::{DType, OpCall, TensorMut};

use super::rows::{RowShape, rows_map, sum};
use super::storage::{Storage, contiguous, dims};
use super::{BLOCK, Par, split};
use crate::layout::normalize_axis;
use crate::tensor::Real;

pub(super) fn reduce<S: Storage>(
    call: &OpCall<'_>,
    out: &mut TensorMut<'_>,
    threads: Par,
) -> Option<()> {
    let t = call.input(0).ok()?;
    let x = contiguous(t, S::DTYPE)?;
    let shape = dims(t.shape());
    let rank = shape.len();
    let keepdims = call.attr_int("keepdims", 1).ok()? != 0;
    // The versions with the axes as an attribute (before 13 or 18) take the
    // general path.
    if call.attributes.iter().any(|a| a.name == "axes") {
        return None;
    }
    let given = match call.optional_input(1) {
        Some(a) if a.dtype() == DType::I64 => a.read::<i64>().ok()?,
        Some(_) => return None,
        None => Vec::new(),
    };
    let mut axes: Vec<usize> = if given.is_empty() {
        if call.attr_int("noop_with_empty_axes", 0).ok()? != 0 {
            return None;
        }
        (0..rank).collect()
    } else {
        given
            .iter()
            .map(|&a| normalize_axis(a, rank, call.op_type))
            .collect::<Result<_, _>>()
            .ok()?
    };
    axes.sort_unstable();
    if axes.windows(2).any(|w| w[0] == w[1]) {
        return None;
    }
    let reduced = |i: usize| axes.contains(&i);
    let out_shape: Vec<usize> = (0..rank)
        .filter(|&i| keepdims || !reduced(i))
        .map(|i| if reduced(i) { 1 } else { shape[i] })
        .collect();
    if dims(out.shape()) != out_shape {
        return None;
    }
    // Ignoring size-1 dims, the reduced axes must be all trailing (rows,
    // which includes reducing every axis) or all leading (columns).
    let big: Vec<bool> = (0..rank).filter(|&i| shape[i] != 1).map(reduced).collect();
    let trailing = big.windows(2).all(|w| !w[0] || w[1]);
    let leading = big.windows(2).all(|w| w[0] || !w[1]);
    let inner: usize = (0..rank)
        .filter(|&i| !reduced(i))
        .map(|i| shape[i])
        .product();
    let count = t.numel() / inner.max(1);
    let op = call.op_type;
    let n = S::C::from_f64(count as f64);
    if trailing {
        rows_map::<S, _>(
            x,
            RowShape {
                rows: inner,
                len: count,
                out_len: 1,
            },
            1,
            threads,
            out.bytes_mut(),
            |row, y| {
                y[0] = match op {
                    "ReduceMax" => max_sequential(row),
                    "ReduceMean" => sum(row) / n,
                    _ => sum(row),
                };
            },
        );
        Some(())
    } else if leading {
        columns::<S>(x, count, inner, op, n, threads, out.bytes_mut());
        Some(())
    } else {
        None
    }
}

/// ReduceMax's rule, in order: NaN wins, otherwise the first of equal
/// maxima is kept (the generic kernel's result, bit for bit).
fn max_sequential<C: Real>(v: &[C]) -> C {
    let mut acc = C::NEG_INFINITY;
    for &e in v {
        if !acc.is_nan() && (e.is_nan() || e > acc) {
            acc = e;
        }
    }
    acc
}

/// Reduction over leading axes: `rows` rows of `inner` elements folded into
/// `inner` outputs, each accumulated over the rows in order (the generic
/// kernel's order, so the results are identical); parallel over column
/// blocks.
fn columns<S: Storage>(
    x: &[u8],
    rows: usize,
    inner: usize,
    op: &str,
    n: S::C,
    threads: Par,
    out: &mut [u8],
) {
    let max = op == "ReduceMax";
    split(
        inner,
        BLOCK,
        rows.max(1),
        threads,
        out,
        S::SIZE,
        |range, dst| {
            let mut acc = [S::C::ZERO; BLOCK];
            let mut buf = [S::C::ZERO; BLOCK];
            let mut j = range.start;
            for d in dst.chunks_mut(BLOCK * S::SIZE) {
                let m = d.len() / S::SIZE;
                let acc = &mut acc[..m];
                acc.fill(if max { S::C::NEG_INFINITY } else { S::C::ZERO });
                for r in 0..rows {
                    let at = (r * inner + j) * S::SIZE;
                    S::widen(&x[at..at + m * S::SIZE], &mut buf[..m]);
                    if max {
                        for (a, &e) in acc.iter_mut().zip(&buf[..m]) {
                            if !a.is_nan() && (e.is_nan() || e > *a) {
                                *a = e;
                            }
                        }
                    } else {
                        for (a, &e) in acc.iter_mut().zip(&buf[..m]) {
                            *a += e;
                        }
                    }
                }
                if op == "ReduceMean" {
                    acc.iter_mut().for_each(|a| *a /= n);
                }
                S::narrow(acc, d);
                j += m;
            }
        },
    );
}
