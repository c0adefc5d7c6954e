//! # xpucert
//!
//! Certifies that AI operators and models run correctly on a backend. Data
//! flows one way: suite YAML -> cases -> seeded inputs -> backend call and f64
//! oracle -> comparison -> result record -> streamed to disk -> reports.
//!
//! Modules, each owning one concern, from the top layer down (a module uses
//! only modules below it):
//! * [`cli`]: the `xpucert` command: argument parsing, the exit codes; used
//!   by `main.rs` alone.
//! * [`cert`]: certification profiles, levels, `certify` (runs a profile in
//!   process), bundles and their verification.
//! * [`report`]: renderers: terminal tables, JUnit, Markdown, HTML, the
//!   compatibility matrix, the gate, the `info` output, the reports of a
//!   live run.
//! * [`repro`]: `repro --dump`: one case's arrays and a numpy check script.
//! * [`scaffold`]: `new-backend` skeletons (C, C++, Rust).
//! * [`run`]: the [`run::Runner`] (a plan of cases -> events to observers),
//!   executing one case, statuses, results files, resume, shards, progress.
//! * [`perf`]: throughput measurement, cost models, throughput requirements.
//! * [`model`]: real model checkpoints (weight files: GGUF, safetensors),
//!   graphs and their execution.
//! * [`suite`]: the YAML suite format, case expansion, stable case ids, inputs.
//! * [`backend`]: loading vendor libraries, the worker process, guarded buffers.
//! * [`ops`]: one definition per operator (ONNX spec, shape rule, f64
//!   oracle, cost model, check policy) and the registry of them.
//! * [`numerics`]: dtypes, host tensors, conversions, tolerance checks, `.npy`.
//! * [`digest`]: sha256 hex for provenance.
//! * [`files`]: reading user-named files: regular files only, size-capped.

// `ops::registry!` reads its list one operator per recursion step.
#![recursion_limit = "512"]

pub mod backend;
pub mod cert;
pub mod cli;
pub mod digest;
pub mod files;
pub mod home;
pub mod model;
pub mod numerics;
pub mod ops;
pub mod perf;
pub mod report;
pub mod repro;
pub mod run;
pub mod scaffold;
pub mod suite;
pub mod text;
