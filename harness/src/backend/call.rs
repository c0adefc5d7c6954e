//! An op call prepared for the ABI: the harness-owned buffers (strings,
//! attributes, shapes, strides, tensor data) that an `XpuOpCall` points into.
//!
//! Buffers are 64-byte aligned so a backend may use aligned vector loads.
//! Outputs are pre-filled with 0xFF bytes (a NaN in every float format), so an
//! output element the backend never wrote cannot pass by accident.

use std::ffi::CString;

use bytemuck::{Pod, Zeroable};
use xpucert_abi::DType;
use xpucert_abi::ffi::{self, XpuAttribute, XpuOpCall, XpuTensor};

use super::dylib::c_string;
use crate::numerics::HostTensor;
use crate::op::{AttrValue, Attributes};

/// The byte every output is poisoned with before a call.
pub const POISON: u8 = 0xFF;

#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C, align(64))]
struct Block([u8; 64]);

/// A zero-initialised byte buffer aligned to 64 bytes.
#[derive(Clone)]
pub struct AlignedBuf {
    blocks: Vec<Block>,
    len: usize,
}

impl AlignedBuf {
    /// `len` bytes, all `fill`.
    pub fn new(len: usize, fill: u8) -> Self {
        let blocks = vec![Block([fill; 64]); len.div_ceil(64).max(1)];
        AlignedBuf { blocks, len }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.blocks)[..self.len]
    }

    /// The bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.blocks)[..self.len]
    }
}

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
        }
    }

    /// A contiguous output of `dtype` and `shape`, poisoned.
    pub fn output(dtype: DType, shape: &[usize]) -> Self {
        let n: usize = shape.iter().product();
        StoredTensor {
            dtype,
            shape: shape.iter().map(|&d| d as i64).collect(),
            strides: contiguous_strides(shape),
            buf: AlignedBuf::new(n * dtype.size(), POISON),
        }
    }

    /// Reads a contiguous tensor back (used for outputs).
    pub fn to_host(&self) -> HostTensor {
        HostTensor {
            dtype: self.dtype,
            shape: self.shape.iter().map(|&d| d as usize).collect(),
            data: self.buf.bytes().to_vec(),
        }
    }

    fn raw(&self, data: *mut std::ffi::c_void) -> XpuTensor {
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
}

/// The raw ABI structs for one call, borrowing a [`PreparedCall`].
pub struct RawCall<'a> {
    _inputs: Vec<XpuTensor>,
    _outputs: Vec<XpuTensor>,
    _attrs: Vec<XpuAttribute>,
    call: XpuOpCall,
    _borrow: std::marker::PhantomData<&'a ()>,
}

impl RawCall<'_> {
    /// Pointer to pass to `query_op` / `run_op`.
    pub fn op_call(&self) -> *const XpuOpCall {
        &self.call
    }
}

impl PreparedCall {
    /// Prepares a call of `op_type` in `domain` at `opset`.
    pub fn new(
        domain: &str,
        op_type: &str,
        opset: i64,
        attributes: &Attributes,
        inputs: Vec<Option<StoredTensor>>,
        outputs: Vec<StoredTensor>,
    ) -> Self {
        let attr_names = attributes.keys().map(|k| c_string(k)).collect();
        let attr_values = attributes
            .values()
            .map(|v| {
                let storage = match v {
                    AttrValue::String(s) => AttrStorage::Str(c_string(s)),
                    AttrValue::Ints(v) => AttrStorage::Ints(v.clone()),
                    AttrValue::Floats(v) => AttrStorage::Floats(v.clone()),
                    _ => AttrStorage::None,
                };
                (v.clone(), storage)
            })
            .collect();
        PreparedCall {
            domain: c_string(domain),
            op_type: c_string(op_type),
            opset,
            attr_names,
            attr_values,
            inputs,
            outputs,
        }
    }

    /// Builds the raw structs. With `with_data` false (queries), tensor data
    /// pointers are NULL, as the header allows.
    pub fn raw(&mut self, with_data: bool) -> RawCall<'_> {
        let attrs: Vec<XpuAttribute> = self
            .attr_names
            .iter()
            .zip(&self.attr_values)
            .map(|(name, (value, storage))| {
                let mut a = XpuAttribute {
                    struct_size: std::mem::size_of::<XpuAttribute>(),
                    name: name.as_ptr(),
                    r#type: 0,
                    reserved: 0,
                    i: 0,
                    f: 0.0,
                    s: std::ptr::null(),
                    ints: std::ptr::null(),
                    floats: std::ptr::null(),
                    count: 0,
                };
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
                    (_, AttrStorage::None) => unreachable!("storage built from the value"),
                }
                a
            })
            .collect();
        let inputs: Vec<XpuTensor> = self
            .inputs
            .iter_mut()
            .map(|t| match t {
                None => XpuTensor {
                    struct_size: std::mem::size_of::<XpuTensor>(),
                    data: std::ptr::null_mut(),
                    byte_offset: 0,
                    dtype: 0,
                    memory_kind: ffi::XPU_MEMORY_HOST,
                    device_index: 0,
                    ndim: 0,
                    shape: std::ptr::null(),
                    strides: std::ptr::null(),
                },
                Some(t) => {
                    // Inputs are handed out through a pointer made from a
                    // shared borrow: the backend must not write them, and
                    // the reliability work checksums them to prove it.
                    let data = if with_data {
                        t.buf.bytes().as_ptr() as *mut std::ffi::c_void
                    } else {
                        std::ptr::null_mut()
                    };
                    t.raw(data)
                }
            })
            .collect();
        let outputs: Vec<XpuTensor> = self
            .outputs
            .iter_mut()
            .map(|t| {
                let data = if with_data {
                    t.buf.bytes_mut().as_mut_ptr() as *mut std::ffi::c_void
                } else {
                    std::ptr::null_mut()
                };
                t.raw(data)
            })
            .collect();
        let call = XpuOpCall {
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
        };
        RawCall {
            _inputs: inputs,
            _outputs: outputs,
            _attrs: attrs,
            call,
            _borrow: std::marker::PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
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
        let raw = call.raw(false);
        let c = &raw.call;
        assert_eq!(c.num_inputs, 2);
        assert_eq!(c.num_attributes, 1);
        assert_eq!(raw._attrs[0].count, 2);
        assert_eq!(raw._attrs[0].r#type, ffi::XPU_ATTR_INTS);
        assert!(raw._inputs[0].data.is_null(), "queries carry no data");
        assert_eq!(raw._inputs[1].dtype, 0, "absent input is UNDEFINED");
    }
}
