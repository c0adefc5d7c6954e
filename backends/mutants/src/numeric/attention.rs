//! Attention computed the ways real kernels do, and the ways they go wrong.
//!
//! One kernel with switches: FlashAttention-2's blocked online softmax with
//! the unnormalised probabilities rounded to the io dtype, tf32 products,
//! bf16 scores, the mask applied before the softcap, and a causal mask that
//! forgets the KV cache's offset. With every switch off it is the reference's
//! algorithm in f32 (S = scale Q Kᵀ, softcap, mask, causal, two-pass softmax,
//! P V), summed in another order.

use half::{bf16, f16};
use xpucert_abi::{BackendError, DType, Precision};
use xpucert_reference_core::layout::broadcast_offsets;
use xpucert_reference_core::tensor::{Data, Tensor};

use super::half_io::DeclaresDefault;
use super::io::{Loaded, computes_in_f32, f32s, from_f32};
use super::linalg::round_tf32;
use super::{Patch, fault, honest};
use crate::{Expect, Mode};

/// What the kernel does differently from the reference's algorithm.
#[derive(Debug, Clone, Copy, Default)]
pub struct Variant {
    /// FlashAttention-2: keys in blocks of [`BLOCK`], running max and sum,
    /// the accumulator rescaled by exp(m_old - m_new), P̃ rounded to the io
    /// dtype before P̃ V, O = acc / l at the end.
    pub flash: bool,
    /// Q, K, P and V rounded to tf32 before their products (f32 io).
    pub tf32: bool,
    /// Fault: the scores rounded to bf16 before the softmax.
    pub bf16_scores: bool,
    /// Fault: attn_mask and the causal mask added before the softcap, so a
    /// masked score becomes -softcap instead of -inf.
    pub mask_before_softcap: bool,
    /// Fault: with a KV cache, query i sees keys j <= i instead of
    /// j <= i + past_len.
    pub causal_ignores_past: bool,
}

/// FlashAttention-2's key block (Br x Bc tiles with Bc = 64).
pub const BLOCK: usize = 64;

/// An operand as `(batch, heads, seq, size)` row-major.
struct Heads {
    heads: usize,
    seq: usize,
    size: usize,
    data: Vec<f32>,
}

/// Reads a 4-D operand as it is, or a 3-D `(batch, seq, heads * size)` one
/// split into `heads` heads. `None` when it does not fit (the reference
/// words the error).
fn heads(t: &Tensor, batch: usize, heads_attr: i64) -> Option<Heads> {
    let v = f32s(t).ok()?;
    match t.shape[..] {
        [b, heads, seq, size] if b == batch => Some(Heads {
            heads,
            seq,
            size,
            data: v,
        }),
        [b, seq, hidden] if b == batch => {
            let heads = usize::try_from(heads_attr)
                .ok()
                .filter(|&h| h > 0 && hidden % h == 0)?;
            let size = hidden / heads;
            let mut data = Vec::with_capacity(v.len());
            for bi in 0..b {
                for h in 0..heads {
                    for s in 0..seq {
                        let at = (bi * seq + s) * hidden + h * size;
                        data.extend_from_slice(&v[at..at + size]);
                    }
                }
            }
            Some(Heads {
                heads,
                seq,
                size,
                data,
            })
        }
        _ => None,
    }
}

/// The KV cache (4-D) placed before the new keys or values.
fn with_past(past: Option<&Tensor>, cur: Heads, batch: usize) -> Option<Heads> {
    let Some(past) = past else {
        return Some(cur);
    };
    if past.shape.len() != 4 {
        return None;
    }
    let p = heads(past, batch, 0)?;
    if p.heads != cur.heads || p.size != cur.size {
        return None;
    }
    let seq = p.seq + cur.seq;
    let mut data = Vec::with_capacity(batch * cur.heads * seq * cur.size);
    for bh in 0..batch * cur.heads {
        data.extend_from_slice(&p.data[bh * p.seq * p.size..(bh + 1) * p.seq * p.size]);
        data.extend_from_slice(&cur.data[bh * cur.seq * cur.size..(bh + 1) * cur.seq * cur.size]);
    }
    Some(Heads {
        heads: cur.heads,
        seq,
        size: cur.size,
        data,
    })
}

/// attn_mask as an additive bias: bool true = 0, false = -inf; a float
/// mask as it is. `index` maps `((b * heads + h) * q_seq + i) * len + j` to
/// an element of `bias`; keys at or past `len` are masked out.
struct Mask {
    bias: Vec<f32>,
    index: Vec<usize>,
    len: usize,
}

fn mask(m: &Tensor, batch: usize, heads: usize, q_seq: usize) -> Option<Mask> {
    let &len = m.shape.last()?;
    if m.shape.len() > 4 {
        return None;
    }
    let bias = match &m.data {
        Data::Bool(v) => v
            .iter()
            .map(|&a| if a != 0 { 0.0 } else { f32::NEG_INFINITY })
            .collect(),
        _ => f32s(m).ok()?,
    };
    let index = broadcast_offsets(&m.shape, &[batch, heads, q_seq, len]).ok()?;
    Some(Mask { bias, index, len })
}

/// The largest element, NaN if any is NaN.
fn nan_max(v: &[f32]) -> f32 {
    let mut m = f32::NEG_INFINITY;
    for &x in v {
        if x.is_nan() {
            return x;
        }
        if x > m {
            m = x;
        }
    }
    m
}

/// A value rounded to `dtype` (f16 or bf16; unchanged for f32).
pub(super) fn round_to(dtype: DType, x: f32) -> f32 {
    match dtype {
        DType::F16 => f16::from_f32(x).to_f32(),
        DType::BF16 => bf16::from_f32(x).to_f32(),
        _ => x,
    }
}

/// One output row, the reference's way: max subtracted, exponentials
/// summed, P normalised, then P V (P rounded to tf32 if asked).
fn plain_row(s: &[f32], vals: &[f32], dv: usize, tf32: bool, out: &mut [f32]) {
    let m = nan_max(s);
    let p: Vec<f32> = s.iter().map(|&x| (x - m).exp()).collect();
    let total: f32 = p.iter().sum();
    out.fill(0.0);
    for (j, &pj) in p.iter().enumerate() {
        let mut w = pj / total;
        if tf32 {
            w = round_tf32(w);
        }
        for (o, &x) in out.iter_mut().zip(&vals[j * dv..(j + 1) * dv]) {
            *o += w * x;
        }
    }
}

/// One output row as FlashAttention-2 computes it: per block of keys a new
/// running max, the old sum and accumulator rescaled by exp(m_old - m_new),
/// P̃ = exp(s - m_new) summed unrounded into l and rounded to the io dtype
/// for P̃ V; O = acc / l. A row with every key masked keeps l = 0 and gives
/// 0 / 0 = NaN, as the spec's softmax does.
fn flash_row(s: &[f32], vals: &[f32], dv: usize, io: DType, out: &mut [f32]) {
    let (mut m, mut l) = (f32::NEG_INFINITY, 0.0f32);
    out.fill(0.0);
    for (b, block) in s.chunks(BLOCK).enumerate() {
        let bm = nan_max(block);
        let m_new = if m.is_nan() || bm.is_nan() {
            f32::NAN
        } else {
            m.max(bm)
        };
        if m_new == f32::NEG_INFINITY {
            continue; // nothing visible yet: P̃ = 0 throughout
        }
        let alpha = (m - m_new).exp();
        l *= alpha;
        out.iter_mut().for_each(|o| *o *= alpha);
        for (jj, &x) in block.iter().enumerate() {
            let p = (x - m_new).exp();
            l += p;
            let pr = round_to(io, p);
            let j = b * BLOCK + jj;
            for (o, &v) in out.iter_mut().zip(&vals[j * dv..(j + 1) * dv]) {
                *o += pr * v;
            }
        }
        m = m_new;
    }
    out.iter_mut().for_each(|o| *o /= l);
}

/// Attention under `var`; f64 calls and calls whose shapes do not fit go to
/// the reference (which computes or words the error).
pub fn attention(l: &Loaded<'_>, var: Variant) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    if !computes_in_f32(l.input(0)?.dtype()) {
        return l.reference();
    }
    match compute(l, var)? {
        Some(t) => Ok(vec![t]),
        None => l.reference(),
    }
}

fn compute(l: &Loaded<'_>, var: Variant) -> Result<Option<Tensor>, BackendError> {
    let (q_in, k_in, v_in) = (l.input(0)?, l.input(1)?, l.input(2)?);
    let io = q_in.dtype();
    let rank = q_in.shape.len();
    if !matches!(rank, 3 | 4) || k_in.shape.len() != rank || v_in.shape.len() != rank {
        return Ok(None);
    }
    let batch = q_in.shape[0];
    let opt = |i: usize| l.inputs.get(i).and_then(Option::as_ref);
    let kv_attr = l.int("kv_num_heads", 0);
    let (Some(mut q), Some(k), Some(v)) = (
        heads(q_in, batch, l.int("q_num_heads", 0)),
        heads(k_in, batch, kv_attr),
        heads(v_in, batch, kv_attr),
    ) else {
        return Ok(None);
    };
    if opt(4).is_some() != opt(5).is_some() {
        return Ok(None);
    }
    let past = opt(4).map_or(0, |p| p.shape.get(2).copied().unwrap_or(0));
    let (Some(mut k), Some(mut v)) = (with_past(opt(4), k, batch), with_past(opt(5), v, batch))
    else {
        return Ok(None);
    };
    if k.size != q.size || k.heads != v.heads || k.seq != v.seq {
        return Ok(None);
    }
    if k.heads == 0 || !q.heads.is_multiple_of(k.heads) {
        return Ok(None);
    }
    let scale = l.float("scale", 1.0 / (q.size as f64).sqrt()) as f32;
    let cap = l.float("softcap", 0.0);
    if cap.is_nan() || cap < 0.0 {
        return Ok(None);
    }
    let cap = cap as f32;
    let causal = l.int("is_causal", 0) != 0;
    let m = match opt(3) {
        None => None,
        Some(t) => match mask(t, batch, q.heads, q.seq) {
            Some(m) => Some(m),
            None => return Ok(None),
        },
    };
    let tf32 = var.tf32 && io == DType::F32;
    if tf32 {
        for x in q.data.iter_mut().chain(&mut k.data).chain(&mut v.data) {
            *x = round_tf32(*x);
        }
    }
    let (group, total, d, dv) = (q.heads / k.heads, k.seq, q.size, v.size);
    let offset = if var.causal_ignores_past { 0 } else { past };
    let mut out = vec![0.0f32; batch * q.heads * q.seq * dv];
    let mut s = vec![0.0f32; total];
    for b in 0..batch {
        for h in 0..q.heads {
            let kvh = b * k.heads + h / group;
            let keys = &k.data[kvh * total * d..(kvh + 1) * total * d];
            let vals = &v.data[kvh * total * dv..(kvh + 1) * total * dv];
            let qh = (b * q.heads + h) * q.seq;
            for i in 0..q.seq {
                let qrow = &q.data[(qh + i) * d..(qh + i + 1) * d];
                for (j, sj) in s.iter_mut().enumerate() {
                    let dot: f32 = qrow
                        .iter()
                        .zip(&keys[j * d..(j + 1) * d])
                        .map(|(a, b)| a * b)
                        .sum();
                    let bias = m.as_ref().map(|m| {
                        if j < m.len {
                            m.bias[m.index[(qh + i) * m.len + j]]
                        } else {
                            f32::NEG_INFINITY
                        }
                    });
                    let hidden = causal && j > i + offset;
                    let softcap = |x: f32| {
                        if cap > 0.0 { cap * (x / cap).tanh() } else { x }
                    };
                    let mut x = dot * scale;
                    if !var.mask_before_softcap {
                        x = softcap(x);
                    }
                    if let Some(bias) = bias {
                        x += bias;
                    }
                    if hidden {
                        x = f32::NEG_INFINITY;
                    }
                    if var.mask_before_softcap {
                        x = softcap(x);
                    }
                    if var.bf16_scores {
                        x = bf16::from_f32(x).to_f32();
                    }
                    *sj = x;
                }
                let row = &mut out[(qh + i) * dv..(qh + i + 1) * dv];
                if var.flash {
                    flash_row(&s, vals, dv, io, row);
                } else {
                    plain_row(&s, vals, dv, tf32, row);
                }
            }
        }
    }
    let (out, shape) = if rank == 3 {
        let mut t = Vec::with_capacity(out.len());
        for b in 0..batch {
            for i in 0..q.seq {
                for h in 0..q.heads {
                    let at = ((b * q.heads + h) * q.seq + i) * dv;
                    t.extend_from_slice(&out[at..at + dv]);
                }
            }
        }
        (t, vec![batch, q.seq, q.heads * dv])
    } else {
        (out, vec![batch, q.heads, q.seq, dv])
    };
    Ok(Some(from_f32(io, shape, out)?))
}

/// f32 calls only; the others go to the reference.
fn f32_only(l: &Loaded<'_>, var: Variant) -> Result<Vec<Tensor>, BackendError> {
    if l.input(0)?.dtype() == DType::F32 {
        attention(l, var)
    } else {
        l.reference()
    }
}

const ATTENTION: &[&str] = &["Attention"];

/// Honest: FlashAttention-2 (blocked online softmax, P̃ in the io dtype),
/// declaring the default precision for every dtype (f16/bf16 included,
/// where the reference declares f32).
pub fn flash_attention2() -> Mode {
    let patch = Patch::new(ATTENTION, |l| {
        attention(
            l,
            Variant {
                flash: true,
                ..Variant::default()
            },
        )
    });
    Mode {
        name: "flash_attention2",
        expect: Expect::Pass,
        ops: ATTENTION,
        description: "Attention as FlashAttention-2: key blocks of 64, online softmax, P~ rounded to the io dtype before P~V, f32 sums; declares default precision",
        behaviour: Box::new(DeclaresDefault(patch)),
    }
}

/// Honest: f32 Attention with tf32 products, declared as tf32.
pub fn tf32_attention_declared() -> Mode {
    honest(
        "tf32_attention_declared",
        "f32 Attention with Q, K, P, V rounded to tf32 before the products, f32 sums, declared tf32",
        Patch {
            declares: Some(Precision::Tf32),
            ..Patch::new(ATTENTION, |l| {
                f32_only(
                    l,
                    Variant {
                        tf32: true,
                        ..Variant::default()
                    },
                )
            })
        },
    )
}

/// Fault: the mask added before the softcap (only calls with a softcap and
/// a mask or causality differ).
pub fn attention_mask_before_softcap() -> Mode {
    fault(
        "attention_mask_before_softcap",
        "Attention adds attn_mask / the causal mask before the softcap: masked keys get -softcap instead of -inf",
        Patch::new(ATTENTION, |l| {
            let masked = l.int("is_causal", 0) != 0 || l.inputs.get(3).is_some_and(Option::is_some);
            if l.float("softcap", 0.0) > 0.0 && masked {
                attention(
                    l,
                    Variant {
                        mask_before_softcap: true,
                        ..Variant::default()
                    },
                )
            } else {
                l.reference()
            }
        }),
    )
}

/// Fault: the causal mask without the KV cache's offset (only causal calls
/// with a past differ).
pub fn causal_ignores_past() -> Mode {
    fault(
        "causal_ignores_past",
        "Attention with past_key/past_value masks key j > i instead of j > i + past_len (KV-cache decode bug)",
        Patch::new(ATTENTION, |l| {
            let cached = l.inputs.get(4).is_some_and(Option::is_some);
            if l.int("is_causal", 0) != 0 && cached {
                attention(
                    l,
                    Variant {
                        causal_ignores_past: true,
                        ..Variant::default()
                    },
                )
            } else {
                l.reference()
            }
        }),
    )
}

/// Fault: f32 scores rounded to bf16, undeclared.
pub fn attention_bf16_scores_f32() -> Mode {
    fault(
        "attention_bf16_scores_f32",
        "f32 Attention rounds the scores to bf16 before the softmax, precision not declared",
        Patch::new(ATTENTION, |l| {
            f32_only(
                l,
                Variant {
                    bf16_scores: true,
                    ..Variant::default()
                },
            )
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_row_equals_plain_row_in_f32() {
        // 150 keys: three blocks, the maximum in the last one.
        let s: Vec<f32> = (0..150).map(|j| ((j * 37) % 23) as f32 * 0.3).collect();
        let v: Vec<f32> = (0..300).map(|j| ((j * 11) % 7) as f32 - 3.0).collect();
        let (mut a, mut b) = ([0.0f32; 2], [0.0f32; 2]);
        plain_row(&s, &v, 2, false, &mut a);
        flash_row(&s, &v, 2, DType::F32, &mut b);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }

    #[test]
    fn fully_masked_row_is_nan() {
        let s = [f32::NEG_INFINITY; 70];
        let v = [1.0f32; 70];
        let mut o = [0.0f32];
        flash_row(&s, &v, 1, DType::BF16, &mut o);
        assert!(o[0].is_nan());
        plain_row(&s, &v, 1, false, &mut o);
        assert!(o[0].is_nan());
    }
}
