//! The three model families as op graphs, written once against [`Exec`] and
//! executed by both the backend path and the oracle path.
//!
//! One file per family (`bert.rs`, `llama.rs`, `deepseek.rs`); this file
//! holds the building blocks they share (linear layers, norms, RoPE, cached
//! attention, SwiGLU, the LM head).
//!
//! Weights are named logically (`layers.3.q`, `embed`, ...) and arrive in
//! the layout the graph uses: Linear weights as `[in, out]` (so `x W`), 1-D
//! norms and biases, embedding tables as `[vocab, hidden]`.

use super::exec::{Exec, ModelError, attrs};

mod bert;
mod deepseek;
mod llama;

use crate::numerics::DType;
use crate::ops::{AttrValue, Op};
pub use bert::{BertConfig, bert_embed};
pub use deepseek::{
    DeepseekConfig, RopeScaling, Routing, ScoringFunc, TopkMethod, WeightKind, deepseek_step,
    deepseek_weights, judge_routing, yarn_mscale,
};
pub use llama::{LlamaConfig, llama_step};

type R<T> = Result<T, ModelError>;

fn one<E: Exec>(e: &mut E, op: Op, a: &[(&str, AttrValue)], ins: &[Option<&E::T>]) -> R<E::T> {
    Ok(e.op(op, &attrs(a), ins)?.swap_remove(0))
}

fn bin<E: Exec>(e: &mut E, op: Op, a: &E::T, b: &E::T) -> R<E::T> {
    one(e, op, &[], &[Some(a), Some(b)])
}

fn ints<E: Exec>(e: &mut E, shape: &[usize], v: &[i64]) -> E::T {
    let f: Vec<f64> = v.iter().map(|&x| x as f64).collect();
    e.constant(DType::I64, shape, &f)
}

fn matmul<E: Exec>(e: &mut E, x: &E::T, w: &str) -> R<E::T> {
    let w = e.weight(w)?;
    bin(e, Op::MatMul, x, &w)
}

fn linear<E: Exec>(e: &mut E, x: &E::T, w: &str, b: &str) -> R<E::T> {
    let y = matmul(e, x, w)?;
    let b = e.weight(b)?;
    bin(e, Op::Add, &y, &b)
}

fn reshape<E: Exec>(e: &mut E, x: &E::T, shape: &[i64]) -> R<E::T> {
    let s = ints(e, &[shape.len()], shape);
    bin(e, Op::Reshape, x, &s)
}

fn transpose<E: Exec>(e: &mut E, x: &E::T, perm: &[i64]) -> R<E::T> {
    one(
        e,
        Op::Transpose,
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
        Op::RMSNormalization,
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
        Op::LayerNormalization,
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
    let s = one(e, Op::Sigmoid, &[], &[Some(&g)])?;
    let silu = bin(e, Op::Mul, &g, &s)?;
    let a = bin(e, Op::Mul, &silu, &u)?;
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
    let inv: Vec<f64> = (0..dim / 2)
        .map(|i| theta.powf(-(2.0 * i as f64) / dim as f64))
        .collect();
    rope_caches_from(e, dtype, positions, &inv, 1.0)
}

/// RoPE cos/sin caches `[positions, inv_freq.len()]` of the given inverse
/// frequencies, times `scale` (YaRN's cache scale), in `dtype`.
fn rope_caches_from<E: Exec>(
    e: &mut E,
    dtype: DType,
    positions: usize,
    inv_freq: &[f64],
    scale: f64,
) -> (E::T, E::T) {
    let half = inv_freq.len();
    let mut cos = Vec::with_capacity(positions * half);
    let mut sin = Vec::with_capacity(positions * half);
    for p in 0..positions {
        for &inv in inv_freq {
            let a = p as f64 * inv;
            cos.push(scale * a.cos());
            sin.push(scale * a.sin());
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
        Op::RotaryEmbedding,
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
        Op::Attention,
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
            one(e, Op::Concat, &cat, &[Some(&pk), Some(k)])?,
            one(e, Op::Concat, &cat, &[Some(&pv), Some(v)])?,
        ),
    });
    Ok(y)
}

/// Per-layer key/value caches.
pub type KvCache<T> = Vec<Option<(T, T)>>;

/// Final norm and LM head on the last position.
fn head<E: Exec>(e: &mut E, x: &E::T, t: usize, eps: f64) -> R<E::T> {
    let last = ints(e, &[1], &[t as i64 - 1]);
    let xl = one(
        e,
        Op::Gather,
        &[("axis", AttrValue::Int(1))],
        &[Some(x), Some(&last)],
    )?;
    let n = rms_norm(e, &xl, "norm", eps)?;
    matmul(e, &n, "lm_head")
}
