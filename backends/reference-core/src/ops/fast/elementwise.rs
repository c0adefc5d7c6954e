//! Add/Sub/Mul/Div (an operand of the output's shape or a trailing suffix of
//! it) and the unary ops, block by block over the bytes; bit-identical to
//! [`crate::ops::elementwise`].

use xpucert_abi::{OpCall, TensorMut, TensorRef};

use super::storage::{Storage, contiguous, dims};
use super::{BLOCK, Par, split};
use crate::layout::broadcast_shapes;
use crate::ops::elementwise::{gelu_erf, gelu_tanh, neg, reciprocal, relu, sigmoid, softplus};
use crate::tensor::Real;

#[derive(Debug, Clone, Copy)]
pub(super) enum Bin {
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

pub(super) fn binary<S: Storage>(
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

pub(super) fn unary<S: Storage>(
    call: &OpCall<'_>,
    out: &mut TensorMut<'_>,
    threads: Par,
) -> Option<()> {
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
