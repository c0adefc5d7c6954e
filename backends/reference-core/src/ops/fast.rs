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

use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
use half::{bf16, f16};
use xpucert_abi::{DType, OpCall, TensorMut, TensorRef};

use super::elementwise::{gelu_erf, gelu_tanh, neg, reciprocal, relu, sigmoid, softplus};
use crate::layout::{broadcast_offsets, broadcast_shapes, normalize_axis};
use crate::tensor::Real;

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

// ------------------------------------------------------------------ storage

/// A float storage dtype and the type it is computed in. `widen` and
/// `narrow` convert between native-endian bytes and compute values exactly
/// like `Tensor::to_real` / `Tensor::from_real` (f16/bf16 through `half`,
/// rounding to nearest even once).
pub trait Storage: 'static {
    /// The compute type.
    type C: Real;
    /// The dtype.
    const DTYPE: DType;
    /// Bytes per element.
    const SIZE: usize;
    /// `dst[i]` = element `i` of `src` (`src.len() == dst.len() * SIZE`).
    fn widen(src: &[u8], dst: &mut [Self::C]);
    /// Element `i` of `dst` = `src[i]` rounded (`dst.len() == src.len() * SIZE`).
    fn narrow(src: &[Self::C], dst: &mut [u8]);
    /// True when [`Storage::get`] and [`Storage::put`] are cheap, branch-free
    /// and vectorisable, so kernels can run element by element straight
    /// over the bytes (f16 instead converts whole blocks, which is where
    /// `half` uses the F16C instructions).
    const DIRECT: bool;
    /// One element from exactly `SIZE` bytes.
    fn get(b: &[u8]) -> Self::C;
    /// One element into exactly `SIZE` bytes.
    fn put(v: Self::C, b: &mut [u8]);
}

/// IEEE binary32.
pub struct F32;
/// IEEE binary64.
pub struct F64;
/// IEEE binary16, computed in f32.
pub struct F16;
/// bfloat16, computed in f32.
pub struct Bf16;

impl Storage for F32 {
    type C = f32;
    const DTYPE: DType = DType::F32;
    const SIZE: usize = 4;
    fn widen(src: &[u8], dst: &mut [f32]) {
        for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
            *d = f32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
        }
    }
    fn narrow(src: &[f32], dst: &mut [u8]) {
        for (c, v) in dst.chunks_exact_mut(4).zip(src) {
            c.copy_from_slice(&v.to_ne_bytes());
        }
    }
    const DIRECT: bool = true;
    #[inline(always)]
    fn get(b: &[u8]) -> f32 {
        f32::from_ne_bytes([b[0], b[1], b[2], b[3]])
    }
    #[inline(always)]
    fn put(v: f32, b: &mut [u8]) {
        b.copy_from_slice(&v.to_ne_bytes());
    }
}

impl Storage for F64 {
    type C = f64;
    const DTYPE: DType = DType::F64;
    const SIZE: usize = 8;
    fn widen(src: &[u8], dst: &mut [f64]) {
        for (d, c) in dst.iter_mut().zip(src.chunks_exact(8)) {
            *d = f64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        }
    }
    fn narrow(src: &[f64], dst: &mut [u8]) {
        for (c, v) in dst.chunks_exact_mut(8).zip(src) {
            c.copy_from_slice(&v.to_ne_bytes());
        }
    }
    const DIRECT: bool = true;
    #[inline(always)]
    fn get(b: &[u8]) -> f64 {
        f64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }
    #[inline(always)]
    fn put(v: f64, b: &mut [u8]) {
        b.copy_from_slice(&v.to_ne_bytes());
    }
}

impl Storage for F16 {
    type C = f32;
    const DTYPE: DType = DType::F16;
    const SIZE: usize = 2;
    fn widen(src: &[u8], dst: &mut [f32]) {
        // half's slice conversion uses the same (hardware or software)
        // conversion as `f16::to_f32`, several elements at a time.
        let mut bits = [0u16; BLOCK];
        for (s, d) in src.chunks(2 * BLOCK).zip(dst.chunks_mut(BLOCK)) {
            let m = d.len().min(s.len() / 2);
            for (b, c) in bits[..m].iter_mut().zip(s.chunks_exact(2)) {
                *b = u16::from_ne_bytes([c[0], c[1]]);
            }
            bits[..m]
                .reinterpret_cast::<f16>()
                .convert_to_f32_slice(&mut d[..m]);
        }
    }
    fn narrow(src: &[f32], dst: &mut [u8]) {
        let mut h = [f16::ZERO; BLOCK];
        for (s, d) in src.chunks(BLOCK).zip(dst.chunks_mut(2 * BLOCK)) {
            let m = s.len().min(d.len() / 2);
            h[..m].convert_from_f32_slice(&s[..m]);
            for (c, v) in d.chunks_exact_mut(2).zip(&h[..m]) {
                c.copy_from_slice(&v.to_bits().to_ne_bytes());
            }
        }
    }
    const DIRECT: bool = false;
    fn get(b: &[u8]) -> f32 {
        f16::from_bits(u16::from_ne_bytes([b[0], b[1]])).to_f32()
    }
    fn put(v: f32, b: &mut [u8]) {
        b.copy_from_slice(&f16::from_f32(v).to_bits().to_ne_bytes());
    }
}

impl Storage for Bf16 {
    type C = f32;
    const DTYPE: DType = DType::BF16;
    const SIZE: usize = 2;
    fn widen(src: &[u8], dst: &mut [f32]) {
        for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
            *d = Self::get(c);
        }
    }
    fn narrow(src: &[f32], dst: &mut [u8]) {
        for (c, v) in dst.chunks_exact_mut(2).zip(src) {
            Self::put(*v, c);
        }
    }
    const DIRECT: bool = true;
    #[inline(always)]
    fn get(b: &[u8]) -> f32 {
        bf16_to_f32(u16::from_ne_bytes([b[0], b[1]]))
    }
    #[inline(always)]
    fn put(v: f32, b: &mut [u8]) {
        b.copy_from_slice(&f32_to_bf16(v).to_ne_bytes());
    }
}

/// `bf16::to_f32` written without branches (a select), so loops over it
/// vectorise: NaNs get the quiet bit set as in `half`, everything else is
/// exact. Checked against `half` on all 2^16 patterns.
#[inline(always)]
fn bf16_to_f32(i: u16) -> f32 {
    let quiet = if i & 0x7FFF > 0x7F80 { 0x0040 } else { 0 };
    f32::from_bits(u32::from(i | quiet) << 16)
}

/// `bf16::from_f32` (round to nearest even; NaN keeps its upper payload
/// with the quiet bit set) without branches. Adding 0x7FFF plus the lowest
/// kept bit carries into the kept bits exactly when the dropped half is
/// above one half, or exactly one half with an odd kept part. Checked
/// against `half` on a dense sweep of f32 patterns.
#[inline(always)]
fn f32_to_bf16(v: f32) -> u16 {
    let x = v.to_bits();
    // Selected in 32-bit lanes, narrowed once (vectorises better).
    let rounded = x.wrapping_add(0x7FFF + ((x >> 16) & 1));
    let nan = x | 0x0040_0000;
    let y = if x & 0x7FFF_FFFF > 0x7F80_0000 {
        nan
    } else {
        rounded
    };
    (y >> 16) as u16
}

/// The bytes of a contiguous input of dtype `dtype`, exactly its elements.
pub(crate) fn contiguous<'a>(t: &TensorRef<'a>, dtype: DType) -> Option<&'a [u8]> {
    if t.dtype() != dtype || !t.is_contiguous() {
        return None;
    }
    t.data()?.get(..t.numel() * dtype.size())
}

/// An ABI shape as `usize` dimensions.
pub(crate) fn dims(shape: &[i64]) -> Vec<usize> {
    shape.iter().map(|&d| d as usize).collect()
}

/// Any float tensor (strided allowed; small parameters only) widened to `C`
/// exactly as `Tensor::to_real` widens it.
fn widen_any<C: Real>(t: &TensorRef<'_>) -> Option<Vec<C>> {
    Some(match t.dtype() {
        DType::F64 => t.read::<f64>().ok()?.into_iter().map(C::from_f64).collect(),
        DType::F32 => t.read::<f32>().ok()?.into_iter().map(C::from_f32).collect(),
        DType::F16 => t
            .read::<u16>()
            .ok()?
            .into_iter()
            .map(|b| C::from_f32(f16::from_bits(b).to_f32()))
            .collect(),
        DType::BF16 => t
            .read::<u16>()
            .ok()?
            .into_iter()
            .map(|b| C::from_f32(bf16::from_bits(b).to_f32()))
            .collect(),
        _ => return None,
    })
}

// ---------------------------------------------------------------- threading

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

// ---------------------------------------------------------------- elementwise

#[derive(Debug, Clone, Copy)]
enum Bin {
    Add,
    Sub,
    Mul,
    Div,
}

/// One operand of a binary op, relative to the output's row-major order.
enum Operand<'a, C> {
    /// Element `i` of the output uses element `i`.
    Full(&'a [u8]),
    /// Element `i` uses element `i % period` (a trailing-suffix broadcast);
    /// the period is widened once when it fits a block.
    Periodic {
        bytes: &'a [u8],
        period: usize,
        small: Vec<C>,
    },
}

impl<C: Real> Operand<'_, C> {
    /// Widens output elements `start .. start + buf.len()` of this operand.
    fn fill<S: Storage<C = C>>(&self, start: usize, buf: &mut [C]) {
        match self {
            Operand::Full(bytes) => {
                S::widen(&bytes[start * S::SIZE..(start + buf.len()) * S::SIZE], buf)
            }
            Operand::Periodic {
                bytes,
                period,
                small,
            } => {
                let mut pos = start % period;
                let mut done = 0;
                while done < buf.len() {
                    let m = (period - pos).min(buf.len() - done);
                    let dst = &mut buf[done..done + m];
                    if small.is_empty() {
                        S::widen(&bytes[pos * S::SIZE..(pos + m) * S::SIZE], dst);
                    } else if *period == 1 {
                        dst.fill(small[0]);
                    } else {
                        dst.copy_from_slice(&small[pos..pos + m]);
                    }
                    done += m;
                    pos = 0;
                }
            }
        }
    }
}

/// Periods from which [`binary_direct`] walks a periodic operand segment
/// by segment (shorter ones are filled into blocks instead).
const DIRECT_MIN_PERIOD: usize = 256;

impl<'a, C: Real> Operand<'a, C> {
    /// The operand's bytes (all of them, or one period).
    fn bytes(&self) -> &'a [u8] {
        match self {
            Operand::Full(b) | Operand::Periodic { bytes: b, .. } => b,
        }
    }

    /// Whether [`binary_direct`] handles this operand: full, a scalar, or a
    /// period long enough that per-segment overhead does not matter.
    fn direct(&self) -> bool {
        match self {
            Operand::Full(_) => true,
            Operand::Periodic { period, .. } => *period == 1 || *period >= DIRECT_MIN_PERIOD,
        }
    }
}

/// A binary op straight over the bytes, element by element: output
/// elements `start ..` into `dst`. The loops are split at the periods of a
/// periodic operand so that each inner loop zips plain byte slices.
#[inline(always)]
fn binary_direct<S: Storage>(
    a: &Operand<'_, S::C>,
    b: &Operand<'_, S::C>,
    start: usize,
    dst: &mut [u8],
    f: impl Fn(S::C, S::C) -> S::C,
) {
    let z = S::SIZE;
    let n = dst.len() / z;
    let mut i = 0;
    while i < n {
        let g = start + i;
        // The segment ends at the output's end or a period boundary.
        let mut m = n - i;
        for o in [a, b] {
            if let Operand::Periodic { period, .. } = o
                && *period > 1
            {
                m = m.min(period - g % period);
            }
        }
        let d = &mut dst[i * z..(i + m) * z];
        let seg = |o: &Operand<'_, S::C>| -> Result<S::C, std::ops::Range<usize>> {
            match o {
                Operand::Periodic {
                    small, period: 1, ..
                } => Ok(small[0]),
                Operand::Periodic { period, .. } => Err((g % period) * z..(g % period + m) * z),
                Operand::Full(_) => Err(g * z..(g + m) * z),
            }
        };
        match (seg(a), seg(b)) {
            (Err(ra), Err(rb)) => {
                let (xa, xb) = (&a.bytes()[ra], &b.bytes()[rb]);
                for ((o, x), y) in d
                    .chunks_exact_mut(z)
                    .zip(xa.chunks_exact(z))
                    .zip(xb.chunks_exact(z))
                {
                    S::put(f(S::get(x), S::get(y)), o);
                }
            }
            (Ok(va), Err(rb)) => {
                for (o, y) in d.chunks_exact_mut(z).zip(b.bytes()[rb].chunks_exact(z)) {
                    S::put(f(va, S::get(y)), o);
                }
            }
            (Err(ra), Ok(vb)) => {
                for (o, x) in d.chunks_exact_mut(z).zip(a.bytes()[ra].chunks_exact(z)) {
                    S::put(f(S::get(x), vb), o);
                }
            }
            // Both scalars: the output has one element.
            (Ok(va), Ok(vb)) => {
                for o in d.chunks_exact_mut(z) {
                    S::put(f(va, vb), o);
                }
            }
        }
        i += m;
    }
}

/// How operand `t` (shape `sh`) maps onto the output shape `out`, if it is
/// one of the two supported forms.
fn operand<'a, S: Storage>(t: &TensorRef<'a>, out: &[usize]) -> Option<Operand<'a, S::C>> {
    let bytes = contiguous(t, S::DTYPE)?;
    let sh = dims(t.shape());
    let n: usize = sh.iter().product();
    let total: usize = out.iter().product();
    if n == total {
        return Some(Operand::Full(bytes));
    }
    // Leading 1s aside, the operand's dims must be the output's last dims.
    let core: &[usize] = &sh[sh.iter().take_while(|&&d| d == 1).count()..];
    if core.len() > out.len() || out[out.len() - core.len()..] != *core || n == 0 {
        return None;
    }
    let small = if n <= BLOCK {
        let mut v = vec![S::C::ZERO; n];
        S::widen(bytes, &mut v);
        v
    } else {
        Vec::new()
    };
    Some(Operand::Periodic {
        bytes,
        period: n,
        small,
    })
}

#[inline(always)]
fn zip_with<C: Copy>(a: &[C], b: &[C], o: &mut [C], f: impl Fn(C, C) -> C) {
    for ((o, &x), &y) in o.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

fn binary_block<C: Real>(op: Bin, a: &[C], b: &[C], o: &mut [C]) {
    // One loop per op, so each is a straight vectorisable loop.
    match op {
        Bin::Add => zip_with(a, b, o, |x, y| x + y),
        Bin::Sub => zip_with(a, b, o, |x, y| x - y),
        Bin::Mul => zip_with(a, b, o, |x, y| x * y),
        Bin::Div => zip_with(a, b, o, |x, y| x / y),
    }
}

fn binary<S: Storage>(
    call: &OpCall<'_>,
    out: &mut TensorMut<'_>,
    op: Bin,
    threads: Par,
) -> Option<()> {
    let (ta, tb) = (call.input(0).ok()?, call.input(1).ok()?);
    let out_shape = dims(out.shape());
    let shape = broadcast_shapes(&[&dims(ta.shape()), &dims(tb.shape())]).ok()?;
    if shape != out_shape {
        return None;
    }
    let a = operand::<S>(ta, &out_shape)?;
    let b = operand::<S>(tb, &out_shape)?;
    if matches!(
        (&a, &b),
        (Operand::Periodic { .. }, Operand::Periodic { .. })
    ) {
        return None;
    }
    let n = out.numel();
    if S::DIRECT && a.direct() && b.direct() {
        split(
            n,
            BLOCK,
            1,
            threads,
            out.bytes_mut(),
            S::SIZE,
            |range, dst| match op {
                Bin::Add => binary_direct::<S>(&a, &b, range.start, dst, |x, y| x + y),
                Bin::Sub => binary_direct::<S>(&a, &b, range.start, dst, |x, y| x - y),
                Bin::Mul => binary_direct::<S>(&a, &b, range.start, dst, |x, y| x * y),
                Bin::Div => binary_direct::<S>(&a, &b, range.start, dst, |x, y| x / y),
            },
        );
        return Some(());
    }
    split(
        n,
        BLOCK,
        1,
        threads,
        out.bytes_mut(),
        S::SIZE,
        |range, dst| {
            let mut xa = [S::C::ZERO; BLOCK];
            let mut xb = [S::C::ZERO; BLOCK];
            let mut y = [S::C::ZERO; BLOCK];
            let mut start = range.start;
            for d in dst.chunks_mut(BLOCK * S::SIZE) {
                let m = d.len() / S::SIZE;
                a.fill::<S>(start, &mut xa[..m]);
                b.fill::<S>(start, &mut xb[..m]);
                binary_block(op, &xa[..m], &xb[..m], &mut y[..m]);
                S::narrow(&y[..m], d);
                start += m;
            }
        },
    );
    Some(())
}

#[derive(Debug, Clone, Copy)]
enum Un {
    Neg,
    Exp,
    Log,
    Sqrt,
    Reciprocal,
    Tanh,
    Sigmoid,
    Relu,
    Erf,
    Softplus,
    GeluErf,
    GeluTanh,
}

impl Un {
    /// Relative cost per element (cheap arithmetic 1, a libm call ~16).
    fn cost(self) -> usize {
        match self {
            Un::Neg | Un::Relu | Un::Reciprocal | Un::Sqrt => 1,
            _ => 16,
        }
    }
}

#[inline(always)]
fn map_with<C: Copy>(x: &[C], o: &mut [C], f: impl Fn(C) -> C) {
    for (o, &v) in o.iter_mut().zip(x) {
        *o = f(v);
    }
}

#[inline(always)]
fn unary_direct<S: Storage>(src: &[u8], dst: &mut [u8], f: impl Fn(S::C) -> S::C) {
    for (o, x) in dst.chunks_exact_mut(S::SIZE).zip(src.chunks_exact(S::SIZE)) {
        S::put(f(S::get(x)), o);
    }
}

fn unary_block<C: Real>(op: Un, x: &[C], o: &mut [C]) {
    match op {
        Un::Neg => map_with(x, o, neg),
        Un::Exp => map_with(x, o, C::exp),
        Un::Log => map_with(x, o, C::ln),
        Un::Sqrt => map_with(x, o, C::sqrt),
        Un::Reciprocal => map_with(x, o, reciprocal),
        Un::Tanh => map_with(x, o, C::tanh),
        Un::Sigmoid => map_with(x, o, sigmoid),
        Un::Relu => map_with(x, o, relu),
        Un::Erf => map_with(x, o, C::erf),
        Un::Softplus => map_with(x, o, softplus),
        Un::GeluErf => map_with(x, o, gelu_erf),
        Un::GeluTanh => map_with(x, o, gelu_tanh),
    }
}

fn unary<S: Storage>(call: &OpCall<'_>, out: &mut TensorMut<'_>, threads: Par) -> Option<()> {
    let op = match call.op_type {
        "Neg" => Un::Neg,
        "Exp" => Un::Exp,
        "Log" => Un::Log,
        "Sqrt" => Un::Sqrt,
        "Reciprocal" => Un::Reciprocal,
        "Tanh" => Un::Tanh,
        "Sigmoid" => Un::Sigmoid,
        "Relu" => Un::Relu,
        "Erf" => Un::Erf,
        "Softplus" => Un::Softplus,
        "Gelu" => match call.attr_str("approximate", "none").ok()? {
            "none" => Un::GeluErf,
            "tanh" => Un::GeluTanh,
            _ => return None,
        },
        _ => return None,
    };
    let t = call.input(0).ok()?;
    if t.shape() != out.shape() || call.inputs.len() != 1 {
        return None;
    }
    let x = contiguous(t, S::DTYPE)?;
    if S::DIRECT {
        split(
            out.numel(),
            BLOCK,
            op.cost(),
            threads,
            out.bytes_mut(),
            S::SIZE,
            |range, dst| {
                let src = &x[range.start * S::SIZE..range.end * S::SIZE];
                match op {
                    Un::Neg => unary_direct::<S>(src, dst, neg),
                    Un::Exp => unary_direct::<S>(src, dst, S::C::exp),
                    Un::Log => unary_direct::<S>(src, dst, S::C::ln),
                    Un::Sqrt => unary_direct::<S>(src, dst, S::C::sqrt),
                    Un::Reciprocal => unary_direct::<S>(src, dst, reciprocal),
                    Un::Tanh => unary_direct::<S>(src, dst, S::C::tanh),
                    Un::Sigmoid => unary_direct::<S>(src, dst, sigmoid),
                    Un::Relu => unary_direct::<S>(src, dst, relu),
                    Un::Erf => unary_direct::<S>(src, dst, S::C::erf),
                    Un::Softplus => unary_direct::<S>(src, dst, softplus),
                    Un::GeluErf => unary_direct::<S>(src, dst, gelu_erf),
                    Un::GeluTanh => unary_direct::<S>(src, dst, gelu_tanh),
                }
            },
        );
        return Some(());
    }
    split(
        out.numel(),
        BLOCK,
        op.cost(),
        threads,
        out.bytes_mut(),
        S::SIZE,
        |range, dst| {
            let mut xv = [S::C::ZERO; BLOCK];
            let mut y = [S::C::ZERO; BLOCK];
            let mut start = range.start;
            for d in dst.chunks_mut(BLOCK * S::SIZE) {
                let m = d.len() / S::SIZE;
                S::widen(&x[start * S::SIZE..(start + m) * S::SIZE], &mut xv[..m]);
                unary_block(op, &xv[..m], &mut y[..m]);
                S::narrow(&y[..m], d);
                start += m;
            }
        },
    );
    Some(())
}

// ------------------------------------------------------------------ rows

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
fn max_lanes<C: Real>(v: &[C]) -> C {
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
struct RowShape {
    rows: usize,
    len: usize,
    out_len: usize,
}

/// Runs `f(row_in, row_out)` for each of `rows` rows of `len` input elements
/// (contiguous bytes `x`) producing `out_len` output elements each, in
/// groups of rows widened together; parallel over rows for large inputs.
fn rows_map<S: Storage, F>(
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

fn softmax<S: Storage>(call: &OpCall<'_>, out: &mut TensorMut<'_>, threads: Par) -> Option<()> {
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

fn normalize<S: Storage>(
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

fn reduce<S: Storage>(call: &OpCall<'_>, out: &mut TensorMut<'_>, threads: Par) -> Option<()> {
    let t = call.input(0).ok()?;
    let x = contiguous(t, S::DTYPE)?;
    let shape = dims(t.shape());
    let rank = shape.len();
    let keepdims = call.attr_int("keepdims", 1).ok()? != 0;
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

#[cfg(test)]
mod tests {
    //! The fused kernels against the generic ones, on inputs built to hit
    //! the corners: NaN, infinities, signed zeros, subnormals, f16/bf16
    //! rounding ties, block and thread boundaries.

    use super::*;
    use crate::ops::testing::run1;
    use crate::support::find;
    use crate::tensor::Tensor;
    use xpucert_abi::{AttrValue, Attribute};

    /// splitmix64: a small deterministic generator (no dependency).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        /// A value in roughly [-8, 8) with few significant bits, so that
        /// sums and products of two of them often tie in f16/bf16.
        fn coarse(&mut self) -> f64 {
            (self.below(4096) as f64 - 2048.0) / 256.0
        }
    }

    /// One element's bytes of `dtype`: a mix of special values, coarse
    /// values, random bit patterns (NaN payloads, subnormals, huge values)
    /// and smooth values.
    fn element(rng: &mut Rng, dtype: DType) -> Vec<u8> {
        let special = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            1.0,
            -1.0,
            6.0e-8,   // f16 subnormal
            1.0e-40,  // f32 subnormal
            -3.0e-39, // f32 subnormal
            65504.0,  // f16 max
            1.0e30,
            -88.5,
            100.0,
        ];
        let pick = rng.below(10);
        let v = match pick {
            0 => special[rng.below(special.len() as u64) as usize],
            1..=4 => rng.coarse(),
            5 | 6 => {
                // Random bits of the dtype itself: every class of value.
                let bits = rng.next();
                return match dtype {
                    DType::F64 => bits.to_ne_bytes().to_vec(),
                    DType::F32 => (bits as u32).to_ne_bytes().to_vec(),
                    _ => (bits as u16).to_ne_bytes().to_vec(),
                };
            }
            _ => (rng.next() as f64 / u64::MAX as f64 - 0.5) * 12.0,
        };
        match dtype {
            DType::F64 => v.to_ne_bytes().to_vec(),
            DType::F32 => (v as f32).to_ne_bytes().to_vec(),
            DType::F16 => f16::from_f64(v).to_bits().to_ne_bytes().to_vec(),
            DType::BF16 => bf16::from_f64(v).to_bits().to_ne_bytes().to_vec(),
            other => panic!("{other}"),
        }
    }

    fn random(rng: &mut Rng, dtype: DType, n: usize) -> Vec<u8> {
        (0..n).flat_map(|_| element(rng, dtype)).collect()
    }

    /// An input: dtype, shape, bytes (contiguous).
    type Input = (DType, Vec<i64>, Vec<u8>);

    fn strides(shape: &[i64]) -> Vec<i64> {
        let mut s = vec![1i64; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            s[i] = s[i + 1] * shape[i + 1];
        }
        s
    }

    /// Runs the fused path with `threads`; `None` if it declined the call.
    fn fast(
        op: &str,
        attrs: &[(&str, AttrValue<'_>)],
        inputs: &[Option<Input>],
        out: (DType, &[i64]),
        threads: usize,
    ) -> Option<Vec<u8>> {
        let st: Vec<Option<Vec<i64>>> = inputs
            .iter()
            .map(|i| i.as_ref().map(|(_, s, _)| strides(s)))
            .collect();
        let refs = inputs
            .iter()
            .zip(&st)
            .map(|(i, s)| {
                i.as_ref().map(|(d, shape, b)| {
                    TensorRef::host(*d, shape, s.as_ref().unwrap(), b).unwrap()
                })
            })
            .collect();
        let call = OpCall {
            domain: "",
            op_type: find(op).unwrap().name,
            opset: find(op).unwrap().opsets[0],
            attributes: attrs
                .iter()
                .map(|&(name, value)| Attribute { name, value })
                .collect(),
            inputs: refs,
            output_specs: vec![(out.0, out.1)],
        };
        let n: usize = out.1.iter().map(|&d| d as usize).product();
        let mut buf = vec![0xFFu8; n * out.0.size()];
        let mut outs = [TensorMut::host(out.0, out.1, &mut buf).unwrap()];
        // Any work is split, so small test tensors exercise the ranges.
        let par = Par {
            threads,
            min_work: 0,
        };
        try_run_with(&call, &mut outs, par)?;
        Some(buf)
    }

    /// The generic kernels' result bytes and shape.
    fn slow(op: &str, attrs: &[(&str, AttrValue<'_>)], inputs: &[Option<Input>]) -> Tensor {
        let st: Vec<Option<Vec<i64>>> = inputs
            .iter()
            .map(|i| i.as_ref().map(|(_, s, _)| strides(s)))
            .collect();
        let tensors = inputs
            .iter()
            .zip(&st)
            .map(|(i, s)| {
                i.as_ref().map(|(d, shape, b)| {
                    crate::load(&TensorRef::host(*d, shape, s.as_ref().unwrap(), b).unwrap())
                        .unwrap()
                })
            })
            .collect();
        run1(op, attrs, tensors).unwrap()
    }

    /// Asserts the fused path (1 and 3 threads) and the generic path give
    /// the same bytes.
    fn identical(op: &str, attrs: &[(&str, AttrValue<'_>)], inputs: &[Option<Input>]) {
        let want = slow(op, attrs, inputs);
        let shape: Vec<i64> = want.shape.iter().map(|&d| d as i64).collect();
        let want_bytes = want.data.to_ne_bytes();
        for threads in [1, 3] {
            let got = fast(op, attrs, inputs, (want.dtype(), &shape), threads)
                .unwrap_or_else(|| panic!("{op} {shape:?} declined"));
            if !same_values(want.dtype(), &got, &want_bytes) {
                let size = want.dtype().size();
                let i = got
                    .chunks(size)
                    .zip(want_bytes.chunks(size))
                    .position(|(g, w)| g != w)
                    .unwrap();
                panic!(
                    "{op} {:?} {shape:?} threads {threads}: element {i} differs: got {:x?}, want {:x?}; inputs {:x?}",
                    want.dtype(),
                    &got[i * size..(i + 1) * size],
                    &want_bytes[i * size..(i + 1) * size],
                    inputs
                        .iter()
                        .flatten()
                        .map(|(_, s, b)| {
                            let k = if s.iter().product::<i64>() as usize * size == got.len() {
                                i
                            } else {
                                0
                            };
                            b.get(k * size..(k + 1) * size).map(<[u8]>::to_vec)
                        })
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    /// Bitwise equal element by element, except that any NaN equals any
    /// NaN: Rust (like LLVM) leaves the payload and sign of a NaN result
    /// unspecified when both operands are NaN, and a vectorised loop may
    /// propagate the other operand's payload than a scalar one.
    fn same_values(dtype: DType, a: &[u8], b: &[u8]) -> bool {
        let nan = |c: &[u8]| match dtype {
            DType::F64 => f64::from_ne_bytes(c.try_into().unwrap()).is_nan(),
            DType::F32 => f32::from_ne_bytes(c.try_into().unwrap()).is_nan(),
            DType::F16 => f16::from_bits(u16::from_ne_bytes(c.try_into().unwrap())).is_nan(),
            _ => bf16::from_bits(u16::from_ne_bytes(c.try_into().unwrap())).is_nan(),
        };
        let size = dtype.size();
        a.len() == b.len()
            && a.chunks(size)
                .zip(b.chunks(size))
                .all(|(x, y)| x == y || (nan(x) && nan(y)))
    }

    const FLOATS: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];

    #[test]
    fn binary_ops_are_bit_identical_to_the_generic_kernels() {
        let mut rng = Rng(1);
        // (a shape, b shape): same shape across block boundaries, scalars on
        // either side, bias rows shorter and longer than a block.
        let shapes: [(&[i64], &[i64]); 10] = [
            (&[5, 300], &[300]),
            (&[300], &[4, 1, 300]),
            (&[2 * BLOCK as i64 + 37], &[2 * BLOCK as i64 + 37]),
            (&[7, 300], &[]),
            (&[], &[5, 61]),
            (&[1, 1], &[33]),
            (&[9, 77], &[77]),
            (&[77], &[9, 77]),
            (&[3, 1500], &[1, 1500]),
            (&[4, 3, 5], &[3, 5]),
        ];
        for dtype in FLOATS {
            for op in ["Add", "Sub", "Mul", "Div"] {
                for (sa, sb) in shapes {
                    let na = sa.iter().product::<i64>() as usize;
                    let nb = sb.iter().product::<i64>() as usize;
                    let a = (dtype, sa.to_vec(), random(&mut rng, dtype, na));
                    let b = (dtype, sb.to_vec(), random(&mut rng, dtype, nb));
                    identical(op, &[], &[Some(a), Some(b)]);
                }
            }
        }
    }

    #[test]
    fn unary_ops_are_bit_identical_to_the_generic_kernels() {
        let mut rng = Rng(2);
        let ops = [
            "Neg",
            "Exp",
            "Log",
            "Sqrt",
            "Reciprocal",
            "Tanh",
            "Sigmoid",
            "Relu",
            "Erf",
            "Softplus",
            "Gelu",
        ];
        for dtype in FLOATS {
            for op in ops {
                for shape in [vec![3 * BLOCK as i64 + 5], vec![1], vec![]] {
                    let n = shape.iter().product::<i64>() as usize;
                    let x = (dtype, shape, random(&mut rng, dtype, n));
                    identical(op, &[], &[Some(x.clone())]);
                    if op == "Gelu" {
                        let tanh = [("approximate", AttrValue::String("tanh"))];
                        identical(op, &tanh, &[Some(x)]);
                    }
                }
            }
        }
    }

    #[test]
    fn f16_ties_round_to_even_like_the_generic_path() {
        // Every f16 pattern plus 2^-11 (half an ulp of 1.0): many exact ties.
        let a: Vec<u8> = (0..=u16::MAX).flat_map(|b| b.to_ne_bytes()).collect();
        let half_ulp = f16::from_f32(2f32.powi(-11))
            .to_bits()
            .to_ne_bytes()
            .to_vec();
        for op in ["Add", "Sub", "Mul", "Div"] {
            identical(
                op,
                &[],
                &[
                    Some((DType::F16, vec![65536], a.clone())),
                    Some((DType::F16, vec![], half_ulp.clone())),
                ],
            );
        }
        let bf: Vec<u8> = (0..=u16::MAX).flat_map(|b| b.to_ne_bytes()).collect();
        let half = bf16::from_f32(2f32.powi(-8))
            .to_bits()
            .to_ne_bytes()
            .to_vec();
        identical(
            "Add",
            &[],
            &[
                Some((DType::BF16, vec![65536], bf)),
                Some((DType::BF16, vec![1], half)),
            ],
        );
    }

    #[test]
    fn branch_free_bf16_conversions_match_half() {
        for i in 0..=u16::MAX {
            assert_eq!(
                bf16_to_f32(i).to_bits(),
                bf16::from_bits(i).to_f32().to_bits(),
                "{i:#x}"
            );
        }
        // Every pattern whose low 16 bits are near the rounding boundary,
        // plus a dense stride through the rest.
        let lows = [0u32, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF];
        let mut x = 0u32;
        loop {
            for &low in &lows {
                let v = f32::from_bits((x & 0xFFFF_0000) | low);
                assert_eq!(f32_to_bf16(v), bf16::from_f32(v).to_bits(), "{v:e}");
            }
            let v = f32::from_bits(x);
            assert_eq!(f32_to_bf16(v), bf16::from_f32(v).to_bits(), "{v:e}");
            match x.checked_add(0x1_0001) {
                Some(n) => x = n,
                None => break,
            }
        }
    }

    #[test]
    fn unsupported_layouts_fall_back() {
        let x = |shape: &[i64]| {
            let n = shape.iter().product::<i64>() as usize;
            Some((DType::F32, shape.to_vec(), vec![0u8; 4 * n]))
        };
        // Outer-product broadcast: neither operand is full.
        assert!(
            fast(
                "Add",
                &[],
                &[x(&[3, 1]), x(&[1, 3])],
                (DType::F32, &[3, 3]),
                1
            )
            .is_none()
        );
        // A column broadcast.
        assert!(
            fast(
                "Mul",
                &[],
                &[x(&[3, 4]), x(&[3, 1])],
                (DType::F32, &[3, 4]),
                1
            )
            .is_none()
        );
        // Softmax over a middle axis.
        let axis0 = [("axis", AttrValue::Int(0))];
        assert!(fast("Softmax", &axis0, &[x(&[3, 4])], (DType::F32, &[3, 4]), 1).is_none());
        // Empty tensors and wrong output shapes go to the generic path,
        // which reports them.
        assert!(fast("Neg", &[], &[x(&[0])], (DType::F32, &[0]), 1).is_none());
        assert!(fast("Neg", &[], &[x(&[4])], (DType::F32, &[2, 2]), 1).is_none());
        // A strided (transposed) input.
        let buf = vec![0u8; 24];
        let t = TensorRef::host(DType::F32, &[2, 3], &[1, 2], &buf).unwrap();
        assert!(contiguous(&t, DType::F32).is_none());
        // Integers are not handled here.
        assert!(
            fast(
                "Add",
                &[],
                &[
                    Some((DType::I32, vec![2], vec![0; 8])),
                    Some((DType::I32, vec![2], vec![0; 8]))
                ],
                (DType::I32, &[2]),
                1
            )
            .is_none()
        );
    }

    #[test]
    fn lane_sum_order_is_as_documented() {
        // 2^24 followed by 32 ones: partial 0 gets 2^24 + 1 + 1 (elements 0,
        // 16, 32), and each 1 added to 2^24 alone is a tie that rounds back
        // to even (2^24); partials 1..15 hold 2 each and are combined
        // pairwise before meeting partial 0: 2^24 + 30 exactly.
        let big = 2f32.powi(24);
        let mut v = vec![1.0f32; 33];
        v[0] = big;
        assert_eq!(sum(&v), big + 30.0);
        let seq: f32 = v.iter().sum();
        assert_eq!(seq, big); // sequential order loses every 1
        // The documented order, spelled out on values that show it.
        let w: Vec<f64> = (0..37).map(|i| f64::from(i) * 1.5 - 7.0).collect();
        let mut p = [0.0f64; LANES];
        for (j, &x) in w.iter().enumerate() {
            p[j % LANES] += x;
        }
        let mut width = LANES / 2;
        while width > 0 {
            for k in 0..width {
                p[k] += p[k + width];
            }
            width /= 2;
        }
        assert_eq!(sum(&w).to_bits(), p[0].to_bits());
        assert_eq!(sum::<f64>(&[]), 0.0);
        let ints: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(sum(&ints), 500_500.0);
        assert!(max_lanes(&[1.0f32, f32::NAN, 3.0]).is_nan());
        assert_eq!(max_lanes(&[f32::NEG_INFINITY; 20]), f32::NEG_INFINITY);
        let mut w = vec![0.0f32; 40];
        w[33] = 7.0;
        assert_eq!(max_lanes(&w), 7.0);
    }

    /// Max abs difference allowed between lane and sequential sums of f32
    /// terms whose absolute values sum to `m`: both are within n u m of the
    /// exact sum.
    fn assert_near(op: &str, got: &[u8], want: &Tensor, tol: impl Fn(usize) -> f64) {
        let w = want.to_real::<f64>().unwrap();
        let g = crate::load(
            &TensorRef::host(
                want.dtype(),
                &want.shape.iter().map(|&d| d as i64).collect::<Vec<_>>(),
                &strides(&want.shape.iter().map(|&d| d as i64).collect::<Vec<_>>()),
                got,
            )
            .unwrap(),
        )
        .unwrap()
        .to_real::<f64>()
        .unwrap();
        for (i, (g, w)) in g.iter().zip(&w).enumerate() {
            let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= tol(i);
            assert!(ok, "{op} element {i}: fused {g}, generic {w}");
        }
    }

    /// Rows of smooth values (no specials: a lane order may only change
    /// rounding, which needs finite sums to compare).
    fn smooth(rng: &mut Rng, dtype: DType, n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|_| {
                let v = (rng.next() as f64 / u64::MAX as f64 - 0.3) * 6.0;
                match dtype {
                    DType::F64 => v.to_ne_bytes().to_vec(),
                    DType::F32 => (v as f32).to_ne_bytes().to_vec(),
                    DType::F16 => f16::from_f64(v).to_bits().to_ne_bytes().to_vec(),
                    _ => bf16::from_f64(v).to_bits().to_ne_bytes().to_vec(),
                }
            })
            .collect()
    }

    /// The unit roundoff of the compute type of `dtype`.
    fn unit(dtype: DType) -> f64 {
        if dtype == DType::F64 {
            f64::EPSILON / 2.0
        } else {
            f64::from(f32::EPSILON) / 2.0
        }
    }

    /// One rounding of the output dtype at `v`.
    fn out_ulp(dtype: DType, v: f64) -> f64 {
        let bits = match dtype {
            DType::F64 => 53,
            DType::F32 => 24,
            DType::F16 => 11,
            _ => 8,
        };
        v.abs().max(1e-30) * 2f64.powi(1 - bits)
    }

    #[test]
    fn row_kernels_agree_with_the_generic_kernels_within_rounding() {
        let mut rng = Rng(3);
        for dtype in FLOATS {
            for (rows, len) in [(3usize, 1usize), (5, 17), (2, 1000), (70, 64), (1, 5000)] {
                let n = rows * len;
                let shape = vec![rows as i64, len as i64];
                let x = (dtype, shape.clone(), smooth(&mut rng, dtype, n));
                let u = unit(dtype);
                let l = len as f64;
                for op in ["Softmax", "LogSoftmax"] {
                    let want = slow(op, &[], &[Some(x.clone())]);
                    let got1 = fast(op, &[], &[Some(x.clone())], (dtype, &shape), 1).unwrap();
                    let got3 = fast(op, &[], &[Some(x.clone())], (dtype, &shape), 3).unwrap();
                    assert_eq!(got1, got3, "{op} depends on the thread count");
                    let w = want.to_real::<f64>().unwrap();
                    assert_near(op, &got1, &want, |i| {
                        // Softmax: relative (2 l u) plus a rounding of each
                        // output; LogSoftmax: |ln sum| error ~ l u.
                        2.0 * l * u * (w[i].abs() + 1.0) + 2.0 * out_ulp(dtype, w[i])
                    });
                }
                let scale = (dtype, vec![len as i64], smooth(&mut rng, dtype, len));
                let bias = (dtype, vec![len as i64], smooth(&mut rng, dtype, len));
                for (op, inputs) in [
                    (
                        "LayerNormalization",
                        vec![Some(x.clone()), Some(scale.clone()), Some(bias)],
                    ),
                    (
                        "LayerNormalization",
                        vec![Some(x.clone()), Some(scale.clone()), None],
                    ),
                    ("RMSNormalization", vec![Some(x.clone()), Some(scale)]),
                ] {
                    let want = slow(op, &[], &inputs);
                    let got1 = fast(op, &[], &inputs, (dtype, &shape), 1).unwrap();
                    let got3 = fast(op, &[], &inputs, (dtype, &shape), 3).unwrap();
                    assert_eq!(got1, got3, "{op} depends on the thread count");
                    let w = want.to_real::<f64>().unwrap();
                    // Normalised values are O(sqrt(len)) at most, scaled by
                    // |scale| <= 4 and shifted by |bias| <= 4.
                    assert_near(op, &got1, &want, |i| {
                        8.0 * l * u * (l.sqrt() * 4.0 + 4.0) + 2.0 * out_ulp(dtype, w[i])
                    });
                }
                let axes = |a: &[i64]| -> Input {
                    (
                        DType::I64,
                        vec![a.len() as i64],
                        a.iter().flat_map(|v| v.to_ne_bytes()).collect(),
                    )
                };
                for op in ["ReduceSum", "ReduceMean", "ReduceMax"] {
                    for keep in [0, 1] {
                        let attrs = [("keepdims", AttrValue::Int(keep))];
                        // Trailing axis: lanes (ReduceMax sequential).
                        let inputs = [Some(x.clone()), Some(axes(&[-1]))];
                        let want = slow(op, &attrs, &inputs);
                        let oshape: Vec<i64> = want.shape.iter().map(|&d| d as i64).collect();
                        let got1 = fast(op, &attrs, &inputs, (dtype, &oshape), 1).unwrap();
                        let got3 = fast(op, &attrs, &inputs, (dtype, &oshape), 3).unwrap();
                        assert_eq!(got1, got3, "{op} depends on the thread count");
                        if op == "ReduceMax" {
                            assert_eq!(got1, want.data.to_ne_bytes(), "{op}");
                        } else {
                            let w = want.to_real::<f64>().unwrap();
                            assert_near(op, &got1, &want, |i| {
                                2.0 * l * u * 6.0 * l + 2.0 * out_ulp(dtype, w[i])
                            });
                        }
                        // Leading axis: the generic order, bit for bit.
                        let inputs = [Some(x.clone()), Some(axes(&[0]))];
                        let want = slow(op, &attrs, &inputs);
                        let oshape: Vec<i64> = want.shape.iter().map(|&d| d as i64).collect();
                        let got = fast(op, &attrs, &inputs, (dtype, &oshape), 3).unwrap();
                        if len > 1 || op == "ReduceMax" {
                            assert_eq!(got, want.data.to_ne_bytes(), "{op} over axis 0");
                        } else {
                            // Every non-unit axis reduced: a row reduction.
                            let w = want.to_real::<f64>().unwrap();
                            let r = rows as f64;
                            assert_near(op, &got, &want, |i| {
                                2.0 * r * u * 6.0 * r + 2.0 * out_ulp(dtype, w[i])
                            });
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn reductions_keep_special_values() {
        let mut rng = Rng(4);
        for dtype in FLOATS {
            let x = (dtype, vec![6, 40], random(&mut rng, dtype, 240));
            for op in ["ReduceMax", "Softmax", "ReduceSum"] {
                let inputs = if op == "Softmax" {
                    vec![Some(x.clone())]
                } else {
                    let axes: Vec<u8> = (-1i64).to_ne_bytes().to_vec();
                    vec![Some(x.clone()), Some((DType::I64, vec![1], axes))]
                };
                let want = slow(op, &[], &inputs);
                let oshape: Vec<i64> = want.shape.iter().map(|&d| d as i64).collect();
                let got = fast(op, &[], &inputs, (dtype, &oshape), 1).unwrap();
                let g =
                    crate::load(&TensorRef::host(dtype, &oshape, &strides(&oshape), &got).unwrap())
                        .unwrap()
                        .to_real::<f64>()
                        .unwrap();
                let w = want.to_real::<f64>().unwrap();
                for (i, (g, w)) in g.iter().zip(&w).enumerate() {
                    // NaN where the generic path has NaN, infinities alike.
                    assert_eq!(g.is_nan(), w.is_nan(), "{op} {dtype} element {i}");
                    if w.is_infinite() {
                        assert_eq!(g, w, "{op} {dtype} element {i}");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod timing {
    //! Figures, not assertions (machines are noisy):
    //! `cargo test --release -p xpucert-reference-core --lib fast::timing -- --ignored --nocapture`

    use super::*;
    use std::time::Instant;

    fn median_ms(mut f: impl FnMut(), iters: usize) -> f64 {
        f();
        let mut t: Vec<f64> = (0..iters)
            .map(|_| {
                let t0 = Instant::now();
                f();
                t0.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[iters / 2]
    }

    fn add_call(n: usize, dtype: DType, threads: usize, iters: usize) -> f64 {
        op_call("Add", 2, n, dtype, threads, iters)
    }

    fn op_call(
        op: &str,
        inputs: usize,
        n: usize,
        dtype: DType,
        threads: usize,
        iters: usize,
    ) -> f64 {
        let shape = [n as i64];
        let st = [1i64];
        let a: Vec<u8> = (0..n * dtype.size()).map(|i| (i % 61) as u8).collect();
        let b = a.clone();
        let call = OpCall {
            domain: "",
            op_type: crate::support::find(op).unwrap().name,
            opset: crate::support::find(op).unwrap().opsets[0],
            attributes: vec![],
            inputs: [&a, &b][..inputs]
                .iter()
                .map(|x| Some(TensorRef::host(dtype, &shape, &st, x).unwrap()))
                .collect(),
            output_specs: vec![(dtype, &shape)],
        };
        let mut buf = vec![0u8; n * dtype.size()];
        median_ms(
            || {
                let mut outs = [TensorMut::host(dtype, &shape, &mut buf).unwrap()];
                let par = Par {
                    threads,
                    min_work: PARALLEL_MIN_WORK,
                };
                try_run_with(&call, &mut outs, par).unwrap();
            },
            iters,
        )
    }

    #[test]
    #[ignore = "prints timings"]
    fn add_throughput_and_spawn_cost() {
        for dtype in [DType::F32, DType::BF16, DType::F16] {
            for threads in [1, 2] {
                let n = 1 << 24;
                let ms = add_call(n, dtype, threads, 15);
                let gbps = 3.0 * (n * dtype.size()) as f64 / ms / 1e6;
                println!("Add {dtype} 16M, {threads} thread(s): {ms:.2} ms, {gbps:.1} GB/s");
            }
        }
        for op in ["Gelu", "Exp", "Erf", "Tanh"] {
            for threads in [1, 2] {
                let ms = op_call(op, 1, 1 << 22, DType::F32, threads, 5);
                println!(
                    "{op} f32 4M, {threads} thread(s): {ms:.2} ms, {:.1} ns/element",
                    ms * 1e6 / f64::from(1 << 22)
                );
            }
        }
        // Where two threads start to pay off (the split itself decides
        // by work, so this times the kernel below and above it).
        for n in [1usize << 14, 1 << 16, 1 << 17, 1 << 18, 1 << 20] {
            let one = add_call(n, DType::F32, 1, 200);
            let two = {
                let t0 = Instant::now();
                for _ in 0..200 {
                    std::thread::scope(|s| {
                        s.spawn(|| {});
                    });
                }
                t0.elapsed().as_secs_f64() * 1e3 / 200.0
            };
            println!("Add f32 n={n}: 1 thread {one:.4} ms; one scoped spawn+join {two:.4} ms");
        }
    }
}
