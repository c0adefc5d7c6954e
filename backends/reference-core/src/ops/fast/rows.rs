//! Row kernels over the last axis: lane sums and maxima, Softmax and
//! LogSoftmax, LayerNormalization and RMSNormalization.

use xpucert_abi::{OpCall, TensorMut, TensorRef};

use super::storage::{Storage, contiguous, dims, widen_any};
use super::{BLOCK, LANES, Par, split};
use crate::layout::{broadcast_offsets, broadcast_shapes, normalize_axis};
use crate::tensor::Real;

/// The sum of `v` with [`LANES`] partial sums: element `j` goes to partial
/// `j % LANES` (in order), and the partials are combined pairwise
/// (0+8, 1+9, ..., then 0+4, ..., then 0+2, then 0+1 for 16 lanes).
pub fn sum<C: Real>(v: &[C]) -> C {
    sum_map(v, |x| x)
}

/// [`sum`] of `f(v[j])`.
#[inline(always)]
fn sum_map<C: Real>(v: &[C], f: impl Fn(C) -> C) -> C {
    let mut acc = [C::ZERO; LANES];
    let mut chunks = v.chunks_exact(LANES);
    for c in &mut chunks {
        for k in 0..LANES {
            acc[k] += f(c[k]);
        }
    }
    for (a, &x) in acc.iter_mut().zip(chunks.remainder()) {
        *a += f(x);
    }
    let mut width = LANES / 2;
    while width > 0 {
        for k in 0..width {
            acc[k] += acc[k + width];
        }
        width /= 2;
    }
    acc[0]
}

/// The maximum of `v`, NaN if any element is NaN (which element's NaN is
/// unspecified); lanes like [`sum`] (max is exact, only signed zeros and
/// NaN payloads could tell the order, and Softmax subtracts the max, which
/// neither changes).
pub(super) fn max_lanes<C: Real>(v: &[C]) -> C {
    let pick = |acc: C, x: C| if x.is_nan() || x > acc { x } else { acc };
    let mut acc = [C::NEG_INFINITY; LANES];
    let mut chunks = v.chunks_exact(LANES);
    for c in &mut chunks {
        for k in 0..LANES {
            acc[k] = pick(acc[k], c[k]);
        }
    }
    for (a, &x) in acc.iter_mut().zip(chunks.remainder()) {
        *a = pick(*a, x);
    }
    // NaN is sticky: `x > NaN` is false, and a NaN `x` is picked.
    acc.iter().fold(
        C::NEG_INFINITY,
        |m, &x| {
            if m.is_nan() { m } else { pick(m, x) }
        },
    )
}

/// `rows` rows of `len` input and `out_len` output elements.
#[derive(Debug, Clone, Copy)]
pub(super) struct RowShape {
    pub(super) rows: usize,
    pub(super) len: usize,
    pub(super) out_len: usize,
}

/// Runs `f(row_in, row_out)` for each of `rows` rows of `len` input elements
/// (contiguous bytes `x`) producing `out_len` output elements each, in
/// groups of rows widened together; parallel over rows for large inputs.
pub(super) fn rows_map<S: Storage, F>(
    x: &[u8],
    RowShape { rows, len, out_len }: RowShape,
    cost: usize,
    threads: Par,
    out: &mut [u8],
    f: F,
) where
    F: Fn(&[S::C], &mut [S::C]) + Sync,
{
    if rows == 0 || len == 0 {
        return;
    }
    let group = (BLOCK / len).max(1);
    split(
        rows,
        1,
        len.saturating_mul(cost),
        threads,
        out,
        out_len * S::SIZE,
        |range, dst| {
            let g = group.min(range.len());
            let mut xin = vec![S::C::ZERO; g * len];
            let mut y = vec![S::C::ZERO; g * out_len];
            let mut r = range.start;
            for d in dst.chunks_mut(g * out_len * S::SIZE) {
                let k = d.len() / (out_len * S::SIZE);
                S::widen(
                    &x[r * len * S::SIZE..(r + k) * len * S::SIZE],
                    &mut xin[..k * len],
                );
                for (row, yrow) in xin[..k * len]
                    .chunks_exact(len)
                    .zip(y[..k * out_len].chunks_exact_mut(out_len))
                {
                    f(row, yrow);
                }
                S::narrow(&y[..k * out_len], d);
                r += k;
            }
        },
    );
}

/// Softmax (or log-softmax) of one row: the generic kernel's formula
/// (subtract the max, `exp(x - max) / sum`), with the exponentials computed
/// once and summed in lanes.
pub fn softmax_row_into<C: Real>(row: &[C], out: &mut [C], log: bool) {
    let max = max_lanes(row);
    for (o, &v) in out.iter_mut().zip(row) {
        *o = (v - max).exp();
    }
    let s = sum(out);
    if log {
        let ln_sum = s.ln();
        for (o, &v) in out.iter_mut().zip(row) {
            *o = (v - max) - ln_sum;
        }
    } else {
        out.iter_mut().for_each(|o| *o /= s);
    }
}

pub(super) fn softmax<S: Storage>(
    call: &OpCall<'_>,
    out: &mut TensorMut<'_>,
    threads: Par,
) -> Option<()> {
    let t = call.input(0).ok()?;
    if t.shape() != out.shape() {
        return None;
    }
    let shape = dims(t.shape());
    let axis = normalize_axis(call.attr_int("axis", -1).ok()?, shape.len(), call.op_type).ok()?;
    if shape[axis + 1..].iter().product::<usize>() != 1 {
        return None;
    }
    let x = contiguous(t, S::DTYPE)?;
    let len = shape[axis];
    let rows = t.numel() / len;
    let log = call.op_type == "LogSoftmax";
    rows_map::<S, _>(
        x,
        RowShape {
            rows,
            len,
            out_len: len,
        },
        16,
        threads,
        out.bytes_mut(),
        |row, y| softmax_row_into(row, y, log),
    );
    Some(())
}

/// A LayerNormalization/RMSNormalization parameter broadcast to the
/// normalised shape, one value per row element.
fn row_param<C: Real>(t: &TensorRef<'_>, row_shape: &[usize]) -> Option<Vec<C>> {
    let sh = dims(t.shape());
    if broadcast_shapes(&[&sh, row_shape]).ok()? != row_shape {
        return None;
    }
    let v = widen_any::<C>(t)?;
    let index = broadcast_offsets(&sh, row_shape).ok()?;
    index.iter().map(|&i| v.get(i).copied()).collect()
}

pub(super) fn normalize<S: Storage>(
    call: &OpCall<'_>,
    out: &mut TensorMut<'_>,
    centred: bool,
    threads: Par,
) -> Option<()> {
    let t = call.input(0).ok()?;
    if t.shape() != out.shape() {
        return None;
    }
    let shape = dims(t.shape());
    let axis = normalize_axis(call.attr_int("axis", -1).ok()?, shape.len(), call.op_type).ok()?;
    let epsilon = call.attr_float("epsilon", 1e-5).ok()?;
    let x = contiguous(t, S::DTYPE)?;
    let row_shape = &shape[axis..];
    let len: usize = row_shape.iter().product();
    let scale = row_param::<S::C>(call.input(1).ok()?, row_shape)?;
    let bias = match call.optional_input(2) {
        Some(b) if centred => {
            if b.dtype() != S::DTYPE {
                return None;
            }
            Some(row_param::<S::C>(b, row_shape)?)
        }
        _ => None,
    };
    let eps = S::C::from_f64(epsilon);
    let n = S::C::from_f64(len as f64);
    let rows = t.numel() / len.max(1);
    rows_map::<S, _>(
        x,
        RowShape {
            rows,
            len,
            out_len: len,
        },
        2,
        threads,
        out.bytes_mut(),
        |row, y| {
            let mean = if centred { sum(row) / n } else { S::C::ZERO };
            let sq = sum_map(row, |e| {
                let d = e - mean;
                d * d
            });
            let denom = (sq / n + eps).sqrt();
            // The generic kernel's expression, element by element.
            match &bias {
                Some(b) => {
                    for (((o, &e), &s), &b) in y.iter_mut().zip(row).zip(&scale).zip(b) {
                        *o = (e - mean) / denom * s + b;
                    }
                }
                None => {
                    for ((o, &e), &s) in y.iter_mut().zip(row).zip(&scale) {
                        *o = (e - mean) / denom * s;
                    }
                }
            }
        },
    );
    Some(())
}
