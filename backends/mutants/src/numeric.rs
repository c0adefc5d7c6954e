//! Honest numeric variants (must pass) and numeric faults (must fail).
//!
//! Every mode is a [`Patch`]: the ops it changes, how it reads its inputs,
//! the kernel it runs instead of the reference's, and optionally the compute
//! precision it declares. Everything else is the reference backend.
//!
//! The honest variants are the ways correct hardware and libraries differ
//! from a sequential f32 CPU loop: other summation orders, FMA, tiling,
//! online softmax, fast transcendental functions within their OpenCL CTS
//! ulp budget, declared reduced precision, declared subnormal flushing
//! ([`subnormal`]). The
//! faults are bugs seen in real kernels, each chosen to touch as few
//! elements or bits as possible while still being wrong by more than any
//! correct implementation could be.

mod activation;
mod attention;
mod conv;
mod conv_transpose;
mod dynamic;
mod einsum;
mod elementwise;
mod fp8;
mod gather;
mod grid;
mod half_io;
mod indexing;
mod io;
mod linalg;
mod logic;
mod mla;
mod moe;
mod normalize;
mod normalize2;
mod outputs;
mod quant_int;
mod recurrent;
mod resize;
mod rewrite;
mod rows;
mod shapes;
mod subnormal;

use xpucert_abi::{BackendError, DType, OpCall, OpSupport, Precision, TensorMut};
use xpucert_reference_core::ReferenceBackend;
use xpucert_reference_core::tensor::Tensor;

use crate::{Behaviour, Expect, Mode};
use io::{Loaded, Reading};
use linalg::{Acc, InputRound};
use rows::{NormBug, Order, SoftmaxKind};

type Kernel = fn(&mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError>;
type Skip = fn(&Loaded<'_>, usize, usize) -> bool;

/// One numeric mode: the reference, except for `ops`.
struct Patch {
    /// Ops changed; empty = every op.
    ops: &'static [&'static str],
    /// How inputs are read.
    reading: Reading,
    /// The replacement kernel.
    kernel: Kernel,
    /// A precision declared for f32 and fp8 calls of `ops` (None: the
    /// reference's). Fp8 first inputs are Fp8BlockGemm's, whose declared
    /// bf16 names the operands' conversion.
    declares: Option<Precision>,
    /// Output elements left unwritten (the harness's poison stays).
    skip: Option<Skip>,
}

impl Patch {
    fn new(ops: &'static [&'static str], kernel: Kernel) -> Self {
        Patch {
            ops,
            reading: Reading::Strided,
            kernel,
            declares: None,
            skip: None,
        }
    }

    fn changes(&self, op: &str) -> bool {
        self.ops.is_empty() || self.ops.contains(&op)
    }
}

impl Behaviour for Patch {
    fn query(&self, r: &ReferenceBackend, call: &OpCall<'_>) -> Result<OpSupport, BackendError> {
        use xpucert_abi::Backend;
        let mut answer = r.query_op(call)?;
        let first = call
            .inputs
            .first()
            .and_then(Option::as_ref)
            .map(|t| t.dtype());
        let declaring_call = matches!(first, Some(DType::F32 | DType::F8E4M3FN));
        if let Some(p) = self.declares
            && self.changes(call.op_type)
            && declaring_call
            && answer.support != xpucert_abi::Support::None
        {
            answer.compute_precision = p;
        }
        Ok(answer)
    }

    fn run(
        &self,
        r: &ReferenceBackend,
        call: &OpCall<'_>,
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), BackendError> {
        use xpucert_abi::Backend;
        if !self.changes(call.op_type) {
            return r.run_op(call, outputs);
        }
        let mut loaded = Loaded::new(call, self.reading)?;
        let results = (self.kernel)(&mut loaded)?;
        if results.len() < outputs.len() {
            // Optional outputs the mode's kernel does not produce (Attention's
            // present and scores, LayerNormalization's statistics) are the
            // reference's; the kernel's own outputs overwrite the rest.
            r.run_op(call, outputs)?;
        }
        match self.skip {
            Some(skip) => io::store_with(&results, outputs, |i, f| skip(&loaded, i, f)),
            None => io::store(&results, outputs),
        }
    }
}

/// The reference backend itself, through its own `run_op` (fast paths
/// included): what `honest` must be for a throughput comparison with a mode
/// that also calls the reference (`cache_outputs`) to compare like with like.
struct Unchanged;

impl Behaviour for Unchanged {}

/// The reference's own kernel (for patches that only change reading,
/// declaring or writing).
fn reference(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.reference()
}

const MATMULS: &[&str] = &["MatMul", "Gemm"];
const SUMS: &[&str] = &[
    "MatMul",
    "Gemm",
    "ReduceSum",
    "ReduceMean",
    "Softmax",
    "LogSoftmax",
];

/// Runs MatMul/Gemm with `acc`, other ops with the reordered sum `order`.
fn summing(l: &mut Loaded<'_>, acc: Acc, order: Order) -> Result<Vec<Tensor>, BackendError> {
    match l.op() {
        "MatMul" => linalg::matmul(l, acc, InputRound::None),
        "Gemm" => linalg::gemm(l, acc, InputRound::None),
        "ReduceSum" | "ReduceMean" => rows::reduce(l, order),
        "Softmax" | "LogSoftmax" => rows::softmax(l, SoftmaxKind::TwoPass(order)),
        _ => l.reference(),
    }
}

fn matmuls(l: &mut Loaded<'_>, acc: Acc, round: InputRound) -> Result<Vec<Tensor>, BackendError> {
    match l.op() {
        "MatMul" => linalg::matmul(l, acc, round),
        _ => linalg::gemm(l, acc, round),
    }
}

/// f16/bf16 calls accumulated in their own dtype; f32/f64 calls unchanged.
fn half_accumulator(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    if matches!(l.input(0)?.dtype(), DType::F16 | DType::BF16) {
        matmuls(l, Acc::Half, InputRound::None)
    } else {
        l.reference()
    }
}

/// The last element of every output row is left unwritten when the row
/// length is not a multiple of 8: a vectorised loop without its tail.
fn tail_unwritten(l: &Loaded<'_>, output: usize, flat: usize) -> bool {
    let shape = l.out_shape(output);
    let n = shape.last().copied().unwrap_or(1);
    n % 8 != 0 && flat % n == n - 1
}

fn honest(name: &'static str, description: &'static str, patch: Patch) -> Mode {
    Mode {
        name,
        expect: Expect::Pass,
        ops: patch.ops,
        description,
        behaviour: Box::new(patch),
    }
}

fn fault(name: &'static str, description: &'static str, patch: Patch) -> Mode {
    Mode {
        name,
        expect: Expect::Fail,
        ops: patch.ops,
        description,
        behaviour: Box::new(patch),
    }
}

/// The numeric modes: honest variants first, then faults.
pub fn modes() -> Vec<Mode> {
    let mut all = vec![
        // ------------------------------------------------------------ honest
        Mode {
            name: "honest",
            expect: Expect::Pass,
            ops: &[],
            description: "the reference backend unchanged",
            behaviour: Box::new(Unchanged),
        },
        honest(
            "reversed_sum",
            "every sum and dot product accumulated last to first",
            Patch::new(SUMS, |l| summing(l, Acc::Reversed, Order::Reversed)),
        ),
        honest(
            "pairwise_sum",
            "pairwise (recursive halving) sums and dot products",
            Patch::new(SUMS, |l| summing(l, Acc::Pairwise, Order::Pairwise)),
        ),
        honest(
            "fma_matmul",
            "MatMul/Gemm contracted to fused multiply-add, beta C added by FMA",
            Patch::new(MATMULS, |l| matmuls(l, Acc::Fma, InputRound::None)),
        ),
        honest(
            "blocked_matmul",
            "MatMul/Gemm as a tiled kernel: partial sums over k blocks of 64, then combined",
            Patch::new(MATMULS, |l| matmuls(l, Acc::Blocked, InputRound::None)),
        ),
        honest(
            "f64_accumulate",
            "MatMul/Gemm accumulated in f64 and rounded once (more accurate than the reference)",
            Patch::new(MATMULS, |l| matmuls(l, Acc::F64, InputRound::None)),
        ),
        honest(
            "online_softmax",
            "Softmax/LogSoftmax in one pass with a running maximum and rescaled sum",
            Patch::new(&["Softmax", "LogSoftmax"], |l| {
                rows::softmax(l, SoftmaxKind::Online)
            }),
        ),
        honest(
            "fast_exp",
            "Exp by range reduction and a degree-7 polynomial with FMA (about 1.5 ulp)",
            Patch::new(&["Exp"], |l| {
                elementwise::map(l, |x| elementwise::poly_exp(x, 7))
            }),
        ),
        honest(
            "tanh_expm1",
            "Tanh as expm1(2x) / (expm1(2x) + 2) (about 3 ulp, no cancellation near 0)",
            Patch::new(&["Tanh"], |l| elementwise::map(l, elementwise::tanh_expm1)),
        ),
        honest(
            "div_reciprocal",
            "Div as a * (1 / b): two roundings, at most 1.5 ulp",
            Patch::new(&["Div"], |l| elementwise::div_by_reciprocal(l)),
        ),
        honest(
            "declared_tf32",
            "f32 MatMul/Gemm with inputs rounded to tf32, declared as tf32 in query_op",
            Patch {
                declares: Some(Precision::Tf32),
                ..Patch::new(MATMULS, |l| matmuls(l, Acc::Sequential, InputRound::Tf32))
            },
        ),
        honest(
            "declared_bf16_inputs",
            "f32 MatMul/Gemm with bf16-rounded inputs and f32 accumulation, declared bf16",
            Patch {
                declares: Some(Precision::DType(DType::BF16)),
                ..Patch::new(MATMULS, |l| matmuls(l, Acc::Fma, InputRound::Bf16))
            },
        ),
        subnormal::flush_to_zero(),
        attention::flash_attention2(),
        attention::tf32_attention_declared(),
        half_io::half_io_f32_accumulate(),
        // ------------------------------------------------------------ faults
        Mode {
            // The harness's memory-safety check reports elements still
            // holding its poison as a `fail` naming the first of them.
            expect: Expect::Fail,
            ..fault(
                "matmul_tail_unwritten",
                "MatMul/Gemm: last element of each output row not written when the row length is not a multiple of 8",
                Patch {
                    skip: Some(tail_unwritten),
                    ..Patch::new(MATMULS, reference)
                },
            )
        },
        fault(
            "matmul_tail_short_k",
            "MatMul/Gemm: the remainder columns (n mod 8) drop the last k term",
            Patch::new(MATMULS, |l| matmuls(l, Acc::DropLastK, InputRound::None)),
        ),
        fault(
            "softmax_no_max",
            "Softmax/LogSoftmax without subtracting the row maximum (exp overflows on large logits)",
            Patch::new(&["Softmax", "LogSoftmax"], |l| {
                rows::softmax(l, SoftmaxKind::NoMax)
            }),
        ),
        fault(
            "logsoftmax_of_softmax",
            "LogSoftmax as log(softmax(x)): -inf where the softmax underflows",
            Patch::new(&["LogSoftmax"], |l| {
                rows::softmax(l, SoftmaxKind::LogOfSoftmax)
            }),
        ),
        fault(
            "layernorm_unbiased",
            "LayerNormalization with the unbiased variance (divides by n - 1)",
            Patch::new(&["LayerNormalization"], |l| {
                rows::normalize(l, NormBug::Unbiased)
            }),
        ),
        fault(
            "norm_eps_outside_sqrt",
            "LayerNorm/RMSNorm: 1 / (sqrt(var) + eps) instead of 1 / sqrt(var + eps)",
            Patch::new(&["LayerNormalization", "RMSNormalization"], |l| {
                rows::normalize(l, NormBug::EpsOutsideSqrt)
            }),
        ),
        fault(
            "norm_reads_past_row",
            "LayerNorm/RMSNorm statistics include the next row's first element (loop bound off by one)",
            Patch::new(&["LayerNormalization", "RMSNormalization"], |l| {
                rows::normalize(l, NormBug::ReadsPastRow)
            }),
        ),
        fault(
            "gelu_tanh_for_erf",
            "Gelu computed with the tanh approximation when the exact (erf) form was asked",
            Patch::new(&["Gelu"], rewrite::gelu_tanh),
        ),
        fault(
            "rope_pairing_swapped",
            "RotaryEmbedding pairs interleaved and half-split dimensions the wrong way round",
            Patch::new(&["RotaryEmbedding"], rewrite::rope_swapped),
        ),
        fault(
            "causal_mask_missing",
            "Attention ignores is_causal",
            Patch::new(&["Attention"], rewrite::causal_missing),
        ),
        fault(
            "causal_off_by_one",
            "Attention's causal mask lets query i see key i + 1",
            Patch::new(&["Attention"], rewrite::causal_off_by_one),
        ),
        fault(
            "attention_scale_1_over_d",
            "Attention scaled by 1/d instead of 1/sqrt(d)",
            Patch::new(&["Attention"], rewrite::scale_one_over_d),
        ),
        fault(
            "attention_softcap_ignored",
            "Attention ignores softcap",
            Patch::new(&["Attention"], rewrite::softcap_ignored),
        ),
        fault(
            "gqa_head_modulo",
            "Grouped-query attention maps query head h to kv head h % kv_heads instead of h / group",
            Patch::new(&["Attention"], rewrite::gqa_modulo),
        ),
        fault(
            "broadcast_rows",
            "Add/Sub/Mul/Div: a 1-D right operand matching the left's row count is broadcast along rows",
            Patch::new(&["Add", "Sub", "Mul", "Div"], rewrite::broadcast_rows),
        ),
        attention::attention_mask_before_softcap(),
        attention::causal_ignores_past(),
        shapes::softmax_axis_by_size(),
        shapes::broadcast_leading_one(),
        half_io::half_running_accumulator(),
        attention::attention_bf16_scores_f32(),
        fault(
            "strides_ignored",
            "a dense but permuted (transposed) input is read as if it were row-major",
            Patch {
                reading: Reading::DenseAsContiguous,
                ..Patch::new(&[], reference)
            },
        ),
        fault(
            "bf16_truncation",
            "every bf16 result rounded by truncation instead of to nearest even",
            Patch::new(&[], rewrite::bf16_truncating),
        ),
        fault(
            "tf32_declared_bf16_inputs",
            "f32 MatMul/Gemm declared tf32 but computed with bf16-rounded inputs",
            Patch {
                declares: Some(Precision::Tf32),
                ..Patch::new(MATMULS, |l| matmuls(l, Acc::Sequential, InputRound::Bf16))
            },
        ),
        fault(
            "bf16_accumulator",
            "f32 MatMul/Gemm accumulated in a bf16 register, precision not declared",
            Patch::new(MATMULS, |l| matmuls(l, Acc::Bf16, InputRound::None)),
        ),
        fault(
            "half_accumulator",
            "f16/bf16 MatMul/Gemm accumulated in f16/bf16 while f32 accumulation is declared",
            Patch::new(MATMULS, half_accumulator),
        ),
        fault(
            "tf32_undeclared",
            "f32 MatMul/Gemm with tf32-rounded inputs, declared as default (f32) precision",
            Patch::new(MATMULS, |l| matmuls(l, Acc::Sequential, InputRound::Tf32)),
        ),
        fault(
            "reducemax_drops_nan",
            "ReduceMax ignores NaN (fmax semantics) instead of propagating it",
            Patch::new(&["ReduceMax"], rewrite::max_drops_nan),
        ),
        fault(
            "reducemean_wrong_count",
            "ReduceMean over several axes divides by the last reduced axis's size only",
            Patch::new(&["ReduceMean"], rewrite::mean_wrong_count),
        ),
        fault(
            "topk_ties_reversed",
            "TopK puts the higher index first among equal values",
            Patch::new(&["TopK"], rewrite::topk_ties_reversed),
        ),
        fault(
            "gemm_beta_ignored",
            "Gemm adds C with beta = 1 whatever beta says",
            Patch::new(&["Gemm"], rewrite::gemm_beta_ignored),
        ),
        fault(
            "cast_int_saturates",
            "integer-to-integer Cast saturates where ONNX wraps (keeps the low bits)",
            Patch::new(&["Cast"], rewrite::cast_saturates),
        ),
        fault(
            "transpose_inverse_perm",
            "Transpose applies the inverse of perm (differs for 3-cycles)",
            Patch::new(&["Transpose"], rewrite::transpose_inverse),
        ),
        fault(
            "concat_negative_axis",
            "Concat normalises a negative axis as rank + axis - 1",
            Patch::new(&["Concat"], rewrite::concat_negative_axis),
        ),
        fault(
            "where_tiled_condition",
            "Where broadcasts its condition by tiling the flat buffer instead of by axes",
            Patch::new(&["Where"], rewrite::where_tiled),
        ),
        fault(
            "exp_low_degree",
            "Exp with a degree-5 polynomial after range reduction (about 40 ulp)",
            Patch::new(&["Exp"], |l| {
                elementwise::map(l, |x| elementwise::poly_exp(x, 5))
            }),
        ),
        fault(
            "tanh_cancellation",
            "Tanh as (e^2x - 1) / (e^2x + 1): overflow-guarded, but cancels near 0",
            Patch::new(&["Tanh"], |l| elementwise::map(l, elementwise::tanh_naive)),
        ),
        fault(
            "softplus_unguarded",
            "Softplus as ln(1 + e^x) without the large-x guard (overflows to inf)",
            Patch::new(&["Softplus"], |l| {
                elementwise::map(l, elementwise::softplus_unguarded)
            }),
        ),
        fault(
            "sigmoid_f16_naive",
            "f16 Sigmoid as 1 / (1 + e^-x) in half arithmetic: e^-x overflows, the tail becomes 0",
            Patch::new(&["Sigmoid"], |l| {
                elementwise::map_f16(l, elementwise::sigmoid_f16_naive)
            }),
        ),
        // issue 17: binary/variadic math, comparison, logic, bitwise
        honest(
            "variadic_sum_reversed",
            "Sum/Mean adding their inputs last to first",
            Patch::new(&["Sum", "Mean"], logic::sum_reversed),
        ),
        fault(
            "mod_sign_of_dividend",
            "Mod with fmod=0 takes the dividend's sign (C fmod) instead of the divisor's",
            Patch::new(&["Mod"], logic::mod_sign_of_dividend),
        ),
        fault(
            "max_nan_dropped",
            "Max ignores NaN inputs (fmax semantics) instead of propagating them",
            Patch::new(&["Max"], logic::max_nan_dropped),
        ),
        fault(
            "less_or_equal_as_less",
            "LessOrEqual computed as Less: equal operands give false",
            Patch::new(&["LessOrEqual"], logic::less_or_equal_as_less),
        ),
        // issue 17: normalization and reductions
        fault(
            "batchnorm_eps_outside_sqrt",
            "BatchNormalization: (x - mean) / (sqrt(var) + eps) instead of / sqrt(var + eps)",
            Patch::new(
                &["BatchNormalization"],
                normalize::batchnorm_eps_outside_sqrt,
            ),
        ),
        fault(
            "argmax_last_on_ties",
            "ArgMax/ArgMin return the last of equal extremes although select_last_index is 0",
            Patch::new(&["ArgMax", "ArgMin"], normalize::argmax_last_on_ties),
        ),
        fault(
            "cumsum_exclusive_ignored",
            "CumSum ignores exclusive=1 (always the inclusive running sum)",
            Patch::new(&["CumSum"], normalize::cumsum_exclusive_ignored),
        ),
        // issue 17: Resize and friends
        fault(
            "resize_half_pixel_as_asymmetric",
            "Resize reads coordinate_transformation_mode half_pixel as asymmetric (no half-pixel shift)",
            Patch::new(&["Resize"], resize::half_pixel_as_asymmetric),
        ),
        fault(
            "resize_nearest_floor_for_round",
            "Resize nearest uses floor where nearest_mode round_prefer_floor is asked",
            Patch::new(&["Resize"], resize::nearest_floor_for_round),
        ),
        // issue 17: shape and indexing
        indexing::slice_negative_step_off_by_one(),
        indexing::pad_reflect_as_edge(),
        indexing::scatternd_reduction_ignored(),
        // issue 17: convolution and pooling
        fault(
            "conv_pads_symmetric",
            "Conv splits each axis's total padding evenly, ignoring asymmetric pads and SAME_LOWER",
            Patch::new(&["Conv"], conv::pads_symmetric),
        ),
        fault(
            "maxpool_ceil_ignored",
            "MaxPool computes only the floor-mode windows; ceil_mode's extra windows keep -inf and index 0",
            Patch::new(&["MaxPool"], conv::maxpool_ceil_ignored),
        ),
        // issue 17: linear algebra and spatial sampling
        fault(
            "det_without_pivoting",
            "Det eliminates without row exchanges: a zero or tiny leading pivot divides by it",
            Patch::new(&["Det"], einsum::det_without_pivoting),
        ),
        // issue 17: gather, scatter and index movement
        gather::depthtospace_crd_as_dcr(),
        gather::gathernd_batch_offset_dropped(),
        // issue 17: normalization family 2
        honest(
            "norm_one_pass_variance",
            "InstanceNormalization/GroupNormalization with one-pass f32 statistics, var = max(0, E[x^2] - mean^2)",
            Patch::new(
                &["InstanceNormalization", "GroupNormalization"],
                normalize2::one_pass_statistics,
            ),
        ),
        fault(
            "groupnorm_scale_per_group",
            "GroupNormalization-21 indexes scale and bias by group (opset 18's layout) instead of by channel",
            Patch::new(
                &["GroupNormalization"],
                normalize2::groupnorm_scale_per_group,
            ),
        ),
        // issue 17: convolution transpose and quantized linear algebra
        fault(
            "convtranspose_output_padding_at_start",
            "ConvTranspose adds output_padding's extra elements at the start of each axis instead of the end",
            Patch::new(&["ConvTranspose"], conv_transpose::output_padding_at_start),
        ),
        // issue 17: optional outputs, tensor attributes, opset 24
        fault(
            "layernorm_invstddev_is_stddev",
            "LayerNormalization's optional InvStdDev output is the standard deviation, not its reciprocal",
            Patch::new(
                &["LayerNormalization"],
                outputs::layernorm_invstddev_is_stddev,
            ),
        ),
    ];
    let (honest, faults) = subnormal::modes();
    let first_fault = all.iter().position(|m| m.expect != Expect::Pass);
    let at = first_fault.unwrap_or(all.len());
    all.splice(at..at, honest);
    all.extend(faults);
    // issue 17: activations and unary math
    all.extend(activation::honest_modes());
    all.extend(activation::fault_modes());
    // issue 17: recurrent
    all.push(self::honest(
        "recurrent_fused_gates",
        "LSTM/GRU/RNN: each gate's pre-activation one dot product over state, input and biases, summed last to first",
        Patch::new(recurrent::OPS, recurrent::fused_reversed),
    ));
    all.push(fault(
        "lstm_gate_order_confused",
        "LSTM reads its gate blocks (ONNX iofc) as ifco: forget, cell and output gates take the wrong weights",
        Patch::new(&["LSTM"], recurrent::lstm_gate_order_confused),
    ));
    // issue 17: data-dependent output shapes
    all.push(dynamic::nonzero_shape_not_reported());
    // issue 17: integer-quantized ops and the last pooling ops
    all.push(fault(
        "qlinear_zero_point_ignored",
        "QLinearMatMul/QLinearConv ignore the input zero points (a's and b's, x's and w's), as a symmetric-only kernel",
        Patch::new(&["QLinearMatMul", "QLinearConv"], quant_int::qlinear_zero_point_ignored),
    ));
    all.push(fault(
        "lppool_p_ignored",
        "LpPool ignores p and always takes the 2-norm",
        Patch::new(&["LpPool"], quant_int::lppool_p_ignored),
    ));
    // issue 18: DeepSeek
    all.extend(moe::fault_modes());
    // issue 17: spatial sampling
    all.push(fault(
        "gridsample_align_corners_ignored",
        "GridSample ignores align_corners=1: -1 and 1 taken as the corner pixels' outer edges, every sample moved by up to half a pixel",
        Patch::new(&["GridSample"], grid::gridsample_align_corners_ignored),
    ));
    all.push(fault(
        "roialign_half_pixel_ignored",
        "RoiAlign computes coordinate_transformation_mode half_pixel (the default from opset 16) as output_half_pixel: ROIs not shifted by half a pixel",
        Patch::new(&["RoiAlign"], grid::roialign_half_pixel_ignored),
    ));
    // issue 18: mla
    all.extend(mla::modes());
    // issue 18: fp8
    all.extend(fp8::modes());
    all
}
