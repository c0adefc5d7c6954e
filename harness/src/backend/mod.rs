//! Backends as the harness sees them: loading a vendor library, finding the
//! bundled ones by name, and the typed errors of both.
//!
//! `dylib` holds the ABI boundary (every `unsafe` block that touches vendor
//! code); `call` owns the buffers an op call points into. `worker` runs the
//! same [`DylibBackend`] in a child process (`xpucert worker`) that `frame`
//! messages reach over pipes, so a crash or hang in vendor code costs one
//! case, not the run. The runner sees either through the [`Executor`] trait.
//!
//! This is the lowest layer that runs anything: it imports only `numerics`
//! and `op` (tensor and attribute types), never the layers that use it.
//! What it offers besides single calls are services that must run where the
//! library lives: the `timing` loop (so pipe and copy time never count) and
//! `jobs`, work of a higher layer (a model run) that this layer carries out
//! through handlers its caller supplies without knowing what they do.

pub mod call;
mod dylib;
pub mod frame;
pub mod jobs;
pub mod timing;
pub mod watchdog;
pub mod worker;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use dylib::DylibBackend;
pub use worker::WorkerBackend;
use xpucert_abi::{NumericFlags, Precision, Status, Support};

use call::PreparedCall;
use jobs::JobHandler;
use timing::{MeasurePlan, Measured};

/// The optional function groups of the ABI, in the order
/// [`Executor::optional_groups`] lists them.
pub const OPTIONAL_GROUPS: [&str; 3] = ["device memory", "streams", "whole model"];

/// What the runner needs from a backend, wherever it runs: in this process
/// ([`DylibBackend`], `--isolation none`) or in a worker process
/// ([`WorkerBackend`], the default).
pub trait Executor {
    /// The library's self-reported name.
    fn name(&self) -> &str;
    /// The library path.
    fn path(&self) -> &Path;
    /// (major, minor) the library was built against.
    fn abi_version(&self) -> (u32, u32);
    /// Which optional groups the library provides.
    fn optional_groups(&self) -> Vec<(&'static str, bool)>;
    /// Size in bytes of the library's function table.
    fn table_size(&self) -> usize;
    /// The manifest JSON text.
    fn manifest(&mut self) -> Result<String, CallError>;
    /// Asks whether and how the call would run; `limit` bounds the wait
    /// where the executor can enforce one.
    fn query(&mut self, call: &mut PreparedCall, limit: Duration)
    -> Result<QueryAnswer, ExecError>;
    /// Executes the call; on success the outputs in `call` hold the results
    /// and the answer lists the memory-safety findings made around the call
    /// (see [`PreparedCall::verify_after_call`]), one line each.
    fn run(&mut self, call: &mut PreparedCall, limit: Duration) -> Result<Vec<String>, ExecError>;
    /// Runs one job of `handler`'s kind where the library lives (see
    /// [`jobs`]): `job` is its bytes, the answer the handler's bytes. A
    /// worker must have `handler.kind` registered; `handler.during` names
    /// the job in a crash or timeout.
    fn run_job(
        &mut self,
        handler: &JobHandler,
        job: &[u8],
        limit: Duration,
    ) -> Result<Vec<u8>, ExecError>;
    /// Times `calls` (input variants of one case) where the backend lives,
    /// per `plan` (see [`timing::time_calls`]): per-call seconds, and
    /// afterwards each call's outputs hold one untimed, unperturbed result.
    /// The answer lists the memory-safety findings of those final calls.
    /// `limit` bounds the whole measurement.
    fn measure(
        &mut self,
        calls: &mut [PreparedCall],
        plan: &MeasurePlan,
        limit: Duration,
    ) -> Result<Measured, ExecError>;
}

impl Executor for DylibBackend {
    fn name(&self) -> &str {
        DylibBackend::name(self)
    }
    fn path(&self) -> &Path {
        DylibBackend::path(self)
    }
    fn abi_version(&self) -> (u32, u32) {
        DylibBackend::abi_version(self)
    }
    fn optional_groups(&self) -> Vec<(&'static str, bool)> {
        DylibBackend::optional_groups(self)
    }
    fn table_size(&self) -> usize {
        DylibBackend::table_size(self)
    }
    fn manifest(&mut self) -> Result<String, CallError> {
        DylibBackend::manifest(self)
    }
    // In-process calls cannot be interrupted: the limit is enforced only
    // by the watchdog, when its owner turned it on, by ending the process.
    fn query(
        &mut self,
        call: &mut PreparedCall,
        limit: Duration,
    ) -> Result<QueryAnswer, ExecError> {
        let _watch = watchdog::arm("query_op", limit);
        DylibBackend::query(self, call).map_err(ExecError::Call)
    }
    fn run(&mut self, call: &mut PreparedCall, limit: Duration) -> Result<Vec<String>, ExecError> {
        let _watch = watchdog::arm("run_op", limit);
        DylibBackend::run(self, call).map_err(ExecError::Call)?;
        Ok(call
            .verify_after_call()
            .iter()
            .map(ToString::to_string)
            .collect())
    }
    // In process the handler is called directly: the same function a
    // worker finds under `handler.kind` in its registry.
    fn run_job(
        &mut self,
        handler: &JobHandler,
        job: &[u8],
        limit: Duration,
    ) -> Result<Vec<u8>, ExecError> {
        let _watch = watchdog::arm(handler.during, limit);
        Ok((handler.serve)(self, job))
    }
    // In process: the clock runs around the library call itself (run_op,
    // and sync on the context's stream for a backend with the stream group).
    fn measure(
        &mut self,
        calls: &mut [PreparedCall],
        plan: &MeasurePlan,
        limit: Duration,
    ) -> Result<Measured, ExecError> {
        let _watch = watchdog::arm("measurement", limit);
        timing::measure_with(calls, plan, &mut |c| DylibBackend::run(self, c))
            .map_err(ExecError::Call)
    }
}

/// Why a call through an [`Executor`] gave no answer from the backend.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecError {
    /// The backend answered with a failure.
    Call(CallError),
    /// The worker process died during the call.
    Crashed {
        /// The ABI function that was running (`query_op`, `run_op`).
        during: &'static str,
        /// How it died: `killed by SIGSEGV`, `exited with code 0`.
        death: String,
        /// For a fatal memory access, what the worker's handler saw.
        fault: Option<frame::FaultReport>,
    },
    /// The worker did not answer within the limit and was killed.
    TimedOut {
        /// The ABI function that was running.
        during: &'static str,
        /// The limit that applied.
        limit: Duration,
    },
    /// The worker answered something that does not fit the call (a bug in
    /// the harness or a corrupted worker); the worker is replaced.
    Protocol(String),
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Call(e) => write!(f, "{e}"),
            ExecError::Crashed {
                during,
                death,
                fault,
            } => {
                write!(f, "worker {death} during {during}")?;
                match fault {
                    Some(r) => write!(f, ": {r}"),
                    None => Ok(()),
                }
            }
            ExecError::TimedOut { during, limit } => write!(
                f,
                "no answer from {during} after {:.1} s; worker killed",
                limit.as_secs_f64()
            ),
            ExecError::Protocol(m) => write!(f, "worker protocol error: {m}"),
        }
    }
}

/// Why a library could not be used as a backend. Displayed as one line that
/// names the library and what is wrong.
#[derive(Debug)]
pub struct LoadError {
    /// The library path as given.
    pub library: PathBuf,
    /// What went wrong.
    pub kind: LoadErrorKind,
}

/// The ways loading can fail.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadErrorKind {
    /// No file at that path.
    Missing,
    /// The dynamic loader refused it (not a shared library, wrong
    /// architecture, missing dependency): its message.
    NotALibrary(String),
    /// It does not export `xpucert_backend_init_v1`.
    NoEntrySymbol,
    /// It implements another major version of the ABI.
    AbiMajor {
        /// The major the library offers.
        offered: u32,
    },
    /// Its init (or context creation) returned a failure.
    InitFailed {
        /// Status name or unknown code.
        status: String,
        /// The library's message.
        message: String,
    },
    /// Its function table is unusable.
    BadTable(String),
    /// The worker process could not start, or died or hung while loading
    /// the library (e.g. a crash in its init): how.
    WorkerDied(String),
    /// A bundled backend name whose library is not built.
    NotBuilt {
        /// The name asked for.
        name: String,
        /// Where we looked.
        looked: Vec<PathBuf>,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lib = self.library.display();
        match &self.kind {
            LoadErrorKind::Missing => write!(f, "cannot load backend {lib}: no such file"),
            LoadErrorKind::NotALibrary(m) => {
                write!(
                    f,
                    "cannot load backend {lib}: the dynamic loader refused it: {m}"
                )
            }
            LoadErrorKind::NoEntrySymbol => write!(
                f,
                "cannot load backend {lib}: it does not export xpucert_backend_init_v1 \
                 (is it built against backends/include/xpucert_backend.h?)"
            ),
            LoadErrorKind::AbiMajor { offered } => write!(
                f,
                "cannot load backend {lib}: it implements ABI major {offered}; this xpucert supports major {}",
                xpucert_abi::ffi::XPU_ABI_MAJOR
            ),
            LoadErrorKind::InitFailed { status, message } => {
                let message = if message.is_empty() {
                    "(no message)"
                } else {
                    message
                };
                write!(
                    f,
                    "cannot load backend {lib}: initialisation failed ({status}): {message}"
                )
            }
            LoadErrorKind::BadTable(m) => write!(f, "cannot load backend {lib}: {m}"),
            LoadErrorKind::WorkerDied(m) => {
                write!(
                    f,
                    "cannot load backend {lib}: the worker {m} during start-up"
                )
            }
            LoadErrorKind::NotBuilt { name, looked } => {
                let looked: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "cannot load backend {name}: its library is not built or not installed \
                     (in a checkout, `cargo build --release --workspace`; `cargo install` installs \
                     the binary only: scripts/install.sh installs both; or set {}; looked in {})",
                    bundled_env(name),
                    looked.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// A call into a loaded backend that did not return OK.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// A known failure status with the backend's message.
    Failed {
        /// The status (never OK).
        status: Status,
        /// The backend's message.
        message: String,
    },
    /// A status integer the ABI does not define: a finding against the backend.
    UnknownStatus {
        /// The integer returned.
        code: i32,
        /// The backend's message, if any.
        message: String,
    },
    /// Some other out-of-range integer in an answer.
    BadValue {
        /// Which field.
        what: &'static str,
        /// The integer returned (an `int32_t` code or a `uint32_t` set of bits).
        value: i64,
    },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Failed { status, message } => write!(f, "{status}: {message}"),
            CallError::UnknownStatus { code, message } => {
                write!(f, "unknown status code {code} (not in the ABI): {message}")
            }
            CallError::BadValue { what, value } => {
                write!(f, "invalid {what} {value} (not in the ABI)")
            }
        }
    }
}

/// A backend's answer to `query_op`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryAnswer {
    /// Support level.
    pub support: Support,
    /// Declared compute precision.
    pub precision: Precision,
    /// The backend's note.
    pub note: String,
    /// Declared subnormal flushing (`XpuOpSupport.numeric_flags`).
    pub numeric: NumericFlags,
}

/// The bundled backends that `--backend NAME` finds without a path.
pub const BUNDLED: &[(&str, &str)] = &[
    ("reference", "xpucert_reference"),
    ("mutants", "xpucert_mutants"),
];

/// The variable that points `--backend NAME` at a library elsewhere.
fn bundled_env(name: &str) -> String {
    format!("XPUCERT_{}_LIB", name.to_uppercase().replace('-', "_"))
}

/// Turns `--backend` into a library path: an existing path is used as is; a
/// bundled name is looked up next to the running executable (and its parent,
/// for test binaries in `target/*/deps`), or in `$XPUCERT_<NAME>_LIB`.
pub fn resolve(spec: &str) -> Result<PathBuf, LoadError> {
    let Some((name, stem)) = BUNDLED.iter().find(|(n, _)| *n == spec) else {
        return Ok(PathBuf::from(spec));
    };
    if let Some(p) = std::env::var_os(bundled_env(name)) {
        return Ok(PathBuf::from(p));
    }
    let file = libloading::library_filename(stem);
    let mut looked = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        let mut dir = exe.parent().map(Path::to_path_buf);
        for _ in 0..2 {
            if let Some(d) = dir {
                let candidate = d.join(&file);
                if candidate.is_file() {
                    return Ok(candidate);
                }
                looked.push(d.clone());
                dir = d.parent().map(Path::to_path_buf);
            }
        }
        // PREFIX/bin/xpucert and PREFIX/lib/xpucert/ (scripts/install.sh).
        if let Some(lib) = exe
            .parent()
            .and_then(Path::parent)
            .map(|p| p.join("lib/xpucert"))
        {
            let candidate = lib.join(&file);
            if candidate.is_file() {
                return Ok(candidate);
            }
            looked.push(lib);
        }
    }
    Err(LoadError {
        library: PathBuf::from(spec),
        kind: LoadErrorKind::NotBuilt {
            name: name.to_string(),
            looked,
        },
    })
}
