//! Time limits for calls that run in this process (`--isolation none`),
//! where a hung call cannot be stopped: a watchdog thread waits for the
//! deadline of the call armed now, and if the call is still running then,
//! asks the hook its owner installed what to record and which exit code to
//! use, and ends the process with it. Without an installed hook nothing is
//! armed (a library user keeps calls unbounded, as before).

use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What the watchdog does when a call overruns: record what it must and
/// return the process's exit code. Called on the watchdog thread while the
/// call is still running on its own.
pub type OnExpiry = fn(during: &'static str, limit: Duration) -> i32;

struct Armed {
    deadline: Instant,
    during: &'static str,
    limit: Duration,
}

static HOOK: OnceLock<OnExpiry> = OnceLock::new();
static STATE: Mutex<Option<Armed>> = Mutex::new(None);
static WAKE: Condvar = Condvar::new();

/// Turns the watchdog on for this process: from now on [`arm`] bounds
/// calls, and an overrun calls `hook` and exits. Only the first hook counts.
pub fn enforce(hook: OnExpiry) -> std::io::Result<()> {
    if HOOK.set(hook).is_err() {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("xpucert-watchdog".into())
        .spawn(watch)
        .map(drop)
}

/// A call in progress under the watchdog; dropping it disarms it and
/// re-arms the call it was nested in (a model job's inner calls), if any.
pub struct Watch(Option<Armed>);

impl Drop for Watch {
    fn drop(&mut self) {
        *STATE.lock().unwrap_or_else(|e| e.into_inner()) = self.0.take();
        WAKE.notify_all();
    }
}

/// Arms the watchdog for a call `during` that may take `limit`; `None`
/// when the watchdog is off.
pub fn arm(during: &'static str, limit: Duration) -> Option<Watch> {
    HOOK.get()?;
    let outer = STATE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .replace(Armed {
            deadline: Instant::now() + limit,
            during,
            limit,
        });
    WAKE.notify_all();
    Some(Watch(outer))
}

fn watch() {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let overrun = match state.as_ref() {
            None => None,
            Some(a) if Instant::now() >= a.deadline => Some((a.during, a.limit)),
            Some(a) => {
                let wait = a.deadline.saturating_duration_since(Instant::now());
                state = WAKE
                    .wait_timeout(state, wait)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
                continue;
            }
        };
        match overrun {
            Some((during, limit)) => {
                drop(state);
                let code = HOOK.get().map_or(1, |hook| hook(during, limit));
                super::worker::exit_now(code);
            }
            None => {
                state = WAKE.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        }
    }
}
