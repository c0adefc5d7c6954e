//! The progress bar of long runs: cases done / total, the case in flight,
//! failures so far and the ETA, on stderr. Hidden when stderr is not a
//! terminal or when `CI` is set, so logs never fill with redraws.
//! [`ProgressObserver`] draws it from a run's events.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Status;
use super::events::{Observer, ObserverError, RunEvent};

/// A progress bar that may be hidden.
pub struct Progress {
    bar: Option<ProgressBar>,
    failures: usize,
}

/// Whether a bar should be drawn: stderr is a terminal and `CI` is unset.
pub fn wanted() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

impl Progress {
    /// A bar over `total` cases, of which `done` are already done (resume);
    /// hidden unless `show`.
    pub fn new(total: usize, done: usize, show: bool) -> Self {
        let bar = show.then(|| {
            let b = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{bar:30} {pos}/{len} cases, {prefix} failed, ETA {eta} {wide_msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            b.set_style(style);
            b.set_prefix("0");
            b.set_position(done as u64);
            b
        });
        Progress { bar, failures: 0 }
    }

    /// The case `id` starts.
    pub fn start(&self, id: &str) {
        if let Some(b) = &self.bar {
            b.set_message(id.to_string());
        }
    }

    /// The case in flight ended with `status`.
    pub fn finish_case(&mut self, status: Status) {
        if status.is_failure() {
            self.failures += 1;
        }
        if let Some(b) = &self.bar {
            b.set_prefix(self.failures.to_string());
            b.inc(1);
        }
    }

    /// Failures counted so far.
    pub fn failures(&self) -> usize {
        self.failures
    }

    /// Removes the bar from the terminal.
    pub fn clear(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// The progress bar as an observer of a run: created when the run starts
/// (counting cases a resume took over as done), removed when it ends.
#[derive(Default)]
pub struct ProgressObserver {
    progress: Option<Progress>,
}

impl ProgressObserver {
    /// A bar drawn only where [`wanted`].
    pub fn new() -> Self {
        Self::default()
    }
}

impl Observer for ProgressObserver {
    fn on_event(&mut self, event: &RunEvent<'_>) -> Result<(), ObserverError> {
        match event {
            RunEvent::Started { total, done, .. } => {
                self.progress = Some(Progress::new(*total, *done, wanted()));
            }
            RunEvent::CaseStarted { id } => {
                if let Some(p) = &self.progress {
                    p.start(id);
                }
            }
            RunEvent::CaseFinished { result } => {
                if let Some(p) = &mut self.progress {
                    p.finish_case(result.status);
                }
            }
            RunEvent::Interrupted | RunEvent::Finished { .. } => {
                if let Some(p) = self.progress.take() {
                    p.clear();
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_bar_still_counts_failures() {
        let mut p = Progress::new(3, 0, false);
        p.start("a");
        p.finish_case(Status::Pass);
        p.finish_case(Status::Crash);
        p.finish_case(Status::Unsupported);
        assert_eq!(p.failures(), 1);
        p.clear();
    }
}
