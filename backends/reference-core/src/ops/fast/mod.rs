//! Fused kernels for the memory-bound ops: they read the inputs' bytes
//! straight from the ABI tensors and write the output buffer the harness
//! allocated, in blocks of [`BLOCK`] elements widened into small stack
//! buffers, so a call makes one pass over its data and allocates nothing of
//! the tensor's size. Large calls are split over threads.
//!
//! Covered (f32, f64, f16, bf16; contiguous inputs, output of the input's
//! dtype):
//! - Add/Sub/Mul/Div where each operand is the full output shape or a
//!   trailing suffix of it (a scalar, a bias row, ...), and every unary op;
//!   bit-identical to the kernels in [`super::elementwise`] (the same scalar
//!   functions, f16/bf16 widened to f32 exactly and rounded once to nearest
//!   even), so thread count and block size cannot change a result;
//! - Softmax/LogSoftmax over the last axis, LayerNormalization and
//!   RMSNormalization, and ReduceSum/ReduceMean/ReduceMax over trailing
//!   axes: row by row, sums with [`LANES`] interleaved partial sums (see
//!   [`sum`]); ReduceMax and reductions over leading axes keep the
//!   sequential order and match the generic kernels bit for bit.
//!
//! Anything else (strided views, other broadcasts, middle axes, empty
//! tensors, malformed calls) returns `None` and takes the generic path,
//! which also produces the error messages.

use std::ops::Range;

use xpucert_abi::{DType, OpCall, TensorMut};

mod elementwise;
mod reduce;
mod rows;
mod storage;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod timing;

use elementwise::{Bin, binary, unary};
use reduce::reduce;
use rows::{normalize, softmax};
pub use rows::{softmax_row_into, sum};
pub use storage::{Bf16, F16, F32, F64, Storage};
pub(crate) use storage::{contiguous, dims};

/// Elements per block: the stack buffers of a block (three of them for a
/// binary op) stay within L1/L2 for every compute type.
pub const BLOCK: usize = 1024;

/// Partial sums of a row reduction: enough independent chains for two AVX2
/// f32 vectors, so the adds pipeline and LLVM vectorises the loop.
pub const LANES: usize = 16;

/// Work (elements x per-element cost) below which a call stays on the
/// calling thread: spawning scoped threads costs tens of microseconds, which
/// must be small against the work. One unit is about one cheap elementwise
/// element (~0.25 ns, memory-bound, for f32 Add). Measured here
/// (`fast::timing`, 2 vCPUs under load): one scoped spawn + join 60-80 us;
/// 2^20 units is ~250 us of work on one thread, so a split loses at most a
/// quarter of one thread's share and wins on anything larger.
const PARALLEL_MIN_WORK: usize = 1 << 20;

/// Runs the fused path for `call` (`Some`: the outputs hold the result), or
/// returns `None` when it does not apply and the caller runs the generic
/// kernels, which also report any error. The call must already have passed
/// [`crate::support::check`].
pub fn try_run(call: &OpCall<'_>, outputs: &mut [TensorMut<'_>]) -> Option<()> {
    let par = Par {
        threads: crate::parallel::threads(),
        min_work: PARALLEL_MIN_WORK,
    };
    try_run_with(call, outputs, par)
}

/// How a call may be split over threads.
#[derive(Debug, Clone, Copy)]
pub struct Par {
    /// At most this many threads (the calling one included).
    pub threads: usize,
    /// Only calls with at least this much work (elements x cost) are split.
    pub min_work: usize,
}

/// [`try_run`] with an explicit split (tests use it to show results do not
/// depend on it).
pub fn try_run_with(call: &OpCall<'_>, outputs: &mut [TensorMut<'_>], threads: Par) -> Option<()> {
    let [out] = outputs else { return None };
    match out.dtype() {
        DType::F32 => dispatch::<F32>(call, out, threads),
        DType::F64 => dispatch::<F64>(call, out, threads),
        DType::F16 => dispatch::<F16>(call, out, threads),
        DType::BF16 => dispatch::<Bf16>(call, out, threads),
        _ => None,
    }
}

fn dispatch<S: Storage>(call: &OpCall<'_>, out: &mut TensorMut<'_>, threads: Par) -> Option<()> {
    match call.op_type {
        "Add" => binary::<S>(call, out, Bin::Add, threads),
        "Sub" => binary::<S>(call, out, Bin::Sub, threads),
        "Mul" => binary::<S>(call, out, Bin::Mul, threads),
        "Div" => binary::<S>(call, out, Bin::Div, threads),
        "Neg" | "Exp" | "Log" | "Sqrt" | "Reciprocal" | "Tanh" | "Sigmoid" | "Relu" | "Erf"
        | "Softplus" | "Gelu" => unary::<S>(call, out, threads),
        "Softmax" | "LogSoftmax" => softmax::<S>(call, out, threads),
        "LayerNormalization" => normalize::<S>(call, out, true, threads),
        "RMSNormalization" => normalize::<S>(call, out, false, threads),
        "ReduceSum" | "ReduceMean" | "ReduceMax" => reduce::<S>(call, out, threads),
        _ => None,
    }
}

/// Runs `f` over `0..n` items, split into at most `threads` contiguous
/// ranges (multiples of `align` items except the last) when `n * cost` is
/// large enough; `out` (`out_per_item` bytes per item) is split the same way
/// and each range gets its own part. Every item is computed by exactly one
/// call of `f` with the same code, so the result does not depend on the
/// split.
fn split<F>(
    n: usize,
    align: usize,
    cost: usize,
    threads: Par,
    out: &mut [u8],
    out_per_item: usize,
    f: F,
) where
    F: Fn(Range<usize>, &mut [u8]) + Sync,
{
    let align = align.max(1);
    let threads = if n.saturating_mul(cost) >= threads.min_work {
        threads.threads.min(n.div_ceil(align)).max(1)
    } else {
        1
    };
    if threads == 1 {
        f(0..n, out);
        return;
    }
    let per = n.div_ceil(threads).div_ceil(align) * align;
    let mut rest = out;
    let pieces: Vec<(Range<usize>, &mut [u8])> = (0..n)
        .step_by(per)
        .map(|start| {
            let end = (start + per).min(n);
            let (head, tail) = std::mem::take(&mut rest).split_at_mut((end - start) * out_per_item);
            rest = tail;
            (start..end, head)
        })
        .collect();
    crate::parallel::for_each_piece(pieces, |(range, part)| f(range, part));
}
