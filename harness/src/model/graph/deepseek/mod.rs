//! DeepSeek-V3 decoders: MLA attention and a mixture of experts with
//! group-limited routing, configured by DeepSeek-V3's own `config.json`
//! (`config.rs`).

use std::collections::BTreeMap;

mod config;
mod mla;
mod routing;

pub use config::{DeepseekConfig, MlaForm, RopeScaling, ScoringFunc, TopkMethod, yarn_mscale};
pub use routing::{Routing, judge as judge_routing};

use super::{
    KvCache, R, bin, cached_attention, head, heads_first, heads_last, ints, matmul, one, reshape,
    rms_norm, rope, rope_caches, rope_caches_from, swiglu,
};
use crate::model::exec::{Exec, ModelError, attrs};
use crate::numerics::DType;
use crate::ops::{AttrValue, Op};
/// Every weight of a DeepSeek config with its shape and how it is drawn
/// (for the seeded generator).
pub fn deepseek_weights(c: &DeepseekConfig) -> BTreeMap<String, (Vec<usize>, WeightKind)> {
    let mut w = BTreeMap::new();
    let h = c.hidden_size;
    let nh = c.num_attention_heads;
    let mut add = |n: String, s: Vec<usize>, k: WeightKind| {
        w.insert(n, (s, k));
    };
    add("embed".into(), vec![c.vocab_size, h], WeightKind::Embedding);
    add("norm".into(), vec![h], WeightKind::Norm);
    add("lm_head".into(), vec![h, c.vocab_size], WeightKind::Linear);
    for l in 0..c.num_hidden_layers {
        let p = format!("layers.{l}");
        add(format!("{p}.attn_norm"), vec![h], WeightKind::Norm);
        add(format!("{p}.ffn_norm"), vec![h], WeightKind::Norm);
        // The query: through the low-rank compression, or one projection
        // when q_lora_rank is null.
        let q_in = match c.q_lora_rank {
            Some(r) => {
                add(format!("{p}.q_a"), vec![h, r], WeightKind::Linear);
                add(format!("{p}.q_a_norm"), vec![r], WeightKind::Norm);
                r
            }
            None => h,
        };
        let nope = nh * c.qk_nope_head_dim;
        let rope = nh * c.qk_rope_head_dim;
        add(
            format!("{p}.q_b_nope"),
            vec![q_in, nope],
            WeightKind::Linear,
        );
        add(
            format!("{p}.q_b_rope"),
            vec![q_in, rope],
            WeightKind::Linear,
        );
        let kv = c.kv_lora_rank;
        add(format!("{p}.kv_a"), vec![h, kv], WeightKind::Linear);
        add(format!("{p}.kv_a_norm"), vec![kv], WeightKind::Norm);
        add(
            format!("{p}.k_rope"),
            vec![h, c.qk_rope_head_dim],
            WeightKind::Linear,
        );
        add(format!("{p}.k_b"), vec![kv, nope], WeightKind::Linear);
        add(
            format!("{p}.v_b"),
            vec![kv, nh * c.v_head_dim],
            WeightKind::Linear,
        );
        add(
            format!("{p}.o"),
            vec![nh * c.v_head_dim, h],
            WeightKind::Linear,
        );
        let mut mlp = |q: String, width: usize| {
            add(format!("{q}.gate"), vec![h, width], WeightKind::Linear);
            add(format!("{q}.up"), vec![h, width], WeightKind::Linear);
            add(format!("{q}.down"), vec![width, h], WeightKind::Linear);
        };
        if !c.is_moe(l) {
            mlp(p.clone(), c.intermediate_size);
        } else {
            mlp(
                format!("{p}.shared"),
                c.moe_intermediate_size * c.n_shared_experts,
            );
            for x in 0..c.n_routed_experts {
                mlp(format!("{p}.experts.{x}"), c.moe_intermediate_size);
            }
            add(
                format!("{p}.router"),
                vec![h, c.n_routed_experts],
                WeightKind::Linear,
            );
            if c.topk_method == TopkMethod::NoauxTc {
                add(
                    format!("{p}.router_bias"),
                    vec![c.n_routed_experts],
                    WeightKind::Bias,
                );
            }
        }
    }
    w
}

/// How a seeded weight is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightKind {
    /// N(0, 1/fan_in), fan_in = first dimension.
    Linear,
    /// N(0, 1).
    Embedding,
    /// 1 + N(0, 0.1^2): a norm scale near one.
    Norm,
    /// N(0, 0.1^2): a router's correction bias, of the order of the
    /// spread of sigmoid scores between experts, so that it changes which
    /// experts are chosen.
    Bias,
}

/// One forward step of the DeepSeek decoder (see [`llama_step`]).
///
/// [`llama_step`]: super::llama_step
pub fn deepseek_step<E: Exec>(
    e: &mut E,
    c: &DeepseekConfig,
    dtype: DType,
    ids: &[i64],
    start: usize,
    cache: &mut KvCache<E::T>,
) -> R<E::T> {
    let t = ids.len();
    let nh = c.num_attention_heads;
    cache.resize_with(c.num_hidden_layers, || None);
    let ids_t = ints(e, &[1, t], ids);
    let pos: Vec<i64> = (start as i64..(start + t) as i64).collect();
    let pos_t = ints(e, &[1, t], &pos);
    let caches = rope_caches_of(e, c, dtype, start + t);
    let emb = e.weight("embed")?;
    let mut x = one(
        e,
        Op::Gather,
        &[("axis", AttrValue::Int(0))],
        &[Some(&emb), Some(&ids_t)],
    )?;
    let head_zeros = ints(e, &[nh], &vec![0; nh]);
    let scale = c.softmax_scale();
    let inter = c.rope_interleave;
    let eps = c.rms_norm_eps;
    for (l, slot) in cache.iter_mut().enumerate() {
        let p = format!("layers.{l}");
        let n = rms_norm(e, &x, &format!("{p}.attn_norm"), eps)?;
        // Queries through the low-rank compression (or one projection);
        // the RoPE part is rotated.
        let cq = match c.q_lora_rank {
            Some(_) => {
                let cq = matmul(e, &n, &format!("{p}.q_a"))?;
                rms_norm(e, &cq, &format!("{p}.q_a_norm"), eps)?
            }
            None => n.clone(),
        };
        let q_nope = matmul(e, &cq, &format!("{p}.q_b_nope"))?;
        let q_rope = matmul(e, &cq, &format!("{p}.q_b_rope"))?;
        let q_rope = rope(e, &q_rope, &caches, &pos_t, nh, inter)?;
        // Keys and values from the compressed KV; the decoupled RoPE key is
        // one head, shared by all heads.
        let ckv = matmul(e, &n, &format!("{p}.kv_a"))?;
        let ckv = rms_norm(e, &ckv, &format!("{p}.kv_a_norm"), eps)?;
        let k_rope = matmul(e, &n, &format!("{p}.k_rope"))?;
        let k_rope = rope(e, &k_rope, &caches, &pos_t, 1, inter)?;
        let y = match c.mla {
            MlaForm::Naive => {
                let q_nope = heads_first(e, &q_nope, t, nh, c.qk_nope_head_dim)?;
                let q_rope = heads_first(e, &q_rope, t, nh, c.qk_rope_head_dim)?;
                let k_rope = heads_first(e, &k_rope, t, 1, c.qk_rope_head_dim)?;
                let k_rope = one(
                    e,
                    Op::Gather,
                    &[("axis", AttrValue::Int(1))],
                    &[Some(&k_rope), Some(&head_zeros)],
                )?;
                let k_nope = matmul(e, &ckv, &format!("{p}.k_b"))?;
                let k_nope = heads_first(e, &k_nope, t, nh, c.qk_nope_head_dim)?;
                let v = matmul(e, &ckv, &format!("{p}.v_b"))?;
                let v = heads_first(e, &v, t, nh, c.v_head_dim)?;
                let cat3 = [("axis", AttrValue::Int(3))];
                let q = one(e, Op::Concat, &cat3, &[Some(&q_nope), Some(&q_rope)])?;
                let k = one(e, Op::Concat, &cat3, &[Some(&k_nope), Some(&k_rope)])?;
                let y = cached_attention(e, &q, &k, &v, slot, Some(scale))?;
                heads_last(e, &y, t, nh * c.v_head_dim)?
            }
            MlaForm::Absorbed => mla::absorbed(
                e,
                c,
                &p,
                mla::Step {
                    q_nope: &q_nope,
                    q_rope: &q_rope,
                    ckv: &ckv,
                    k_rope: &k_rope,
                    t,
                },
                slot,
            )?,
        };
        let o = matmul(e, &y, &format!("{p}.o"))?;
        let r = bin(e, Op::Add, &x, &o)?;
        let n = rms_norm(e, &r, &format!("{p}.ffn_norm"), eps)?;
        let f = if c.is_moe(l) {
            moe(e, c, dtype, &n, t, &p)?
        } else {
            swiglu(e, &n, &p)?
        };
        x = bin(e, Op::Add, &r, &f)?;
        e.probe(format!("layer {l}"), &x);
    }
    head(e, &x, t, eps)
}

/// The RoPE cos/sin caches of a config: plain, or YaRN's blended
/// frequencies with its cache scale.
fn rope_caches_of<E: Exec>(
    e: &mut E,
    c: &DeepseekConfig,
    dtype: DType,
    positions: usize,
) -> (E::T, E::T) {
    let dim = c.qk_rope_head_dim;
    match &c.rope_scaling {
        None => rope_caches(e, dtype, positions, dim, c.rope_theta),
        Some(y) => {
            let inv = y.inv_freq(dim, c.rope_theta);
            rope_caches_from(e, dtype, positions, &inv, y.cache_scale())
        }
    }
}

/// `x` in f32, the dtype DeepSeek's router computes in whatever the run
/// dtype.
fn to_f32<E: Exec>(e: &mut E, x: &E::T, dtype: DType) -> R<E::T> {
    if dtype == DType::F32 {
        return Ok(x.clone());
    }
    one(
        e,
        Op::Cast,
        &[("to", AttrValue::Int(i64::from(DType::F32.code())))],
        &[Some(x)],
    )
}

/// The router of a MoE layer on `x2` `[t, hidden]`: the chosen experts
/// `[t, k]` (int64) and their weights `[t, k]` (f32, routed_scaling_factor
/// applied). In f32, as DeepSeek's reference implementation: the input
/// and the router weight (stored in the run dtype) are cast up, the
/// correction bias is kept in f32.
fn route<E: Exec>(
    e: &mut E,
    c: &DeepseekConfig,
    dtype: DType,
    x2: &E::T,
    p: &str,
) -> R<(E::T, E::T)> {
    let k = c.num_experts_per_tok;
    let x32 = to_f32(e, x2, dtype)?;
    let w = e.weight(&format!("{p}.router"))?;
    let w32 = to_f32(e, &w, dtype)?;
    let logits = bin(e, Op::MatMul, &x32, &w32)?;
    let scores = match c.scoring_func {
        ScoringFunc::Sigmoid => one(e, Op::Sigmoid, &[], &[Some(&logits)])?,
        ScoringFunc::Softmax => one(
            e,
            Op::Softmax,
            &[("axis", AttrValue::Int(-1))],
            &[Some(&logits)],
        )?,
    };
    let (idx, weights) = match c.topk_method {
        TopkMethod::NoauxTc => {
            let bias = e.weight_in(&format!("{p}.router_bias"), DType::F32)?;
            let mut out = e.op(
                Op::MoeGatingTopK,
                &attrs(&[
                    ("k", AttrValue::Int(k as i64)),
                    ("n_group", AttrValue::Int(c.n_group as i64)),
                    ("topk_group", AttrValue::Int(c.topk_group as i64)),
                    (
                        "norm_topk_prob",
                        AttrValue::Int(i64::from(c.norm_topk_prob)),
                    ),
                    (
                        "routed_scaling_factor",
                        AttrValue::Float(c.routed_scaling_factor),
                    ),
                ]),
                &[Some(&scores), Some(&bias)],
            )?;
            let idx = out.pop().expect("MoeGatingTopK has two outputs");
            let weights = out.pop().expect("MoeGatingTopK has two outputs");
            (idx, weights)
        }
        TopkMethod::Greedy => {
            let kt = ints(e, &[1], &[k as i64]);
            let mut top = e.op(
                Op::TopK,
                &attrs(&[("axis", AttrValue::Int(-1))]),
                &[Some(&scores), Some(&kt)],
            )?;
            let idx = top.pop().expect("TopK has two outputs");
            let mut gates = top.pop().expect("TopK has two outputs");
            if c.norm_topk_prob {
                let ax1 = ints(e, &[1], &[1]);
                let sum = one(
                    e,
                    Op::ReduceSum,
                    &[("keepdims", AttrValue::Int(1))],
                    &[Some(&gates), Some(&ax1)],
                )?;
                gates = bin(e, Op::Div, &gates, &sum)?;
            }
            let s = e.constant(DType::F32, &[1], &[c.routed_scaling_factor]);
            (idx, bin(e, Op::Mul, &gates, &s)?)
        }
    };
    // Routing is a decision both paths must share (routing.rs): the oracle
    // records its own, the backend path follows it across near-ties.
    let (_, own) = e.read(&idx);
    let own: Vec<usize> = own.iter().map(|&v| v as usize).collect();
    let (t, experts) = (own.len() / k.max(1), c.n_routed_experts);
    if let Some(r) = e.routing_slack() {
        let (_, s) = e.read(&scores);
        let select = match c.topk_method {
            TopkMethod::NoauxTc => {
                let b = e.weight_in(&format!("{p}.router_bias"), DType::F32)?;
                let (_, b) = e.read(&b);
                s.iter()
                    .enumerate()
                    .map(|(i, v)| v + b[i % experts])
                    .collect()
            }
            TopkMethod::Greedy => s,
        };
        // |dx . w_e| <= r |x| |w_e|, times the scoring function's slope.
        let (_, xs) = e.read(&x32);
        let (_, ws) = e.read(&w32);
        let h = c.hidden_size;
        let w_norm = (0..experts)
            .map(|j| {
                (0..h)
                    .map(|i| ws[i * experts + j].powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .fold(0.0, f64::max);
        let slope = match c.scoring_func {
            ScoringFunc::Sigmoid => 0.25,
            ScoringFunc::Softmax => 0.5,
        };
        let slack = xs
            .chunks(h)
            .map(|x| r * x.iter().map(|v| v * v).sum::<f64>().sqrt() * w_norm * slope)
            .collect();
        let (groups, keep_groups) = match c.topk_method {
            TopkMethod::NoauxTc => (c.n_group, c.topk_group),
            TopkMethod::Greedy => (1, 1),
        };
        e.record_routing(Routing {
            layer: p.to_string(),
            tokens: t,
            experts,
            k,
            groups,
            keep_groups,
            select,
            slack,
            chosen: own,
        });
    } else if let Some(forced) = e.follow_routing(&own) {
        let (_, s) = e.read(&scores);
        let w = routing::weights_for(
            &s,
            experts,
            &forced,
            k,
            c.norm_topk_prob,
            c.routed_scaling_factor,
        );
        let f: Vec<i64> = forced.iter().map(|&v| v as i64).collect();
        let idx = ints(e, &[t, k], &f);
        let weights = e.constant(DType::F32, &[t, k], &w);
        return Ok((idx, weights));
    }
    Ok((idx, weights))
}

/// Mixture of experts on `[1, t, hidden]`: the router picks `k` experts
/// per token and their weights; each expert runs on the tokens routed to
/// it (Gather); the shared expert runs on all.
fn moe<E: Exec>(
    e: &mut E,
    c: &DeepseekConfig,
    dtype: DType,
    x: &E::T,
    t: usize,
    p: &str,
) -> R<E::T> {
    let h = c.hidden_size;
    let k = c.num_experts_per_tok;
    let x2 = reshape(e, x, &[t as i64, h as i64])?;
    let (idx, gates) = route(e, c, dtype, &x2, p)?;
    // The experts' outputs are weighted in the run dtype.
    let gates = if dtype == DType::F32 {
        gates
    } else {
        one(
            e,
            Op::Cast,
            &[("to", AttrValue::Int(i64::from(dtype.code())))],
            &[Some(&gates)],
        )?
    };
    let flat_gates = reshape(e, &gates, &[(t * k) as i64])?;
    // Routing is decided from this path's own indices.
    let (_, chosen) = e.read(&idx);
    let mut per_expert: Vec<Vec<usize>> = vec![Vec::new(); c.n_routed_experts];
    for (slot, &ex) in chosen.iter().enumerate() {
        let ex = ex as usize;
        if ex >= c.n_routed_experts {
            return Err(ModelError::Config(format!(
                "the router returned expert index {ex}, but there are {} experts",
                c.n_routed_experts
            )));
        }
        per_expert[ex].push(slot);
    }
    // Run each expert on its tokens; remember where each (token, slot) row
    // lands in the concatenation of the expert outputs.
    let mut outputs = Vec::new();
    let mut row_of_slot = vec![0usize; t * k];
    let mut row = 0;
    for (ex, slots) in per_expert.iter().enumerate() {
        if slots.is_empty() {
            continue;
        }
        let tokens: Vec<i64> = slots.iter().map(|&s| (s / k) as i64).collect();
        let tok = ints(e, &[slots.len()], &tokens);
        let rows = one(
            e,
            Op::Gather,
            &[("axis", AttrValue::Int(0))],
            &[Some(&x2), Some(&tok)],
        )?;
        let y = swiglu(e, &rows, &format!("{p}.experts.{ex}"))?;
        let sl: Vec<i64> = slots.iter().map(|&s| s as i64).collect();
        let sl_t = ints(e, &[slots.len()], &sl);
        let g = one(
            e,
            Op::Gather,
            &[("axis", AttrValue::Int(0))],
            &[Some(&flat_gates), Some(&sl_t)],
        )?;
        let g = reshape(e, &g, &[slots.len() as i64, 1])?;
        outputs.push(bin(e, Op::Mul, &y, &g)?);
        for &s in slots {
            row_of_slot[s] = row;
            row += 1;
        }
    }
    let refs: Vec<Option<&E::T>> = outputs.iter().map(Some).collect();
    let all = one(e, Op::Concat, &[("axis", AttrValue::Int(0))], &refs)?;
    let mut routed: Option<E::T> = None;
    for j in 0..k {
        let rows: Vec<i64> = (0..t).map(|tok| row_of_slot[tok * k + j] as i64).collect();
        let r = ints(e, &[t], &rows);
        let part = one(
            e,
            Op::Gather,
            &[("axis", AttrValue::Int(0))],
            &[Some(&all), Some(&r)],
        )?;
        routed = Some(match routed {
            None => part,
            Some(acc) => bin(e, Op::Add, &acc, &part)?,
        });
    }
    let routed = routed.ok_or_else(|| ModelError::Config("num_experts_per_tok is 0".into()))?;
    let shared = swiglu(e, &x2, &format!("{p}.shared"))?;
    let y = bin(e, Op::Add, &routed, &shared)?;
    reshape(e, &y, &[1, t as i64, h as i64])
}
