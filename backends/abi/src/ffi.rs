//! `#[repr(C)]` mirror of `backends/include/xpucert_backend.h`, field for field.
//!
//! The header is the source of truth; `tests/layout.rs` compiles a C program
//! that prints `sizeof`/`offsetof` of every struct and compares them with these
//! definitions. Integer codes (status, dtype, ...) stay plain `i32` here: a
//! value that crossed the boundary is validated by [`crate::Status::from_code`]
//! or [`crate::DType::from_code`], never transmuted into an enum.
#![allow(missing_docs)] // each item mirrors the header, where it is documented.

use std::ffi::{c_char, c_void};

pub const XPU_ABI_MAJOR: u32 = 1;
pub const XPU_ABI_MINOR: u32 = 3;
pub const XPU_ERROR_MESSAGE_LEN: usize = 1024;
pub const XPU_SUPPORT_NOTE_LEN: usize = 256;

pub const XPU_STATUS_OK: i32 = 0;
pub const XPU_STATUS_UNSUPPORTED: i32 = 1;
pub const XPU_STATUS_INVALID_ARGUMENT: i32 = 2;
pub const XPU_STATUS_OUT_OF_MEMORY: i32 = 3;
pub const XPU_STATUS_DEVICE_ERROR: i32 = 4;
pub const XPU_STATUS_TIMEOUT: i32 = 5;
pub const XPU_STATUS_INTERNAL: i32 = 6;

pub const XPU_DTYPE_UNDEFINED: i32 = 0;
pub const XPU_DTYPE_F32: i32 = 1;
pub const XPU_DTYPE_U8: i32 = 2;
pub const XPU_DTYPE_I8: i32 = 3;
pub const XPU_DTYPE_U16: i32 = 4;
pub const XPU_DTYPE_I16: i32 = 5;
pub const XPU_DTYPE_I32: i32 = 6;
pub const XPU_DTYPE_I64: i32 = 7;
pub const XPU_DTYPE_BOOL: i32 = 9;
pub const XPU_DTYPE_F16: i32 = 10;
pub const XPU_DTYPE_F64: i32 = 11;
pub const XPU_DTYPE_U32: i32 = 12;
pub const XPU_DTYPE_U64: i32 = 13;
pub const XPU_DTYPE_BF16: i32 = 16;
pub const XPU_DTYPE_F8E4M3FN: i32 = 17;
pub const XPU_DTYPE_F8E4M3FNUZ: i32 = 18;
pub const XPU_DTYPE_F8E5M2: i32 = 19;
pub const XPU_DTYPE_F8E5M2FNUZ: i32 = 20;
pub const XPU_DTYPE_U4: i32 = 21;
pub const XPU_DTYPE_I4: i32 = 22;
pub const XPU_DTYPE_F4E2M1: i32 = 23;
pub const XPU_DTYPE_F8E8M0: i32 = 24;
pub const XPU_DTYPE_U2: i32 = 25;
pub const XPU_DTYPE_I2: i32 = 26;
pub const XPU_DTYPE_VENDOR_BASE: i32 = 0x10000;

pub const XPU_PRECISION_DEFAULT: i32 = 0;
pub const XPU_PRECISION_TF32: i32 = 0x1001;

pub const XPU_MEMORY_HOST: i32 = 0;
pub const XPU_MEMORY_DEVICE: i32 = 1;

pub const XPU_CAP_CONCURRENT_CONTEXT: u64 = 1;

pub const XPU_NUMERIC_FLUSH_SUBNORMAL_INPUTS: u32 = 1 << 0;
pub const XPU_NUMERIC_FLUSH_SUBNORMAL_OUTPUTS: u32 = 1 << 1;

pub const XPU_ATTR_INT: i32 = 1;
pub const XPU_ATTR_FLOAT: i32 = 2;
pub const XPU_ATTR_STRING: i32 = 3;
pub const XPU_ATTR_INTS: i32 = 4;
pub const XPU_ATTR_FLOATS: i32 = 5;
/// Since minor 3.
pub const XPU_ATTR_TENSOR: i32 = 6;

pub const XPU_SUPPORT_NONE: i32 = 0;
pub const XPU_SUPPORT_NATIVE: i32 = 1;
pub const XPU_SUPPORT_EMULATED: i32 = 2;

pub const XPU_LOG_ERROR: i32 = 1;
pub const XPU_LOG_WARN: i32 = 2;
pub const XPU_LOG_INFO: i32 = 3;
pub const XPU_LOG_DEBUG: i32 = 4;

/// Name of the entry symbol, NUL-terminated, for `dlsym`.
pub const INIT_SYMBOL_V1: &[u8] = b"xpucert_backend_init_v1\0";

#[repr(C)]
pub struct XpuError {
    pub struct_size: usize,
    pub code: i32,
    pub message: [c_char; XPU_ERROR_MESSAGE_LEN],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct XpuTensor {
    pub struct_size: usize,
    pub data: *mut c_void,
    pub byte_offset: u64,
    pub dtype: i32,
    pub memory_kind: i32,
    pub device_index: i32,
    pub ndim: i32,
    pub shape: *const i64,
    pub strides: *const i64,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct XpuAttribute {
    pub struct_size: usize,
    pub name: *const c_char,
    pub r#type: i32,
    pub reserved: i32,
    pub i: i64,
    pub f: f64,
    pub s: *const c_char,
    pub ints: *const i64,
    pub floats: *const f64,
    pub count: usize,
}

/// Opaque backend context.
#[repr(C)]
pub struct XpuContext {
    _private: [u8; 0],
}
/// Opaque backend stream.
#[repr(C)]
pub struct XpuStream {
    _private: [u8; 0],
}
/// Opaque compiled model.
#[repr(C)]
pub struct XpuModel {
    _private: [u8; 0],
}

#[repr(C)]
pub struct XpuOpCall {
    pub struct_size: usize,
    pub domain: *const c_char,
    pub op_type: *const c_char,
    pub opset: i64,
    pub attributes: *const XpuAttribute,
    pub num_attributes: usize,
    pub inputs: *const XpuTensor,
    pub num_inputs: usize,
    pub outputs: *const XpuTensor,
    pub num_outputs: usize,
    /// Since minor 2.
    pub output_shapes: *const *mut i64,
    /// Since minor 3.
    pub attribute_tensors: *const *const XpuTensor,
}

/// `sizeof(XpuOpCall)` of a minor 0 or 1 header: the struct ended before
/// `output_shapes`. A call this small carries no data-dependent outputs.
pub const XPU_OP_CALL_SIZE_V1_0: usize = std::mem::offset_of!(XpuOpCall, output_shapes);

/// `sizeof(XpuOpCall)` of a minor 2 header: the struct ended before
/// `attribute_tensors`. A call this small carries no tensor attributes.
pub const XPU_OP_CALL_SIZE_V1_2: usize = std::mem::offset_of!(XpuOpCall, attribute_tensors);

#[repr(C)]
pub struct XpuOpSupport {
    pub struct_size: usize,
    pub support: i32,
    pub compute_precision: i32,
    pub note: [c_char; XPU_SUPPORT_NOTE_LEN],
    /// Since minor 1.
    pub numeric_flags: u32,
}

#[repr(C)]
pub struct XpuOption {
    pub struct_size: usize,
    pub key: *const c_char,
    pub value: *const c_char,
}

pub type AllocFn = unsafe extern "C" fn(
    ctx: *mut XpuContext,
    device_index: i32,
    bytes: usize,
    out_ptr: *mut *mut c_void,
    err: *mut XpuError,
) -> i32;
pub type FreeFn = unsafe extern "C" fn(ctx: *mut XpuContext, ptr: *mut c_void);
pub type CopyFn = unsafe extern "C" fn(
    ctx: *mut XpuContext,
    dst: *mut c_void,
    dst_kind: i32,
    src: *const c_void,
    src_kind: i32,
    bytes: usize,
    stream: *mut XpuStream,
    err: *mut XpuError,
) -> i32;

#[repr(C)]
pub struct XpuDeviceMemoryApi {
    pub struct_size: usize,
    pub alloc: Option<AllocFn>,
    pub free: Option<FreeFn>,
    pub copy: Option<CopyFn>,
}

pub type StreamCreateFn = unsafe extern "C" fn(
    ctx: *mut XpuContext,
    out_stream: *mut *mut XpuStream,
    err: *mut XpuError,
) -> i32;
pub type StreamSyncFn =
    unsafe extern "C" fn(ctx: *mut XpuContext, stream: *mut XpuStream, err: *mut XpuError) -> i32;
pub type StreamDestroyFn = unsafe extern "C" fn(ctx: *mut XpuContext, stream: *mut XpuStream);

#[repr(C)]
pub struct XpuStreamApi {
    pub struct_size: usize,
    pub create: Option<StreamCreateFn>,
    pub sync: Option<StreamSyncFn>,
    pub destroy: Option<StreamDestroyFn>,
}

#[repr(C)]
pub struct XpuModelApi {
    pub struct_size: usize,
    pub compile: Option<
        unsafe extern "C" fn(
            ctx: *mut XpuContext,
            format: *const c_char,
            bytes: *const c_void,
            len: usize,
            out_model: *mut *mut XpuModel,
            err: *mut XpuError,
        ) -> i32,
    >,
    pub run: Option<
        unsafe extern "C" fn(
            ctx: *mut XpuContext,
            model: *mut XpuModel,
            inputs: *const XpuTensor,
            num_inputs: usize,
            outputs: *const XpuTensor,
            num_outputs: usize,
            stream: *mut XpuStream,
            err: *mut XpuError,
        ) -> i32,
    >,
    pub destroy: Option<unsafe extern "C" fn(ctx: *mut XpuContext, model: *mut XpuModel)>,
}

pub type LogFn = unsafe extern "C" fn(user: *mut c_void, level: i32, message: *const c_char);

#[repr(C)]
pub struct XpuHostApi {
    pub struct_size: usize,
    pub abi_major: u32,
    pub abi_minor: u32,
    pub log: Option<LogFn>,
    pub user: *mut c_void,
}

pub type CreateContextFn = unsafe extern "C" fn(
    options: *const XpuOption,
    num_options: usize,
    out_ctx: *mut *mut XpuContext,
    err: *mut XpuError,
) -> i32;
pub type DestroyContextFn = unsafe extern "C" fn(ctx: *mut XpuContext);
pub type GetManifestFn = unsafe extern "C" fn(
    ctx: *mut XpuContext,
    buf: *mut c_char,
    capacity: usize,
    out_len: *mut usize,
    err: *mut XpuError,
) -> i32;
pub type QueryOpFn = unsafe extern "C" fn(
    ctx: *mut XpuContext,
    call: *const XpuOpCall,
    out: *mut XpuOpSupport,
    err: *mut XpuError,
) -> i32;
pub type RunOpFn = unsafe extern "C" fn(
    ctx: *mut XpuContext,
    call: *const XpuOpCall,
    stream: *mut XpuStream,
    err: *mut XpuError,
) -> i32;

#[repr(C)]
pub struct XpuBackendApi {
    pub struct_size: usize,
    pub abi_major: u32,
    pub abi_minor: u32,
    pub name: *const c_char,
    pub capabilities: u64,
    pub create_context: Option<CreateContextFn>,
    pub destroy_context: Option<DestroyContextFn>,
    pub get_manifest: Option<GetManifestFn>,
    pub query_op: Option<QueryOpFn>,
    pub run_op: Option<RunOpFn>,
    pub memory: *const XpuDeviceMemoryApi,
    pub streams: *const XpuStreamApi,
    pub model: *const XpuModelApi,
}

pub type InitV1Fn = unsafe extern "C" fn(
    host: *const XpuHostApi,
    out_api: *mut *const XpuBackendApi,
    err: *mut XpuError,
) -> i32;

impl XpuError {
    /// A zeroed error record with `struct_size` set, as the harness passes it.
    pub fn new() -> Self {
        XpuError {
            struct_size: std::mem::size_of::<XpuError>(),
            code: 0,
            message: [0; XPU_ERROR_MESSAGE_LEN],
        }
    }

    /// The message up to the first NUL, or the whole buffer if the backend
    /// forgot the terminator; invalid UTF-8 is replaced, never trusted.
    pub fn message_lossy(&self) -> String {
        let bytes: Vec<u8> = self
            .message
            .iter()
            .map(|&c| c as u8)
            .take_while(|&b| b != 0)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Writes `msg` truncated to fit, always NUL-terminated.
    pub fn set(&mut self, code: i32, msg: &str) {
        self.code = code;
        write_c_buf(&mut self.message, msg);
    }
}

impl Default for XpuError {
    fn default() -> Self {
        Self::new()
    }
}

impl XpuOpSupport {
    /// A zeroed record with `struct_size` set.
    pub fn new() -> Self {
        XpuOpSupport {
            struct_size: std::mem::size_of::<XpuOpSupport>(),
            support: XPU_SUPPORT_NONE,
            compute_precision: XPU_PRECISION_DEFAULT,
            note: [0; XPU_SUPPORT_NOTE_LEN],
            numeric_flags: 0,
        }
    }

    /// The note up to its first NUL (or the whole buffer), lossily decoded.
    pub fn note_lossy(&self) -> String {
        let bytes: Vec<u8> = self
            .note
            .iter()
            .map(|&c| c as u8)
            .take_while(|&b| b != 0)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Default for XpuOpSupport {
    fn default() -> Self {
        Self::new()
    }
}

/// Copies `msg` into a fixed C buffer, truncating on a UTF-8 boundary and
/// always leaving a terminating NUL.
pub fn write_c_buf(buf: &mut [c_char], msg: &str) {
    if buf.is_empty() {
        return;
    }
    let mut end = msg.len().min(buf.len() - 1);
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    for (dst, &src) in buf.iter_mut().zip(&msg.as_bytes()[..end]) {
        *dst = src as c_char;
    }
    buf[end] = 0;
}
