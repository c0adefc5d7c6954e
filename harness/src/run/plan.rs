//! What a run is asked to do ([`RunConfig`], as `run` or `certify` says it)
//! and what it will do ([`Plan`]: the suites loaded, the cases selected by
//! filter and shard, the baseline read). Loading a plan runs nothing and
//! opens no backend.

use std::path::{Path, PathBuf};

use crate::backend::{self, DylibBackend, Executor, LoadError, WorkerBackend};
use crate::model::{
    self,
    spec::{ModelCase, ModelSuite},
};
use crate::run::require::Baseline;
use crate::suite::{self, Case, Suite};

use super::glob_match;
use super::shard::{self, ShardInfo, ShardRequest};

/// The base time limit of one backend call, seconds, unless `--timeout`
/// says otherwise.
pub const DEFAULT_TIMEOUT: f64 = 30.0;

/// Where the backend runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// In a worker child process, replaced after a crash or hang.
    Process,
    /// In the xpucert process itself.
    None,
}

impl Isolation {
    /// Lowercase name, as recorded in the run's settings.
    pub fn name(self) -> &'static str {
        match self {
            Isolation::Process => "process",
            Isolation::None => "none",
        }
    }
}

/// Why a run could not start or finish. The exit code of each kind is the
/// command line's business.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A usage or configuration error: a suite with a mistake, no case
    /// selected, a bad shard, a run that cannot be resumed, a results file
    /// that cannot be written.
    #[error("{0}")]
    Config(String),
    /// The backend could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
}

impl RunError {
    fn config(e: impl std::fmt::Display) -> Self {
        RunError::Config(e.to_string())
    }
}

/// Everything a run is asked to do.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Backend library path, or a bundled backend name.
    pub backend: String,
    /// Suite files or directories (a profile's suites already resolved).
    pub suites: Vec<PathBuf>,
    /// Case id globs; a case is selected if any matches (all when empty).
    pub filters: Vec<String>,
    /// Directory of results.jsonl, results.json and model dumps.
    pub out: PathBuf,
    /// Backend context options.
    pub options: Vec<(String, String)>,
    /// Where the backend runs.
    pub isolation: Isolation,
    /// Base time limit of one call, seconds.
    pub timeout: f64,
    /// Continue the run in `out`.
    pub resume: bool,
    /// Measure the throughput of every passing case.
    pub measure: bool,
    /// Results file that `max_slowdown` requirements are judged against.
    pub baseline: Option<PathBuf>,
    /// Run one shard only.
    pub shard: Option<ShardRequest>,
    /// The command line recorded in the provenance.
    pub command: Vec<String>,
    /// Peak bytes a case may use; `None`: [`machine_budget`].
    pub memory_budget: Option<u64>,
    /// The certification profile the suites come from (`run --profile`,
    /// `certify`), recorded in the provenance.
    pub profile: Option<super::required::ProfileRef>,
    /// The waiver file (expected failures), if any.
    pub waivers: Option<PathBuf>,
}

impl RunConfig {
    /// A whole run of `suites` on `backend` into `out`, every other setting
    /// at `run`'s default: in a worker process, the default time limit, no
    /// filters, options, shard, measurement, baseline, waivers or profile.
    pub fn new(backend: String, suites: Vec<PathBuf>, out: PathBuf) -> Self {
        RunConfig {
            backend,
            suites,
            filters: Vec::new(),
            out,
            options: Vec::new(),
            isolation: Isolation::Process,
            timeout: DEFAULT_TIMEOUT,
            resume: false,
            measure: false,
            baseline: None,
            shard: None,
            command: Vec::new(),
            memory_budget: None,
            profile: None,
            waivers: None,
        }
    }

    /// The `xpucert run ...` command line of this run without filters: what
    /// failure reports append `--filter ID` to.
    pub fn rerun_prefix(&self) -> String {
        let suites: Vec<String> = self
            .suites
            .iter()
            .map(|s| format!("--suite {}", crate::home::portable(s)))
            .collect();
        let options: Vec<String> = self
            .options
            .iter()
            .map(|(k, v)| format!(" --option {k}={v}"))
            .collect();
        format!(
            "xpucert run --backend {} {}{}",
            self.backend,
            suites.join(" "),
            options.concat()
        )
    }

    /// The time limit of one call before a case's cost is added.
    pub fn base_limit(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.timeout)
    }
}

/// A run, resolved: suites loaded, cases selected, shard chosen.
pub struct Plan {
    /// What was asked.
    pub config: RunConfig,
    /// The op suites.
    pub suites: Vec<Suite>,
    /// The model suites.
    pub model_suites: Vec<ModelSuite>,
    /// The op cases to run, in run order.
    pub cases: Vec<Case>,
    /// The model cases to run, after the op cases.
    pub model_cases: Vec<ModelCase>,
    /// The shard this run is, if it is one.
    pub shard: Option<ShardInfo>,
    /// The baseline `max_slowdown` requirements compare with.
    pub baseline: Option<Baseline>,
    /// The waivers of `config.waivers`, read and validated.
    pub waivers: Option<super::waivers::Waivers>,
    /// When the plan was made: the run's wall time counts from here.
    pub started: std::time::Instant,
    /// The same instant, UTC, RFC 3339.
    pub started_at: String,
}

impl Plan {
    /// Loads the suites of `config` and selects its cases.
    pub fn load(config: RunConfig) -> Result<Self, RunError> {
        let started_at = super::utc_now();
        let started = std::time::Instant::now();
        let (suites, model_cases, model_suites) = load_all_suites(&config.suites, &config.filters)?;
        let cases = selected(&suites, &config.filters);
        if cases.is_empty() && model_cases.is_empty() {
            return Err(RunError::Config(format!(
                "no case matches the filter {:?} in {} suite(s)",
                config.filters,
                suites.len()
            )));
        }
        let baseline = match &config.baseline {
            Some(p) => Some(Baseline::load(p).map_err(RunError::config)?),
            None => None,
        };
        let waivers = match &config.waivers {
            Some(p) => Some(super::waivers::Waivers::load(p).map_err(RunError::Config)?),
            None => None,
        };
        if config.shard.is_some() && !model_cases.is_empty() {
            // Shards split op cases by cost and merge by position; a model case
            // is one long case, best run as its own CI job.
            return Err(RunError::Config(
                "--shard applies to op suites; run model suites (suites/models) in their own job"
                    .into(),
            ));
        }
        let (cases, shard) = match config.shard {
            Some(request) => {
                let spec = request.resolve().map_err(RunError::config)?;
                let (kept, info) = shard::select(&cases, spec);
                (kept, Some(info))
            }
            None => (cases, None),
        };
        let budget = config.memory_budget.unwrap_or_else(machine_budget);
        check_budget(&cases, budget)?;
        let cases = cases.into_iter().cloned().collect();
        Ok(Plan {
            config,
            suites,
            model_suites,
            cases,
            model_cases,
            shard,
            baseline,
            waivers,
            started,
            started_at,
        })
    }

    /// Opens the backend of the plan, allowing it `max(timeout, 60 s)` to
    /// start.
    pub fn open_backend(&self) -> Result<Box<dyn Executor>, RunError> {
        let c = &self.config;
        Ok(open_backend(
            &c.backend,
            &c.options,
            c.isolation,
            c.timeout.max(60.0),
        )?)
    }
}

/// The default memory budget of one case: half the machine's memory, or of
/// the cgroup's limit when that is lower (a container's `--memory`), so a
/// case and the rest of the machine both fit. 4 GiB when neither can be
/// read.
pub fn machine_budget() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok());
    match (total, cgroup) {
        (Some(t), Some(c)) => t.min(c) / 2,
        (Some(m), None) | (None, Some(m)) => m / 2,
        (None, None) => 4 << 30,
    }
}

/// Parses a byte size: a number with an optional K, M, G or T suffix
/// (binary: 1K = 1024), e.g. `512M`, `8G`, `1073741824`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, unit) = match t
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit() && *c != '.')
    {
        Some((i, _)) => (&t[..i], t[i..].trim_end_matches(['B', 'b', 'i'])),
        None => (t, ""),
    };
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => {
            return Err(format!(
                "`{s}` is not a size: write e.g. 512M, 8G or a number of bytes"
            ));
        }
    };
    let n: f64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size: write e.g. 512M, 8G or a number of bytes"))?;
    let bytes = n * (1u64 << shift) as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("`{s}` is not a usable size"));
    }
    Ok(bytes as u64)
}

/// Gigabytes, for messages.
fn gb(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

/// Refuses the run when a selected case's memory estimate is over
/// `budget`, naming the first few; nothing has been allocated yet.
pub fn check_budget(cases: &[&Case], budget: u64) -> Result<(), RunError> {
    let over: Vec<&&Case> = cases.iter().filter(|c| c.memory > budget).collect();
    let Some(first) = over.first() else {
        return Ok(());
    };
    let named: Vec<String> = over
        .iter()
        .take(3)
        .map(|c| format!("{} ({}, needs about {})", c.id, c.location, gb(c.memory)))
        .collect();
    let more = if over.len() > 3 {
        format!(" and {} more", over.len() - 3)
    } else {
        String::new()
    };
    Err(RunError::Config(format!(
        "{} case(s) need more memory than the budget of {} per case: {}{more}; raise it with --memory-budget (e.g. --memory-budget {}G) or leave them out with --filter",
        over.len(),
        gb(budget),
        named.join(", "),
        (first.memory >> 30) + 1
    )))
}

/// Loads op suites; the error is one line.
pub fn load_suites(paths: &[PathBuf]) -> Result<Vec<Suite>, RunError> {
    suite::load_all(paths).map_err(RunError::config)
}

/// [`load_suites`], expanding only what `filters` can select.
pub fn load_selected_suites(paths: &[PathBuf], filters: &[String]) -> Result<Vec<Suite>, RunError> {
    suite::load_selected(paths, filters).map_err(RunError::config)
}

/// Op suites, the selected model cases, and the model suites.
type Loaded = (Vec<Suite>, Vec<ModelCase>, Vec<ModelSuite>);

/// Op suites and model cases from `--suite` arguments; model suites are the
/// files whose top level has `model:`.
pub fn load_all_suites(paths: &[PathBuf], filters: &[String]) -> Result<Loaded, RunError> {
    let (op_paths, model_paths) = model::spec::split_paths(paths).map_err(RunError::config)?;
    let suites = if op_paths.is_empty() {
        Vec::new()
    } else {
        load_selected_suites(&op_paths, filters)?
    };
    let mut model_suites = Vec::new();
    for p in &model_paths {
        model_suites.push(model::spec::load(p).map_err(RunError::config)?);
    }
    let model_cases = model_suites
        .iter()
        .flat_map(ModelSuite::cases)
        .filter(|c| matches(filters, &c.id))
        .collect();
    Ok((suites, model_cases, model_suites))
}

fn matches(filters: &[String], id: &str) -> bool {
    filters.is_empty() || filters.iter().any(|f| glob_match(f, id))
}

/// The op cases of `suites` that `filters` select, in suite order.
pub fn selected<'a>(suites: &'a [Suite], filters: &[String]) -> Vec<&'a Case> {
    suites
        .iter()
        .flat_map(|s| &s.cases)
        .filter(|c| matches(filters, &c.id))
        .collect()
}

/// Opens backend `spec` (a path or a bundled name) where `isolation` says;
/// a worker may take `startup_limit` seconds to start.
pub fn open_backend(
    spec: &str,
    options: &[(String, String)],
    isolation: Isolation,
    startup_limit: f64,
) -> Result<Box<dyn Executor>, LoadError> {
    let path = backend::resolve(spec)?;
    Ok(match isolation {
        Isolation::None => Box::new(DylibBackend::open(&path, options)?),
        Isolation::Process => Box::new(WorkerBackend::open(
            &path,
            options,
            std::time::Duration::from_secs_f64(startup_limit),
        )?),
    })
}

/// The sha256 of a backend library for provenance; a file that cannot be
/// read says so in place of the hash.
pub fn library_sha256(path: &Path) -> String {
    crate::digest::sha256_file(path).unwrap_or_else(|e| format!("unreadable: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rerun_prefix_names_backend_suites_and_options() {
        let c = RunConfig {
            filters: vec!["core.*".into()],
            options: vec![("mode".into(), "segfault".into())],
            isolation: Isolation::None,
            ..RunConfig::new(
                "mutants".into(),
                vec!["a.yaml".into(), "dir".into()],
                "results".into(),
            )
        };
        assert_eq!(
            c.rerun_prefix(),
            "xpucert run --backend mutants --suite a.yaml --suite dir --option mode=segfault"
        );
        assert_eq!(c.isolation.name(), "none");
    }
}
