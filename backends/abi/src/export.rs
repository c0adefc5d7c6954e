//! The `extern "C"` side of a Rust backend: the function table that
//! [`export_backend!`](crate::export_backend) places in a static, and the
//! trampolines that validate raw pointers from the harness before any safe
//! code sees them. All `unsafe` of a Rust backend lives here.

use std::ffi::{CStr, c_char};
use std::fmt::Display;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::ffi::{self, XpuBackendApi, XpuContext, XpuError, XpuOpCall, XpuOpSupport, XpuStream};
use crate::tensor::{TensorMut, TensorRef};
use crate::{AttrValue, Attribute, Backend, BackendError, DType, OpCall, StreamBackend};

/// What an `XpuContext*` points to. The extra byte guarantees a real heap
/// allocation even for a zero-sized backend type, so every context has its
/// own address (a zero-sized `Box` would hand out the same dangling pointer).
struct Context<B> {
    backend: B,
    _addressable: u8,
}

/// The backend's function table, in a form that can live in a `static`.
#[repr(transparent)]
pub struct ApiTable(XpuBackendApi);

// SAFETY: the table is immutable after construction; its raw pointers point to
// 'static immutable data (the backend name, the stream group's table) or are
// NULL, so sharing it between threads cannot cause a data race.
unsafe impl Sync for ApiTable {}

impl ApiTable {
    /// The raw table, e.g. to copy it and replace a slot in a test backend.
    pub const fn raw(&self) -> &XpuBackendApi {
        &self.0
    }

    /// Wraps a hand-assembled table (for backends that need raw control of
    /// a slot, such as the mutants backend's ABI-violation modes).
    pub const fn from_raw(api: XpuBackendApi) -> Self {
        ApiTable(api)
    }

    /// Builds the table for backend type `B`.
    pub const fn new<B: Backend>() -> Self {
        ApiTable(XpuBackendApi {
            struct_size: std::mem::size_of::<XpuBackendApi>(),
            abi_major: ffi::XPU_ABI_MAJOR,
            abi_minor: ffi::XPU_ABI_MINOR,
            name: B::NAME.as_ptr(),
            capabilities: B::CAPABILITIES,
            create_context: Some(create_context::<B>),
            destroy_context: Some(destroy_context::<B>),
            get_manifest: Some(get_manifest::<B>),
            query_op: Some(query_op::<B>),
            run_op: Some(run_op::<B>),
            memory: std::ptr::null(),
            streams: std::ptr::null(),
            model: std::ptr::null(),
        })
    }

    /// Builds the table for backend type `B` with the stream group: `run_op`
    /// accepts a stream, and `streams` points to `B`'s create/sync/destroy.
    pub const fn with_streams<B: StreamBackend>() -> Self {
        let mut api = Self::new::<B>().0;
        api.run_op = Some(run_op_streamed::<B>);
        api.streams = stream_api::<B>();
        ApiTable(api)
    }
}

/// Writes `xpucert_backend_init_v1` for a type implementing [`Backend`].
#[macro_export]
macro_rules! export_backend {
    ($backend:ty) => {
        /// Entry point of the xpucert backend ABI v1.
        ///
        /// # Safety
        /// Called by the harness with the pointers the header specifies.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn xpucert_backend_init_v1(
            host: *const $crate::ffi::XpuHostApi,
            out_api: *mut *const $crate::ffi::XpuBackendApi,
            err: *mut $crate::ffi::XpuError,
        ) -> i32 {
            static API: $crate::export::ApiTable = $crate::export::ApiTable::new::<$backend>();
            // SAFETY: the pointers are forwarded unchanged from the caller, who
            // upholds the header's contract for this entry point.
            unsafe { $crate::export::init(host, out_api, err, &API) }
        }
    };
    ($backend:ty, streams) => {
        /// Entry point of the xpucert backend ABI v1 (with the stream group).
        ///
        /// # Safety
        /// Called by the harness with the pointers the header specifies.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn xpucert_backend_init_v1(
            host: *const $crate::ffi::XpuHostApi,
            out_api: *mut *const $crate::ffi::XpuBackendApi,
            err: *mut $crate::ffi::XpuError,
        ) -> i32 {
            static API: $crate::export::ApiTable =
                $crate::export::ApiTable::with_streams::<$backend>();
            // SAFETY: the pointers are forwarded unchanged from the caller, who
            // upholds the header's contract for this entry point.
            unsafe { $crate::export::init(host, out_api, err, &API) }
        }
    };
}

/// Body of the generated entry point.
///
/// # Safety
/// `host` may be NULL or point to a valid `XpuHostApi`; `out_api` and `err`
/// must be NULL or valid for writes.
pub unsafe fn init(
    host: *const ffi::XpuHostApi,
    out_api: *mut *const XpuBackendApi,
    err: *mut XpuError,
    table: &'static ApiTable,
) -> i32 {
    if out_api.is_null() {
        // SAFETY: err is NULL or valid for writes (caller contract).
        unsafe { set_error(err, &BackendError::invalid("out_api is NULL")) };
        return ffi::XPU_STATUS_INVALID_ARGUMENT;
    }
    if !host.is_null() {
        // SAFETY: host is non-NULL and points to a valid XpuHostApi whose
        // first fields are struct_size and abi_major (caller contract).
        let (size, major) = unsafe { ((*host).struct_size, (*host).abi_major) };
        if size >= std::mem::offset_of!(ffi::XpuHostApi, abi_minor) && major != ffi::XPU_ABI_MAJOR {
            let e = BackendError::invalid(format!(
                "harness offers ABI major {major}, this backend implements major {}",
                ffi::XPU_ABI_MAJOR
            ));
            // SAFETY: err is NULL or valid for writes (caller contract).
            unsafe { set_error(err, &e) };
            return ffi::XPU_STATUS_INVALID_ARGUMENT;
        }
    }
    // SAFETY: out_api is non-NULL and valid for writes (checked above).
    unsafe { *out_api = &table.0 };
    ffi::XPU_STATUS_OK
}

/// Fills `err` if it is non-NULL and large enough to hold code and message.
///
/// # Safety
/// `err` must be NULL or valid for writes of `(*err).struct_size` bytes.
unsafe fn set_error(err: *mut XpuError, e: &BackendError) {
    if err.is_null() {
        return;
    }
    // SAFETY: err is non-NULL and valid (caller contract); we only touch the
    // fields that fit inside the struct_size the harness declared.
    unsafe {
        if (*err).struct_size >= std::mem::size_of::<XpuError>() {
            (*err).set(e.status.code(), &e.message);
        } else if (*err).struct_size >= std::mem::offset_of!(XpuError, message) {
            (*err).code = e.status.code();
        }
    }
}

/// Runs `f`, converting a panic into an INTERNAL error so nothing unwinds
/// across the C boundary.
fn guarded(err: *mut XpuError, f: impl FnOnce() -> Result<(), BackendError>) -> i32 {
    let result = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(BackendError::internal(format!("backend panicked: {msg}")))
        }
    };
    match result {
        Ok(()) => ffi::XPU_STATUS_OK,
        Err(e) => {
            // SAFETY: err comes from the harness and is NULL or valid.
            unsafe { set_error(err, &e) };
            e.status.code()
        }
    }
}

/// Reads a NUL-terminated UTF-8 string.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string valid for the call.
unsafe fn c_str<'a>(p: *const c_char, what: impl Display) -> Result<&'a str, BackendError> {
    if p.is_null() {
        return Err(BackendError::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| BackendError::invalid(format!("{what} is not valid UTF-8")))
}

/// Builds a slice from a pointer and length, allowing NULL when empty.
///
/// # Safety
/// When `len > 0`, `p` must point to `len` valid `T`s for `'a`.
unsafe fn slice<'a, T>(
    p: *const T,
    len: usize,
    what: impl Display,
) -> Result<&'a [T], BackendError> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(BackendError::invalid(format!(
            "{what} is NULL with {len} entries"
        )));
    }
    // SAFETY: non-NULL, len valid entries per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Which tensor of a call a message is about. Names are formatted only when
/// an error is reported: building them eagerly was a third of the per-call
/// cost of a tiny op.
#[derive(Clone, Copy)]
enum Which<'n> {
    Input(usize),
    Output(usize),
    /// A tensor-valued attribute, by name (minor 3).
    Attribute(&'n str),
}

impl Display for Which<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Which::Input(i) => write!(f, "input {i}"),
            Which::Output(i) => write!(f, "output {i}"),
            Which::Attribute(n) => write!(f, "attribute {n}"),
        }
    }
}

/// Validated metadata of one tensor: dtype, shape, strides, and the number of
/// elements its strides reach (span), or `None` for an absent optional input.
struct Meta<'a> {
    dtype: DType,
    shape: &'a [i64],
    strides: &'a [i64],
    span: usize,
}

/// # Safety
/// `t` must point to a tensor struct valid for `'a`, with shape/strides
/// arrays of `ndim` entries.
unsafe fn meta<'a>(
    t: &'a ffi::XpuTensor,
    what: Which<'_>,
) -> Result<Option<Meta<'a>>, BackendError> {
    if t.struct_size < std::mem::size_of::<ffi::XpuTensor>() {
        return Err(BackendError::invalid(format!(
            "{what}: struct_size {} is smaller than ABI 1.0's {}",
            t.struct_size,
            std::mem::size_of::<ffi::XpuTensor>()
        )));
    }
    if t.dtype == 0 {
        return Ok(None);
    }
    let dtype = DType::from_code(t.dtype)
        .ok_or_else(|| BackendError::unsupported(format!("{what}: dtype code {}", t.dtype)))?;
    if t.ndim < 0 {
        return Err(BackendError::invalid(format!(
            "{what}: ndim {} < 0",
            t.ndim
        )));
    }
    let nd = t.ndim as usize;
    // SAFETY: shape and strides hold ndim entries (caller contract).
    let shape = unsafe { slice(t.shape, nd, "shape")? };
    // SAFETY: as above.
    let strides = unsafe { slice(t.strides, nd, "strides")? };
    let mut span: usize = 1;
    let mut empty = false;
    for (&d, &s) in shape.iter().zip(strides) {
        if d < 0 || s < 0 {
            return Err(BackendError::invalid(format!(
                "{what}: negative dimension or stride in shape {shape:?} strides {strides:?}"
            )));
        }
        if d == 0 {
            empty = true;
        } else {
            span = (d as usize - 1)
                .checked_mul(s as usize)
                .and_then(|x| x.checked_add(span))
                .ok_or_else(|| BackendError::invalid(format!("{what}: extent overflows")))?;
        }
    }
    Ok(Some(Meta {
        dtype,
        shape,
        strides,
        span: if empty { 0 } else { span },
    }))
}

/// # Safety
/// `call` must point to a valid `XpuOpCall` whose arrays are valid for `'a`;
/// when `with_data`, input data pointers must be readable over their extent.
unsafe fn op_call<'a>(call: &'a XpuOpCall, with_data: bool) -> Result<OpCall<'a>, BackendError> {
    // A harness of minor 0 or 1 passes the shorter struct (no
    // output_shapes); anything shorter than that is malformed.
    if call.struct_size < ffi::XPU_OP_CALL_SIZE_V1_0 {
        return Err(BackendError::invalid("XpuOpCall.struct_size too small"));
    }
    let domain = if call.domain.is_null() {
        ""
    } else {
        // SAFETY: the strings and arrays are valid for the call (header contract).
        unsafe { c_str(call.domain, "domain")? }
    };
    // SAFETY: as above.
    let op_type = unsafe { c_str(call.op_type, "op_type")? };
    // SAFETY: as above.
    let raw_attrs = unsafe { slice(call.attributes, call.num_attributes, "attributes")? };
    // SAFETY: as above; the array has num_attributes entries when present.
    let tensor_slots = unsafe { attribute_tensor_slots(call)? };
    let mut attributes = Vec::with_capacity(raw_attrs.len());
    for (k, a) in raw_attrs.iter().enumerate() {
        // SAFETY: attribute members are valid for the call (header contract).
        let name = unsafe { c_str(a.name, "attribute name")? };
        let value = match a.r#type {
            ffi::XPU_ATTR_INT => AttrValue::Int(a.i),
            ffi::XPU_ATTR_FLOAT => AttrValue::Float(a.f),
            // SAFETY: as above.
            ffi::XPU_ATTR_STRING => AttrValue::String(unsafe { c_str(a.s, name)? }),
            // SAFETY: as above.
            ffi::XPU_ATTR_INTS => AttrValue::Ints(unsafe { slice(a.ints, a.count, name)? }),
            // SAFETY: as above.
            ffi::XPU_ATTR_FLOATS => AttrValue::Floats(unsafe { slice(a.floats, a.count, name)? }),
            ffi::XPU_ATTR_TENSOR => {
                let t = tensor_slots
                    .and_then(|s| (!s[k].is_null()).then_some(s[k]))
                    .ok_or_else(|| {
                        BackendError::invalid(format!(
                            "attribute {name}: XPU_ATTR_TENSOR without an attribute_tensors entry"
                        ))
                    })?;
                // SAFETY: a non-NULL entry points to a tensor valid for the
                // call (header contract).
                AttrValue::Tensor(unsafe { attribute_tensor(&*t, name)? })
            }
            t => {
                return Err(BackendError::invalid(format!(
                    "attribute {name}: unknown type code {t}"
                )));
            }
        };
        attributes.push(Attribute { name, value });
    }
    // SAFETY: as above.
    let raw_inputs = unsafe { slice(call.inputs, call.num_inputs, "inputs")? };
    let mut inputs = Vec::with_capacity(raw_inputs.len());
    for (i, t) in raw_inputs.iter().enumerate() {
        // SAFETY: tensor arrays are valid for the call (header contract).
        let m = unsafe { meta(t, Which::Input(i))? };
        inputs.push(match m {
            None => None,
            Some(m) => {
                let data = if with_data
                    && t.memory_kind == ffi::XPU_MEMORY_HOST
                    && !t.data.is_null()
                    && m.span > 0
                {
                    let bytes = m
                        .span
                        .checked_mul(m.dtype.bits())
                        .map(|bits| bits.div_ceil(8))
                        .and_then(|b| b.checked_add(t.byte_offset as usize))
                        .ok_or_else(|| {
                            BackendError::invalid(format!("input {i}: extent overflows"))
                        })?
                        - t.byte_offset as usize;
                    // SAFETY: the harness guarantees the input is readable over
                    // its strided extent, starting byte_offset past data.
                    Some(unsafe {
                        std::slice::from_raw_parts(
                            (t.data as *const u8).add(t.byte_offset as usize),
                            bytes,
                        )
                    })
                } else {
                    None
                };
                Some(TensorRef {
                    dtype: m.dtype,
                    shape: m.shape,
                    strides: m.strides,
                    memory_kind: t.memory_kind,
                    data,
                })
            }
        });
    }
    // SAFETY: as above.
    let raw_outputs = unsafe { slice(call.outputs, call.num_outputs, "outputs")? };
    let mut output_specs = Vec::with_capacity(raw_outputs.len());
    for (i, t) in raw_outputs.iter().enumerate() {
        // SAFETY: as above.
        let m = unsafe { meta(t, Which::Output(i))? }
            .ok_or_else(|| BackendError::invalid(format!("output {i} has no dtype")))?;
        output_specs.push((m.dtype, m.shape));
    }
    // SAFETY: as above; the array has num_outputs entries when present.
    let bounded = unsafe { output_shape_slots(call)? }
        .map(|s| s.iter().map(|p| !p.is_null()).collect())
        .unwrap_or_else(|| vec![false; output_specs.len()]);
    Ok(OpCall {
        domain,
        op_type,
        opset: call.opset,
        attributes,
        inputs,
        output_specs,
        output_bounded: bounded,
    })
}

/// `call.attribute_tensors` as a slice of `num_attributes` slots, or `None`
/// when the harness's struct ends before the field (minor < 3) or it is NULL.
///
/// # Safety
/// `call` must be valid for the call (header contract).
unsafe fn attribute_tensor_slots(
    call: &XpuOpCall,
) -> Result<Option<&[*const ffi::XpuTensor]>, BackendError> {
    let end = ffi::XPU_OP_CALL_SIZE_V1_2 + std::mem::size_of::<usize>();
    if call.struct_size < end || call.attribute_tensors.is_null() {
        return Ok(None);
    }
    // SAFETY: a non-NULL attribute_tensors has num_attributes entries (header).
    unsafe {
        slice(
            call.attribute_tensors,
            call.num_attributes,
            "attribute_tensors",
        )
        .map(Some)
    }
}

/// The host tensor of a tensor-valued attribute, with its data: the header
/// promises a contiguous host tensor, in queries too, so anything else is a
/// malformed call.
///
/// # Safety
/// `t` must be valid for `'a` and its data readable over its extent.
unsafe fn attribute_tensor<'a>(
    t: &'a ffi::XpuTensor,
    name: &str,
) -> Result<TensorRef<'a>, BackendError> {
    let what = Which::Attribute(name);
    // SAFETY: caller contract.
    let m = unsafe { meta(t, what)? }
        .ok_or_else(|| BackendError::invalid(format!("{what} has no dtype")))?;
    if t.memory_kind != ffi::XPU_MEMORY_HOST || t.byte_offset != 0 {
        return Err(BackendError::invalid(format!(
            "{what}: a tensor attribute is host memory at byte_offset 0"
        )));
    }
    let bytes = m
        .span
        .checked_mul(m.dtype.bits())
        .map(|bits| bits.div_ceil(8))
        .ok_or_else(|| BackendError::invalid(format!("{what}: extent overflows")))?;
    let data = if bytes == 0 {
        Some(&[][..])
    } else if t.data.is_null() {
        return Err(BackendError::invalid(format!("{what}: data is NULL")));
    } else {
        // SAFETY: the harness guarantees the data is readable over its extent.
        Some(unsafe { std::slice::from_raw_parts(t.data as *const u8, bytes) })
    };
    Ok(TensorRef {
        dtype: m.dtype,
        shape: m.shape,
        strides: m.strides,
        memory_kind: t.memory_kind,
        data,
    })
}

/// `call.output_shapes` as a slice of `num_outputs` slots, or `None` when
/// the harness's struct ends before the field (minor < 2) or it is NULL.
///
/// # Safety
/// `call` must be valid for the call (header contract).
unsafe fn output_shape_slots(call: &XpuOpCall) -> Result<Option<&[*mut i64]>, BackendError> {
    let end = std::mem::offset_of!(XpuOpCall, output_shapes) + std::mem::size_of::<usize>();
    if call.struct_size < end || call.output_shapes.is_null() {
        return Ok(None);
    }
    // SAFETY: a non-NULL output_shapes has num_outputs entries (header).
    unsafe { slice(call.output_shapes, call.num_outputs, "output_shapes").map(Some) }
}

/// # Safety
/// `call` must be valid for the call; output data must be writable over
/// `numel * size` bytes past `byte_offset`, and alias nothing else in the call.
unsafe fn outputs<'a>(call: &'a XpuOpCall) -> Result<Vec<TensorMut<'a>>, BackendError> {
    // SAFETY: as in op_call.
    let raw = unsafe { slice(call.outputs, call.num_outputs, "outputs")? };
    // SAFETY: as in op_call.
    let slots = unsafe { output_shape_slots(call)? };
    let mut out = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        let what = Which::Output(i);
        // SAFETY: as in op_call.
        let m = unsafe { meta(t, what)? }
            .ok_or_else(|| BackendError::invalid(format!("{what} has no dtype")))?;
        if t.memory_kind != ffi::XPU_MEMORY_HOST {
            return Err(BackendError::unsupported(format!("{what}: device memory")));
        }
        let numel = m
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
            .ok_or_else(|| BackendError::invalid(format!("{what}: element count overflows")))?;
        let view = TensorRef {
            dtype: m.dtype,
            shape: m.shape,
            strides: m.strides,
            memory_kind: t.memory_kind,
            data: None,
        };
        if numel > 0 && !view.is_contiguous() {
            return Err(BackendError::invalid(format!("{what} is not contiguous")));
        }
        let bytes = numel
            .checked_mul(m.dtype.bits())
            .map(|bits| bits.div_ceil(8))
            .and_then(|b| b.checked_add(t.byte_offset as usize))
            .ok_or_else(|| BackendError::invalid(format!("{what}: extent overflows")))?
            - t.byte_offset as usize;
        let data: &mut [u8] = if bytes == 0 {
            &mut []
        } else if t.data.is_null() {
            return Err(BackendError::invalid(format!("{what}: data is NULL")));
        } else {
            // SAFETY: the harness allocated this output for exactly this call;
            // it is writable over numel elements and aliases no other tensor.
            unsafe {
                std::slice::from_raw_parts_mut(
                    (t.data as *mut u8).add(t.byte_offset as usize),
                    bytes,
                )
            }
        };
        let reported = match slots.and_then(|s| s.get(i)).filter(|p| !p.is_null()) {
            // SAFETY: a non-NULL slot points to ndim writable dims, owned by
            // the harness for this call and aliasing nothing else (header).
            Some(&p) => Some(unsafe { std::slice::from_raw_parts_mut(p, m.shape.len()) }),
            None => None,
        };
        out.push(TensorMut {
            dtype: m.dtype,
            shape: m.shape,
            data,
            reported,
            actual: None,
        });
    }
    Ok(out)
}

/// # Safety
/// ABI entry: see `create_context` in the header.
pub unsafe extern "C" fn create_context<B: Backend>(
    options: *const ffi::XpuOption,
    num_options: usize,
    out_ctx: *mut *mut XpuContext,
    err: *mut XpuError,
) -> i32 {
    guarded(err, || {
        if out_ctx.is_null() {
            return Err(BackendError::invalid("out_ctx is NULL"));
        }
        // SAFETY: options holds num_options entries (header contract).
        let raw = unsafe { slice(options, num_options, "options")? };
        let mut opts = Vec::with_capacity(raw.len());
        for o in raw {
            // SAFETY: option strings are valid for the call.
            let k = unsafe { c_str(o.key, "option key")? };
            // SAFETY: as above.
            let v = unsafe { c_str(o.value, "option value")? };
            opts.push((k, v));
        }
        let backend = B::create(&opts)?;
        // SAFETY: out_ctx is non-NULL and writable (checked above).
        unsafe {
            *out_ctx = Box::into_raw(Box::new(Context {
                backend,
                _addressable: 0,
            })) as *mut XpuContext
        };
        Ok(())
    })
}

/// # Safety
/// `ctx` must come from `create_context::<B>` and not be used afterwards.
pub unsafe extern "C" fn destroy_context<B: Backend>(ctx: *mut XpuContext) {
    if ctx.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: ctx was produced by Box::into_raw in create_context::<B>.
        drop(unsafe { Box::from_raw(ctx as *mut Context<B>) });
    }));
}

/// # Safety
/// `ctx` must be a live context of `B`.
unsafe fn backend<'a, B: Backend>(ctx: *mut XpuContext) -> Result<&'a B, BackendError> {
    if ctx.is_null() {
        return Err(BackendError::invalid("context is NULL"));
    }
    // SAFETY: ctx was produced by create_context::<B> and is still alive.
    Ok(unsafe { &(*(ctx as *const Context<B>)).backend })
}

/// # Safety
/// ABI entry: see `get_manifest` in the header.
pub unsafe extern "C" fn get_manifest<B: Backend>(
    ctx: *mut XpuContext,
    buf: *mut c_char,
    capacity: usize,
    out_len: *mut usize,
    err: *mut XpuError,
) -> i32 {
    guarded(err, || {
        // SAFETY: ctx is a live context (header contract).
        let b = unsafe { backend::<B>(ctx)? };
        if out_len.is_null() {
            return Err(BackendError::invalid("out_len is NULL"));
        }
        let m = b.manifest();
        // SAFETY: out_len is non-NULL and writable.
        unsafe { *out_len = m.len() };
        if !buf.is_null() && capacity >= m.len() {
            // SAFETY: buf is writable for capacity >= m.len() bytes.
            unsafe { std::ptr::copy_nonoverlapping(m.as_ptr(), buf as *mut u8, m.len()) };
        }
        Ok(())
    })
}

/// # Safety
/// ABI entry: see `query_op` in the header.
pub unsafe extern "C" fn query_op<B: Backend>(
    ctx: *mut XpuContext,
    call: *const XpuOpCall,
    out: *mut XpuOpSupport,
    err: *mut XpuError,
) -> i32 {
    guarded(err, || {
        // SAFETY: ctx is a live context (header contract).
        let b = unsafe { backend::<B>(ctx)? };
        if call.is_null() || out.is_null() {
            return Err(BackendError::invalid("call or out is NULL"));
        }
        // SAFETY: call is valid for the duration of this function.
        let answer = unsafe { op_call(&*call, false) }.and_then(|c| b.query_op(&c));
        // "Not supported" is an answer, not a failure of the query: a dtype
        // code this crate does not know, or a backend that answers with an
        // UNSUPPORTED error, becomes OK + XPU_SUPPORT_NONE with the reason.
        let s = match answer {
            Err(e) if e.status == crate::Status::Unsupported => {
                crate::OpSupport::unsupported(e.message)
            }
            other => other?,
        };
        // Each field is written only if it lies within the struct_size the
        // harness declared: one of an older minor passes a smaller struct.
        // SAFETY: out is non-NULL and starts with its struct_size.
        let room = unsafe { (*out).struct_size };
        let fits = |offset: usize, len: usize| room >= offset + len;
        // SAFETY: out is non-NULL; every write below is inside its struct_size.
        unsafe {
            if fits(std::mem::offset_of!(XpuOpSupport, compute_precision), 4) {
                (*out).support = s.support.code();
                (*out).compute_precision = s.compute_precision.code();
            }
            if fits(
                std::mem::offset_of!(XpuOpSupport, note),
                ffi::XPU_SUPPORT_NOTE_LEN,
            ) {
                ffi::write_c_buf(&mut (*out).note, &s.note);
            }
            if fits(std::mem::offset_of!(XpuOpSupport, numeric_flags), 4) {
                (*out).numeric_flags = s.numeric.bits();
            }
        }
        Ok(())
    })
}

/// # Safety
/// ABI entry: see `run_op` in the header.
pub unsafe extern "C" fn run_op<B: Backend>(
    ctx: *mut XpuContext,
    call: *const XpuOpCall,
    stream: *mut XpuStream,
    err: *mut XpuError,
) -> i32 {
    guarded(err, || {
        // SAFETY: ctx is a live context (header contract).
        let b = unsafe { backend::<B>(ctx)? };
        if !stream.is_null() {
            return Err(BackendError::unsupported("streams are not provided"));
        }
        // SAFETY: call is NULL or valid for this call (header contract).
        let (c, mut outs) = unsafe { call_and_outputs(call)? };
        b.run_op(&c, &mut outs)
    })
}

/// The validated call and output buffers of a `run_op` entry (both
/// trampolines).
///
/// # Safety
/// `call` must be NULL or point to a valid `XpuOpCall` whose tensors are
/// valid for the call: inputs readable and outputs writable over their
/// extents (header contract).
unsafe fn call_and_outputs<'a>(
    call: *const XpuOpCall,
) -> Result<(OpCall<'a>, Vec<TensorMut<'a>>), BackendError> {
    if call.is_null() {
        return Err(BackendError::invalid("call is NULL"));
    }
    // SAFETY: non-NULL, and valid for the call (caller contract).
    let c = unsafe { op_call(&*call, true)? };
    // SAFETY: as above.
    let outs = unsafe { outputs(&*call)? };
    Ok((c, outs))
}

// ---------------------------------------------------------------------------
// The stream group (optional): only tables built by `ApiTable::with_streams`
// point here. Kept apart from the plain trampolines above so a backend
// without streams is exactly what it was.
// ---------------------------------------------------------------------------

/// What an `XpuStream*` points to: the backend's stream, and the address of
/// the context that created it, so a stream handed to another context is an
/// INVALID_ARGUMENT rather than a type confusion. The extra byte gives every
/// stream its own address, as for [`Context`].
struct StreamBox<S> {
    stream: S,
    owner: usize,
    _addressable: u8,
}

/// The static stream table of `B`, as an associated constant so that a
/// `const fn` can hand out a `'static` pointer to it.
struct StreamTable<B>(PhantomData<B>);

impl<B: StreamBackend> StreamTable<B> {
    const API: ffi::XpuStreamApi = ffi::XpuStreamApi {
        struct_size: std::mem::size_of::<ffi::XpuStreamApi>(),
        create: Some(create_stream::<B>),
        sync: Some(sync_stream::<B>),
        destroy: Some(destroy_stream::<B>),
    };
    const TABLE: &'static ffi::XpuStreamApi = &Self::API;
}

/// The stream group of `B`, for hand-assembled tables (see
/// [`ApiTable::from_raw`]); [`ApiTable::with_streams`] uses it.
pub const fn stream_api<B: StreamBackend>() -> *const ffi::XpuStreamApi {
    StreamTable::<B>::TABLE
}

/// The backend's stream behind `stream`, checked to belong to `ctx`.
///
/// # Safety
/// `stream` must be NULL or come from `create_stream::<B>` and not yet be
/// destroyed.
unsafe fn stream_of<'a, B: StreamBackend>(
    ctx: *mut XpuContext,
    stream: *mut XpuStream,
) -> Result<&'a B::Stream, BackendError> {
    if stream.is_null() {
        return Err(BackendError::invalid("stream is NULL"));
    }
    // SAFETY: stream was produced by Box::into_raw in create_stream::<B> and
    // is still alive (caller contract).
    let s = unsafe { &*(stream as *const StreamBox<B::Stream>) };
    if s.owner != ctx as usize {
        return Err(BackendError::invalid("stream belongs to another context"));
    }
    Ok(&s.stream)
}

/// # Safety
/// ABI entry: see `XpuStreamApi.create` in the header.
pub unsafe extern "C" fn create_stream<B: StreamBackend>(
    ctx: *mut XpuContext,
    out_stream: *mut *mut XpuStream,
    err: *mut XpuError,
) -> i32 {
    guarded(err, || {
        // SAFETY: ctx is a live context (header contract).
        let b = unsafe { backend::<B>(ctx)? };
        if out_stream.is_null() {
            return Err(BackendError::invalid("out_stream is NULL"));
        }
        let stream = b.create_stream()?;
        let boxed = Box::new(StreamBox {
            stream,
            owner: ctx as usize,
            _addressable: 0,
        });
        // SAFETY: out_stream is non-NULL and writable (checked above).
        unsafe { *out_stream = Box::into_raw(boxed) as *mut XpuStream };
        Ok(())
    })
}

/// # Safety
/// ABI entry: see `XpuStreamApi.sync` in the header.
pub unsafe extern "C" fn sync_stream<B: StreamBackend>(
    ctx: *mut XpuContext,
    stream: *mut XpuStream,
    err: *mut XpuError,
) -> i32 {
    guarded(err, || {
        // SAFETY: ctx is a live context (header contract).
        let b = unsafe { backend::<B>(ctx)? };
        // SAFETY: stream is NULL or a live stream of B (header contract).
        let s = unsafe { stream_of::<B>(ctx, stream)? };
        b.sync(s)
    })
}

/// # Safety
/// ABI entry: see `XpuStreamApi.destroy` in the header; `stream` is not used
/// afterwards.
pub unsafe extern "C" fn destroy_stream<B: StreamBackend>(
    ctx: *mut XpuContext,
    stream: *mut XpuStream,
) {
    if stream.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: stream was produced by Box::into_raw in create_stream::<B>
        // and is not used after this call (caller contract).
        let boxed = unsafe { Box::from_raw(stream as *mut StreamBox<B::Stream>) };
        // SAFETY: ctx is NULL or a live context of B (header contract).
        match unsafe { backend::<B>(ctx) } {
            Ok(b) if boxed.owner == ctx as usize => b.destroy_stream(boxed.stream),
            // Without its context the stream is only dropped.
            _ => drop(boxed),
        }
    }));
}

/// `run_op` of a table with the stream group: a NULL stream runs
/// synchronously through [`Backend::run_op`], a stream through
/// [`StreamBackend::run_op_on`].
///
/// # Safety
/// ABI entry: see `run_op` in the header.
pub unsafe extern "C" fn run_op_streamed<B: StreamBackend>(
    ctx: *mut XpuContext,
    call: *const XpuOpCall,
    stream: *mut XpuStream,
    err: *mut XpuError,
) -> i32 {
    guarded(err, || {
        // SAFETY: ctx is a live context (header contract).
        let b = unsafe { backend::<B>(ctx)? };
        let s = if stream.is_null() {
            None
        } else {
            // SAFETY: a non-NULL stream is a live stream of B (header contract).
            Some(unsafe { stream_of::<B>(ctx, stream)? })
        };
        // SAFETY: call is NULL or valid for this call (header contract).
        let (c, mut outs) = unsafe { call_and_outputs(call)? };
        match s {
            None => b.run_op(&c, &mut outs),
            Some(s) => b.run_op_on(s, &c, &mut outs),
        }
    })
}
