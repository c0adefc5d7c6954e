//! MlaAttention (xpucert domain, version 1; `docs/ops/MlaAttention.md`):
//! DeepSeek's absorbed multi-head latent attention over the latent cache.
//!
//! Per batch row b with L valid tokens (`cache_seqlens[b]`, else T) and
//! each query head: `softmax(q cache^T * scale) cache[:, :Dl]`, query i of
//! Sq at position `L - Sq + i` (with `is_causal` it sees keys up to there),
//! keys from L on hidden.
//!
//! The heads of one batch row share their keys and values, so the row's
//! `Sq * H` queries (contiguous in q's `[Sq, H, D]` layout) are one matrix:
//! the scores are one product against the cache, P·V one product against
//! its latent part, and the output rows land in `[Sq, H, Dl]` order as they
//! are.

use xpucert_abi::BackendError;

use super::Args;
use super::linalg::product;
use super::norm::softmax_row;
use crate::tensor::{Real, Tensor, with_real};

/// The validated dimensions of a call.
struct Dims {
    batch: usize,
    q_seq: usize,
    heads: usize,
    /// Dl + Dr.
    head: usize,
    /// Dl.
    latent: usize,
    tokens: usize,
}

fn dims(args: &Args<'_>) -> Result<Dims, BackendError> {
    let (q, cache) = (args.input(0)?, args.input(1)?);
    let [batch, q_seq, heads, head] = q.shape[..] else {
        return Err(args.invalid(format!("q must be 4-D, got {:?}", q.shape)));
    };
    let [cb, tokens, cd] = cache.shape[..] else {
        return Err(args.invalid(format!("cache must be 3-D, got {:?}", cache.shape)));
    };
    if cb != batch || cd != head || cache.dtype() != q.dtype() {
        return Err(args.invalid(format!(
            "cache {:?} ({}) does not match q {:?} ({})",
            cache.shape,
            cache.dtype(),
            q.shape,
            q.dtype()
        )));
    }
    if !args.attrs.has("kv_lora_rank") || !args.attrs.has("scale") {
        return Err(args.invalid("attributes kv_lora_rank and scale are required"));
    }
    let rank = args.attrs.int("kv_lora_rank", 0)?;
    let latent = usize::try_from(rank)
        .ok()
        .filter(|&l| l >= 1 && l <= head)
        .ok_or_else(|| args.invalid(format!("kv_lora_rank {rank} must be in 1..={head}")))?;
    Ok(Dims {
        batch,
        q_seq,
        heads,
        head,
        latent,
        tokens,
    })
}

/// Each batch row's valid tokens, checked so that every query sees a key.
fn lengths(args: &Args<'_>, d: &Dims, causal: bool) -> Result<Vec<usize>, BackendError> {
    let lens = match args.optional(2) {
        None => vec![d.tokens; d.batch],
        Some(t) => {
            let v = t.to_indices()?;
            if v.len() != d.batch {
                return Err(args.invalid(format!(
                    "cache_seqlens must be [{}], got {:?}",
                    d.batch, t.shape
                )));
            }
            v.iter()
                .map(|&l| usize::try_from(l).ok().filter(|&l| l <= d.tokens))
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| {
                    args.invalid(format!("cache_seqlens {v:?} must lie in 0..={}", d.tokens))
                })?
        }
    };
    let least = if causal { d.q_seq.max(1) } else { 1 };
    if d.q_seq > 0 && lens.iter().any(|&l| l < least) {
        return Err(args.invalid(format!(
            "cache_seqlens {lens:?}: every row needs at least {least} valid tokens"
        )));
    }
    Ok(lens)
}

/// The output `[B, Sq, H, Dl]` in q's dtype.
pub fn mla_attention(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let d = dims(args)?;
    let causal = args.attrs.int("is_causal", 0)? != 0;
    let lens = lengths(args, &d, causal)?;
    let scale = args.attrs.float("scale", 0.0)?;
    let (q_in, cache_in) = (args.input(0)?, args.input(1)?);
    with_real!(q_in.dtype(), T => {
        let q = q_in.to_real::<T>()?;
        let cache = cache_in.to_real::<T>()?;
        let out = attend::<T>(&d, &q, &cache, &lens, causal, T::from_f64(scale));
        Tensor::from_real(q_in.dtype(), vec![d.batch, d.q_seq, d.heads, d.latent], out)
    })
}

/// The kernel, in `T` (f32 for the half-precision dtypes).
fn attend<T: Real>(
    d: &Dims,
    q: &[T],
    cache: &[T],
    lens: &[usize],
    causal: bool,
    scale: T,
) -> Vec<T> {
    let (rows, t, dim, dl) = (d.q_seq * d.heads, d.tokens, d.head, d.latent);
    let mut out = vec![T::ZERO; d.batch * rows * dl];
    let mut scores = vec![T::ZERO; rows * t];
    let mut values = vec![T::ZERO; t * dl];
    for (b, &valid) in lens.iter().enumerate() {
        let keys = &cache[b * t * dim..(b + 1) * t * dim];
        let qmat = &q[b * rows * dim..(b + 1) * rows * dim];
        scores.fill(T::ZERO);
        product(qmat, keys, &mut scores, (rows, dim, t), true, true);
        for (r, row) in scores.chunks_mut(t.max(1)).enumerate().take(rows) {
            // Row r is query i = r / H, at position valid - Sq + i.
            let last = (valid + r / d.heads) as i64 - d.q_seq as i64;
            for (j, s) in row.iter_mut().enumerate() {
                *s = if j >= valid || (causal && j as i64 > last) {
                    T::NEG_INFINITY
                } else {
                    *s * scale
                };
            }
            softmax_row(row, false);
        }
        // The values: the latent part of each cache row, made contiguous.
        for (j, v) in values.chunks_mut(dl).enumerate() {
            v.copy_from_slice(&keys[j * dim..j * dim + dl]);
        }
        let o = &mut out[b * rows * dl..(b + 1) * rows * dl];
        product(&scores, &values, o, (rows, t, dl), false, true);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::AttrValue;

    fn attrs(scale: f64, rank: i64, causal: i64) -> [(&'static str, AttrValue<'static>); 3] {
        [
            ("scale", AttrValue::Float(scale)),
            ("kv_lora_rank", AttrValue::Int(rank)),
            ("is_causal", AttrValue::Int(causal)),
        ]
    }

    #[test]
    fn two_tokens_by_hand() {
        // As the oracle's test: scores 2 and 1, scale ln 2, weights 2/3 and
        // 1/3 of the latents [1, 0] and [0, 2].
        let out = run1(
            "MlaAttention",
            &attrs(std::f64::consts::LN_2, 2, 0),
            vec![
                f32t(&[1, 1, 1, 3], &[1.0, 1.0, 1.0]),
                f32t(&[1, 2, 3], &[1.0, 0.0, 1.0, 0.0, 2.0, -1.0]),
            ],
        )
        .unwrap();
        assert_eq!(out.shape, vec![1, 1, 1, 2]);
        assert_close(&values(&out), &[2.0 / 3.0, 2.0 / 3.0], 1e-6);
    }

    #[test]
    fn seqlens_hide_the_padding_and_move_the_causal_frontier() {
        let inputs = || {
            vec![
                f32t(&[1, 2, 1, 1], &[0.0, 0.0]),
                f32t(&[1, 4, 1], &[1.0, 2.0, 3.0, 100.0]),
                i64t(&[1], &[3]),
            ]
        };
        let causal = run1("MlaAttention", &attrs(0.0, 1, 1), inputs()).unwrap();
        assert_close(&values(&causal), &[1.5, 2.0], 1e-6);
        let full = run1("MlaAttention", &attrs(0.0, 1, 0), inputs()).unwrap();
        assert_close(&values(&full), &[2.0, 2.0], 1e-6);
    }

    #[test]
    fn heads_share_the_cache_and_bf16_round_trips() {
        // Two heads with the same query give the same output; bf16 in,
        // bf16 out.
        let q: Vec<f32> = vec![0.5, -1.0, 2.0, 0.5, -1.0, 2.0];
        let c: Vec<f32> = vec![1.0, 0.5, -0.5, -1.0, 0.25, 0.5];
        let bf = |shape: &[usize], v: &[f32]| {
            Some(
                Tensor::new(
                    shape.to_vec(),
                    Data::BF16(
                        v.iter()
                            .map(|&x| half::bf16::from_f32(x).to_bits())
                            .collect(),
                    ),
                )
                .unwrap(),
            )
        };
        let out = run1(
            "MlaAttention",
            &attrs(0.5, 2, 0),
            vec![bf(&[1, 1, 2, 3], &q), bf(&[1, 2, 3], &c)],
        )
        .unwrap();
        let Data::BF16(v) = &out.data else {
            panic!("expected bf16, got {:?}", out.dtype());
        };
        assert_eq!(out.shape, vec![1, 1, 2, 2]);
        assert_eq!(v[..2], v[2..]);
    }

    #[test]
    fn rejects_too_few_valid_tokens() {
        let r = run(
            "MlaAttention",
            &attrs(0.1, 1, 1),
            vec![
                f32t(&[1, 2, 1, 1], &[0.0, 0.0]),
                f32t(&[1, 4, 1], &[1.0, 2.0, 3.0, 4.0]),
                i64t(&[1], &[1]),
            ],
        );
        assert!(r.is_err());
    }
}
