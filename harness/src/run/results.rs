//! The results files: `results.jsonl` (a [`RunHeader`] line that says what
//! defines the run, then one case per line, flushed as each case finishes and
//! synced to disk every few lines or seconds, so a killed run loses at most
//! the case in flight) and `results.json` (schema-versioned, with provenance
//! and summary, written at the end). The schema is documented in
//! `docs/results-schema.md`; `--resume` reads the jsonl back (`resume.rs`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{CaseResult, Status};

/// The `schema` field of every results file.
pub const SCHEMA: &str = "xpucert.results";
/// The current schema version; readers refuse other versions. Version 2
/// added the header line of `results.jsonl` (a reader of version 1 would take
/// it for a case) and `summary.interrupted`.
pub const SCHEMA_VERSION: u32 = 2;

/// Lines between two `sync_data` calls on `results.jsonl`.
const SYNC_EVERY_LINES: usize = 32;
/// Seconds between two `sync_data` calls on `results.jsonl`.
const SYNC_EVERY_SECS: f64 = 2.0;

/// The first line of `results.jsonl`: everything that defines which cases a
/// run has and what they mean, so `--resume` can refuse to continue a run
/// that was something else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    /// Always `"header"`: tells this line from case lines.
    pub record: String,
    /// Always [`SCHEMA`].
    pub schema: String,
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// Suites, with the sha256 of their files.
    pub suites: Vec<SuiteInfo>,
    /// Backend library path (canonical).
    pub backend_path: String,
    /// sha256 of the backend library file.
    pub backend_sha256: String,
    /// `--filter` globs, in the order given.
    pub filters: Vec<String>,
    /// Other settings that change results (backend `--option`s as
    /// `option.KEY`, isolation, timeout, ...), compared one by one on resume.
    pub settings: BTreeMap<String, String>,
    /// Start of the first invocation, UTC, RFC 3339.
    pub started_at: String,
    /// With `--isolation none`: what that mode gives up (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation_warning: Option<String>,
}

impl RunHeader {
    /// The value of [`RunHeader::record`].
    pub const RECORD: &'static str = "header";
}

/// One suite that took part in the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteInfo {
    /// `suite:` name.
    pub name: String,
    /// Path as given; a suite found in a data root (a name such as `core`,
    /// or a path not in the current directory) by its path inside the root,
    /// `suites/ops/core.yaml`, the same on every machine (home.rs).
    pub path: String,
    /// sha256 of its files.
    pub sha256: String,
    /// Number of cases it expanded to. Under `--filter`, a `generate:`
    /// entry the filters cannot select is not expanded, nor counted.
    pub cases: usize,
}

/// Where a result came from, so anyone can check and reproduce it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// xpucert's version.
    pub harness_version: String,
    /// The git commit xpucert was built from, when known.
    pub harness_commit: Option<String>,
    /// Backend library path (canonical).
    pub backend_path: String,
    /// sha256 of the backend library file.
    pub backend_sha256: String,
    /// The library's self-reported name.
    pub backend_name: String,
    /// ABI version the library was built against, `major.minor`.
    pub backend_abi: String,
    /// The manifest as JSON (a string if the backend's text is not JSON).
    pub manifest: serde_json::Value,
    /// Operating system, architecture and logical CPUs of the host.
    pub host: BTreeMap<String, String>,
    /// Suites run.
    pub suites: Vec<SuiteInfo>,
    /// The command line.
    pub command: Vec<String>,
    /// Start, UTC, RFC 3339.
    pub started_at: String,
    /// End, UTC, RFC 3339.
    pub finished_at: String,
    /// With `--isolation none`: what that mode gives up (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation_warning: Option<String>,
    /// The certification profile of `run --profile` and `certify`: its
    /// name and required op x dtype pairs (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<super::required::ProfileRef>,
    /// With `--waivers`: the file (path, sha256, entries), the day its
    /// expiries were judged on, and the entries that expired or waived
    /// nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waivers: Option<super::waivers::WaiverRecord>,
}

/// Counts by status and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of cases.
    pub total: usize,
    /// Count per status name.
    pub by_status: BTreeMap<String, usize>,
    /// Cases that ran: every status but `unsupported` and `skip` (a
    /// `waived` case ran).
    #[serde(default)]
    pub ran: usize,
    /// At least one case ran, and none is fail, error, crash or timeout,
    /// nor an oracle mismatch (the backend was not judged on that case): a
    /// backend that supports nothing selected is not conformant but
    /// untested ([`Summary::verdict`]).
    pub conformant: bool,
    /// Wall time of the run in seconds (of this invocation alone when it
    /// resumed an earlier one).
    pub wall_seconds: f64,
    /// The run was stopped by SIGINT/SIGTERM: cases never run are listed as
    /// `skip` ("not run: interrupted") and `conformant` is false.
    #[serde(default)]
    pub interrupted: bool,
}

impl Summary {
    /// Counts `cases`.
    pub fn of(cases: &[CaseResult], wall_seconds: f64) -> Self {
        let mut by_status = BTreeMap::new();
        for s in Status::ALL {
            let n = cases.iter().filter(|c| c.status == s).count();
            if n > 0 {
                by_status.insert(s.name().to_string(), n);
            }
        }
        let ran = cases
            .iter()
            .filter(|c| !matches!(c.status, Status::Unsupported | Status::Skip))
            .count();
        Summary {
            total: cases.len(),
            by_status,
            ran,
            conformant: ran > 0
                && !cases
                    .iter()
                    .any(|c| c.status.is_failure() || c.status == Status::OracleMismatch),
            wall_seconds,
            interrupted: false,
        }
    }

    /// The verdict: `CONFORMANT`, `NOT CONFORMANT` (a failure, or an
    /// interrupted run), `UNTESTED` (nothing failed because nothing ran:
    /// every selected case unsupported or skipped), or `ORACLE MISMATCH`
    /// (no failure, but xpucert's oracle disagrees with published outputs
    /// on some cases, which judged nothing of the backend).
    pub fn verdict(&self) -> &'static str {
        let failures = [Status::Fail, Status::Error, Status::Crash, Status::Timeout];
        if self.conformant {
            "CONFORMANT"
        } else if self.ran == 0 && !self.interrupted {
            "UNTESTED"
        } else if !self.interrupted
            && self.count(Status::OracleMismatch) > 0
            && failures.iter().all(|&s| self.count(s) == 0)
        {
            "ORACLE MISMATCH"
        } else {
            "NOT CONFORMANT"
        }
    }

    /// The verdict with what it leans on: `CONFORMANT with 3 waived
    /// failures` when waivers hid failures, else [`Summary::verdict`]
    /// (a waived case is never reported as a plain pass).
    pub fn verdict_text(&self) -> String {
        let waived = self.count(Status::Waived);
        match (waived, self.verdict()) {
            (0, v) => v.to_string(),
            (n, v @ "CONFORMANT") => format!("{v} with {n} waived {}", plural(n, "failure")),
            (n, v) => format!("{v} ({n} waived {})", plural(n, "failure")),
        }
    }

    /// Coverage in words: `ran 2467 of 2469 cases (99.9%)`.
    pub fn coverage(&self) -> String {
        let pct = if self.total == 0 {
            0.0
        } else {
            100.0 * self.ran as f64 / self.total as f64
        };
        format!("ran {} of {} cases ({pct:.1}%)", self.ran, self.total)
    }

    /// Marks the run as interrupted: no verdict of conformance then.
    pub fn interrupted(mut self) -> Self {
        self.interrupted = true;
        self.conformant = false;
        self
    }

    /// Count of one status.
    pub fn count(&self, s: Status) -> usize {
        self.by_status.get(s.name()).copied().unwrap_or(0)
    }

    /// The counts and verdict `cases` support, with this summary's wall
    /// time and interruption (an interruption only withholds a verdict).
    pub fn recount(&self, cases: &[CaseResult]) -> Summary {
        let s = Summary::of(cases, self.wall_seconds);
        if self.interrupted { s.interrupted() } else { s }
    }

    /// One line: `N cases (a pass, b fail) -> VERDICT`.
    pub fn describe(&self) -> String {
        let counts: Vec<String> = self
            .by_status
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        format!(
            "{} cases ({}) -> {}",
            self.total,
            counts.join(", "),
            self.verdict_text()
        )
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// A results file whose stored `summary` its cases do not support (an
/// edited or corrupted file): readers go by the cases.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "its summary says {}, but its cases say {}",
    stored.describe(),
    recounted.describe()
)]
pub struct SummaryMismatch {
    /// The summary as stored.
    pub stored: Summary,
    /// The summary of the cases.
    pub recounted: Summary,
}

/// The whole `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsFile {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// [`SCHEMA_VERSION`] when written by this xpucert.
    pub schema_version: u32,
    /// Where the results came from.
    pub provenance: Provenance,
    /// Counts and verdict.
    pub summary: Summary,
    /// Every case, in run order.
    pub cases: Vec<CaseResult>,
    /// Which shard of a split run this file holds (`run --shard`); absent
    /// for a whole run (and after `xpucert merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<super::shard::ShardInfo>,
    /// How much of the profile's required pairs the cases cover (with
    /// `provenance.profile`; readers recompute it from the cases, see
    /// [`ResultsFile::required_coverage`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<super::required::RequiredCoverage>,
}

/// Why a results.json cannot be read. `Display` is one line.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{path} is not JSON: {source}")]
    NotJson {
        /// The file.
        path: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The JSON is something else than xpucert results.
    #[error("{path} is not an xpucert results file (schema `{schema}`)")]
    Schema {
        /// The file.
        path: String,
        /// The schema it names.
        schema: String,
    },
    /// Results of another schema version.
    #[error(
        "{path} has schema version {version}; this xpucert reads version {SCHEMA_VERSION} (rerun it with this xpucert)"
    )]
    Version {
        /// The file.
        path: String,
        /// Its version.
        version: u64,
    },
    /// The right schema, but a field does not fit.
    #[error("{path}: {source}")]
    Fields {
        /// The file.
        path: String,
        /// The deserialization error.
        source: serde_json::Error,
    },
}

impl ResultsFile {
    /// A results file of `cases` with an empty provenance, for unit tests.
    #[cfg(test)]
    pub(crate) fn sample(cases: Vec<CaseResult>) -> ResultsFile {
        ResultsFile {
            schema: SCHEMA.into(),
            schema_version: SCHEMA_VERSION,
            provenance: Provenance {
                harness_version: "0".into(),
                harness_commit: None,
                backend_path: "/lib/libx.so".into(),
                backend_sha256: "ab".repeat(32),
                backend_name: "x".into(),
                backend_abi: "1.0".into(),
                manifest: serde_json::Value::Null,
                host: Default::default(),
                suites: vec![],
                command: vec![],
                started_at: String::new(),
                finished_at: String::new(),
                isolation_warning: None,
                profile: None,
                waivers: None,
            },
            summary: Summary::of(&cases, 1.0),
            cases,
            shard: None,
            required: None,
        }
    }

    /// The coverage of the profile's required pairs, from the cases (None
    /// without a profile).
    pub fn required_coverage(&self) -> Option<super::required::RequiredCoverage> {
        let p = self.provenance.profile.as_ref()?;
        Some(super::required::RequiredCoverage::of(p, &self.cases))
    }

    /// The counts and verdict of the cases: what every reader of a results
    /// file reports, whatever its stored `summary` says.
    pub fn recounted_summary(&self) -> Summary {
        self.summary.recount(&self.cases)
    }

    /// The stored summary and the recount, when their counts or verdict
    /// differ (wall time is not compared: it cannot be recounted).
    pub fn summary_mismatch(&self) -> Option<SummaryMismatch> {
        let recounted = self.recounted_summary();
        let s = &self.summary;
        let same = s.total == recounted.total
            && s.by_status == recounted.by_status
            && s.conformant == recounted.conformant;
        (!same).then(|| SummaryMismatch {
            stored: s.clone(),
            recounted,
        })
    }

    /// Reads a results.json and checks its schema and version.
    pub fn read(path: &Path) -> Result<Self, ReadError> {
        let p = path.display().to_string();
        let bytes =
            crate::files::read_regular(path, crate::files::MAX_RESULTS_BYTES, "a results file")
                .map_err(|e| ReadError::Io {
                    path: p.clone(),
                    source: e.into_io(),
                })?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|source| ReadError::NotJson {
                path: p.clone(),
                source,
            })?;
        let schema = v.get("schema").and_then(|s| s.as_str()).unwrap_or("");
        let version = v
            .get("schema_version")
            .and_then(|s| s.as_u64())
            .unwrap_or(0);
        if schema != SCHEMA {
            return Err(ReadError::Schema {
                path: p,
                schema: schema.to_string(),
            });
        }
        if version != u64::from(SCHEMA_VERSION) {
            return Err(ReadError::Version { path: p, version });
        }
        serde_json::from_value(v).map_err(|source| ReadError::Fields { path: p, source })
    }

    /// Writes pretty JSON atomically (temp file, then rename); the error
    /// names the step and the file.
    pub fn write(&self, path: &Path) -> Result<(), FileError> {
        let tmp = path.with_extension("json.tmp");
        let t = tmp.as_path();
        let err = |action| move |source| FileError::new(action, t, source);
        let file = File::create(&tmp).map_err(err("create"))?;
        let mut w = BufWriter::new(file);
        crate::text::write_json_pretty(&mut w, self)
            .map_err(std::io::Error::from)
            .and_then(|()| w.write_all(b"\n"))
            .map_err(err("write"))?;
        w.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .map_err(err("flush"))?;
        std::fs::rename(&tmp, path).map_err(|source| FileError {
            action: "rename",
            path: tmp.clone(),
            source,
            to: Some(path.to_path_buf()),
        })
    }
}

/// A results file could not be created, written or flushed: the step, the
/// path and the cause, in one line (`cannot write /out/results.jsonl: No
/// space left on device`).
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}{}: {source}", path.display(), to.as_ref().map(|t| format!(" to {}", t.display())).unwrap_or_default())]
pub struct FileError {
    /// What was being done: `create`, `write`, `flush`, ...
    pub action: &'static str,
    /// The file (or directory).
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
    /// For a rename, the destination.
    pub to: Option<PathBuf>,
}

impl FileError {
    /// The error of `action` on `path`.
    pub fn new(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        FileError {
            action,
            path: path.to_path_buf(),
            source,
            to: None,
        }
    }
}

/// Appends each case result to `results.jsonl`, flushes it at once and syncs
/// it to disk every [`SYNC_EVERY_LINES`] lines or [`SYNC_EVERY_SECS`] seconds.
pub struct ResultsWriter {
    path: PathBuf,
    file: File,
    unsynced: usize,
    last_sync: Instant,
}

impl ResultsWriter {
    /// Creates (truncates) `dir/results.jsonl`, creating `dir` if needed, and
    /// writes `header` as its first line.
    pub fn create(dir: &Path, header: &RunHeader) -> Result<Self, FileError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| FileError::new("create the output directory", dir, e))?;
        let path = dir.join("results.jsonl");
        let file = File::create(&path).map_err(|e| FileError::new("create", &path, e))?;
        let mut w = ResultsWriter {
            path,
            file,
            unsynced: 0,
            last_sync: Instant::now(),
        };
        w.write_line(header)?;
        w.sync()?;
        Ok(w)
    }

    /// Reopens `path` to append after its first `keep` bytes (the complete
    /// lines a resume read; a torn last line beyond them is cut off).
    pub fn reopen(path: &Path, keep: u64) -> Result<Self, FileError> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| FileError::new("reopen (to resume)", path, e))?;
        file.set_len(keep)
            .map_err(|e| FileError::new("cut the torn last line off", path, e))?;
        Ok(ResultsWriter {
            path: path.to_path_buf(),
            file,
            unsynced: 0,
            last_sync: Instant::now(),
        })
    }

    /// The jsonl path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one case line and flushes it to the OS.
    pub fn append(&mut self, r: &CaseResult) -> Result<(), FileError> {
        self.write_line(r)?;
        self.unsynced += 1;
        if self.unsynced >= SYNC_EVERY_LINES
            || self.last_sync.elapsed().as_secs_f64() >= SYNC_EVERY_SECS
        {
            self.sync()?;
        }
        Ok(())
    }

    /// Syncs what was written to disk (also done on drop, best effort).
    pub fn sync(&mut self) -> Result<(), FileError> {
        self.unsynced = 0;
        self.last_sync = Instant::now();
        self.file
            .sync_data()
            .map_err(|e| FileError::new("flush", &self.path, e))
    }

    // One write call per line: a kill can tear only the last line.
    fn write_line<T: Serialize>(&mut self, value: &T) -> Result<(), FileError> {
        let mut line = Vec::new();
        crate::text::write_json_line(&mut line, value)
            .map_err(|e| FileError::new("write", &self.path, e.into()))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.flush())
            .map_err(|e| FileError::new("write", &self.path, e))
    }
}

impl Drop for ResultsWriter {
    fn drop(&mut self) {
        if self.unsynced > 0 {
            let _ = self.file.sync_data();
        }
    }
}

/// The current UTC time as RFC 3339 (`2026-11-23T01:02:03Z`).
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (proleptic Gregorian), after H. Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_names_the_waived_failures_it_leans_on() {
        use crate::numerics::DType;
        let case = |s| CaseResult::for_model("m", DType::F32, "x".into(), s, None);
        let s = Summary::of(&[case(Status::Pass), case(Status::Waived)], 1.0);
        assert!(s.conformant);
        assert_eq!(s.ran, 2);
        assert_eq!(s.verdict_text(), "CONFORMANT with 1 waived failure");
        let s = Summary::of(
            &[
                case(Status::Waived),
                case(Status::Waived),
                case(Status::Fail),
            ],
            1.0,
        );
        assert_eq!(s.verdict_text(), "NOT CONFORMANT (2 waived failures)");
        assert_eq!(
            s.describe(),
            "3 cases (1 fail, 2 waived) -> NOT CONFORMANT (2 waived failures)"
        );
        let s = Summary::of(&[case(Status::Pass)], 1.0);
        assert_eq!(s.verdict_text(), "CONFORMANT");
    }

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_395_723), "2026-11-23T01:02:03Z");
    }
}
