//! BERT encoders (all-MiniLM-L6-v2 and kin): sentence embeddings.

use serde::{Deserialize, Serialize};

use super::{R, bin, ints, layer_norm, linear, one};
use crate::model::exec::{Exec, ModelError};
use crate::numerics::DType;
use crate::ops::{AttrValue, Op};
/// BERT encoder config (HF names in config.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// vocab_size
    pub vocab_size: usize,
    /// hidden_size
    pub hidden_size: usize,
    /// num_hidden_layers
    pub num_hidden_layers: usize,
    /// num_attention_heads
    pub num_attention_heads: usize,
    /// intermediate_size
    pub intermediate_size: usize,
    /// max_position_embeddings
    pub max_position_embeddings: usize,
    /// type_vocab_size
    pub type_vocab_size: usize,
    /// layer_norm_eps
    pub layer_norm_eps: f64,
}

/// Sentence embeddings: the encoder over a padded batch, mean pooling over
/// the attention mask, L2 normalization. Returns `[batch, hidden]`.
pub fn bert_embed<E: Exec>(
    e: &mut E,
    cfg: &BertConfig,
    dtype: DType,
    sentences: &[Vec<i64>],
) -> R<E::T> {
    let b = sentences.len();
    let s = sentences.iter().map(Vec::len).max().unwrap_or(0);
    if s > cfg.max_position_embeddings {
        return Err(ModelError::Config(format!(
            "a sentence has {s} tokens; the model takes at most {}",
            cfg.max_position_embeddings
        )));
    }
    let mut ids = vec![0i64; b * s];
    let mut mask = vec![0.0f64; b * s];
    for (i, sent) in sentences.iter().enumerate() {
        for (j, &t) in sent.iter().enumerate() {
            ids[i * s + j] = t;
            mask[i * s + j] = 1.0;
        }
    }
    let pos: Vec<i64> = (0..b).flat_map(|_| 0..s as i64).collect();
    let ids_t = ints(e, &[b, s], &ids);
    let pos_t = ints(e, &[b, s], &pos);
    let types_t = ints(e, &[b, s], &vec![0; b * s]);
    let g0 = [("axis", AttrValue::Int(0))];
    let word = e.weight("word_emb")?;
    let posw = e.weight("pos_emb")?;
    let typw = e.weight("type_emb")?;
    let we = one(e, Op::Gather, &g0, &[Some(&word), Some(&ids_t)])?;
    let te = one(e, Op::Gather, &g0, &[Some(&typw), Some(&types_t)])?;
    let pe = one(e, Op::Gather, &g0, &[Some(&posw), Some(&pos_t)])?;
    let x = bin(e, Op::Add, &we, &te)?;
    let x = bin(e, Op::Add, &x, &pe)?;
    let mut x = layer_norm(e, &x, "emb_ln.w", "emb_ln.b", cfg.layer_norm_eps)?;
    let attn_mask = e.constant(DType::Bool, &[b, 1, 1, s], &mask);
    let heads = cfg.num_attention_heads as i64;
    for l in 0..cfg.num_hidden_layers {
        let p = format!("layers.{l}");
        let q = linear(e, &x, &format!("{p}.q.w"), &format!("{p}.q.b"))?;
        let k = linear(e, &x, &format!("{p}.k.w"), &format!("{p}.k.b"))?;
        let v = linear(e, &x, &format!("{p}.v.w"), &format!("{p}.v.b"))?;
        let y = one(
            e,
            Op::Attention,
            &[
                ("q_num_heads", AttrValue::Int(heads)),
                ("kv_num_heads", AttrValue::Int(heads)),
            ],
            &[Some(&q), Some(&k), Some(&v), Some(&attn_mask)],
        )?;
        let o = linear(e, &y, &format!("{p}.o.w"), &format!("{p}.o.b"))?;
        let r = bin(e, Op::Add, &x, &o)?;
        let x1 = layer_norm(
            e,
            &r,
            &format!("{p}.ln1.w"),
            &format!("{p}.ln1.b"),
            cfg.layer_norm_eps,
        )?;
        let f = linear(e, &x1, &format!("{p}.ffn1.w"), &format!("{p}.ffn1.b"))?;
        let f = one(e, Op::Gelu, &[], &[Some(&f)])?;
        let f = linear(e, &f, &format!("{p}.ffn2.w"), &format!("{p}.ffn2.b"))?;
        let r = bin(e, Op::Add, &x1, &f)?;
        x = layer_norm(
            e,
            &r,
            &format!("{p}.ln2.w"),
            &format!("{p}.ln2.b"),
            cfg.layer_norm_eps,
        )?;
        e.probe(format!("layer {l}"), &x);
    }
    // Mean pooling over real tokens, then L2 normalization.
    let m = e.constant(dtype, &[b, s, 1], &mask);
    let masked = bin(e, Op::Mul, &x, &m)?;
    let ax1 = ints(e, &[1], &[1]);
    let keep0 = [("keepdims", AttrValue::Int(0))];
    let sum = one(e, Op::ReduceSum, &keep0, &[Some(&masked), Some(&ax1)])?;
    let count = one(e, Op::ReduceSum, &keep0, &[Some(&m), Some(&ax1)])?;
    let mean = bin(e, Op::Div, &sum, &count)?;
    let sq = bin(e, Op::Mul, &mean, &mean)?;
    let last = ints(e, &[1], &[-1]);
    let n2 = one(
        e,
        Op::ReduceSum,
        &[("keepdims", AttrValue::Int(1))],
        &[Some(&sq), Some(&last)],
    )?;
    let n = one(e, Op::Sqrt, &[], &[Some(&n2)])?;
    bin(e, Op::Div, &mean, &n)
}
