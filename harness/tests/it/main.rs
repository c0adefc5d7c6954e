//! The harness's integration tests, as one test binary: one module per
//! area (each was its own binary once, and each linked the whole harness;
//! one link instead of seventeen is most of a clean `cargo test`'s build).
//! Select an area with its module path, e.g.
//! `cargo test -p xpucert --test it reports::`.
//!
//! Nothing here needs a process of its own: no test sets environment
//! variables, signal handlers, the working directory or other
//! process-wide state (the CLI is run as a child process, and backends
//! loaded in process are never unloaded, as in xpucert itself). A test
//! that must change such state belongs in a separate `tests/*.rs` binary.

mod common;

mod certificates;
mod certificates_signed;
mod ci_output;
mod ci_templates;
mod conversions;
mod coverage;
mod detection;
mod explanations;
mod hardening;
mod hardening_outputs;
mod hardening_process;
mod info_capabilities;
mod install;
mod loader_errors;
mod model_weights;
mod models;
mod new_backend;
mod onnx_node;
mod reliability;
mod reports;
mod repro_dump;
mod resume;
mod run_suites;
mod streams;
mod throughput;
mod waivers;
mod writing_a_backend;
