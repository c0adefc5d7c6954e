//! The three model families as op graphs, written once against [`Exec`] and
//! executed by both the backend path and the oracle path.
//!
//! Weights are named logically (`layers.3.q`, `embed`, ...) and arrive in
//! the layout the graph uses: Linear weights as `[in, out]` (so `x W`), 1-D
//! norms and biases, embedding tables as `[vocab, hidden]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::exec::{Exec, ModelError, attrs};
use crate::numerics::DType;
use crate::op::AttrValue;

type R<T> = Result<T, ModelError>;

fn one<E: Exec>(
    e: &mut E,
    op: &'static str,
    a: &[(&str, AttrValue)],
    ins: &[Option<&E::T>],
) -> R<E::T> {
    Ok(e.op(op, &attrs(a), ins)?.swap_remove(0))
}

fn bin<E: Exec>(e: &mut E, op: &'static str, a: &E::T, b: &E::T) -> R<E::T> {
    one(e, op, &[], &[Some(a), Some(b)])
}

fn ints<E: Exec>(e: &mut E, shape: &[usize], v: &[i64]) -> E::T {
    let f: Vec<f64> = v.iter().map(|&x| x as f64).collect();
    e.constant(DType::I64, shape, &f)
}

fn matmul<E: Exec>(e: &mut E, x: &E::T, w: &str) -> R<E::T> {
    let w = e.weight(w)?;
    bin(e, "MatMul", x, &w)
}

fn linear<E: Exec>(e: &mut E, x: &E::T, w: &str, b: &str) -> R<E::T> {
    let y = matmul(e, x, w)?;
    let b = e.weight(b)?;
    bin(e, "Add", &y, &b)
}

fn reshape<E: Exec>(e: &mut E, x: &E::T, shape: &[i64]) -> R<E::T> {
    let s = ints(e, &[shape.len()], shape);
    bin(e, "Reshape", x, &s)
}

fn transpose<E: Exec>(e: &mut E, x: &E::T, perm: &[i64]) -> R<E::T> {
    one(
        e,
        "Transpose",
        &[("perm", AttrValue::Ints(perm.to_vec()))],
        &[Some(x)],
    )
}

/// `[1, t, heads * d]` -> `[1, heads, t, d]`.
fn heads_first<E: Exec>(e: &mut E, x: &E::T, t: usize, heads: usize, d: usize) -> R<E::T> {
    let r = reshape(e, x, &[1, t as i64, heads as i64, d as i64])?;
    transpose(e, &r, &[0, 2, 1, 3])
}

/// `[1, heads, t, d]` -> `[1, t, heads * d]`.
fn heads_last<E: Exec>(e: &mut E, x: &E::T, t: usize, width: usize) -> R<E::T> {
    let tr = transpose(e, x, &[0, 2, 1, 3])?;
    reshape(e, &tr, &[1, t as i64, width as i64])
}

fn rms_norm<E: Exec>(e: &mut E, x: &E::T, w: &str, eps: f64) -> R<E::T> {
    let w = e.weight(w)?;
    one(
        e,
        "RMSNormalization",
        &[
            ("epsilon", AttrValue::Float(eps)),
            ("axis", AttrValue::Int(-1)),
        ],
        &[Some(x), Some(&w)],
    )
}

fn layer_norm<E: Exec>(e: &mut E, x: &E::T, w: &str, b: &str, eps: f64) -> R<E::T> {
    let w = e.weight(w)?;
    let b = e.weight(b)?;
    one(
        e,
        "LayerNormalization",
        &[
            ("epsilon", AttrValue::Float(eps)),
            ("axis", AttrValue::Int(-1)),
        ],
        &[Some(x), Some(&w), Some(&b)],
    )
}

/// SwiGLU MLP: `down(silu(x gate) * (x up))`, SiLU as `g * Sigmoid(g)`.
fn swiglu<E: Exec>(e: &mut E, x: &E::T, prefix: &str) -> R<E::T> {
    let g = matmul(e, x, &format!("{prefix}.gate"))?;
    let u = matmul(e, x, &format!("{prefix}.up"))?;
    let s = one(e, "Sigmoid", &[], &[Some(&g)])?;
    let silu = bin(e, "Mul", &g, &s)?;
    let a = bin(e, "Mul", &silu, &u)?;
    matmul(e, &a, &format!("{prefix}.down"))
}

/// RoPE cos/sin caches `[positions, dim/2]` for `theta`, in `dtype`.
fn rope_caches<E: Exec>(
    e: &mut E,
    dtype: DType,
    positions: usize,
    dim: usize,
    theta: f64,
) -> (E::T, E::T) {
    let half = dim / 2;
    let mut cos = Vec::with_capacity(positions * half);
    let mut sin = Vec::with_capacity(positions * half);
    for p in 0..positions {
        for i in 0..half {
            let inv = theta.powf(-(2.0 * i as f64) / dim as f64);
            let a = p as f64 * inv;
            cos.push(a.cos());
            sin.push(a.sin());
        }
    }
    (
        e.constant(dtype, &[positions, half], &cos),
        e.constant(dtype, &[positions, half], &sin),
    )
}

fn rope<E: Exec>(
    e: &mut E,
    x: &E::T,
    caches: &(E::T, E::T),
    pos: &E::T,
    heads: usize,
    interleaved: bool,
) -> R<E::T> {
    one(
        e,
        "RotaryEmbedding",
        &[
            ("num_heads", AttrValue::Int(heads as i64)),
            ("interleaved", AttrValue::Int(interleaved as i64)),
        ],
        &[Some(x), Some(&caches.0), Some(&caches.1), Some(pos)],
    )
}

/// Causal attention of one step with a KV cache: `q`, `k`, `v` are
/// `[1, heads, t, d]`; the cache holds the keys and values of earlier
/// positions and is extended with these.
fn cached_attention<E: Exec>(
    e: &mut E,
    q: &E::T,
    k: &E::T,
    v: &E::T,
    cache: &mut Option<(E::T, E::T)>,
    scale: Option<f64>,
) -> R<E::T> {
    let mut a = vec![("is_causal", AttrValue::Int(1))];
    if let Some(s) = scale {
        a.push(("scale", AttrValue::Float(s)));
    }
    let past = cache.as_ref();
    let y = one(
        e,
        "Attention",
        &a,
        &[
            Some(q),
            Some(k),
            Some(v),
            None,
            past.map(|p| &p.0),
            past.map(|p| &p.1),
        ],
    )?;
    let cat = [("axis", AttrValue::Int(2))];
    *cache = Some(match cache.take() {
        None => (k.clone(), v.clone()),
        Some((pk, pv)) => (
            one(e, "Concat", &cat, &[Some(&pk), Some(k)])?,
            one(e, "Concat", &cat, &[Some(&pv), Some(v)])?,
        ),
    });
    Ok(y)
}

// ------------------------------------------------------------------ BERT --

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
    let we = one(e, "Gather", &g0, &[Some(&word), Some(&ids_t)])?;
    let te = one(e, "Gather", &g0, &[Some(&typw), Some(&types_t)])?;
    let pe = one(e, "Gather", &g0, &[Some(&posw), Some(&pos_t)])?;
    let x = bin(e, "Add", &we, &te)?;
    let x = bin(e, "Add", &x, &pe)?;
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
            "Attention",
            &[
                ("q_num_heads", AttrValue::Int(heads)),
                ("kv_num_heads", AttrValue::Int(heads)),
            ],
            &[Some(&q), Some(&k), Some(&v), Some(&attn_mask)],
        )?;
        let o = linear(e, &y, &format!("{p}.o.w"), &format!("{p}.o.b"))?;
        let r = bin(e, "Add", &x, &o)?;
        let x1 = layer_norm(
            e,
            &r,
            &format!("{p}.ln1.w"),
            &format!("{p}.ln1.b"),
            cfg.layer_norm_eps,
        )?;
        let f = linear(e, &x1, &format!("{p}.ffn1.w"), &format!("{p}.ffn1.b"))?;
        let f = one(e, "Gelu", &[], &[Some(&f)])?;
        let f = linear(e, &f, &format!("{p}.ffn2.w"), &format!("{p}.ffn2.b"))?;
        let r = bin(e, "Add", &x1, &f)?;
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
    let masked = bin(e, "Mul", &x, &m)?;
    let ax1 = ints(e, &[1], &[1]);
    let keep0 = [("keepdims", AttrValue::Int(0))];
    let sum = one(e, "ReduceSum", &keep0, &[Some(&masked), Some(&ax1)])?;
    let count = one(e, "ReduceSum", &keep0, &[Some(&m), Some(&ax1)])?;
    let mean = bin(e, "Div", &sum, &count)?;
    let sq = bin(e, "Mul", &mean, &mean)?;
    let last = ints(e, &[1], &[-1]);
    let n2 = one(
        e,
        "ReduceSum",
        &[("keepdims", AttrValue::Int(1))],
        &[Some(&sq), Some(&last)],
    )?;
    let n = one(e, "Sqrt", &[], &[Some(&n2)])?;
    bin(e, "Div", &mean, &n)
}

// ----------------------------------------------------------------- Llama --

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

/// Per-layer key/value caches.
pub type KvCache<T> = Vec<Option<(T, T)>>;

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
        "Gather",
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
        let r = bin(e, "Add", &x, &o)?;
        let n = rms_norm(e, &r, &format!("{p}.ffn_norm"), cfg.rms_eps)?;
        let f = swiglu(e, &n, &p)?;
        x = bin(e, "Add", &r, &f)?;
        e.probe(format!("layer {l}"), &x);
    }
    head(e, &x, t, cfg.rms_eps)
}

/// Final norm and LM head on the last position.
fn head<E: Exec>(e: &mut E, x: &E::T, t: usize, eps: f64) -> R<E::T> {
    let last = ints(e, &[1], &[t as i64 - 1]);
    let xl = one(
        e,
        "Gather",
        &[("axis", AttrValue::Int(1))],
        &[Some(x), Some(&last)],
    )?;
    let n = rms_norm(e, &xl, "norm", eps)?;
    matmul(e, &n, "lm_head")
}

// ----------------------------------------------------------- DeepSeek-V3 --

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
        "Gather",
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
            "Gather",
            &[("axis", AttrValue::Int(1))],
            &[Some(&k_rope), Some(&head_zeros)],
        )?;
        let k_nope = matmul(e, &ckv, &format!("{p}.k_b"))?;
        let k_nope = heads_first(e, &k_nope, t, nh, c.qk_nope_head_dim)?;
        let v = matmul(e, &ckv, &format!("{p}.v_b"))?;
        let v = heads_first(e, &v, t, nh, c.v_head_dim)?;
        let cat3 = [("axis", AttrValue::Int(3))];
        let q = one(e, "Concat", &cat3, &[Some(&q_nope), Some(&q_rope)])?;
        let k = one(e, "Concat", &cat3, &[Some(&k_nope), Some(&k_rope)])?;
        let y = cached_attention(e, &q, &k, &v, slot, Some(scale))?;
        let y = heads_last(e, &y, t, nh * c.v_head_dim)?;
        let o = matmul(e, &y, &format!("{p}.o"))?;
        let r = bin(e, "Add", &x, &o)?;
        let n = rms_norm(e, &r, &format!("{p}.ffn_norm"), c.rms_eps)?;
        let f = if l < c.first_dense_layers {
            swiglu(e, &n, &p)?
        } else {
            moe(e, c, dtype, &n, t, &p)?
        };
        x = bin(e, "Add", &r, &f)?;
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
    let scores = one(e, "Sigmoid", &[], &[Some(&logits)])?;
    let kt = ints(e, &[1], &[k as i64]);
    let mut top = e.op(
        "TopK",
        &attrs(&[("axis", AttrValue::Int(-1))]),
        &[Some(&scores), Some(&kt)],
    )?;
    let idx = top.pop().expect("TopK has two outputs");
    let vals = top.pop().expect("TopK has two outputs");
    let ax1 = ints(e, &[1], &[1]);
    let sum = one(
        e,
        "ReduceSum",
        &[("keepdims", AttrValue::Int(1))],
        &[Some(&vals), Some(&ax1)],
    )?;
    let gates = bin(e, "Div", &vals, &sum)?;
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
            "Gather",
            &[("axis", AttrValue::Int(0))],
            &[Some(&x2), Some(&tok)],
        )?;
        let y = swiglu(e, &rows, &format!("{p}.experts.{ex}"))?;
        let sl: Vec<i64> = slots.iter().map(|&s| s as i64).collect();
        let sl_t = ints(e, &[slots.len()], &sl);
        let g = one(
            e,
            "Gather",
            &[("axis", AttrValue::Int(0))],
            &[Some(&flat_gates), Some(&sl_t)],
        )?;
        let g = reshape(e, &g, &[slots.len() as i64, 1])?;
        outputs.push(bin(e, "Mul", &y, &g)?);
        for &s in slots {
            row_of_slot[s] = row;
            row += 1;
        }
    }
    let refs: Vec<Option<&E::T>> = outputs.iter().map(Some).collect();
    let all = one(e, "Concat", &[("axis", AttrValue::Int(0))], &refs)?;
    let mut routed: Option<E::T> = None;
    for j in 0..k {
        let rows: Vec<i64> = (0..t).map(|tok| row_of_slot[tok * k + j] as i64).collect();
        let r = ints(e, &[t], &rows);
        let part = one(
            e,
            "Gather",
            &[("axis", AttrValue::Int(0))],
            &[Some(&all), Some(&r)],
        )?;
        routed = Some(match routed {
            None => part,
            Some(acc) => bin(e, "Add", &acc, &part)?,
        });
    }
    let routed = routed.ok_or_else(|| ModelError::Config("num_experts_per_tok is 0".into()))?;
    let scale = e.constant(dtype, &[1], &[c.routed_scaling_factor]);
    let routed = bin(e, "Mul", &routed, &scale)?;
    let shared = swiglu(e, &x2, &format!("{p}.shared"))?;
    let y = bin(e, "Add", &routed, &shared)?;
    reshape(e, &y, &[1, t as i64, h as i64])
}
