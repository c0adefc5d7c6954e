//! DeepSeek-V3-style decoders: MLA attention and a mixture of experts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    KvCache, R, bin, cached_attention, head, heads_first, heads_last, ints, matmul, one, reshape,
    rms_norm, rope, rope_caches, swiglu,
};
use crate::model::exec::{Exec, ModelError, attrs};
use crate::numerics::DType;
use crate::ops::{AttrValue, Op};
/// A DeepSeek-V3-style config: MLA attention (low-rank query and KV
/// compression, decoupled RoPE), MoE with shared experts and top-k routing
/// with normalized sigmoid gates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeepseekConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden size.
    pub hidden_size: usize,
    /// Layers.
    pub num_layers: usize,
    /// The first this many layers use a dense MLP instead of MoE.
    pub first_dense_layers: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// Query compression rank.
    pub q_lora_rank: usize,
    /// KV compression rank.
    pub kv_lora_rank: usize,
    /// Per-head query/key width without RoPE.
    pub qk_nope_head_dim: usize,
    /// Per-head query/key width with RoPE (the key part shared by heads).
    pub qk_rope_head_dim: usize,
    /// Per-head value width.
    pub v_head_dim: usize,
    /// Dense MLP width.
    pub intermediate_size: usize,
    /// Expert MLP width.
    pub moe_intermediate_size: usize,
    /// Routed experts.
    pub n_routed_experts: usize,
    /// Shared experts (their MLPs are one MLP of n times the width).
    pub n_shared_experts: usize,
    /// Experts per token.
    pub num_experts_per_tok: usize,
    /// Scale of the normalized gates.
    pub routed_scaling_factor: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    pub rms_eps: f64,
}

/// Every weight of a DeepSeek config with its shape and fan-in (for the
/// seeded generator).
pub fn deepseek_weights(c: &DeepseekConfig) -> BTreeMap<String, (Vec<usize>, WeightKind)> {
    let mut w = BTreeMap::new();
    let h = c.hidden_size;
    let nh = c.num_heads;
    let mut add = |n: String, s: Vec<usize>, k: WeightKind| {
        w.insert(n, (s, k));
    };
    add("embed".into(), vec![c.vocab_size, h], WeightKind::Embedding);
    add("norm".into(), vec![h], WeightKind::Norm);
    add("lm_head".into(), vec![h, c.vocab_size], WeightKind::Linear);
    for l in 0..c.num_layers {
        let p = format!("layers.{l}");
        add(format!("{p}.attn_norm"), vec![h], WeightKind::Norm);
        add(format!("{p}.ffn_norm"), vec![h], WeightKind::Norm);
        add(
            format!("{p}.q_a"),
            vec![h, c.q_lora_rank],
            WeightKind::Linear,
        );
        add(
            format!("{p}.q_a_norm"),
            vec![c.q_lora_rank],
            WeightKind::Norm,
        );
        add(
            format!("{p}.q_b_nope"),
            vec![c.q_lora_rank, nh * c.qk_nope_head_dim],
            WeightKind::Linear,
        );
        add(
            format!("{p}.q_b_rope"),
            vec![c.q_lora_rank, nh * c.qk_rope_head_dim],
            WeightKind::Linear,
        );
        add(
            format!("{p}.kv_a"),
            vec![h, c.kv_lora_rank],
            WeightKind::Linear,
        );
        add(
            format!("{p}.kv_a_norm"),
            vec![c.kv_lora_rank],
            WeightKind::Norm,
        );
        add(
            format!("{p}.k_rope"),
            vec![h, c.qk_rope_head_dim],
            WeightKind::Linear,
        );
        add(
            format!("{p}.k_b"),
            vec![c.kv_lora_rank, nh * c.qk_nope_head_dim],
            WeightKind::Linear,
        );
        add(
            format!("{p}.v_b"),
            vec![c.kv_lora_rank, nh * c.v_head_dim],
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
        if l < c.first_dense_layers {
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
}

/// One forward step of the DeepSeek-style decoder (see [`llama_step`]).
pub fn deepseek_step<E: Exec>(
    e: &mut E,
    c: &DeepseekConfig,
    dtype: DType,
    ids: &[i64],
    start: usize,
    cache: &mut KvCache<E::T>,
) -> R<E::T> {
    let t = ids.len();
    let nh = c.num_heads;
    cache.resize_with(c.num_layers, || None);
    let ids_t = ints(e, &[1, t], ids);
    let pos: Vec<i64> = (start as i64..(start + t) as i64).collect();
    let pos_t = ints(e, &[1, t], &pos);
    let caches = rope_caches(e, dtype, start + t, c.qk_rope_head_dim, c.rope_theta);
    let emb = e.weight("embed")?;
    let mut x = one(
        e,
        Op::Gather,
        &[("axis", AttrValue::Int(0))],
        &[Some(&emb), Some(&ids_t)],
    )?;
    let head_zeros = ints(e, &[nh], &vec![0; nh]);
    let scale = 1.0 / ((c.qk_nope_head_dim + c.qk_rope_head_dim) as f64).sqrt();
    for (l, slot) in cache.iter_mut().enumerate() {
        let p = format!("layers.{l}");
        let n = rms_norm(e, &x, &format!("{p}.attn_norm"), c.rms_eps)?;
        // Queries through the low-rank compression; the RoPE part is
        // rotated (interleaved pairs, as DeepSeek does).
        let cq = matmul(e, &n, &format!("{p}.q_a"))?;
        let cq = rms_norm(e, &cq, &format!("{p}.q_a_norm"), c.rms_eps)?;
        let q_nope = matmul(e, &cq, &format!("{p}.q_b_nope"))?;
        let q_rope = matmul(e, &cq, &format!("{p}.q_b_rope"))?;
        let q_rope = rope(e, &q_rope, &caches, &pos_t, nh, true)?;
        let q_nope = heads_first(e, &q_nope, t, nh, c.qk_nope_head_dim)?;
        let q_rope = heads_first(e, &q_rope, t, nh, c.qk_rope_head_dim)?;
        // Keys and values from the compressed KV; the decoupled RoPE key is
        // one head, shared by all heads.
        let ckv = matmul(e, &n, &format!("{p}.kv_a"))?;
        let ckv = rms_norm(e, &ckv, &format!("{p}.kv_a_norm"), c.rms_eps)?;
        let k_rope = matmul(e, &n, &format!("{p}.k_rope"))?;
        let k_rope = rope(e, &k_rope, &caches, &pos_t, 1, true)?;
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
        let y = heads_last(e, &y, t, nh * c.v_head_dim)?;
        let o = matmul(e, &y, &format!("{p}.o"))?;
        let r = bin(e, Op::Add, &x, &o)?;
        let n = rms_norm(e, &r, &format!("{p}.ffn_norm"), c.rms_eps)?;
        let f = if l < c.first_dense_layers {
            swiglu(e, &n, &p)?
        } else {
            moe(e, c, dtype, &n, t, &p)?
        };
        x = bin(e, Op::Add, &r, &f)?;
        e.probe(format!("layer {l}"), &x);
    }
    head(e, &x, t, c.rms_eps)
}

/// Mixture of experts on `[1, t, hidden]`: sigmoid router scores, top-k,
/// gates normalized over the chosen experts and scaled; each expert runs on
/// the tokens routed to it (Gather); the shared expert runs on all.
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
    let logits = matmul(e, &x2, &format!("{p}.router"))?;
    let scores = one(e, Op::Sigmoid, &[], &[Some(&logits)])?;
    let kt = ints(e, &[1], &[k as i64]);
    let mut top = e.op(
        Op::TopK,
        &attrs(&[("axis", AttrValue::Int(-1))]),
        &[Some(&scores), Some(&kt)],
    )?;
    let idx = top.pop().expect("TopK has two outputs");
    let vals = top.pop().expect("TopK has two outputs");
    let ax1 = ints(e, &[1], &[1]);
    let sum = one(
        e,
        Op::ReduceSum,
        &[("keepdims", AttrValue::Int(1))],
        &[Some(&vals), Some(&ax1)],
    )?;
    let gates = bin(e, Op::Div, &vals, &sum)?;
    let flat_gates = reshape(e, &gates, &[(t * k) as i64])?;
    // Routing is decided from this path's own TopK indices.
    let (_, chosen) = e.read(&idx);
    let mut per_expert: Vec<Vec<usize>> = vec![Vec::new(); c.n_routed_experts];
    for (slot, &ex) in chosen.iter().enumerate() {
        let ex = ex as usize;
        if ex >= c.n_routed_experts {
            return Err(ModelError::Config(format!(
                "TopK returned expert index {ex}, but there are {} experts",
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
    let scale = e.constant(dtype, &[1], &[c.routed_scaling_factor]);
    let routed = bin(e, Op::Mul, &routed, &scale)?;
    let shared = swiglu(e, &x2, &format!("{p}.shared"))?;
    let y = bin(e, Op::Add, &routed, &shared)?;
    reshape(e, &y, &[1, t as i64, h as i64])
}
