//! The observer that keeps a run on disk: `results.jsonl` (created, or
//! reopened after its valid lines on resume; one line appended per finished
//! case) and `results.json` at the end. See `results.rs` for the formats.

use std::path::PathBuf;

use super::events::{Observer, ObserverError, RunEvent, results_json_path};
use super::results::ResultsWriter;
use super::resume::ResumeError;

/// Writes the results files of a run into its `--out` directory.
#[derive(Default)]
pub struct ResultsRecorder {
    writer: Option<ResultsWriter>,
}

impl ResultsRecorder {
    /// A recorder that opens its files when the run starts.
    pub fn new() -> Self {
        Self::default()
    }
}

fn io_error(path: PathBuf, error: std::io::Error) -> ObserverError {
    ObserverError(ResumeError::Io { path, error }.to_string())
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
                let path = dir.join("results.jsonl");
                let writer = match resume_from {
                    Some(keep) => ResultsWriter::reopen(&path, *keep),
                    None => ResultsWriter::create(dir, header),
                }
                .map_err(|e| io_error(path, e))?;
                self.writer = Some(writer);
            }
            RunEvent::CaseFinished { result } => {
                if let Some(w) = &mut self.writer {
                    w.append(result)
                        .map_err(|e| io_error(w.path().to_path_buf(), e))?;
                }
            }
            RunEvent::Interrupted | RunEvent::CaseStarted { .. } => {}
            RunEvent::Finished { config, results } => {
                if let Some(w) = &mut self.writer {
                    let _ = w.sync();
                }
                let path = results_json_path(&config.out);
                results
                    .write(&path)
                    .map_err(|e| ObserverError(format!("cannot write {}: {e}", path.display())))?;
            }
        }
        Ok(())
    }
}
