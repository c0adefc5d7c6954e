//! The reports of a run as observers of its events ([`crate::run::RunEvent`]):
//! what `run --format ...` (and `certify`) print on stdout when the run
//! finishes. `results.json` is already written by then (the results files
//! observer comes first). Everything printed passes through
//! [`crate::text::escape`]: results carry vendor strings.

use crate::run::events::results_json_path;
use crate::run::{Observer, ObserverError, RunEvent};
use crate::text::{escape, to_json_pretty};

/// Failures listed in detail by the terminal summary.
const DETAILED_FAILURES: usize = 20;

/// What a run prints on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunFormat {
    /// The op x dtype summary table, failures, and the verdict.
    Table,
    /// results.json.
    Json,
    /// JUnit XML (one testcase per case).
    Junit,
    /// Markdown, sized for a pull-request comment.
    Md,
    /// A self-contained HTML report.
    Html,
    /// For CI logs: one plain line per failed case, then the verdict.
    Lines,
}

/// The observer that prints a run's report in `format` when it finishes.
pub fn reporter(format: RunFormat) -> Box<dyn Observer> {
    match format {
        RunFormat::Table => Box::new(SummaryReporter),
        RunFormat::Lines => Box::new(LinesReporter),
        other => Box::new(DocumentReporter(other)),
    }
}

/// The terminal summary: the op x dtype table, each failure with the
/// commands that rerun and debug it, model lines, the verdict and where the
/// results are.
pub struct SummaryReporter;

impl Observer for SummaryReporter {
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), ObserverError> {
        let RunEvent::Finished { config, results } = event else {
            return Ok(());
        };
        println!("{}", escape(&super::summary_table(results).to_string()));
        let prefix = config.rerun_prefix();
        for line in super::failure_details(results, &prefix, &config.out, DETAILED_FAILURES) {
            println!("{}", escape(&line));
        }
        for line in results
            .cases
            .iter()
            .filter_map(crate::run::model_case::summary_line)
        {
            println!("{}", escape(&line));
        }
        for line in super::waiver_lines(results, DETAILED_FAILURES) {
            println!("{}", escape(&line));
        }
        for line in super::oracle_mismatch_lines(results, DETAILED_FAILURES) {
            println!("{}", escape(&line));
        }
        println!("{}", escape(&super::verdict_line(results)));
        let path = results_json_path(&config.out);
        println!("results: {}", escape(&path.display().to_string()));
        Ok(())
    }
}

/// `--format lines`: one plain line per failed case, the verdict, and
/// where the results are.
pub struct LinesReporter;

impl Observer for LinesReporter {
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), ObserverError> {
        let RunEvent::Finished { config, results } = event else {
            return Ok(());
        };
        for line in super::teach::ci_lines(results) {
            println!("{}", escape(&line));
        }
        for line in super::oracle_mismatch_lines(results, usize::MAX) {
            println!("{}", escape(&line));
        }
        println!("{}", escape(&super::verdict_line(results)));
        let path = results_json_path(&config.out);
        println!("results: {}", escape(&path.display().to_string()));
        Ok(())
    }
}

/// A whole document on stdout: JSON, JUnit, Markdown or HTML.
pub struct DocumentReporter(pub RunFormat);

impl Observer for DocumentReporter {
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), ObserverError> {
        let RunEvent::Finished { results, .. } = event else {
            return Ok(());
        };
        let text = match self.0 {
            RunFormat::Json => to_json_pretty(results).map_err(|e| ObserverError(e.to_string()))?,
            RunFormat::Junit => super::junit::render(results),
            RunFormat::Md => super::markdown::render(results, super::markdown::MAX_CHARS),
            RunFormat::Html => super::html::render(results),
            RunFormat::Table | RunFormat::Lines => return Ok(()),
        };
        println!("{}", escape(&text));
        Ok(())
    }
}
