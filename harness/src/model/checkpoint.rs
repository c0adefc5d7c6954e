//! Real checkpoints: MiniLM (safetensors, HF BERT names) and SmolLM2 (GGUF,
//! llama.cpp names, Q/K rows permuted), mapped to the graph's logical names
//! and layouts.

use std::path::Path;

use super::exec::{ModelError, WeightProvider};
use super::graph::{BertConfig, LlamaConfig};

/// Opens a BERT safetensors checkpoint and its config.json.
pub fn bert(path: &Path) -> Result<(BertConfig, Box<dyn WeightProvider>), ModelError> {
    Err(ModelError::Weights(format!(
        "{}: safetensors loading not built yet",
        path.display()
    )))
}

/// Opens a Llama GGUF checkpoint.
pub fn llama(path: &Path) -> Result<(LlamaConfig, Box<dyn WeightProvider>), ModelError> {
    Err(ModelError::Weights(format!(
        "{}: GGUF loading not built yet",
        path.display()
    )))
}
