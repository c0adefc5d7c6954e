//! `certify`: run a profile's suites on a backend in this process (through
//! the [`Runner`], as `run --profile` would) or take the results of an
//! earlier run, then write the verifiable bundle.

use std::path::PathBuf;

use super::CertError;
use super::bundle::{Certificate, write_bundle};
use super::profile::{load_profile, profile_path, profile_suites};
use crate::run::plan::DEFAULT_TIMEOUT;
use crate::run::progress::ProgressObserver;
use crate::run::record::ResultsRecorder;
use crate::run::{Isolation, Observer, Plan, RunConfig, RunError, Runner};

/// The folder inside the bundle where `certify --backend` keeps its run
/// (results.json, results.jsonl for `run --resume`). Not part of the
/// certificate: the bundle's own `results.json` is a copy of the run's.
pub const RUN_DIR: &str = "run";

/// Where the results to certify come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Run the profile on this backend (library path or bundled name) with
    /// these backend options.
    Run {
        /// Backend spec.
        backend: String,
        /// Backend context options.
        options: Vec<(String, String)>,
    },
    /// Bundle this results.json of an earlier `run --profile`.
    Results(PathBuf),
}

/// A certification: which profile, where the bundle goes, which results.
#[derive(Debug, Clone)]
pub struct CertifyRequest {
    /// Profile name (`suites/profiles/NAME.yaml`) or path.
    pub profile: String,
    /// Directory of the bundle; a run writes its results files inside it,
    /// in [`RUN_DIR`] (so two bundles never share a run).
    pub out: PathBuf,
    /// The results.
    pub source: Source,
    /// The waiver file of the run (`Source::Run`; a results file names its
    /// own in its provenance).
    pub waivers: Option<PathBuf>,
}

/// Why no certificate was written.
#[derive(Debug, thiserror::Error)]
pub enum CertifyError {
    /// The profile or the bundle.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// The certification run failed to start or finish.
    #[error("the certification run did not complete")]
    Run(#[source] RunError),
    /// The certification run was interrupted (its results are kept, and
    /// `run --profile ... --resume` continues it).
    #[error("the certification run did not complete")]
    Interrupted,
}

/// Certifies: runs the profile if asked (its progress bar and results files
/// are kept by this function; `reporter` sees the run's events after them)
/// and writes the bundle into `req.out`.
pub fn certify(
    req: &CertifyRequest,
    reporter: &mut dyn Observer,
) -> Result<Certificate, CertifyError> {
    let profile_file = profile_path(&req.profile);
    load_profile(&profile_file)?;
    let results_path = match &req.source {
        Source::Results(r) => r.clone(),
        Source::Run { backend, options } => {
            let run_dir = req.out.join(RUN_DIR);
            let suites = profile_suites(&req.profile)
                .map_err(|e| CertifyError::Run(RunError::Config(e.to_string())))?;
            let config = RunConfig {
                backend: backend.clone(),
                suites,
                filters: Vec::new(),
                out: run_dir.clone(),
                options: options.clone(),
                isolation: Isolation::Process,
                timeout: DEFAULT_TIMEOUT,
                resume: false,
                measure: false,
                baseline: None,
                shard: None,
                command: run_command(
                    backend,
                    &req.profile,
                    &run_dir,
                    options,
                    req.waivers.as_deref(),
                ),
                memory_budget: None,
                waivers: req.waivers.clone(),
            };
            let plan = Plan::load(config).map_err(CertifyError::Run)?;
            let runner = Runner::new(plan).map_err(CertifyError::Run)?;
            let mut progress = ProgressObserver::new();
            let mut recorder = ResultsRecorder::new();
            let outcome = runner
                .run(&mut [&mut progress, &mut recorder, reporter])
                .map_err(CertifyError::Run)?;
            if outcome.interrupted {
                return Err(CertifyError::Interrupted);
            }
            crate::run::events::results_json_path(&run_dir)
        }
    };
    Ok(write_bundle(&req.out, &profile_file, &results_path)?)
}

/// The `run` command line equivalent to the certification run, recorded as
/// its provenance (it is what reruns it).
fn run_command(
    backend: &str,
    profile: &str,
    run_dir: &std::path::Path,
    options: &[(String, String)],
    waivers: Option<&std::path::Path>,
) -> Vec<String> {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "xpucert".into());
    let mut command: Vec<String> = [
        exe.as_str(),
        "run",
        "--backend",
        backend,
        "--profile",
        profile,
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    command.push(run_dir.display().to_string());
    command.extend(["--format".to_string(), "table".to_string()]);
    for (k, v) in options {
        command.extend(["--option".to_string(), format!("{k}={v}")]);
    }
    if let Some(w) = waivers {
        command.extend(["--waivers".to_string(), w.display().to_string()]);
    }
    command
}
