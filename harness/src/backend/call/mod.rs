//! An op call prepared for the ABI: the harness-owned buffers (strings,
//! attributes, shapes, strides, tensor data) that an `XpuOpCall` points into,
//! and the memory-safety checks made around every call.
//!
//! Buffers are 64-byte aligned so a backend may use aligned vector loads.
//! Outputs are pre-filled with 0xFF bytes (a NaN in every float format), so an
//! output element the backend never wrote cannot pass by accident.
//!
//! ## Checks around a call ([`PreparedCall::verify_after_call`])
//!
//! * **Canaries.** Every output is surrounded by [`CANARY_LEN`] bytes of a
//!   fixed pattern (more with guard pages: all the slack of the mapping). A
//!   write before the start or past the end that the backend got away with
//!   shows as a changed canary byte.
//! * **Guard pages** ([`Guard::Pages`]). The output sits at the end of an
//!   anonymous mapping whose first and last pages are `PROT_NONE`; its start
//!   stays 64-byte aligned (the header promises that), so its end is at most
//!   63 bytes before the trailing guard page and exactly on it when the size
//!   is a multiple of 64. An overrun past those bytes (which canaries cover)
//!   faults at once. A fault kills the process, so pages are only for the
//!   worker, where it becomes a `crash` result; in-process runs use canaries
//!   alone ([`Guard::Canary`], the default). The worker opts in with
//!   [`set_default_guard`].
//! * **Inputs.** Each input's bytes (padding included) are hashed when the
//!   call is prepared and again after it; on a mismatch they are compared
//!   with a snapshot to say how many bytes changed and where.
//! * **Poison left in outputs.** After a successful call, output elements
//!   that still hold the exact poison pattern were (almost surely) never
//!   written. The rule is sound, never a false positive:
//!   - floats of 16 bits or more: all-ones is a negative NaN with a full
//!     payload. Arithmetic produces only canonical NaNs and the input
//!     generator writes canonical NaNs, so such an element was not computed.
//!     Always flagged.
//!   - `bool`: 0xFF is not a valid bool (0 or 1). Always flagged.
//!   - integers and 8-bit floats: all-ones is a legitimate value (-1, the
//!     type's maximum, an fp8 NaN), so they are not flagged here. That loses
//!     nothing that matters: integer and fp8 outputs are compared exactly, so
//!     a never-written element fails the comparison unless its expected value
//!     is all-ones, in which case the output the caller sees is right.
//!
//! ## Files
//!
//! This file assembles a call ([`StoredTensor`], [`PreparedCall`] and the
//! raw `XpuOpCall` laid out over them); `buffer.rs` holds the aligned,
//! poisoned, canary-guarded storage, `pages.rs` the guard-page mappings (the
//! `unsafe` of this module), `verify.rs` the checks after a call.

mod buffer;
mod pages;
mod verify;

use std::ffi::CString;

use xpucert_abi::DType;
use xpucert_abi::ffi::{self, XpuAttribute, XpuOpCall, XpuTensor};

pub use buffer::{
    AlignedBuf, CANARY_LEN, Guard, GuardLayout, POISON, default_guard, set_default_guard,
};
pub use verify::Violation;
pub(crate) use verify::hash64;

use super::dylib::c_string;
use crate::numerics::HostTensor;
use crate::ops::{AttrValue, Attributes};

/// One tensor as stored for the backend.
pub struct StoredTensor {
    /// Element type.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<i64>,
    /// Strides in elements.
    pub strides: Vec<i64>,
    /// Storage, starting at element (0, ..., 0).
    pub buf: AlignedBuf,
    /// For a data-dependent output (ABI minor 2), allocated at the bound
    /// `shape`: the dims the backend reports through
    /// `XpuOpCall.output_shapes`, pre-filled with the bound. `None` for
    /// inputs and fixed-shape outputs.
    pub reported: Option<Vec<i64>>,
}

impl StoredTensor {
    /// Stores `bytes` (already laid out per `strides`) for the backend.
    pub fn new(dtype: DType, shape: &[usize], strides: Vec<i64>, bytes: &[u8]) -> Self {
        let mut buf = AlignedBuf::new(bytes.len(), 0);
        buf.bytes_mut().copy_from_slice(bytes);
        StoredTensor {
            dtype,
            shape: shape.iter().map(|&d| d as i64).collect(),
            strides,
            buf,
            reported: None,
        }
    }

    /// A contiguous output of `dtype` and `shape`, poisoned, guarded per
    /// [`default_guard`].
    pub fn output(dtype: DType, shape: &[usize]) -> Self {
        Self::output_with(dtype, shape, default_guard())
    }

    /// A contiguous output of `dtype` and `shape`, poisoned, with `guard`.
    pub fn output_with(dtype: DType, shape: &[usize], guard: Guard) -> Self {
        let n: usize = shape.iter().product();
        StoredTensor {
            dtype,
            shape: shape.iter().map(|&d| d as i64).collect(),
            strides: contiguous_strides(shape),
            buf: AlignedBuf::guarded(dtype.bytes_for(n), POISON, guard),
            reported: None,
        }
    }

    /// A data-dependent output allocated at the upper bound `bound` (see
    /// [`StoredTensor::reported`]), poisoned, guarded per [`default_guard`].
    pub fn bounded_output(dtype: DType, bound: &[usize]) -> Self {
        let mut t = Self::output(dtype, bound);
        t.reported = Some(t.shape.clone());
        t
    }

    /// The shape the backend wrote: the reported one of a data-dependent
    /// output when it lies within the bound (same rank, each dim in
    /// `0..=bound`), else the allocated shape (an out-of-bound report is a
    /// [`Violation::ShapeOutsideBound`], and then the whole buffer is read).
    pub fn actual_shape(&self) -> &[i64] {
        match &self.reported {
            Some(r) if within_bound(r, &self.shape) => r,
            _ => &self.shape,
        }
    }

    /// Makes a data-dependent output an ordinary tensor of the shape the
    /// backend reported (its data is the contiguous prefix of the buffer),
    /// for passing it on as the next call's input (the model path).
    pub fn settle(&mut self) {
        if let Some(r) = self.reported.take()
            && within_bound(&r, &self.shape)
        {
            let dims: Vec<usize> = r.iter().map(|&d| d as usize).collect();
            self.strides = contiguous_strides(&dims);
            self.shape = r;
        }
    }

    /// Reads a contiguous tensor back (used for outputs): for a
    /// data-dependent output, the prefix of its [`StoredTensor::actual_shape`].
    /// The unused high bits of the last byte of a packed output whose
    /// length does not fill it (the header lets a backend leave anything
    /// there) are cleared, so equal outputs hash equal.
    pub fn to_host(&self) -> HostTensor {
        let shape: Vec<usize> = self.actual_shape().iter().map(|&d| d as usize).collect();
        let n = shape.iter().product::<usize>();
        let mut data = self.buf.bytes()[..self.dtype.bytes_for(n)].to_vec();
        let per_byte = 8 / self.dtype.bits().min(8);
        if self.dtype.is_packed()
            && n % per_byte != 0
            && let Some(last) = data.last_mut()
        {
            *last &= (1u8 << (self.dtype.bits() * (n % per_byte))) - 1;
        }
        HostTensor {
            dtype: self.dtype,
            shape,
            data,
        }
    }

    /// The ABI view of this tensor; `data` is NULL unless `with_data` (a
    /// query). The pointer comes from a mutable borrow for inputs too: the
    /// header makes inputs read-only, but this keeps a backend's stray write
    /// defined behaviour on our side, so verify_after_call can report it.
    fn raw(&mut self, with_data: bool) -> XpuTensor {
        let data = if with_data {
            self.buf.bytes_mut().as_mut_ptr() as *mut std::ffi::c_void
        } else {
            std::ptr::null_mut()
        };
        XpuTensor {
            struct_size: std::mem::size_of::<XpuTensor>(),
            data,
            byte_offset: 0,
            dtype: self.dtype.code(),
            memory_kind: ffi::XPU_MEMORY_HOST,
            device_index: 0,
            ndim: self.shape.len() as i32,
            shape: self.shape.as_ptr(),
            strides: self.strides.as_ptr(),
        }
    }
}

/// Whether `reported` dims fit the allocation `bound`: same rank, each in
/// `0..=bound`.
pub fn within_bound(reported: &[i64], bound: &[i64]) -> bool {
    reported.len() == bound.len()
        && reported
            .iter()
            .zip(bound)
            .all(|(&r, &b)| (0..=b).contains(&r))
}

/// Row-major contiguous strides in elements.
pub fn contiguous_strides(shape: &[usize]) -> Vec<i64> {
    let mut strides = vec![0i64; shape.len()];
    let mut acc = 1i64;
    for (s, &d) in strides.iter_mut().zip(shape).rev() {
        *s = acc;
        acc *= d as i64;
    }
    strides
}

enum AttrStorage {
    None,
    Str(CString),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    /// A tensor attribute (minor 3): dtype code, shape, contiguous strides,
    /// the bytes.
    Tensor(i32, Vec<i64>, Vec<i64>, Vec<u8>),
}

impl AttrStorage {
    /// The raw tensor of a tensor attribute (host, contiguous, offset 0;
    /// data present in queries too, as the header says), else `None`.
    fn raw_tensor(&self) -> Option<XpuTensor> {
        let AttrStorage::Tensor(dtype, shape, strides, data) = self else {
            return None;
        };
        Some(XpuTensor {
            struct_size: std::mem::size_of::<XpuTensor>(),
            // The backend only reads it (the header: every pointer of the
            // call is the harness's); the ABI's field is not const.
            data: data.as_ptr() as *mut std::ffi::c_void,
            byte_offset: 0,
            dtype: *dtype,
            memory_kind: ffi::XPU_MEMORY_HOST,
            device_index: 0,
            ndim: shape.len() as i32,
            shape: shape.as_ptr(),
            strides: strides.as_ptr(),
        })
    }
}

/// Everything one `XpuOpCall` points into.
pub struct PreparedCall {
    domain: CString,
    op_type: CString,
    opset: i64,
    attr_names: Vec<CString>,
    attr_values: Vec<(AttrValue, AttrStorage)>,
    /// Inputs, positional; `None` for an omitted optional input.
    pub inputs: Vec<Option<StoredTensor>>,
    /// Outputs, contiguous, poisoned before the call.
    pub outputs: Vec<StoredTensor>,
    /// Hash and copy of each input's bytes as prepared, to prove after the
    /// call that the backend did not write them (`None` for absent inputs).
    input_before: Vec<Option<(u64, Box<[u8]>)>>,
}

impl PreparedCall {
    /// Prepares a call of `op_type` in `domain` at `opset`. The inputs are
    /// snapshotted here: they must not be changed afterwards (the backend
    /// must not either, which [`PreparedCall::verify_after_call`] checks).
    pub fn new(
        domain: &str,
        op_type: &str,
        opset: i64,
        attributes: &Attributes,
        inputs: Vec<Option<StoredTensor>>,
        outputs: Vec<StoredTensor>,
    ) -> Self {
        Self::with_trusted_inputs(domain, op_type, opset, attributes, inputs, outputs, &[])
    }

    /// [`PreparedCall::new`], except that inputs marked in `trusted` are not
    /// snapshotted: the caller checks them itself. For model weights, which
    /// stay resident across thousands of calls and are verified once at the
    /// end of a run instead of copied before every call.
    pub fn with_trusted_inputs(
        domain: &str,
        op_type: &str,
        opset: i64,
        attributes: &Attributes,
        inputs: Vec<Option<StoredTensor>>,
        outputs: Vec<StoredTensor>,
        trusted: &[bool],
    ) -> Self {
        let attr_names = attributes.keys().map(|k| c_string(k)).collect();
        let attr_values = attributes
            .values()
            .map(|v| {
                let storage = match v {
                    AttrValue::String(s) => AttrStorage::Str(c_string(s)),
                    AttrValue::Ints(v) => AttrStorage::Ints(v.clone()),
                    AttrValue::Floats(v) => AttrStorage::Floats(v.clone()),
                    AttrValue::Tensor(t) => {
                        let shape: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
                        let strides = contiguous_strides(&t.shape);
                        AttrStorage::Tensor(t.dtype.code(), shape, strides, t.data.clone())
                    }
                    _ => AttrStorage::None,
                };
                (v.clone(), storage)
            })
            .collect();
        let input_before = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.as_ref()
                    .filter(|_| !trusted.get(i).copied().unwrap_or(false))
                    .map(|t| {
                        let b = t.buf.bytes();
                        (hash64(b), Box::<[u8]>::from(b))
                    })
            })
            .collect();
        PreparedCall {
            input_before,
            domain: c_string(domain),
            op_type: c_string(op_type),
            opset,
            attr_names,
            attr_values,
            inputs,
            outputs,
        }
    }

    /// Whether a tensor-valued attribute is among the call's: such a call
    /// needs ABI minor 3 (`XpuOpCall.attribute_tensors`).
    pub fn has_tensor_attributes(&self) -> bool {
        (self.attr_values.iter()).any(|(_, s)| matches!(s, AttrStorage::Tensor(..)))
    }

    /// Lays out the raw structs and calls `f` with the `XpuOpCall` (valid
    /// only inside `f`). With `with_data` false (queries), tensor data
    /// pointers are NULL, as the header allows. Calls of up to [`INLINE`]
    /// attributes, inputs and outputs are laid out on the stack: allocating
    /// them was most of the harness's own per-call cost for tiny ops.
    pub fn with_raw<R>(&mut self, with_data: bool, f: impl FnOnce(&XpuOpCall) -> R) -> R {
        let (na, ni, no) = (self.attr_names.len(), self.inputs.len(), self.outputs.len());
        // A call without data-dependent outputs passes output_shapes NULL,
        // as every call did before minor 2.
        let bounded = self.outputs.iter().any(|o| o.reported.is_some());
        // Likewise attribute_tensors is NULL for a call without tensor
        // attributes (nearly all: nothing is allocated for them).
        let attr_tensors: Vec<Option<XpuTensor>> = if self.has_tensor_attributes() {
            self.attr_values
                .iter()
                .map(|(_, s)| s.raw_tensor())
                .collect()
        } else {
            Vec::new()
        };
        let attr_slots: Vec<*const XpuTensor> = attr_tensors
            .iter()
            .map(|t| {
                t.as_ref()
                    .map_or(std::ptr::null(), |t| t as *const XpuTensor)
            })
            .collect();
        let attr_slots = (!attr_slots.is_empty()).then_some(&attr_slots[..]);
        if na <= INLINE && ni <= INLINE && no <= INLINE {
            let mut attrs = [EMPTY_ATTRIBUTE; INLINE];
            let mut inputs = [EMPTY_TENSOR; INLINE];
            let mut outputs = [EMPTY_TENSOR; INLINE];
            let mut slots = [std::ptr::null_mut(); INLINE];
            self.fill_raw(
                with_data,
                &mut attrs[..na],
                &mut inputs[..ni],
                &mut outputs[..no],
                &mut slots[..no],
            );
            let slots = bounded.then_some(&slots[..no]);
            f(&self.op_call(
                &attrs[..na],
                &inputs[..ni],
                &outputs[..no],
                slots,
                attr_slots,
            ))
        } else {
            let mut attrs = vec![EMPTY_ATTRIBUTE; na];
            let mut inputs = vec![EMPTY_TENSOR; ni];
            let mut outputs = vec![EMPTY_TENSOR; no];
            let mut slots = vec![std::ptr::null_mut(); no];
            self.fill_raw(with_data, &mut attrs, &mut inputs, &mut outputs, &mut slots);
            let slots = bounded.then_some(&slots[..]);
            f(&self.op_call(&attrs, &inputs, &outputs, slots, attr_slots))
        }
    }

    /// Fills the raw attribute and tensor structs and the output shape
    /// slots (slices of exactly the call's counts). A data-dependent
    /// output's slot is re-filled with the bound before every call, so a
    /// backend that reports nothing reports the bound.
    fn fill_raw(
        &mut self,
        with_data: bool,
        attrs: &mut [XpuAttribute],
        inputs: &mut [XpuTensor],
        outputs: &mut [XpuTensor],
        slots: &mut [*mut i64],
    ) {
        for (a, (name, (value, storage))) in attrs
            .iter_mut()
            .zip(self.attr_names.iter().zip(&self.attr_values))
        {
            a.name = name.as_ptr();
            match (value, storage) {
                (AttrValue::Int(v), _) => {
                    a.r#type = ffi::XPU_ATTR_INT;
                    a.i = *v;
                }
                (AttrValue::Float(v), _) => {
                    a.r#type = ffi::XPU_ATTR_FLOAT;
                    a.f = *v;
                }
                (_, AttrStorage::Str(s)) => {
                    a.r#type = ffi::XPU_ATTR_STRING;
                    a.s = s.as_ptr();
                }
                (_, AttrStorage::Ints(v)) => {
                    a.r#type = ffi::XPU_ATTR_INTS;
                    a.ints = v.as_ptr();
                    a.count = v.len();
                }
                (_, AttrStorage::Floats(v)) => {
                    a.r#type = ffi::XPU_ATTR_FLOATS;
                    a.floats = v.as_ptr();
                    a.count = v.len();
                }
                (_, AttrStorage::Tensor(..)) => {
                    // The tensor itself goes into attribute_tensors.
                    a.r#type = ffi::XPU_ATTR_TENSOR;
                }
                (_, AttrStorage::None) => unreachable!("storage built from the value"),
            }
        }
        for (raw, t) in inputs.iter_mut().zip(self.inputs.iter_mut()) {
            // An absent input stays EMPTY_TENSOR: dtype UNDEFINED.
            if let Some(t) = t {
                *raw = t.raw(with_data);
            }
        }
        for ((raw, slot), t) in outputs
            .iter_mut()
            .zip(slots.iter_mut())
            .zip(self.outputs.iter_mut())
        {
            *raw = t.raw(with_data);
            if let Some(r) = &mut t.reported {
                r.copy_from_slice(&t.shape);
                *slot = r.as_mut_ptr();
            }
        }
    }

    /// The `XpuOpCall` over laid-out structs.
    fn op_call(
        &self,
        attrs: &[XpuAttribute],
        inputs: &[XpuTensor],
        outputs: &[XpuTensor],
        slots: Option<&[*mut i64]>,
        attr_slots: Option<&[*const XpuTensor]>,
    ) -> XpuOpCall {
        XpuOpCall {
            struct_size: std::mem::size_of::<XpuOpCall>(),
            domain: self.domain.as_ptr(),
            op_type: self.op_type.as_ptr(),
            opset: self.opset,
            attributes: attrs.as_ptr(),
            num_attributes: attrs.len(),
            inputs: inputs.as_ptr(),
            num_inputs: inputs.len(),
            outputs: outputs.as_ptr(),
            num_outputs: outputs.len(),
            output_shapes: slots.map_or(std::ptr::null(), |s| s.as_ptr()),
            attribute_tensors: attr_slots.map_or(std::ptr::null(), |s| s.as_ptr()),
        }
    }
}

/// Calls with at most this many attributes, inputs and outputs each are
/// laid out without a heap allocation (see [`PreparedCall::with_raw`]).
pub const INLINE: usize = 4;

/// An attribute struct before it is filled.
const EMPTY_ATTRIBUTE: XpuAttribute = XpuAttribute {
    struct_size: std::mem::size_of::<XpuAttribute>(),
    name: std::ptr::null(),
    r#type: 0,
    reserved: 0,
    i: 0,
    f: 0.0,
    s: std::ptr::null(),
    ints: std::ptr::null(),
    floats: std::ptr::null(),
    count: 0,
};

/// An absent (optional) tensor: dtype UNDEFINED, no data.
const EMPTY_TENSOR: XpuTensor = XpuTensor {
    struct_size: std::mem::size_of::<XpuTensor>(),
    data: std::ptr::null_mut(),
    byte_offset: 0,
    dtype: 0,
    memory_kind: ffi::XPU_MEMORY_HOST,
    device_index: 0,
    ndim: 0,
    shape: std::ptr::null(),
    strides: std::ptr::null(),
};

/// What the call names, by value: for sending it to a worker process.
impl PreparedCall {
    /// Operator domain (`""` for ONNX).
    pub fn domain(&self) -> &str {
        self.domain.to_str().unwrap_or("")
    }

    /// Operator name.
    pub fn op_type(&self) -> &str {
        self.op_type.to_str().unwrap_or("")
    }

    /// Opset of the call.
    pub fn opset(&self) -> i64 {
        self.opset
    }

    /// The attributes, as given to [`PreparedCall::new`].
    pub fn attributes(&self) -> Attributes {
        self.attr_names
            .iter()
            .zip(&self.attr_values)
            .map(|(k, (v, _))| (k.to_string_lossy().into_owned(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_and_poisoned() {
        let t = StoredTensor::output(DType::F32, &[3, 5]);
        assert_eq!(t.buf.bytes().as_ptr() as usize % 64, 0);
        assert_eq!(t.buf.bytes().len(), 60);
        assert!(t.buf.bytes().iter().all(|&b| b == POISON));
        assert!(t.to_host().get_f64(7).is_nan(), "poison reads as NaN");
        assert_eq!(t.strides, vec![5, 1]);
    }

    #[test]
    fn raw_call_points_at_owned_data() {
        let mut attrs = Attributes::new();
        attrs.insert("perm".into(), AttrValue::Ints(vec![1, 0]));
        let input = StoredTensor::new(DType::F32, &[2], vec![1], &[0u8; 8]);
        let mut call = PreparedCall::new(
            "",
            "Transpose",
            21,
            &attrs,
            vec![Some(input), None],
            vec![StoredTensor::output(DType::F32, &[2])],
        );
        call.with_raw(false, |c| {
            assert_eq!(c.num_inputs, 2);
            assert_eq!(c.num_attributes, 1);
            // SAFETY: with_raw lays out num_attributes attributes and
            // num_inputs inputs behind these pointers, alive inside the closure.
            let (attrs, inputs) = unsafe {
                (
                    std::slice::from_raw_parts(c.attributes, c.num_attributes),
                    std::slice::from_raw_parts(c.inputs, c.num_inputs),
                )
            };
            assert_eq!(attrs[0].count, 2);
            assert_eq!(attrs[0].r#type, ffi::XPU_ATTR_INTS);
            assert!(inputs[0].data.is_null(), "queries carry no data");
            assert_eq!(inputs[1].dtype, 0, "absent input is UNDEFINED");
        });
    }

    /// A ConstantOfShape call with an i16 `value` [2] tensor attribute and
    /// an int attribute beside it (an attribute name the op lacks, which
    /// the layout does not care about).
    pub(crate) fn tensor_attribute_call() -> PreparedCall {
        let mut attrs = Attributes::new();
        let value = crate::ops::attr_tensor::from_values(DType::I16, &[2], &[-3.0, 300.0]).unwrap();
        attrs.insert("value".into(), AttrValue::Tensor(value));
        attrs.insert("zz".into(), AttrValue::Int(1));
        let shape = StoredTensor::new(DType::I64, &[1], vec![1], &2i64.to_ne_bytes());
        PreparedCall::new(
            "",
            "ConstantOfShape",
            24,
            &attrs,
            vec![Some(shape)],
            vec![StoredTensor::output(DType::I16, &[2])],
        )
    }

    #[test]
    fn tensor_attributes_travel_in_the_parallel_array_queries_included() {
        let mut call = tensor_attribute_call();
        assert!(call.has_tensor_attributes());
        for with_data in [false, true] {
            call.with_raw(with_data, |c| {
                assert_eq!(c.struct_size, std::mem::size_of::<XpuOpCall>());
                assert!(!c.attribute_tensors.is_null());
                // SAFETY: with_raw lays out num_attributes attributes and as
                // many attribute_tensors slots, alive inside the closure.
                let (attrs, slots) = unsafe {
                    (
                        std::slice::from_raw_parts(c.attributes, c.num_attributes),
                        std::slice::from_raw_parts(c.attribute_tensors, c.num_attributes),
                    )
                };
                // Attributes are sorted by name: value, then zz.
                assert_eq!(attrs[0].r#type, ffi::XPU_ATTR_TENSOR);
                assert_eq!((attrs[0].count, attrs[0].i), (0, 0), "value members zero");
                assert_eq!(attrs[1].r#type, ffi::XPU_ATTR_INT);
                assert!(slots[1].is_null(), "no tensor for the int attribute");
                // SAFETY: a non-NULL slot points to a tensor valid in the closure.
                let t = unsafe { &*slots[0] };
                assert_eq!((t.dtype, t.ndim, t.memory_kind), (DType::I16.code(), 1, 0));
                // SAFETY: shape, strides and data hold what the tensor says.
                let (shape, strides, data) = unsafe {
                    (
                        std::slice::from_raw_parts(t.shape, 1),
                        std::slice::from_raw_parts(t.strides, 1),
                        std::slice::from_raw_parts(t.data as *const u8, 4),
                    )
                };
                assert_eq!((shape, strides), (&[2i64][..], &[1i64][..]));
                assert_eq!(data, [(-3i16).to_ne_bytes(), 300i16.to_ne_bytes()].concat());
            });
        }
        // A call without tensor attributes passes NULL, as minor 2 did.
        let mut plain = one_in_one_out(StoredTensor::output(DType::F32, &[4]));
        assert!(!plain.has_tensor_attributes());
        plain.with_raw(true, |c| assert!(c.attribute_tensors.is_null()));
    }

    pub(super) fn one_in_one_out(out: StoredTensor) -> PreparedCall {
        let input = StoredTensor::new(DType::F32, &[4], vec![1], &[7u8; 16]);
        PreparedCall::new(
            "",
            "Relu",
            14,
            &Attributes::new(),
            vec![Some(input)],
            vec![out],
        )
    }
}
