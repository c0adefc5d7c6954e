//! The safe layer seen from the C side: a tiny backend written against
//! `xpucert_abi::Backend`, exported with `export_backend!`, and driven through
//! the raw function table exactly as the harness drives a vendor library.

use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr;

use xpucert_abi::ffi::{self, XpuBackendApi, XpuContext, XpuError, XpuOpCall, XpuOpSupport};
use xpucert_abi::{Backend, BackendError, DType, NumericFlags, OpCall, OpSupport, TensorMut};

const MANIFEST: &str = r#"{"schema": 1, "vendor": "test", "ops": [{"domain": "", "op": "Identity", "opsets": [21], "dtypes": ["f32"]}]}"#;

/// Identity on f32 (copies its input, which may be strided, into the
/// contiguous output); `Panic` panics inside run_op; everything else is
/// unsupported.
///
/// Not zero-sized on purpose: the safe layer boxes the backend value as the
/// context, and boxing a zero-sized type allocates nothing, so every context
/// would have the same address.
struct TestBackend {
    _options: usize,
}

impl Backend for TestBackend {
    const NAME: &'static CStr = c"abi-test";

    fn create(options: &[(&str, &str)]) -> Result<Self, BackendError> {
        match options.iter().find(|(k, _)| *k != "device") {
            Some((k, _)) => Err(BackendError::invalid(format!("unknown option {k}"))),
            None => Ok(TestBackend {
                _options: options.len(),
            }),
        }
    }

    fn manifest(&self) -> String {
        MANIFEST.to_string()
    }

    fn query_op(&self, call: &OpCall<'_>) -> Result<OpSupport, BackendError> {
        let f32_in = call.input(0)?.dtype() == DType::F32;
        Ok(match call.op_type {
            "Identity" if f32_in => OpSupport::native(),
            "Panic" => OpSupport::native(),
            "Flushing" => OpSupport {
                note: "ftz".into(),
                numeric: NumericFlags {
                    flush_subnormal_inputs: false,
                    flush_subnormal_outputs: true,
                },
                ..OpSupport::native()
            },
            other => OpSupport::unsupported(format!("{other} is not implemented")),
        })
    }

    fn run_op(&self, call: &OpCall<'_>, outputs: &mut [TensorMut<'_>]) -> Result<(), BackendError> {
        match call.op_type {
            "Identity" => {
                let x = call.input(0)?.read::<f32>()?;
                outputs[0].write(&x)
            }
            // A data-dependent op: the positive elements, in a bounded output.
            "Positive" => {
                let x = call.input(0)?.read::<f32>()?;
                let y: Vec<f32> = x.into_iter().filter(|&v| v > 0.0).collect();
                if !outputs[0].is_bounded() {
                    return Err(BackendError::invalid("Positive needs a bounded output"));
                }
                outputs[0].set_shape(&[y.len() as i64])?;
                outputs[0].write(&y)
            }
            // A tensor attribute (minor 3): every output element is the
            // one value of the f32 attribute `value`.
            "Fill" => {
                let v = call
                    .attr_tensor("value")?
                    .ok_or_else(|| BackendError::invalid("Fill needs value"))?
                    .read::<f32>()?;
                let n = outputs[0].numel();
                outputs[0].write(&vec![v[0]; n])
            }
            "Panic" => panic!("deliberate panic in run_op"),
            other => Err(BackendError::unsupported(format!(
                "{other} is not implemented"
            ))),
        }
    }
}

xpucert_abi::export_backend!(TestBackend);

fn host(major: u32) -> ffi::XpuHostApi {
    ffi::XpuHostApi {
        struct_size: size_of::<ffi::XpuHostApi>(),
        abi_major: major,
        abi_minor: 9, // a minor this crate has never heard of must be accepted
        log: None,
        user: ptr::null_mut(),
    }
}

/// Calls the exported entry point and returns the table.
fn api() -> &'static XpuBackendApi {
    let mut table: *const XpuBackendApi = ptr::null();
    let mut err = XpuError::new();
    // SAFETY: host, table and err are valid for the call, as the header requires.
    let status = unsafe { xpucert_backend_init_v1(&host(1), &mut table, &mut err) };
    assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
    assert!(!table.is_null());
    // SAFETY: init succeeded, so table points to the library's static table,
    // valid for the rest of the process.
    unsafe { &*table }
}

/// A live context, destroyed on drop.
struct Ctx {
    api: &'static XpuBackendApi,
    raw: *mut XpuContext,
}

impl Ctx {
    fn new() -> Ctx {
        let api = api();
        let mut raw = ptr::null_mut();
        let mut err = XpuError::new();
        let create = api.create_context.expect("create_context");
        // SAFETY: no options (NULL with count 0 is allowed); out and err are valid.
        let status = unsafe { create(ptr::null(), 0, &mut raw, &mut err) };
        assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
        assert!(!raw.is_null());
        Ctx { api, raw }
    }

    fn query(&self, call: &XpuOpCall) -> (i32, XpuOpSupport, XpuError) {
        let mut out = XpuOpSupport::new();
        let mut err = XpuError::new();
        // SAFETY: the context is live; call and everything it points to
        // outlive the call; out and err are valid.
        let status =
            unsafe { self.api.query_op.expect("query_op")(self.raw, call, &mut out, &mut err) };
        (status, out, err)
    }

    fn run(&self, call: &XpuOpCall) -> (i32, XpuError) {
        let mut err = XpuError::new();
        // SAFETY: as in query; the call's buffers are readable/writable over
        // their extents, and there is no stream.
        let status =
            unsafe { self.api.run_op.expect("run_op")(self.raw, call, ptr::null_mut(), &mut err) };
        (status, err)
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // SAFETY: raw came from create_context and is not used afterwards.
        unsafe { self.api.destroy_context.expect("destroy_context")(self.raw) };
    }
}

/// `XPU_DTYPE_F32`; `ffi` has no dtype constants, and layout.rs checks that
/// `DType::code` matches the header.
fn f32_code() -> i32 {
    DType::F32.code()
}

fn tensor(
    dtype: i32,
    data: *mut c_void,
    byte_offset: u64,
    shape: &[i64],
    strides: &[i64],
) -> ffi::XpuTensor {
    assert_eq!(shape.len(), strides.len());
    ffi::XpuTensor {
        struct_size: size_of::<ffi::XpuTensor>(),
        data,
        byte_offset,
        dtype,
        memory_kind: ffi::XPU_MEMORY_HOST,
        device_index: 0,
        ndim: shape.len() as i32,
        shape: shape.as_ptr(),
        strides: strides.as_ptr(),
    }
}

fn op_call(op_type: &CStr, inputs: &[ffi::XpuTensor], outputs: &[ffi::XpuTensor]) -> XpuOpCall {
    XpuOpCall {
        struct_size: size_of::<XpuOpCall>(),
        domain: c"".as_ptr(),
        op_type: op_type.as_ptr(),
        opset: 21,
        attributes: ptr::null(),
        num_attributes: 0,
        inputs: inputs.as_ptr(),
        num_inputs: inputs.len(),
        outputs: outputs.as_ptr(),
        num_outputs: outputs.len(),
        output_shapes: std::ptr::null(),
        attribute_tensors: std::ptr::null(),
    }
}

#[test]
fn init_returns_a_complete_v1_table() {
    let api = api();
    assert_eq!(api.struct_size, size_of::<XpuBackendApi>());
    assert_eq!(api.abi_major, 1);
    assert_eq!(api.abi_minor, ffi::XPU_ABI_MINOR);
    // SAFETY: name points to a 'static NUL-terminated string (TestBackend::NAME).
    assert_eq!(unsafe { CStr::from_ptr(api.name) }, c"abi-test");
    assert_eq!(api.capabilities, 0);
    assert!(api.create_context.is_some() && api.destroy_context.is_some());
    assert!(api.get_manifest.is_some() && api.query_op.is_some() && api.run_op.is_some());
    assert!(api.memory.is_null() && api.streams.is_null() && api.model.is_null());
}

#[test]
fn init_rejects_another_major() {
    let mut table: *const XpuBackendApi = ptr::null();
    let mut err = XpuError::new();
    // SAFETY: all pointers are valid for the call.
    let status = unsafe { xpucert_backend_init_v1(&host(2), &mut table, &mut err) };
    assert_eq!(status, ffi::XPU_STATUS_INVALID_ARGUMENT);
    assert_eq!(err.code, ffi::XPU_STATUS_INVALID_ARGUMENT);
    assert!(
        err.message_lossy().contains("major 2"),
        "{}",
        err.message_lossy()
    );
    assert!(table.is_null(), "a failed init must not hand out a table");
}

#[test]
fn contexts_are_created_and_destroyed() {
    let a = Ctx::new();
    let b = Ctx::new();
    assert_ne!(a.raw, b.raw, "two contexts are two objects");
    drop(a);
    drop(b);

    let api = api();
    let key = CString::new("device").unwrap();
    let value = CString::new("0").unwrap();
    let options = [ffi::XpuOption {
        struct_size: size_of::<ffi::XpuOption>(),
        key: key.as_ptr(),
        value: value.as_ptr(),
    }];
    let mut raw = ptr::null_mut();
    let mut err = XpuError::new();
    // SAFETY: options holds one valid entry; out and err are valid.
    let status = unsafe { api.create_context.unwrap()(options.as_ptr(), 1, &mut raw, &mut err) };
    assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
    // SAFETY: raw came from create_context.
    unsafe { api.destroy_context.unwrap()(raw) };
}

#[test]
fn unknown_option_is_rejected() {
    let api = api();
    let key = CString::new("devcie").unwrap();
    let value = CString::new("0").unwrap();
    let options = [ffi::XpuOption {
        struct_size: size_of::<ffi::XpuOption>(),
        key: key.as_ptr(),
        value: value.as_ptr(),
    }];
    let mut raw = ptr::null_mut();
    let mut err = XpuError::new();
    // SAFETY: options holds one valid entry; out and err are valid.
    let status = unsafe { api.create_context.unwrap()(options.as_ptr(), 1, &mut raw, &mut err) };
    assert_eq!(status, ffi::XPU_STATUS_INVALID_ARGUMENT);
    assert_eq!(err.code, ffi::XPU_STATUS_INVALID_ARGUMENT);
    assert!(
        err.message_lossy().contains("devcie"),
        "{}",
        err.message_lossy()
    );
    assert!(raw.is_null(), "no context on failure");
}

#[test]
fn manifest_follows_the_two_call_protocol() {
    let ctx = Ctx::new();
    let get = ctx.api.get_manifest.unwrap();

    // First call: no buffer, learn the length.
    let mut len = usize::MAX;
    let mut err = XpuError::new();
    // SAFETY: NULL buffer with capacity 0 is the documented length query.
    let status = unsafe { get(ctx.raw, ptr::null_mut(), 0, &mut len, &mut err) };
    assert_eq!(status, ffi::XPU_STATUS_OK);
    assert_eq!(len, MANIFEST.len());

    // Too small by one byte: nothing written, still OK, length reported.
    let mut small = vec![0x5a as c_char; len - 1];
    let mut len2 = 0;
    // SAFETY: small is writable for its capacity.
    let status = unsafe {
        get(
            ctx.raw,
            small.as_mut_ptr(),
            small.len(),
            &mut len2,
            &mut err,
        )
    };
    assert_eq!(status, ffi::XPU_STATUS_OK);
    assert_eq!(len2, len);
    assert!(
        small.iter().all(|&c| c == 0x5a),
        "a too-small buffer must not be written"
    );

    // Exactly large enough: the manifest, no NUL required.
    let mut buf = vec![0 as c_char; len];
    // SAFETY: buf is writable for its capacity.
    let status = unsafe { get(ctx.raw, buf.as_mut_ptr(), buf.len(), &mut len2, &mut err) };
    assert_eq!(status, ffi::XPU_STATUS_OK);
    let bytes: Vec<u8> = buf.iter().map(|&c| c as u8).collect();
    assert_eq!(std::str::from_utf8(&bytes).unwrap(), MANIFEST);
}

#[test]
fn strided_input_is_read_through_its_strides_and_byte_offset() {
    let ctx = Ctx::new();
    // Storage: one padding float, then a 3x2 row-major matrix
    //   [[0, 1], [2, 3], [4, 5]].
    // The input is its transpose, a 2x3 view with strides [1, 2], starting
    // one float into the buffer.
    let mut storage = [99.0f32, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
    let mut out = [f32::NAN; 6];
    let (in_shape, in_strides) = ([2i64, 3], [1i64, 2]);
    let (out_shape, out_strides) = ([2i64, 3], [3i64, 1]);
    let inputs = [tensor(
        f32_code(),
        storage.as_mut_ptr().cast(),
        4,
        &in_shape,
        &in_strides,
    )];
    let outputs = [tensor(
        f32_code(),
        out.as_mut_ptr().cast(),
        0,
        &out_shape,
        &out_strides,
    )];
    let call = op_call(c"Identity", &inputs, &outputs);

    let (status, support, err) = ctx.query(&call);
    assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
    assert_eq!(support.support, ffi::XPU_SUPPORT_NATIVE);
    assert_eq!(support.compute_precision, ffi::XPU_PRECISION_DEFAULT);

    let (status, err) = ctx.run(&call);
    assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
    assert_eq!(out, [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]);
}

#[test]
fn a_bounded_output_reports_its_shape_and_a_minor_1_call_is_accepted() {
    let ctx = Ctx::new();
    let mut x = [1.0f32, -2.0, 3.0, 0.0];
    let mut out = [f32::NAN; 4];
    let (shape, strides) = ([4i64], [1i64]);
    let inputs = [tensor(
        f32_code(),
        x.as_mut_ptr().cast(),
        0,
        &shape,
        &strides,
    )];
    let outputs = [tensor(
        f32_code(),
        out.as_mut_ptr().cast(),
        0,
        &shape,
        &strides,
    )];
    let mut dims = [4i64];
    let slots = [dims.as_mut_ptr()];
    let mut call = op_call(c"Positive", &inputs, &outputs);
    call.output_shapes = slots.as_ptr();
    let (status, err) = ctx.run(&call);
    assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
    // SAFETY: the slot points at `dims`, alive; read after the call.
    assert_eq!(unsafe { *slots[0] }, 2, "the actual length is reported");
    assert_eq!(out[..2], [1.0, 3.0], "written as a prefix");
    assert!(out[2..].iter().all(|v| v.is_nan()), "past it untouched");

    // A harness of minor 1 passes the struct without output_shapes: the
    // call is accepted (and this op, needing a bound, refuses it itself).
    call.struct_size = ffi::XPU_OP_CALL_SIZE_V1_0;
    let (status, err) = ctx.run(&call);
    assert_eq!(status, ffi::XPU_STATUS_INVALID_ARGUMENT);
    assert!(
        err.message_lossy().contains("bounded"),
        "{}",
        err.message_lossy()
    );
    call.struct_size = ffi::XPU_OP_CALL_SIZE_V1_0 - 1;
    let (status, _) = ctx.run(&call);
    assert_eq!(
        status,
        ffi::XPU_STATUS_INVALID_ARGUMENT,
        "shorter than minor 0"
    );
}

#[test]
fn unsupported_op_is_none_from_query_and_unsupported_from_run() {
    let ctx = Ctx::new();
    let mut x = [1.0f32];
    let mut y = [0.0f32];
    let inputs = [tensor(f32_code(), x.as_mut_ptr().cast(), 0, &[1], &[1])];
    let outputs = [tensor(f32_code(), y.as_mut_ptr().cast(), 0, &[1], &[1])];
    let call = op_call(c"Conv", &inputs, &outputs);

    let (status, support, _) = ctx.query(&call);
    assert_eq!(status, ffi::XPU_STATUS_OK);
    assert_eq!(support.support, ffi::XPU_SUPPORT_NONE);
    assert_eq!(support.note_lossy(), "Conv is not implemented");

    let (status, err) = ctx.run(&call);
    assert_eq!(status, ffi::XPU_STATUS_UNSUPPORTED);
    assert_eq!(err.code, ffi::XPU_STATUS_UNSUPPORTED);
    assert_eq!(err.message_lossy(), "Conv is not implemented");
}

#[test]
fn numeric_flags_are_written_only_to_a_harness_that_has_room_for_them() {
    let ctx = Ctx::new();
    let x = [1.0f32];
    let inputs = [tensor(
        f32_code(),
        x.as_ptr().cast_mut().cast(),
        0,
        &[1],
        &[1],
    )];
    let call = op_call(c"Flushing", &inputs, &[]);
    let (status, support, _) = ctx.query(&call);
    assert_eq!(status, ffi::XPU_STATUS_OK);
    assert_eq!(
        support.numeric_flags,
        ffi::XPU_NUMERIC_FLUSH_SUBNORMAL_OUTPUTS
    );
    assert_eq!(support.note_lossy(), "ftz");

    // A harness of minor 0: its struct ends where numeric_flags begins.
    // The note still fits and is written; the flags' bytes are not.
    let mut out = XpuOpSupport::new();
    out.struct_size = std::mem::offset_of!(XpuOpSupport, numeric_flags);
    out.numeric_flags = 0xdead_beef;
    let mut err = XpuError::new();
    // SAFETY: the context is live, the call valid, out and err writable.
    let status = unsafe { ctx.api.query_op.unwrap()(ctx.raw, &call, &mut out, &mut err) };
    assert_eq!(status, ffi::XPU_STATUS_OK);
    assert_eq!(out.support, ffi::XPU_SUPPORT_NATIVE);
    assert_eq!(out.note_lossy(), "ftz");
    assert_eq!(out.numeric_flags, 0xdead_beef, "written past struct_size");
}

#[test]
fn numeric_flags_round_trip_and_reject_unknown_bits() {
    for bits in 0..4 {
        assert_eq!(NumericFlags::from_bits(bits).unwrap().bits(), bits);
    }
    assert_eq!(NumericFlags::from_bits(0b101), Err(0b100));
}

#[test]
fn panic_in_run_op_becomes_internal_and_does_not_abort() {
    let ctx = Ctx::new();
    let mut x = [1.0f32];
    let mut y = [0.0f32];
    let inputs = [tensor(f32_code(), x.as_mut_ptr().cast(), 0, &[1], &[1])];
    let outputs = [tensor(f32_code(), y.as_mut_ptr().cast(), 0, &[1], &[1])];

    let (status, err) = ctx.run(&op_call(c"Panic", &inputs, &outputs));
    assert_eq!(status, ffi::XPU_STATUS_INTERNAL);
    assert_eq!(err.code, ffi::XPU_STATUS_INTERNAL);
    let msg = err.message_lossy();
    assert!(msg.contains("panicked"), "{msg}");
    assert!(msg.contains("deliberate panic in run_op"), "{msg}");

    // The process and the context are still usable.
    let (status, err) = ctx.run(&op_call(c"Identity", &inputs, &outputs));
    assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
    assert_eq!(y, [1.0]);
}

/// An XpuError followed by canary bytes, so a write past struct_size shows.
#[repr(C)]
struct GuardedError {
    err: XpuError,
    canary: [u8; 64],
}

#[test]
fn a_short_xpu_error_is_not_written_past_its_struct_size() {
    let ctx = Ctx::new();
    let mut x = [1.0f32];
    let mut y = [0.0f32];
    let inputs = [tensor(f32_code(), x.as_mut_ptr().cast(), 0, &[1], &[1])];
    let outputs = [tensor(f32_code(), y.as_mut_ptr().cast(), 0, &[1], &[1])];
    let call = op_call(c"Conv", &inputs, &outputs);
    let message_at = std::mem::offset_of!(XpuError, message);

    // Sizes a harness built against some other header could declare: room
    // for nothing but struct_size, for the code only, for part of the message.
    for declared in [size_of::<usize>(), message_at, message_at + 16] {
        let mut guarded = GuardedError {
            err: XpuError::new(),
            canary: [0xa5; 64],
        };
        guarded.err.struct_size = declared;
        guarded.err.code = -1;
        guarded.err.message = [0x5a; ffi::XPU_ERROR_MESSAGE_LEN];
        // SAFETY: the context is live, the call valid, and err points to a
        // writable XpuError (larger than it declares).
        let status =
            unsafe { ctx.api.run_op.unwrap()(ctx.raw, &call, ptr::null_mut(), &mut guarded.err) };
        assert_eq!(
            status,
            ffi::XPU_STATUS_UNSUPPORTED,
            "declared size {declared}"
        );

        // SAFETY: GuardedError is repr(C) plain data; viewing it as bytes is fine.
        let bytes = unsafe {
            std::slice::from_raw_parts((&raw const guarded).cast::<u8>(), size_of::<GuardedError>())
        };
        let code_fits = declared >= std::mem::offset_of!(XpuError, code) + size_of::<i32>();
        assert_eq!(
            guarded.err.code,
            if code_fits {
                ffi::XPU_STATUS_UNSUPPORTED
            } else {
                -1
            },
            "declared size {declared}: code"
        );
        // Nothing at or after `declared` may change, except padding between
        // code and message, which the caller cannot observe as data.
        let first_untouchable = declared.max(message_at);
        let message_end = message_at + ffi::XPU_ERROR_MESSAGE_LEN;
        assert!(
            bytes[first_untouchable..message_end]
                .iter()
                .all(|&b| b == 0x5a),
            "declared size {declared}: message bytes past struct_size were written"
        );
        assert!(
            bytes[size_of::<XpuError>()..].iter().all(|&b| b == 0xa5),
            "declared size {declared}: bytes after the struct were written"
        );
    }
}

#[test]
fn unknown_dtype_code_is_unsupported() {
    let ctx = Ctx::new();
    let mut x = [0u8; 4];
    let mut y = [0.0f32];
    // 8 is ONNX STRING, never used in this ABI; 0x10000 is the first vendor code.
    for code in [8, 14, 0x10000] {
        let inputs = [tensor(code, x.as_mut_ptr().cast(), 0, &[1], &[1])];
        let outputs = [tensor(f32_code(), y.as_mut_ptr().cast(), 0, &[1], &[1])];
        let call = op_call(c"Identity", &inputs, &outputs);

        let (status, err) = ctx.run(&call);
        assert_eq!(status, ffi::XPU_STATUS_UNSUPPORTED, "dtype code {code}");
        assert!(
            err.message_lossy().contains(&format!("dtype code {code}")),
            "{}",
            err.message_lossy()
        );

        // query_op must not claim support. The safe layer answers with the
        // status UNSUPPORTED; OK with XPU_SUPPORT_NONE would say the same.
        let (status, support, _) = ctx.query(&call);
        assert!(
            status == ffi::XPU_STATUS_UNSUPPORTED
                || (status == ffi::XPU_STATUS_OK && support.support == ffi::XPU_SUPPORT_NONE),
            "dtype code {code}: query_op returned status {status}, support {}",
            support.support
        );
    }
}

#[test]
fn negative_dimension_is_invalid_argument() {
    let ctx = Ctx::new();
    let mut x = [0.0f32; 4];
    let mut y = [0.0f32; 4];
    let inputs = [tensor(
        f32_code(),
        x.as_mut_ptr().cast(),
        0,
        &[2, -2],
        &[2, 1],
    )];
    let outputs = [tensor(
        f32_code(),
        y.as_mut_ptr().cast(),
        0,
        &[2, 2],
        &[2, 1],
    )];
    let call = op_call(c"Identity", &inputs, &outputs);

    let (status, err) = ctx.run(&call);
    assert_eq!(status, ffi::XPU_STATUS_INVALID_ARGUMENT);
    assert!(
        err.message_lossy().contains("negative"),
        "{}",
        err.message_lossy()
    );
    assert_eq!(y, [0.0; 4], "nothing is written on failure");

    let (status, _, err) = ctx.query(&call);
    assert_eq!(status, ffi::XPU_STATUS_INVALID_ARGUMENT);
    assert_eq!(err.code, ffi::XPU_STATUS_INVALID_ARGUMENT);
}

#[test]
fn tensor_attributes_arrive_through_the_parallel_array() {
    let ctx = Ctx::new();
    let mut value = [2.5f32];
    let mut out = [0.0f32; 3];
    let value_t = tensor(f32_code(), value.as_mut_ptr().cast(), 0, &[1], &[1]);
    let outputs = [tensor(f32_code(), out.as_mut_ptr().cast(), 0, &[3], &[1])];
    let attrs = [ffi::XpuAttribute {
        struct_size: size_of::<ffi::XpuAttribute>(),
        name: c"value".as_ptr(),
        r#type: ffi::XPU_ATTR_TENSOR,
        reserved: 0,
        i: 0,
        f: 0.0,
        s: ptr::null(),
        ints: ptr::null(),
        floats: ptr::null(),
        count: 0,
    }];
    let slots = [&value_t as *const ffi::XpuTensor];
    let mut call = op_call(c"Fill", &[], &outputs);
    call.attributes = attrs.as_ptr();
    call.num_attributes = 1;
    call.attribute_tensors = slots.as_ptr();
    let (status, err) = ctx.run(&call);
    assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
    assert_eq!(out, [2.5; 3]);

    // A minor-2 struct ends before attribute_tensors: the tensor attribute
    // has nowhere to come from, and the call is malformed, never misread.
    call.struct_size = ffi::XPU_OP_CALL_SIZE_V1_2;
    let (status, err) = ctx.run(&call);
    assert_eq!(status, ffi::XPU_STATUS_INVALID_ARGUMENT);
    assert!(
        err.message_lossy().contains("attribute_tensors"),
        "{}",
        err.message_lossy()
    );
    // So is a NULL entry for a tensor attribute.
    call.struct_size = size_of::<XpuOpCall>();
    let null_slots = [ptr::null::<ffi::XpuTensor>()];
    call.attribute_tensors = null_slots.as_ptr();
    let (status, _) = ctx.run(&call);
    assert_eq!(status, ffi::XPU_STATUS_INVALID_ARGUMENT);
}
