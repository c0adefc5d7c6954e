//! The deliberately broken libraries in `backends/testlibs/` are what the
//! harness loader's error tests rely on, so this checks that each one is
//! broken in exactly the advertised way (and otherwise well-formed).

mod common;

use std::ffi::CStr;
use std::ptr;

use xpucert_abi::ffi::{self, XpuBackendApi, XpuError};

fn build(name: &str) -> &'static libloading::Library {
    let src = common::backends_dir().join(format!("testlibs/{name}.c"));
    let lib = common::scratch_dir("testlibs").join(format!("lib{name}.so"));
    common::compile_shared(&[src], &lib);
    common::load(&lib)
}

/// Calls the library's init and returns status, table and error.
fn init(lib: &libloading::Library) -> (i32, *const XpuBackendApi, XpuError) {
    // SAFETY: the symbol has the InitV1Fn signature (declared by the header).
    let init = unsafe { lib.get::<ffi::InitV1Fn>(ffi::INIT_SYMBOL_V1) }.expect("init symbol");
    let host = ffi::XpuHostApi {
        struct_size: size_of::<ffi::XpuHostApi>(),
        abi_major: ffi::XPU_ABI_MAJOR,
        abi_minor: ffi::XPU_ABI_MINOR,
        log: None,
        user: ptr::null_mut(),
    };
    let mut table = ptr::null();
    let mut err = XpuError::new();
    // SAFETY: host, table and err are valid for the call.
    let status = unsafe { init(&host, &mut table, &mut err) };
    (status, table, err)
}

#[test]
fn no_symbol_lacks_the_entry_point() {
    let lib = build("no_symbol");
    // SAFETY: only looking the symbol up, never calling it.
    let missing = unsafe { lib.get::<ffi::InitV1Fn>(ffi::INIT_SYMBOL_V1) };
    assert!(
        missing.is_err(),
        "no_symbol must not export xpucert_backend_init_v1"
    );
    // SAFETY: as above.
    let decoy = unsafe { lib.get::<unsafe extern "C" fn() -> i32>(b"xpucert_backend_init\0") };
    assert!(decoy.is_ok(), "it exports something else");
}

#[test]
fn major2_returns_a_table_claiming_major_2() {
    let (status, table, err) = init(build("major2"));
    assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
    // SAFETY: init succeeded; the table is static in a library never unloaded.
    let table = unsafe { &*table };
    assert_eq!(table.abi_major, 2);
    assert_eq!(table.struct_size, size_of::<XpuBackendApi>());
}

#[test]
fn init_fails_reports_a_device_error() {
    let (status, _, err) = init(build("init_fails"));
    assert_eq!(status, ffi::XPU_STATUS_DEVICE_ERROR);
    assert_eq!(err.code, ffi::XPU_STATUS_DEVICE_ERROR);
    assert_eq!(err.message_lossy(), "no device found: /dev/acme0 missing");
}

#[test]
fn null_slots_has_no_run_op() {
    let (status, table, err) = init(build("null_slots"));
    assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
    // SAFETY: init succeeded; the table is static in a library never unloaded.
    let table = unsafe { &*table };
    assert_eq!(table.abi_major, 1);
    assert_eq!(table.struct_size, size_of::<XpuBackendApi>());
    assert!(table.run_op.is_none());
    assert!(table.create_context.is_some() && table.query_op.is_some());
}

#[test]
fn short_table_ends_after_run_op_and_works() {
    let (status, table, err) = init(build("short_table"));
    assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
    // Read only the fields inside the declared size, as a loader must: the
    // pointer fields after run_op hold poison.
    // SAFETY: init succeeded; the table is static, and every field read
    // below lies inside its declared struct_size.
    let table = unsafe { &*table };
    let run_op_end = std::mem::offset_of!(XpuBackendApi, run_op) + size_of::<usize>();
    assert_eq!(table.struct_size, run_op_end);
    assert!(table.struct_size < size_of::<XpuBackendApi>());
    assert_eq!(table.abi_major, 1);
    assert_eq!(
        // SAFETY: name is a static NUL-terminated string in the library.
        unsafe { CStr::from_ptr(table.name) },
        c"testlib-short-table"
    );

    let mut ctx = ptr::null_mut();
    let mut err = XpuError::new();
    // SAFETY: no options; out and err are valid.
    let status = unsafe { table.create_context.unwrap()(ptr::null(), 0, &mut ctx, &mut err) };
    assert_eq!(status, ffi::XPU_STATUS_OK);
    let mut len = 0;
    // SAFETY: a NULL buffer asks for the manifest's length.
    let status =
        unsafe { table.get_manifest.unwrap()(ctx, ptr::null_mut(), 0, &mut len, &mut err) };
    assert_eq!(status, ffi::XPU_STATUS_OK);
    assert!(len > 0);
    // SAFETY: ctx came from create_context.
    unsafe { table.destroy_context.unwrap()(ctx) };
}

#[test]
fn wrong_add_claims_add_and_computes_it_wrongly() {
    let (status, table, err) = init(build("wrong_add"));
    assert_eq!(status, ffi::XPU_STATUS_OK, "{}", err.message_lossy());
    // SAFETY: init succeeded; the table is static in a library never unloaded.
    let table = unsafe { &*table };
    let mut ctx = ptr::null_mut();
    let mut err = XpuError::new();
    // SAFETY: no options; out and err are valid.
    let status = unsafe { table.create_context.unwrap()(ptr::null(), 0, &mut ctx, &mut err) };
    assert_eq!(status, ffi::XPU_STATUS_OK);

    let f32_code = xpucert_abi::DType::F32.code();
    let (shape, strides) = ([2i64], [1i64]);
    let mut a = [1.0f32, 2.0];
    let mut b = [10.0f32, 20.0];
    let mut out = [0.0f32; 2];
    let t = |data: *mut f32| ffi::XpuTensor {
        struct_size: size_of::<ffi::XpuTensor>(),
        data: data.cast(),
        byte_offset: 0,
        dtype: f32_code,
        memory_kind: ffi::XPU_MEMORY_HOST,
        device_index: 0,
        ndim: 1,
        shape: shape.as_ptr(),
        strides: strides.as_ptr(),
    };
    let inputs = [t(a.as_mut_ptr()), t(b.as_mut_ptr())];
    let outputs = [t(out.as_mut_ptr())];
    let call = ffi::XpuOpCall {
        struct_size: size_of::<ffi::XpuOpCall>(),
        domain: c"".as_ptr(),
        op_type: c"Add".as_ptr(),
        opset: 14,
        attributes: ptr::null(),
        num_attributes: 0,
        inputs: inputs.as_ptr(),
        num_inputs: 2,
        outputs: outputs.as_ptr(),
        num_outputs: 1,
        output_shapes: std::ptr::null(),
        attribute_tensors: std::ptr::null(),
    };
    let mut support = ffi::XpuOpSupport::new();
    // SAFETY: ctx is live; call and its buffers outlive the calls.
    let status = unsafe { table.query_op.unwrap()(ctx, &call, &mut support, &mut err) };
    assert_eq!(status, ffi::XPU_STATUS_OK);
    assert_eq!(support.support, ffi::XPU_SUPPORT_NATIVE, "it claims Add");
    // SAFETY: as above; out is writable for two floats.
    let status = unsafe { table.run_op.unwrap()(ctx, &call, ptr::null_mut(), &mut err) };
    assert_eq!(status, ffi::XPU_STATUS_OK);
    let wrong = |s: f32| s + s.abs() / 64.0 + 1.0 / 16.0;
    assert_eq!(out, [wrong(11.0), wrong(22.0)]);
    // SAFETY: ctx came from create_context.
    unsafe { table.destroy_context.unwrap()(ctx) };
}
