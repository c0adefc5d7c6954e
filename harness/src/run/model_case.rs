//! Running a model case: the oracle path in the harness, the backend path
//! as a job where the library lives (`model::run`), end-to-end checks, the
//! per-layer error profile, and operator attribution by swapping one op kind
//! at a time to the reference.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{CaseResult, ModelSummary, Status};
use crate::backend::Executor;
use crate::model::exec::OracleExec;
use crate::model::run::{
    MODEL_JOB, ModelJob, Outcome, PathError, PathOutput, argmax, drive, top_k,
};
use crate::model::source;
use crate::model::spec::{ModelCase, Thresholds};

/// `v >= min`, false for NaN.
fn at_least(v: f64, min: f64) -> bool {
    v >= min
}

/// `v <= max`, false for NaN.
fn at_most(v: f64, max: f64) -> bool {
    v <= max
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 && bb == 0.0 {
        return 1.0;
    }
    ab / (aa.sqrt() * bb.sqrt())
}

fn rel_l2(actual: &[f64], expected: &[f64]) -> f64 {
    let (mut d, mut n) = (0.0, 0.0);
    for (x, y) in actual.iter().zip(expected) {
        d += (x - y) * (x - y);
        n += y * y;
    }
    if n == 0.0 {
        return d.sqrt();
    }
    (d / n).sqrt()
}

fn max_abs(actual: &[f64], expected: &[f64]) -> f64 {
    actual
        .iter()
        .zip(expected)
        .map(|(x, y)| {
            if x.is_nan() || y.is_nan() {
                f64::INFINITY
            } else {
                (x - y).abs()
            }
        })
        .fold(0.0, f64::max)
}

/// The end-to-end comparison of a backend path with the oracle path.
#[derive(Debug, Clone, Default)]
struct Verdict {
    metrics: BTreeMap<String, f64>,
    failures: Vec<String>,
    profile: Vec<(String, f64)>,
    first_divergent: Option<String>,
}

fn judge(
    oracle: &PathOutput,
    backend: &PathOutput,
    decoder: bool,
    t: &Thresholds,
    positions: usize,
) -> Verdict {
    let mut v = Verdict::default();
    let n = positions
        .min(oracle.outputs.len())
        .min(backend.outputs.len());
    if n == 0 || backend.outputs.len() < positions.min(oracle.outputs.len()) {
        v.failures.push(format!(
            "the backend produced {} outputs, the oracle {}",
            backend.outputs.len(),
            oracle.outputs.len()
        ));
        return v;
    }
    let pairs = || oracle.outputs.iter().zip(&backend.outputs).take(n);
    let cos_min = pairs()
        .map(|(o, b)| cosine(b, o))
        .fold(f64::INFINITY, f64::min);
    let rel_max = pairs().map(|(o, b)| rel_l2(b, o)).fold(0.0, f64::max);
    let abs_max = pairs().map(|(o, b)| max_abs(b, o)).fold(0.0, f64::max);
    let check_min = |name: &str, value: f64, min: Option<f64>, v: &mut Verdict| {
        v.metrics.insert(name.into(), value);
        if let Some(m) = min
            && !at_least(value, m)
        {
            v.failures.push(format!("{name} {value:.6} < {m}"));
        }
    };
    if decoder {
        check_min("logits_cosine_min", cos_min, t.logits_cosine_min, &mut v);
        let top1 = pairs()
            .zip(&oracle.tokens)
            .filter(|((_, b), tok)| argmax(b) == **tok)
            .count() as f64
            / n as f64;
        check_min("top1_agreement", top1, t.top1_min, &mut v);
        let top5 = pairs()
            .map(|(o, b)| {
                let (a, c) = (top_k(o, 5), top_k(b, 5));
                a.iter().filter(|x| c.contains(x)).count() as f64 / 5.0
            })
            .sum::<f64>()
            / n as f64;
        check_min("top5_overlap", top5, t.top5_min, &mut v);
        v.metrics.insert("logits_max_abs".into(), abs_max);
        if let Some(m) = t.logits_max_abs
            && !at_most(abs_max, m)
        {
            v.failures
                .push(format!("logits_max_abs {abs_max:.6} > {m}"));
        }
        v.metrics.insert("positions".into(), n as f64);
    } else {
        check_min(
            "embedding_cosine_min",
            cos_min,
            t.embedding_cosine_min,
            &mut v,
        );
        v.metrics.insert("embedding_rel_l2_max".into(), rel_max);
        if let Some(m) = t.embedding_rel_l2_max
            && !at_most(rel_max, m)
        {
            v.failures
                .push(format!("embedding_rel_l2_max {rel_max:.3e} > {m}"));
        }
    }
    for (o, b) in oracle.probes.iter().zip(&backend.probes) {
        let e = rel_l2(&b.data, &o.data);
        let e = if e.is_nan() { f64::INFINITY } else { e };
        v.profile.push((o.label.clone(), e));
        v.metrics.insert(format!("{} rel_l2", o.label), e);
        if v.first_divergent.is_none() && !at_most(e, t.layer_rel_l2_max) {
            v.first_divergent = Some(o.label.clone());
            v.failures.push(format!(
                "{}: hidden-state rel L2 {e:.3e} > {}",
                o.label, t.layer_rel_l2_max
            ));
        }
    }
    v
}

/// The per-layer error profile on one line: `layer 0 3.1e-7, layer 1 ...`.
pub fn profile_line(profile: &[(String, f64)]) -> String {
    profile
        .iter()
        .map(|(l, e)| format!("{} {e:.1e}", l.trim_start_matches("layer ")))
        .collect::<Vec<_>>()
        .join(" | ")
}

fn decode_outcome(bytes: &[u8]) -> Outcome {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        Err(PathError {
            kind: "config".into(),
            message: format!("unreadable model outcome from the backend side: {e}"),
        })
    })
}

/// Everything a model case needs from the run.
pub struct ModelRunCtx<'a> {
    /// The reference library for attribution (None: no attribution).
    pub reference: Option<&'a Path>,
    /// Where to write the outputs of both paths (`<dir>/<case id>/`).
    pub dump_dir: Option<&'a Path>,
    /// Time limit of one backend-path run.
    pub limit: Duration,
}

/// Runs one model case and judges it.
pub fn run_model_case(exec: &mut dyn Executor, case: &ModelCase, ctx: &ModelRunCtx) -> CaseResult {
    let suite = &case.suite;
    let mut result = CaseResult::for_model(
        &case.id,
        case.dtype,
        suite.path.display().to_string(),
        Status::Error,
        None,
    );
    let mut summary = ModelSummary {
        name: suite.model.clone(),
        family: suite.family.name().into(),
        ..ModelSummary::default()
    };
    let model = match source::open(suite, true) {
        Ok(m) => m,
        Err(e) => {
            result.message = Some(e.to_string());
            result.model = Some(summary);
            return result;
        }
    };
    let started = Instant::now();
    let thresholds = suite
        .thresholds
        .get(case.dtype.name())
        .cloned()
        .unwrap_or_default();
    let mut o = OracleExec::new(case.dtype, model.weights.as_ref());
    o.routing_slack = Some(thresholds.layer_rel_l2_max);
    let oracle = match drive(&mut o, &model, case.dtype, suite, None, false) {
        Ok(mut out) => {
            out.probes = std::mem::take(&mut o.probes);
            out.routing = std::mem::take(&mut o.routings);
            out
        }
        Err(e) => {
            result.message = Some(format!("the oracle cannot run this model: {e}"));
            result.model = Some(summary);
            return result;
        }
    };
    drop(o);
    let oracle_seconds = started.elapsed().as_secs_f64();
    let job = |swap: Vec<String>, prefill_only: bool| ModelJob {
        suite: suite.clone(),
        suite_path: suite.path.clone(),
        dtype: case.dtype.name().into(),
        forced: oracle.tokens.clone(),
        swap,
        reference: ctx.reference.map(Path::to_path_buf),
        prefill_only,
        routing: oracle.routing.clone(),
    };
    let run_job = |exec: &mut dyn Executor, j: &ModelJob| {
        let bytes = serde_json::to_vec(j).expect("a job serializes");
        exec.run_job(&MODEL_JOB, &bytes, ctx.limit)
            .map(|b| decode_outcome(&b))
    };
    let backend = match run_job(exec, &job(Vec::new(), false)) {
        Err(e) => {
            if !crate::run::lost(&mut result, &e) {
                result.message = Some(format!("model run failed: {e}"));
            }
            result.model = Some(summary);
            return result;
        }
        Ok(Err(pe)) => {
            result.status = match pe.kind.as_str() {
                "unsupported" => Status::Unsupported,
                "memory" => Status::Fail,
                _ => Status::Error,
            };
            result.message = Some(pe.message);
            result.model = Some(summary);
            return result;
        }
        Ok(Ok(b)) => b,
    };
    let decoder = suite.family.is_decoder();
    let positions = oracle.outputs.len();
    let mut verdict = judge(&oracle, &backend, decoder, &thresholds, positions);
    if !backend.weights_changed.is_empty() {
        verdict.failures.insert(
            0,
            format!(
                "the backend wrote into resident weights: {}",
                backend.weights_changed.join(", ")
            ),
        );
    }
    // Throughput, from the time inside run_op only.
    let prompt_tokens = if decoder {
        suite.inputs.prompt.len()
    } else {
        suite.inputs.sentences.iter().map(|s| s.ids.len()).sum()
    };
    if backend.prefill_s > 0.0 {
        summary.prefill_tokens_per_s = Some(prompt_tokens as f64 / backend.prefill_s);
    }
    if decoder {
        summary.ttft_s = Some(backend.prefill_s);
        let mut d = backend.decode_s.clone();
        d.sort_by(f64::total_cmp);
        if let Some(&med) = d.get(d.len() / 2)
            && med > 0.0
        {
            summary.decode_tokens_per_s = Some(1.0 / med);
        }
    }
    let tp = &suite.throughput;
    if let (Some(min), Some(got)) = (tp.min_prefill_tokens_per_s, summary.prefill_tokens_per_s)
        && got < min
    {
        verdict
            .failures
            .push(format!("prefill {got:.1} tokens/s < required {min}"));
    }
    if let (Some(min), Some(got)) = (tp.min_decode_tokens_per_s, summary.decode_tokens_per_s)
        && got < min
    {
        verdict
            .failures
            .push(format!("decode {got:.1} tokens/s < required {min}"));
    }
    result.run_seconds = backend.times.total();
    summary.metrics = verdict.metrics.clone();
    if !oracle.routing.is_empty() {
        summary
            .metrics
            .insert("rerouted_tokens".into(), backend.rerouted as f64);
    }
    summary
        .metrics
        .insert("oracle_seconds".into(), oracle_seconds);
    summary.first_divergent_layer = verdict.first_divergent.clone();

    // Attribution: which single op kind, run on the reference instead,
    // brings the prefill back within bounds.
    let numeric_failure = !verdict.failures.is_empty() && backend.weights_changed.is_empty();
    let is_reference = ctx
        .reference
        .and_then(|r| r.canonicalize().ok())
        .zip(exec.path().canonicalize().ok())
        .is_some_and(|(a, b)| a == b);
    let mut blamed = Vec::new();
    if numeric_failure && ctx.reference.is_some() && !is_reference {
        let prefill_positions = 1.min(positions);
        for kind in backend.times.calls.keys() {
            let rerun = run_job(exec, &job(vec![kind.clone()], true));
            if let Ok(Ok(b)) = rerun {
                let v = judge(&oracle, &b, decoder, &thresholds, prefill_positions);
                let first_ok = !decoder || oracle.tokens.first() == b.tokens.first();
                if v.failures.is_empty() && first_ok {
                    blamed.push(kind.clone());
                }
            }
        }
        summary.blamed_op = match blamed.len() {
            0 => None,
            _ => Some(blamed.join(", ")),
        };
    }
    if let Some(dir) = ctx.dump_dir {
        let d = dir.join(&case.id);
        if let Err(e) = crate::model::dump::write(&d, &oracle, &backend, &verdict.profile) {
            eprintln!(
                "xpucert: warning: cannot write model outputs to {}: {e}",
                d.display()
            );
        }
    }
    if verdict.failures.is_empty() {
        result.status = Status::Pass;
    } else {
        result.status = Status::Fail;
        let mut msg = verdict.failures.join("; ");
        if let Some(l) = &verdict.first_divergent {
            msg.push_str(&format!("; first divergent: {l}"));
        }
        if let Some(note) = backend.routing_notes.first() {
            msg.push_str(&format!(
                "; routing differs from the oracle's beyond near-ties ({} MoE calls), first: {note}",
                backend.routing_notes.len()
            ));
        }
        if numeric_failure && ctx.reference.is_some() && !is_reference {
            msg.push_str(&match blamed.as_slice() {
                [] => {
                    "; no single op kind swapped to the reference restores conformance".to_string()
                }
                [one] => format!("; swapping {one} to the reference restores conformance"),
                many => format!(
                    "; swapping any of {} to the reference restores conformance",
                    many.join(", ")
                ),
            });
        }
        msg.push_str(&format!(
            "; layer profile (rel L2): {}",
            profile_line(&verdict.profile)
        ));
        result.message = Some(msg);
    }
    result.model = Some(summary);
    result
}

/// One line for the terminal about a finished model case.
pub fn summary_line(r: &CaseResult) -> Option<String> {
    let m = r.model.as_ref()?;
    let g = |k: &str| m.metrics.get(k).copied();
    let mut parts = vec![format!("{} {}", r.id, r.status)];
    if let Some(c) = g("embedding_cosine_min") {
        parts.push(format!("embedding cos min {c:.7}"));
    }
    if let Some(c) = g("logits_cosine_min") {
        parts.push(format!("logits cos min {c:.7}"));
    }
    if let (Some(t), Some(n)) = (g("top1_agreement"), g("positions")) {
        parts.push(format!("top-1 {}/{}", (t * n).round(), n));
    }
    if let Some(t) = g("top5_overlap") {
        parts.push(format!("top-5 {t:.3}"));
    }
    if let Some(x) = m.prefill_tokens_per_s {
        parts.push(format!("prefill {x:.0} tok/s"));
    }
    if let Some(x) = m.decode_tokens_per_s {
        parts.push(format!("decode {x:.1} tok/s"));
    }
    if let Some(x) = m.ttft_s {
        parts.push(format!("TTFT {:.0} ms", x * 1e3));
    }
    Some(parts.join(", "))
}
