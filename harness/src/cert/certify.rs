//! `certify`: run a profile's suites on a backend in this process (through
//! the [`Runner`], as `run --profile` would) or take the results of an
//! earlier run, then write the verifiable bundle (and sign it). And its
//! converse, `verify --rerun` ([`rerun`]): run a verified bundle's suites
//! on a library with the certified hash and compare the statuses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::CertError;
use super::bundle::{BundleOptions, Certificate, Verified, write_bundle_with};
use super::profile::{load_profile, profile_path, profile_suites};
use super::sign::{self, SecretKey};
use crate::run::{CaseResult, Observer, RunConfig, RunError, Runner, Status};

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
    /// Copy the library into the bundle (false: `--no-library`, its name,
    /// size and sha256 only).
    pub include_library: bool,
    /// Sign `certificate.json` with this key (`certificate.sig`).
    pub sign: Option<SecretKey>,
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
    let profile_file = profile_path(&req.profile)?;
    load_profile(&profile_file)?;
    let results_path = match &req.source {
        Source::Results(r) => r.clone(),
        Source::Run { backend, options } => {
            let run_dir = req.out.join(RUN_DIR);
            let (suites, profile) = profile_suites(&req.profile)
                .map_err(|e| CertifyError::Run(RunError::Config(e.to_string())))?;
            let config = RunConfig {
                options: options.clone(),
                command: run_command(
                    backend,
                    &req.profile,
                    &run_dir,
                    options,
                    req.waivers.as_deref(),
                ),
                profile: Some(profile.reference()),
                waivers: req.waivers.clone(),
                ..RunConfig::new(backend.clone(), suites, run_dir.clone())
            };
            let outcome =
                Runner::run_recorded(config, Some(reporter)).map_err(CertifyError::Run)?;
            if outcome.interrupted {
                return Err(CertifyError::Interrupted);
            }
            crate::run::events::results_json_path(&run_dir)
        }
    };
    let options = BundleOptions {
        include_library: req.include_library,
    };
    let cert = write_bundle_with(&req.out, &profile_file, &results_path, options)?;
    if let Some(key) = &req.sign {
        sign::sign_bundle(&req.out, key)?;
    }
    Ok(cert)
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

/// `verify --rerun`: what to run a verified bundle's suites on.
#[derive(Debug, Clone)]
pub struct RerunRequest {
    /// Library path or bundled backend name; it must hash to the
    /// certified sha256.
    pub backend: String,
    /// Backend context options (as the certification run had them).
    pub options: Vec<(String, String)>,
    /// Directory of the rerun's results files.
    pub out: PathBuf,
}

/// Why a rerun did not give a comparison.
#[derive(Debug, thiserror::Error)]
pub enum RerunError {
    /// The library is not the certified one: a rejection.
    #[error("{library} has sha256 {actual}, the certificate certifies {certified}")]
    WrongLibrary {
        /// The library as given.
        library: String,
        /// Its sha256.
        actual: String,
        /// The certificate's.
        certified: String,
    },
    /// The library cannot be found or read.
    #[error("{0}")]
    Library(String),
    /// The run failed to start or finish.
    #[error("the rerun did not complete")]
    Run(#[source] RunError),
    /// The run was interrupted.
    #[error("the rerun was interrupted")]
    Interrupted,
}

/// A certified case whose status the rerun did not reproduce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMismatch {
    /// Case id.
    pub id: String,
    /// The certified status (`None`: not in the certificate's results).
    pub certified: Option<Status>,
    /// The rerun's status (`None`: the rerun has no such case).
    pub rerun: Option<Status>,
}

/// The statuses of a rerun against the certified ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusComparison {
    /// Cases compared (the union of both id sets).
    pub cases: usize,
    /// Same status on both sides.
    pub same: usize,
    /// Pass on one side, warn on the other: both conformant, so equal.
    pub pass_warn: Vec<String>,
    /// A timeout on either side (time-dependent, not compared) with a
    /// different status on the other.
    pub timeouts: Vec<String>,
    /// Every other difference, in the certificate's case order (then the
    /// rerun's cases the certificate does not have).
    pub mismatches: Vec<StatusMismatch>,
}

impl StatusComparison {
    /// Whether the rerun reproduces the certificate.
    pub fn matches(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Compares statuses case by case: the same set of case ids and the same
/// status for each, except that pass and warn are equal (both conformant)
/// and a timeout on either side is not compared (it depends on the
/// machine's speed). Throughput is not compared.
pub fn compare_statuses(certified: &[CaseResult], rerun: &[CaseResult]) -> StatusComparison {
    // The rerun applies no waivers: a waived case is the status it was
    // waived for, which its waiver records.
    let judged = |c: &CaseResult| match (&c.status, &c.waiver) {
        (Status::Waived, Some(w)) => w.status,
        _ => c.status,
    };
    let theirs: BTreeMap<&str, Status> = rerun.iter().map(|c| (c.id.as_str(), c.status)).collect();
    let ours: BTreeMap<&str, Status> = certified
        .iter()
        .map(|c| (c.id.as_str(), judged(c)))
        .collect();
    let mut out = StatusComparison::default();
    let both = certified
        .iter()
        .map(|c| {
            (
                c.id.as_str(),
                Some(judged(c)),
                theirs.get(c.id.as_str()).copied(),
            )
        })
        .chain(
            rerun
                .iter()
                .filter(|c| !ours.contains_key(c.id.as_str()))
                .map(|c| (c.id.as_str(), None, Some(c.status))),
        );
    for (id, a, b) in both {
        out.cases += 1;
        match (a, b) {
            (Some(a), Some(b)) if a == b => out.same += 1,
            (Some(Status::Pass | Status::Warn), Some(Status::Pass | Status::Warn)) => {
                out.pass_warn.push(id.to_string())
            }
            (Some(a), Some(b)) if a == Status::Timeout || b == Status::Timeout => {
                out.timeouts.push(id.to_string())
            }
            (certified, rerun) => out.mismatches.push(StatusMismatch {
                id: id.to_string(),
                certified,
                rerun,
            }),
        }
    }
    out
}

/// `verify --rerun`: hashes the library (it must be the certified one),
/// runs the bundle's own suite files on it into `req.out` through the
/// [`Runner`], and compares the statuses with the bundled results.
pub fn rerun(verified: &Verified, req: &RerunRequest) -> Result<StatusComparison, RerunError> {
    let certified = &verified.cert.backend_sha256;
    let path =
        crate::backend::resolve(&req.backend).map_err(|e| RerunError::Library(e.to_string()))?;
    let actual = crate::digest::sha256_file(&path)
        .map_err(|e| RerunError::Library(format!("cannot read {}: {e}", path.display())))?;
    if &actual != certified {
        return Err(RerunError::WrongLibrary {
            library: path.display().to_string(),
            actual,
            certified: certified.clone(),
        });
    }
    let config = RunConfig {
        options: req.options.clone(),
        command: rerun_command(&path, &verified.suites, &req.out, &req.options),
        profile: verified.results.provenance.profile.clone(),
        // Waived cases are compared by the status they were waived for.
        ..RunConfig::new(
            path.display().to_string(),
            verified.suites.clone(),
            req.out.clone(),
        )
    };
    let outcome = Runner::run_recorded(config, None).map_err(RerunError::Run)?;
    if outcome.interrupted {
        return Err(RerunError::Interrupted);
    }
    let ran = outcome.results;
    // The run hashes the library it loads: the file must not have changed
    // between the check above and the load.
    if &ran.provenance.backend_sha256 != certified {
        return Err(RerunError::WrongLibrary {
            library: path.display().to_string(),
            actual: ran.provenance.backend_sha256,
            certified: certified.clone(),
        });
    }
    Ok(compare_statuses(&verified.results.cases, &ran.cases))
}

/// The `run` command line equivalent to a rerun, recorded in its results.
fn rerun_command(
    library: &Path,
    suites: &[PathBuf],
    out: &Path,
    options: &[(String, String)],
) -> Vec<String> {
    let mut command = vec![
        "xpucert".to_string(),
        "run".to_string(),
        "--backend".to_string(),
        library.display().to_string(),
    ];
    for s in suites {
        command.extend(["--suite".to_string(), s.display().to_string()]);
    }
    command.extend(["--out".to_string(), out.display().to_string()]);
    for (k, v) in options {
        command.extend(["--option".to_string(), format!("{k}={v}")]);
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, status: Status) -> CaseResult {
        serde_json::from_value(serde_json::json!({
            "id": id, "op": "Add", "opset": 14, "dtype": "f32",
            "status": status, "location": "x.yaml:1:1"
        }))
        .unwrap()
    }

    #[test]
    fn statuses_compare_with_pass_and_warn_equal_and_timeouts_aside() {
        use Status::*;
        let certified = [
            case("a", Pass),
            case("b", Pass),
            case("c", Warn),
            case("d", Timeout),
            case("e", Fail),
            case("f", Pass),
            case("g", Unsupported),
        ];
        let rerun = [
            case("a", Pass),
            case("b", Warn),
            case("c", Pass),
            case("d", Fail),
            case("e", Pass),
            case("g", Unsupported),
            case("h", Pass),
        ];
        let c = compare_statuses(&certified, &rerun);
        assert_eq!(c.cases, 8);
        assert_eq!(c.same, 2);
        assert_eq!(c.pass_warn, ["b", "c"]);
        assert_eq!(c.timeouts, ["d"]);
        let m: Vec<_> = c
            .mismatches
            .iter()
            .map(|m| (m.id.as_str(), m.certified, m.rerun))
            .collect();
        assert_eq!(
            m,
            [
                ("e", Some(Fail), Some(Pass)),
                ("f", Some(Pass), None),
                ("h", None, Some(Pass)),
            ]
        );
        assert!(!c.matches());
        assert!(compare_statuses(&certified, &certified).matches());
    }
}
