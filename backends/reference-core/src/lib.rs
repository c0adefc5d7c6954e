//! # xpucert-reference-core
//!
//! The bundled CPU backend of xpucert: every operator of the harness's
//! vocabulary, written for clarity and dependable numerics rather than peak
//! speed. This crate holds the kernels and the [`ReferenceBackend`] type; the
//! `xpucert-reference` crate exports it as the `cdylib` the harness loads
//! (`xpucert_backend_init_v1` through [`xpucert_abi::export_backend!`]).
//! The split exists so other backends (the mutants backend) can reuse the
//! kernels without linking a second copy of the entry symbol.
//!
//! ## How a call flows
//!
//! 1. The ABI layer validates the raw `XpuOpCall` and hands over an
//!    [`xpucert_abi::OpCall`]. We reduce it to an [`support::Invocation`]:
//!    names, attributes, and each tensor's dtype and memory kind, no data.
//! 2. [`support::check`] decides whether the call is supported. It is the
//!    *only* place that decides: `query_op` reports its verdict and `run_op`
//!    obeys it, so the two can never disagree, and the manifest is printed
//!    from the same table.
//! 3. `run_op` gathers each input into a contiguous [`tensor::Tensor`] with
//!    `TensorRef::read` (which follows the strides, so transposed and sliced
//!    views are read correctly), runs the kernel in [`ops`], checks that the
//!    results have exactly the shapes and dtypes the harness allocated, and
//!    writes them.
//!
//! ## Numerics
//!
//! f32 is computed in f32; f16 and bf16 are widened to f32, computed in f32
//! (accumulation included) and rounded to nearest even once at the end,
//! which `query_op` declares as an f32 compute precision; f64 is computed in
//! f64. Softmax subtracts the row maximum; LayerNormalization takes the mean
//! first, then the biased variance; Gelu and Erf use an accurate `erf` from
//! `libm`.
//!
//! Most float calls on contiguous inputs run the fused kernels of
//! [`ops::fast`] (straight from the input bytes into the output buffer,
//! threaded when large); everything else runs the generic kernels of
//! [`ops`] on gathered copies. Elementwise ops use the same scalar
//! functions on both paths and give the same bits (a NaN's payload aside).
//! Sums have two orders. The fused row kernels (Softmax/LogSoftmax over the
//! last axis, the mean and variance of LayerNormalization and
//! RMSNormalization, ReduceSum/ReduceMean over trailing axes) add element
//! `j` of a row into partial sum `j mod 16` and combine the 16 partials
//! pairwise at the end (`p[k] += p[k + 8]`, then `+ 4`, `+ 2`, `+ 1`); the
//! other sums (the generic kernels, and reductions over leading axes, which
//! the fused path runs in the generic order) are sequential in row-major
//! order. MatMul, Gemm and Attention are described in [`ops::linalg`]. Both
//! orders are deterministic and do not depend on the thread count (a row is
//! always summed by one thread). ReduceMax is exact.
//!
//! ## Errors
//!
//! Unsupported (op, opset, dtype, attribute value, domain) is `UNSUPPORTED`;
//! a malformed call (shape mismatch, index out of range, wrong output
//! allocation) is `INVALID_ARGUMENT` with a message naming the op. Kernels
//! check before they index, so a bad call never panics.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod fp8;
pub mod layout;
pub mod narrow;
pub mod ops;
pub mod parallel;
pub mod support;
pub mod tensor;

use xpucert_abi::{
    Backend, BackendError, DType, Element, OpCall, OpSupport, Precision, TensorMut, TensorRef,
};

use crate::support::{Attrs, Invocation, Meta, check, compute_precision};
use crate::tensor::{Data, Tensor};

/// The reference backend. It holds no state: every call is independent.
#[derive(Debug, Default)]
pub struct ReferenceBackend;

/// The invocation (metadata only) of an ABI call.
fn invocation<'a>(call: &'a OpCall<'a>) -> Invocation<'a> {
    Invocation {
        domain: call.domain,
        op_type: call.op_type,
        opset: call.opset,
        attrs: Attrs(&call.attributes),
        inputs: call
            .inputs
            .iter()
            .map(|t| {
                t.as_ref().map(|t| Meta {
                    dtype: t.dtype(),
                    host: t.memory_kind() == xpucert_abi::ffi::XPU_MEMORY_HOST,
                })
            })
            .collect(),
        output_dtypes: call.output_specs.iter().map(|(d, _)| *d).collect(),
    }
}

/// Reads a tensor in logical row-major order. Contiguous tensors are copied
/// straight from their bytes (no per-element offset table); all others go
/// through `TensorRef::read`, which follows the strides.
fn read_elements<T: Element>(t: &TensorRef<'_>) -> Result<Vec<T>, BackendError> {
    let n = t.numel();
    if T::SIZE == t.dtype().size()
        && !t.dtype().is_packed()
        && t.is_contiguous()
        && let Some(bytes) = t.data().filter(|b| b.len() >= n * T::SIZE)
    {
        return Ok(bytes[..n * T::SIZE]
            .chunks_exact(T::SIZE)
            .map(T::read)
            .collect());
    }
    t.read::<T>()
}

/// Gathers an input into a contiguous [`Tensor`] (every dtype the backend
/// stores; public so other backends built on these kernels read inputs the
/// same way).
pub fn load(t: &TensorRef<'_>) -> Result<Tensor, BackendError> {
    let data = match t.dtype() {
        DType::F64 => Data::F64(read_elements(t)?),
        DType::F32 => Data::F32(read_elements(t)?),
        DType::F16 => Data::F16(read_elements(t)?),
        DType::BF16 => Data::BF16(read_elements(t)?),
        DType::F8E4M3FN => Data::F8E4M3FN(read_elements(t)?),
        DType::F8E5M2 => Data::F8E5M2(read_elements(t)?),
        DType::I64 => Data::I64(read_elements(t)?),
        DType::I32 => Data::I32(read_elements(t)?),
        DType::I8 => Data::I8(read_elements(t)?),
        DType::U8 => Data::U8(read_elements(t)?),
        DType::I16 => Data::I16(read_elements(t)?),
        DType::U16 => Data::U16(read_elements(t)?),
        DType::U32 => Data::U32(read_elements(t)?),
        DType::U64 => Data::U64(read_elements(t)?),
        DType::Bool => Data::Bool(read_elements(t)?),
        // One code per element; `TensorRef::read` unpacks the 4- and 2-bit
        // types.
        d @ (DType::F8E4M3FNUZ
        | DType::F8E5M2FNUZ
        | DType::F8E8M0
        | DType::F4E2M1
        | DType::I4
        | DType::U4
        | DType::I2
        | DType::U2) => Data::Codes(d, read_elements(t)?),
    };
    Tensor::new(t.shape().iter().map(|&d| d as usize).collect(), data)
}

/// Writes a result into the output the harness allocated, which must have
/// the same dtype and shape, or, for a data-dependent output allocated at
/// a bound (ABI minor 2), a shape within it, which is then reported.
fn store(
    op: &str,
    index: usize,
    result: &Tensor,
    out: &mut TensorMut<'_>,
) -> Result<(), BackendError> {
    if out.is_bounded() && out.dtype() == result.dtype() {
        let dims: Vec<i64> = result.shape.iter().map(|&d| d as i64).collect();
        out.set_shape(&dims)
            .map_err(|e| BackendError::invalid(format!("{op}: output {index}: {}", e.message)))?;
    }
    let same_shape = out.actual_shape().len() == result.shape.len()
        && out
            .actual_shape()
            .iter()
            .zip(&result.shape)
            .all(|(&d, &r)| d as usize == r);
    if out.dtype() != result.dtype() || !same_shape {
        return Err(BackendError::invalid(format!(
            "{op}: output {index} is allocated as {} {:?}, the result is {} {:?}",
            out.dtype(),
            out.shape(),
            result.dtype(),
            result.shape
        )));
    }
    match &result.data {
        Data::F64(v) => out.write(v),
        Data::F32(v) => out.write(v),
        Data::F16(v) | Data::BF16(v) | Data::U16(v) => out.write(v),
        Data::I64(v) => out.write(v),
        Data::I32(v) => out.write(v),
        Data::I16(v) => out.write(v),
        Data::U32(v) => out.write(v),
        Data::U64(v) => out.write(v),
        Data::I8(v) => out.write(v),
        Data::U8(v) | Data::Bool(v) | Data::F8E4M3FN(v) | Data::F8E5M2(v) => out.write(v),
        // `TensorMut::write` packs the 4-bit codes two to a byte.
        Data::Codes(_, v) => out.write(v),
    }
}

impl Backend for ReferenceBackend {
    const NAME: &'static std::ffi::CStr = c"xpucert-reference";

    fn create(options: &[(&str, &str)]) -> Result<Self, BackendError> {
        match options.first() {
            Some((key, _)) => Err(BackendError::invalid(format!(
                "unknown option {key:?}: the reference backend takes no options"
            ))),
            None => Ok(ReferenceBackend),
        }
    }

    fn manifest(&self) -> String {
        support::manifest_json()
    }

    fn query_op(&self, call: &OpCall<'_>) -> Result<OpSupport, BackendError> {
        let inv = invocation(call);
        match check(&inv) {
            Ok(info) => {
                let mut answer = OpSupport::native();
                // Constant has no input, and computes nothing.
                let main = (inv.inputs.get(usize::from(inv.op_type == "Where")))
                    .and_then(Option::as_ref)
                    .map(|m| m.dtype);
                if let Some(p) = main.and_then(|main| compute_precision(info, main)) {
                    answer.compute_precision = Precision::DType(p);
                }
                Ok(answer)
            }
            Err(e) if e.status == xpucert_abi::Status::Unsupported => {
                Ok(OpSupport::unsupported(e.message))
            }
            Err(e) => Err(e),
        }
    }

    fn run_op(&self, call: &OpCall<'_>, outputs: &mut [TensorMut<'_>]) -> Result<(), BackendError> {
        let inv = invocation(call);
        check(&inv)?;
        if ops::in_place(&inv, call, outputs).is_some() {
            return Ok(());
        }
        let inputs = call
            .inputs
            .iter()
            .map(|t| t.as_ref().map(load).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        let results = ops::run_checked(&inv, &inputs)?;
        if outputs.len() > results.len() {
            return Err(BackendError::internal(format!(
                "{}: {} outputs requested, {} computed",
                call.op_type,
                outputs.len(),
                results.len()
            )));
        }
        for (i, (result, out)) in results.iter().zip(outputs.iter_mut()).enumerate() {
            store(call.op_type, i, result, out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::*;
    use xpucert_abi::{AttrValue, Status};

    #[test]
    fn options_are_rejected() {
        assert!(ReferenceBackend::create(&[]).is_ok());
        let e = ReferenceBackend::create(&[("device", "0")]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        assert!(e.message.contains("device"));
    }

    #[test]
    fn manifest_lists_every_op_once() {
        let m = ReferenceBackend.manifest();
        assert!(m.starts_with("{\"schema\": 1, \"vendor\": \"xpucert\", \"device\": \"cpu\""));
        assert!(m.contains(&format!(
            "\"backend_version\": \"{}\"",
            env!("CARGO_PKG_VERSION")
        )));
        assert_eq!(support::OPS.len(), 163);
        for op in support::OPS {
            assert_eq!(
                m.matches(&format!("\"op\": \"{}\"", op.name)).count(),
                1,
                "{}",
                op.name
            );
        }
        assert!(m.contains("{\"domain\": \"\", \"op\": \"TopK\", \"opsets\": [11], \"dtypes\": [\"f32\", \"f16\", \"bf16\", \"f64\", \"i8\", \"u8\", \"i16\", \"u16\", \"i32\", \"u32\", \"i64\", \"u64\"]}"));
        // Balanced braces and brackets: a cheap well-formedness check.
        assert_eq!(m.matches('{').count(), m.matches('}').count());
        assert_eq!(m.matches('[').count(), m.matches(']').count());
    }

    fn meta(dtype: DType) -> Option<Meta> {
        Some(Meta { dtype, host: true })
    }

    fn inv<'a>(
        op: &'a str,
        opset: i64,
        attrs: &'a [xpucert_abi::Attribute<'a>],
        inputs: Vec<Option<Meta>>,
        out: DType,
    ) -> Invocation<'a> {
        Invocation {
            domain: "",
            op_type: op,
            opset,
            attrs: Attrs(attrs),
            inputs,
            output_dtypes: vec![out],
        }
    }

    #[test]
    fn query_and_run_agree_on_unsupported_calls() {
        // Each case is checked by the one decision function and by the run path.
        let f8_add = inv(
            "Add",
            14,
            &[],
            vec![meta(DType::F8E4M3FN), meta(DType::F8E4M3FN)],
            DType::F8E4M3FN,
        );
        let e = check(&f8_add).unwrap_err();
        assert_eq!(e.status, Status::Unsupported);
        let a = Tensor::new(vec![1], Data::F8E4M3FN(vec![0x38])).ok();
        let run_err = ops::evaluate(&f8_add, &[a.clone(), a]).unwrap_err();
        assert_eq!(run_err, e);

        let cases = [
            inv("ImageDecoder", 20, &[], vec![meta(DType::F32)], DType::F32),
            inv("Relu", 6, &[], vec![meta(DType::F32)], DType::F32),
            inv("Exp", 13, &[], vec![meta(DType::I32)], DType::I32),
            inv(
                "MatMul",
                13,
                &[],
                vec![meta(DType::F32), meta(DType::F16)],
                DType::F32,
            ),
            Invocation {
                domain: "com.microsoft",
                ..inv("Gelu", 20, &[], vec![meta(DType::F32)], DType::F32)
            },
        ];
        for c in &cases {
            assert_eq!(check(c).unwrap_err().status, Status::Unsupported, "{c:?}");
        }
        // LayerNormalization has Mean and InvStdDev (f32), but no fourth
        // output.
        let mut ln = inv(
            "LayerNormalization",
            17,
            &[],
            vec![meta(DType::F32), meta(DType::F32)],
            DType::F32,
        );
        ln.output_dtypes.extend([DType::F32, DType::F32]);
        assert!(check(&ln).is_ok());
        ln.output_dtypes.push(DType::F32);
        assert_eq!(check(&ln).unwrap_err().status, Status::Unsupported);
        // Device-memory inputs are unsupported rather than misread.
        let mut dev = inv("Neg", 13, &[], vec![meta(DType::F32)], DType::F32);
        dev.inputs[0].as_mut().unwrap().host = false;
        assert_eq!(check(&dev).unwrap_err().status, Status::Unsupported);
    }

    #[test]
    fn quantization_query_and_run_agree() {
        let block = [xpucert_abi::Attribute {
            name: "block_size",
            value: AttrValue::Int(2),
        }];
        let blocked = inv(
            "QuantizeLinear",
            21,
            &block,
            vec![meta(DType::F32), meta(DType::F32)],
            DType::U8,
        );
        // Blocked quantization is supported, and runs.
        check(&blocked).unwrap();
        let x = Tensor::new(vec![2, 4], Data::F32(vec![1.0; 8])).ok();
        let s = Tensor::new(vec![2, 2], Data::F32(vec![1.0; 4])).ok();
        let y = ops::evaluate(&blocked, &[x, s]).unwrap();
        assert_eq!(y[0].data, Data::U8(vec![1; 8]));
        // int32 x (allowed by ONNX) and f64 scales are not implemented.
        let int_x = inv(
            "QuantizeLinear",
            21,
            &[],
            vec![meta(DType::I32), meta(DType::I32)],
            DType::U8,
        );
        assert_eq!(check(&int_x).unwrap_err().status, Status::Unsupported);
        let f64_scale = inv(
            "DequantizeLinear",
            21,
            &[],
            vec![meta(DType::I8), meta(DType::F64)],
            DType::F64,
        );
        assert_eq!(check(&f64_scale).unwrap_err().status, Status::Unsupported);
        // Output allocations that disagree with the op are malformed: the
        // default output is u8, DequantizeLinear's follows the scale.
        let wrong = inv(
            "QuantizeLinear",
            21,
            &[],
            vec![meta(DType::F32), meta(DType::F32)],
            DType::I8,
        );
        assert_eq!(check(&wrong).unwrap_err().status, Status::InvalidArgument);
        let wrong = inv(
            "DequantizeLinear",
            21,
            &[],
            vec![meta(DType::U8), meta(DType::F16)],
            DType::F32,
        );
        assert_eq!(check(&wrong).unwrap_err().status, Status::InvalidArgument);
        // Supported: f16 quantization declares its f32 division.
        let half = inv(
            "QuantizeLinear",
            21,
            &[],
            vec![meta(DType::F16), meta(DType::F16), meta(DType::F8E4M3FN)],
            DType::F8E4M3FN,
        );
        let info = check(&half).unwrap();
        assert_eq!(compute_precision(info, DType::F16), Some(DType::F32));
        assert_eq!(compute_precision(info, DType::F32), None);
        let m = ReferenceBackend.manifest();
        assert!(m.contains("\"op\": \"DequantizeLinear\", \"opsets\": [10, 13, 19, 21, 23, 24, 25], \"dtypes\": [\"i8\", \"u8\", \"i16\", \"u16\", \"i32\", \"f8e4m3fn\", \"f8e5m2\", \"f8e4m3fnuz\", \"f8e5m2fnuz\", \"i4\", \"u4\", \"f4e2m1\", \"i2\", \"u2\"]"));
    }

    #[test]
    fn malformed_calls_are_invalid() {
        let wrong_out = inv("Neg", 13, &[], vec![meta(DType::F32)], DType::F16);
        assert_eq!(
            check(&wrong_out).unwrap_err().status,
            Status::InvalidArgument
        );
        let missing = inv("Add", 14, &[], vec![meta(DType::F32), None], DType::F32);
        assert_eq!(check(&missing).unwrap_err().status, Status::InvalidArgument);
        let too_many = inv(
            "Neg",
            13,
            &[],
            vec![meta(DType::F32), meta(DType::F32)],
            DType::F32,
        );
        assert_eq!(
            check(&too_many).unwrap_err().status,
            Status::InvalidArgument
        );
        let attrs = [xpucert_abi::Attribute {
            name: "axis",
            value: AttrValue::String("x"),
        }];
        let bad_attr = inv("Softmax", 13, &attrs, vec![meta(DType::F32)], DType::F32);
        let x = f32t(&[1], &[1.]);
        assert_eq!(
            ops::evaluate(&bad_attr, &[x]).unwrap_err().status,
            Status::InvalidArgument
        );
    }

    #[test]
    fn supported_half_precision_declares_f32_compute() {
        let info = check(&inv(
            "MatMul",
            13,
            &[],
            vec![meta(DType::BF16), meta(DType::BF16)],
            DType::BF16,
        ))
        .unwrap();
        assert_eq!(compute_precision(info, DType::BF16), Some(DType::F32));
        assert_eq!(compute_precision(info, DType::F32), None);
        let gather = check(&inv(
            "Gather",
            13,
            &[],
            vec![meta(DType::F16), meta(DType::I32)],
            DType::F16,
        ))
        .unwrap();
        assert_eq!(compute_precision(gather, DType::F16), None);
    }

    #[test]
    fn transposed_view_offsets_feed_the_kernels_in_logical_order() {
        // `TensorRef` views can only be built by the ABI layer, so this checks
        // the contract the loader relies on: a strided view read in logical
        // order (here through layout::view_offsets, the same odometer) equals
        // the materialised transpose, and the kernels see only that.
        let storage = [1f32, 2., 3., 4., 5., 6.]; // 2x3 row-major
        let logical: Vec<f32> = layout::view_offsets(&[3, 2], &[1, 3])
            .iter()
            .map(|&o| storage[o])
            .collect();
        assert_eq!(logical, vec![1., 4., 2., 5., 3., 6.]);
        let y = run1(
            "MatMul",
            &[],
            vec![f32t(&[3, 2], &logical), f32t(&[2], &[1., 1.])],
        )
        .unwrap();
        assert_eq!(values(&y), vec![5., 7., 9.]);
    }
}
