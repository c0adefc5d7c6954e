//! Model suites: `suites/models/*.yaml`, one model per file.
//!
//! A model suite names the architecture family, where the weights come from
//! (a fetched checkpoint or a seed), the inputs as token ids (no tokenizer is
//! needed), the dtypes to run and the per-dtype thresholds. Each dtype is one
//! case, `models.<model>.<dtype>`. The format is documented in
//! docs/model-suites.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::numerics::DType;
use crate::suite::SuiteError;

/// The model families xpucert can build as op graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// BERT encoder (sentence embeddings).
    Bert,
    /// Llama decoder (logits, greedy decoding with a KV cache).
    Llama,
    /// DeepSeek-V3-style decoder: MLA attention, MoE with a shared expert.
    DeepseekV3,
}

impl Family {
    /// Name as written in suites.
    pub fn name(self) -> &'static str {
        match self {
            Family::Bert => "bert",
            Family::Llama => "llama",
            Family::DeepseekV3 => "deepseek_v3",
        }
    }

    /// Whether the family generates tokens (as opposed to embeddings).
    pub fn is_decoder(self) -> bool {
        !matches!(self, Family::Bert)
    }
}

/// Where the weights come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", tag = "format")]
pub enum WeightsSpec {
    /// HF safetensors with a `config.json` next to it.
    Safetensors {
        /// Path, relative to the repository root (or absolute).
        path: PathBuf,
        /// Expected sha256 of the file (checked before use).
        #[serde(default)]
        sha256: Option<String>,
    },
    /// GGUF (config from its metadata).
    Gguf {
        /// Path, relative to the repository root (or absolute).
        path: PathBuf,
        /// Expected sha256 of the file (checked before use).
        #[serde(default)]
        sha256: Option<String>,
    },
    /// Generated from a seed with the shapes of `config`.
    Seeded {
        /// The seed.
        seed: u64,
    },
}

/// One sentence of an encoder suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sentence {
    /// Token ids, with the special tokens ([CLS] ... [SEP]).
    pub ids: Vec<i64>,
    /// The text, for display only.
    #[serde(default)]
    pub text: Option<String>,
}

/// The inputs of a model case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputsSpec {
    /// Encoder: the sentences, run as one padded batch.
    #[serde(default)]
    pub sentences: Vec<Sentence>,
    /// Decoder: the prompt's token ids.
    #[serde(default)]
    pub prompt: Vec<i64>,
    /// Decoder: the prompt as text, for display only.
    #[serde(default)]
    pub prompt_text: Option<String>,
    /// Decoder: tokens to generate greedily after the prompt.
    #[serde(default)]
    pub decode: usize,
}

/// Pass thresholds for one dtype. Which are required depends on the family.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Encoder: minimum cosine similarity of each embedding.
    #[serde(default)]
    pub embedding_cosine_min: Option<f64>,
    /// Encoder: maximum relative L2 error of each embedding.
    #[serde(default)]
    pub embedding_rel_l2_max: Option<f64>,
    /// Decoder: minimum cosine similarity of the logits at every position.
    #[serde(default)]
    pub logits_cosine_min: Option<f64>,
    /// Decoder: maximum absolute logit difference at any position.
    #[serde(default)]
    pub logits_max_abs: Option<f64>,
    /// Decoder: minimum fraction of positions whose top-1 token agrees.
    #[serde(default)]
    pub top1_min: Option<f64>,
    /// Decoder: minimum mean overlap of the top-5 sets (0..1).
    #[serde(default)]
    pub top5_min: Option<f64>,
    /// Localization: maximum relative L2 error of the hidden state after any
    /// layer. The first layer beyond it is named.
    pub layer_rel_l2_max: f64,
}

/// Throughput requirements (optional) and what to report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThroughputSpec {
    /// Minimum prefill tokens/s; below is a `fail`.
    #[serde(default)]
    pub min_prefill_tokens_per_s: Option<f64>,
    /// Minimum decode tokens/s; below is a `fail`.
    #[serde(default)]
    pub min_decode_tokens_per_s: Option<f64>,
}

/// A model suite file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSuite {
    /// Model name, `[a-z0-9_-]+`; case ids are `models.<model>.<dtype>`.
    pub model: String,
    /// Architecture family.
    pub family: Family,
    /// One line for reports.
    #[serde(default)]
    pub description: Option<String>,
    /// Where the weights come from.
    pub weights: WeightsSpec,
    /// A published `config.json` the model derives from (seeded
    /// DeepSeek): path relative to the data root the suite sits in (the
    /// repository), or absolute. `config` then overrides its values.
    #[serde(default)]
    pub config_file: Option<PathBuf>,
    /// Family config: for seeded weights all of it (or what overrides
    /// `config_file`), for checkpoints values that override what the
    /// checkpoint says (rarely needed).
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
    /// The inputs.
    pub inputs: InputsSpec,
    /// Dtypes to run (`f32`, `bf16`, `f16`); one case each.
    pub dtypes: Vec<String>,
    /// Thresholds per dtype; every listed dtype needs an entry.
    pub thresholds: BTreeMap<String, Thresholds>,
    /// Throughput requirements.
    #[serde(default)]
    pub throughput: ThroughputSpec,
    /// Seconds one case may take (backend path), default 900.
    #[serde(default)]
    pub timeout: Option<f64>,
    /// File this suite was read from (set by the loader).
    #[serde(skip)]
    pub path: PathBuf,
    /// sha256 of the file's text (set by the loader).
    #[serde(skip)]
    pub sha256: String,
}

/// One case of a model suite: the suite at one dtype.
#[derive(Debug, Clone)]
pub struct ModelCase {
    /// `models.<model>.<dtype>`.
    pub id: String,
    /// The suite.
    pub suite: ModelSuite,
    /// The dtype of weights and activations.
    pub dtype: DType,
}

impl ModelSuite {
    /// The cases, one per dtype.
    pub fn cases(&self) -> Vec<ModelCase> {
        self.dtypes
            .iter()
            .map(|d| ModelCase {
                id: format!("models.{}.{d}", self.model),
                suite: self.clone(),
                dtype: DType::from_name(d).expect("validated at load"),
            })
            .collect()
    }
}

/// Whether `path` is a model suite (its top level has a `model:` key) rather
/// than an op suite. Unreadable files count as op suites, whose loader then
/// reports the problem.
pub fn is_model_suite(path: &Path) -> bool {
    crate::files::read_text(path, crate::suite::MAX_FILE_BYTES, "a suite file")
        .map(|t| t.lines().any(|l| l.starts_with("model:")))
        .unwrap_or(false)
}

/// Splits `--suite` arguments (files or directories of `*.yaml`) into op
/// suite paths and model suite files.
pub fn split_paths(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<PathBuf>), SuiteError> {
    let (mut ops, mut models) = (Vec::new(), Vec::new());
    for p in paths {
        if p.is_dir() {
            let (m, o): (Vec<PathBuf>, Vec<PathBuf>) = crate::suite::yaml_files(p)?
                .into_iter()
                .partition(|f| is_model_suite(f));
            models.extend(m);
            // The op loader expands a directory into the same sorted files.
            ops.extend(o);
        } else if is_model_suite(p) {
            models.push(p.clone());
        } else {
            ops.push(p.clone());
        }
    }
    Ok((ops, models))
}

/// Loads and validates one model suite file.
pub fn load(path: &Path) -> Result<ModelSuite, SuiteError> {
    let source = crate::files::read_text(path, crate::suite::MAX_FILE_BYTES, "a model suite")
        .map_err(|e| SuiteError::file(path, format!("cannot read model suite: {e}")))?;
    parse(path, &source)
}

/// Parses and validates model suite text; `path` names it in errors.
pub fn parse(path: &Path, source: &str) -> Result<ModelSuite, SuiteError> {
    let options = crate::suite::yaml_options();
    let mut suite: ModelSuite = serde_saphyr::from_str_with_options(source, options)
        .map_err(|e| SuiteError::from_yaml(path, source, &e))?;
    suite.path = path.to_path_buf();
    suite.sha256 = crate::digest::sha256_hex(source.as_bytes());
    let bad = |m: String| Err(SuiteError::file(path, m));
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    if !name_ok(&suite.model) {
        return bad(format!(
            "model name `{}` must match [a-z0-9_-]+",
            suite.model
        ));
    }
    if suite.dtypes.is_empty() {
        return bad("`dtypes` is empty: list at least one of f32, bf16, f16".into());
    }
    for d in &suite.dtypes {
        match DType::from_name(d) {
            Some(DType::F32 | DType::BF16 | DType::F16) => {}
            _ => return bad(format!("dtype `{d}`: model suites run f32, bf16 or f16")),
        }
        let Some(t) = suite.thresholds.get(d) else {
            return bad(format!("dtype `{d}` has no entry under `thresholds`"));
        };
        let need: &[(&str, Option<f64>)] = if suite.family.is_decoder() {
            &[
                ("logits_cosine_min", t.logits_cosine_min),
                ("top1_min", t.top1_min),
            ]
        } else {
            &[("embedding_cosine_min", t.embedding_cosine_min)]
        };
        for (k, v) in need {
            if v.is_none() {
                return bad(format!(
                    "thresholds.{d}.{k} is required for the {} family",
                    suite.family.name()
                ));
            }
        }
    }
    if suite.family.is_decoder() {
        if suite.inputs.prompt.is_empty() {
            return bad("a decoder needs `inputs.prompt` (token ids)".into());
        }
        if !suite.inputs.sentences.is_empty() {
            return bad("`inputs.sentences` is for encoders; a decoder takes `prompt`".into());
        }
    } else {
        if suite.inputs.sentences.is_empty() {
            return bad("an encoder needs `inputs.sentences` (token ids)".into());
        }
        if let Some(s) = suite.inputs.sentences.iter().find(|s| s.ids.is_empty()) {
            return bad(format!(
                "sentence {:?} has no token ids",
                s.text.as_deref().unwrap_or("")
            ));
        }
    }
    match &suite.weights {
        WeightsSpec::Seeded { .. } if suite.config.is_empty() && suite.config_file.is_none() => {
            return bad("seeded weights need the full `config` or a `config_file`".into());
        }
        WeightsSpec::Safetensors { .. } | WeightsSpec::Gguf { .. }
            if suite.config_file.is_some() =>
        {
            return bad(
                "`config_file` is for seeded weights; a checkpoint brings its own config".into(),
            );
        }
        _ => {}
    }
    Ok(suite)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = "\
model: tiny
family: deepseek_v3
weights: { format: seeded, seed: 1 }
config: { hidden: 8 }
inputs: { prompt: [1, 2, 3], decode: 2 }
dtypes: [f32]
thresholds:
  f32: { logits_cosine_min: 0.999, top1_min: 1.0, layer_rel_l2_max: 1.0e-4 }
";

    #[test]
    fn parses_and_names_cases() {
        let s = parse(Path::new("t.yaml"), TINY).unwrap();
        let c = s.cases();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].id, "models.tiny.f32");
        assert_eq!(c[0].dtype, DType::F32);
    }

    #[test]
    fn missing_threshold_is_named() {
        let text = TINY.replace("dtypes: [f32]", "dtypes: [f32, bf16]");
        let e = parse(Path::new("t.yaml"), &text).unwrap_err();
        assert!(e.to_string().contains("dtype `bf16` has no entry"), "{e}");
        let text = TINY.replace("top1_min: 1.0, ", "");
        let e = parse(Path::new("t.yaml"), &text).unwrap_err();
        assert!(e.to_string().contains("thresholds.f32.top1_min"), "{e}");
    }

    #[test]
    fn unknown_key_has_a_position() {
        let text = TINY.replace("decode: 2", "decod: 2");
        let e = parse(Path::new("t.yaml"), &text).unwrap_err();
        assert!(e.position.is_some(), "{e}");
        assert!(e.to_string().contains("decod"), "{e}");
    }

    #[test]
    fn config_file_is_for_seeded_weights() {
        let text = TINY.replace(
            "weights: { format: seeded, seed: 1 }",
            "weights: { format: gguf, path: m.gguf }\nconfig_file: c.json",
        );
        let e = parse(Path::new("t.yaml"), &text).unwrap_err();
        assert!(
            e.to_string()
                .contains("`config_file` is for seeded weights"),
            "{e}"
        );
        let text = TINY.replace("config: { hidden: 8 }\n", "");
        let e = parse(Path::new("t.yaml"), &text).unwrap_err();
        assert!(e.to_string().contains("`config` or a `config_file`"), "{e}");
    }

    #[test]
    fn rejects_int_dtype_and_bad_name() {
        let e = parse(Path::new("t.yaml"), &TINY.replace("[f32]", "[int8]")).unwrap_err();
        assert!(e.to_string().contains("f32, bf16 or f16"), "{e}");
        let e = parse(
            Path::new("t.yaml"),
            &TINY.replace("model: tiny", "model: Tiny"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("[a-z0-9_-]+"), "{e}");
    }
}
