//! Where a model's weights and config come from: a seeded generator (the
//! tiny DeepSeek-style model) or a checkpoint file (see `checkpoint.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_distr::{Distribution, Normal};
use sha2::{Digest, Sha256};

use super::exec::{ModelError, WeightProvider};
use super::graph::{BertConfig, DeepseekConfig, LlamaConfig, WeightKind, deepseek_weights};
use super::spec::{Family, ModelSuite, WeightsSpec};

/// A family's config, resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Config {
    /// BERT encoder.
    Bert(BertConfig),
    /// Llama decoder.
    Llama(LlamaConfig),
    /// DeepSeek-V3 decoder (boxed: its config is the published file's,
    /// many times the others' size).
    Deepseek(Box<DeepseekConfig>),
}

/// A model ready to build: its config and its weights.
pub struct Model {
    /// The config.
    pub config: Config,
    /// The weights.
    pub weights: Box<dyn WeightProvider>,
}

/// Weights drawn from a seed, deterministically per weight name.
pub struct Seeded {
    seed: u64,
    shapes: BTreeMap<String, (Vec<usize>, WeightKind)>,
}

impl WeightProvider for Seeded {
    fn get(&self, name: &str) -> Result<ArrayD<f64>, ModelError> {
        let (shape, kind) = self.shapes.get(name).ok_or_else(|| {
            ModelError::Weights(format!("the seeded model has no weight `{name}`"))
        })?;
        let digest = Sha256::digest(format!("{}/{name}", self.seed).as_bytes());
        let mut rng = ChaCha20Rng::from_seed(digest.into());
        let n: usize = shape.iter().product();
        let (mean, std) = match kind {
            WeightKind::Linear => (0.0, 1.0 / (shape[0] as f64).sqrt()),
            WeightKind::Embedding => (0.0, 1.0),
            WeightKind::Norm => (1.0, 0.1),
            WeightKind::Bias => (0.0, 0.1),
        };
        let dist = Normal::new(mean, std).expect("finite std");
        let data: Vec<f64> = (0..n).map(|_| dist.sample(&mut rng)).collect();
        Ok(ArrayD::from_shape_vec(shape.clone(), data).expect("shape and data agree"))
    }
}

/// Resolves a weight path of a suite: as given if it exists, else relative
/// to the repository root the suite sits in (`<root>/suites/models/x.yaml`).
pub fn resolve_path(suite: &ModelSuite, p: &Path) -> PathBuf {
    if p.is_absolute() || p.exists() {
        return p.to_path_buf();
    }
    let root = suite
        .path
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    // Not fetched yet: named where the suite's data root expects it.
    if root.as_os_str().is_empty() {
        p.to_path_buf()
    } else {
        root.join(p)
    }
}

/// The command that fetches the checkpoints into the data root `path`
/// belongs to (the repository, `$XPUCERT_HOME`, or the copy of the suites
/// built into xpucert).
fn fetch_hint(path: &Path) -> String {
    let script = path
        .ancestors()
        .skip(1)
        .map(|a| a.join("fixtures/fetch-models.sh"))
        .find(|s| s.is_file())
        .unwrap_or_else(|| PathBuf::from("fixtures/fetch-models.sh"));
    format!("bash {}", script.display())
}

fn overrides<T: serde::de::DeserializeOwned + serde::Serialize>(
    base: T,
    suite: &ModelSuite,
) -> Result<T, ModelError> {
    if suite.config.is_empty() {
        return Ok(base);
    }
    let mut v = serde_json::to_value(&base).map_err(|e| ModelError::Config(e.to_string()))?;
    for (k, x) in &suite.config {
        match v.get_mut(k) {
            Some(slot) => *slot = x.clone(),
            None => {
                return Err(ModelError::Config(format!(
                    "config key `{k}` is not a {} setting",
                    suite.family.name()
                )));
            }
        }
    }
    serde_json::from_value(v).map_err(|e| ModelError::Config(format!("config: {e}")))
}

/// A seeded DeepSeek suite's config: its `config_file` (a published
/// `config.json`) with the suite's `config` values on top, validated.
pub fn deepseek_config(suite: &ModelSuite) -> Result<DeepseekConfig, ModelError> {
    let mut map = serde_json::Map::new();
    let mut from = String::from("deepseek_v3 config");
    if let Some(f) = &suite.config_file {
        let path = resolve_path(suite, f);
        let text = crate::files::read_text(&path, 1 << 20, "a model config")
            .map_err(|e| ModelError::Config(format!("config_file {}: {e}", path.display())))?;
        match serde_json::from_str(&text) {
            Ok(serde_json::Value::Object(m)) => map = m,
            Ok(_) => {
                return Err(ModelError::Config(format!(
                    "config_file {}: not a JSON object",
                    path.display()
                )));
            }
            Err(e) => {
                return Err(ModelError::Config(format!(
                    "config_file {}: {e}",
                    path.display()
                )));
            }
        }
        from = format!("{} with the suite's config", path.display());
    }
    map.extend(suite.config.clone());
    let cfg: DeepseekConfig = serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| ModelError::Config(format!("{from}: {e}")))?;
    cfg.validate()
        .map_err(|e| ModelError::Config(format!("{from}: {e}")))?;
    Ok(cfg)
}

/// Opens a suite's model: config and weights. With `check_pin`, first
/// checks the weight file's sha256 when the suite pins one (the harness does,
/// once per case; the worker's jobs of that case open the file it checked).
pub fn open(suite: &ModelSuite, check_pin: bool) -> Result<Model, ModelError> {
    fn pin(sha: &Option<String>, check: bool) -> Option<&str> {
        sha.as_deref().filter(|_| check)
    }
    match (&suite.weights, suite.family) {
        (WeightsSpec::Seeded { seed }, Family::DeepseekV3) => {
            let cfg = deepseek_config(suite)?;
            Ok(Model {
                weights: Box::new(Seeded {
                    seed: *seed,
                    shapes: deepseek_weights(&cfg),
                }),
                config: Config::Deepseek(Box::new(cfg)),
            })
        }
        (WeightsSpec::Seeded { .. }, f) => Err(ModelError::Config(format!(
            "seeded weights are for deepseek_v3; {} needs a checkpoint",
            f.name()
        ))),
        (WeightsSpec::Safetensors { path, sha256 }, Family::Bert) => {
            let path = resolve_path(suite, path);
            verify(&path, pin(sha256, check_pin))?;
            let (cfg, w) = super::checkpoint::bert(&path)?;
            Ok(Model {
                config: Config::Bert(overrides(cfg, suite)?),
                weights: w,
            })
        }
        (WeightsSpec::Gguf { path, sha256 }, Family::Llama) => {
            let path = resolve_path(suite, path);
            verify(&path, pin(sha256, check_pin))?;
            let (cfg, w) = super::checkpoint::llama(&path)?;
            Ok(Model {
                config: Config::Llama(overrides(cfg, suite)?),
                weights: w,
            })
        }
        (w, f) => Err(ModelError::Config(format!(
            "{} weights for the {} family are not supported (bert: safetensors, llama: gguf, deepseek_v3: seeded)",
            match w {
                WeightsSpec::Safetensors { .. } => "safetensors",
                WeightsSpec::Gguf { .. } => "gguf",
                WeightsSpec::Seeded { .. } => "seeded",
            },
            f.name()
        ))),
    }
}

/// Fails unless `path` exists and (when pinned) has the sha256 `want`.
pub fn verify(path: &Path, want: Option<&str>) -> Result<(), ModelError> {
    if !path.exists() {
        return Err(ModelError::Weights(format!(
            "{} not found; fetch the checkpoints with `{}`",
            path.display(),
            fetch_hint(path)
        )));
    }
    if let Some(want) = want {
        let got = crate::digest::sha256_file(path)
            .map_err(|e| ModelError::Weights(format!("{}: {e}", path.display())))?;
        if !got.eq_ignore_ascii_case(want) {
            return Err(ModelError::Weights(format!(
                "{}: sha256 is {got}, the suite pins {want}; re-fetch with `{}`",
                path.display(),
                fetch_hint(path)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeded(config: &str) -> ModelSuite {
        let text = format!(
            "model: t\nfamily: deepseek_v3\nweights: {{ format: seeded, seed: 1 }}\n{config}\n\
             inputs: {{ prompt: [1], decode: 1 }}\ndtypes: [f32]\nthresholds:\n  \
             f32: {{ logits_cosine_min: 0.9, top1_min: 1.0, layer_rel_l2_max: 1.0e-4 }}\n"
        );
        crate::model::spec::parse(std::path::Path::new("t.yaml"), &text).unwrap()
    }

    #[test]
    fn a_bad_config_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.json");
        let e = deepseek_config(&seeded(&format!("config_file: {}", missing.display())))
            .unwrap_err()
            .to_string();
        assert!(e.contains("config_file") && e.contains("nope.json"), "{e}");
        let list = dir.path().join("list.json");
        std::fs::write(&list, "[1, 2]").unwrap();
        let e = deepseek_config(&seeded(&format!("config_file: {}", list.display())))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a JSON object"), "{e}");
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{\"hidden_size\": ").unwrap();
        let e = deepseek_config(&seeded(&format!("config_file: {}", bad.display())))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.json"), "{e}");
        // An override the config does not know is refused by name.
        let v3 = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/deepseek-v3.json");
        let e = deepseek_config(&seeded(&format!(
            "config_file: {v3}\nconfig: {{ num_hiden_layers: 2 }}"
        )))
        .unwrap_err()
        .to_string();
        assert!(e.contains("num_hiden_layers"), "{e}");
    }

    #[test]
    fn seeded_weights_are_deterministic_per_name() {
        let mut shapes = BTreeMap::new();
        shapes.insert("a".to_string(), (vec![4, 3], WeightKind::Linear));
        shapes.insert("b".to_string(), (vec![4, 3], WeightKind::Linear));
        let s = Seeded { seed: 5, shapes };
        assert_eq!(s.get("a").unwrap(), s.get("a").unwrap());
        assert_ne!(s.get("a").unwrap(), s.get("b").unwrap());
        assert!(s.get("c").is_err());
    }
}
