//! Loading a vendor library and calling through its function table.
//!
//! This file is the harness's whole ABI boundary: every `unsafe` block that
//! calls vendor code or reads what it returns is here, each with the reason
//! it is sound. (The harness's only other `unsafe` is plain OS calls, also
//! each with its SAFETY line: the guard-page mappings in `call/pages.rs` and
//! the worker's process-group signals and stdout redirect in
//! `worker/sys.rs`; plus one unit test in `call/mod.rs` that reads back a
//! laid-out call.) Everything that crosses
//! the boundary is checked before use: the entry symbol, the ABI major, the
//! size of the function table (a smaller table from an older minor is
//! zero-extended, so absent trailing slots read as NULL), NULL slots, status
//! integers, and string buffers that may lack their terminating NUL.
//!
//! A library that provides the stream group gets one stream per context,
//! created at open and destroyed at close. Every `run_op` goes onto it and
//! is followed by `sync`, inside [`DylibBackend::run`]: a call counts as
//! finished only when the stream is synced, so every caller (the runner,
//! the worker's serve loop and so its watchdog, the measurement clock, the
//! memory-safety checks, the model path) sees completed work.

use std::ffi::{CStr, CString, c_char, c_void};
use std::path::{Path, PathBuf};

use xpucert_abi::ffi::{self, XpuBackendApi, XpuContext, XpuError, XpuOpSupport, XpuStream};
use xpucert_abi::{NumericFlags, Precision, Status, Support};

use super::call::PreparedCall;
use super::{CallError, LoadError, LoadErrorKind, QueryAnswer};

/// Required function slots, by name, for messages.
const REQUIRED: [&str; 5] = [
    "create_context",
    "destroy_context",
    "get_manifest",
    "query_op",
    "run_op",
];

/// Slots of the stream group, by name, for messages.
const STREAM_SLOTS: [&str; 3] = ["create", "sync", "destroy"];

/// The context's stream, for a library with the stream group.
struct Stream {
    sync: ffi::StreamSyncFn,
    destroy: ffi::StreamDestroyFn,
    handle: *mut XpuStream,
}

/// A loaded backend library with one live context.
pub struct DylibBackend {
    path: PathBuf,
    api: XpuBackendApi,
    ctx: *mut XpuContext,
    /// Present when the library provides the stream group.
    stream: Option<Stream>,
    name: String,
    table_size: usize,
}

impl std::fmt::Debug for DylibBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DylibBackend")
            .field("path", &self.path)
            .field("name", &self.name)
            .finish()
    }
}

/// Forwards backend log lines to stderr, prefixed so they are not mistaken
/// for the harness's own output.
///
/// # Safety
/// Called by the backend with a NUL-terminated message (or NULL).
unsafe extern "C" fn host_log(_user: *mut c_void, level: i32, message: *const c_char) {
    if message.is_null() {
        return;
    }
    // SAFETY: the header requires a NUL-terminated string valid for the call.
    let msg = unsafe { CStr::from_ptr(message) }.to_string_lossy();
    let level = match level {
        ffi::XPU_LOG_ERROR => "error",
        ffi::XPU_LOG_WARN => "warn",
        ffi::XPU_LOG_INFO => "info",
        _ => "debug",
    };
    eprintln!("[backend {level}] {msg}");
}

static HOST_API: HostApi = HostApi(ffi::XpuHostApi {
    struct_size: std::mem::size_of::<ffi::XpuHostApi>(),
    abi_major: ffi::XPU_ABI_MAJOR,
    abi_minor: ffi::XPU_ABI_MINOR,
    log: Some(host_log),
    user: std::ptr::null_mut(),
});

struct HostApi(ffi::XpuHostApi);
// SAFETY: the host table is immutable and its `user` pointer is NULL; sharing
// it between threads cannot race.
unsafe impl Sync for HostApi {}

fn status_of(code: i32) -> Result<Status, i32> {
    Status::from_code(code).ok_or(code)
}

impl DylibBackend {
    /// Loads `path`, initialises it and creates one context with `options`.
    pub fn open(path: &Path, options: &[(String, String)]) -> Result<Self, LoadError> {
        let fail = |kind| LoadError {
            library: path.to_path_buf(),
            kind,
        };
        if !path.exists() {
            return Err(fail(LoadErrorKind::Missing));
        }
        if path.is_dir() {
            return Err(fail(LoadErrorKind::NotALibrary("it is a directory".into())));
        }
        // SAFETY: loading a library runs its initialisers. That is the point of
        // a backend; the user chose this file. The library is never unloaded
        // (leaked below), so no symbol outlives it.
        let lib = unsafe { libloading::Library::new(path) }
            .map_err(|e| fail(LoadErrorKind::NotALibrary(dl_message(&e, path))))?;
        let lib: &'static libloading::Library = Box::leak(Box::new(lib));
        // SAFETY: the symbol's type is the header's XpuBackendInitV1Fn.
        let init = match unsafe { lib.get::<ffi::InitV1Fn>(ffi::INIT_SYMBOL_V1) } {
            Ok(sym) => *sym,
            Err(_) => {
                let other = (2..=9).find(|m| {
                    let name = format!("xpucert_backend_init_v{m}\0");
                    // SAFETY: only the symbol's presence is checked; it is
                    // never called.
                    unsafe { lib.get::<*const c_void>(name.as_bytes()) }.is_ok()
                });
                return Err(fail(match other {
                    Some(m) => LoadErrorKind::AbiMajor { offered: m },
                    None => LoadErrorKind::NoEntrySymbol,
                }));
            }
        };
        let mut err = XpuError::new();
        let mut api_ptr: *const XpuBackendApi = std::ptr::null();
        // SAFETY: init has the header's signature; the host table is static,
        // api_ptr and err are valid for writes for the duration of the call.
        let rc = unsafe { init(&HOST_API.0, &mut api_ptr, &mut err) };
        match status_of(rc) {
            Ok(Status::Ok) => {}
            Ok(s) => {
                return Err(fail(LoadErrorKind::InitFailed {
                    status: s.name().to_string(),
                    message: err.message_lossy(),
                }));
            }
            Err(code) => {
                return Err(fail(LoadErrorKind::InitFailed {
                    status: format!("unknown status {code}"),
                    message: err.message_lossy(),
                }));
            }
        }
        if api_ptr.is_null() {
            return Err(fail(LoadErrorKind::BadTable(
                "init returned OK but no function table".into(),
            )));
        }
        // SAFETY: init returned OK with a non-NULL table pointer; the header
        // says it starts with struct_size and stays valid for the process.
        let table_size = unsafe { (*api_ptr).struct_size };
        let minimum = std::mem::offset_of!(XpuBackendApi, run_op) + std::mem::size_of::<usize>();
        if table_size < minimum {
            return Err(fail(LoadErrorKind::BadTable(format!(
                "function table struct_size is {table_size} bytes, ABI 1.0 needs at least {minimum}"
            ))));
        }
        // SAFETY: an all-zero XpuBackendApi is valid (NULL pointers, None
        // slots); then min(table_size, sizeof) bytes are copied from the
        // library's table, which is at least that long by its struct_size.
        let api = unsafe {
            let mut api: XpuBackendApi = std::mem::zeroed();
            let n = table_size.min(std::mem::size_of::<XpuBackendApi>());
            std::ptr::copy_nonoverlapping(api_ptr as *const u8, &mut api as *mut _ as *mut u8, n);
            api
        };
        if api.abi_major != ffi::XPU_ABI_MAJOR {
            return Err(fail(LoadErrorKind::AbiMajor {
                offered: api.abi_major,
            }));
        }
        let slots = [
            api.create_context.is_none(),
            api.destroy_context.is_none(),
            api.get_manifest.is_none(),
            api.query_op.is_none(),
            api.run_op.is_none(),
        ];
        if let Some(i) = slots.iter().position(|&missing| missing) {
            return Err(fail(LoadErrorKind::BadTable(format!(
                "required function {} is NULL",
                REQUIRED[i]
            ))));
        }
        let stream_group = if api.streams.is_null() {
            None
        } else {
            // SAFETY: a non-NULL group pointer points to the library's
            // XpuStreamApi, valid for the process (header ownership rules).
            Some(
                unsafe { read_stream_group(api.streams) }
                    .map_err(|m| fail(LoadErrorKind::BadTable(m)))?,
            )
        };
        let name = if api.name.is_null() {
            String::from("(unnamed)")
        } else {
            // SAFETY: the header says name is a NUL-terminated string owned by
            // the library for the process lifetime.
            unsafe { CStr::from_ptr(api.name) }
                .to_string_lossy()
                .into_owned()
        };

        let keys: Vec<CString> = options.iter().map(|(k, _)| c_string(k)).collect();
        let values: Vec<CString> = options.iter().map(|(_, v)| c_string(v)).collect();
        let opts: Vec<ffi::XpuOption> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| ffi::XpuOption {
                struct_size: std::mem::size_of::<ffi::XpuOption>(),
                key: k.as_ptr(),
                value: v.as_ptr(),
            })
            .collect();
        let mut ctx: *mut XpuContext = std::ptr::null_mut();
        let mut err = XpuError::new();
        let create = api.create_context.expect("checked above");
        // SAFETY: create_context has the header's signature; opts, ctx and err
        // are valid for the duration of the call.
        let rc = unsafe { create(opts.as_ptr(), opts.len(), &mut ctx, &mut err) };
        match status_of(rc) {
            Ok(Status::Ok) if !ctx.is_null() => {}
            Ok(Status::Ok) => {
                return Err(fail(LoadErrorKind::InitFailed {
                    status: "ok".into(),
                    message: "create_context returned OK but no context".into(),
                }));
            }
            other => {
                return Err(fail(LoadErrorKind::InitFailed {
                    status: match other {
                        Ok(s) => format!("create_context: {}", s.name()),
                        Err(c) => format!("create_context: unknown status {c}"),
                    },
                    message: err.message_lossy(),
                }));
            }
        }
        let stream = match stream_group {
            None => None,
            Some((create, sync, destroy)) => {
                let mut handle: *mut XpuStream = std::ptr::null_mut();
                let mut err = XpuError::new();
                // SAFETY: create has the header's signature; ctx is the live
                // context just created; handle and err are valid for writes.
                let rc = unsafe { create(ctx, &mut handle, &mut err) };
                let problem = match status_of(rc) {
                    Ok(Status::Ok) if !handle.is_null() => None,
                    Ok(Status::Ok) => Some((
                        "ok".to_string(),
                        "streams.create returned OK but no stream".to_string(),
                    )),
                    Ok(s) => Some((format!("streams.create: {}", s.name()), err.message_lossy())),
                    Err(c) => Some((
                        format!("streams.create: unknown status {c}"),
                        err.message_lossy(),
                    )),
                };
                if let Some((status, message)) = problem {
                    if let Some(destroy_context) = api.destroy_context {
                        // SAFETY: ctx came from create_context and is not
                        // used after this point.
                        unsafe { destroy_context(ctx) };
                    }
                    return Err(fail(LoadErrorKind::InitFailed { status, message }));
                }
                Some(Stream {
                    sync,
                    destroy,
                    handle,
                })
            }
        };
        Ok(DylibBackend {
            path: path.to_path_buf(),
            api,
            ctx,
            stream,
            name,
            table_size,
        })
    }

    /// The library's self-reported name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The library path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// (major, minor) the library was built against.
    pub fn abi_version(&self) -> (u32, u32) {
        (self.api.abi_major, self.api.abi_minor)
    }

    /// Which optional groups the library provides.
    pub fn optional_groups(&self) -> Vec<(&'static str, bool)> {
        vec![
            ("device memory", !self.api.memory.is_null()),
            ("streams", !self.api.streams.is_null()),
            ("whole model", !self.api.model.is_null()),
        ]
    }

    /// Size in bytes of the library's function table.
    pub fn table_size(&self) -> usize {
        self.table_size
    }

    /// The manifest JSON text, via the two-call protocol.
    pub fn manifest(&self) -> Result<String, CallError> {
        let f = self.api.get_manifest.expect("checked at load");
        let mut len = 0usize;
        let mut err = XpuError::new();
        // SAFETY: get_manifest has the header's signature; a NULL buffer asks
        // for the length only; len and err are valid for writes.
        let rc = unsafe { f(self.ctx, std::ptr::null_mut(), 0, &mut len, &mut err) };
        check_status(rc, &err)?;
        if len > 16 << 20 {
            return Err(CallError::Failed {
                status: Status::InvalidArgument,
                message: format!("manifest length {len} is implausible (over 16 MiB)"),
            });
        }
        let mut buf = vec![0u8; len];
        let mut len2 = 0usize;
        let mut err = XpuError::new();
        // SAFETY: buf has capacity len bytes, as the library asked for.
        let rc = unsafe {
            f(
                self.ctx,
                buf.as_mut_ptr() as *mut c_char,
                len,
                &mut len2,
                &mut err,
            )
        };
        check_status(rc, &err)?;
        if len2 != len {
            return Err(CallError::Failed {
                status: Status::Internal,
                message: format!("manifest length changed between calls ({len} then {len2})"),
            });
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Asks whether and how the call would run.
    pub fn query(&self, call: &mut PreparedCall) -> Result<QueryAnswer, CallError> {
        let f = self.api.query_op.expect("checked at load");
        let mut out = XpuOpSupport::new();
        let mut err = XpuError::new();
        // SAFETY: query_op has the header's signature; the raw call points
        // into buffers owned by `call`, alive for this whole closure; out
        // and err are valid.
        let rc = call.with_raw(false, |raw| unsafe { f(self.ctx, raw, &mut out, &mut err) });
        check_status(rc, &err)?;
        let support = Support::from_code(out.support).ok_or(CallError::BadValue {
            what: "support level",
            value: out.support.into(),
        })?;
        let precision = Precision::from_code(out.compute_precision).ok_or(CallError::BadValue {
            what: "compute precision",
            value: out.compute_precision.into(),
        })?;
        Ok(QueryAnswer {
            support,
            precision,
            note: out.note_lossy(),
            numeric: self.numeric_flags(&out)?,
        })
    }

    /// The numeric flags of a query answer, as far as the struct the library
    /// left says it wrote them (a library of minor 0 declares none). Bits
    /// the library's own minor does not define are an invalid value; bits
    /// of a later minor than the harness's are ignored (the harness then
    /// judges as if they were not declared).
    fn numeric_flags(&self, out: &XpuOpSupport) -> Result<NumericFlags, CallError> {
        let end = std::mem::offset_of!(XpuOpSupport, numeric_flags) + 4;
        if out.struct_size < end {
            return Ok(NumericFlags::default());
        }
        match NumericFlags::from_bits(out.numeric_flags) {
            Ok(f) => Ok(f),
            Err(_) if self.api.abi_minor > ffi::XPU_ABI_MINOR => Ok(NumericFlags::from_bits(
                out.numeric_flags & NumericFlags::KNOWN_BITS,
            )
            .unwrap_or_default()),
            Err(_) => Err(CallError::BadValue {
                what: "numeric flags",
                value: out.numeric_flags.into(),
            }),
        }
    }

    /// Whether calls go onto a stream (the library provides the group).
    pub fn uses_stream(&self) -> bool {
        self.stream.is_some()
    }

    /// Executes the call; on success the outputs in `call` hold the results.
    ///
    /// With the stream group, `run_op` gets the context's stream and this
    /// returns only after `sync` on it: the work is complete when this
    /// returns, whether it succeeded or not. A failing `sync` is a failure
    /// of the call, with the library's status and message.
    pub fn run(&self, call: &mut PreparedCall) -> Result<(), CallError> {
        let f = self.api.run_op.expect("checked at load");
        let stream = self
            .stream
            .as_ref()
            .map_or(std::ptr::null_mut(), |s| s.handle);
        let mut err = XpuError::new();
        call.with_raw(true, |raw| {
            // SAFETY: run_op has the header's signature; every pointer in the
            // call refers to buffers owned by `call` (or laid out by
            // with_raw), alive until after the sync below, inside this
            // closure; inputs are readable over their strided extent and
            // outputs writable over their full size (PreparedCall allocates
            // them so). The stream is NULL or this context's live stream.
            let rc = unsafe { f(self.ctx, raw, stream, &mut err) };
            let ran = check_status(rc, &err);
            // Queued work may still read the inputs and write the outputs, so
            // the call and its raw structs stay borrowed until the stream is
            // drained, even after a failed run_op.
            let synced = match &self.stream {
                None => Ok(()),
                Some(s) => {
                    let mut err = XpuError::new();
                    // SAFETY: sync has the header's signature; ctx and the
                    // stream are live; err is valid for writes.
                    let rc = unsafe { (s.sync)(self.ctx, s.handle, &mut err) };
                    sync_status(rc, &err)
                }
            };
            ran.and(synced)
        })
    }
}

impl Drop for DylibBackend {
    fn drop(&mut self) {
        if let Some(s) = self.stream.take() {
            // SAFETY: the stream came from this context's create and is not
            // used after this point; the context is still alive.
            unsafe { (s.destroy)(self.ctx, s.handle) };
        }
        if let Some(destroy) = self.api.destroy_context {
            // SAFETY: ctx came from this library's create_context and is not
            // used after this point.
            unsafe { destroy(self.ctx) };
        }
    }
}

fn check_status(rc: i32, err: &XpuError) -> Result<(), CallError> {
    match status_of(rc) {
        Ok(Status::Ok) => Ok(()),
        Ok(status) => Err(CallError::Failed {
            status,
            message: err.message_lossy(),
        }),
        Err(code) => Err(CallError::UnknownStatus {
            code,
            message: err.message_lossy(),
        }),
    }
}

/// `sync`'s answer as a call result. The message says the failure came from
/// `sync`, so a report reads "run_op failed: device_error: stream sync: ...".
/// `sync` has no "not supported" answer (run_op accepted the work), so an
/// UNSUPPORTED from it is reported as an internal failure, never as a
/// skipped case.
fn sync_status(rc: i32, err: &XpuError) -> Result<(), CallError> {
    let message = |m: String| format!("stream sync: {m}");
    match status_of(rc) {
        Ok(Status::Ok) => Ok(()),
        Ok(Status::Unsupported) => Err(CallError::Failed {
            status: Status::Internal,
            message: message(format!(
                "returned UNSUPPORTED after run_op accepted the work: {}",
                err.message_lossy()
            )),
        }),
        Ok(status) => Err(CallError::Failed {
            status,
            message: message(err.message_lossy()),
        }),
        Err(code) => Err(CallError::UnknownStatus {
            code,
            message: message(err.message_lossy()),
        }),
    }
}

/// Reads and checks the stream group: all three slots, or a load error.
/// A table shorter than this ABI's is zero-extended, so its missing slots
/// read as NULL and are reported as such.
///
/// # Safety
/// `group` must point to a library-owned `XpuStreamApi` (at least its
/// `struct_size` field, and then `struct_size` bytes) valid for the process.
unsafe fn read_stream_group(
    group: *const ffi::XpuStreamApi,
) -> Result<(ffi::StreamCreateFn, ffi::StreamSyncFn, ffi::StreamDestroyFn), String> {
    // SAFETY: the group starts with struct_size (caller contract).
    let size = unsafe { (*group).struct_size };
    // SAFETY: an all-zero XpuStreamApi is valid (None slots); then
    // min(size, sizeof) bytes are copied from the library's group, which is
    // at least that long by its struct_size.
    let g = unsafe {
        let mut g: ffi::XpuStreamApi = std::mem::zeroed();
        let n = size.min(std::mem::size_of::<ffi::XpuStreamApi>());
        std::ptr::copy_nonoverlapping(group as *const u8, &mut g as *mut _ as *mut u8, n);
        g
    };
    match (g.create, g.sync, g.destroy) {
        (Some(c), Some(s), Some(d)) => Ok((c, s, d)),
        (c, s, d) => {
            let missing: Vec<&str> = [c.is_none(), s.is_none(), d.is_none()]
                .iter()
                .zip(STREAM_SLOTS)
                .filter(|(m, _)| **m)
                .map(|(_, n)| n)
                .collect();
            Err(format!(
                "the stream group is incomplete: {} {} NULL (struct_size {size}); \
                 a backend provides create, sync and destroy together, or sets streams to NULL",
                missing.join(" and "),
                if missing.len() == 1 { "is" } else { "are" }
            ))
        }
    }
}

/// A C string for the ABI; interior NULs (impossible in well-formed suite
/// data) are cut rather than panicking.
pub(crate) fn c_string(s: &str) -> CString {
    let end = s.find('\0').unwrap_or(s.len());
    CString::new(&s[..end]).expect("no interior NUL after cutting")
}

/// The dynamic loader's own reason (a missing dependency, an undefined
/// symbol, a bad ELF header: the most useful line a vendor gets), without
/// the library's path, which the caller prints once. libloading's
/// `Display` is only "dlopen failed"; dlerror's text is its source.
fn dl_message(e: &libloading::Error, path: &Path) -> String {
    let text = std::error::Error::source(e).map_or_else(|| e.to_string(), |s| s.to_string());
    let shown = path.display().to_string();
    let reason = text
        .strip_prefix(&shown)
        .and_then(|t| t.strip_prefix(": "))
        .unwrap_or(&text);
    if reason.is_empty() {
        text
    } else {
        reason.to_string()
    }
}
