//! Guard rails of a run, for the ways a backend can end the xpucert process
//! itself: `exit()` called inside the library, and (with `--isolation
//! none`) a call that never returns, or prints on stdout.
//!
//! A [`RunGuard`] lives from just before the backend is loaded until the
//! run returns. While it does:
//! * an exit handler (atexit) turns any `exit()` of the process, from any
//!   thread, into a failure: it adds how the process ended to the in-flight
//!   marker (`inflight.rs`), says so on stderr, ends stray children and
//!   exits with [`EXIT_CODE`] (or [`LOAD_EXIT_CODE`] while the backend was
//!   still loading), so an `exit(0)` in vendor code can never read as
//!   "conformant";
//! * with `--isolation none`: fd 1 points at stderr (vendor prints cannot
//!   corrupt `--format json`; the report gets the real stdout back when the
//!   run finishes), the watchdog (`backend::watchdog`) bounds every call by
//!   its time limit by ending the process with [`EXIT_CODE`], the in-flight
//!   case recorded as `timeout`; the runner says on stderr what the mode
//!   gives up ([`NO_ISOLATION`], also in the results' provenance).

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use super::Status;
use super::inflight;
use super::plan::Isolation;
use crate::backend::{watchdog, worker};

/// Exit code of a run the backend cut short by ending the xpucert process
/// (an `exit()` inside it, or a call over its limit under `--isolation
/// none`). `results.jsonl` holds the finished cases and the in-flight
/// marker; `--resume` records that case and continues.
pub const EXIT_CODE: u8 = 4;

/// Exit code of an `exit()` while the backend was loading: the backend
/// could not be loaded (the command line's `ExitCode::Load`).
pub const LOAD_EXIT_CODE: u8 = 3;

/// What `--isolation none` gives up, said on stderr at the start of such a
/// run and recorded in its results (`isolation_warning`).
pub const NO_ISOLATION: &str = "--isolation none: the backend runs inside xpucert, \
    so nothing contains it: a crash or abort kills the run (no `crash` result), \
    exit() or a call over its time limit ends it (exit code 4, no results.json; \
    `--resume` records that case and continues), memory faults can corrupt the \
    harness and its results unnoticed, and processes the backend starts are \
    only ended when xpucert ends; use it to debug, not for results you publish";

/// 0: no run; 1: loading the backend; 2: running.
static PHASE: AtomicU8 = AtomicU8::new(0);
const IDLE: u8 = 0;
const LOADING: u8 = 1;
const RUNNING: u8 = 2;

/// A run in progress (see the module documentation).
pub struct RunGuard {
    /// The real stdout while fd 1 points at stderr (`--isolation none`).
    saved_stdout: Option<OwnedFd>,
}

impl RunGuard {
    /// Starts guarding before the backend is loaded.
    pub fn loading(isolation: Isolation) -> Self {
        if let Err(e) = worker::call_at_exit(on_exit) {
            eprintln!("xpucert: warning: cannot guard against exit() in the backend: {e}");
        }
        PHASE.store(LOADING, Ordering::SeqCst);
        let mut saved_stdout = None;
        if isolation == Isolation::None {
            // The warning itself is the runner's, once the run is valid.
            match worker::stdout_to_stderr() {
                Ok(fd) => saved_stdout = Some(fd),
                Err(e) => {
                    eprintln!("xpucert: warning: cannot keep the backend's prints off stdout: {e}")
                }
            }
            if let Err(e) = watchdog::enforce(on_overrun) {
                eprintln!("xpucert: warning: cannot start the watchdog, calls are unbounded: {e}");
            }
        }
        RunGuard { saved_stdout }
    }

    /// The backend is loaded: an exit from now on cuts a run short.
    pub fn running(&self) {
        PHASE.store(RUNNING, Ordering::SeqCst);
    }

    /// Gives fd 1 back to the real stdout, for the run's report. A vendor
    /// thread that prints after this reaches stdout.
    pub fn restore_stdout(&mut self) {
        if let Some(fd) = self.saved_stdout.take()
            && let Err(e) = worker::restore_stdout(&fd)
        {
            eprintln!("xpucert: warning: cannot restore stdout: {e}");
        }
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.restore_stdout();
        PHASE.store(IDLE, Ordering::SeqCst);
    }
}

/// The exit handler: a no-op unless a run is in progress.
fn on_exit() {
    match PHASE.load(Ordering::SeqCst) {
        IDLE => {}
        LOADING => {
            eprintln!(
                "xpucert: error: the backend ended the xpucert process (it called exit()) \
                 while it was being loaded"
            );
            worker::sweep();
            worker::exit_now(i32::from(LOAD_EXIT_CODE));
        }
        _ => {
            let how = "the process exited (exit() called by the backend, or by a thread \
                       of it) while the run was in progress";
            cut_short(Status::Crash, how);
        }
    }
}

/// The watchdog's hook: a call overran its limit in process.
fn on_overrun(during: &'static str, limit: Duration) -> i32 {
    let how = format!(
        "no answer from {during} after {:.1} s; with --isolation none a call cannot be \
         stopped, so xpucert ended itself",
        limit.as_secs_f64()
    );
    cut_short(Status::Timeout, &how)
}

/// Records `how` on the in-flight case, says it, ends stray children and
/// exits with [`EXIT_CODE`].
fn cut_short(status: Status, how: &str) -> ! {
    let case = inflight::record_ending(status, how);
    let during = case.map_or(String::new(), |c| format!(" during case {c}"));
    eprintln!(
        "xpucert: error: {how}{during}; the run did not finish: results.jsonl keeps the \
         cases done, no results.json was written, and `--resume` with the same arguments \
         records this case as {status} and continues"
    );
    worker::sweep();
    worker::exit_now(i32::from(EXIT_CODE))
}
