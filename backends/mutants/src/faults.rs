//! Reliability faults: crashes, hangs, memory corruption, ABI violations.
//!
//! Each fault fires on one op only (`Relu` for process deaths, hangs and ABI
//! violations, `Add` for memory faults), so every other case of a suite
//! keeps the reference backend's verdict and a test can tell "the harness
//! survived and reported this case" from "the harness gave up".
//!
//! Modes that need raw control of the ABI (an unknown status code, an error
//! message without its NUL, a crash while the library starts up) cannot be
//! expressed through the safe [`Backend`](xpucert_abi::Backend) trait; they
//! live in [`abi`], together with every other `unsafe` line of this crate.

use std::time::Duration;

use xpucert_abi::{Backend, BackendError, OpCall, TensorMut};
use xpucert_reference_core::ReferenceBackend;

use crate::{Behaviour, Expect, Mode};

/// The op that process deaths, hangs and ABI violations fire on.
pub const CRASH_OP: &str = "Relu";
/// The op that memory faults fire on.
pub const MEMORY_OP: &str = "Add";

/// Bytes leaked (and touched, so they are resident) per `leak` call.
pub const LEAK_BYTES: usize = 64 << 20;

/// What a fault does when its op runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Writes to an unmapped address: SIGSEGV.
    Segfault,
    /// `abort()`: SIGABRT.
    Abort,
    /// `exit(0)` in the middle of the call.
    Exit0,
    /// Spins forever.
    InfiniteLoop,
    /// Sleeps for an hour.
    Sleep,
    /// Computes the right answer, then writes one byte past output 0.
    WritePastOutput,
    /// Computes the right answer, then flips the first byte of an input.
    WriteInput,
    /// Computes the answer but leaves output 0's last element as it was.
    UnwrittenOutput,
    /// Computes the right answer and leaks [`LEAK_BYTES`] of touched memory.
    Leak,
    /// Behaves; the damage is done by the raw entry points in [`abi`].
    Raw,
}

impl Fault {
    fn op(self) -> &'static str {
        match self {
            Fault::WritePastOutput | Fault::WriteInput | Fault::UnwrittenOutput | Fault::Leak => {
                MEMORY_OP
            }
            _ => CRASH_OP,
        }
    }
}

struct Faulty(Fault);

impl Behaviour for Faulty {
    fn run(
        &self,
        r: &ReferenceBackend,
        call: &OpCall<'_>,
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), BackendError> {
        if call.op_type != self.0.op() || self.0 == Fault::Raw {
            return r.run_op(call, outputs);
        }
        match self.0 {
            Fault::Segfault => abi::segfault(),
            Fault::Abort => std::process::abort(),
            Fault::Exit0 => std::process::exit(0),
            Fault::InfiniteLoop => loop {
                std::hint::spin_loop();
            },
            Fault::Sleep => {
                std::thread::sleep(Duration::from_secs(3600));
                r.run_op(call, outputs)
            }
            Fault::WritePastOutput => {
                r.run_op(call, outputs)?;
                if let Some(o) = outputs.first_mut() {
                    abi::write_one_past(o.bytes_mut());
                }
                Ok(())
            }
            Fault::WriteInput => {
                r.run_op(call, outputs)?;
                if let Some(d) = call
                    .inputs
                    .iter()
                    .flatten()
                    .filter_map(|t| t.data())
                    .find(|d| !d.is_empty())
                {
                    abi::flip_first_byte(d);
                }
                Ok(())
            }
            Fault::UnwrittenOutput => {
                // Keep what the harness put in the last element (its poison).
                let kept = outputs.first_mut().map(|o| {
                    let size = o.dtype().size();
                    let b = o.bytes_mut();
                    let at = b.len().saturating_sub(size);
                    (at, b[at..].to_vec())
                });
                r.run_op(call, outputs)?;
                if let (Some((at, bytes)), Some(o)) = (kept, outputs.first_mut()) {
                    o.bytes_mut()[at..].copy_from_slice(&bytes);
                }
                Ok(())
            }
            Fault::Leak => {
                let v = vec![0x5Au8; LEAK_BYTES];
                std::hint::black_box(&v);
                std::mem::forget(v);
                r.run_op(call, outputs)
            }
            Fault::Raw => r.run_op(call, outputs),
        }
    }
}

fn mode(name: &'static str, fault: Fault, expect: Expect, description: &'static str) -> Mode {
    Mode {
        name,
        expect,
        ops: match fault.op() {
            MEMORY_OP => &[MEMORY_OP],
            _ => &[CRASH_OP],
        },
        description,
        behaviour: Box::new(Faulty(fault)),
    }
}

/// The reliability fault modes.
pub fn modes() -> Vec<Mode> {
    vec![
        mode(
            "segfault",
            Fault::Segfault,
            Expect::Crash,
            "Relu writes to an unmapped address (SIGSEGV)",
        ),
        mode(
            "abort",
            Fault::Abort,
            Expect::Crash,
            "Relu calls abort() (SIGABRT)",
        ),
        mode(
            "exit0",
            Fault::Exit0,
            Expect::Crash,
            "Relu calls exit(0) in the middle of the call",
        ),
        mode(
            "infinite_loop",
            Fault::InfiniteLoop,
            Expect::Timeout,
            "Relu spins forever",
        ),
        mode(
            "sleep",
            Fault::Sleep,
            Expect::Timeout,
            "Relu sleeps for an hour before answering",
        ),
        mode(
            "write_past_output",
            Fault::WritePastOutput,
            Expect::Crash,
            "Add writes one byte past its output (guard page or canary)",
        ),
        mode(
            "write_input",
            Fault::WriteInput,
            Expect::Fail,
            "Add flips the first byte of an input after computing",
        ),
        mode(
            "unwritten_output",
            Fault::UnwrittenOutput,
            // The memory-safety check names the untouched element; any
            // finding of that check makes the case a `fail`.
            Expect::Fail,
            "Add leaves the last element of its output unwritten",
        ),
        mode(
            "leak",
            Fault::Leak,
            Expect::Pass,
            "Add leaks 64 MiB of touched memory per call; results stay right",
        ),
        mode(
            "unknown_status",
            Fault::Raw,
            Expect::Error,
            "Relu returns status code 42, which the ABI does not define",
        ),
        mode(
            "no_nul_message",
            Fault::Raw,
            Expect::Error,
            "Relu fails with a 1024-byte error message and no terminating NUL",
        ),
        mode(
            "init_crash",
            Fault::Raw,
            Expect::LoadFailure,
            "create_context segfaults (XPUCERT_MUTANT_INIT=crash does it in init)",
        ),
    ]
}

/// The raw ABI side of the mutants backend: the exported entry point, the
/// function table, the two slots that misbehave on purpose, and the memory
/// faults. Every `unsafe` of this crate is here.
pub mod abi {
    use std::ffi::{CStr, c_char};
    use std::sync::atomic::{AtomicU8, Ordering};

    use xpucert_abi::Backend;
    use xpucert_abi::export::{self, ApiTable};
    use xpucert_abi::ffi::{self, XpuBackendApi, XpuContext, XpuError, XpuOpCall, XpuStream};

    use crate::MutantBackend;

    /// The raw mode chosen by the last `create_context` (the harness makes
    /// one context per process): 0 none, 1 unknown status, 2 no NUL.
    static RAW_MODE: AtomicU8 = AtomicU8::new(0);

    /// The status code `unknown_status` returns.
    pub const UNKNOWN_STATUS: i32 = 42;

    static API: ApiTable = ApiTable::from_raw(table(<MutantBackend as Backend>::NAME.as_ptr()));

    /// The function table, reporting `name`.
    const fn table(name: *const c_char) -> XpuBackendApi {
        XpuBackendApi {
            struct_size: std::mem::size_of::<XpuBackendApi>(),
            abi_major: ffi::XPU_ABI_MAJOR,
            abi_minor: ffi::XPU_ABI_MINOR,
            name,
            capabilities: <MutantBackend as Backend>::CAPABILITIES,
            create_context: Some(create_context),
            destroy_context: Some(export::destroy_context::<MutantBackend>),
            get_manifest: Some(export::get_manifest::<MutantBackend>),
            query_op: Some(export::query_op::<MutantBackend>),
            run_op: Some(run_op),
            memory: std::ptr::null(),
            streams: export::stream_api::<MutantBackend>(),
            model: std::ptr::null(),
        }
    }

    /// The table to hand out: [`API`], or with `XPUCERT_MUTANT_NAME` a copy
    /// reporting that name (leaked: init runs once per process).
    fn api() -> &'static ApiTable {
        match std::env::var("XPUCERT_MUTANT_NAME") {
            Ok(name) => {
                let name = std::ffi::CString::new(name.replace('\0', "")).unwrap_or_default();
                let name: &'static CStr = Box::leak(name.into_boxed_c_str());
                Box::leak(Box::new(ApiTable::from_raw(table(name.as_ptr()))))
            }
            Err(_) => &API,
        }
    }

    /// Entry point of the xpucert backend ABI v1. With the environment
    /// variable `XPUCERT_MUTANT_INIT=crash` it segfaults instead.
    ///
    /// # Safety
    /// Called by the harness with the pointers the header specifies.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn xpucert_backend_init_v1(
        host: *const ffi::XpuHostApi,
        out_api: *mut *const XpuBackendApi,
        err: *mut XpuError,
    ) -> i32 {
        if std::env::var_os("XPUCERT_MUTANT_INIT").is_some_and(|v| v == "crash") {
            segfault();
        }
        // SAFETY: the pointers are forwarded unchanged from the caller, who
        // upholds the header's contract for this entry point.
        unsafe { export::init(host, out_api, err, api()) }
    }

    /// `create_context` that notes the raw mode (and crashes for
    /// `init_crash`), then creates the context as usual.
    ///
    /// # Safety
    /// ABI entry: see `create_context` in the header.
    unsafe extern "C" fn create_context(
        options: *const ffi::XpuOption,
        num_options: usize,
        out_ctx: *mut *mut XpuContext,
        err: *mut XpuError,
    ) -> i32 {
        let mut raw = 0;
        if !options.is_null() {
            // SAFETY: options holds num_options entries (header contract).
            let opts = unsafe { std::slice::from_raw_parts(options, num_options) };
            for o in opts {
                if o.key.is_null() || o.value.is_null() {
                    continue;
                }
                // SAFETY: option strings are NUL-terminated and valid for the
                // call (header contract).
                let (k, v) = unsafe { (CStr::from_ptr(o.key), CStr::from_ptr(o.value)) };
                if k.to_bytes() == b"mode" {
                    raw = match v.to_bytes() {
                        b"unknown_status" => 1,
                        b"no_nul_message" => 2,
                        b"init_crash" => segfault(),
                        _ => 0,
                    };
                }
            }
        }
        RAW_MODE.store(raw, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds the contract.
        unsafe { export::create_context::<MutantBackend>(options, num_options, out_ctx, err) }
    }

    /// `run_op` that breaks the ABI on [`super::CRASH_OP`] in the raw modes
    /// and otherwise forwards to the safe trampoline (with the stream group:
    /// the harness passes this library a stream).
    ///
    /// # Safety
    /// ABI entry: see `run_op` in the header.
    unsafe extern "C" fn run_op(
        ctx: *mut XpuContext,
        call: *const XpuOpCall,
        stream: *mut XpuStream,
        err: *mut XpuError,
    ) -> i32 {
        let raw = RAW_MODE.load(Ordering::Relaxed);
        // SAFETY: call is NULL or valid for the call, and its op_type a
        // NUL-terminated string (header contract).
        let op_matches = raw != 0
            && !call.is_null()
            && !unsafe { (*call).op_type }.is_null()
            && unsafe { CStr::from_ptr((*call).op_type) }.to_bytes() == super::CRASH_OP.as_bytes();
        // SAFETY: err is NULL or a valid XpuError for the call (header
        // contract); the harness always passes a full-size one.
        let err_ref = unsafe { err.as_mut() };
        match (op_matches, raw, err_ref) {
            (true, 1, e) => {
                if let Some(e) = e {
                    e.set(
                        UNKNOWN_STATUS,
                        "mutants: a status code the ABI does not define",
                    );
                }
                UNKNOWN_STATUS
            }
            (true, 2, Some(e)) => {
                e.code = ffi::XPU_STATUS_INTERNAL;
                e.message.fill(b'x' as c_char);
                ffi::XPU_STATUS_INTERNAL
            }
            // SAFETY: forwarded unchanged; the caller upholds the contract.
            _ => unsafe { export::run_op_streamed::<MutantBackend>(ctx, call, stream, err) },
        }
    }

    /// Writes to an unmapped address: the process dies of SIGSEGV.
    pub fn segfault() -> ! {
        let p = std::ptr::without_provenance_mut::<u8>(16);
        // SAFETY: none; this is the fault. Page 0 is never mapped on Linux
        // (vm.mmap_min_addr), so the volatile write raises SIGSEGV.
        unsafe { std::ptr::write_volatile(p, 1) };
        // Not reached; if the write somehow succeeded, still die.
        std::process::abort()
    }

    /// Writes one byte just past `out`, into whatever the harness put there.
    pub fn write_one_past(out: &mut [u8]) {
        let end = out.as_mut_ptr_range().end;
        // SAFETY: none; this is the fault. The harness surrounds outputs
        // with guard pages or canaries and must notice.
        unsafe { std::ptr::write_volatile(end, 0x5A) };
    }

    /// Flips the first byte of an input the backend was given read-only.
    pub fn flip_first_byte(input: &[u8]) {
        let p = input.as_ptr() as *mut u8;
        // SAFETY: none; this is the fault. The harness hands inputs out
        // from writable memory and checksums them to notice.
        unsafe { std::ptr::write_volatile(p, !input[0]) };
    }
}
