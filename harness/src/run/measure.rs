//! Measuring one case: input variants, the timed calls through an
//! [`Executor`], the verification of every variant's outputs against its own
//! oracle, the [`Throughput`] record and the suite's requirements.

use std::time::Duration;

use super::{CaseResult, Status, Throughput, compare_outputs, prepare_call};
use crate::backend::timing::MeasurePlan;
use crate::backend::{ExecError, Executor};
use crate::numerics::HostTensor;
use crate::suite::Case;

use super::require::{self, Baseline};
use crate::perf::{ThroughputSpec, cost};

/// Input variants per measurement: the case's own inputs and one more set
/// from another seed (see [`crate::backend::timing`] for why).
pub const VARIANTS: usize = 2;

/// The seed of input variant `k` of `case` (variant 0 is the case's own).
fn variant_seed(case: &Case, k: usize) -> u64 {
    case.seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The time limit of a whole measurement: the plan's cap plus a per-call
/// limit for every untimed call and one timed call more.
pub fn measure_limit(plan: &MeasurePlan, per_call: Duration) -> Duration {
    let calls = plan.warmup + VARIANTS as u32 + 1;
    Duration::from_secs_f64(plan.max_time_s) + per_call * calls
}

/// Measures `case` (which already passed its correctness run, giving
/// `result`) and fills `result.throughput`. A variant whose outputs fail
/// their checks, a memory-safety finding, or a missed requirement of
/// `spec` turns the result into `fail` with the figures in the message; a
/// crash or hang during measurement becomes `crash` / `timeout`.
pub fn measure_case(
    backend: &mut dyn Executor,
    case: &Case,
    spec: &ThroughputSpec,
    per_call: Duration,
    baseline: Option<&Baseline>,
    result: &mut CaseResult,
) {
    let mut inputs: Vec<Vec<Option<HostTensor>>> = Vec::with_capacity(VARIANTS);
    let mut calls = Vec::with_capacity(VARIANTS);
    let mut expected = Vec::with_capacity(VARIANTS);
    for k in 0..VARIANTS {
        let mut c = case.clone();
        c.seed = variant_seed(case, k);
        let inp = crate::suite::generate_inputs(&c);
        match prepare_call(case, &inp) {
            Ok((call, exp)) => {
                calls.push(call);
                expected.push(exp);
                inputs.push(inp);
            }
            Err(e) => {
                fail(
                    result,
                    Status::Error,
                    format!("measurement: variant {k}: {e}"),
                );
                return;
            }
        }
    }
    // The declared precision sets the bound checks' unit roundoff.
    let (precision, flush) = match backend.query(&mut calls[0], per_call) {
        Ok(a) => (a.precision, a.numeric.into()),
        Err(e) => {
            fail(
                result,
                Status::Error,
                format!("measurement: query_op failed: {e}"),
            );
            return;
        }
    };
    let plan = spec.plan();
    let measured = match backend.measure(&mut calls, &plan, measure_limit(&plan, per_call)) {
        Ok(m) => m,
        Err(e) => {
            let status = match e {
                ExecError::Crashed { .. } => Status::Crash,
                ExecError::TimedOut { .. } => Status::Timeout,
                _ => Status::Error,
            };
            fail(result, status, format!("measurement failed: {e}"));
            return;
        }
    };
    let mut problems: Vec<String> = measured.findings.clone();
    for (k, ((call, exp), inp)) in calls.iter().zip(&expected).zip(&inputs).enumerate() {
        let (_, failures) = compare_outputs(case, inp, exp, call, precision, flush);
        problems.extend(
            failures
                .into_iter()
                .map(|f| format!("after timing, input variant {k}: {f}")),
        );
    }

    let first = &calls[0];
    let in_shapes: Vec<Option<(Vec<usize>, crate::numerics::DType)>> = inputs[0]
        .iter()
        .map(|t| t.as_ref().map(|t| (t.shape.clone(), t.dtype)))
        .collect();
    let in_refs: Vec<Option<cost::Shape<'_>>> = in_shapes
        .iter()
        .map(|s| s.as_ref().map(|(s, d)| (s.as_slice(), *d)))
        .collect();
    let out_shapes: Vec<(Vec<usize>, crate::numerics::DType)> = first
        .outputs
        .iter()
        .map(|o| (o.shape.iter().map(|&d| d as usize).collect(), o.dtype))
        .collect();
    let out_refs: Vec<cost::Shape<'_>> =
        out_shapes.iter().map(|(s, d)| (s.as_slice(), *d)).collect();
    let c = cost::cost(case.def(), &case.attributes, &in_refs, &out_refs);
    let Some(st) = crate::perf::stats::stats(&measured.samples_s) else {
        fail(
            result,
            Status::Error,
            "measurement returned no samples".into(),
        );
        return;
    };
    let rate = |amount: f64| (st.median > 0.0).then(|| amount / st.median / 1e9);
    let t = Throughput {
        iterations: measured.samples_s.len() as u64,
        samples_s: measured.samples_s,
        median_s: st.median,
        p10_s: st.p10,
        p90_s: st.p90,
        mad_s: st.mad,
        flops: c.flops,
        bytes: Some(c.bytes),
        gflops: c.flops.and_then(rate),
        gbps: rate(c.bytes),
    };
    problems.extend(require::violations(spec, &case.id, &t, baseline));
    result.throughput = Some(t);
    if !problems.is_empty() {
        fail(result, Status::Fail, problems.join("; "));
    }
}

/// Sets a worse status and puts `msg` first in the message (a `warn`
/// note already there is kept after it).
fn fail(result: &mut CaseResult, status: Status, msg: String) {
    let old = result.message.take();
    result.status = status;
    result.message = Some(match old {
        Some(m) => format!("{msg}; {m}"),
        None => msg,
    });
}

/// After the correctness run of `case`: measures it when its suite asks
/// (`throughput:`) or `measure_all` (`run --measure`) is set, and it
/// passed (a wrong answer has no throughput worth quoting).
pub fn after_run(
    backend: &mut dyn Executor,
    case: &Case,
    measure_all: bool,
    per_call: Duration,
    baseline: Option<&Baseline>,
    result: &mut CaseResult,
) {
    let spec = match (case.throughput, measure_all) {
        (Some(s), _) => s,
        (None, true) => ThroughputSpec::default(),
        (None, false) => return,
    };
    if !matches!(result.status, Status::Pass | Status::Warn) {
        return;
    }
    measure_case(backend, case, &spec, per_call, baseline, result);
}
