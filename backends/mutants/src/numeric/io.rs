//! Plumbing shared by the numeric modes: reading a call's inputs into the
//! reference's contiguous [`Tensor`]s, running the reference kernels on
//! (possibly rewritten) inputs and attributes, and writing results back.
//!
//! Most faults are cheapest to express as a rewrite of the call (a flipped
//! attribute, a reshaped operand) followed by the reference kernel; the
//! rest replace one kernel and use these helpers for the tensor traffic.

use xpucert_abi::{AttrValue, Attribute, BackendError, DType, OpCall, TensorMut, TensorRef};
use xpucert_reference_core::ops;
use xpucert_reference_core::support::{Attrs, Invocation, Meta};
use xpucert_reference_core::tensor::Tensor;

/// A call's inputs and attributes, owned so that modes can rewrite them.
pub struct Loaded<'a> {
    /// The call as received.
    pub call: &'a OpCall<'a>,
    /// Attributes (rewritable).
    pub attrs: Vec<Attribute<'a>>,
    /// Inputs in logical row-major order (rewritable).
    pub inputs: Vec<Option<Tensor>>,
    /// Output dtypes the harness allocated (rewritable, e.g. to widen bf16).
    pub out_dtypes: Vec<DType>,
}

/// How inputs are read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Follow the strides (correct).
    Strided,
    /// A dense but permuted view (every element used once, as in a
    /// transpose) is read as if it were row-major: the classic bug of taking
    /// "spans exactly numel elements" for "contiguous".
    DenseAsContiguous,
}

/// Gathers one input into a contiguous tensor with the reference's loader;
/// for [`Reading::DenseAsContiguous`], a dense non-contiguous view is first
/// re-described as row-major over the same bytes (the bug being modelled).
pub fn load_tensor(t: &TensorRef<'_>, how: Reading) -> Result<Tensor, BackendError> {
    let bytes = t.numel() * t.dtype().size();
    if how == Reading::DenseAsContiguous
        && !t.is_contiguous()
        && let Some(data) = t.data().filter(|b| b.len() == bytes)
    {
        let shape = t.shape();
        let mut strides = vec![1i64; shape.len()];
        for ax in (0..shape.len().saturating_sub(1)).rev() {
            strides[ax] = strides[ax + 1] * shape[ax + 1];
        }
        let view = TensorRef::host(t.dtype(), shape, &strides, data)?;
        return xpucert_reference_core::load(&view);
    }
    xpucert_reference_core::load(t)
}

impl<'a> Loaded<'a> {
    /// Reads every input of `call`.
    pub fn new(call: &'a OpCall<'a>, how: Reading) -> Result<Self, BackendError> {
        let inputs = call
            .inputs
            .iter()
            .map(|t| t.as_ref().map(|t| load_tensor(t, how)).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Loaded {
            call,
            attrs: call.attributes.clone(),
            inputs,
            out_dtypes: call.output_specs.iter().map(|(d, _)| *d).collect(),
        })
    }

    /// The op name.
    pub fn op(&self) -> &'a str {
        self.call.op_type
    }

    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<AttrValue<'a>> {
        self.attrs.iter().find(|a| a.name == name).map(|a| a.value)
    }

    /// An integer attribute or its default.
    pub fn int(&self, name: &str, default: i64) -> i64 {
        match self.attr(name) {
            Some(AttrValue::Int(v)) => v,
            _ => default,
        }
    }

    /// A float attribute or its default.
    pub fn float(&self, name: &str, default: f64) -> f64 {
        match self.attr(name) {
            Some(AttrValue::Float(v)) => v,
            Some(AttrValue::Int(v)) => v as f64,
            _ => default,
        }
    }

    /// Sets (or adds) an attribute.
    pub fn set(&mut self, name: &'static str, value: AttrValue<'a>) {
        self.attrs.retain(|a| a.name != name);
        self.attrs.push(Attribute { name, value });
    }

    /// Input `i`, which must be present.
    pub fn input(&self, i: usize) -> Result<&Tensor, BackendError> {
        self.inputs
            .get(i)
            .and_then(Option::as_ref)
            .ok_or_else(|| BackendError::invalid(format!("{}: input {i} missing", self.op())))
    }

    /// The reference's support decision for the current call: modes with
    /// their own kernels ask it first, so they refuse exactly what the
    /// reference refuses.
    pub fn check(&self) -> Result<(), BackendError> {
        xpucert_reference_core::support::check(&self.invocation()).map(|_| ())
    }

    /// Runs the reference kernel on the current inputs and attributes.
    pub fn reference(&self) -> Result<Vec<Tensor>, BackendError> {
        ops::evaluate(&self.invocation(), &self.inputs)
    }

    fn invocation(&self) -> Invocation<'_> {
        Invocation {
            domain: self.call.domain,
            op_type: self.call.op_type,
            opset: self.call.opset,
            attrs: Attrs(&self.attrs),
            inputs: self
                .inputs
                .iter()
                .map(|t| {
                    t.as_ref().map(|t| Meta {
                        dtype: t.dtype(),
                        host: true,
                    })
                })
                .collect(),
            output_dtypes: self.out_dtypes.clone(),
        }
    }

    /// The shape the harness allocated for output `i`.
    pub fn out_shape(&self, i: usize) -> Vec<usize> {
        self.call.output_specs[i]
            .1
            .iter()
            .map(|&d| d as usize)
            .collect()
    }
}

/// The raw bytes of a tensor's elements in native order.
pub fn bytes_of(t: &Tensor) -> Vec<u8> {
    t.data.to_ne_bytes()
}

/// Writes results into the outputs byte for byte. Unlike the reference this
/// does not insist on the allocated shape, only on the byte count, so modes
/// that get a shape wrong (a transposed permutation) still write their data
/// and are judged on it. `skip(i, flat)` leaves element `flat` of output `i`
/// unwritten (it keeps the harness's poison).
pub fn store_with(
    results: &[Tensor],
    outputs: &mut [TensorMut<'_>],
    skip: impl Fn(usize, usize) -> bool,
) -> Result<(), BackendError> {
    for (i, (r, out)) in results.iter().zip(outputs.iter_mut()).enumerate() {
        if r.dtype() != out.dtype() {
            return Err(BackendError::internal(format!(
                "output {i}: computed {}, allocated {}",
                r.dtype(),
                out.dtype()
            )));
        }
        if out.is_bounded() {
            let dims: Vec<i64> = r.shape.iter().map(|&d| d as i64).collect();
            out.set_shape(&dims)
                .map_err(|e| BackendError::invalid(format!("output {i}: {}", e.message)))?;
        }
        let src = bytes_of(r);
        let dst = out.bytes_mut();
        if src.len() != dst.len() {
            return Err(BackendError::invalid(format!(
                "output {i}: {} bytes computed, {} allocated",
                src.len(),
                dst.len()
            )));
        }
        let size = r.dtype().size();
        for (flat, (d, s)) in dst
            .chunks_exact_mut(size)
            .zip(src.chunks_exact(size))
            .enumerate()
        {
            if !skip(i, flat) {
                d.copy_from_slice(s);
            }
        }
    }
    Ok(())
}

/// Writes every element of every result.
pub fn store(results: &[Tensor], outputs: &mut [TensorMut<'_>]) -> Result<(), BackendError> {
    store_with(results, outputs, |_, _| false)
}

/// The values of a float tensor in f32 (f16/bf16 widened exactly).
pub fn f32s(t: &Tensor) -> Result<Vec<f32>, BackendError> {
    t.to_real::<f32>()
}

/// A tensor of float dtype `dtype` from f32 values, rounded to nearest even.
pub fn from_f32(dtype: DType, shape: Vec<usize>, v: Vec<f32>) -> Result<Tensor, BackendError> {
    Tensor::from_real::<f32>(dtype, shape, v)
}

/// True for the dtypes the reference computes in f32 (f32, f16, bf16): the
/// numeric modes change those and leave f64 to the reference.
pub fn computes_in_f32(d: DType) -> bool {
    matches!(d, DType::F32 | DType::F16 | DType::BF16)
}
