//! Clean stops on Ctrl-C: SIGINT or SIGTERM sets a flag instead of killing
//! xpucert, so the runner can abandon the current case, write a partial
//! `results.json` (`summary.interrupted: true`), print the summary and exit
//! with [`EXIT_CODE`]. A second signal while the flag is already set exits at
//! once with the same code, for a backend call that never returns in-process.
//!
//! Anything that waits on a backend (the worker proxy's read loop, timeouts)
//! polls [`requested`] or holds [`flag`] and gives up when it turns true: the
//! case in flight is abandoned, never recorded, so `--resume` runs it again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Exit code of an interrupted run (128 + SIGINT, as shells report it).
pub const EXIT_CODE: u8 = 130;

fn shared() -> &'static Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Installs the SIGINT and SIGTERM handlers. Idempotent enough for one
/// process: each call adds handlers that set the same flag.
pub fn install() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    for sig in [SIGINT, SIGTERM] {
        // Registered first so it sees the flag as it was before this signal:
        // the second signal exits, the first only sets the flag.
        signal_hook::flag::register_conditional_shutdown(
            sig,
            i32::from(EXIT_CODE),
            Arc::clone(shared()),
        )?;
        signal_hook::flag::register(sig, Arc::clone(shared()))?;
    }
    Ok(())
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    shared().load(Ordering::SeqCst)
}

/// The flag itself, for code that waits on something else (a worker's pipe)
/// and wants to check it cheaply or hand it to a thread.
pub fn flag() -> Arc<AtomicBool> {
    Arc::clone(shared())
}

/// Asks for a stop as a signal would (tests, and a worker that wants the
/// whole run to end).
pub fn request() {
    shared().store(true, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_seen_through_the_shared_flag() {
        let f = flag();
        request();
        assert!(requested());
        assert!(f.load(Ordering::SeqCst));
        // Other tests of this binary never look at the flag, so leaving it
        // set is harmless; clear it anyway to keep the process tidy.
        f.store(false, Ordering::SeqCst);
        assert!(!requested());
    }
}
