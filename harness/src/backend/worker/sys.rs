//! The only `unsafe` of worker isolation: signalling a process group,
//! tying the worker's life to its parent's, moving fd 1, and the handler
//! that reports a fatal memory access before the worker dies of it. Each is
//! a libc call with no memory-safety preconditions beyond its arguments.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicI32, Ordering};

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

/// The descriptor the fault handler writes its report to (the protocol's
/// private stdout); -1 before [`report_faults_to`].
static FAULT_FD: AtomicI32 = AtomicI32::new(-1);

/// Bytes of the alternate signal stack: the handler must run even when the
/// fault is a stack overflow.
const ALT_STACK: usize = 64 << 10;

/// Installs a SIGSEGV/SIGBUS handler (on an alternate stack) that writes a
/// [`crate::backend::frame::Frame::Fault`] naming the guard page hit (see
/// [`super::fault`]) to `fd`, restores the default action and re-raises,
/// so the harness still sees the worker die of the signal.
pub fn report_faults_to(fd: &impl AsRawFd) -> io::Result<()> {
    FAULT_FD.store(fd.as_raw_fd(), Ordering::SeqCst);
    let stack: &'static mut [u8] = Box::leak(vec![0u8; ALT_STACK].into_boxed_slice());
    let ss = libc::stack_t {
        ss_sp: stack.as_mut_ptr().cast(),
        ss_flags: 0,
        ss_size: stack.len(),
    };
    // SAFETY: the stack is leaked, so it stays valid and unused by anything
    // else for the life of the process; sigaltstack only records it.
    if unsafe { libc::sigaltstack(&ss, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    for sig in [libc::SIGSEGV, libc::SIGBUS] {
        // SAFETY: an all-zero sigaction is a valid value (empty mask, no
        // flags) that is then filled in field by field.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = on_fault as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: sa is a valid sigaction; the handler has the SA_SIGINFO
        // signature and only makes async-signal-safe calls.
        if unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether the faulting access was a write: bit 1 of the page-fault error
/// code (x86-64 Linux); `None` where the context does not say.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn fault_was_write(ctx: *mut libc::c_void) -> Option<bool> {
    if ctx.is_null() {
        return None;
    }
    // SAFETY: with SA_SIGINFO the kernel passes a valid ucontext_t as the
    // third handler argument; it is only read here.
    let err =
        unsafe { (*ctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs[libc::REG_ERR as usize] };
    Some(err & 2 != 0)
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn fault_was_write(_ctx: *mut libc::c_void) -> Option<bool> {
    None
}

/// The handler: only atomics, stack values, `write(2)`, `signal(2)` and
/// `raise(3)`, all async-signal-safe.
extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let addr = if info.is_null() {
        0
    } else {
        // SAFETY: with SA_SIGINFO, info points to the kernel's siginfo_t,
        // whose si_addr is the faulting address for SIGSEGV and SIGBUS.
        unsafe { (*info).si_addr() as usize }
    };
    let report = super::fault::locate(sig, addr, fault_was_write(ctx));
    let bytes = report.frame_bytes();
    let fd = FAULT_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) of a stack buffer to a descriptor this process
        // owns; a short write only leaves the harness with a cut frame.
        unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    }
    // SAFETY: signal(2) and raise(3) are async-signal-safe; with the
    // default action restored, the re-raised signal (delivered when the
    // handler returns) ends the process as the fault would have.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Sends `sig` to the single process `pid` (an orphan this process adopted).
pub fn signal_pid(pid: i32, sig: i32) {
    if pid <= 1 {
        return;
    }
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is a
    // child of this process (it reparented to us and is not yet reaped),
    // so it cannot have been reused.
    unsafe { libc::kill(pid, sig) };
}

/// Reaps the child `pid` (waiting for it when `block`); whether it was.
pub fn reap_pid(pid: i32, block: bool) -> bool {
    let flags = if block { 0 } else { libc::WNOHANG };
    let mut status = 0;
    // SAFETY: waitpid(2) writes only the status integer we pass.
    unsafe { libc::waitpid(pid, &mut status, flags) == pid }
}

/// Whether the child `pid` has exited, without reaping it (its pid, and so
/// its process group id, stay reserved until it is reaped).
pub fn has_exited(pid: u32) -> bool {
    let pid: libc::id_t = pid;
    // SAFETY: an all-zero siginfo_t is a valid value for waitid to fill.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid(2) writes only the siginfo_t we pass; WNOWAIT leaves
    // the child waitable, so std's Child::wait still reaps it later.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: reading si_pid of a siginfo_t waitid filled (or left zeroed).
    r != 0 || unsafe { info.si_pid() } != 0
}

/// Makes this process a child subreaper (Linux): orphaned descendants,
/// even ones that started their own session, reparent to us instead of
/// init, so they can be found and ended. Whether it worked.
pub fn become_subreaper() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes plain integers and
        // only changes this process's own attribute.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Ends this process at once with `code`: no atexit handlers, no flushing
/// of stdio buffers (what is left there belongs to the code that is being
/// cut short).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) is always safe to call; it does not return.
    unsafe { libc::_exit(code) }
}

/// The hook [`call_at_exit`] runs.
static AT_EXIT: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

extern "C" fn at_exit_trampoline() {
    if let Some(hook) = AT_EXIT.get() {
        hook();
    }
}

/// Has `hook` run when the process calls `exit()` (from any thread, from
/// any code: the vendor library's included). Only the first hook counts.
pub fn call_at_exit(hook: fn()) -> io::Result<()> {
    if AT_EXIT.set(hook).is_err() {
        return Ok(());
    }
    // SAFETY: atexit(3) records a function pointer; the trampoline is an
    // `extern "C" fn()` that lives as long as the program.
    if unsafe { libc::atexit(at_exit_trampoline) } != 0 {
        return Err(io::Error::other("atexit refused the handler"));
    }
    Ok(())
}

/// Points fd 1 at stderr and returns a private copy of the real stdout, to
/// give back with [`restore_stdout`].
pub fn stdout_to_stderr() -> io::Result<std::os::fd::OwnedFd> {
    use std::io::Write;
    let _ = io::stdout().flush();
    let saved = io::stdout().as_fd().try_clone_to_owned()?;
    // SAFETY: dup2(2) only changes the descriptor table (see protocol_stdout).
    if unsafe { libc::dup2(2, 1) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(saved)
}

/// Points fd 1 back at `saved` (from [`stdout_to_stderr`]).
pub fn restore_stdout(saved: &std::os::fd::OwnedFd) -> io::Result<()> {
    use std::io::Write;
    let _ = io::stdout().flush();
    // SAFETY: dup2(2) only changes the descriptor table; `saved` is a
    // descriptor we own and keep open across the call.
    if unsafe { libc::dup2(saved.as_raw_fd(), 1) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
