//! The stream group of the safe layer, driven through the raw table as the
//! harness drives it: a backend implementing `StreamBackend`, exported with
//! `export_backend!(T, streams)`. Its streams count what is queued, so the
//! tests see that `run_op` with a stream reaches `run_op_on` and leaves work
//! pending, and that only `sync` drains it.

use std::ffi::CStr;
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use xpucert_abi::ffi::{self, XpuBackendApi, XpuContext, XpuError, XpuOpCall, XpuStream};
use xpucert_abi::{
    Backend, BackendError, DType, OpCall, OpSupport, Status, StreamBackend, TensorMut,
};

/// Identity on f32. With a stream the copy is written at once but counted
/// as pending until `sync`; a queued `FailLater` makes that `sync` fail with
/// DEVICE_ERROR; `PanicInSync` makes it panic.
struct Queued {
    _nonzero: u8,
}

#[derive(Default)]
struct Pending {
    queued: usize,
    fail: bool,
    panic: bool,
}

struct QueuedStream {
    pending: Mutex<Pending>,
}

static SYNC_RUNS: AtomicUsize = AtomicUsize::new(0);
static STREAMS_DESTROYED: AtomicUsize = AtomicUsize::new(0);

impl Backend for Queued {
    const NAME: &'static CStr = c"abi-stream-test";

    fn create(_options: &[(&str, &str)]) -> Result<Self, BackendError> {
        Ok(Queued { _nonzero: 1 })
    }

    fn manifest(&self) -> String {
        "{}".into()
    }

    fn query_op(&self, _call: &OpCall<'_>) -> Result<OpSupport, BackendError> {
        Ok(OpSupport::native())
    }

    fn run_op(&self, call: &OpCall<'_>, outputs: &mut [TensorMut<'_>]) -> Result<(), BackendError> {
        SYNC_RUNS.fetch_add(1, Ordering::SeqCst);
        let x = call.input(0)?.read::<f32>()?;
        outputs[0].write(&x)
    }
}

impl StreamBackend for Queued {
    type Stream = QueuedStream;

    fn create_stream(&self) -> Result<QueuedStream, BackendError> {
        Ok(QueuedStream {
            pending: Mutex::new(Pending::default()),
        })
    }

    fn run_op_on(
        &self,
        stream: &QueuedStream,
        call: &OpCall<'_>,
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), BackendError> {
        let x = call.input(0)?.read::<f32>()?;
        outputs[0].write(&x)?;
        let mut p = stream.pending.lock().unwrap();
        p.queued += 1;
        p.fail |= call.op_type == "FailLater";
        p.panic |= call.op_type == "PanicInSync";
        Ok(())
    }

    fn sync(&self, stream: &QueuedStream) -> Result<(), BackendError> {
        let p = std::mem::take(&mut *stream.pending.lock().unwrap());
        if p.panic {
            panic!("deliberate panic in sync");
        }
        if p.fail {
            return Err(BackendError {
                status: Status::DeviceError,
                message: format!("{} queued calls lost", p.queued),
            });
        }
        Ok(())
    }

    fn destroy_stream(&self, stream: QueuedStream) {
        STREAMS_DESTROYED.fetch_add(1, Ordering::SeqCst);
        let _ = stream;
    }
}

xpucert_abi::export_backend!(Queued, streams);

fn api() -> &'static XpuBackendApi {
    let mut table: *const XpuBackendApi = ptr::null();
    let mut err = XpuError::new();
    // SAFETY: a NULL host is allowed; table and err are valid for writes.
    let status = unsafe { xpucert_backend_init_v1(ptr::null(), &mut table, &mut err) };
    assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
    // SAFETY: init succeeded: table is the library's static table.
    unsafe { &*table }
}

fn streams() -> &'static ffi::XpuStreamApi {
    let g = api().streams;
    assert!(
        !g.is_null(),
        "export_backend!(T, streams) exports the group"
    );
    // SAFETY: non-NULL group pointers point to a static XpuStreamApi.
    unsafe { &*g }
}

fn context() -> *mut XpuContext {
    let mut raw = ptr::null_mut();
    let mut err = XpuError::new();
    // SAFETY: no options; out and err are valid.
    let status = unsafe { api().create_context.unwrap()(ptr::null(), 0, &mut raw, &mut err) };
    assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
    raw
}

fn stream(ctx: *mut XpuContext) -> *mut XpuStream {
    let mut s = ptr::null_mut();
    let mut err = XpuError::new();
    // SAFETY: ctx is live; out and err are valid.
    let status = unsafe { streams().create.unwrap()(ctx, &mut s, &mut err) };
    assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
    assert!(!s.is_null());
    s
}

fn sync(ctx: *mut XpuContext, s: *mut XpuStream) -> (i32, String) {
    let mut err = XpuError::new();
    // SAFETY: ctx is live, s is NULL or a live stream; err is valid.
    let status = unsafe { streams().sync.unwrap()(ctx, s, &mut err) };
    (status, err.message_lossy())
}

/// Runs `op` (an f32 identity of [1, 2, 3]) on `s`; returns status, message
/// and the output.
fn run(ctx: *mut XpuContext, op: &CStr, s: *mut XpuStream) -> (i32, String, [f32; 3]) {
    let shape = [3i64];
    let strides = [1i64];
    let mut x = [1.0f32, 2.0, 3.0];
    let mut y = [f32::NAN; 3];
    let tensor = |data: *mut f32| ffi::XpuTensor {
        struct_size: size_of::<ffi::XpuTensor>(),
        data: data.cast(),
        byte_offset: 0,
        dtype: DType::F32.code(),
        memory_kind: ffi::XPU_MEMORY_HOST,
        device_index: 0,
        ndim: 1,
        shape: shape.as_ptr(),
        strides: strides.as_ptr(),
    };
    let inputs = [tensor(x.as_mut_ptr())];
    let outputs = [tensor(y.as_mut_ptr())];
    let call = XpuOpCall {
        struct_size: size_of::<XpuOpCall>(),
        domain: c"".as_ptr(),
        op_type: op.as_ptr(),
        opset: 21,
        attributes: ptr::null(),
        num_attributes: 0,
        inputs: inputs.as_ptr(),
        num_inputs: 1,
        outputs: outputs.as_ptr(),
        num_outputs: 1,
        output_shapes: std::ptr::null(),
        attribute_tensors: std::ptr::null(),
    };
    let mut err = XpuError::new();
    // SAFETY: the call's arrays and buffers outlive the call; s is NULL or a
    // live stream of ctx.
    let status = unsafe { api().run_op.unwrap()(ctx, &call, s, &mut err) };
    (status, err.message_lossy(), y)
}

#[test]
fn the_group_is_complete_and_run_op_queues_on_the_stream() {
    let g = streams();
    assert_eq!(g.struct_size, size_of::<ffi::XpuStreamApi>());
    assert!(g.create.is_some() && g.sync.is_some() && g.destroy.is_some());

    let ctx = context();
    let (a, b) = (stream(ctx), stream(ctx));
    assert_ne!(a, b, "two streams are two objects");

    // With a stream: run_op_on, outputs written, two calls pending; the
    // synchronous path is not taken.
    let before = SYNC_RUNS.load(Ordering::SeqCst);
    let (st, msg, y) = run(ctx, c"Identity", a);
    assert_eq!(st, ffi::XPU_STATUS_OK, "{msg}");
    assert_eq!(y, [1.0, 2.0, 3.0]);
    let (st, _, _) = run(ctx, c"FailLater", a);
    assert_eq!(st, ffi::XPU_STATUS_OK, "run_op accepts the work");
    assert_eq!(SYNC_RUNS.load(Ordering::SeqCst), before);

    // The queued failure surfaces at sync, with the backend's status and
    // message (both calls were pending), and sync drains the stream.
    let (st, msg) = sync(ctx, a);
    assert_eq!(st, ffi::XPU_STATUS_DEVICE_ERROR);
    assert_eq!(msg, "2 queued calls lost");
    assert_eq!(sync(ctx, a).0, ffi::XPU_STATUS_OK);
    // The other stream saw none of it.
    assert_eq!(sync(ctx, b).0, ffi::XPU_STATUS_OK);

    // Without a stream: the synchronous Backend::run_op.
    let (st, _, y) = run(ctx, c"Identity", ptr::null_mut());
    assert_eq!(st, ffi::XPU_STATUS_OK);
    assert_eq!(y, [1.0, 2.0, 3.0]);
    assert_eq!(SYNC_RUNS.load(Ordering::SeqCst), before + 1);

    let destroyed = STREAMS_DESTROYED.load(Ordering::SeqCst);
    // SAFETY: a and b came from create on ctx and are not used afterwards.
    unsafe {
        streams().destroy.unwrap()(ctx, a);
        streams().destroy.unwrap()(ctx, b);
    }
    assert_eq!(STREAMS_DESTROYED.load(Ordering::SeqCst), destroyed + 2);
    // SAFETY: ctx came from create_context.
    unsafe { api().destroy_context.unwrap()(ctx) };
}

#[test]
fn misuse_and_panics_become_statuses() {
    let ctx = context();
    let other = context();
    let s = stream(ctx);

    let (st, msg) = sync(ctx, ptr::null_mut());
    assert_eq!(st, ffi::XPU_STATUS_INVALID_ARGUMENT);
    assert!(msg.contains("stream is NULL"), "{msg}");

    // A stream of another context is refused, not reinterpreted.
    let (st, msg) = sync(other, s);
    assert_eq!(st, ffi::XPU_STATUS_INVALID_ARGUMENT);
    assert!(msg.contains("another context"), "{msg}");
    let (st, msg, _) = run(other, c"Identity", s);
    assert_eq!(st, ffi::XPU_STATUS_INVALID_ARGUMENT);
    assert!(msg.contains("another context"), "{msg}");

    let mut out: *mut XpuStream = ptr::null_mut();
    let mut err = XpuError::new();
    // SAFETY: a NULL out pointer is the misuse under test; err is valid.
    let st = unsafe { streams().create.unwrap()(ctx, ptr::null_mut(), &mut err) };
    assert_eq!(st, ffi::XPU_STATUS_INVALID_ARGUMENT);
    // SAFETY: a NULL context is the misuse under test.
    let st = unsafe { streams().create.unwrap()(ptr::null_mut(), &mut out, &mut err) };
    assert_eq!(st, ffi::XPU_STATUS_INVALID_ARGUMENT);
    assert!(out.is_null());

    // A panic in sync is INTERNAL with its message; nothing unwinds.
    assert_eq!(run(ctx, c"PanicInSync", s).0, ffi::XPU_STATUS_OK);
    let (st, msg) = sync(ctx, s);
    assert_eq!(st, ffi::XPU_STATUS_INTERNAL);
    assert!(msg.contains("deliberate panic in sync"), "{msg}");

    // SAFETY: s came from create on ctx; the contexts from create_context;
    // none is used afterwards. destroy tolerates NULL.
    unsafe {
        streams().destroy.unwrap()(ctx, ptr::null_mut());
        streams().destroy.unwrap()(ctx, s);
        api().destroy_context.unwrap()(ctx);
        api().destroy_context.unwrap()(other);
    }
}
