//! The observer that keeps a run on disk: `results.jsonl` (created, or
//! reopened after its valid lines on resume; one line appended per finished
//! case), the in-flight marker of the case being run (`inflight.rs`), and
//! `results.json` at the end. See `results.rs` for the formats. Every I/O
//! error says what was being done and to which file.

use std::path::PathBuf;

use super::events::{Observer, ObserverError, RunEvent, results_json_path};
use super::inflight;
use super::results::ResultsWriter;

/// Writes the results files of a run into its `--out` directory.
#[derive(Default)]
pub struct ResultsRecorder {
    writer: Option<ResultsWriter>,
    /// The `--out` directory, once the run started.
    dir: Option<PathBuf>,
    /// The in-flight marker a resumed run found (see `inflight.rs`).
    found: Option<inflight::Marker>,
}

impl ResultsRecorder {
    /// A recorder that opens its files when the run starts.
    pub fn new() -> Self {
        Self::default()
    }
}

fn observer_error(e: impl std::fmt::Display) -> ObserverError {
    ObserverError(e.to_string())
}

impl Observer for ResultsRecorder {
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), ObserverError> {
        match event {
            RunEvent::Started {
                config,
                header,
                resume_from,
                ..
            } => {
                let dir = &config.out;
                self.found = resume_from.and_then(|_| inflight::read(dir));
                let writer = match resume_from {
                    Some(keep) => ResultsWriter::reopen(&dir.join("results.jsonl"), *keep),
                    None => ResultsWriter::create(dir, header),
                }
                .map_err(observer_error)?;
                // A marker left by an earlier invocation was read (by a
                // resume) before this event; it describes nothing now.
                inflight::end(dir).map_err(observer_error)?;
                self.writer = Some(writer);
                self.dir = Some(dir.clone());
            }
            RunEvent::CaseStarted { id } => {
                if let Some(dir) = &self.dir {
                    let deaths = self.found.as_ref().map_or(0, |m| m.deaths_before(id));
                    inflight::begin(dir, id, deaths).map_err(observer_error)?;
                }
            }
            RunEvent::CaseFinished { result } => {
                if let Some(w) = &mut self.writer {
                    w.append(result).map_err(observer_error)?;
                }
                if let Some(dir) = &self.dir {
                    inflight::end(dir).map_err(observer_error)?;
                }
            }
            RunEvent::Interrupted => {
                // The case in flight was abandoned, not lost: a resume runs
                // it again rather than calling it a crash.
                if let Some(dir) = &self.dir {
                    inflight::end(dir).map_err(observer_error)?;
                }
            }
            RunEvent::Finished { config, results } => {
                if let Some(w) = &mut self.writer {
                    w.sync().map_err(observer_error)?;
                }
                let path = results_json_path(&config.out);
                results.write(&path).map_err(observer_error)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::DType;
    use crate::run::events::Observer;
    use crate::run::results::{ResultsFile, RunHeader, SCHEMA, SCHEMA_VERSION};
    use crate::run::resume::read_previous;
    use crate::run::{CaseResult, RunConfig, Status};

    fn config(out: &std::path::Path) -> RunConfig {
        RunConfig {
            command: vec!["xpucert".into(), "run".into()],
            ..RunConfig::new(
                "reference".into(),
                vec!["suites/ops/core.yaml".into()],
                out.to_path_buf(),
            )
        }
    }

    fn header() -> RunHeader {
        RunHeader {
            record: RunHeader::RECORD.into(),
            schema: SCHEMA.into(),
            schema_version: SCHEMA_VERSION,
            suites: vec![],
            backend_path: "/lib/libx.so".into(),
            backend_sha256: "ab".repeat(32),
            filters: vec![],
            settings: Default::default(),
            started_at: "2026-11-23T00:00:00Z".into(),
            isolation_warning: None,
        }
    }

    fn case(id: &str, status: Status) -> CaseResult {
        CaseResult::for_model(id, DType::F32, "x:1:1".into(), status, None)
    }

    fn results(cases: Vec<CaseResult>) -> ResultsFile {
        ResultsFile::sample(cases)
    }

    #[test]
    fn writes_jsonl_as_cases_finish_and_json_at_the_end_and_appends_on_resume() {
        let _serial = crate::run::inflight::SERIAL
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let h = header();
        let (a, b) = (case("m.a", Status::Pass), case("m.b", Status::Fail));
        let mut rec = ResultsRecorder::new();
        let started = RunEvent::Started {
            config: &cfg,
            header: &h,
            resume_from: None,
            total: 2,
            done: 0,
        };
        rec.on_event(&started).unwrap();
        rec.on_event(&RunEvent::CaseStarted { id: "m.a" }).unwrap();
        rec.on_event(&RunEvent::CaseFinished { result: &a })
            .unwrap();
        let jsonl = dir.path().join("results.jsonl");
        let prev = read_previous(&jsonl).unwrap();
        assert_eq!(prev.header, h);
        assert_eq!(prev.cases, vec![a.clone()]);

        // A second invocation resumes after the valid lines and appends.
        let mut rec = ResultsRecorder::new();
        let resumed = RunEvent::Started {
            config: &cfg,
            header: &h,
            resume_from: Some(prev.valid_len),
            total: 2,
            done: 1,
        };
        rec.on_event(&resumed).unwrap();
        rec.on_event(&RunEvent::CaseFinished { result: &b })
            .unwrap();
        let all = results(vec![a.clone(), b.clone()]);
        rec.on_event(&RunEvent::Finished {
            config: &cfg,
            results: &all,
        })
        .unwrap();
        let prev = read_previous(&jsonl).unwrap();
        assert_eq!(prev.cases, vec![a, b]);
        assert!(!prev.torn_tail);
        let back = ResultsFile::read(&dir.path().join("results.json")).unwrap();
        assert_eq!(back, all);
        assert_eq!(back.summary.count(Status::Fail), 1);
        assert!(!back.summary.conformant);
    }

    /// The error of a fresh run's start into `out`, as text.
    fn fresh_start_error(out: &std::path::Path) -> String {
        let cfg = config(out);
        let h = header();
        ResultsRecorder::new()
            .on_event(&RunEvent::Started {
                config: &cfg,
                header: &h,
                resume_from: None,
                total: 0,
                done: 0,
            })
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn an_unwritable_out_dir_stops_the_run_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let e = fresh_start_error(&file);
        // The step and the path; no `resume` wording in a fresh run.
        let dir = file.display();
        assert!(
            e.starts_with(&format!("cannot create the output directory {dir}: ")),
            "{e}"
        );
        assert!(!e.contains("resume"), "{e}");
    }

    #[test]
    fn a_failed_jsonl_write_says_write_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let jsonl = dir.path().join("results.jsonl");
        std::os::unix::fs::symlink("/dev/full", &jsonl).unwrap();
        let e = fresh_start_error(dir.path());
        assert!(
            e.starts_with(&format!("cannot write {}: ", jsonl.display())),
            "{e}"
        );
        assert!(!e.contains("resume"), "{e}");
    }
}
