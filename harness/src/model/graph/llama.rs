//! Llama decoders (SmolLM2 and kin): one forward step with a KV cache.

use serde::{Deserialize, Serialize};

use super::{
    KvCache, R, bin, cached_attention, head, heads_first, heads_last, ints, matmul, one, rms_norm,
    rope, rope_caches, swiglu,
};
use crate::model::exec::Exec;
use crate::numerics::DType;
use crate::ops::{AttrValue, Op};
/// Llama decoder config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden size.
    pub hidden_size: usize,
    /// Layers.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (GQA).
    pub num_kv_heads: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// RoPE base.
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    pub rms_eps: f64,
}

impl LlamaConfig {
    fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }
}

/// One forward step of a decoder over `ids` at positions `start..`,
/// extending `cache`; returns the logits of the last position, `[vocab]`
/// as a `[1, 1, vocab]` tensor.
pub fn llama_step<E: Exec>(
    e: &mut E,
    cfg: &LlamaConfig,
    dtype: DType,
    ids: &[i64],
    start: usize,
    cache: &mut KvCache<E::T>,
) -> R<E::T> {
    let t = ids.len();
    let (h, hd) = (cfg.hidden_size, cfg.head_dim());
    cache.resize_with(cfg.num_layers, || None);
    let ids_t = ints(e, &[1, t], ids);
    let pos: Vec<i64> = (start as i64..(start + t) as i64).collect();
    let pos_t = ints(e, &[1, t], &pos);
    let caches = rope_caches(e, dtype, start + t, hd, cfg.rope_theta);
    let emb = e.weight("embed")?;
    let mut x = one(
        e,
        Op::Gather,
        &[("axis", AttrValue::Int(0))],
        &[Some(&emb), Some(&ids_t)],
    )?;
    for (l, slot) in cache.iter_mut().enumerate() {
        let p = format!("layers.{l}");
        let n = rms_norm(e, &x, &format!("{p}.attn_norm"), cfg.rms_eps)?;
        let q = matmul(e, &n, &format!("{p}.q"))?;
        let k = matmul(e, &n, &format!("{p}.k"))?;
        let v = matmul(e, &n, &format!("{p}.v"))?;
        let q = rope(e, &q, &caches, &pos_t, cfg.num_heads, false)?;
        let k = rope(e, &k, &caches, &pos_t, cfg.num_kv_heads, false)?;
        let q4 = heads_first(e, &q, t, cfg.num_heads, hd)?;
        let k4 = heads_first(e, &k, t, cfg.num_kv_heads, hd)?;
        let v4 = heads_first(e, &v, t, cfg.num_kv_heads, hd)?;
        let y = cached_attention(e, &q4, &k4, &v4, slot, None)?;
        let y = heads_last(e, &y, t, h)?;
        let o = matmul(e, &y, &format!("{p}.o"))?;
        let r = bin(e, Op::Add, &x, &o)?;
        let n = rms_norm(e, &r, &format!("{p}.ffn_norm"), cfg.rms_eps)?;
        let f = swiglu(e, &n, &p)?;
        x = bin(e, Op::Add, &r, &f)?;
        e.probe(format!("layer {l}"), &x);
    }
    head(e, &x, t, cfg.rms_eps)
}
