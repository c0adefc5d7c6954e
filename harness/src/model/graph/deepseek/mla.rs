//! MLA in its absorbed form (issue 18), as DeepSeek-V3's inference code
//! runs it with `attn_impl = "absorb"` and as deployments serve it: the
//! cache holds per token the `kv_lora_rank` latent `c_kv` (after
//! kv_a_layernorm) and the rotated rope key `k_pe`, not the per-head keys
//! and values; `W_UK` (the nope-key part of kv_b_proj, `{layer}.k_b`) is
//! absorbed into the query and `W_UV` (`{layer}.v_b`) into the output, and
//! the attention itself is the `xpucert`-domain operator MlaAttention
//! (`docs/ops/MlaAttention.md`).
//!
//! Per head h, with `W_h` the head's `[kv_lora_rank, nope]` block of k_b:
//! `q_nope_h . (c_kv W_h) = (q_nope_h W_h^T) . c_kv`, so the absorbed query
//! is `[q_nope_h W_h^T, q_pe_h]` against cache rows `[c_kv, k_pe]`, and the
//! output `(sum_j P_j c_kv_j) V_h` with `V_h` the head's block of v_b. In
//! exact arithmetic the two forms are equal; the oracle runs both in f64,
//! so their logits agree to f64 rounding (tested), and a backend is judged
//! against the form the suite names.

use super::super::{R, bin, one, reshape, transpose};
use super::DeepseekConfig;
use crate::model::exec::Exec;
use crate::ops::{AttrValue, Op};

/// One layer's attention inputs, before the heads are split: `[1, t, .]`
/// each, the rope parts already rotated.
pub(super) struct Step<'a, T> {
    /// `[1, t, heads * qk_nope_head_dim]`.
    pub q_nope: &'a T,
    /// `[1, t, heads * qk_rope_head_dim]`, rotated.
    pub q_rope: &'a T,
    /// `[1, t, kv_lora_rank]`, after kv_a_layernorm.
    pub ckv: &'a T,
    /// `[1, t, qk_rope_head_dim]`, rotated.
    pub k_rope: &'a T,
    /// The step's tokens.
    pub t: usize,
}

/// The absorbed attention of layer `p` for one step: `[1, t, heads *
/// v_head_dim]`, the input of the output projection, as the naive form
/// gives it. The layer's cache slot holds the latent cache `[1, T,
/// kv_lora_rank + qk_rope_head_dim]` (in both places of the pair: the
/// naive form's key and value caches are one tensor here), extended with
/// this step's rows.
pub(super) fn absorbed<E: Exec>(
    e: &mut E,
    c: &DeepseekConfig,
    p: &str,
    s: Step<'_, E::T>,
    slot: &mut Option<(E::T, E::T)>,
) -> R<E::T> {
    let (t, nh) = (s.t, c.num_attention_heads);
    let (kv, nope, rope_d, vd) = (
        c.kv_lora_rank as i64,
        c.qk_nope_head_dim as i64,
        c.qk_rope_head_dim as i64,
        c.v_head_dim as i64,
    );
    let (ti, nhi) = (t as i64, nh as i64);
    // W_UK per head, [heads, nope, kv]: k_b is [kv, heads * nope].
    let w_uk = e.weight(&format!("{p}.k_b"))?;
    let w_uk = reshape(e, &w_uk, &[kv, nhi, nope])?;
    let w_uk = transpose(e, &w_uk, &[1, 2, 0])?;
    // q_nope [1, t, heads * nope] -> [heads, t, nope] -> x W_UK^T [heads, t, kv].
    let q = reshape(e, s.q_nope, &[ti, nhi, nope])?;
    let q = transpose(e, &q, &[1, 0, 2])?;
    let q_lat = bin(e, Op::MatMul, &q, &w_uk)?;
    let q_lat = transpose(e, &q_lat, &[1, 0, 2])?;
    let q_lat = reshape(e, &q_lat, &[1, ti, nhi, kv])?;
    let q_pe = reshape(e, s.q_rope, &[1, ti, nhi, rope_d])?;
    let q_abs = one(
        e,
        Op::Concat,
        &[("axis", AttrValue::Int(3))],
        &[Some(&q_lat), Some(&q_pe)],
    )?;
    // This step's cache rows [1, t, kv + rope], appended to the cache.
    let rows = one(
        e,
        Op::Concat,
        &[("axis", AttrValue::Int(2))],
        &[Some(s.ckv), Some(s.k_rope)],
    )?;
    let cache = match slot.take() {
        None => rows,
        Some((past, _)) => one(
            e,
            Op::Concat,
            &[("axis", AttrValue::Int(1))],
            &[Some(&past), Some(&rows)],
        )?,
    };
    let o = one(
        e,
        Op::MlaAttention,
        &[
            ("scale", AttrValue::Float(c.softmax_scale())),
            ("kv_lora_rank", AttrValue::Int(kv)),
            ("is_causal", AttrValue::Int(1)),
        ],
        &[Some(&q_abs), Some(&cache)],
    )?;
    *slot = Some((cache.clone(), cache));
    // W_UV per head, [heads, kv, v]: v_b is [kv, heads * v].
    let w_uv = e.weight(&format!("{p}.v_b"))?;
    let w_uv = reshape(e, &w_uv, &[kv, nhi, vd])?;
    let w_uv = transpose(e, &w_uv, &[1, 0, 2])?;
    // o [1, t, heads, kv] -> [heads, t, kv] -> x W_UV [heads, t, v] -> [1, t, heads * v].
    let o = reshape(e, &o, &[ti, nhi, kv])?;
    let o = transpose(e, &o, &[1, 0, 2])?;
    let y = bin(e, Op::MatMul, &o, &w_uv)?;
    let y = transpose(e, &y, &[1, 0, 2])?;
    reshape(e, &y, &[1, ti, nhi * vd])
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::model::exec::OracleExec;
    use crate::model::run::drive;
    use crate::model::source;
    use crate::model::spec;
    use crate::numerics::DType;

    /// The oracle's prefill logits and per-layer probes of a suite, in f32.
    fn oracle_prefill(suite: &str) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(suite);
        let suite = spec::load(&path).unwrap();
        let model = source::open(&suite, false).unwrap();
        let mut o = OracleExec::new(DType::F32, model.weights.as_ref());
        let out = drive(&mut o, &model, DType::F32, &suite, None, true).unwrap();
        let probes = o.probes.iter().map(|p| p.data.clone()).collect();
        (out.outputs, probes)
    }

    #[test]
    fn the_absorbed_form_equals_the_naive_form_on_the_oracle() {
        // Same weights, same config but for `mla: absorbed`: in exact
        // arithmetic the two forms are one function, so the f64 oracle's
        // logits and hidden states agree to f64 rounding; a wrong absorption
        // (W_UK not transposed, a head's block misread, the scale of the
        // 576-wide query) is off by far more.
        let (naive, naive_probes) = oracle_prefill("suites/models/deepseek-tiny.yaml");
        let (absorbed, absorbed_probes) =
            oracle_prefill("suites/models/deepseek-tiny-absorbed.yaml");
        assert_eq!(naive.len(), absorbed.len());
        assert!(!naive_probes.is_empty());
        assert_eq!(naive_probes.len(), absorbed_probes.len());
        let pairs = naive
            .iter()
            .zip(&absorbed)
            .chain(naive_probes.iter().zip(&absorbed_probes));
        for (a, b) in pairs {
            assert_eq!(a.len(), b.len());
            let scale = a.iter().fold(0f64, |m, v| m.max(v.abs()));
            let worst = a.iter().zip(b).fold(0f64, |m, (x, y)| m.max((x - y).abs()));
            assert!(worst <= 1e-9 * scale, "differ by {worst} (scale {scale})");
        }
    }
}
