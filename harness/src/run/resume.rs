//! `--resume`: continuing a run from its `results.jsonl`.
//!
//! The file's header must say the same schema version, suites (by name and
//! sha256), backend (path and sha256), filters and settings as this
//! invocation; otherwise the run would mix results of two different things,
//! so it is refused and the error says which part differs. A torn last line
//! (the process was killed in the middle of a write) is dropped and cut off
//! the file before appending; a bad line anywhere else means the file was
//! edited or is something else, and is refused.
//!
//! [`ResumeState`] is what the runner takes over: the cases already done and
//! where appending continues (the results files observer reopens the file
//! there).

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::CaseResult;
use super::results::{RunHeader, SCHEMA, SCHEMA_VERSION};

/// Why a run cannot be resumed. `Display` is one line.
#[derive(Debug)]
pub enum ResumeError {
    /// No results.jsonl, or it cannot be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// The first line is not a header this xpucert understands.
    NoHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The header's schema version is another one.
    SchemaVersion {
        /// The file.
        path: PathBuf,
        /// The version it has.
        found: u64,
    },
    /// A complete line in the middle is not a case result.
    BadLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parse error.
        detail: String,
    },
    /// The run in the file is not this run.
    Mismatch {
        /// The file.
        path: PathBuf,
        /// Which part differs and how.
        what: String,
    },
}

impl fmt::Display for ResumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumeError::Io { path, error } => {
                write!(f, "cannot resume from {}: {error}", path.display())
            }
            ResumeError::NoHeader { path, detail } => write!(
                f,
                "cannot resume from {}: first line is not an xpucert results header ({detail})",
                path.display()
            ),
            ResumeError::SchemaVersion { path, found } => write!(
                f,
                "cannot resume from {}: it has results schema version {found}, this xpucert writes version {SCHEMA_VERSION}",
                path.display()
            ),
            ResumeError::BadLine { path, line, detail } => write!(
                f,
                "cannot resume from {}: line {line} is not a case result ({detail})",
                path.display()
            ),
            ResumeError::Mismatch { path, what } => write!(
                f,
                "cannot resume from {}: it is a different run: {what}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ResumeError {}

/// What a previous invocation left in `results.jsonl`.
#[derive(Debug)]
pub struct Previous {
    /// Its header.
    pub header: RunHeader,
    /// Finished cases, in file order.
    pub cases: Vec<CaseResult>,
    /// Bytes of complete, valid lines (header included).
    pub valid_len: u64,
    /// A torn last line was found (and will be dropped).
    pub torn_tail: bool,
}

/// Reads `path` (a results.jsonl).
pub fn read_previous(path: &Path) -> Result<Previous, ResumeError> {
    let io = |error| ResumeError::Io {
        path: path.to_path_buf(),
        error,
    };
    crate::files::check_regular(path).map_err(|e| io(e.into_io()))?;
    let mut reader = BufReader::new(std::fs::File::open(path).map_err(io)?);
    let mut lines: Vec<(Vec<u8>, bool)> = Vec::new();
    loop {
        let mut buf = Vec::new();
        let n = reader.read_until(b'\n', &mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        let complete = buf.last() == Some(&b'\n');
        lines.push((buf, complete));
    }
    let no_header = |detail: String| ResumeError::NoHeader {
        path: path.to_path_buf(),
        detail,
    };
    let Some((first, first_complete)) = lines.first() else {
        return Err(no_header("the file is empty".into()));
    };
    let value: serde_json::Value = serde_json::from_slice(first).map_err(|e| {
        no_header(if *first_complete {
            e.to_string()
        } else {
            "it is cut short".into()
        })
    })?;
    if value.get("schema").and_then(|s| s.as_str()) != Some(SCHEMA) {
        return Err(no_header(format!("no \"schema\": \"{SCHEMA}\"")));
    }
    match value.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(found) => {
            return Err(ResumeError::SchemaVersion {
                path: path.to_path_buf(),
                found,
            });
        }
        None => return Err(no_header("no schema_version".into())),
    }
    let header: RunHeader = serde_json::from_value(value).map_err(|e| no_header(e.to_string()))?;
    if header.record != RunHeader::RECORD {
        return Err(no_header(format!("record is `{}`", header.record)));
    }

    let mut valid_len = first.len() as u64;
    let mut cases = Vec::new();
    let mut torn_tail = false;
    let last = lines.len() - 1;
    for (i, (line, complete)) in lines.iter().enumerate().skip(1) {
        match serde_json::from_slice::<CaseResult>(line) {
            Ok(c) if *complete => {
                valid_len += line.len() as u64;
                cases.push(c);
            }
            // Only the very last line can be torn by a kill mid-write.
            _ if i == last => torn_tail = true,
            Ok(_) => unreachable!("only the last line lacks its newline"),
            Err(e) => {
                return Err(ResumeError::BadLine {
                    path: path.to_path_buf(),
                    line: i + 1,
                    detail: e.to_string(),
                });
            }
        }
    }
    Ok(Previous {
        header,
        cases,
        valid_len,
        torn_tail,
    })
}

/// Checks that `old` (from the file) describes the same run as `new`. The
/// error names the first part that differs.
pub fn check_same_run(path: &Path, old: &RunHeader, new: &RunHeader) -> Result<(), ResumeError> {
    let mismatch = |what: String| {
        Err(ResumeError::Mismatch {
            path: path.to_path_buf(),
            what,
        })
    };
    let names = |h: &RunHeader| {
        h.suites
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if old.suites.len() != new.suites.len()
        || old
            .suites
            .iter()
            .zip(&new.suites)
            .any(|(a, b)| a.name != b.name)
    {
        return mismatch(format!(
            "suites were [{}], now [{}]",
            names(old),
            names(new)
        ));
    }
    for (a, b) in old.suites.iter().zip(&new.suites) {
        if a.sha256 != b.sha256 {
            return mismatch(format!(
                "suite `{}` changed (sha256 {} then, {} now)",
                a.name,
                short(&a.sha256),
                short(&b.sha256)
            ));
        }
    }
    if old.backend_sha256 != new.backend_sha256 {
        return mismatch(format!(
            "backend library changed (sha256 {} then, {} now)",
            short(&old.backend_sha256),
            short(&new.backend_sha256)
        ));
    }
    if old.backend_path != new.backend_path {
        return mismatch(format!(
            "backend was {}, now {}",
            old.backend_path, new.backend_path
        ));
    }
    if old.filters != new.filters {
        return mismatch(format!(
            "filters were {:?}, now {:?}",
            old.filters, new.filters
        ));
    }
    if old.settings != new.settings {
        let keys = old.settings.keys().chain(new.settings.keys());
        for k in keys {
            let (a, b) = (old.settings.get(k), new.settings.get(k));
            if a != b {
                let show = |v: Option<&String>| v.map_or("unset".to_string(), |v| format!("`{v}`"));
                return mismatch(format!("{k} was {}, now {}", show(a), show(b)));
            }
        }
    }
    Ok(())
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// What a resumed run takes over from its `results.jsonl`: the finished
/// cases it still selects, when the first invocation started, and where
/// appending continues.
pub struct ResumeState {
    /// Finished cases by id.
    pub done: HashMap<String, CaseResult>,
    /// Started-at of the first invocation.
    pub started_at: String,
    /// Bytes of complete, valid lines; a torn tail beyond is cut off.
    pub valid_len: u64,
}

impl ResumeState {
    /// Reads `dir/results.jsonl`, which must be the run `header` describes,
    /// and keeps the results of the cases in `ids`. Finished cases that are
    /// not in `ids` cannot exist when the header matches; they are ignored
    /// all the same.
    pub fn load<'a>(
        dir: &Path,
        header: &RunHeader,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ResumeError> {
        let path = dir.join("results.jsonl");
        let prev = read_previous(&path)?;
        check_same_run(&path, &prev.header, header)?;
        let wanted: std::collections::HashSet<&str> = ids.into_iter().collect();
        let mut done = HashMap::new();
        for c in prev.cases {
            if wanted.contains(c.id.as_str()) {
                // The first line for an id wins; a later one cannot differ
                // in a deterministic run.
                done.entry(c.id.clone()).or_insert(c);
            }
        }
        Ok(ResumeState {
            done,
            started_at: prev.header.started_at,
            valid_len: prev.valid_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::run::{Status, SuiteInfo};

    fn header() -> RunHeader {
        RunHeader {
            record: RunHeader::RECORD.into(),
            schema: SCHEMA.into(),
            schema_version: SCHEMA_VERSION,
            suites: vec![SuiteInfo {
                name: "core".into(),
                path: "suites/ops/core.yaml".into(),
                sha256: "ab".repeat(32),
                cases: 3,
            }],
            backend_path: "/lib/libx.so".into(),
            backend_sha256: "cd".repeat(32),
            filters: vec![],
            settings: [("option.threads".to_string(), "1".to_string())].into(),
            started_at: "2026-11-23T00:00:00Z".into(),
            isolation_warning: None,
        }
    }

    fn case_line(id: &str) -> String {
        format!(
            "{{\"id\":\"{id}\",\"op\":\"Relu\",\"opset\":14,\"dtype\":\"f32\",\"status\":\"pass\",\"location\":\"x:1:1\"}}\n"
        )
    }

    #[test]
    fn torn_last_line_is_dropped_and_counted_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jsonl");
        let mut f = std::fs::File::create(&path).unwrap();
        let head = serde_json::to_string(&header()).unwrap() + "\n";
        let (a, b) = (case_line("core.relu.f32.a"), case_line("core.relu.f32.b"));
        write!(f, "{head}{a}{}", &b[..20]).unwrap();
        drop(f);
        let p = read_previous(&path).unwrap();
        assert!(p.torn_tail);
        assert_eq!(p.cases.len(), 1);
        assert_eq!(p.cases[0].status, Status::Pass);
        assert_eq!(p.valid_len, (head.len() + a.len()) as u64);
    }

    #[test]
    fn bad_middle_line_and_other_versions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jsonl");
        let head = serde_json::to_string(&header()).unwrap() + "\n";
        std::fs::write(&path, format!("{head}garbage\n{}", case_line("x"))).unwrap();
        let e = read_previous(&path).unwrap_err().to_string();
        assert!(e.contains("line 2 is not a case result"), "{e}");

        let mut old = header();
        old.schema_version = 1;
        std::fs::write(&path, serde_json::to_string(&old).unwrap() + "\n").unwrap();
        let e = read_previous(&path).unwrap_err().to_string();
        assert!(e.contains("schema version 1"), "{e}");
    }

    #[test]
    fn mismatches_name_the_part_that_differs() {
        let p = Path::new("r.jsonl");
        let old = header();
        assert!(check_same_run(p, &old, &old).is_ok());
        let mut new = header();
        new.suites[0].sha256 = "ef".repeat(32);
        let e = check_same_run(p, &old, &new).unwrap_err().to_string();
        assert!(e.contains("suite `core` changed"), "{e}");
        let mut new = header();
        new.filters = vec!["core.add.*".into()];
        let e = check_same_run(p, &old, &new).unwrap_err().to_string();
        assert!(e.contains("filters were []"), "{e}");
        let mut new = header();
        new.settings.insert("option.threads".into(), "4".into());
        let e = check_same_run(p, &old, &new).unwrap_err().to_string();
        assert!(e.contains("option.threads was `1`, now `4`"), "{e}");
        let mut new = header();
        new.backend_sha256 = "00".repeat(32);
        let e = check_same_run(p, &old, &new).unwrap_err().to_string();
        assert!(e.contains("backend library changed"), "{e}");
    }
}
