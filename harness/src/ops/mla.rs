//! MlaAttention (domain `xpucert`, version 1): DeepSeek's multi-head latent
//! attention in its absorbed form, decode attention over the latent cache
//! (specification: `docs/ops/MlaAttention.md`).
//!
//! Inputs: `q` `[B, Sq, H, Dl + Dr]`, the absorbed query (per head, the
//! latent part `q_nope W_UK^T` then the rotated rope part); `cache` `[B, T,
//! Dl + Dr]`, per token the latent `c_kv` (after kv_a_layernorm) then the
//! rotated rope key `k_pe`, one head shared by all query heads; the
//! optional `cache_seqlens` `[B]` int64, each batch row's valid tokens.
//! Attributes: `scale` (float, required: DeepSeek's softmax scale is
//! `1/sqrt(qk_nope + qk_rope)` of the naive form, times YaRN's mscale^2,
//! not anything the op could derive from its shapes), `kv_lora_rank` (Dl,
//! required), `is_causal` (default 0).
//! Output `[B, Sq, H, Dl]` = `softmax(q cache^T * scale) cache[..., :Dl]`
//! per (batch, head): the keys are the whole cache rows, the values their
//! latent part.
//!
//! The queries are the last Sq of the L valid tokens (L = cache_seqlens[b],
//! else T): with `is_causal`, query i sees keys `j <= L - Sq + i`, as
//! FlashMLA's decode kernel aligns them (speculative and MTP decoding
//! verify several tokens at once). Keys from L on are padding, never seen.
//!
//! Check: Attention's error model (`attention::Stages`, docs/error-models.md)
//! with head size `Dl + Dr` (the dot products of the scores) and the latent
//! part as V, `c = 1`. A kernel that sums the latent and the rope parts of a
//! score separately and adds them is one more rounding inside the dot
//! product's growth `g(Dl + Dr)`; flash-style blocking over T is inside the
//! normaliser's `g_w(T)`; the fused kernels' bf16 probabilities before P·V
//! are the io term, as for Attention.

use ndarray::{Array2, Array4, ArrayD, Ix3, Ix4, s};

use super::attention::{Stages, add_bias, softmax_rows};
use super::rules::{self, dim_from_end};
use super::spec::{TypeVar, fixed};
use super::{AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;

/// q and cache: the float dtypes deployments run MLA in, and f64.
const T_FLOAT: TypeVar = TypeVar {
    name: "T",
    allowed: &[DType::F32, DType::F16, DType::BF16, DType::F64],
};

/// cache_seqlens: int64.
const T_LENS: TypeVar = TypeVar {
    name: "tensor(int64)",
    allowed: &[DType::I64],
};

/// MlaAttention-1 (xpucert).
pub(super) const MLA_ATTENTION: OpDef = OpDef {
    spec: OpSpec {
        name: "MlaAttention",
        domain: "xpucert",
        opset: 1,
        arity: fixed(2, 1),
        input_names: &["q", "cache", "cache_seqlens"],
        input_types: &[T_FLOAT, T_FLOAT, T_LENS],
        outputs: 1,
        attributes: &[
            ("scale", AttrType::Float),
            ("kv_lora_rank", AttrType::Int),
            ("is_causal", AttrType::Int),
        ],
    },
    oracle: mla,
    shape: |attrs, inputs, values| {
        let p = Plan::resolve(attrs, inputs, values)?;
        Ok(vec![(p.dtype, vec![p.batch, p.q_seq, p.heads, p.latent])])
    },
    cost: mla_cost,
    check: CheckPolicy::ModelBound,
    // The longer of the two sums: a score's dot product, or P·V over T.
    terms: |_, shapes, _| dim_from_end(shapes, 0, 1).max(dim_from_end(shapes, 1, 2)),
};

/// `2 Sq T (Dl + Dr)` for the scores, `2 Sq T Dl` for P·V and `5 Sq T` for
/// the softmax, per (batch, head), as Attention counts.
fn mla_cost(attrs: &Attributes, inputs: &[Option<&[usize]>]) -> super::Work {
    let (q, c) = (rules::shape_of(inputs, 0), rules::shape_of(inputs, 1));
    let ([b, sq, h, d], [_, t, _]) = (q, c) else {
        return super::Work {
            flops: Some(0.0),
            multiply_adds: 0.0,
            scratch: 0.0,
        };
    };
    let dl = usize::try_from(rules::int_attr(attrs, "kv_lora_rank", 0))
        .unwrap_or(0)
        .min(*d);
    let (rows, t) = ((b * sq * h) as f64, *t as f64);
    let macs = rows * t * (d + dl) as f64;
    super::Work {
        flops: Some(2.0 * macs + 5.0 * rows * t),
        multiply_adds: macs,
        // Per (batch, head) the oracle holds Sq x T scores, weights and
        // their error model (as Attention's).
        scratch: 6.0 * *sq as f64 * t,
    }
}

/// A checked call: what the oracle and the shape rule both go by.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    dtype: DType,
    batch: usize,
    q_seq: usize,
    heads: usize,
    /// Dl + Dr.
    head: usize,
    /// Dl, kv_lora_rank.
    latent: usize,
    scale: f64,
    causal: bool,
    /// Per batch row, the valid tokens L.
    lens: Vec<usize>,
}

impl Plan {
    fn resolve(
        attrs: &Attributes,
        inputs: &[Option<TypedShape>],
        values: &mut dyn FnMut(usize) -> Vec<f64>,
    ) -> std::result::Result<Self, String> {
        let (dtype, q) = rules::input(inputs, 0)?;
        let (cache_dtype, cache) = rules::input(inputs, 1)?;
        let [batch, q_seq, heads, head] = q[..] else {
            return Err(format!(
                "q must be 4-D [batch, q_seq, heads, kv_lora_rank + rope_dim], got shape {q:?}"
            ));
        };
        let [cb, tokens, cd] = cache[..] else {
            return Err(format!(
                "cache must be 3-D [batch, tokens, kv_lora_rank + rope_dim], got shape {cache:?}"
            ));
        };
        if cb != batch || cd != head {
            return Err(format!(
                "cache {cache:?} must be [batch {batch}, tokens, {head}] to match q {q:?}"
            ));
        }
        if cache_dtype != dtype {
            return Err(format!(
                "q is {dtype} but cache is {cache_dtype}: both must have one dtype"
            ));
        }
        if !attrs.contains_key("kv_lora_rank") {
            return Err("attribute kv_lora_rank is required".into());
        }
        let rank = attrs.int("kv_lora_rank", 0)?;
        let latent = usize::try_from(rank)
            .ok()
            .filter(|&l| l >= 1 && l <= head)
            .ok_or_else(|| {
                format!("kv_lora_rank = {rank} must be in 1..={head} (q's last dimension)")
            })?;
        if !attrs.contains_key("scale") {
            return Err(
                "attribute scale is required (DeepSeek's softmax scale is not a function of the shapes)"
                    .into(),
            );
        }
        let scale = attrs.float("scale", 0.0)?;
        if !scale.is_finite() {
            return Err(format!("scale {scale} must be finite"));
        }
        let causal = rules::flag(attrs, "is_causal", false)?;
        let lens = match inputs.get(2).and_then(Option::as_ref) {
            None => vec![tokens; batch],
            Some((_, n)) => {
                if n.as_slice() != [batch] {
                    return Err(format!(
                        "cache_seqlens must be [batch] = [{batch}], got {n:?}"
                    ));
                }
                let lens = rules::ints_of("cache_seqlens", &values(2))?;
                lens.iter()
                    .map(|&l| {
                        usize::try_from(l).ok().filter(|&l| l <= tokens).ok_or_else(|| {
                            format!("cache_seqlens {lens:?} must lie in 0..={tokens} (the cache's tokens)")
                        })
                    })
                    .collect::<std::result::Result<Vec<usize>, String>>()?
            }
        };
        // Every query must see a key: the softmax of an empty row is 0/0.
        let least = if causal { q_seq.max(1) } else { 1 };
        if q_seq > 0
            && let Some((b, &l)) = lens.iter().enumerate().find(|&(_, &l)| l < least)
        {
            return Err(format!(
                "batch row {b} has {l} valid tokens, but its {q_seq} queries need at least {least}{}",
                if causal {
                    " (causal: the queries are the last of the valid tokens)"
                } else {
                    ""
                }
            ));
        }
        Ok(Plan {
            dtype: *dtype,
            batch,
            q_seq,
            heads,
            head,
            latent,
            scale,
            causal,
            lens,
        })
    }
}

/// The oracle: per (batch, head), Attention's three stages in f64 over the
/// latent cache, with Attention's error model (see the file comment).
fn mla(call: &Call) -> Result<Vec<Output>> {
    let p = Plan::resolve(call.attrs, &call.typed_shapes(), &mut |i| call.values(i))
        .map_err(|m| call.err(m))?;
    let q = call
        .input(0)?
        .data
        .view()
        .into_dimensionality::<Ix4>()
        .map_err(|e| call.err(format!("q: {e}")))?;
    let cache = call
        .input(1)?
        .data
        .view()
        .into_dimensionality::<Ix3>()
        .map_err(|e| call.err(format!("cache: {e}")))?;
    let (b, sq, h, dl) = (p.batch, p.q_seq, p.heads, p.latent);
    let mut y = Array4::<f64>::zeros((b, sq, h, dl));
    let mut model = call
        .magnitudes
        .then(|| std::array::from_fn::<_, 3, _>(|_| Array4::<f64>::zeros((b, sq, h, dl))));
    for bi in 0..b {
        let keys = cache.slice(s![bi, .., ..]);
        let values = cache.slice(s![bi, .., ..dl]);
        let keys_abs = keys.mapv(f64::abs);
        let valid = p.lens[bi];
        // The queries are the last Sq of the valid tokens.
        let offset = valid as i64 - sq as i64;
        for hi in 0..h {
            let qm = q.slice(s![bi, .., hi, ..]);
            let raw: Array2<f64> = qm.dot(&keys.t());
            let mut scores = raw.mapv(|x| p.scale * x);
            add_bias(&mut scores, None, bi, hi, p.causal.then_some(offset), valid);
            let logits = model.as_ref().map(|_| scores.clone());
            softmax_rows(&mut scores);
            y.slice_mut(s![bi, .., hi, ..]).assign(&scores.dot(&values));
            if let (Some(model), Some(logits)) = (model.as_mut(), logits) {
                let stages = Stages {
                    qk_abs: qm.mapv(f64::abs).dot(&keys_abs.t()),
                    raw,
                    logits,
                    probs: &scores,
                    scale: p.scale,
                    softcap: 0.0,
                    head: p.head,
                };
                let (parts, _) = stages.error_model(values);
                for (whole, part) in model.iter_mut().zip(parts) {
                    whole.slice_mut(s![bi, .., hi, ..]).assign(&part);
                }
            }
        }
    }
    let y: ArrayD<f64> = y.into_dyn();
    Ok(vec![match model {
        Some([acc, io, products]) => {
            Output::bounded(p.dtype, y, acc.into_dyn(), Some(io.into_dyn()))
                .with_products(Some(products.into_dyn()))
        }
        None => Output::plain(p.dtype, y),
    }])
}

// ------------------------------------------------------------- generated cases

use super::cases::{CaseSpace, Factor, Fill, GenCase, GenInput, Pick};

/// DeepSeek-V3's softmax scale without YaRN, `1/sqrt(qk_nope + qk_rope)`
/// = `1/sqrt(192)`: the absorbed query is 576 wide, but its scale is the
/// naive form's.
const V3_SCALE: f64 = 0.072_168_783_648_703_22;

/// MlaAttention: DeepSeek-V3's dimensions (128 heads, Dl 512, Dr 64) and
/// small ones (2 heads of 16 + 8, 16 heads of 64 + 16), decode (one query),
/// several queries (MTP / speculative decoding: 3 of them, causal among
/// themselves) and prefill (as many queries as tokens), the full cache or
/// per-batch valid lengths (padding after them), causal or not.
pub(super) fn mla_attention_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(&[DType::F32, DType::F16, DType::BF16]),
            Factor::new("dims", &["tiny", "small", "v3"]),
            Factor::new("seq", &["decode", "mtp", "prefill"]),
            Factor::new("lens", &["full", "seqlens"]),
            Factor::new("causal", &["noncausal", "causal"]),
        ],
        build: Box::new(|p: &Pick| {
            let dt = p.dtype();
            let (h, dl, dr) = match p.get("dims") {
                "tiny" => (2, 16, 8),
                "small" => (16, 64, 16),
                _ => (128, 512, 64),
            };
            let (sq, t) = match p.get("seq") {
                "decode" => (1, 37),
                "mtp" => (3, 37),
                _ => (12, 12),
            };
            let b = 2;
            // Scores of a few units: the latent after its RMSNorm is of
            // unit size, the absorbed query's parts too.
            let q = GenInput::new(dt, vec![b, sq, h, dl + dr]).fill(Fill::Normal(1.0));
            let cache = GenInput::new(dt, vec![b, t, dl + dr]).fill(Fill::Normal(1.0));
            let mut inputs = vec![q.some(), cache.some()];
            if p.is("lens", "seqlens") {
                // Row 0 full, row 1 shorter (but holding its queries).
                let short = (t - t / 3).max(sq);
                inputs.push(GenInput::values(DType::I64, vec![t as f64, short as f64]).some());
            }
            let mut case = GenCase::new(inputs)
                .float("scale", V3_SCALE)
                .int("kv_lora_rank", dl as i64);
            if p.is("causal", "causal") {
                case = case.int("is_causal", 1);
            }
            Some(case)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::numerics::DType;
    use crate::ops::{AttrValue, Attributes, Value};

    fn mla_attrs(scale: f64, rank: i64, causal: bool) -> Attributes {
        attrs(&[
            ("scale", AttrValue::Float(scale)),
            ("kv_lora_rank", AttrValue::Int(rank)),
            ("is_causal", AttrValue::Int(i64::from(causal))),
        ])
    }

    fn run_mla(a: &Attributes, inputs: &[Option<Value>]) -> Vec<f64> {
        run_opt("MlaAttention", a, inputs)
            .unwrap_or_else(|e| panic!("{e}"))
            .remove(0)
            .value
            .data
            .iter()
            .copied()
            .collect()
    }

    #[test]
    fn two_tokens_by_hand() {
        // One head, Dl 2, Dr 1. Token 0: latent [1, 0], rope key 1; token
        // 1: latent [0, 2], rope key -1. Query [1, 1 | 1]: scores (1 + 1)
        // and (2 - 1) = 2 and 1, times scale ln 2 / 1: logits 2 ln 2 and
        // ln 2, weights 4/6 and 2/6; output 2/3 [1, 0] + 1/3 [0, 2].
        let q = f(&[1, 1, 1, 3], &[1.0, 1.0, 1.0]);
        let cache = f(&[1, 2, 3], &[1.0, 0.0, 1.0, 0.0, 2.0, -1.0]);
        let y = run_mla(
            &mla_attrs(std::f64::consts::LN_2, 2, false),
            &[Some(q), Some(cache)],
        );
        close(
            &ndarray::arr1(&y).into_dyn(),
            &[2.0 / 3.0, 2.0 / 3.0],
            1e-15,
        );
    }

    #[test]
    fn equals_attention_with_the_latent_as_values() {
        // MlaAttention is Attention with K = the whole cache row (one kv
        // head for all query heads) and V = its latent part.
        let (h, sq, t, dl, dr) = (3, 2, 5, 4, 2);
        let d = dl + dr;
        let qv: Vec<f64> = (0..sq * h * d)
            .map(|i| ((i * 7 % 11) as f64 - 5.0) / 4.0)
            .collect();
        let cv: Vec<f64> = (0..t * d)
            .map(|i| ((i * 5 % 13) as f64 - 6.0) / 5.0)
            .collect();
        let scale = 0.4;
        let y = run_mla(
            &mla_attrs(scale, dl as i64, true),
            &[Some(f(&[1, sq, h, d], &qv)), Some(f(&[1, t, d], &cv))],
        );
        // Attention's 4-D layout: Q [1, h, sq, d], K [1, 1, t, d], V [1, 1, t, dl].
        let mut qa = vec![0.0; qv.len()];
        for i in 0..sq {
            for hh in 0..h {
                for l in 0..d {
                    qa[(hh * sq + i) * d + l] = qv[(i * h + hh) * d + l];
                }
            }
        }
        let va: Vec<f64> = (0..t)
            .flat_map(|j| cv[j * d..j * d + dl].to_vec())
            .collect();
        // Causal with the queries at the end: a past of t - sq tokens.
        let (past_k, new_k) = cv.split_at((t - sq) * d);
        let (past_v, new_v) = va.split_at((t - sq) * dl);
        let want = run_opt(
            "Attention",
            &attrs(&[
                ("scale", AttrValue::Float(scale)),
                ("is_causal", AttrValue::Int(1)),
            ]),
            &[
                Some(f(&[1, h, sq, d], &qa)),
                Some(f(&[1, 1, sq, d], new_k)),
                Some(f(&[1, 1, sq, dl], new_v)),
                None,
                Some(f(&[1, 1, t - sq, d], past_k)),
                Some(f(&[1, 1, t - sq, dl], past_v)),
            ],
        )
        .unwrap()
        .remove(0)
        .value;
        for i in 0..sq {
            for hh in 0..h {
                for l in 0..dl {
                    let got = y[(i * h + hh) * dl + l];
                    let w = want.data[&[0, hh, i, l][..]];
                    assert!((got - w).abs() < 1e-13, "({i}, {hh}, {l}): {got} vs {w}");
                }
            }
        }
    }

    #[test]
    fn seqlens_hide_the_padding_and_move_the_causal_frontier() {
        // One head, Dl 1, Dr 0 is not allowed to matter: Dl = D = 1.
        // Tokens' latents 1, 2, 3, 100 (the last is padding for L = 3).
        let cache = f(&[1, 4, 1], &[1.0, 2.0, 3.0, 100.0]);
        let q = f(&[1, 2, 1, 1], &[0.0, 0.0]);
        let lens = i(&[1], &[3]);
        // Scale 0: uniform weights over the visible keys. Query 0 is token
        // 1 (sees tokens 0 and 1), query 1 is token 2 (sees 0, 1, 2).
        let y = run_mla(
            &mla_attrs(0.0, 1, true),
            &[Some(q.clone()), Some(cache.clone()), Some(lens.clone())],
        );
        close(&ndarray::arr1(&y).into_dyn(), &[1.5, 2.0], 1e-15);
        let y = run_mla(
            &mla_attrs(0.0, 1, false),
            &[Some(q), Some(cache), Some(lens)],
        );
        close(&ndarray::arr1(&y).into_dyn(), &[2.0, 2.0], 1e-15);
    }

    #[test]
    fn the_bound_grows_with_the_io_dtype_terms_and_is_positive() {
        let q = t(
            DType::BF16,
            &[1, 1, 2, 6],
            &[
                0.5, -1.0, 2.0, 0.25, 1.0, -0.5, 1.0, 1.0, -1.0, 0.5, 0.0, 2.0,
            ],
        );
        let cache = t(
            DType::BF16,
            &[1, 3, 6],
            &[
                1.0, 0.5, -0.5, 2.0, 0.0, 1.0, -1.0, 0.25, 0.5, 1.0, 1.0, -2.0, 0.0, 1.5, 1.0,
                -1.0, 0.5, 0.5,
            ],
        );
        let out = run_opt(
            "MlaAttention",
            &mla_attrs(0.3, 4, false),
            &[Some(q), Some(cache)],
        )
        .unwrap()
        .remove(0);
        assert_eq!(out.value.dtype, DType::BF16);
        assert_eq!(out.value.shape(), &[1, 1, 2, 4]);
        let m = out.magnitude.as_ref().expect("a bounded output");
        assert!(m.iter().all(|&v| v > 0.0), "{m:?}");
    }

    #[test]
    fn bad_calls_say_what_is_wrong() {
        let q = f(&[1, 1, 2, 6], &[0.0; 12]);
        let cache = f(&[1, 3, 6], &[0.0; 18]);
        fails(
            "MlaAttention",
            &mla_attrs(0.1, 7, false),
            &[Some(q.clone()), Some(cache.clone())],
            "kv_lora_rank = 7 must be in 1..=6",
        );
        fails(
            "MlaAttention",
            &attrs(&[("kv_lora_rank", AttrValue::Int(4))]),
            &[Some(q.clone()), Some(cache.clone())],
            "attribute scale is required",
        );
        fails(
            "MlaAttention",
            &attrs(&[("scale", AttrValue::Float(0.1))]),
            &[Some(q.clone()), Some(cache.clone())],
            "attribute kv_lora_rank is required",
        );
        fails(
            "MlaAttention",
            &mla_attrs(0.1, 4, false),
            &[Some(q.clone()), Some(f(&[1, 3, 5], &[0.0; 15]))],
            "must be [batch 1, tokens, 6]",
        );
        fails(
            "MlaAttention",
            &mla_attrs(0.1, 4, false),
            &[Some(q.clone()), Some(cache.clone()), Some(i(&[1], &[4]))],
            "must lie in 0..=3",
        );
        fails(
            "MlaAttention",
            &mla_attrs(0.1, 4, false),
            &[Some(q.clone()), Some(cache.clone()), Some(i(&[1], &[0]))],
            "has 0 valid tokens",
        );
        let q2 = f(&[1, 3, 2, 6], &[0.0; 36]);
        fails(
            "MlaAttention",
            &mla_attrs(0.1, 4, true),
            &[Some(q2), Some(cache.clone()), Some(i(&[1], &[2]))],
            "need at least 3",
        );
        fails(
            "MlaAttention",
            &mla_attrs(0.1, 4, false),
            &[Some(f(&[2, 6], &[0.0; 12])), Some(cache)],
            "q must be 4-D",
        );
    }
}
