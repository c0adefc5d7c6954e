//! A model case's backend path as a job where the library lives (the
//! worker, or in process with `--isolation none`): [`MODEL_JOB`] opens the
//! weights there and drives the graph through the library; [`drive`] runs a
//! model on any executor, the oracle's included. Judging the two paths is
//! the run's work (`run::model_case`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::exec::{BackendExec, Exec, ModelError, OpTimes, Probe, Resident};
use super::graph::{self, KvCache, Routing};
use super::source::{self, Config, Model};
use super::spec::ModelSuite;
use crate::backend::DylibBackend;
use crate::backend::jobs::{JobHandler, JobHandlers};
use crate::numerics::DType;

/// What the backend path is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelJob {
    /// The suite.
    pub suite: ModelSuite,
    /// Its file (serde skips `suite.path`).
    pub suite_path: PathBuf,
    /// Run dtype name.
    pub dtype: String,
    /// Teacher forcing: the tokens fed at decode steps 1.. (the oracle's
    /// greedy choices), so one early mismatch does not cascade.
    pub forced: Vec<i64>,
    /// Op kinds to run on the reference library instead (attribution).
    pub swap: Vec<String>,
    /// The reference library, for `swap`.
    pub reference: Option<PathBuf>,
    /// Stop after the prefill (attribution reruns).
    pub prefill_only: bool,
    /// The oracle's MoE routing, which this path follows across near-ties
    /// (`graph::deepseek::routing`).
    #[serde(default)]
    pub routing: Vec<Routing>,
}

/// One path's results.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PathOutput {
    /// Encoder: one embedding per sentence. Decoder: the logits at each
    /// generated position (the prefill's last position first).
    pub outputs: Vec<Vec<f64>>,
    /// Decoder: the argmax at each position.
    pub tokens: Vec<i64>,
    /// Hidden state after each layer, during the prefill.
    pub probes: Vec<Probe>,
    /// Seconds inside run_op for the prefill (backend path).
    pub prefill_s: f64,
    /// Seconds inside run_op per decode step (backend path).
    pub decode_s: Vec<f64>,
    /// Time per op kind (backend path).
    pub times: OpTimes,
    /// Resident weights whose bytes changed during the run.
    pub weights_changed: Vec<String>,
    /// The oracle path's MoE routing, in call order.
    #[serde(default)]
    pub routing: Vec<Routing>,
    /// Backend path: tokens run on the oracle's experts instead of their
    /// own near-tie choice.
    #[serde(default)]
    pub rerouted: usize,
    /// Backend path: where its routing differed from the oracle's beyond
    /// the slack.
    #[serde(default)]
    pub routing_notes: Vec<String>,
}

/// Why the backend path stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathError {
    /// `unsupported`, `backend`, `memory`, `weights` or `config`.
    pub kind: String,
    /// What went wrong.
    pub message: String,
}

impl From<ModelError> for PathError {
    fn from(e: ModelError) -> Self {
        let kind = match &e {
            ModelError::Unsupported { .. } => "unsupported",
            ModelError::Backend { .. } => "backend",
            ModelError::Memory { .. } => "memory",
            ModelError::Weights(_) => "weights",
            ModelError::Oracle(_) | ModelError::Config(_) => "config",
        };
        PathError {
            kind: kind.into(),
            message: e.to_string(),
        }
    }
}

/// What one path of a model run gives: its outputs, or why it stopped.
pub type Outcome = Result<PathOutput, PathError>;

/// The index of the largest value (the predicted token); NaN never wins.
pub fn argmax(v: &[f64]) -> i64 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] || (v[best].is_nan() && !x.is_nan()) {
            best = i;
        }
    }
    best as i64
}

/// The indices of the `k` largest values, largest first, ties by index.
pub fn top_k(v: &[f64], k: usize) -> Vec<usize> {
    crate::ops::top_indices(v, 0..v.len(), k)
}

/// Runs the model on `e`: the prefill (profiled), then the decode steps.
pub fn drive<E: Exec>(
    e: &mut E,
    model: &Model,
    dtype: DType,
    suite: &ModelSuite,
    forced: Option<&[i64]>,
    prefill_only: bool,
) -> Result<PathOutput, ModelError> {
    let mut out = PathOutput::default();
    let flat = |e: &mut E, t: &E::T| e.read(t).1;
    match &model.config {
        Config::Bert(cfg) => {
            let sentences: Vec<Vec<i64>> = suite
                .inputs
                .sentences
                .iter()
                .map(|s| s.ids.clone())
                .collect();
            let emb = graph::bert_embed(e, cfg, dtype, &sentences)?;
            let (shape, data) = e.read(&emb);
            out.outputs = data.chunks(shape[1].max(1)).map(<[f64]>::to_vec).collect();
            out.prefill_s = e.busy_seconds();
        }
        Config::Llama(_) | Config::Deepseek(_) => {
            let mut cache: KvCache<E::T> = Vec::new();
            let step =
                |e: &mut E, ids: &[i64], start: usize, cache: &mut KvCache<E::T>| match &model
                    .config
                {
                    Config::Llama(c) => graph::llama_step(e, c, dtype, ids, start, cache),
                    Config::Deepseek(c) => graph::deepseek_step(e, c, dtype, ids, start, cache),
                    Config::Bert(_) => unreachable!("matched above"),
                };
            let prompt = &suite.inputs.prompt;
            let logits = step(e, prompt, 0, &mut cache)?;
            let l = flat(e, &logits);
            out.tokens.push(argmax(&l));
            out.outputs.push(l);
            out.prefill_s = e.busy_seconds();
            e.set_recording(false);
            let decode = if prefill_only {
                1
            } else {
                suite.inputs.decode.max(1)
            };
            for i in 1..decode {
                let feed = match forced {
                    Some(f) => *f.get(i - 1).ok_or_else(|| {
                        ModelError::Config(format!(
                            "teacher forcing needs {} tokens, got {}",
                            decode - 1,
                            f.len()
                        ))
                    })?,
                    None => out.tokens[i - 1],
                };
                let before = e.busy_seconds();
                let logits = step(e, &[feed], prompt.len() + i - 1, &mut cache)?;
                let l = flat(e, &logits);
                out.decode_s.push(e.busy_seconds() - before);
                out.tokens.push(argmax(&l));
                out.outputs.push(l);
            }
        }
    }
    Ok(out)
}

thread_local! {
    /// The last job's prepared weights, by model file and dtype.
    static RESIDENT: std::cell::RefCell<Option<(String, Resident)>> =
        const { std::cell::RefCell::new(None) };
}

/// A model's backend path as a job that runs where the library lives (in
/// the worker, or in process with `--isolation none`), so weights are
/// prepared next to the library and never cross the pipe: the job is a JSON
/// [`ModelJob`], the answer the JSON of its outcome.
pub const MODEL_JOB: JobHandler = JobHandler {
    kind: "model",
    during: "a model run",
    serve: serve_job,
};

/// The job handlers a worker process serves: the `worker` subcommand
/// registers these before [`crate::backend::worker::serve`], so every job
/// a run sends to a worker has its handler there.
pub fn worker_handlers() -> JobHandlers {
    let mut handlers = JobHandlers::new();
    handlers.register(MODEL_JOB);
    handlers
}

/// The worker's (or in-process) side of a model run: opens the model's
/// weights here, runs every op through `lib`, returns the outcome as JSON.
fn serve_job(lib: &DylibBackend, job: &[u8]) -> Vec<u8> {
    let outcome: Outcome = (|| {
        let job: ModelJob = serde_json::from_slice(job).map_err(|e| PathError {
            kind: "config".into(),
            message: format!("bad model job: {e}"),
        })?;
        let mut suite = job.suite.clone();
        suite.path = job.suite_path.clone();
        let dtype = DType::from_name(&job.dtype).ok_or_else(|| PathError {
            kind: "config".into(),
            message: format!("unknown dtype {}", job.dtype),
        })?;
        let model = source::open(&suite, false)?;
        let reference = match (&job.reference, job.swap.is_empty()) {
            (Some(p), false) => Some(DylibBackend::open(p, &[]).map_err(|e| PathError {
                kind: "config".into(),
                message: format!("cannot open the reference for attribution: {e}"),
            })?),
            _ => None,
        };
        let swap = reference
            .as_ref()
            .map(|r| (r, job.swap.iter().cloned().collect::<BTreeSet<String>>()));
        // Weights prepared by the previous job stay resident when it ran the
        // same model file at the same dtype (attribution reruns).
        let key = format!("{}|{}|{}", suite.path.display(), suite.sha256, job.dtype);
        let resident = RESIDENT.with_borrow_mut(|r| match r.take() {
            Some((k, w)) if k == key => w,
            _ => Resident::default(),
        });
        let mut e = BackendExec::new(lib, swap, dtype, model.weights.as_ref(), resident);
        e.routing = job.routing.iter().cloned().collect();
        let driven = drive(
            &mut e,
            &model,
            dtype,
            &suite,
            Some(&job.forced),
            job.prefill_only,
        );
        let probes = std::mem::take(&mut e.probes);
        let times = e.times.clone();
        let (rerouted, routing_notes) = (e.rerouted, std::mem::take(&mut e.routing_notes));
        let changed = e.weights_intact();
        if changed.is_empty() {
            let kept = e.into_resident();
            RESIDENT.with_borrow_mut(|r| *r = Some((key, kept)));
        }
        let mut out = driven?;
        out.probes = probes;
        out.times = times;
        out.weights_changed = changed;
        out.rerouted = rerouted;
        out.routing_notes = routing_notes;
        Ok(out)
    })();
    serde_json::to_vec(&outcome).unwrap_or_else(|e| {
        serde_json::to_vec(&Outcome::Err(PathError {
            kind: "config".into(),
            message: format!("cannot encode the model outcome: {e}"),
        }))
        .unwrap_or_default()
    })
}
