//! Backends as the harness sees them: loading a vendor library, finding the
//! bundled ones by name, and the typed errors of both.
//!
//! `dylib` holds the whole ABI boundary (all of the harness's `unsafe`);
//! `call` owns the buffers an op call points into. Worker-process isolation
//! (a later piece of work) wraps the same [`DylibBackend`] in a child process.

pub mod call;
mod dylib;

use std::fmt;
use std::path::{Path, PathBuf};

pub use dylib::DylibBackend;
use xpucert_abi::{Precision, Status, Support};

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
#[derive(Debug)]
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
                    "cannot load backend {lib}: not a loadable shared library ({m})"
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
            LoadErrorKind::NotBuilt { name, looked } => {
                let looked: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "cannot load backend {name}: its library is not built \
                     (run `cargo build --release --workspace`; looked in {})",
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
        /// The integer returned.
        value: i32,
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
}

/// The bundled backends that `--backend NAME` finds without a path.
pub const BUNDLED: &[(&str, &str)] = &[
    ("reference", "xpucert_reference"),
    ("mutants", "xpucert_mutants"),
];

/// Turns `--backend` into a library path: an existing path is used as is; a
/// bundled name is looked up next to the running executable (and its parent,
/// for test binaries in `target/*/deps`), or in `$XPUCERT_<NAME>_LIB`.
pub fn resolve(spec: &str) -> Result<PathBuf, LoadError> {
    let Some((name, stem)) = BUNDLED.iter().find(|(n, _)| *n == spec) else {
        return Ok(PathBuf::from(spec));
    };
    let env = format!("XPUCERT_{}_LIB", name.to_uppercase().replace('-', "_"));
    if let Some(p) = std::env::var_os(&env) {
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
    }
    Err(LoadError {
        library: PathBuf::from(spec),
        kind: LoadErrorKind::NotBuilt {
            name: name.to_string(),
            looked,
        },
    })
}
