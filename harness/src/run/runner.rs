//! The [`Runner`]: owns one run from an opened backend to `results.json`.
//!
//! It takes a [`Plan`] (cases, backend, options, shard), reads the resume
//! state, runs the op cases (each checked, then measured if asked) and the
//! model cases, stops cleanly on SIGINT/SIGTERM, and tells its observers
//! every step as a [`RunEvent`]. It prints nothing but warnings: the
//! progress bar, the results files and the reports are observers.
//!
//! From before the backend is loaded until the run returns it holds the
//! output directory's lock (`outlock.rs`) and the run's guard rails
//! (`guard.rs`); a resume first records the case an earlier invocation
//! died in (`inflight.rs`).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::events::{Observer, RunEvent};
use super::guard::{NO_ISOLATION, RunGuard};
use super::outlock::{self, OutLock};
use super::plan::{Isolation, Plan, RunError, library_sha256};
use super::results::{self, Provenance, ResultsFile, RunHeader, SuiteInfo, Summary, utc_now};
use super::resume::ResumeState;
use super::{CaseResult, Status, inflight, interrupt, run_case, time_limit};
use crate::backend::{self, Executor};

/// The message of cases an interrupted run never ran.
const NOT_RUN: &str = "not run: interrupted";

/// What a finished run leaves: its results and whether it was interrupted.
#[derive(Debug)]
pub struct RunOutcome {
    /// What `results.json` holds.
    pub results: ResultsFile,
    /// SIGINT or SIGTERM stopped it; `--resume` continues it.
    pub interrupted: bool,
}

/// Runs a [`Plan`] against an opened backend.
pub struct Runner {
    plan: Plan,
    // Dropped first, so a worker ends (and its strays are swept) while the
    // guard and the lock still hold.
    backend: Box<dyn Executor>,
    guard: RunGuard,
    _lock: OutLock,
}

impl Runner {
    /// Takes the output directory's lock (another run holding it is a
    /// [`RunError::Config`] naming its pid), then opens the plan's backend
    /// under the run's guard (a load error is [`RunError::Load`]).
    pub fn new(plan: Plan) -> Result<Self, RunError> {
        let lock =
            outlock::acquire(&plan.config.out).map_err(|e| RunError::Config(e.to_string()))?;
        let guard = RunGuard::loading(plan.config.isolation);
        let backend = plan.open_backend()?;
        guard.running();
        Ok(Runner {
            plan,
            backend,
            guard,
            _lock: lock,
        })
    }

    /// Loads `config` and runs it as `run` does: the progress bar on stderr
    /// and the results files in `config.out` first, then `reporter`. What
    /// `run`, `certify` and `verify --rerun` share.
    pub fn run_recorded(
        config: super::RunConfig,
        reporter: Option<&mut dyn Observer>,
    ) -> Result<RunOutcome, RunError> {
        let runner = Runner::new(Plan::load(config)?)?;
        let mut progress = super::progress::ProgressObserver::new();
        let mut recorder = super::record::ResultsRecorder::new();
        match reporter {
            Some(r) => runner.run(&mut [&mut progress, &mut recorder, r]),
            None => runner.run(&mut [&mut progress, &mut recorder]),
        }
    }

    /// Runs every case not already done and returns the results; each
    /// observer sees every event, in the order given. An observer's error
    /// stops the run as a [`RunError::Config`].
    pub fn run(mut self, observers: &mut [&mut dyn Observer]) -> Result<RunOutcome, RunError> {
        let mut emit = |event: RunEvent<'_>| -> Result<(), RunError> {
            for o in observers.iter_mut() {
                o.on_event(&event)
                    .map_err(|e| RunError::Config(e.to_string()))?;
            }
            Ok(())
        };
        let plan = &self.plan;
        let config = &plan.config;
        let b = self.backend.as_mut();
        let isolation_warning =
            (config.isolation == Isolation::None).then(|| NO_ISOLATION.to_string());
        let manifest = match b.manifest() {
            Ok(m) => serde_json::from_str(&m).unwrap_or(serde_json::Value::String(m)),
            Err(e) => {
                eprintln!(
                    "xpucert: warning: get_manifest failed: {}",
                    crate::text::escape(&e.to_string())
                );
                serde_json::Value::Null
            }
        };
        let suite_infos = suite_infos(plan);
        let header = RunHeader {
            record: RunHeader::RECORD.into(),
            schema: results::SCHEMA.into(),
            schema_version: results::SCHEMA_VERSION,
            suites: suite_infos.clone(),
            backend_path: canonical_path(b),
            backend_sha256: library_sha256(b.path()),
            filters: config.filters.clone(),
            settings: settings(plan),
            started_at: plan.started_at.clone(),
            isolation_warning: isolation_warning.clone(),
        };
        let ids = plan
            .cases
            .iter()
            .map(|c| c.id.as_str())
            .chain(plan.model_cases.iter().map(|c| c.id.as_str()));
        let resumed = if config.resume {
            Some(
                ResumeState::load(&config.out, &header, ids)
                    .map_err(|e| RunError::Config(e.to_string()))?,
            )
        } else {
            None
        };
        let (mut done, started_at, resume_from) = match resumed {
            Some(r) => (r.done, r.started_at, Some(r.valid_len)),
            None => (HashMap::new(), header.started_at.clone(), None),
        };
        // The case an earlier invocation died in, if its marker says so:
        // recorded (below, once the files are open) instead of run again.
        let died_in = if config.resume {
            inflight::read(&config.out)
                .filter(|m| !done.contains_key(&m.case))
                .and_then(|m| died_in_case(plan, &m))
        } else {
            None
        };
        if isolation_warning.is_some() {
            eprintln!("xpucert: warning: {NO_ISOLATION}");
        }
        if let Err(e) = interrupt::install() {
            eprintln!("xpucert: warning: cannot catch Ctrl-C: {e}");
        }
        emit(RunEvent::Started {
            config,
            header: &header,
            resume_from,
            total: plan.cases.len() + plan.model_cases.len(),
            done: done.len(),
        })?;
        let waive = |r: &mut CaseResult| {
            if let Some(w) = &plan.waivers {
                w.apply(r);
            }
        };
        if let Some(mut r) = died_in {
            waive(&mut r);
            emit(RunEvent::CaseFinished { result: &r })?;
            done.insert(r.id.clone(), r);
        }

        let base = config.base_limit();
        for case in &plan.cases {
            if done.contains_key(&case.id) {
                continue;
            }
            if interrupt::requested() {
                break;
            }
            emit(RunEvent::CaseStarted { id: &case.id })?;
            let limit = time_limit(case, base);
            let mut r = run_case(b, case, limit);
            super::measure::after_run(
                b,
                case,
                config.measure,
                limit,
                plan.baseline.as_ref(),
                &mut r,
            );
            if interrupt::requested() {
                // Abandoned: its worker may have been killed by the same signal,
                // so the result says nothing; a resume runs it again.
                break;
            }
            waive(&mut r);
            emit(RunEvent::CaseFinished { result: &r })?;
            done.insert(r.id.clone(), r);
        }
        // Model cases after the op cases: each runs the oracle here and the
        // backend path where the library lives (the worker), then judges.
        let reference = backend::resolve("reference").ok().filter(|p| p.exists());
        let dump_dir = config.out.join("models");
        for mc in &plan.model_cases {
            if done.contains_key(&mc.id) || interrupt::requested() {
                continue;
            }
            emit(RunEvent::CaseStarted { id: &mc.id })?;
            let ctx = super::model_case::ModelRunCtx {
                reference: reference.as_deref(),
                dump_dir: Some(&dump_dir),
                limit: Duration::from_secs_f64(
                    mc.suite.timeout.unwrap_or(900.0).max(config.timeout),
                ),
            };
            let mut r = super::model_case::run_model_case(b, mc, &ctx);
            if interrupt::requested() {
                break;
            }
            waive(&mut r);
            emit(RunEvent::CaseFinished { result: &r })?;
            done.insert(r.id.clone(), r);
        }
        let interrupted = interrupt::requested();
        if interrupted {
            emit(RunEvent::Interrupted)?;
        }
        // The report goes to the real stdout (`--isolation none` pointed fd
        // 1 at stderr while the backend ran).
        self.guard.restore_stdout();
        let mut cases: Vec<CaseResult> = plan
            .cases
            .iter()
            .map(|c| {
                done.remove(&c.id)
                    .unwrap_or_else(|| CaseResult::skipped(c, NOT_RUN))
            })
            .collect();
        cases.extend(plan.model_cases.iter().map(|mc| {
            done.remove(&mc.id).unwrap_or_else(|| {
                CaseResult::for_model(
                    &mc.id,
                    mc.dtype,
                    mc.suite.path.display().to_string(),
                    Status::Skip,
                    Some(NOT_RUN.into()),
                )
            })
        }));

        let waivers = plan.waivers.as_ref().map(|w| w.record(&cases));
        for note in waivers.iter().flat_map(|w| &w.notes) {
            eprintln!("xpucert: warning: {}", crate::text::escape(&note.line()));
        }
        let (major, minor) = b.abi_version();
        let summary = Summary::of(&cases, plan.started.elapsed().as_secs_f64());
        let mut results = ResultsFile {
            schema: results::SCHEMA.to_string(),
            schema_version: results::SCHEMA_VERSION,
            provenance: Provenance {
                harness_version: env!("CARGO_PKG_VERSION").to_string(),
                harness_commit: Some(env!("XPUCERT_GIT_COMMIT").to_string())
                    .filter(|s| !s.is_empty()),
                backend_path: canonical_path(b),
                backend_sha256: library_sha256(b.path()),
                backend_name: b.name().to_string(),
                backend_abi: format!("{major}.{minor}"),
                manifest,
                host: host(),
                suites: suite_infos,
                command: config.command.clone(),
                started_at,
                finished_at: utc_now(),
                isolation_warning,
                profile: config.profile.clone(),
                waivers,
            },
            summary: if interrupted {
                summary.interrupted()
            } else {
                summary
            },
            cases,
            shard: plan.shard.clone(),
            required: None,
        };
        results.required = results.required_coverage();
        emit(RunEvent::Finished {
            config,
            results: &results,
        })?;
        Ok(RunOutcome {
            results,
            interrupted,
        })
    }
}

/// The result of the case an in-flight marker names, if it is a case of
/// this plan and the marker gives a verdict (a first unexplained death
/// gets the case another run instead, said on stderr).
fn died_in_case(plan: &Plan, marker: &inflight::Marker) -> Option<CaseResult> {
    let Some((status, message)) = marker.verdict() else {
        eprintln!(
            "xpucert: warning: the previous invocation (pid {}) died during case {} without \
             recording why (killed by SIGKILL?); running it once more: if the harness dies \
             in it again, the next --resume records it as a crash",
            marker.pid, marker.case
        );
        return None;
    };
    if let Some(c) = plan.cases.iter().find(|c| c.id == marker.case) {
        return Some(CaseResult::new(c, status, Some(message)));
    }
    let mc = plan.model_cases.iter().find(|c| c.id == marker.case)?;
    Some(CaseResult::for_model(
        &mc.id,
        mc.dtype,
        mc.suite.path.display().to_string(),
        status,
        Some(message),
    ))
}

/// The backend library's canonical path (as given when it has none).
fn canonical_path(b: &dyn Executor) -> String {
    b.path()
        .canonicalize()
        .unwrap_or_else(|_| b.path().to_path_buf())
        .display()
        .to_string()
}

/// The suites of the run as its provenance lists them: op suites, then
/// model suites.
fn suite_infos(plan: &Plan) -> Vec<SuiteInfo> {
    plan.suites
        .iter()
        .map(|s| SuiteInfo {
            name: s.name.clone(),
            path: crate::home::portable(&s.path),
            sha256: s.sha256.clone(),
            cases: s.cases.len(),
        })
        .chain(plan.model_suites.iter().map(|s| SuiteInfo {
            name: format!("models.{}", s.model),
            path: crate::home::portable(&s.path),
            sha256: s.sha256.clone(),
            cases: s.dtypes.len(),
        }))
        .collect()
}

/// The settings that change results, compared one by one on resume.
fn settings(plan: &Plan) -> BTreeMap<String, String> {
    let c = &plan.config;
    let mut settings: BTreeMap<String, String> = c
        .options
        .iter()
        .map(|(k, v)| (format!("option.{k}"), v.clone()))
        .collect();
    settings.insert("isolation".into(), c.isolation.name().into());
    settings.insert("timeout".into(), c.timeout.to_string());
    if let Some(s) = &plan.shard {
        settings.insert("shard".into(), format!("{}/{}", s.index, s.total));
    }
    if let Some(p) = &c.profile {
        settings.insert("profile".into(), p.name.clone());
    }
    // Waivers change statuses: a resume with another file would mix two
    // judgements.
    if let Some(w) = &plan.waivers {
        settings.insert("waivers.sha256".into(), w.sha256.clone());
    }
    settings
}

/// Operating system, architecture and logical CPUs of this host.
fn host() -> BTreeMap<String, String> {
    [
        ("os", std::env::consts::OS.to_string()),
        ("arch", std::env::consts::ARCH.to_string()),
        (
            "cpus",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
