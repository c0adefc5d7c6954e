//! Containment of what a backend starts: processes that outlive the worker
//! that started them (a child forked in a library constructor, a daemon
//! that double-forked into its own session).
//!
//! The worker's process group takes along everything that stayed in it
//! (the group is killed at every worker end, a clean one included). What
//! left the group is found through the subreaper bit: once
//! [`contain_descendants`] has made this process a child subreaper, every
//! orphaned descendant reparents to us instead of to init, so after each
//! worker end (and at exit) [`sweep`] ends every child of ours that is not
//! a live worker, then the children those leave behind, and reaps them.
//!
//! Sweeping is a process-wide policy: the `xpucert` binary opts in for its
//! runs; a library user (a test, a bench) that spawns processes of its own
//! does not get them killed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::sys;

/// Whether [`sweep`] ends orphans (set by [`contain_descendants`]).
static SWEEPING: AtomicBool = AtomicBool::new(false);

/// Pids of the workers alive now: children of ours a sweep must leave be.
/// Held across a spawn and its registration, and across a sweep, so a
/// sweep never sees a worker that is not registered yet.
pub(super) static LIVE_WORKERS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Rounds of a sweep: each ends the orphans found, whose own children then
/// reparent to us; a process tree deeper than this (or a fork loop) is
/// left for the exit sweep.
const ROUNDS: usize = 64;

/// Makes this process a child subreaper (Linux) and turns sweeping on.
/// Returns whether orphans that left the worker's session are caught (the
/// subreaper bit took); children forked in process are caught either way.
pub fn contain_descendants() -> bool {
    SWEEPING.store(true, Ordering::SeqCst);
    sys::become_subreaper()
}

/// Ends and reaps every child of this process that is not a live worker
/// (after [`contain_descendants`]; a no-op before). Returns how many.
pub fn sweep() -> usize {
    if !SWEEPING.load(Ordering::SeqCst) {
        return 0;
    }
    let live = LIVE_WORKERS.lock().unwrap_or_else(|e| e.into_inner());
    let mut ended = 0;
    for _ in 0..ROUNDS {
        let orphans: Vec<i32> = children()
            .into_iter()
            .filter(|&p| u32::try_from(p).is_ok_and(|p| !live.contains(&p)))
            .collect();
        if orphans.is_empty() {
            break;
        }
        for &pid in &orphans {
            sys::signal_pid(pid, sys::SIGKILL);
        }
        for &pid in &orphans {
            // SIGKILL cannot be caught: the wait ends as soon as the
            // process does (a zombie is reaped at once).
            if sys::reap_pid(pid, true) {
                ended += 1;
            }
        }
    }
    ended
}

/// The processes whose parent is this process, from `/proc/*/stat`
/// (Linux; elsewhere none are found).
fn children() -> Vec<i32> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| parent_of(&s))
                == Some(me)
        })
        .collect()
}

/// The parent pid in a `/proc/PID/stat` line: the second field after the
/// command name, which is in parentheses and may itself hold `)` or spaces.
fn parent_of(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_is_read_after_the_last_parenthesis() {
        assert_eq!(parent_of("42 (sleep) S 7 42 42 0"), Some(7));
        assert_eq!(parent_of("42 (a) b) (c) Z 1234 5 5"), Some(1234));
        assert_eq!(parent_of("42 (cut"), None);
    }

    #[test]
    fn without_containment_nothing_is_swept() {
        // The test binary never opts in, so its own children are safe.
        assert!(!SWEEPING.load(Ordering::SeqCst));
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert_eq!(sweep(), 0);
        assert!(child.try_wait().unwrap().is_none());
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
