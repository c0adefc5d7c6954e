//! The only `unsafe` of worker isolation: signalling a process group,
//! tying the worker's life to its parent's, and moving fd 1. Each is one
//! libc call with no memory-safety preconditions beyond its arguments.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;

pub use libc::{SIGKILL, SIGTERM};

/// Sends `sig` to the process group led by `leader` (our worker, spawned
/// with `process_group(0)`, so its group id is its pid).
pub fn signal_group(leader: u32, sig: i32) {
    let Ok(pgid) = libc::pid_t::try_from(leader) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) has no memory-safety preconditions. The group id
    // is our unreaped child's pid, so it cannot have been reused by an
    // unrelated group. An error (ESRCH: already gone) is harmless.
    unsafe { libc::kill(-pgid, sig) };
}

/// Asks the kernel to SIGKILL this worker when the process that spawned
/// it dies, even by SIGKILL, so a hung vendor call never outlives its
/// run. Linux only; elsewhere the worker ends when its stdin closes.
pub fn die_with_parent() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl(PR_SET_PDEATHSIG) takes plain integers and only
        // changes this process's own death-signal setting.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        // The harness may have died before the prctl: then this process
        // was already reparented (to init, pid 1) and must not linger.
        // SAFETY: getppid(2) cannot fail and has no preconditions.
        if unsafe { libc::getppid() } == 1 {
            std::process::exit(0);
        }
    }
}

/// A private duplicate of stdout for frames; fd 1 then points at stderr,
/// so whatever vendor code prints lands in the log.
pub fn protocol_stdout() -> io::Result<File> {
    let fd = io::stdout().as_fd().try_clone_to_owned()?;
    // SAFETY: dup2(2) only changes the descriptor table; fd 1 is not
    // owned by any Rust object we use afterwards (std's stdout writes to
    // fd 1 by number, which now reaches stderr, as intended).
    if unsafe { libc::dup2(2, 1) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(File::from(fd))
}
