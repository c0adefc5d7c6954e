//! Row-wise kernels: Softmax/LogSoftmax, LayerNormalization/RMSNormalization
//! and ReduceSum/ReduceMean, each with the variants the modes need.

use half::{bf16, f16};
use xpucert_abi::{BackendError, DType};
use xpucert_reference_core::layout::{broadcast_offsets, normalize_axis, split_at_axis};
use xpucert_reference_core::tensor::Tensor;

use super::io::{Loaded, computes_in_f32, f32s, from_f32};

/// Sums `v` in the given order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// First to last (the reference).
    Sequential,
    /// Last to first.
    Reversed,
    /// Recursive halving.
    Pairwise,
    /// First to last, every partial sum rounded to this (half) dtype: a
    /// running accumulator of the io dtype (a fault when f32 is declared).
    Running(DType),
}

/// The sum of `v` in `order`.
pub fn sum(order: Order, v: &[f32]) -> f32 {
    match order {
        Order::Sequential => v.iter().sum(),
        Order::Reversed => v.iter().rev().sum(),
        Order::Pairwise => {
            if v.len() <= 8 {
                v.iter().sum()
            } else {
                let h = v.len() / 2;
                sum(order, &v[..h]) + sum(order, &v[h..])
            }
        }
        Order::Running(dtype) => v.iter().fold(0.0, |s, &x| match dtype {
            DType::BF16 => bf16::from_f32(s + x).to_f32(),
            DType::F16 => f16::from_f32(s + x).to_f32(),
            _ => s + x,
        }),
    }
}

/// How a softmax row is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoftmaxKind {
    /// Max subtracted, exponentials summed in `Order`.
    TwoPass(Order),
    /// One pass with a running maximum, rescaling the running sum whenever
    /// the maximum grows (the online softmax of flash attention).
    Online,
    /// Fault: no maximum subtracted, so exp overflows for logits above ~88.
    NoMax,
    /// Fault: LogSoftmax as log(softmax), which is -inf wherever the softmax
    /// underflows.
    LogOfSoftmax,
}

fn softmax_row(kind: SoftmaxKind, row: &mut [f32], log: bool, scratch: &mut Vec<f32>) {
    let (max, total) = match kind {
        SoftmaxKind::Online => {
            let (mut m, mut s) = (f32::NEG_INFINITY, 0.0f32);
            for &x in row.iter() {
                if x.is_nan() {
                    m = f32::NAN;
                    break;
                }
                if x == f32::NEG_INFINITY {
                    continue; // contributes exp(-inf) = 0
                }
                if x > m {
                    s = s * (m - x).exp() + 1.0;
                    m = x;
                } else {
                    s += (x - m).exp();
                }
            }
            if m == f32::INFINITY {
                m = f32::NAN; // inf - inf: no defined softmax
            }
            (m, s)
        }
        SoftmaxKind::NoMax => (0.0, row.iter().map(|x| x.exp()).sum()),
        SoftmaxKind::TwoPass(_) | SoftmaxKind::LogOfSoftmax => {
            let order = match kind {
                SoftmaxKind::TwoPass(o) => o,
                _ => Order::Sequential,
            };
            let mut m = f32::NEG_INFINITY;
            for &x in row.iter() {
                if x.is_nan() || x > m {
                    m = x;
                }
                if m.is_nan() {
                    break;
                }
            }
            scratch.clear();
            scratch.extend(row.iter().map(|&x| (x - m).exp()));
            (m, sum(order, scratch))
        }
    };
    for x in row.iter_mut() {
        let e = (*x - max).exp();
        *x = match (log, kind) {
            (true, SoftmaxKind::LogOfSoftmax) => (e / total).ln(),
            (true, _) => (*x - max) - total.ln(),
            (false, _) => e / total,
        };
    }
}

/// Softmax / LogSoftmax along `axis` with the given row kernel.
pub fn softmax(l: &Loaded<'_>, kind: SoftmaxKind) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let x = l.input(0)?;
    if !computes_in_f32(x.dtype()) {
        return l.reference();
    }
    let axis = normalize_axis(l.int("axis", -1), x.shape.len(), l.op())?;
    let (outer, len, inner) = split_at_axis(&x.shape, axis);
    let log = l.op() == "LogSoftmax";
    let mut v = f32s(x)?;
    let (mut row, mut scratch) = (vec![0.0f32; len], Vec::new());
    for o in 0..outer {
        for i in 0..inner {
            let base = o * len * inner + i;
            for (j, r) in row.iter_mut().enumerate() {
                *r = v[base + j * inner];
            }
            softmax_row(kind, &mut row, log, &mut scratch);
            for (j, &r) in row.iter().enumerate() {
                v[base + j * inner] = r;
            }
        }
    }
    Ok(vec![from_f32(x.dtype(), x.shape.clone(), v)?])
}

/// A normalisation bug (all are faults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormBug {
    /// Variance divided by n - 1 (LayerNorm).
    Unbiased,
    /// `1 / (sqrt(var) + eps)` instead of `1 / sqrt(var + eps)`.
    EpsOutsideSqrt,
    /// The mean (LayerNorm) or mean square (RMSNorm) sums one element past
    /// the row: the next row's first element (an off-by-one loop bound).
    ReadsPastRow,
}

/// LayerNormalization (centred) or RMSNormalization with one bug.
pub fn normalize(l: &Loaded<'_>, bug: NormBug) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let x = l.input(0)?;
    if !computes_in_f32(x.dtype()) {
        return l.reference();
    }
    let centred = l.op() == "LayerNormalization";
    let axis = normalize_axis(l.int("axis", -1), x.shape.len(), l.op())?;
    let row_shape = &x.shape[axis..];
    let len: usize = row_shape.iter().product();
    let rows = x.numel().checked_div(len).unwrap_or(0);
    let scale = l.input(1)?;
    let si = broadcast_offsets(&scale.shape, row_shape)?;
    let s = f32s(scale)?;
    let bias = if centred {
        l.inputs.get(2).and_then(Option::as_ref)
    } else {
        None
    };
    let b = bias.map(f32s).transpose()?;
    let bi = bias
        .map(|t| broadcast_offsets(&t.shape, row_shape))
        .transpose()?;
    let eps = l.float("epsilon", 1e-5) as f32;
    let n = len as f32;
    let v = f32s(x)?;
    let mut out = vec![0.0f32; v.len()];
    for r in 0..rows {
        let row = &v[r * len..(r + 1) * len];
        // One past the row: the next row's first element, if there is one.
        let extra = match bug {
            NormBug::ReadsPastRow => v.get((r + 1) * len).copied().unwrap_or(0.0),
            _ => 0.0,
        };
        let mean = if centred {
            (row.iter().sum::<f32>() + extra) / n
        } else {
            0.0
        };
        let mut sq: f32 = row.iter().map(|&e| (e - mean) * (e - mean)).sum();
        if !centred {
            sq += extra * extra;
        }
        let var = match bug {
            NormBug::Unbiased if centred && len > 1 => sq / (n - 1.0),
            _ => sq / n,
        };
        let inv = match bug {
            NormBug::EpsOutsideSqrt => 1.0 / (var.sqrt() + eps),
            _ => 1.0 / (var + eps).sqrt(),
        };
        for j in 0..len {
            let mut y = (row[j] - mean) * inv * s[si[j]];
            if let (Some(b), Some(bi)) = (&b, &bi) {
                y += b[bi[j]];
            }
            out[r * len + j] = y;
        }
    }
    Ok(vec![from_f32(x.dtype(), x.shape.clone(), out)?])
}

/// The reduced axes of a ReduceSum/ReduceMean call, or `None` when the call
/// passes its input through (empty axes with `noop_with_empty_axes`).
fn reduced_axes(l: &Loaded<'_>, rank: usize) -> Result<Option<Vec<usize>>, BackendError> {
    let given = match l.inputs.get(1).and_then(Option::as_ref) {
        Some(t) => t.to_indices()?,
        None => Vec::new(),
    };
    if given.is_empty() {
        return Ok((l.int("noop_with_empty_axes", 0) == 0).then(|| (0..rank).collect()));
    }
    let mut axes = given
        .iter()
        .map(|&a| normalize_axis(a, rank, l.op()))
        .collect::<Result<Vec<_>, _>>()?;
    axes.sort_unstable();
    axes.dedup();
    Ok(Some(axes))
}

/// ReduceSum / ReduceMean summing each lane in `order`.
pub fn reduce(l: &Loaded<'_>, order: Order) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let x = l.input(0)?;
    if !computes_in_f32(x.dtype()) {
        return l.reference();
    }
    let Some(axes) = reduced_axes(l, x.shape.len())? else {
        return l.reference();
    };
    let strides = xpucert_reference_core::layout::contiguous_strides(&x.shape);
    // Offsets of every kept index and every reduced index, row-major.
    let offsets = |which: &dyn Fn(usize) -> bool| -> Vec<usize> {
        let mut offs = vec![0usize];
        for (ax, (&d, &s)) in x.shape.iter().zip(&strides).enumerate() {
            if which(ax) {
                offs = offs
                    .iter()
                    .flat_map(|&o| (0..d).map(move |i| o + i * s))
                    .collect();
            }
        }
        offs
    };
    let kept = offsets(&|ax| !axes.contains(&ax));
    let lane = offsets(&|ax| axes.contains(&ax));
    let v = f32s(x)?;
    let mut buf = Vec::with_capacity(lane.len());
    let mean = l.op() == "ReduceMean";
    let out: Vec<f32> = kept
        .iter()
        .map(|&k| {
            buf.clear();
            buf.extend(lane.iter().map(|&o| v[k + o]));
            let s = sum(order, &buf);
            if mean { s / lane.len() as f32 } else { s }
        })
        .collect();
    Ok(vec![from_f32(x.dtype(), l.out_shape(0), out)?])
}
