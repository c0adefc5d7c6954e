//! Running cases against a backend: one case at a time, from seeded inputs to
//! a [`CaseResult`], streamed to `results.jsonl` as soon as it is known.
//!
//! The [`Runner`] owns a whole run: it takes a [`Plan`] (loaded by
//! [`plan`] from a [`RunConfig`]: suites, filters, shard, backend, options)
//! and emits [`RunEvent`]s to [`Observer`]s: the progress bar
//! ([`progress`]), the results files ([`record`]) and, from the layers
//! above, the terminal reports. Also here: resuming a run ([`resume`]),
//! shard planning and merging ([`shard`]), clean stops ([`interrupt`]) and
//! the capability probe of `info` ([`capabilities`]).
//!
//! For each case: generate the inputs (deterministic from the case id), ask
//! the oracle for the exact outputs (which also gives the output shapes the
//! harness allocates), store the inputs in the case's layout, ask `query_op`,
//! call `run_op`, read the outputs back and compare each with the oracle under
//! the case's check. Every outcome is a typed [`Status`], never a panic.

pub mod capabilities;
pub mod events;
mod explain;
pub mod guard;
pub mod inflight;
pub mod interrupt;
pub mod measure;
pub mod model_case;
pub mod outlock;
pub mod plan;
pub mod progress;
pub mod record;
pub mod require;
pub mod required;
pub mod results;
pub mod resume;
pub mod runner;
pub mod shard;
pub mod waivers;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use xpucert_abi::{Precision, Status as AbiStatus, Support};

pub use events::{Observer, ObserverError, RunEvent};
pub use plan::{Isolation, Plan, RunConfig, RunError};
pub use results::{Provenance, ResultsFile, ResultsWriter, RunHeader, SuiteInfo, Summary, utc_now};
pub use runner::{RunOutcome, Runner};

use crate::backend::call::{PreparedCall, StoredTensor};
use crate::backend::{CallError, ExecError, Executor};
use crate::numerics::check::{self, CheckSpec, Comparison, Flush};
use crate::numerics::{DType, HostTensor};
use crate::ops::{self, Value};
use crate::suite::{Case, InputSpec, TensorSpec};

/// The verdict on one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every output within tolerance.
    Pass,
    /// Conformant, but beyond a quality bound (set by the numerics work).
    Warn,
    /// An output outside tolerance, or NaN/Inf disagreement.
    Fail,
    /// Declared or returned UNSUPPORTED.
    Unsupported,
    /// The backend returned a failure status (or the case could not be built).
    Error,
    /// The backend process died (worker isolation).
    Crash,
    /// The backend did not finish in time (worker isolation).
    Timeout,
    /// A fail, error, crash or timeout that a live entry of the run's
    /// waiver file expects (`run/waivers.rs`); the case's `waiver` says
    /// which, and its real status. Not a failure, never a pass.
    Waived,
    /// The oracle disagrees with the outputs the case publishes
    /// (`expected:`, ONNX's node tests): a finding about xpucert's
    /// reference, not about the backend, which is not called. Not a
    /// failure of the backend, never a pass: a run holding one is not
    /// conformant (its verdict says why) and exits 1.
    OracleMismatch,
    /// Filtered out.
    Skip,
}

impl Status {
    /// Lowercase name, as in results files.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Unsupported => "unsupported",
            Status::Error => "error",
            Status::Crash => "crash",
            Status::Timeout => "timeout",
            Status::Waived => "waived",
            Status::OracleMismatch => "oracle_mismatch",
            Status::Skip => "skip",
        }
    }

    /// Whether this status breaks conformance.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Status::Fail | Status::Error | Status::Crash | Status::Timeout
        )
    }

    /// All statuses in report order.
    pub const ALL: [Status; 10] = [
        Status::Pass,
        Status::Warn,
        Status::Fail,
        Status::Unsupported,
        Status::Error,
        Status::Crash,
        Status::Timeout,
        Status::Waived,
        Status::OracleMismatch,
        Status::Skip,
    ];
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The comparison of one output with the oracle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputResult {
    /// Output position.
    pub index: usize,
    /// Output dtype.
    pub dtype: String,
    /// Output shape.
    pub shape: Vec<usize>,
    /// The figures.
    pub comparison: Comparison,
    /// For a failed output: whether a uniformly lower precision explains
    /// the errors element by element, and how, or that none does
    /// (`run::explain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// Everything known about one case after it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// Stable case id.
    pub id: String,
    /// ONNX op name.
    pub op: String,
    /// Opset of the call.
    pub opset: i64,
    /// Case dtype.
    pub dtype: String,
    /// The verdict.
    pub status: Status,
    /// Why, for anything but a pass: the backend's message, the first
    /// mismatch, or the reason the case could not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `native`, `emulated` or `none`, from query_op.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<String>,
    /// Declared compute precision, from query_op.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_precision: Option<String>,
    /// Declared subnormal flushing, from query_op: `inputs` (read as zero),
    /// `outputs` (written as zero); empty when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flushes: Vec<String>,
    /// query_op and run_op disagreed about support.
    #[serde(default)]
    pub capability_mismatch: bool,
    /// Per-output comparisons (empty when the op did not run).
    #[serde(default)]
    pub outputs: Vec<OutputResult>,
    /// For a case that publishes its outputs (`expected:`): the oracle's
    /// outputs compared with them ([`check_oracle`]), one per published
    /// output, whatever the status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference: Vec<OutputResult>,
    /// Wall time of the single run_op call, in seconds.
    #[serde(default)]
    pub run_seconds: f64,
    /// Where the case is written.
    pub location: String,
    /// Timed repetitions of the call, when the case was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<Throughput>,
    /// End-to-end model figures, for a case of a model suite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelSummary>,
    /// With status `waived`: the waiver that matched (its `status` is the
    /// case's real status). With a failure status: a waiver that matched
    /// but had expired (the message says so). See `run/waivers.rs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<waivers::Waiver>,
}

/// Timed repetitions of one call, measured inside the worker after warm-up.
/// Times are seconds per iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Throughput {
    /// Timed iterations (after warm-up).
    pub iterations: u64,
    /// Per-iteration times, in the order measured.
    #[serde(default)]
    pub samples_s: Vec<f64>,
    /// Median time.
    pub median_s: f64,
    /// 10th percentile time.
    pub p10_s: f64,
    /// 90th percentile time.
    pub p90_s: f64,
    /// Median absolute deviation of the samples.
    pub mad_s: f64,
    /// Floating-point operations of one call, from the op's cost model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flops: Option<f64>,
    /// Bytes moved by one call (inputs read plus outputs written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<f64>,
    /// flops / median_s / 1e9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gflops: Option<f64>,
    /// bytes / median_s / 1e9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gbps: Option<f64>,
}

/// What a model case adds to a [`CaseResult`]: the model's name, its
/// end-to-end figures and throughput, and where it diverged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ModelSummary {
    /// Model name as in its suite (e.g. `smollm2-135m`).
    pub name: String,
    /// Architecture family (`bert`, `llama`, `deepseek_v3`).
    pub family: String,
    /// End-to-end figures by name (cosine, rel_l2, top1_agreement, ...).
    #[serde(default)]
    pub metrics: std::collections::BTreeMap<String, f64>,
    /// Prompt tokens per second through the backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_tokens_per_s: Option<f64>,
    /// Generated tokens per second through the backend (KV cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_tokens_per_s: Option<f64>,
    /// Time to first token, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_s: Option<f64>,
    /// The first layer whose hidden-state error exceeded its bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_divergent_layer: Option<String>,
    /// The op kind whose swap to the reference restored conformance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blamed_op: Option<String>,
}

impl CaseResult {
    fn new(case: &Case, status: Status, message: Option<String>) -> Self {
        let (id, location) = (&case.id, case.location.clone());
        Self::blank(
            id,
            case.op.name,
            case.opset,
            case.dtype,
            location,
            status,
            message,
        )
    }

    /// The result of a model case (`op` "model", opset 0) before or without
    /// running it; the model runner fills in the rest.
    pub fn for_model(
        id: &str,
        dtype: DType,
        location: String,
        status: Status,
        message: Option<String>,
    ) -> Self {
        Self::blank(id, "model", 0, dtype, location, status, message)
    }

    /// A result with nothing measured or compared yet.
    fn blank(
        id: &str,
        op: &str,
        opset: i64,
        dtype: DType,
        location: String,
        status: Status,
        message: Option<String>,
    ) -> Self {
        CaseResult {
            id: id.to_string(),
            op: op.to_string(),
            opset,
            dtype: dtype.name().to_string(),
            status,
            message,
            support: None,
            compute_precision: None,
            flushes: Vec::new(),
            capability_mismatch: false,
            outputs: Vec::new(),
            reference: Vec::new(),
            run_seconds: 0.0,
            location,
            throughput: None,
            model: None,
            waiver: None,
        }
    }

    /// The worst headroom over outputs (0 when none ran).
    pub fn headroom(&self) -> f64 {
        self.outputs
            .iter()
            .map(|o| o.comparison.headroom)
            .fold(0.0, f64::max)
    }

    /// A result for a case that was filtered out or not attempted.
    pub fn skipped(case: &Case, why: &str) -> Self {
        CaseResult::new(case, Status::Skip, Some(why.to_string()))
    }
}

/// The cost units (see [`Case::cost`]) a backend is assumed to get through
/// per second at the very least, to scale time limits: 0.2 G multiply-adds
/// per second, so a 16384-long MatMul is slow, not hung.
pub const MIN_THROUGHPUT: f64 = 0.2e9;

/// The time limit of one call of `case`: its own or its suite's `timeout:`
/// if given, else `default` (`--timeout`), plus the case's cost at
/// [`MIN_THROUGHPUT`].
pub fn time_limit(case: &Case, default: Duration) -> Duration {
    let base = case
        .timeout
        .and_then(|t| Duration::try_from_secs_f64(t).ok())
        .unwrap_or(default);
    base + Duration::from_secs_f64(case.cost().max(0.0) / MIN_THROUGHPUT)
}

/// The result of a call that never answered: the worker crashed or hung.
pub(crate) fn lost(result: &mut CaseResult, e: &ExecError) -> bool {
    match e {
        ExecError::Crashed { .. } => result.status = Status::Crash,
        ExecError::TimedOut { .. } => result.status = Status::Timeout,
        _ => return false,
    }
    result.message = Some(e.to_string());
    true
}

/// Runs one case against `backend`; each call may take up to `limit` (see
/// [`time_limit`]) where the executor can enforce it.
pub fn run_case(backend: &mut dyn Executor, case: &Case, limit: Duration) -> CaseResult {
    let inputs = crate::suite::generate_inputs(case);
    let (mut call, expected) = match prepare_call(case, &inputs) {
        Ok(p) => p,
        Err(e) => return CaseResult::new(case, Status::Error, Some(e)),
    };

    let mut result = CaseResult::new(case, Status::Error, None);
    if !case.expected.is_empty() {
        let (reference, mismatch) = check_oracle(case, &inputs, &expected);
        result.reference = reference;
        if let Some(m) = mismatch {
            // The reference itself is in doubt, so nothing the backend
            // returns could be judged: it is not called.
            result.status = Status::OracleMismatch;
            result.message = Some(format!(
                "xpucert's oracle disagrees with the published outputs: {m}; the backend was not called"
            ));
            return result;
        }
    }
    if let Some(why) = needs_minor(backend.abi_version(), case.op.name, &call) {
        result.status = Status::Unsupported;
        result.support = Some("none".into());
        result.message = Some(why);
        return result;
    }
    let answer = match backend.query(&mut call, limit) {
        Ok(a) => a,
        Err(e) if lost(&mut result, &e) => return result,
        // The header asks for OK + SUPPORT_NONE, but an UNSUPPORTED status
        // says the same thing and is read the same way.
        Err(ExecError::Call(CallError::Failed {
            status: AbiStatus::Unsupported,
            message,
        })) => {
            result.status = Status::Unsupported;
            result.support = Some("none".into());
            result.message = Some(message);
            return result;
        }
        Err(e) => {
            result.message = Some(format!("query_op failed: {e}"));
            return result;
        }
    };
    result.support = Some(
        match answer.support {
            Support::None => "none",
            Support::Native => "native",
            Support::Emulated => "emulated",
        }
        .to_string(),
    );
    result.compute_precision = Some(answer.precision.name().to_string());
    let flush = Flush::from(answer.numeric);
    result.flushes = flush.names();
    if answer.support == Support::None {
        result.status = Status::Unsupported;
        result.message = Some(if answer.note.is_empty() {
            "declared unsupported by query_op".into()
        } else {
            answer.note
        });
        return result;
    }

    let start = Instant::now();
    let outcome = backend.run(&mut call, limit);
    result.run_seconds = start.elapsed().as_secs_f64();
    let findings = match outcome {
        Ok(findings) => findings,
        Err(e) if lost(&mut result, &e) => return result,
        Err(ExecError::Call(CallError::Failed {
            status: AbiStatus::Unsupported,
            message,
        })) => {
            result.status = Status::Unsupported;
            result.capability_mismatch = true;
            result.message = Some(format!(
                "query_op declared it supported, run_op returned UNSUPPORTED: {message}"
            ));
            return result;
        }
        Err(e) => {
            result.message = Some(format!("run_op failed: {e}"));
            return result;
        }
    };

    let (outputs, mut failures) =
        compare_outputs(case, &inputs, &expected, &call, answer.precision, flush);
    result.outputs = outputs;
    if !findings.is_empty() {
        // A memory-safety violation (output never written, input written,
        // a write outside the output) outweighs whatever the outputs say.
        // It is a `fail`, not an `error`: the backend broke the contract and
        // claimed success; `error` is for failure codes it returned.
        result.status = Status::Fail;
        failures.splice(0..0, findings);
        result.message = Some(failures.join("; "));
    } else if failures.is_empty() {
        let marginal = result
            .outputs
            .iter()
            .find(|o| o.comparison.quality > check::WARN_QUALITY);
        result.status = match marginal {
            Some(o) => {
                result.message = Some(format!(
                    "output {}: within {} but using {:.0}% of the allowance beyond output rounding (quality {:.2} > {})",
                    o.index,
                    o.comparison.check,
                    o.comparison.quality * 100.0,
                    o.comparison.quality,
                    check::WARN_QUALITY
                ));
                Status::Warn
            }
            None => Status::Pass,
        };
    } else {
        result.status = Status::Fail;
        result.message = Some(failures.join("; "));
    }
    result
}

/// Compares the oracle's outputs (`oracle`, on the case's `inputs`) with
/// the outputs the case publishes (`case.expected`: ONNX's node tests,
/// computed by numpy in the output dtype). Each published output is judged
/// as if an honest backend computing in its output dtype had produced it:
/// the op's default check for that dtype ([`ops::OpDef::default_check`]:
/// exact, ulp budgets, or the summation bound over the oracle's
/// magnitudes) with the output dtype as the compute precision, so f16
/// outputs computed in f16 arithmetic get f16's unit roundoff in the bound;
/// a case's own `check:` (a backend tolerance) is not used. A published
/// dtype or shape that differs from the oracle's, or an output the oracle
/// does not compute, is a mismatch too. Returns the figures of each
/// compared output and, on a mismatch, what disagrees.
pub fn check_oracle(
    case: &Case,
    inputs: &[Option<HostTensor>],
    oracle: &[ops::Output],
) -> (Vec<OutputResult>, Option<String>) {
    let shapes: Vec<Option<Vec<usize>>> = inputs
        .iter()
        .map(|t| t.as_ref().map(|t| t.shape.clone()))
        .collect();
    let mut results = Vec::new();
    let mut problems = Vec::new();
    for (i, published) in case.expected.iter().enumerate() {
        let Some(published) = published else {
            continue;
        };
        let Some(exp) = oracle.get(i) else {
            problems.push(format!(
                "output {i} is published, the oracle computes {} outputs",
                oracle.len()
            ));
            continue;
        };
        let dtype = exp.value.dtype;
        if let Some(d) = published.dtype
            && d != dtype
        {
            problems.push(format!(
                "output {i}: published dtype {d}, the oracle's is {dtype}"
            ));
            continue;
        }
        if published.shape != exp.value.shape() {
            problems.push(format!(
                "output {i}: published shape {:?}, the oracle's is {:?}",
                published.shape,
                exp.value.shape()
            ));
            continue;
        }
        let mut spec =
            case.def()
                .default_check(dtype, &case.attributes, &shapes, exp.value.shape());
        if matches!(spec, CheckSpec::Bound { .. }) && exp.magnitude.is_none() {
            spec = check::torch_allclose(dtype);
        }
        let mut actual = ndarray::ArrayD::from_shape_vec(
            ndarray::IxDyn(&published.shape),
            published.values.clone(),
        )
        .expect("the loader checked that the values fit the shape");
        case.def().canonical_order(i, &mut actual);
        let cmp = check::compare_declared(
            spec,
            dtype,
            check::Roundoff::compute(check::unit_roundoff(dtype)),
            exp.expected(),
            &actual,
            Flush::NONE,
            None,
        );
        if !cmp.passed {
            problems.push(
                describe_failure(i, &cmp, None)
                    .replace(": expected ", ": oracle ")
                    .replace(", got ", ", published "),
            );
        }
        results.push(OutputResult {
            index: i,
            dtype: dtype.name().to_string(),
            shape: exp.value.shape().to_vec(),
            comparison: cmp,
            explanation: None,
        });
    }
    let problem = (!problems.is_empty()).then(|| problems.join("; "));
    (results, problem)
}

/// Why a library of ABI `version` cannot be given `call`, if it cannot: a
/// call with data-dependent outputs (allocated at a bound, the actual shape
/// reported through `XpuOpCall.output_shapes`) needs minor 2; a library of
/// an older minor would read its outputs as fixed-shape and fill the bound.
/// A call with a tensor attribute needs minor 3.
pub(crate) fn needs_minor(version: (u32, u32), op: &str, call: &PreparedCall) -> Option<String> {
    let (_, minor) = version;
    let bounded: Vec<usize> = (call.outputs.iter().enumerate())
        .filter(|(_, o)| o.reported.is_some())
        .map(|(i, _)| i)
        .collect();
    if minor < 2 && !bounded.is_empty() {
        return Some(format!(
            "not sent: {op} has data-dependent output shapes (output {bounded:?}), which need ABI minor 2 (XpuOpCall.output_shapes); the library is built against 1.{minor}"
        ));
    }
    // A library of minor < 3 knows no XPU_ATTR_TENSOR and would read the
    // attribute as an unknown type, or skip it and compute with the default.
    (minor < 3 && call.has_tensor_attributes()).then(|| {
        format!(
            "not sent: the call of {op} has a tensor attribute, which needs ABI minor 3 (XPU_ATTR_TENSOR, XpuOpCall.attribute_tensors); the library is built against 1.{minor}"
        )
    })
}

/// The call of `case` on `inputs` (its generated inputs, or a variant of
/// them) and the oracle's outputs for it; `Err` says why the case is invalid.
/// A data-dependent output ([`ops::OpDef::data_dependent_outputs`]) is
/// allocated at the bound the shape rule gives, never at the oracle's
/// shape: a backend must not learn the answer's size from the allocation.
pub(crate) fn prepare_call(
    case: &Case,
    inputs: &[Option<HostTensor>],
) -> Result<(PreparedCall, Vec<ops::Output>), String> {
    let values: Vec<Option<Value>> = inputs
        .iter()
        .map(|t| t.as_ref().map(|t| Value::new(t.dtype, t.to_f64())))
        .collect();
    let expected = case.evaluate(&values)
        .map_err(|e| {
            format!(
                "invalid case: {e} (the oracle refused the call before the backend saw it: a suite mistake the load-time checks missed, not the backend's)"
            )
        })?;
    let stored: Vec<Option<StoredTensor>> = case
        .inputs
        .iter()
        .zip(inputs)
        .map(|(spec, t)| match (spec, t) {
            (InputSpec::Tensor(TensorSpec { layout, .. }), Some(t)) => {
                let (bytes, strides) = layout.store(t);
                Some(StoredTensor::new(t.dtype, &t.shape, strides, &bytes))
            }
            _ => None,
        })
        .collect();
    let dynamic = case.def().data_dependent_outputs();
    let bounds = if dynamic.is_empty() {
        Vec::new()
    } else {
        let typed: Vec<Option<ops::TypedShape>> = inputs
            .iter()
            .map(|t| t.as_ref().map(|t| (t.dtype, t.shape.clone())))
            .collect();
        let mut read = |i: usize| -> Vec<f64> {
            values
                .get(i)
                .and_then(Option::as_ref)
                .map(|v| v.data.iter().copied().collect())
                .unwrap_or_default()
        };
        case.def()
            .requested_shapes(&case.attributes, &typed, &mut read, case.outputs)
            .map_err(|e| format!("invalid case: {e}"))?
    };
    let outputs: Vec<StoredTensor> = expected
        .iter()
        .enumerate()
        .map(|(i, o)| match bounds.get(i) {
            Some((dtype, bound)) if dynamic.contains(&i) => {
                StoredTensor::bounded_output(*dtype, bound)
            }
            _ => StoredTensor::output(o.value.dtype, o.value.shape()),
        })
        .collect();
    let call = PreparedCall::new(
        case.op.domain,
        case.op.name,
        case.opset,
        &case.attributes,
        stored,
        outputs,
    );
    Ok((call, expected))
}

/// The oracle's outputs on `inputs` with every subnormal float element
/// replaced by a zero of its sign (what a backend that declared input
/// flushing may compute); `None` when no input has a subnormal, or when
/// the oracle refuses the flushed inputs.
pub(crate) fn flushed_oracle(
    case: &Case,
    inputs: &[Option<HostTensor>],
) -> Option<Vec<ops::Output>> {
    let mut any = false;
    let values: Vec<Option<Value>> = inputs
        .iter()
        .map(|t| {
            t.as_ref().map(|t| {
                let mut v = t.to_f64();
                v.mapv_inplace(|x| {
                    if check::is_subnormal(t.dtype, x) {
                        any = true;
                        0.0f64.copysign(x)
                    } else {
                        x
                    }
                });
                Value::new(t.dtype, v)
            })
        })
        .collect();
    if !any {
        return None;
    }
    case.evaluate(&values).ok()
}

/// Compares every output of `call` with the oracle's `expected` under the
/// case's check and the backend's declared subnormal `flush`: the figures
/// per output and one line per failed output.
pub(crate) fn compare_outputs(
    case: &Case,
    inputs: &[Option<HostTensor>],
    expected: &[ops::Output],
    call: &PreparedCall,
    precision: Precision,
    flush: Flush,
) -> (Vec<OutputResult>, Vec<String>) {
    let shapes: Vec<Option<Vec<usize>>> = inputs
        .iter()
        .map(|t| t.as_ref().map(|t| t.shape.clone()))
        .collect();
    // Only a declaration of input flushing costs a second oracle run.
    let flushed = if flush.inputs {
        flushed_oracle(case, inputs)
    } else {
        None
    };
    let mut failures = Vec::new();
    let mut results = Vec::new();
    for (i, (out, exp)) in call.outputs.iter().zip(expected).enumerate() {
        let actual: HostTensor = out.to_host();
        let dtype = exp.value.dtype;
        let flushed_exp = flushed.as_ref().and_then(|f| f.get(i));
        // A data-dependent output is judged by the shape it reported first:
        // the oracle's, or (declared input flushing) the flushed oracle's,
        // which then is the only result it can be compared with.
        let (exp, flushed_exp) = match flushed_exp {
            _ if actual.shape == exp.value.shape() => (
                exp,
                flushed_exp.filter(|f| f.value.shape() == exp.value.shape()),
            ),
            Some(f) if actual.shape == f.value.shape() => (f, None),
            _ => {
                failures.push(format!(
                    "output {i}: reported shape {:?}, expected {:?}",
                    actual.shape,
                    exp.value.shape()
                ));
                results.push(OutputResult {
                    index: i,
                    dtype: dtype.name().to_string(),
                    shape: exp.value.shape().to_vec(),
                    comparison: check::Comparison::shape_mismatch(
                        case.check.unwrap_or_else(|| {
                            case.def().default_check(
                                dtype,
                                &case.attributes,
                                &shapes,
                                exp.value.shape(),
                            )
                        }),
                        exp.value.data.len(),
                    ),
                    explanation: None,
                });
                continue;
            }
        };
        let mut spec = case.check.unwrap_or_else(|| {
            case.def()
                .default_check(dtype, &case.attributes, &shapes, exp.value.shape())
        });
        if matches!(spec, CheckSpec::Bound { .. }) && exp.magnitude.is_none() {
            // A bound needs the oracle's magnitudes; without them, fall back
            // to the dtype's allclose rule rather than judge by |y*| alone.
            spec = check::torch_allclose(dtype);
        }
        let mut actual_values = actual.to_f64();
        case.def().canonical_order(i, &mut actual_values);
        let cmp = check::compare_declared(
            spec,
            dtype,
            case.def().check.roundoff(precision, dtype),
            exp.expected(),
            &actual_values,
            flush,
            flushed_exp.map(ops::Output::expected),
        );
        let mut explanation = None;
        if !cmp.passed {
            let actual = actual_values;
            explanation = explain::explain(&explain::Failed {
                case,
                inputs,
                index: i,
                check: spec,
                dtype,
                u: case.def().check.roundoff(precision, dtype),
                comparison: &cmp,
                actual: &actual,
                expected: exp,
            });
            failures.push(describe_failure(i, &cmp, explanation.as_deref()));
        }
        results.push(OutputResult {
            index: i,
            dtype: dtype.name().to_string(),
            shape: exp.value.shape().to_vec(),
            comparison: cmp,
            explanation,
        });
    }
    (results, failures)
}

/// One line saying how output `i` failed its check, with the clause of
/// [`explain::explain`] on whether a lower precision explains it.
fn describe_failure(i: usize, c: &Comparison, why: Option<&str>) -> String {
    let mut s = format!(
        "output {i}: {} of {} elements outside {} (max abs err {:.3e}, max rel err {:.3e}",
        c.mismatches, c.elements, c.check, c.max_abs_err, c.max_rel_err
    );
    if c.special_mismatches > 0 {
        s.push_str(&format!(", {} NaN/Inf mismatches", c.special_mismatches));
    }
    s.push(')');
    if let Some(why) = why {
        s.push_str("; ");
        s.push_str(why);
    }
    if let Some(m) = &c.first_mismatch {
        s.push_str(&format!(
            "; first at {:?}: expected {:e}, got {:e}",
            m.index, m.expected, m.actual
        ));
    }
    s
}

/// Matches a case id against a glob with `*` (any run) and `?` (one char).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Whether some id that starts with `prefix` matches `pattern`, as
/// [`glob_match`] reads it: false only when none can. Runs the glob as a
/// set of pattern positions over the prefix; any position still alive can
/// finish on a suitable rest of the id.
pub fn glob_may_match_prefix(pattern: &str, prefix: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    // `*` matches the empty run too: a position on a star also stands
    // after it.
    let close = |alive: &mut Vec<bool>| {
        for i in 0..p.len() {
            if alive[i] && p[i] == '*' {
                alive[i + 1] = true;
            }
        }
    };
    let mut alive = vec![false; p.len() + 1];
    alive[0] = true;
    close(&mut alive);
    for c in prefix.chars() {
        let mut next = vec![false; p.len() + 1];
        for i in 0..p.len() {
            if !alive[i] {
                continue;
            }
            match p[i] {
                '*' => next[i] = true,
                '?' => next[i + 1] = true,
                x if x == c => next[i + 1] = true,
                _ => {}
            }
        }
        close(&mut next);
        if !next.iter().any(|&a| a) {
            return false;
        }
        alive = next;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        assert!(glob_match("core.matmul.*", "core.matmul.f32.square"));
        assert!(glob_match("*.f32.*", "core.add.f32.scalar"));
        assert!(glob_match("core.add.f3?.x", "core.add.f32.x"));
        assert!(!glob_match("core.matmul.*", "core.gemm.f32.x"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a*b", "acbd"));
    }

    #[test]
    fn a_prefix_is_ruled_out_only_when_no_id_with_it_can_match() {
        for (glob, prefix, may) in [
            ("*.lppool.*", "coverage.lppool.", true),
            // The star may take "lpnormalization." and more.
            ("*.lppool.*", "coverage.lpnormalization.", true),
            ("coverage.lppool.*", "coverage.lpnormalization.", false),
            ("core.add.f32.x", "core.add.", true),
            ("core.add.f32.x", "core.addx", false),
            ("core.a?d.*", "core.and.", true),
            ("*", "anything.", true),
            ("", "core.", false),
            ("core.*.f16.*", "edge.", false),
        ] {
            assert_eq!(
                glob_may_match_prefix(glob, prefix),
                may,
                "{glob} / {prefix}"
            );
        }
        // Agrees with glob_match: every prefix of a matching id may match.
        for (glob, id) in [("*.f32.*", "core.add.f32.scalar"), ("a*b*c", "axxbyyc")] {
            assert!(glob_match(glob, id));
            for n in 0..=id.len() {
                assert!(
                    glob_may_match_prefix(glob, &id[..n]),
                    "{glob} / {}",
                    &id[..n]
                );
            }
        }
    }

    #[test]
    fn a_tensor_attribute_is_sent_only_to_minor_3_and_later() {
        let call = crate::backend::call::tests::tensor_attribute_call();
        let why = needs_minor((1, 2), "ConstantOfShape", &call).expect("refused");
        assert!(
            why.contains("tensor attribute") && why.contains("minor 3") && why.contains("1.2"),
            "{why}"
        );
        assert!(needs_minor((1, 0), "ConstantOfShape", &call).is_some());
        assert_eq!(needs_minor((1, 3), "ConstantOfShape", &call), None);
        assert_eq!(needs_minor((1, 9), "ConstantOfShape", &call), None);
    }

    #[test]
    fn failure_status_classes() {
        assert!(Status::Fail.is_failure());
        assert!(Status::Crash.is_failure());
        assert!(!Status::Unsupported.is_failure());
        assert!(!Status::Warn.is_failure());
    }
}
