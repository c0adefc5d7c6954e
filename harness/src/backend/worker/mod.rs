//! Worker-process isolation: the backend library lives in a child process
//! (`xpucert worker`, this same binary), so a crash, `exit()` or hang in
//! vendor code ends that process, not the run.
//!
//! The harness side is [`WorkerBackend`]: it starts the worker in its own
//! process group, sends it [`Frame`]s on its stdin and reads answers from its
//! stdout on a reader thread, so every wait has a deadline. When the worker
//! dies (the pipe closes) the exit status says how: a signal (`killed by
//! SIGSEGV`) or an exit code. When it does not answer in time, its process
//! group gets SIGTERM, a short grace period, then SIGKILL. Either way the
//! call becomes one typed [`ExecError`] and the next call starts a fresh
//! worker. A worker that dies while loading the library is a [`LoadError`]:
//! the run stops once instead of reporting the same crash for every case.
//!
//! The worker side is [`serve`] (in `serve.rs`): the process's main loop,
//! serving the job kinds its entry point registered. The few OS calls both
//! sides need (`sys.rs`) are the only `unsafe` here.

mod contain;
mod fault;
mod serve;
mod sys;

use std::io::{BufReader, BufWriter};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

pub use contain::{contain_descendants, sweep};
pub use serve::serve;
pub use sys::{call_at_exit, exit_now, restore_stdout, stdout_to_stderr};

use super::call::{PreparedCall, StoredTensor};
use super::frame::{CallSpec, FaultReport, Frame, FrameError, OpenRequest, OpenedInfo, TensorDesc};
use super::jobs::JobHandler;
use super::timing::{MeasurePlan, Measured};
use super::{CallError, ExecError, LoadError, LoadErrorKind, OPTIONAL_GROUPS, QueryAnswer};

/// How long a worker gets to exit after SIGTERM (or after its stdin closes)
/// before SIGKILL.
const GRACE: Duration = Duration::from_millis(500);

/// Environment variable naming the executable to start as the worker
/// (default: the running executable, which is `xpucert`). For programs that
/// embed the harness, such as its benches.
pub const WORKER_EXE_ENV: &str = "XPUCERT_WORKER_EXE";

/// A backend running in a worker process.
pub struct WorkerBackend {
    path: PathBuf,
    options: Vec<(String, String)>,
    startup_limit: Duration,
    info: OpenedInfo,
    /// `None` after the worker died or was killed; the next call starts one.
    proc: Option<Process>,
}

impl std::fmt::Debug for WorkerBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerBackend")
            .field("path", &self.path)
            .field("name", &self.info.name)
            .field("pid", &self.proc.as_ref().map(|p| p.child.id()))
            .finish()
    }
}

/// One live worker process.
struct Process {
    child: Child,
    /// `None` once closed, which asks the worker to exit.
    stdin: Option<BufWriter<ChildStdin>>,
    answers: Receiver<Result<Frame, FrameError>>,
}

/// Why an exchange with a worker gave no answer.
enum Lost {
    /// The worker is gone: how it died, and what its fault handler saw.
    Died(String, Option<FaultReport>),
    /// No answer in time; the worker was killed.
    Hung,
    /// It answered bytes that are not a frame; it was killed.
    Garbled(String),
}

impl WorkerBackend {
    /// Starts a worker and has it load `path` with `options`. A worker that
    /// does not finish loading within `startup_limit` is killed.
    pub fn open(
        path: &Path,
        options: &[(String, String)],
        startup_limit: Duration,
    ) -> Result<Self, LoadError> {
        let (proc, info) = spawn(path, options, startup_limit).map_err(|kind| LoadError {
            library: path.to_path_buf(),
            kind,
        })?;
        Ok(WorkerBackend {
            path: path.to_path_buf(),
            options: options.to_vec(),
            startup_limit,
            info,
            proc: Some(proc),
        })
    }

    /// Process id of the current worker, if one is running.
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(|p| p.child.id())
    }

    /// Sends `request` and waits up to `limit` for the answer; on any loss
    /// the worker is gone afterwards and the next call starts a new one.
    fn exchange(
        &mut self,
        request: &Frame,
        during: &'static str,
        limit: Duration,
    ) -> Result<Frame, ExecError> {
        if self.proc.is_none() {
            match spawn(&self.path, &self.options, self.startup_limit) {
                Ok((p, _)) => self.proc = Some(p),
                Err(kind) => {
                    return Err(ExecError::Crashed {
                        during: "start-up of a replacement worker",
                        fault: None,
                        death: match kind {
                            LoadErrorKind::WorkerDied(m) => m,
                            other => format!(
                                "could not reload the backend: {}",
                                LoadError {
                                    library: self.path.clone(),
                                    kind: other,
                                }
                            ),
                        },
                    });
                }
            }
        }
        let Some(p) = self.proc.as_mut() else {
            return Err(ExecError::Protocol("no worker".into()));
        };
        match p.exchange(request, limit) {
            Ok(f) => Ok(f),
            Err(lost) => {
                self.proc = None;
                Err(match lost {
                    Lost::Died(death, fault) => ExecError::Crashed {
                        during,
                        death,
                        fault,
                    },
                    Lost::Hung => ExecError::TimedOut { during, limit },
                    Lost::Garbled(m) => ExecError::Protocol(m),
                })
            }
        }
    }

    /// Ends the current worker (after an answer that does not fit).
    fn discard(&mut self) {
        if let Some(p) = self.proc.take() {
            p.shutdown();
        }
    }
}

impl super::Executor for WorkerBackend {
    fn name(&self) -> &str {
        &self.info.name
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn abi_version(&self) -> (u32, u32) {
        self.info.abi
    }

    fn optional_groups(&self) -> Vec<(&'static str, bool)> {
        OPTIONAL_GROUPS
            .iter()
            .enumerate()
            .map(|(i, g)| (*g, self.info.groups.get(i).copied().unwrap_or(false)))
            .collect()
    }

    fn table_size(&self) -> usize {
        self.info.table_size
    }

    fn manifest(&mut self) -> Result<String, CallError> {
        self.info.manifest.clone().map_err(CallError::from)
    }

    fn query(
        &mut self,
        call: &mut PreparedCall,
        limit: Duration,
    ) -> Result<QueryAnswer, ExecError> {
        let request = Frame::Query(spec(call, false));
        match self.exchange(&request, "query_op", limit)? {
            Frame::QueryAnswer(a) => a.map_err(ExecError::Call),
            other => {
                self.discard();
                Err(unexpected("query_op", &other))
            }
        }
    }

    fn run(&mut self, call: &mut PreparedCall, limit: Duration) -> Result<Vec<String>, ExecError> {
        let request = Frame::Run(spec(call, true));
        match self.exchange(&request, "run_op", limit)? {
            Frame::RunDone {
                outputs,
                reported,
                findings,
            } => {
                if let Err(e) = copy_outputs(call, &outputs, &reported) {
                    self.discard();
                    return Err(e);
                }
                Ok(findings)
            }
            Frame::RunFailed(e) => Err(ExecError::Call(e)),
            other => {
                self.discard();
                Err(unexpected("run_op", &other))
            }
        }
    }

    /// Only the kind name and the bytes cross the pipe; the worker serves
    /// the job with the handler its entry point registered under that name.
    fn run_job(
        &mut self,
        handler: &JobHandler,
        job: &[u8],
        limit: Duration,
    ) -> Result<Vec<u8>, ExecError> {
        let request = Frame::Job {
            kind: handler.kind.to_string(),
            job: job.to_vec(),
        };
        match self.exchange(&request, handler.during, limit)? {
            Frame::JobDone(answer) => Ok(answer),
            // The worker is fine; it was started without this handler.
            Frame::NoHandler(kind) => Err(ExecError::Protocol(format!(
                "the worker has no handler for `{kind}` jobs (its entry point must register it)"
            ))),
            other => {
                self.discard();
                Err(unexpected(handler.during, &other))
            }
        }
    }

    /// The timing loop runs in the worker around the library call, so the
    /// figures hold no pipe or copy time.
    fn measure(
        &mut self,
        calls: &mut [PreparedCall],
        plan: &MeasurePlan,
        limit: Duration,
    ) -> Result<Measured, ExecError> {
        let request = Frame::Measure {
            plan: *plan,
            calls: calls.iter().map(|c| spec(c, true)).collect(),
        };
        match self.exchange(&request, "measurement", limit)? {
            Frame::Measured {
                samples_s,
                outputs,
                reported,
                findings,
            } => {
                if outputs.len() != calls.len() || reported.len() != calls.len() {
                    self.discard();
                    return Err(ExecError::Protocol(format!(
                        "worker returned outputs of {} variants for {}",
                        outputs.len(),
                        calls.len()
                    )));
                }
                for ((call, outs), shapes) in calls.iter_mut().zip(&outputs).zip(&reported) {
                    if let Err(e) = copy_outputs(call, outs, shapes) {
                        self.discard();
                        return Err(e);
                    }
                }
                Ok(Measured {
                    samples_s,
                    findings,
                })
            }
            Frame::RunFailed(e) => Err(ExecError::Call(e)),
            other => {
                self.discard();
                Err(unexpected("measurement", &other))
            }
        }
    }
}

/// Copies a worker's output bytes, and the shapes the backend reported for
/// data-dependent outputs, into the harness's buffers, checking count and
/// sizes. A reported shape is copied as reported (within the bound or not:
/// `verify_after_call` judged it in the worker); only its presence and rank
/// must match the call, or the worker is out of step.
fn copy_outputs(
    call: &mut PreparedCall,
    outputs: &[Vec<u8>],
    reported: &[Option<Vec<i64>>],
) -> Result<(), ExecError> {
    if outputs.len() != call.outputs.len() || reported.len() != call.outputs.len() {
        return Err(ExecError::Protocol(format!(
            "worker returned {} outputs and {} shapes for {}",
            outputs.len(),
            reported.len(),
            call.outputs.len()
        )));
    }
    for (i, ((dst, src), shape)) in call
        .outputs
        .iter_mut()
        .zip(outputs)
        .zip(reported)
        .enumerate()
    {
        match (&mut dst.reported, shape) {
            (None, None) => {}
            (Some(r), Some(s)) if r.len() == s.len() => r.copy_from_slice(s),
            _ => {
                return Err(ExecError::Protocol(format!(
                    "worker returned shape {shape:?} for output {i}, allocated {:?} ({})",
                    dst.shape,
                    if dst.reported.is_some() {
                        "data-dependent"
                    } else {
                        "fixed"
                    }
                )));
            }
        }
        let dst = dst.buf.bytes_mut();
        if dst.len() != src.len() {
            return Err(ExecError::Protocol(format!(
                "worker returned {} bytes for output {i} of {} bytes",
                src.len(),
                dst.len()
            )));
        }
        dst.copy_from_slice(src);
    }
    Ok(())
}

impl Drop for WorkerBackend {
    fn drop(&mut self) {
        self.discard();
    }
}

fn unexpected(during: &str, f: &Frame) -> ExecError {
    let kind = match f {
        Frame::Open(_) => "open",
        Frame::Opened(_) => "opened",
        Frame::OpenFailed(_) => "open failed",
        Frame::Query(_) => "query",
        Frame::QueryAnswer(_) => "query answer",
        Frame::Run(_) => "run",
        Frame::RunDone { .. } => "run done",
        Frame::RunFailed(_) => "run failed",
        Frame::Job { .. } => "job",
        Frame::JobDone(_) => "job done",
        Frame::NoHandler(_) => "no handler",
        Frame::Measure { .. } => "measure",
        Frame::Measured { .. } => "measured",
        Frame::Fault(_) => "fault",
    };
    ExecError::Protocol(format!("worker answered {during} with a `{kind}` frame"))
}

fn desc(t: &StoredTensor) -> TensorDesc {
    TensorDesc {
        dtype: t.dtype.code(),
        shape: t.shape.clone(),
        strides: t.strides.clone(),
        bounded: t.reported.is_some(),
    }
}

/// The call by value; input bytes only when they are needed (`run_op`).
fn spec(call: &PreparedCall, with_data: bool) -> CallSpec {
    CallSpec {
        domain: call.domain().to_string(),
        op_type: call.op_type().to_string(),
        opset: call.opset(),
        attributes: call.attributes(),
        inputs: call
            .inputs
            .iter()
            .map(|t| {
                t.as_ref().map(|t| {
                    let bytes = if with_data {
                        t.buf.bytes().to_vec()
                    } else {
                        Vec::new()
                    };
                    (desc(t), bytes)
                })
            })
            .collect(),
        outputs: call.outputs.iter().map(desc).collect(),
    }
}

/// Starts a worker and opens the library in it.
fn spawn(
    path: &Path,
    options: &[(String, String)],
    limit: Duration,
) -> Result<(Process, OpenedInfo), LoadErrorKind> {
    let exe = match std::env::var_os(WORKER_EXE_ENV) {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()
            .map_err(|e| LoadErrorKind::WorkerDied(format!("could not be started ({e})")))?,
    };
    let mut child = {
        // Registered before any sweep can see it as an orphan.
        let mut live = contain::LIVE_WORKERS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let child = Command::new(exe)
            .arg("worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .map_err(|e| LoadErrorKind::WorkerDied(format!("could not be started ({e})")))?;
        live.push(child.id());
        child
    };
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        sys::signal_group(child.id(), sys::SIGKILL);
        let _ = child.wait();
        forget_worker(child.id());
        return Err(LoadErrorKind::WorkerDied("has no pipes".into()));
    };
    let (tx, answers) = mpsc::channel();
    let reader = std::thread::Builder::new()
        .name("xpucert-worker-reader".into())
        .spawn(move || {
            let mut r = BufReader::with_capacity(1 << 16, stdout);
            loop {
                let f = Frame::read_from(&mut r);
                let end = f.is_err();
                if tx.send(f).is_err() || end {
                    break;
                }
            }
        });
    let mut p = Process {
        child,
        stdin: Some(BufWriter::with_capacity(1 << 16, stdin)),
        answers,
    };
    if let Err(e) = reader {
        p.shutdown();
        return Err(LoadErrorKind::WorkerDied(format!(
            "could not be watched ({e})"
        )));
    }
    let request = Frame::Open(OpenRequest {
        library: path.display().to_string(),
        options: options.to_vec(),
    });
    match p.exchange(&request, limit) {
        Ok(Frame::Opened(info)) => Ok((p, info)),
        Ok(Frame::OpenFailed(kind)) => {
            p.shutdown();
            Err(kind)
        }
        Ok(_) => {
            p.shutdown();
            Err(LoadErrorKind::WorkerDied(
                "answered the open request with an unexpected frame".into(),
            ))
        }
        Err(Lost::Died(death, fault)) => {
            let death = if death.starts_with("killed") {
                format!("was {death}")
            } else {
                death
            };
            Err(LoadErrorKind::WorkerDied(match fault {
                Some(f) => format!("{death} ({f})"),
                None => death,
            }))
        }
        Err(Lost::Hung) => Err(LoadErrorKind::WorkerDied(format!(
            "gave no answer within {:.1} s and was killed",
            limit.as_secs_f64()
        ))),
        Err(Lost::Garbled(m)) => Err(LoadErrorKind::WorkerDied(format!(
            "sent a malformed answer ({m})"
        ))),
    }
}

impl Process {
    fn exchange(&mut self, request: &Frame, limit: Duration) -> Result<Frame, Lost> {
        let sent = match self.stdin.as_mut() {
            Some(w) => request.write_to(w),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        };
        if let Err(e) = sent {
            if e.kind() == std::io::ErrorKind::InvalidInput {
                // Too large to send: the worker is fine, the call is not.
                return Err(Lost::Garbled(e.to_string()));
            }
            return Err(Lost::Died(self.reap(), None));
        }
        match self.answers.recv_timeout(limit) {
            Ok(Ok(Frame::Fault(report))) => {
                // The handler re-raises the signal: wait for the pipe to
                // close so the exit status is the signal, not our SIGKILL.
                let _ = self.answers.recv_timeout(GRACE);
                Err(Lost::Died(self.reap(), Some(report)))
            }
            Ok(Ok(f)) => Ok(f),
            Ok(Err(FrameError::Malformed(m))) => {
                self.terminate();
                Err(Lost::Garbled(m))
            }
            Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => Err(Lost::Died(self.reap(), None)),
            Err(RecvTimeoutError::Timeout) => {
                self.terminate();
                Err(Lost::Hung)
            }
        }
    }

    /// After the worker's stdout closed: it is exiting or dead.
    fn reap(&mut self) -> String {
        match self.finish() {
            Ok(s) => death(s),
            Err(e) => format!("vanished (wait failed: {e})"),
        }
    }

    /// Every end of a worker, clean or not, comes here: its process group
    /// is killed (a no-op for a worker already past its exit, which keeps
    /// its status; it takes along anything the worker started that stayed
    /// in the group), the worker is reaped, and orphans that left the
    /// group are swept (see [`contain`]).
    fn finish(&mut self) -> std::io::Result<ExitStatus> {
        sys::signal_group(self.child.id(), sys::SIGKILL);
        let status = self.child.wait();
        forget_worker(self.child.id());
        contain::sweep();
        status
    }

    /// SIGTERM to the group, a grace period, then SIGKILL; reaps the worker.
    fn terminate(&mut self) {
        sys::signal_group(self.child.id(), sys::SIGTERM);
        self.wait_or_kill();
    }

    /// Waits up to [`GRACE`] for the worker to exit (without reaping it, so
    /// its group id stays reserved for the kill), then [`Process::finish`].
    fn wait_or_kill(&mut self) {
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline && !sys::has_exited(self.child.id()) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.finish();
    }

    /// Closes the worker's stdin (its cue to destroy the context and exit)
    /// and makes sure it is gone.
    fn shutdown(mut self) {
        drop(self.stdin.take());
        self.wait_or_kill();
    }
}

/// Takes a reaped worker off the list a sweep leaves alone.
fn forget_worker(pid: u32) {
    contain::LIVE_WORKERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|&p| p != pid);
}

/// How a worker ended, as in `worker killed by SIGSEGV`.
fn death(s: ExitStatus) -> String {
    if let Some(sig) = s.signal() {
        format!("killed by {}", signal_name(sig))
    } else if let Some(code) = s.code() {
        format!("exited with code {code}")
    } else {
        format!("ended ({s})")
    }
}

/// The conventional name of a signal number.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use xpucert_abi::DType;

    use super::serve::prepare;
    use super::*;

    #[test]
    fn deaths_read_as_results_say() {
        assert_eq!(
            death(ExitStatus::from_raw(libc::SIGSEGV)),
            "killed by SIGSEGV"
        );
        assert_eq!(
            death(ExitStatus::from_raw(libc::SIGABRT)),
            "killed by SIGABRT"
        );
        assert_eq!(death(ExitStatus::from_raw(0)), "exited with code 0");
        assert_eq!(death(ExitStatus::from_raw(3 << 8)), "exited with code 3");
        assert_eq!(signal_name(64), "signal 64");
    }

    #[test]
    fn query_specs_carry_no_bytes_and_runs_do() {
        let input = StoredTensor::new(DType::F32, &[2], vec![1], &[1u8; 8]);
        let call = PreparedCall::new(
            "",
            "Relu",
            14,
            &Default::default(),
            vec![Some(input), None],
            vec![StoredTensor::output(DType::F32, &[2])],
        );
        let q = spec(&call, false);
        assert_eq!(q.inputs[0].as_ref().unwrap().1.len(), 0);
        assert!(q.inputs[1].is_none());
        let r = spec(&call, true);
        assert_eq!(r.inputs[0].as_ref().unwrap().1, vec![1u8; 8]);
        assert_eq!(r.op_type, "Relu");
        let back = prepare(&r, true).unwrap();
        assert_eq!(back.outputs[0].buf.bytes().len(), 8);
        assert_eq!(back.inputs[0].as_ref().unwrap().buf.bytes(), &[1u8; 8]);
    }
}
