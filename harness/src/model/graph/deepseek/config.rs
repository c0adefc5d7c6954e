//! DeepSeek-V3's `config.json`, read as published.
//!
//! The field names are Hugging Face's (`configs/deepseek-v3.json` is the
//! public file). Every field that changes the arithmetic is honoured. A
//! field whose feature xpucert does not build yet is refused with a message
//! saying so, rather than being ignored. The other fields are accepted and,
//! where a value would change the arithmetic, validated: the activation
//! must be SiLU, there is one KV head per query head, and there is no
//! attention bias and no tied embedding. An unknown key is an error, so a
//! typo cannot silently fall back to a default.

use serde::{Deserialize, Serialize};

/// How the router picks experts (`topk_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopkMethod {
    /// The `k` best experts by score, no bias, no groups.
    Greedy,
    /// DeepSeek-V3: the correction bias for selection only, group-limited
    /// (`n_group`, `topk_group`), through [`MoeGatingTopK`](crate::ops::Op).
    NoauxTc,
}

/// The router's scoring function (`scoring_func`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoringFunc {
    /// DeepSeek-V3.
    Sigmoid,
    /// DeepSeek-V2.
    Softmax,
}

/// Which form of MLA the attention runs in (`mla`, an xpucert option, not a
/// field of DeepSeek's config.json; `mla.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MlaForm {
    /// Per-head keys and values expanded from the latent through kv_b_proj,
    /// ONNX Attention over them (the default).
    #[default]
    Naive,
    /// The latent cache with W_UK absorbed into the query and W_UV into the
    /// output, through the `xpucert`-domain MlaAttention.
    Absorbed,
}

impl MlaForm {
    fn is_naive(&self) -> bool {
        *self == MlaForm::Naive
    }
}

/// `rope_scaling` of type `yarn` (YaRN, Peng et al. 2023, as DeepSeek-V3
/// configures it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RopeScaling {
    /// Must be `yarn`.
    #[serde(rename = "type", alias = "rope_type")]
    pub kind: String,
    /// Context extension factor `s`.
    pub factor: f64,
    /// The context length the model was trained at.
    pub original_max_position_embeddings: f64,
    /// Rotations above which a frequency is kept as trained (default 32).
    #[serde(default = "default_beta_fast")]
    pub beta_fast: f64,
    /// Rotations below which a frequency is fully interpolated (default 1).
    #[serde(default = "default_beta_slow")]
    pub beta_slow: f64,
    /// Scales the cos/sin caches as `mscale(s, mscale) / mscale(s,
    /// mscale_all_dim)` (default 1).
    #[serde(default = "default_one")]
    pub mscale: f64,
    /// When nonzero, the attention scale is multiplied by
    /// `mscale(s, mscale_all_dim)^2` (default 0).
    #[serde(default)]
    pub mscale_all_dim: f64,
}

fn default_beta_fast() -> f64 {
    32.0
}
fn default_beta_slow() -> f64 {
    1.0
}
fn default_one() -> f64 {
    1.0
}
fn default_one_usize() -> usize {
    1
}
fn default_true() -> bool {
    true
}

/// YaRN's attention temperature: `0.1 m ln s + 1` for `s > 1`, else 1.
pub fn yarn_mscale(factor: f64, m: f64) -> f64 {
    if factor <= 1.0 {
        1.0
    } else {
        0.1 * m * factor.ln() + 1.0
    }
}

impl RopeScaling {
    /// The inverse frequencies of a `dim`-wide rotary head with base
    /// `theta`, as YaRN blends them. Dimension pair `i` rotates `r_i = L /
    /// (2 pi theta^(2i/dim))` times over the original context `L`. Pairs
    /// below `low` (many rotations, found from `beta_fast`) keep the trained
    /// frequency `theta^(-2i/dim)`; pairs above `high` (few rotations, from
    /// `beta_slow`) are interpolated to that frequency divided by `factor`;
    /// a linear ramp blends the pairs in between. `low` is floored and
    /// `high` ceiled, and both are clamped to `[0, dim - 1]`, as DeepSeek's
    /// reference code does.
    pub fn inv_freq(&self, dim: usize, theta: f64) -> Vec<f64> {
        let d = dim as f64;
        let l = self.original_max_position_embeddings;
        let dim_of = |rotations: f64| {
            d * (l / (rotations * 2.0 * std::f64::consts::PI)).ln() / (2.0 * theta.ln())
        };
        let low = dim_of(self.beta_fast).floor().max(0.0);
        let high = dim_of(self.beta_slow).ceil().min(d - 1.0);
        let high = if low == high { high + 0.001 } else { high };
        (0..dim / 2)
            .map(|i| {
                let extra = theta.powf(-(2.0 * i as f64) / d);
                let inter = extra / self.factor;
                let ramp = ((i as f64 - low) / (high - low)).clamp(0.0, 1.0);
                // ramp 0: extrapolate (trained frequency); 1: interpolate.
                inter * ramp + extra * (1.0 - ramp)
            })
            .collect()
    }

    /// The factor on the cos/sin caches.
    pub fn cache_scale(&self) -> f64 {
        yarn_mscale(self.factor, self.mscale) / yarn_mscale(self.factor, self.mscale_all_dim)
    }

    /// The factor on the attention scale `1/sqrt(qk_head_dim)`.
    pub fn attention_scale(&self) -> f64 {
        if self.mscale_all_dim == 0.0 {
            1.0
        } else {
            yarn_mscale(self.factor, self.mscale_all_dim).powi(2)
        }
    }
}

/// A DeepSeek-V3 config: MLA attention (low-rank query and KV compression,
/// decoupled RoPE), MoE with shared experts and group-limited routing.
/// Field names are the Hugging Face `config.json`'s; xpucert's earlier
/// names (`num_layers`, `first_dense_layers`, `num_heads`, `rms_eps`) are
/// accepted as aliases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeepseekConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden size.
    pub hidden_size: usize,
    /// Decoder layers (the MTP modules are counted apart).
    #[serde(alias = "num_layers")]
    pub num_hidden_layers: usize,
    /// The first this many layers use a dense MLP instead of MoE.
    #[serde(alias = "first_dense_layers")]
    pub first_k_dense_replace: usize,
    /// After those, every `moe_layer_freq`-th layer is MoE (default 1).
    #[serde(default = "default_one_usize")]
    pub moe_layer_freq: usize,
    /// Attention heads.
    #[serde(alias = "num_heads")]
    pub num_attention_heads: usize,
    /// Query compression rank (`null`: the query projection is one matrix,
    /// as in DeepSeek-V2-Lite).
    pub q_lora_rank: Option<usize>,
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
    /// Expert groups (default 1).
    #[serde(default = "default_one_usize")]
    pub n_group: usize,
    /// Groups kept per token (default 1).
    #[serde(default = "default_one_usize")]
    pub topk_group: usize,
    /// How experts are picked (default `greedy`).
    #[serde(default = "default_topk_method")]
    pub topk_method: TopkMethod,
    /// The router's scoring function (default `sigmoid`).
    #[serde(default = "default_scoring")]
    pub scoring_func: ScoringFunc,
    /// Normalize the chosen experts' scores (default true).
    #[serde(default = "default_true")]
    pub norm_topk_prob: bool,
    /// Scale of the routed experts' weights.
    pub routed_scaling_factor: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// RoPE scaling: YaRN, or none.
    #[serde(default)]
    pub rope_scaling: Option<RopeScaling>,
    /// RMSNorm epsilon.
    #[serde(alias = "rms_eps")]
    pub rms_norm_eps: f64,
    /// RoPE rotates interleaved pairs (default true, as DeepSeek's weights
    /// are laid out).
    #[serde(default = "default_true")]
    pub rope_interleave: bool,
    /// Multi-token-prediction modules.
    #[serde(default)]
    pub num_nextn_predict_layers: usize,
    /// FP8 block quantization of the weights.
    #[serde(default)]
    pub quantization_config: Option<serde_json::Value>,
    /// The form MLA runs in: `naive` (default) or `absorbed` (an xpucert
    /// option a suite sets in its config overrides; not exported).
    #[serde(default, skip_serializing_if = "MlaForm::is_naive")]
    pub mla: MlaForm,

    // Fields of the published config that do not change the arithmetic
    // (or must have the one value xpucert builds; `validate` checks).
    /// Must be `deepseek_v3` when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// Must be `silu` when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_act: Option<String>,
    /// Must equal `num_attention_heads` when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_key_value_heads: Option<usize>,
    /// Must be false when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie_word_embeddings: Option<bool>,
    /// Must be false when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    /// Training only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_dropout: Option<f64>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<serde_json::Value>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_map: Option<serde_json::Value>,
    /// Tokenizer ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<serde_json::Value>,
    /// Tokenizer ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<serde_json::Value>,
    /// Expert-parallel degree of the original training code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ep_size: Option<usize>,
    /// Training only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initializer_range: Option<f64>,
    /// Context length (positions beyond it are the caller's choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_position_embeddings: Option<usize>,
    /// Training only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretraining_tp: Option<usize>,
    /// The checkpoint's storage dtype (a suite chooses the run dtype).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_dtype: Option<String>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformers_version: Option<String>,
    /// Serving only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_cache: Option<bool>,
}

fn default_topk_method() -> TopkMethod {
    TopkMethod::Greedy
}
fn default_scoring() -> ScoringFunc {
    ScoringFunc::Sigmoid
}

impl DeepseekConfig {
    /// Whether layer `l` is a MoE layer.
    pub fn is_moe(&self, l: usize) -> bool {
        l >= self.first_k_dense_replace && l.is_multiple_of(self.moe_layer_freq)
    }

    /// The attention scale: `1/sqrt(qk_nope + qk_rope)`, times YaRN's
    /// `mscale(s, mscale_all_dim)^2`.
    pub fn softmax_scale(&self) -> f64 {
        let base = 1.0 / ((self.qk_nope_head_dim + self.qk_rope_head_dim) as f64).sqrt();
        base * self
            .rope_scaling
            .as_ref()
            .map_or(1.0, RopeScaling::attention_scale)
    }

    /// Refuses what xpucert cannot build (yet) or what contradicts the
    /// architecture, each with the field and the reason.
    pub fn validate(&self) -> Result<(), String> {
        let nonzero = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
            ("kv_lora_rank", self.kv_lora_rank),
            ("qk_rope_head_dim", self.qk_rope_head_dim),
            ("v_head_dim", self.v_head_dim),
            ("moe_layer_freq", self.moe_layer_freq),
            ("n_group", self.n_group),
            ("topk_group", self.topk_group),
        ];
        if let Some((name, _)) = nonzero.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be positive"));
        }
        if !self.qk_rope_head_dim.is_multiple_of(2) {
            return Err(format!(
                "qk_rope_head_dim {} must be even (RoPE rotates pairs)",
                self.qk_rope_head_dim
            ));
        }
        if self.q_lora_rank == Some(0) {
            return Err("q_lora_rank must be positive or null".into());
        }
        if self.num_hidden_layers > self.first_k_dense_replace {
            if self.num_experts_per_tok == 0 || self.num_experts_per_tok > self.n_routed_experts {
                return Err(format!(
                    "num_experts_per_tok {} must be in 1..={} (n_routed_experts)",
                    self.num_experts_per_tok, self.n_routed_experts
                ));
            }
            if !self.n_routed_experts.is_multiple_of(self.n_group) {
                return Err(format!(
                    "n_group {} must divide n_routed_experts {}",
                    self.n_group, self.n_routed_experts
                ));
            }
        }
        match self.topk_method {
            TopkMethod::Greedy if self.n_group > 1 || self.topk_group > 1 => {
                return Err(format!(
                    "n_group {} / topk_group {}: groups apply to topk_method noaux_tc, not greedy",
                    self.n_group, self.topk_group
                ));
            }
            TopkMethod::NoauxTc if self.topk_group > self.n_group => {
                return Err(format!(
                    "topk_group {} exceeds n_group {}",
                    self.topk_group, self.n_group
                ));
            }
            _ => {}
        }
        if let Some(r) = &self.rope_scaling {
            if r.kind != "yarn" {
                return Err(format!(
                    "rope_scaling type `{}`: only yarn (DeepSeek-V3's) is implemented",
                    r.kind
                ));
            }
            if !(r.factor >= 1.0 && r.original_max_position_embeddings > 0.0) {
                return Err(format!(
                    "rope_scaling: factor {} must be at least 1 and original_max_position_embeddings positive",
                    r.factor
                ));
            }
            if !(r.beta_fast > r.beta_slow && r.beta_slow > 0.0) {
                return Err(format!(
                    "rope_scaling: beta_fast {} must exceed beta_slow {} > 0",
                    r.beta_fast, r.beta_slow
                ));
            }
        }
        if self.num_nextn_predict_layers != 0 {
            return Err(format!(
                "num_nextn_predict_layers {}: multi-token prediction is not built yet (issue 18); set it to 0 in the suite's config",
                self.num_nextn_predict_layers
            ));
        }
        if self
            .quantization_config
            .as_ref()
            .is_some_and(|q| !q.is_null())
        {
            return Err(
                "quantization_config: FP8 block-scaled weights are not built yet (issue 18); set it to null in the suite's config"
                    .into(),
            );
        }
        let must = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
        must(
            self.model_type
                .as_deref()
                .is_none_or(|m| m == "deepseek_v3"),
            "model_type must be deepseek_v3",
        )?;
        must(
            self.hidden_act.as_deref().is_none_or(|a| a == "silu"),
            "hidden_act must be silu (the experts are SwiGLU)",
        )?;
        must(
            self.num_key_value_heads
                .is_none_or(|n| n == self.num_attention_heads),
            "num_key_value_heads must equal num_attention_heads (MLA has a key per head)",
        )?;
        must(
            self.tie_word_embeddings != Some(true),
            "tie_word_embeddings must be false",
        )?;
        must(
            self.attention_bias != Some(true),
            "attention_bias must be false",
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v3() -> serde_json::Value {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../configs/deepseek-v3.json"
        ))
        .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn the_published_config_reads_and_refuses_what_is_not_built() {
        let c: DeepseekConfig = serde_json::from_value(v3()).unwrap();
        assert_eq!((c.hidden_size, c.num_attention_heads), (7168, 128));
        assert_eq!((c.n_group, c.topk_group, c.num_experts_per_tok), (8, 4, 8));
        assert_eq!(c.topk_method, TopkMethod::NoauxTc);
        assert!(c.is_moe(3) && !c.is_moe(2));
        let e = c.validate().unwrap_err();
        assert!(e.contains("num_nextn_predict_layers 1"), "{e}");
        let mut v = v3();
        v["num_nextn_predict_layers"] = 0.into();
        let c: DeepseekConfig = serde_json::from_value(v.clone()).unwrap();
        assert!(c.validate().unwrap_err().contains("quantization_config"));
        v["quantization_config"] = serde_json::Value::Null;
        let c: DeepseekConfig = serde_json::from_value(v.clone()).unwrap();
        c.validate().unwrap();
        v["hidden_act"] = "gelu".into();
        let c: DeepseekConfig = serde_json::from_value(v.clone()).unwrap();
        assert!(c.validate().unwrap_err().contains("hidden_act"));
        v["num_hiden_layers"] = 3.into();
        let e = serde_json::from_value::<DeepseekConfig>(v).unwrap_err();
        assert!(e.to_string().contains("num_hiden_layers"), "{e}");
    }

    #[test]
    fn yarn_follows_deepseek_v3_figures() {
        let c: DeepseekConfig = serde_json::from_value(v3()).unwrap();
        let r = c.rope_scaling.as_ref().unwrap();
        // mscale = mscale_all_dim = 1: caches unscaled, attention scale
        // times (0.1 ln 40 + 1)^2.
        assert_eq!(r.cache_scale(), 1.0);
        let m = 0.1 * 40f64.ln() + 1.0;
        assert!((c.softmax_scale() - m * m / 192f64.sqrt()).abs() < 1e-15);
        // dim 64, theta 10000, L 4096: low = floor(64 ln(4096 / 64pi) /
        // (2 ln 1e4)) = floor(10.5) = 10, high = ceil(64 ln(4096 / 2pi) /
        // (2 ln 1e4)) = ceil(22.5) = 23.
        let f = r.inv_freq(64, 10000.0);
        assert_eq!(f.len(), 32);
        let trained = |i: usize| 10000f64.powf(-(2.0 * i as f64) / 64.0);
        for (i, &v) in f.iter().enumerate() {
            if i <= 10 {
                assert_eq!(v, trained(i), "pair {i} keeps its frequency");
            } else if i >= 23 {
                assert!(
                    (v - trained(i) / 40.0).abs() < 1e-18,
                    "pair {i} is interpolated"
                );
            }
        }
        let ramp = (16.0 - 10.0) / 13.0;
        let want = trained(16) / 40.0 * ramp + trained(16) * (1.0 - ramp);
        assert!((f[16] - want).abs() < 1e-18);
    }
}
