//! End-to-end model suites: real checkpoints (and a seeded DeepSeek-style
//! model) built as graphs of ONNX-semantics ops, executed op by op through a
//! backend and, independently, through the f64 oracle; compared end to end,
//! localized to a layer and attributed to an op kind when they diverge.

pub mod checkpoint;
pub mod dump;
pub mod exec;
pub mod graph;
pub mod run;
pub mod source;
pub mod spec;
pub mod weights;
