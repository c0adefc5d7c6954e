//! The worker protocol: length-prefixed binary frames over the worker's
//! stdin (requests) and stdout (answers).
//!
//! A frame is `u32` little-endian length `n`, then `n` bytes: one tag byte and
//! the payload. Payloads without tensor data are JSON. Payloads that carry
//! tensors (`Query`, `Run`, `RunDone`, `Measure`, `Measured`) are `u32`
//! little-endian header length, a JSON header, then the tensor bytes raw,
//! back to back, in the order and with the lengths the header lists: bulk
//! data never goes through JSON. A `Job` is a header naming its kind, then
//! the job's bytes; a `JobDone` is the answer's bytes alone. What those bytes
//! mean is the business of the job's handler (see [`super::jobs`]).
//!
//! This file holds the messages; `codec` turns them into bytes and back.
//!
//! The decoder reads frames that a dying or corrupted process may have cut
//! short or scrambled, so it never panics on arbitrary bytes, checks every
//! length against what is actually there, and refuses frames over
//! [`MAX_FRAME_LEN`] before allocating anything (a fuzz target in
//! `harness/fuzz` holds it to that).

mod codec;

use std::io;

use serde::{Deserialize, Serialize};
use xpucert_abi::Status;

pub use codec::decode;

use super::timing::MeasurePlan;
use super::{CallError, LoadErrorKind, QueryAnswer};
use crate::ops::Attributes;

/// The largest frame accepted, tag included: 3 GiB. A longer length prefix
/// is a corrupted stream, not a big tensor.
pub const MAX_FRAME_LEN: u32 = 3 << 30;

/// One message between the harness and a worker.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// Harness -> worker, first frame: load this library with these options.
    Open(OpenRequest),
    /// Worker -> harness: the library is loaded and a context is live.
    Opened(OpenedInfo),
    /// Worker -> harness: the library could not be loaded.
    OpenFailed(LoadErrorKind),
    /// Harness -> worker: `query_op` for this call (tensor data not sent).
    Query(CallSpec),
    /// Worker -> harness: `query_op`'s validated answer.
    QueryAnswer(Result<QueryAnswer, CallError>),
    /// Harness -> worker: `run_op` for this call, inputs included.
    Run(CallSpec),
    /// Worker -> harness: `run_op` returned OK.
    RunDone {
        /// The output bytes, in order.
        outputs: Vec<Vec<u8>>,
        /// Per output, the shape the backend reported for a data-dependent
        /// one (`None` for a fixed-shape output).
        reported: Vec<Option<Vec<i64>>>,
        /// Memory-safety findings the worker made around the call (writes
        /// into inputs, past outputs), one line each.
        findings: Vec<String>,
    },
    /// Worker -> harness: `run_op` did not return OK.
    RunFailed(CallError),
    /// Harness -> worker: run a job of a registered kind (see
    /// [`super::jobs`]), such as a whole model run, so its data (weights)
    /// stay next to the library instead of crossing the pipe op by op.
    Job {
        /// The handler's kind name.
        kind: String,
        /// The job's bytes, opaque here.
        job: Vec<u8>,
    },
    /// Worker -> harness: the handler's answer, opaque here.
    JobDone(Vec<u8>),
    /// Worker -> harness: no handler is registered for this kind.
    NoHandler(String),
    /// Harness -> worker: time these input variants of one call per the
    /// plan (see [`super::timing`]). Answered by `Measured` or `RunFailed`.
    Measure {
        /// How long and how often.
        plan: MeasurePlan,
        /// The variants, inputs included.
        calls: Vec<CallSpec>,
    },
    /// Worker -> harness: the per-call times and each variant's outputs
    /// from its final, untimed call.
    Measured {
        /// Seconds per timed call.
        samples_s: Vec<f64>,
        /// Per variant, the output bytes in order.
        outputs: Vec<Vec<Vec<u8>>>,
        /// Per variant and output, the reported shape of a data-dependent
        /// output (as in `RunDone`).
        reported: Vec<Vec<Option<Vec<i64>>>>,
        /// Memory-safety findings of the final calls.
        findings: Vec<String>,
    },
    /// Worker -> harness, from its SIGSEGV/SIGBUS handler: where the
    /// faulting access was. The worker dies of the signal right after.
    Fault(FaultReport),
}

/// What the worker's fault handler saw (`backend::worker::fault`). A fixed
/// binary payload, so the handler writes it without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultReport {
    /// The signal number.
    pub signal: i32,
    /// The faulting address (`si_addr`).
    pub addr: u64,
    /// `Some(true)` for a write, `Some(false)` for a read, `None` when the
    /// platform does not say.
    pub write: Option<bool>,
    /// The guard page of an output it hit, if any.
    pub hit: Option<GuardHit>,
}

/// A fault in the guard page around an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardHit {
    /// Output position.
    pub output: u32,
    /// In the page after the end (`true`) or before the start.
    pub after: bool,
    /// The output's size in bytes.
    pub len: u64,
    /// Bytes from the output's end to the address (0: the first byte past
    /// the end), or from the address to its start (1: the byte before it).
    pub distance: u64,
    /// The guard page's first address.
    pub page: u64,
}

impl std::fmt::Display for FaultReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let access = match self.write {
            Some(true) => "write",
            Some(false) => "read",
            None => "access",
        };
        let bytes = |n: u64| {
            if n == 1 {
                "1 byte".to_string()
            } else {
                format!("{n} bytes")
            }
        };
        match self.hit {
            Some(h) if h.after => write!(
                f,
                "{access} {} past the end of output {} (byte {} of a {}-byte output; guard page at {:#x})",
                bytes(h.distance + 1),
                h.output,
                h.len + h.distance,
                h.len,
                h.page
            ),
            Some(h) => write!(
                f,
                "{access} {} before the start of output {} (guard page at {:#x})",
                bytes(h.distance),
                h.output,
                h.page
            ),
            None => write!(f, "{access} at {:#x}, in no output's guard page", self.addr),
        }
    }
}

/// What the worker needs to open a backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    /// Library path (already resolved by the harness).
    pub library: String,
    /// Context options, KEY=VALUE pairs.
    pub options: Vec<(String, String)>,
}

/// What the harness learns about a backend opened in a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenedInfo {
    /// The library's self-reported name.
    pub name: String,
    /// (major, minor) the library was built against.
    pub abi: (u32, u32),
    /// Size in bytes of its function table.
    pub table_size: usize,
    /// Presence of each optional group, in [`super::OPTIONAL_GROUPS`] order.
    pub groups: Vec<bool>,
    /// The manifest, or why `get_manifest` failed.
    pub manifest: Result<String, WireCallError>,
}

/// One tensor of a call, without its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorDesc {
    /// ABI dtype code.
    pub dtype: i32,
    /// Dimensions.
    pub shape: Vec<i64>,
    /// Strides in elements.
    pub strides: Vec<i64>,
    /// A data-dependent output allocated at the bound `shape` (ABI minor 2).
    #[serde(default)]
    pub bounded: bool,
}

/// An op call as sent to a worker: what `PreparedCall` holds, by value.
#[derive(Debug, Clone, PartialEq)]
pub struct CallSpec {
    /// Operator domain (`""` for ONNX).
    pub domain: String,
    /// Operator name.
    pub op_type: String,
    /// Opset.
    pub opset: i64,
    /// Typed attributes.
    pub attributes: Attributes,
    /// Inputs with their bytes (empty for queries); `None` when omitted.
    pub inputs: Vec<Option<(TensorDesc, Vec<u8>)>>,
    /// Outputs the worker allocates.
    pub outputs: Vec<TensorDesc>,
}

/// [`CallError`] as it crosses the pipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WireCallError {
    /// [`CallError::Failed`], status as its ABI code.
    Failed {
        /// Status code (never OK).
        status: i32,
        /// The backend's message.
        message: String,
    },
    /// [`CallError::UnknownStatus`].
    UnknownStatus {
        /// The integer returned.
        code: i32,
        /// The backend's message.
        message: String,
    },
    /// [`CallError::BadValue`].
    BadValue {
        /// Which field.
        what: String,
        /// The integer returned.
        value: i64,
    },
}

/// The `what` of [`CallError::BadValue`] is a static name; these are the
/// ones the loader uses, anything else reads back as `value`.
const BAD_VALUE_NAMES: [&str; 3] = ["support level", "compute precision", "numeric flags"];

impl From<&CallError> for WireCallError {
    fn from(e: &CallError) -> Self {
        match e {
            CallError::Failed { status, message } => WireCallError::Failed {
                status: status.code(),
                message: message.clone(),
            },
            CallError::UnknownStatus { code, message } => WireCallError::UnknownStatus {
                code: *code,
                message: message.clone(),
            },
            CallError::BadValue { what, value } => WireCallError::BadValue {
                what: what.to_string(),
                value: *value,
            },
        }
    }
}

impl From<WireCallError> for CallError {
    fn from(w: WireCallError) -> Self {
        match w {
            WireCallError::Failed { status, message } => match Status::from_code(status) {
                Some(status) if status != Status::Ok => CallError::Failed { status, message },
                _ => CallError::UnknownStatus {
                    code: status,
                    message,
                },
            },
            WireCallError::UnknownStatus { code, message } => {
                CallError::UnknownStatus { code, message }
            }
            WireCallError::BadValue { what, value } => CallError::BadValue {
                what: BAD_VALUE_NAMES
                    .iter()
                    .find(|n| **n == what)
                    .copied()
                    .unwrap_or("value"),
                value,
            },
        }
    }
}

/// Why bytes could not be read as a frame. One line, lowercase.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream ended cleanly before a frame started.
    #[error("end of stream")]
    Eof,
    /// Reading failed (including a stream cut inside a frame).
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    /// The frame is malformed.
    #[error("malformed frame: {0}")]
    Malformed(String),
}
