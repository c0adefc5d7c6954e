//! # xpucert-abi
//!
//! The xpucert backend ABI, seen from Rust. The contract itself is the C header
//! `backends/include/xpucert_backend.h`; this crate has two halves:
//!
//! * [`ffi`]: a `#[repr(C)]` mirror of every struct and constant in the header,
//!   checked against a C compiler's layout by `tests/layout.rs`. The harness
//!   uses it to load vendor libraries.
//! * A safe layer for backends written in Rust: implement [`Backend`], call
//!   [`export_backend!`], build a `cdylib`, and the crate writes the
//!   `extern "C"` entry point, validates every pointer and integer the harness
//!   passes in, and turns panics into `XPU_STATUS_INTERNAL` so nothing unwinds
//!   across the boundary.
//!
//! Integers that cross the boundary (status codes, dtype codes, attribute
//! types) are validated with `from_code` functions that return `Option`; they
//! are never transmuted into Rust enums, because a foreign library can send any
//! value at all.
//!
//! ```ignore
//! struct MyBackend;
//! impl xpucert_abi::Backend for MyBackend { /* ... */ }
//! xpucert_abi::export_backend!(MyBackend);
//! ```

#![warn(missing_docs)]

pub mod export;
pub mod ffi;
mod tensor;

pub use tensor::{Element, TensorMut, TensorRef};

use std::ffi::CStr;
use std::fmt;

/// A status code of the ABI. Build one from a foreign integer with
/// [`Status::from_code`]; unknown integers stay integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `XPU_STATUS_OK`
    Ok,
    /// `XPU_STATUS_UNSUPPORTED`: not a failure; the call is not implemented.
    Unsupported,
    /// `XPU_STATUS_INVALID_ARGUMENT`
    InvalidArgument,
    /// `XPU_STATUS_OUT_OF_MEMORY`
    OutOfMemory,
    /// `XPU_STATUS_DEVICE_ERROR`
    DeviceError,
    /// `XPU_STATUS_TIMEOUT`
    Timeout,
    /// `XPU_STATUS_INTERNAL`
    Internal,
}

impl Status {
    /// Validates a status integer received from a library.
    pub fn from_code(code: i32) -> Option<Status> {
        Some(match code {
            ffi::XPU_STATUS_OK => Status::Ok,
            ffi::XPU_STATUS_UNSUPPORTED => Status::Unsupported,
            ffi::XPU_STATUS_INVALID_ARGUMENT => Status::InvalidArgument,
            ffi::XPU_STATUS_OUT_OF_MEMORY => Status::OutOfMemory,
            ffi::XPU_STATUS_DEVICE_ERROR => Status::DeviceError,
            ffi::XPU_STATUS_TIMEOUT => Status::Timeout,
            ffi::XPU_STATUS_INTERNAL => Status::Internal,
            _ => return None,
        })
    }

    /// The integer written into the ABI.
    pub fn code(self) -> i32 {
        match self {
            Status::Ok => ffi::XPU_STATUS_OK,
            Status::Unsupported => ffi::XPU_STATUS_UNSUPPORTED,
            Status::InvalidArgument => ffi::XPU_STATUS_INVALID_ARGUMENT,
            Status::OutOfMemory => ffi::XPU_STATUS_OUT_OF_MEMORY,
            Status::DeviceError => ffi::XPU_STATUS_DEVICE_ERROR,
            Status::Timeout => ffi::XPU_STATUS_TIMEOUT,
            Status::Internal => ffi::XPU_STATUS_INTERNAL,
        }
    }

    /// The header's name without the prefix, lowercase: `invalid_argument`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unsupported => "unsupported",
            Status::InvalidArgument => "invalid_argument",
            Status::OutOfMemory => "out_of_memory",
            Status::DeviceError => "device_error",
            Status::Timeout => "timeout",
            Status::Internal => "internal",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An element type of the ABI (codes are ONNX `TensorProto.DataType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// IEEE binary64
    F64,
    /// IEEE binary32
    F32,
    /// IEEE binary16
    F16,
    /// bfloat16
    BF16,
    /// fp8 E4M3 without infinities (OCP "fn")
    F8E4M3FN,
    /// fp8 E5M2
    F8E5M2,
    /// fp8 E4M3 "fnuz" (bias 8, no infinities, no negative zero: 0x80 is
    /// the only NaN)
    F8E4M3FNUZ,
    /// fp8 E5M2 "fnuz" (bias 16, no infinities, no negative zero: 0x80 is
    /// the only NaN)
    F8E5M2FNUZ,
    /// fp8 E8M0, the OCP MX scale type: an unsigned power of two
    /// 2^(code - 127), 0xFF is NaN; no sign, no zero
    F8E8M0,
    /// fp4 E2M1 (OCP MX): 1 sign, 2 exponent (bias 1), 1 mantissa bit; no
    /// infinities or NaN. Packed two to a byte, like the 4-bit integers
    F4E2M1,
    /// signed 4-bit integer (-8..=7), two's complement, packed two to a
    /// byte: element i in the low nibble of byte i/2 when i is even, in the
    /// high nibble when odd (ONNX's layout)
    I4,
    /// unsigned 4-bit integer (0..=15), packed like [`DType::I4`]
    U4,
    /// signed 2-bit integer (-2..=1), two's complement, packed four to a
    /// byte: element i in bits `2*(i%4)..2*(i%4)+2` of byte i/4, lowest
    /// bits first (ONNX's layout, as for the 4-bit types)
    I2,
    /// unsigned 2-bit integer (0..=3), packed like [`DType::I2`]
    U2,
    /// signed 8-bit integer
    I8,
    /// unsigned 8-bit integer
    U8,
    /// signed 16-bit integer
    I16,
    /// unsigned 16-bit integer
    U16,
    /// signed 32-bit integer
    I32,
    /// unsigned 32-bit integer
    U32,
    /// signed 64-bit integer
    I64,
    /// unsigned 64-bit integer
    U64,
    /// one byte, 0 or 1
    Bool,
}

impl DType {
    /// Every dtype this ABI version defines, in a stable order: the floats,
    /// the integers and bool of 8 bits and more, then the narrow types that
    /// only conversions and quantization take, in the order ONNX's Cast
    /// added them (fp8 fnuz in 19, int4/uint4 in 21, FP4 E2M1 in 23, E8M0 in
    /// 24, int2/uint2 in 25); the harness slices the list by that order.
    pub const ALL: [DType; 23] = [
        DType::F64,
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::F8E4M3FN,
        DType::F8E5M2,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::Bool,
        DType::F8E4M3FNUZ,
        DType::F8E5M2FNUZ,
        DType::I4,
        DType::U4,
        DType::F4E2M1,
        DType::F8E8M0,
        DType::I2,
        DType::U2,
    ];

    /// Validates a dtype integer received over the ABI. `XPU_DTYPE_UNDEFINED`
    /// (0) and codes this crate does not know (strings, complex, vendor
    /// codes) give `None`.
    pub fn from_code(code: i32) -> Option<DType> {
        Some(match code {
            1 => DType::F32,
            2 => DType::U8,
            3 => DType::I8,
            4 => DType::U16,
            5 => DType::I16,
            6 => DType::I32,
            7 => DType::I64,
            9 => DType::Bool,
            10 => DType::F16,
            11 => DType::F64,
            12 => DType::U32,
            13 => DType::U64,
            16 => DType::BF16,
            17 => DType::F8E4M3FN,
            18 => DType::F8E4M3FNUZ,
            19 => DType::F8E5M2,
            20 => DType::F8E5M2FNUZ,
            21 => DType::U4,
            22 => DType::I4,
            23 => DType::F4E2M1,
            24 => DType::F8E8M0,
            25 => DType::U2,
            26 => DType::I2,
            _ => return None,
        })
    }

    /// The ABI integer (ONNX `TensorProto.DataType`).
    pub fn code(self) -> i32 {
        match self {
            DType::F32 => 1,
            DType::U8 => 2,
            DType::I8 => 3,
            DType::U16 => 4,
            DType::I16 => 5,
            DType::I32 => 6,
            DType::I64 => 7,
            DType::Bool => 9,
            DType::F16 => 10,
            DType::F64 => 11,
            DType::U32 => 12,
            DType::U64 => 13,
            DType::BF16 => 16,
            DType::F8E4M3FN => 17,
            DType::F8E4M3FNUZ => 18,
            DType::F8E5M2 => 19,
            DType::F8E5M2FNUZ => 20,
            DType::U4 => 21,
            DType::I4 => 22,
            DType::F4E2M1 => 23,
            DType::F8E8M0 => 24,
            DType::U2 => 25,
            DType::I2 => 26,
        }
    }

    /// Bits per element: 4 or 2 for the packed types, 8 times the byte size
    /// otherwise.
    pub fn bits(self) -> usize {
        match self {
            DType::F64 | DType::I64 | DType::U64 => 64,
            DType::F32 | DType::I32 | DType::U32 => 32,
            DType::F16 | DType::BF16 | DType::I16 | DType::U16 => 16,
            DType::F8E4M3FN
            | DType::F8E5M2
            | DType::F8E4M3FNUZ
            | DType::F8E5M2FNUZ
            | DType::F8E8M0
            | DType::I8
            | DType::U8
            | DType::Bool => 8,
            DType::F4E2M1 | DType::I4 | DType::U4 => 4,
            DType::I2 | DType::U2 => 2,
        }
    }

    /// True for the sub-byte types, stored two (4-bit) or four (2-bit)
    /// elements to a byte.
    pub fn is_packed(self) -> bool {
        self.bits() < 8
    }

    /// The code of element `k` of packed (sub-byte) data: the `bits()` bits
    /// at bit `bits * (k % per_byte)` of byte `k / per_byte`, lowest bits
    /// first (ONNX's layout); `None` past the end of `data`. The one place
    /// the packing order is written down for reading.
    pub fn packed_code(self, data: &[u8], k: usize) -> Option<u8> {
        let bits = self.bits();
        debug_assert!(bits < 8, "{self} is not packed");
        let per_byte = 8 / bits;
        let byte = *data.get(k / per_byte)?;
        Some((byte >> (bits * (k % per_byte))) & self.code_mask())
    }

    /// Stores `code` (only its low `bits()` bits) as element `k` of packed
    /// data, leaving the byte's other elements alone; the inverse of
    /// [`DType::packed_code`]. Panics when `k` is past the end of `data`.
    pub fn set_packed_code(self, data: &mut [u8], k: usize, code: u8) {
        let bits = self.bits();
        debug_assert!(bits < 8, "{self} is not packed");
        let per_byte = 8 / bits;
        let shift = bits * (k % per_byte);
        let mask = self.code_mask() << shift;
        let byte = &mut data[k / per_byte];
        *byte = (*byte & !mask) | ((code << shift) & mask);
    }

    /// The mask of one element's code: `2^bits - 1` for the packed types
    /// (0x0F, 0x03), 0xFF otherwise.
    pub fn code_mask(self) -> u8 {
        match self.bits() {
            b if b < 8 => (1u8 << b) - 1,
            _ => 0xFF,
        }
    }

    /// Bytes per element for the whole-byte types. A packed (sub-byte) type
    /// has no per-element byte size: this returns 1, the byte that holds an
    /// element, and buffer lengths must come from [`DType::bytes_for`].
    pub fn size(self) -> usize {
        self.bits().div_ceil(8)
    }

    /// Bytes of a contiguous buffer of `numel` elements:
    /// `ceil(numel * bits / 8)` (a packed odd count leaves the last high
    /// nibble unused, zero when written by the harness; likewise the last
    /// byte of a 2-bit tensor whose length is not a multiple of four).
    pub fn bytes_for(self, numel: usize) -> usize {
        match self.bits() {
            b if b < 8 => numel.div_ceil(8 / b),
            b => numel * (b / 8),
        }
    }

    /// The short name used in suites, case ids and manifests: `f32`, `bf16`,
    /// `f8e4m3fn`, `i64`, `bool`, ...
    pub fn name(self) -> &'static str {
        match self {
            DType::F64 => "f64",
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F8E4M3FN => "f8e4m3fn",
            DType::F8E5M2 => "f8e5m2",
            DType::F8E4M3FNUZ => "f8e4m3fnuz",
            DType::F8E5M2FNUZ => "f8e5m2fnuz",
            DType::F8E8M0 => "f8e8m0",
            DType::F4E2M1 => "f4e2m1",
            DType::I4 => "i4",
            DType::U4 => "u4",
            DType::I2 => "i2",
            DType::U2 => "u2",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I16 => "i16",
            DType::U16 => "u16",
            DType::I32 => "i32",
            DType::U32 => "u32",
            DType::I64 => "i64",
            DType::U64 => "u64",
            DType::Bool => "bool",
        }
    }

    /// Parses a short name as written by [`DType::name`].
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }

    /// True for the floating-point types.
    pub fn is_float(self) -> bool {
        matches!(
            self,
            DType::F64
                | DType::F32
                | DType::F16
                | DType::BF16
                | DType::F8E4M3FN
                | DType::F8E5M2
                | DType::F8E4M3FNUZ
                | DType::F8E5M2FNUZ
                | DType::F8E8M0
                | DType::F4E2M1
        )
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a backend supports one concrete call (`XPU_SUPPORT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Support {
    /// Not implemented: `run_op` would return `UNSUPPORTED`.
    None,
    /// Implemented on the device.
    Native,
    /// Implemented through a fallback, e.g. on the host.
    Emulated,
}

impl Support {
    /// Validates a support integer received over the ABI.
    pub fn from_code(code: i32) -> Option<Support> {
        Some(match code {
            ffi::XPU_SUPPORT_NONE => Support::None,
            ffi::XPU_SUPPORT_NATIVE => Support::Native,
            ffi::XPU_SUPPORT_EMULATED => Support::Emulated,
            _ => return None,
        })
    }

    /// The ABI integer.
    pub fn code(self) -> i32 {
        match self {
            Support::None => ffi::XPU_SUPPORT_NONE,
            Support::Native => ffi::XPU_SUPPORT_NATIVE,
            Support::Emulated => ffi::XPU_SUPPORT_EMULATED,
        }
    }
}

/// What an op really computes or accumulates in (`XPU_PRECISION_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precision {
    /// The op's own input/output dtype.
    Default,
    /// TensorFloat-32: f32 storage, 10-bit mantissa products.
    Tf32,
    /// A storage dtype used for computation (e.g. f32 accumulation of f16).
    DType(DType),
}

impl Precision {
    /// Validates a precision integer received over the ABI.
    pub fn from_code(code: i32) -> Option<Precision> {
        match code {
            ffi::XPU_PRECISION_DEFAULT => Some(Precision::Default),
            ffi::XPU_PRECISION_TF32 => Some(Precision::Tf32),
            c => DType::from_code(c).map(Precision::DType),
        }
    }

    /// The ABI integer.
    pub fn code(self) -> i32 {
        match self {
            Precision::Default => ffi::XPU_PRECISION_DEFAULT,
            Precision::Tf32 => ffi::XPU_PRECISION_TF32,
            Precision::DType(d) => d.code(),
        }
    }

    /// Short name: `default`, `tf32`, or a dtype name.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Default => "default",
            Precision::Tf32 => "tf32",
            Precision::DType(d) => d.name(),
        }
    }
}

/// `XpuOpSupport.numeric_flags` (ABI minor 1): the deviations from IEEE 754
/// subnormal arithmetic a call may make. The default declares none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NumericFlags {
    /// `XPU_NUMERIC_FLUSH_SUBNORMAL_INPUTS`: subnormal inputs may be read as
    /// zero of the same sign (DAZ).
    pub flush_subnormal_inputs: bool,
    /// `XPU_NUMERIC_FLUSH_SUBNORMAL_OUTPUTS`: results whose correctly rounded
    /// value is subnormal may be written as zero of either sign (FTZ).
    pub flush_subnormal_outputs: bool,
}

impl NumericFlags {
    /// Every bit this crate's ABI minor defines.
    pub const KNOWN_BITS: u32 =
        ffi::XPU_NUMERIC_FLUSH_SUBNORMAL_INPUTS | ffi::XPU_NUMERIC_FLUSH_SUBNORMAL_OUTPUTS;

    /// The flags in `bits`; `Err` with the bits this crate does not define.
    pub fn from_bits(bits: u32) -> Result<NumericFlags, u32> {
        let unknown = bits & !Self::KNOWN_BITS;
        if unknown != 0 {
            return Err(unknown);
        }
        Ok(NumericFlags {
            flush_subnormal_inputs: bits & ffi::XPU_NUMERIC_FLUSH_SUBNORMAL_INPUTS != 0,
            flush_subnormal_outputs: bits & ffi::XPU_NUMERIC_FLUSH_SUBNORMAL_OUTPUTS != 0,
        })
    }

    /// The ABI bits.
    pub fn bits(self) -> u32 {
        let mut b = 0;
        if self.flush_subnormal_inputs {
            b |= ffi::XPU_NUMERIC_FLUSH_SUBNORMAL_INPUTS;
        }
        if self.flush_subnormal_outputs {
            b |= ffi::XPU_NUMERIC_FLUSH_SUBNORMAL_OUTPUTS;
        }
        b
    }
}

/// A backend's answer to `query_op`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpSupport {
    /// Whether and how the call is implemented.
    pub support: Support,
    /// The precision the op really computes in.
    pub compute_precision: Precision,
    /// Optional free text (truncated to 255 bytes on the wire).
    pub note: String,
    /// Subnormal flushing the call may do (written only to a harness of
    /// ABI minor 1 or later; an older one judges the call without it).
    pub numeric: NumericFlags,
}

impl OpSupport {
    /// Implemented natively, in the io dtype's precision.
    pub fn native() -> Self {
        OpSupport {
            support: Support::Native,
            compute_precision: Precision::Default,
            note: String::new(),
            numeric: NumericFlags::default(),
        }
    }

    /// Not implemented, with a reason.
    pub fn unsupported(note: impl Into<String>) -> Self {
        OpSupport {
            support: Support::None,
            compute_precision: Precision::Default,
            note: note.into(),
            numeric: NumericFlags::default(),
        }
    }
}

/// An error a Rust backend returns; becomes a status plus message in `XpuError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendError {
    /// Never [`Status::Ok`].
    pub status: Status,
    /// Human-readable, truncated to 1023 bytes on the wire.
    pub message: String,
}

impl BackendError {
    /// A call the backend does not implement.
    pub fn unsupported(message: impl Into<String>) -> Self {
        BackendError {
            status: Status::Unsupported,
            message: message.into(),
        }
    }

    /// A malformed call.
    pub fn invalid(message: impl Into<String>) -> Self {
        BackendError {
            status: Status::InvalidArgument,
            message: message.into(),
        }
    }

    /// A bug inside the backend.
    pub fn internal(message: impl Into<String>) -> Self {
        BackendError {
            status: Status::Internal,
            message: message.into(),
        }
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for BackendError {}

/// A typed attribute value, borrowed from the call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttrValue<'a> {
    /// `XPU_ATTR_INT`
    Int(i64),
    /// `XPU_ATTR_FLOAT`
    Float(f64),
    /// `XPU_ATTR_STRING`
    String(&'a str),
    /// `XPU_ATTR_INTS`
    Ints(&'a [i64]),
    /// `XPU_ATTR_FLOATS`
    Floats(&'a [f64]),
    /// `XPU_ATTR_TENSOR` (minor 3): a host tensor, with its data even in
    /// `query_op`.
    Tensor(TensorRef<'a>),
}

/// One named attribute of an op call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attribute<'a> {
    /// e.g. `transB`
    pub name: &'a str,
    /// The typed value.
    pub value: AttrValue<'a>,
}

/// One operator invocation, validated and borrowed from the harness's
/// `XpuOpCall` for the duration of the call.
#[derive(Debug)]
pub struct OpCall<'a> {
    /// `""` for ONNX, `"xpucert"` for the harness's own ops.
    pub domain: &'a str,
    /// ONNX operator name, e.g. `MatMul`.
    pub op_type: &'a str,
    /// Opset whose semantics apply.
    pub opset: i64,
    /// Attributes as given.
    pub attributes: Vec<Attribute<'a>>,
    /// Inputs, positional; `None` for an omitted optional input.
    pub inputs: Vec<Option<TensorRef<'a>>>,
    /// The outputs' dtypes and shapes (the data is reached through the
    /// `outputs` argument of [`Backend::run_op`]).
    pub output_specs: Vec<(DType, &'a [i64])>,
    /// Per output: allocated at an upper bound, its actual shape reported
    /// by the backend (ABI minor 2, `XpuOpCall.output_shapes`); all false
    /// from a harness of an older minor.
    pub output_bounded: Vec<bool>,
}

impl<'a> OpCall<'a> {
    /// The attribute called `name`, if given.
    pub fn attr(&self, name: &str) -> Option<AttrValue<'a>> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value)
    }

    /// An integer attribute, or `default` when absent; a wrong type is an error.
    pub fn attr_int(&self, name: &str, default: i64) -> Result<i64, BackendError> {
        match self.attr(name) {
            None => Ok(default),
            Some(AttrValue::Int(v)) => Ok(v),
            Some(other) => Err(BackendError::invalid(format!(
                "attribute {name} must be an int, got {other:?}"
            ))),
        }
    }

    /// A float attribute, or `default` when absent; a wrong type is an error.
    pub fn attr_float(&self, name: &str, default: f64) -> Result<f64, BackendError> {
        match self.attr(name) {
            None => Ok(default),
            Some(AttrValue::Float(v)) => Ok(v),
            Some(other) => Err(BackendError::invalid(format!(
                "attribute {name} must be a float, got {other:?}"
            ))),
        }
    }

    /// A string attribute, or `default` when absent; a wrong type is an error.
    pub fn attr_str(&self, name: &str, default: &'a str) -> Result<&'a str, BackendError> {
        match self.attr(name) {
            None => Ok(default),
            Some(AttrValue::String(v)) => Ok(v),
            Some(other) => Err(BackendError::invalid(format!(
                "attribute {name} must be a string, got {other:?}"
            ))),
        }
    }

    /// An int-list attribute, if given; a wrong type is an error.
    pub fn attr_ints(&self, name: &str) -> Result<Option<&'a [i64]>, BackendError> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Ints(v)) => Ok(Some(v)),
            Some(other) => Err(BackendError::invalid(format!(
                "attribute {name} must be a list of ints, got {other:?}"
            ))),
        }
    }

    /// A tensor attribute (ABI minor 3), if given; a wrong type is an error.
    pub fn attr_tensor(&self, name: &str) -> Result<Option<TensorRef<'a>>, BackendError> {
        match self.attr(name) {
            None => Ok(None),
            Some(AttrValue::Tensor(t)) => Ok(Some(t)),
            Some(other) => Err(BackendError::invalid(format!(
                "attribute {name} must be a tensor, got {other:?}"
            ))),
        }
    }

    /// Input `i`, or an error naming it when it is absent.
    pub fn input(&self, i: usize) -> Result<&TensorRef<'a>, BackendError> {
        self.inputs.get(i).and_then(|t| t.as_ref()).ok_or_else(|| {
            BackendError::invalid(format!("{}: input {i} is required", self.op_type))
        })
    }

    /// Input `i` if present.
    pub fn optional_input(&self, i: usize) -> Option<&TensorRef<'a>> {
        self.inputs.get(i).and_then(|t| t.as_ref())
    }
}

/// A backend written in Rust. One value of the implementing type is one
/// `XpuContext`. Calls on one context are serialised by the harness unless
/// [`Backend::CAPABILITIES`] has `XPU_CAP_CONCURRENT_CONTEXT`, so `&self`
/// methods may use interior mutability freely.
pub trait Backend: Send + Sync + Sized + 'static {
    /// Short backend name reported in `XpuBackendApi.name`.
    const NAME: &'static CStr;
    /// `XPU_CAP_*` bits.
    const CAPABILITIES: u64 = 0;

    /// Creates a context from key/value options. Reject unknown keys.
    fn create(options: &[(&str, &str)]) -> Result<Self, BackendError>;

    /// The manifest JSON (schema in the header).
    fn manifest(&self) -> String;

    /// Whether and how `run_op` would execute this call. Input data is absent
    /// (`TensorRef::data` returns `None`) during a query.
    fn query_op(&self, call: &OpCall<'_>) -> Result<OpSupport, BackendError>;

    /// Executes the call, writing every element of every output.
    fn run_op(&self, call: &OpCall<'_>, outputs: &mut [TensorMut<'_>]) -> Result<(), BackendError>;
}

/// The optional stream group, for a backend whose work can be queued: export
/// it with `export_backend!(MyBackend, streams)` (a plain
/// `export_backend!(MyBackend)` leaves the group NULL, and `run_op` then
/// refuses a stream).
///
/// The harness creates one stream per context, passes it to every `run_op`,
/// and counts a call as finished only when [`StreamBackend::sync`] has
/// returned OK: outputs are read, and the measurement clock stops, after
/// `sync`. In this safe layer the output slices are borrowed for the
/// duration of `run_op_on` only, so outputs are written before it returns;
/// what a stream lets a Rust backend defer is the rest of the work it
/// queued (device time, work on its own buffers), which `sync` waits for.
pub trait StreamBackend: Backend {
    /// One stream's state. Boxed by the export layer; the box's address is
    /// the `XpuStream*` the harness sees.
    type Stream: Send + Sync + 'static;

    /// Creates a stream on this context.
    fn create_stream(&self) -> Result<Self::Stream, BackendError>;

    /// `run_op` with a stream: may return before the work completes; the
    /// outputs must be written before it returns (see the trait docs).
    fn run_op_on(
        &self,
        stream: &Self::Stream,
        call: &OpCall<'_>,
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), BackendError>;

    /// Blocks until everything queued on `stream` has finished; an error
    /// says the queued work failed.
    fn sync(&self, stream: &Self::Stream) -> Result<(), BackendError>;

    /// Destroys a stream (the default drops it).
    fn destroy_stream(&self, stream: Self::Stream) {
        drop(stream);
    }
}
