//! # xpucert
//!
//! Certifies that AI operators and models run correctly on a backend. Data
//! flows one way: suite YAML -> cases -> seeded inputs -> backend call and f64
//! oracle -> comparison -> result record -> streamed to disk -> reports.
//!
//! Modules, each owning one concern:
//! * [`ops`]: one definition per operator (ONNX spec, shape rule, f64
//!   oracle, cost model, check policy) and the registry of them.
//! * [`numerics`]: dtypes, host tensors, conversions, tolerance checks.
//! * [`suite`]: the YAML suite format, case expansion, stable case ids, inputs.
//! * [`backend`]: loading vendor libraries, the worker process, guarded buffers.
//! * [`digest`]: sha256 hex for provenance.
//! * [`model`]: real model checkpoints (weight files: GGUF, safetensors).
//! * [`perf`]: throughput measurement, cost models, throughput requirements.
//! * [`run`]: executing cases, statuses, streamed results files.
//! * [`report`]: terminal tables and failure details.
//! * [`vendor`]: backend skeletons, capability tables, repro dumps, progress.
//! * [`cli`]: the `xpucert` command and its exit codes.

pub mod backend;
pub mod cli;
pub mod digest;
pub mod model;
pub mod numerics;
pub mod ops;
pub mod perf;
pub mod report;
pub mod run;
pub mod suite;
pub mod vendor;
