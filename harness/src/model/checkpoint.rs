//! Real checkpoints: MiniLM (safetensors, HF BERT names) and SmolLM2 (GGUF,
//! llama.cpp names, Q/K rows permuted), mapped to the graph's logical names
//! and layouts: Linear weights transposed to `[in, out]`, GGUF's Q/K rows
//! put back in HF order, a tied LM head as the transposed embedding.

use std::path::Path;

use ndarray::{ArrayD, Ix2};

use super::exec::{ModelError, WeightProvider};
use super::graph::{BertConfig, LlamaConfig};
use super::weights::{WeightTensor, Weights, unpermute_llama_qk};

fn werr(e: impl std::fmt::Display) -> ModelError {
    ModelError::Weights(e.to_string())
}

fn array(t: WeightTensor) -> Result<ArrayD<f64>, ModelError> {
    ArrayD::from_shape_vec(t.shape.clone(), t.data)
        .map_err(|e| ModelError::Weights(format!("{}: {e}", t.name)))
}

/// `[out, in]` (HF Linear, GGUF outermost-first) to `[in, out]`.
fn transposed(a: ArrayD<f64>, name: &str) -> Result<ArrayD<f64>, ModelError> {
    let m = a
        .into_dimensionality::<Ix2>()
        .map_err(|e| ModelError::Weights(format!("{name}: expected a matrix: {e}")))?;
    Ok(m.t().as_standard_layout().into_owned().into_dyn())
}

fn expect_shape(a: &ArrayD<f64>, want: &[usize], name: &str) -> Result<(), ModelError> {
    if a.shape() != want {
        return Err(ModelError::Weights(format!(
            "{name} has shape {:?}, the config implies {want:?}",
            a.shape()
        )));
    }
    Ok(())
}

/// MiniLM / BERT from safetensors.
struct BertWeights {
    file: Weights,
    cfg: BertConfig,
}

impl WeightProvider for BertWeights {
    /// The HF tensor behind a logical name, checked against the shape the
    /// config implies (HF layout, `[out, in]` for Linear weights, which are
    /// then transposed to `[in, out]`).
    fn get(&self, name: &str) -> Result<ArrayD<f64>, ModelError> {
        let c = &self.cfg;
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let unknown = || ModelError::Weights(format!("no BERT weight `{name}`"));
        let (src, shape, linear) = match name {
            "word_emb" => (
                "embeddings.word_embeddings.weight".to_string(),
                vec![c.vocab_size, h],
                false,
            ),
            "pos_emb" => (
                "embeddings.position_embeddings.weight".to_string(),
                vec![c.max_position_embeddings, h],
                false,
            ),
            "type_emb" => (
                "embeddings.token_type_embeddings.weight".to_string(),
                vec![c.type_vocab_size, h],
                false,
            ),
            "emb_ln.w" => ("embeddings.LayerNorm.weight".to_string(), vec![h], false),
            "emb_ln.b" => ("embeddings.LayerNorm.bias".to_string(), vec![h], false),
            _ => {
                let (l, part) = name
                    .strip_prefix("layers.")
                    .and_then(|rest| rest.split_once('.'))
                    .ok_or_else(unknown)?;
                let (mid, shape, linear) = match part {
                    "q.w" => ("attention.self.query.weight", vec![h, h], true),
                    "q.b" => ("attention.self.query.bias", vec![h], false),
                    "k.w" => ("attention.self.key.weight", vec![h, h], true),
                    "k.b" => ("attention.self.key.bias", vec![h], false),
                    "v.w" => ("attention.self.value.weight", vec![h, h], true),
                    "v.b" => ("attention.self.value.bias", vec![h], false),
                    "o.w" => ("attention.output.dense.weight", vec![h, h], true),
                    "o.b" => ("attention.output.dense.bias", vec![h], false),
                    "ln1.w" => ("attention.output.LayerNorm.weight", vec![h], false),
                    "ln1.b" => ("attention.output.LayerNorm.bias", vec![h], false),
                    "ffn1.w" => ("intermediate.dense.weight", vec![i, h], true),
                    "ffn1.b" => ("intermediate.dense.bias", vec![i], false),
                    "ffn2.w" => ("output.dense.weight", vec![h, i], true),
                    "ffn2.b" => ("output.dense.bias", vec![h], false),
                    "ln2.w" => ("output.LayerNorm.weight", vec![h], false),
                    "ln2.b" => ("output.LayerNorm.bias", vec![h], false),
                    _ => return Err(unknown()),
                };
                (format!("encoder.layer.{l}.{mid}"), shape, linear)
            }
        };
        let a = array(self.file.get(&src).map_err(werr)?)?;
        expect_shape(&a, &shape, &src)?;
        if linear { transposed(a, &src) } else { Ok(a) }
    }
}

fn json_usize(v: &serde_json::Value, k: &str) -> Result<usize, ModelError> {
    v.get(k)
        .and_then(serde_json::Value::as_u64)
        .map(|x| x as usize)
        .ok_or_else(|| ModelError::Weights(format!("config.json has no integer `{k}`")))
}

/// Opens a BERT safetensors checkpoint and its config.json.
pub fn bert(path: &Path) -> Result<(BertConfig, Box<dyn WeightProvider>), ModelError> {
    let file = Weights::open_safetensors(path).map_err(werr)?;
    let c = file.config_json().map_err(werr)?;
    let act = c
        .get("hidden_act")
        .and_then(|x| x.as_str())
        .unwrap_or("gelu");
    if act != "gelu" {
        return Err(ModelError::Weights(format!(
            "config.json: hidden_act `{act}`; the BERT graph implements `gelu` (erf)"
        )));
    }
    let cfg = BertConfig {
        vocab_size: json_usize(&c, "vocab_size")?,
        hidden_size: json_usize(&c, "hidden_size")?,
        num_hidden_layers: json_usize(&c, "num_hidden_layers")?,
        num_attention_heads: json_usize(&c, "num_attention_heads")?,
        intermediate_size: json_usize(&c, "intermediate_size")?,
        max_position_embeddings: json_usize(&c, "max_position_embeddings")?,
        type_vocab_size: json_usize(&c, "type_vocab_size")?,
        layer_norm_eps: c
            .get("layer_norm_eps")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(1e-12),
    };
    let w = BertWeights {
        file,
        cfg: cfg.clone(),
    };
    // Fail at open, not mid-run, when the file does not match its config
    // (`get` checks every tensor's shape).
    w.get("word_emb")?;
    Ok((cfg, Box::new(w)))
}

/// SmolLM2 / Llama from GGUF.
struct LlamaWeights {
    file: Weights,
    cfg: LlamaConfig,
}

impl LlamaWeights {
    fn linear(&self, src: &str) -> Result<ArrayD<f64>, ModelError> {
        transposed(array(self.file.get(src).map_err(werr)?)?, src)
    }
}

impl WeightProvider for LlamaWeights {
    fn get(&self, name: &str) -> Result<ArrayD<f64>, ModelError> {
        match name {
            "embed" => array(self.file.get("token_embd.weight").map_err(werr)?),
            "norm" => array(self.file.get("output_norm.weight").map_err(werr)?),
            "lm_head" => {
                if self.file.contains("output.weight") {
                    self.linear("output.weight")
                } else {
                    // Tied embeddings: the head is the embedding matrix.
                    self.linear("token_embd.weight")
                }
            }
            _ => {
                let rest = name
                    .strip_prefix("layers.")
                    .ok_or_else(|| ModelError::Weights(format!("no Llama weight `{name}`")))?;
                let (l, part) = rest
                    .split_once('.')
                    .ok_or_else(|| ModelError::Weights(format!("no Llama weight `{name}`")))?;
                let src = |s: &str| format!("blk.{l}.{s}.weight");
                match part {
                    "attn_norm" => array(self.file.get(&src("attn_norm")).map_err(werr)?),
                    "ffn_norm" => array(self.file.get(&src("ffn_norm")).map_err(werr)?),
                    "q" | "k" => {
                        let (s, heads) = if part == "q" {
                            (src("attn_q"), self.cfg.num_heads)
                        } else {
                            (src("attn_k"), self.cfg.num_kv_heads)
                        };
                        let t = self.file.get(&s).map_err(werr)?;
                        let hf = unpermute_llama_qk(&t, heads).map_err(werr)?;
                        transposed(array(hf)?, &s)
                    }
                    "v" => self.linear(&src("attn_v")),
                    "o" => self.linear(&src("attn_output")),
                    "gate" => self.linear(&src("ffn_gate")),
                    "up" => self.linear(&src("ffn_up")),
                    "down" => self.linear(&src("ffn_down")),
                    _ => Err(ModelError::Weights(format!("no Llama weight `{name}`"))),
                }
            }
        }
    }
}

/// Opens a Llama GGUF checkpoint.
pub fn llama(path: &Path) -> Result<(LlamaConfig, Box<dyn WeightProvider>), ModelError> {
    let file = Weights::open_gguf(path).map_err(werr)?;
    let arch = file
        .meta_str("general.architecture")
        .unwrap_or("")
        .to_string();
    if arch != "llama" {
        return Err(ModelError::Weights(format!(
            "{}: general.architecture is `{arch}`, expected `llama`",
            path.display()
        )));
    }
    let u = |k: &str| -> Result<usize, ModelError> {
        file.meta_u64(&format!("llama.{k}"))
            .map(|x| x as usize)
            .ok_or_else(|| {
                ModelError::Weights(format!("{}: no llama.{k} in the metadata", path.display()))
            })
    };
    let f = |k: &str, d: f64| file.meta_f64(&format!("llama.{k}")).unwrap_or(d);
    let embed_shape = file.shape("token_embd.weight").map_err(werr)?.to_vec();
    let cfg = LlamaConfig {
        vocab_size: u("vocab_size").or_else(|_| {
            embed_shape
                .first()
                .copied()
                .ok_or_else(|| ModelError::Weights("token_embd.weight has no shape".into()))
        })?,
        hidden_size: u("embedding_length")?,
        num_layers: u("block_count")?,
        num_heads: u("attention.head_count")?,
        num_kv_heads: u("attention.head_count_kv")?,
        intermediate_size: u("feed_forward_length")?,
        rope_theta: f("rope.freq_base", 10000.0),
        rms_eps: f("attention.layer_norm_rms_epsilon", 1e-5),
    };
    if embed_shape != [cfg.vocab_size, cfg.hidden_size] {
        return Err(ModelError::Weights(format!(
            "token_embd.weight has shape {embed_shape:?}, the metadata implies [{}, {}]",
            cfg.vocab_size, cfg.hidden_size
        )));
    }
    Ok((cfg.clone(), Box::new(LlamaWeights { file, cfg })))
}
