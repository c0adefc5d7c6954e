//! The kernels, one module per op family, and the dispatcher that maps an
//! ONNX operator name to its kernel.
//!
//! Kernels receive contiguous [`Tensor`]s and return their outputs; they
//! validate shapes and index values themselves and report bad calls as
//! `INVALID_ARGUMENT`. Dtype and attribute support has already been decided by
//! [`crate::support::check`].
//!
//! [`in_place`] is the exception: [`fast`]'s fused kernels (the common float
//! cases of the elementwise, normalisation and reduction ops) and f32
//! MatMul ([`linalg::matmul_in_place`]) read the ABI tensors' bytes and
//! write the output buffer directly; `run_op` tries them first and falls
//! back to the kernels above when they decline a call.

pub mod activation;
pub mod attention;
pub mod bitcast;
pub mod constant;
pub mod conv;
pub mod conv_transpose;
pub mod crop;
pub mod dynamic;
pub mod einsum;
pub mod elementwise;
pub mod fast;
pub mod fp8;
pub mod gather;
pub mod grid;
pub mod linalg;
pub mod logic;
pub mod mla;
pub mod moe;
pub mod movement;
pub mod norm;
pub mod normalize;
pub mod normalize2;
pub mod opset24;
pub mod pool_more;
pub mod quant_int;
pub mod quantize;
pub mod recurrent;
pub mod reduce;
pub mod reduce_more;
pub mod resize;
pub mod rope;
pub mod sample;
pub mod shaping;
pub mod topk;
pub mod variadic;

use xpucert_abi::{BackendError, OpCall, TensorMut};

use crate::support::{Attrs, Invocation, check};
use crate::tensor::Tensor;

/// The inputs and attributes of one call, as kernels see them.
#[derive(Debug)]
pub struct Args<'a> {
    /// Operator name, for messages.
    pub op: &'a str,
    /// The opset whose semantics apply (kernels of ops whose semantics
    /// changed between opsets branch on it).
    pub opset: i64,
    /// Attributes.
    pub attrs: Attrs<'a>,
    /// Inputs, positional; `None` for an omitted optional input.
    pub inputs: &'a [Option<Tensor>],
    /// How many outputs the caller wants (Split's part count when nothing
    /// else gives it).
    pub outputs: usize,
}

impl<'a> Args<'a> {
    /// Input `i`, which must be present.
    pub fn input(&self, i: usize) -> Result<&'a Tensor, BackendError> {
        self.optional(i)
            .ok_or_else(|| BackendError::invalid(format!("{}: input {i} is required", self.op)))
    }

    /// Input `i` if present.
    pub fn optional(&self, i: usize) -> Option<&'a Tensor> {
        self.inputs.get(i).and_then(Option::as_ref)
    }

    /// An error naming the op.
    pub fn invalid(&self, message: impl std::fmt::Display) -> BackendError {
        BackendError::invalid(format!("{}: {message}", self.op))
    }
}

/// Runs a call the harness's buffers allow to be computed in place (read
/// straight from the inputs, written straight into the outputs): `Some`
/// when the outputs hold the result, `None` when the op or the buffers do
/// not qualify and the general path (load, kernel, store) must run, which
/// also reports any error. Only for calls [`check`] has accepted; the
/// results are those of the general path, bit for bit.
pub fn in_place(
    inv: &Invocation<'_>,
    call: &OpCall<'_>,
    outputs: &mut [TensorMut<'_>],
) -> Option<()> {
    match inv.op_type {
        "MatMul" => linalg::matmul_in_place(call, outputs),
        _ => fast::try_run(call, outputs),
    }
}

/// Checks support (the same decision `query_op` reports), then runs the
/// kernel. Returns every output the op defines (TopK: values and indices).
pub fn evaluate(
    inv: &Invocation<'_>,
    inputs: &[Option<Tensor>],
) -> Result<Vec<Tensor>, BackendError> {
    check(inv)?;
    run_checked(inv, inputs)
}

/// Runs the kernel of a call [`check`] has accepted (`run_op` checks once,
/// then calls this).
pub fn run_checked(
    inv: &Invocation<'_>,
    inputs: &[Option<Tensor>],
) -> Result<Vec<Tensor>, BackendError> {
    let args = Args {
        op: inv.op_type,
        opset: inv.opset,
        attrs: inv.attrs,
        inputs,
        outputs: inv.output_dtypes.len(),
    };
    let one = |t: Result<Tensor, BackendError>| t.map(|t| vec![t]);
    match inv.op_type {
        "Add" | "Sub" | "Mul" | "Div" => one(elementwise::binary(&args)),
        "Neg" | "Exp" | "Log" | "Sqrt" | "Reciprocal" | "Tanh" | "Sigmoid" | "Relu" | "Erf"
        | "Softplus" | "Gelu" => one(elementwise::unary(&args)),
        "MatMul" => one(linalg::matmul(&args)),
        "Gemm" => one(linalg::gemm(&args)),
        "ReduceSum" | "ReduceMean" | "ReduceMax" => one(reduce::reduce(&args)),
        "Softmax" | "LogSoftmax" => one(norm::softmax(&args)),
        "LayerNormalization" => norm::layer_norm(&args),
        "RMSNormalization" => one(norm::rms_norm(&args)),
        "Gather" => one(movement::gather(&args)),
        "Transpose" => one(movement::transpose(&args)),
        "Reshape" => one(movement::reshape(&args)),
        "Concat" => one(movement::concat(&args)),
        "Where" => one(movement::where_(&args)),
        "Cast" => one(movement::cast(&args)),
        "TopK" => topk::topk(&args),
        "RotaryEmbedding" => one(rope::rotary_embedding(&args)),
        "Attention" => attention::attention(&args),
        "QuantizeLinear" => one(quantize::quantize_linear(&args)),
        "DequantizeLinear" => one(quantize::dequantize_linear(&args)),
        // issue 17: activations and unary math
        "Clip" | "Elu" | "Selu" | "Celu" | "LeakyRelu" | "PRelu" | "ThresholdedRelu" | "Shrink"
        | "HardSigmoid" | "HardSwish" | "Mish" | "Softsign" | "Abs" | "Ceil" | "Floor"
        | "Round" | "Sign" | "Sin" | "Cos" | "Tan" | "Asin" | "Acos" | "Atan" | "Sinh" | "Cosh"
        | "Asinh" | "Acosh" | "Atanh" | "IsNaN" | "IsInf" | "Not" => {
            one(activation::run(&args, inv.opset))
        }
        // issue 17: binary/variadic math, comparison, logic, bitwise
        "Equal" | "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" => {
            one(logic::compare(&args))
        }
        "And" | "Or" | "Xor" => one(logic::logical(&args)),
        "BitwiseAnd" | "BitwiseOr" | "BitwiseXor" => one(logic::bitwise(&args)),
        "BitwiseNot" => one(logic::bitwise_not(&args)),
        "BitShift" => one(logic::bit_shift(&args)),
        "Mod" => one(logic::modulo(&args)),
        "Pow" => one(logic::pow(&args)),
        "Max" | "Min" => one(variadic::select(&args)),
        "Sum" | "Mean" => one(variadic::sum(&args)),
        // issue 17: normalization and reductions
        "BatchNormalization" => one(normalize::batch_norm(&args)),
        "ReduceMin" | "ReduceProd" | "ReduceL1" | "ReduceL2" | "ReduceLogSum"
        | "ReduceLogSumExp" | "ReduceSumSquare" => one(reduce_more::reduce(&args)),
        "ArgMax" | "ArgMin" => one(reduce_more::arg_extreme(&args)),
        "CumSum" => one(reduce_more::cumsum(&args)),
        "Hardmax" => one(reduce_more::hardmax(&args)),
        // issue 17: Resize and friends
        "Resize" => one(resize::resize(&args, inv.opset)),
        // issue 17: shape and indexing
        "Slice" => one(shaping::slice(&args)),
        "Squeeze" => one(shaping::squeeze(&args)),
        "Unsqueeze" => one(shaping::unsqueeze(&args)),
        "Shape" => one(shaping::shape(&args)),
        "Size" => one(shaping::size(&args)),
        "Identity" => one(shaping::identity(&args)),
        "Flatten" => one(shaping::flatten(&args)),
        "Expand" => one(shaping::expand(&args)),
        "Tile" => one(shaping::tile(&args)),
        "ConstantOfShape" => one(constant::constant_of_shape(&args)),
        "Range" => one(shaping::range(&args)),
        "Pad" => one(shaping::pad(&args)),
        "Split" => shaping::split(&args),
        "EyeLike" => one(shaping::eye_like(&args)),
        "Trilu" => one(shaping::trilu(&args)),
        "ScatterND" => one(shaping::scatter_nd(&args)),
        // issue 17: convolution and pooling
        "Conv" => one(conv::conv(&args)),
        "MaxPool" => conv::maxpool(&args),
        "AveragePool" => one(conv::average_pool(&args)),
        "GlobalAveragePool" => one(conv::global_pool(&args, false)),
        "GlobalMaxPool" => one(conv::global_pool(&args, true)),
        // issue 17: linear algebra and spatial sampling
        "Einsum" => one(einsum::einsum(&args)),
        "Det" => one(einsum::det(&args)),
        "Col2Im" => one(sample::col2im(&args)),
        // issue 17: recurrent
        "LSTM" => recurrent::recurrent(&args, recurrent::Cell::Lstm),
        "GRU" => recurrent::recurrent(&args, recurrent::Cell::Gru),
        "RNN" => recurrent::recurrent(&args, recurrent::Cell::Rnn),
        // issue 17: data-dependent output shapes
        "NonZero" => one(dynamic::nonzero(&args)),
        "Compress" => one(dynamic::compress(&args)),
        "Unique" => dynamic::unique(&args),
        "NonMaxSuppression" => one(dynamic::non_max_suppression(&args)),
        // issue 17: gather, scatter and index movement
        "GatherElements" => one(gather::gather_elements(&args)),
        "GatherND" => one(gather::gather_nd(&args)),
        "ScatterElements" => one(gather::scatter_elements(&args)),
        "DepthToSpace" => one(gather::depth_to_space(&args)),
        "SpaceToDepth" => one(gather::space_to_depth(&args)),
        "OneHot" => one(gather::one_hot(&args)),
        "CumProd" => one(reduce_more::cumprod(&args)),
        "ReverseSequence" => one(gather::reverse_sequence(&args)),
        // issue 17: normalization family 2
        "InstanceNormalization" | "GroupNormalization" => one(normalize2::group_norm(&args)),
        "MeanVarianceNormalization" => one(normalize2::mvn(&args)),
        "LpNormalization" => one(normalize2::lp_norm(&args)),
        "LRN" => one(normalize2::lrn(&args)),
        "Dropout" => normalize2::dropout(&args),
        "CastLike" => one(normalize2::cast_like(&args)),
        // issue 17: convolution transpose and quantized linear algebra
        "ConvTranspose" => one(conv_transpose::conv_transpose(&args)),
        // issue 17: integer-quantized ops and the last pooling ops
        "MatMulInteger" => one(quant_int::matmul_integer(&args)),
        "QLinearMatMul" => one(quant_int::qlinear_matmul(&args)),
        "ConvInteger" => one(quant_int::conv_integer(&args)),
        "QLinearConv" => one(quant_int::qlinear_conv(&args)),
        "DynamicQuantizeLinear" => quant_int::dynamic_quantize_linear(&args),
        "LpPool" => one(pool_more::lp_pool(&args)),
        "MaxUnpool" => one(pool_more::max_unpool(&args)),
        // issue 18: DeepSeek
        "MoeGatingTopK" => moe::gating_topk(&args),
        // issue 17: spatial sampling
        "GridSample" => one(grid::grid_sample(&args)),
        "AffineGrid" => one(grid::affine_grid(&args)),
        "RoiAlign" => one(grid::roi_align(&args)),
        "CenterCropPad" => one(crop::center_crop_pad(&args)),
        // issue 17: optional outputs, tensor attributes, opset 24
        "Swish" => one(opset24::swish(&args)),
        "TensorScatter" => one(opset24::tensor_scatter(&args)),
        // issue 18: mla
        "MlaAttention" => one(mla::mla_attention(&args)),
        // issue 18: fp8
        "Fp8BlockGemm" => one(fp8::block_gemm(&args)),
        // issue 17: attrs
        "Constant" => one(constant::constant(&args)),
        "BitCast" => one(bitcast::bit_cast(&args)),
        other => Err(BackendError::internal(format!(
            "{other} is in the support table but has no kernel"
        ))),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for kernel tests: build an invocation from tensors and run it
    //! through the same path as `run_op`.

    use super::*;
    use crate::support::{Meta, OPS, OpInfo};

    /// The table entry of `op`, in whichever domain it is.
    fn table(op: &str) -> &'static OpInfo {
        OPS.iter().find(|o| o.name == op).expect("op in table")
    }
    use crate::tensor::Data;
    use xpucert_abi::{AttrValue, Attribute, DType};

    /// Runs `op` at its newest table opset on `inputs`, requesting every
    /// output.
    pub fn run(
        op: &str,
        attrs: &[(&str, AttrValue<'_>)],
        inputs: Vec<Option<Tensor>>,
    ) -> Result<Vec<Tensor>, BackendError> {
        run_n(op, attrs, inputs, 0)
    }

    /// [`run`] requesting `n` outputs of the first input's dtype (0: the
    /// op's usual outputs).
    pub fn run_n(
        op: &str,
        attrs: &[(&str, AttrValue<'_>)],
        inputs: Vec<Option<Tensor>>,
        n: usize,
    ) -> Result<Vec<Tensor>, BackendError> {
        let info = table(op);
        run_at_n(op, *info.opsets.last().expect("an opset"), attrs, inputs, n)
    }

    /// Runs `op` at `opset` on `inputs`, requesting every output.
    pub fn run_at(
        op: &str,
        opset: i64,
        attrs: &[(&str, AttrValue<'_>)],
        inputs: Vec<Option<Tensor>>,
    ) -> Result<Vec<Tensor>, BackendError> {
        run_at_n(op, opset, attrs, inputs, 0)
    }

    /// [`run_at`] requesting `n` outputs of the first input's dtype (0: the
    /// op's usual outputs).
    fn run_at_n(
        op: &str,
        opset: i64,
        attrs: &[(&str, AttrValue<'_>)],
        inputs: Vec<Option<Tensor>>,
        n: usize,
    ) -> Result<Vec<Tensor>, BackendError> {
        let info = table(op);
        let attributes: Vec<Attribute<'_>> = attrs
            .iter()
            .map(|&(name, value)| Attribute { name, value })
            .collect();
        let metas: Vec<Option<Meta>> = inputs
            .iter()
            .map(|t| {
                t.as_ref().map(|t| Meta {
                    dtype: t.dtype(),
                    host: true,
                })
            })
            .collect();
        let inv = Invocation {
            domain: info.domain,
            op_type: info.name,
            opset,
            attrs: Attrs(&attributes),
            output_dtypes: match n {
                0 => expected_outputs(op, &metas, &attributes),
                n => vec![metas[0].as_ref().map_or(DType::F32, |m| m.dtype); n],
            },
            inputs: metas,
        };
        evaluate(&inv, &inputs)
    }

    fn expected_outputs(op: &str, metas: &[Option<Meta>], attrs: &[Attribute<'_>]) -> Vec<DType> {
        let main = metas
            .get(usize::from(op == "Where"))
            .and_then(|m| m.as_ref())
            .map_or(DType::F32, |m| m.dtype);
        match op {
            "TopK" | "MaxPool" => vec![main, DType::I64],
            "MoeGatingTopK" => vec![DType::F32, DType::I64],
            "Equal" | "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" | "And" | "Or"
            | "Xor" => vec![DType::Bool],
            "ArgMax" | "ArgMin" => vec![DType::I64],
            "Cast" => {
                let to = attrs
                    .iter()
                    .find(|a| a.name == "to")
                    .and_then(|a| match a.value {
                        AttrValue::Int(c) => i32::try_from(c).ok().and_then(DType::from_code),
                        _ => None,
                    });
                vec![to.unwrap_or(main)]
            }
            // The zero point's dtype, else output_dtype, else u8; a bad
            // output_dtype is left for the support check to refuse.
            "QuantizeLinear" => {
                let zp = metas.get(2).and_then(|m| m.as_ref()).map(|m| m.dtype);
                let attr = attrs
                    .iter()
                    .find(|a| a.name == "output_dtype")
                    .and_then(|a| match a.value {
                        AttrValue::Int(c) => i32::try_from(c).ok().and_then(DType::from_code),
                        _ => None,
                    });
                vec![zp.or(attr).unwrap_or(DType::U8)]
            }
            "DequantizeLinear" => vec![
                metas
                    .get(1)
                    .and_then(|m| m.as_ref())
                    .map_or(DType::F32, |m| m.dtype),
            ],
            "IsNaN" | "IsInf" => vec![DType::Bool],
            "Shape" | "Size" | "NonZero" | "NonMaxSuppression" => vec![DType::I64],
            "Unique" => vec![main, DType::I64, DType::I64, DType::I64],
            "Dropout" => vec![main, DType::Bool],
            "CastLike" => vec![
                metas
                    .get(1)
                    .and_then(|m| m.as_ref())
                    .map_or(main, |m| m.dtype),
            ],
            "ConstantOfShape" => vec![
                attrs
                    .iter()
                    .find_map(|a| match a.value {
                        AttrValue::Tensor(t) if a.name == "value" => Some(t.dtype()),
                        _ => None,
                    })
                    .unwrap_or(DType::F32),
            ],
            "Constant" => vec![super::constant::constant_dtype(&Attrs(attrs)).unwrap_or(main)],
            "BitCast" => vec![super::bitcast::bit_cast_target(&Attrs(attrs)).unwrap_or(main)],
            "EyeLike" => {
                let attrs = Attrs(attrs);
                vec![super::shaping::eye_like_dtype(&attrs, main).unwrap_or(main)]
            }
            // issue 17: gather, scatter and index movement
            "OneHot" => vec![metas[2].as_ref().map_or(main, |m| m.dtype)],
            // issue 17: integer-quantized ops and the last pooling ops
            "MatMulInteger" | "ConvInteger" => vec![DType::I32],
            "QLinearMatMul" | "QLinearConv" => vec![metas[7].as_ref().map_or(main, |m| m.dtype)],
            "DynamicQuantizeLinear" => vec![DType::U8, DType::F32, DType::U8],
            // issue 18: fp8
            "Fp8BlockGemm" => {
                let bf16 = attrs
                    .iter()
                    .any(|a| a.name == "output_dtype" && matches!(a.value, AttrValue::Int(16)));
                vec![if bf16 { DType::BF16 } else { DType::F32 }]
            }
            _ => vec![main],
        }
    }

    /// Runs a single-output op and returns its output.
    pub fn run1(
        op: &str,
        attrs: &[(&str, AttrValue<'_>)],
        inputs: Vec<Option<Tensor>>,
    ) -> Result<Tensor, BackendError> {
        Ok(run(op, attrs, inputs)?.remove(0))
    }

    /// An f32 tensor.
    pub fn f32t(shape: &[usize], values: &[f32]) -> Option<Tensor> {
        Some(Tensor::f32(shape, values.to_vec()).expect("consistent test tensor"))
    }

    /// An int64 tensor.
    pub fn i64t(shape: &[usize], values: &[i64]) -> Option<Tensor> {
        Some(
            Tensor::new(shape.to_vec(), Data::I64(values.to_vec()))
                .expect("consistent test tensor"),
        )
    }

    /// The values of an f32 output.
    pub fn values(t: &Tensor) -> Vec<f32> {
        match &t.data {
            Data::F32(v) => v.clone(),
            other => panic!("expected f32 output, got {other:?}"),
        }
    }

    /// Asserts two float slices agree to a relative/absolute tolerance.
    pub fn assert_close(got: &[f32], want: &[f32], tol: f32) {
        assert_eq!(got.len(), want.len(), "length: got {got:?}, want {want:?}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let ok = (g - w).abs() <= tol * (1.0 + w.abs()) || (g.is_nan() && w.is_nan());
            assert!(ok, "element {i}: got {g}, want {w} (all: {got:?})");
        }
    }
}
