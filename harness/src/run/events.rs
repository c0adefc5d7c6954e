//! What a run tells the world: typed [`RunEvent`]s, in order, to every
//! [`Observer`] the caller hands the [`super::Runner`]. The progress bar, the
//! results files and the terminal reports are all observers; the runner knows
//! none of them (the split of cargo-nextest's runner and reporter).
//!
//! Order of one run: `Started`, then per case run now `CaseStarted` and
//! (unless the run was interrupted during it) `CaseFinished`, then
//! `Interrupted` if a stop was asked for, then `Finished`.

use std::path::Path;

use super::CaseResult;
use super::plan::RunConfig;
use super::results::{ResultsFile, RunHeader};

/// One thing that happened during a run.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// The backend is open and the cases are known; nothing has run yet.
    Started {
        /// What the run was asked to do.
        config: &'a RunConfig,
        /// The header of `results.jsonl`: what defines the run.
        header: &'a RunHeader,
        /// For a resumed run, the bytes of `results.jsonl` that hold
        /// complete, valid lines (appending continues after them).
        resume_from: Option<u64>,
        /// Cases of the run (op and model cases).
        total: usize,
        /// Of those, cases an earlier invocation already finished.
        done: usize,
    },
    /// A case starts.
    CaseStarted {
        /// Its id.
        id: &'a str,
    },
    /// A case ended with a result (an abandoned case never gets here).
    CaseFinished {
        /// The result.
        result: &'a CaseResult,
    },
    /// SIGINT or SIGTERM stopped the run; the cases not run are `skip`.
    Interrupted,
    /// The run is over; `results` is what `results.json` holds.
    Finished {
        /// What the run was asked to do.
        config: &'a RunConfig,
        /// Every case, the provenance and the summary.
        results: &'a ResultsFile,
    },
}

/// An observer could not do its part (a results file could not be written);
/// the run stops with this message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ObserverError(pub String);

/// Something that watches a run.
pub trait Observer {
    /// Called for each event, in order. An error stops the run.
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), ObserverError>;
}

/// `dir/results.json`, where a run's results end up.
pub fn results_json_path(dir: &Path) -> std::path::PathBuf {
    dir.join("results.json")
}
