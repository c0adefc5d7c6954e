//! Every operator xpucert knows, one definition each.
//!
//! An operator is an [`OpDef`]: its ONNX specification ([`OpSpec`]: name,
//! domain, opset, arity, attributes), its shape and dtype rule, its f64
//! oracle, its cost model and its default check policy. The definitions sit
//! with their oracle in one file per family (the `mod` lines below, one
//! per file: `elementwise.rs`, `activation.rs`, `logic.rs`, `linalg.rs`,
//! `reduce.rs`, `normalize.rs`, `indexing.rs`, `resize.rs`, ...); [`registry!`]
//! below lists them once and makes the [`Op`] enum from that list.
//!
//! The compiler keeps the table whole: every field of an `OpDef` must be
//! given, so an op without a cost model or a shape rule does not build, and
//! [`Op::def`] is an exhaustive `match` generated from the same list as the
//! enum, so an op cannot be named without a definition. Everything else in
//! the harness asks the op (`op.def().cost`, `op.check_policy()`,
//! `ops::evaluate(op, ..)`) instead of matching its name: an operator's name
//! is written in its definition and in suite files, nowhere else.
//!
//! The oracle ([`evaluate`], `oracle.rs` and the family files) is the
//! independent f64 reference; it shares no code with any backend.

mod activation;
mod attention;
pub(crate) mod attr_tensor;
mod bitcast;
mod broadcast;
pub mod cases;
mod constant;
mod conv;
mod conv_transpose;
mod dynamic;
mod einsum;
mod elementwise;
mod fp8;
mod gather;
mod grid;
mod indexing;
mod linalg;
mod logic;
mod mla;
mod moe;
mod norm;
mod normalize;
mod normalize2;
mod opset24;
mod oracle;
mod outputs;
mod pool_more;
mod quant;
mod quant_int;
mod recurrent;
mod reduce;
mod reduce_more;
mod resize;
mod rope;
mod rules;
mod sample;
mod shape;
mod spec;
mod variadic;
mod widened;

use std::fmt;

pub use oracle::{OracleError, Output, Value, evaluate, evaluate_at, evaluate_refs, versions_text};
// What every family's oracle uses.
#[cfg(test)]
use oracle::testutil;
use oracle::{Call, Result, finish, wrap_int};
pub use rules::TypedShape;
pub use spec::{Arity, AttrType, AttrValue, Attributes, AttributesExt, OpSpec};

use crate::numerics::DType;
use crate::numerics::check::{CheckPolicy, CheckSpec};

/// The oracle of one op: the exact outputs of a call (see [`evaluate`]).
pub(crate) type OracleFn = fn(&Call) -> Result<Vec<Output>>;

/// The shape and dtype rule of one op: the output dtypes and shapes from the
/// attributes and the input dtypes and shapes (`None` for an omitted
/// optional input). `values(i)` reads input `i`'s values, for inputs that
/// carry shapes (Reshape's shape, TopK's K, reduction axes). An error says
/// why the call is invalid.
pub type ShapeFn = fn(
    &Attributes,
    &[Option<TypedShape>],
    &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String>;

/// The cost model of one op: the [`Work`] of a call from its attributes and
/// input shapes (`None` for an omitted optional input).
pub type CostFn = fn(&Attributes, &[Option<&[usize]>]) -> Work;

/// How many terms one output element sums (the `n` of a summation bound),
/// from the attributes, the input shapes and the output's shape; 1 for ops
/// that sum nothing.
pub type TermsFn = fn(&Attributes, &[Option<Vec<usize>>], &[usize]) -> usize;

/// The arithmetic of one call, from its shapes alone (never from what a
/// backend reports). Conventions, the usual ones so figures compare with
/// BLAS and roofline numbers:
/// * a multiply-add is 2 FLOPs: MatMul and Gemm cost `2·m·n·k` per batch
///   (Gemm adds `m·n` when C is given); Attention costs `2·Sq·Skv·D` for
///   QKᵀ, `2·Sq·Skv·Dv` for PV and `5·Sq·Skv` for the softmax, per head;
/// * elementwise ops cost 1 FLOP per output element, a transcendental
///   (Exp, Tanh, Erf, Gelu, ...) included: the figure is "elements per
///   second", not an instruction count;
/// * reductions cost 1 per input element; Softmax and LogSoftmax `5·n` (max,
///   subtract, exp, sum, divide); LayerNormalization `8·n`, RMSNormalization
///   `4·n`, RotaryEmbedding `3·n`, Quantize/DequantizeLinear `2·n`;
/// * data movement (Gather, Transpose, Reshape, Concat, Cast, TopK) has no
///   FLOPs: only GB/s is reported for it.
///
/// Bytes moved are not here: they follow from the tensors alone (every input
/// read once, every output written once; `perf::cost`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Work {
    /// Floating-point operations; `None` for pure data movement.
    pub flops: Option<f64>,
    /// Multiply-adds of the op's products (MatMul, Gemm, Attention), 0 for
    /// every other op: with the elements touched, the weight that
    /// scheduling, sharding and time limits use (`Case::cost`).
    pub multiply_adds: f64,
    /// f64 elements the oracle holds beyond its inputs and outputs (the
    /// generic allowance of `suite::memory_estimate`), 0 for most ops:
    /// Attention's per-head score matrices.
    pub scratch: f64,
}

/// Everything xpucert knows about one operator. Every field is required, so
/// the compiler refuses a definition that leaves a part out.
pub struct OpDef {
    /// Name, domain, opset, inputs, outputs and attributes.
    pub spec: OpSpec,
    /// The f64 oracle.
    pub(crate) oracle: OracleFn,
    /// Output dtypes and shapes without computing anything (the model
    /// backend path allocates outputs with it; it must not ask the oracle).
    pub shape: ShapeFn,
    /// FLOPs and multiply-adds.
    pub cost: CostFn,
    /// The default check, before the output dtype and the summation length
    /// are known (`numerics::check::default_check`).
    pub check: CheckPolicy,
    /// The summation length the check's bound grows with.
    pub terms: TermsFn,
}

/// Lists every operator once: `Variant => definition`, or `Variant =>
/// definition, older: [definitions]` for an op whose semantics changed
/// between opsets. Each definition is one version: its `spec.opset` is the
/// opset that introduced it (ONNX's `since_version`), and it has its own
/// spec (attributes and inputs differ between versions), oracle and shape
/// rule; `older` lists the earlier versions in ascending order, and the
/// first definition is the newest. Makes the [`Op`] enum, [`Op::ALL`] in
/// this order (the suite and report order), the exhaustive [`Op::def`] and
/// [`Op::versions`].
///
/// The entries are read one at a time (`@read`), because a single matcher
/// cannot tell the `older` keyword after an entry's comma from the next
/// entry's variant (macro_rules reports a "local ambiguity" on the first
/// `older:`); `harness/src/lib.rs` raises the recursion limit for the
/// list's length.
macro_rules! registry {
    (@read [$($done:tt)*]) => {
        registry!(@emit $($done)*);
    };
    (@read [$($done:tt)*] $variant:ident => $def:path, older: [$($old:path),* $(,)?], $($rest:tt)*) => {
        registry!(@read [$($done)* ($variant, $def, [$($old),*])] $($rest)*);
    };
    (@read [$($done:tt)*] $variant:ident => $def:path, $($rest:tt)*) => {
        registry!(@read [$($done)* ($variant, $def, [])] $($rest)*);
    };
    (@emit $(($variant:ident, $def:path, [$($old:path),*]))*) => {
        /// An operator xpucert can test. Derefs to its [`OpSpec`], so
        /// `op.name` and `op.opset` read as they would on the spec.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Op {
            $(
                #[doc = concat!("`", stringify!($variant), "` (see [`", stringify!($def), "`]).")]
                $variant,
            )*
        }

        impl Op {
            /// Every operator, in suite and report order.
            pub const ALL: &'static [Op] = &[$(Op::$variant,)*];

            /// The variants as spelled in the registry, in `ALL`'s order: a
            /// test checks each against its definition's name, which catches
            /// a line pointing at the wrong definition.
            #[cfg(test)]
            const SPELLINGS: &'static [&'static str] = &[$(stringify!($variant),)*];

            /// The operator's definition at its newest implemented opset.
            pub fn def(self) -> &'static OpDef {
                match self {
                    $(Op::$variant => &$def,)*
                }
            }

            /// Every implemented version, oldest first (the last is
            /// [`Op::def`]).
            pub fn versions(self) -> &'static [&'static OpDef] {
                match self {
                    $(Op::$variant => &[$(&$old,)* &$def],)*
                }
            }
        }
    };
    ($($entries:tt)*) => {
        registry!(@read [] $($entries)*);
    };
}

/// The `k` best of some indices by their keys, best first, ties to the
/// lower index.
pub use moe::best as top_indices;

registry! {
    Add => elementwise::ADD,
    Sub => elementwise::SUB,
    Mul => elementwise::MUL,
    Div => elementwise::DIV,
    Neg => elementwise::NEG,
    Exp => elementwise::EXP,
    Log => elementwise::LOG,
    Sqrt => elementwise::SQRT,
    Reciprocal => elementwise::RECIPROCAL,
    Tanh => elementwise::TANH,
    Sigmoid => elementwise::SIGMOID,
    Relu => elementwise::RELU,
    Erf => elementwise::ERF,
    Softplus => elementwise::SOFTPLUS,
    Gelu => elementwise::GELU,
    MatMul => linalg::MATMUL,
    Gemm => linalg::GEMM,
    ReduceSum => reduce::REDUCE_SUM, older: [reduce_more::REDUCE_SUM_11],
    ReduceMean => reduce::REDUCE_MEAN, older: [reduce_more::REDUCE_MEAN_11],
    ReduceMax => reduce_more::REDUCE_MAX_20, older: [reduce_more::REDUCE_MAX_11, reduce::REDUCE_MAX],
    Softmax => reduce::SOFTMAX,
    LogSoftmax => reduce::LOG_SOFTMAX,
    LayerNormalization => norm::LAYER_NORMALIZATION,
    RMSNormalization => norm::RMS_NORMALIZATION,
    Gather => shape::GATHER,
    Transpose => widened::TRANSPOSE_25,
        older: [widened::TRANSPOSE_21, widened::TRANSPOSE_23, widened::TRANSPOSE_24],
    Reshape => widened::RESHAPE_25,
        older: [widened::RESHAPE_21, widened::RESHAPE_23, widened::RESHAPE_24],
    Concat => shape::CONCAT,
    Where => elementwise::WHERE,
    Cast => elementwise::CAST_25,
        older: [elementwise::CAST, elementwise::CAST_23, elementwise::CAST_24],
    TopK => reduce::TOPK,
    RotaryEmbedding => rope::ROTARY_EMBEDDING,
    Attention => attention::ATTENTION, older: [attention::ATTENTION_23],
    QuantizeLinear => quant::QUANTIZE_LINEAR, older: [
        quant::QUANTIZE_LINEAR_10,
        quant::QUANTIZE_LINEAR_13,
        quant::QUANTIZE_LINEAR_19,
        quant::QUANTIZE_LINEAR_21,
        quant::QUANTIZE_LINEAR_23,
        quant::QUANTIZE_LINEAR_24,
    ],
    DequantizeLinear => quant::DEQUANTIZE_LINEAR, older: [
        quant::DEQUANTIZE_LINEAR_10,
        quant::DEQUANTIZE_LINEAR_13,
        quant::DEQUANTIZE_LINEAR_19,
        quant::DEQUANTIZE_LINEAR_21,
        quant::DEQUANTIZE_LINEAR_23,
        quant::DEQUANTIZE_LINEAR_24,
    ],
    // issue 17: activations and unary math
    Clip => activation::CLIP, older: [activation::CLIP_6, activation::CLIP_11, activation::CLIP_12],
    Elu => activation::ELU, older: [activation::ELU_6],
    Selu => activation::SELU, older: [activation::SELU_6],
    Celu => activation::CELU,
    LeakyRelu => activation::LEAKY_RELU, older: [activation::LEAKY_RELU_6],
    PRelu => activation::PRELU, older: [activation::PRELU_9],
    ThresholdedRelu => activation::THRESHOLDED_RELU, older: [activation::THRESHOLDED_RELU_10],
    Shrink => activation::SHRINK,
    HardSigmoid => activation::HARD_SIGMOID, older: [activation::HARD_SIGMOID_6],
    HardSwish => activation::HARD_SWISH, older: [activation::HARD_SWISH_14],
    Mish => activation::MISH, older: [activation::MISH_18],
    Softsign => activation::SOFTSIGN, older: [activation::SOFTSIGN_1],
    Abs => activation::ABS, older: [activation::ABS_6],
    Ceil => activation::CEIL, older: [activation::CEIL_6],
    Floor => activation::FLOOR, older: [activation::FLOOR_6],
    Round => activation::ROUND, older: [activation::ROUND_11],
    Sign => activation::SIGN, older: [activation::SIGN_9],
    Sin => activation::SIN, older: [activation::SIN_7],
    Cos => activation::COS, older: [activation::COS_7],
    Tan => activation::TAN, older: [activation::TAN_7],
    Asin => activation::ASIN, older: [activation::ASIN_7],
    Acos => activation::ACOS, older: [activation::ACOS_7],
    Atan => activation::ATAN, older: [activation::ATAN_7],
    Sinh => activation::SINH, older: [activation::SINH_9],
    Cosh => activation::COSH, older: [activation::COSH_9],
    Asinh => activation::ASINH, older: [activation::ASINH_9],
    Acosh => activation::ACOSH, older: [activation::ACOSH_9],
    Atanh => activation::ATANH, older: [activation::ATANH_9],
    IsNaN => activation::IS_NAN, older: [activation::IS_NAN_9, activation::IS_NAN_13],
    IsInf => activation::IS_INF, older: [activation::IS_INF_10],
    Not => activation::NOT,
    // issue 17: binary/variadic math, comparison, logic, bitwise
    Pow => logic::POW, older: [logic::POW_7, logic::POW_12, logic::POW_13],
    Max => variadic::MAX, older: [variadic::MAX_8, variadic::MAX_12],
    Min => variadic::MIN, older: [variadic::MIN_8, variadic::MIN_12],
    Mean => variadic::MEAN, older: [variadic::MEAN_8],
    Sum => variadic::SUM, older: [variadic::SUM_8],
    Mod => logic::MOD, older: [logic::MOD_10],
    Equal => logic::EQUAL, older: [logic::EQUAL_11, logic::EQUAL_13],
    Less => logic::LESS, older: [logic::LESS_9],
    LessOrEqual => logic::LESS_OR_EQUAL, older: [logic::LESS_OR_EQUAL_12],
    Greater => logic::GREATER, older: [logic::GREATER_9],
    GreaterOrEqual => logic::GREATER_OR_EQUAL, older: [logic::GREATER_OR_EQUAL_12],
    And => logic::AND,
    Or => logic::OR,
    Xor => logic::XOR,
    BitShift => logic::BIT_SHIFT,
    BitwiseAnd => logic::BITWISE_AND,
    BitwiseOr => logic::BITWISE_OR,
    BitwiseXor => logic::BITWISE_XOR,
    BitwiseNot => logic::BITWISE_NOT,
    // issue 17: normalization and reductions
    BatchNormalization => normalize::BATCH_NORMALIZATION,
        older: [normalize::BATCH_NORMALIZATION_9, normalize::BATCH_NORMALIZATION_14],
    ReduceMin => reduce_more::REDUCE_MIN_20, older: [reduce_more::REDUCE_MIN_11, reduce_more::REDUCE_MIN],
    ReduceProd => reduce_more::REDUCE_PROD, older: [reduce_more::REDUCE_PROD_11],
    ReduceL1 => reduce_more::REDUCE_L1, older: [reduce_more::REDUCE_L1_11],
    ReduceL2 => reduce_more::REDUCE_L2, older: [reduce_more::REDUCE_L2_11],
    ReduceLogSum => reduce_more::REDUCE_LOG_SUM, older: [reduce_more::REDUCE_LOG_SUM_11],
    ReduceLogSumExp => reduce_more::REDUCE_LOG_SUM_EXP,
        older: [reduce_more::REDUCE_LOG_SUM_EXP_11],
    ReduceSumSquare => reduce_more::REDUCE_SUM_SQUARE,
        older: [reduce_more::REDUCE_SUM_SQUARE_11],
    ArgMax => reduce_more::ARGMAX, older: [reduce_more::ARGMAX_11],
    ArgMin => reduce_more::ARGMIN, older: [reduce_more::ARGMIN_11],
    CumSum => reduce_more::CUMSUM,
    Hardmax => reduce_more::HARDMAX, older: [reduce_more::HARDMAX_11],
    // issue 17: Resize and friends
    Resize => resize::RESIZE_19, older: [resize::RESIZE_11, resize::RESIZE_13, resize::RESIZE_18],
    // issue 17: shape and indexing
    Slice => indexing::SLICE, older: [indexing::SLICE_10, indexing::SLICE_11],
    Squeeze => widened::SQUEEZE_25, older: [
        indexing::SQUEEZE_11,
        indexing::SQUEEZE,
        widened::SQUEEZE_21,
        widened::SQUEEZE_23,
        widened::SQUEEZE_24,
    ],
    Unsqueeze => widened::UNSQUEEZE_25, older: [
        indexing::UNSQUEEZE_11,
        indexing::UNSQUEEZE,
        widened::UNSQUEEZE_21,
        widened::UNSQUEEZE_23,
        widened::UNSQUEEZE_24,
    ],
    Shape => widened::SHAPE_25, older: [
        indexing::SHAPE_1,
        indexing::SHAPE_13,
        indexing::SHAPE,
        widened::SHAPE_19,
        widened::SHAPE_21,
        widened::SHAPE_23,
        widened::SHAPE_24,
    ],
    Size => widened::SIZE_25, older: [
        indexing::SIZE_1,
        indexing::SIZE,
        widened::SIZE_19,
        widened::SIZE_21,
        widened::SIZE_23,
        widened::SIZE_24,
    ],
    Identity => widened::IDENTITY_25, older: [
        indexing::IDENTITY_1,
        indexing::IDENTITY,
        widened::IDENTITY_19,
        widened::IDENTITY_21,
        widened::IDENTITY_23,
        widened::IDENTITY_24,
    ],
    Flatten => widened::FLATTEN_25, older: [
        indexing::FLATTEN_11,
        indexing::FLATTEN,
        widened::FLATTEN_21,
        widened::FLATTEN_23,
        widened::FLATTEN_24,
    ],
    Expand => indexing::EXPAND, older: [indexing::EXPAND_8],
    Tile => indexing::TILE, older: [indexing::TILE_6],
    ConstantOfShape => constant::CONSTANT_OF_SHAPE_24, older: [constant::CONSTANT_OF_SHAPE_9, constant::CONSTANT_OF_SHAPE_20, constant::CONSTANT_OF_SHAPE_21, constant::CONSTANT_OF_SHAPE_23],
    Range => indexing::RANGE, older: [indexing::RANGE_11],
    Pad => widened::PAD_25, older: [
        indexing::PAD_11,
        indexing::PAD_13,
        indexing::PAD_18,
        indexing::PAD,
        widened::PAD_21,
        widened::PAD_23,
        widened::PAD_24,
    ],
    Split => indexing::SPLIT, older: [indexing::SPLIT_11, indexing::SPLIT_13],
    EyeLike => indexing::EYE_LIKE,
    Trilu => indexing::TRILU,
    ScatterND => indexing::SCATTER_ND, older: [indexing::SCATTER_ND_11, indexing::SCATTER_ND_13, indexing::SCATTER_ND_16],
    // issue 17: convolution and pooling
    Conv => conv::CONV,
    MaxPool => conv::MAXPOOL, older: [conv::MAXPOOL_11],
    AveragePool => conv::AVERAGEPOOL, older: [conv::AVERAGEPOOL_11],
    GlobalAveragePool => conv::GLOBAL_AVERAGEPOOL,
    GlobalMaxPool => conv::GLOBAL_MAXPOOL,
    // issue 17: linear algebra and spatial sampling
    Einsum => einsum::EINSUM,
    Det => einsum::DET, older: [einsum::DET_11],
    Col2Im => sample::COL2IM,
    // issue 17: recurrent
    LSTM => recurrent::LSTM, older: [recurrent::LSTM_7, recurrent::LSTM_14],
    GRU => recurrent::GRU, older: [recurrent::GRU_7, recurrent::GRU_14],
    RNN => recurrent::RNN, older: [recurrent::RNN_7, recurrent::RNN_14],
    // issue 17: data-dependent output shapes
    NonZero => dynamic::NONZERO, older: [dynamic::NONZERO_9],
    Compress => dynamic::COMPRESS, older: [dynamic::COMPRESS_9],
    Unique => dynamic::UNIQUE,
    NonMaxSuppression => dynamic::NON_MAX_SUPPRESSION, older: [dynamic::NON_MAX_SUPPRESSION_10],
    // issue 17: gather, scatter and index movement
    GatherElements => gather::GATHER_ELEMENTS, older: [gather::GATHER_ELEMENTS_11],
    GatherND => gather::GATHER_ND, older: [gather::GATHER_ND_11, gather::GATHER_ND_12],
    ScatterElements => gather::SCATTER_ELEMENTS,
        older: [gather::SCATTER_ELEMENTS_11, gather::SCATTER_ELEMENTS_13, gather::SCATTER_ELEMENTS_16],
    DepthToSpace => gather::DEPTH_TO_SPACE, older: [gather::DEPTH_TO_SPACE_11],
    SpaceToDepth => gather::SPACE_TO_DEPTH, older: [gather::SPACE_TO_DEPTH_1],
    OneHot => gather::ONE_HOT,
    CumProd => reduce_more::CUMPROD,
    ReverseSequence => gather::REVERSE_SEQUENCE,
    // issue 17: normalization family 2
    InstanceNormalization => normalize2::INSTANCE_NORMALIZATION,
        older: [normalize2::INSTANCE_NORMALIZATION_6],
    GroupNormalization => normalize2::GROUP_NORMALIZATION,
        older: [normalize2::GROUP_NORMALIZATION_18],
    MeanVarianceNormalization => normalize2::MEAN_VARIANCE_NORMALIZATION,
        older: [normalize2::MEAN_VARIANCE_NORMALIZATION_9],
    LpNormalization => normalize2::LP_NORMALIZATION, older: [normalize2::LP_NORMALIZATION_1],
    LRN => normalize2::LRN, older: [normalize2::LRN_1],
    Dropout => normalize2::DROPOUT,
        older: [normalize2::DROPOUT_10, normalize2::DROPOUT_12, normalize2::DROPOUT_13],
    CastLike => normalize2::CAST_LIKE, older: [
        normalize2::CAST_LIKE_15,
        normalize2::CAST_LIKE_19,
        normalize2::CAST_LIKE_21,
        normalize2::CAST_LIKE_23,
        normalize2::CAST_LIKE_24,
    ],
    // issue 17: convolution transpose and quantized linear algebra
    ConvTranspose => conv_transpose::CONV_TRANSPOSE,
    // issue 17: integer-quantized ops and the last pooling ops
    MatMulInteger => quant_int::MATMUL_INTEGER,
    QLinearMatMul => quant_int::QLINEAR_MATMUL, older: [quant_int::QLINEAR_MATMUL_10],
    ConvInteger => quant_int::CONV_INTEGER,
    QLinearConv => quant_int::QLINEAR_CONV,
    DynamicQuantizeLinear => quant_int::DYNAMIC_QUANTIZE_LINEAR,
    LpPool => pool_more::LP_POOL, older: [pool_more::LP_POOL_11, pool_more::LP_POOL_18],
    MaxUnpool => pool_more::MAX_UNPOOL, older: [pool_more::MAX_UNPOOL_11],
    // issue 18: DeepSeek
    MoeGatingTopK => moe::MOE_GATING_TOPK,
    // issue 17: spatial sampling
    GridSample => grid::GRID_SAMPLE, older: [grid::GRID_SAMPLE_16, grid::GRID_SAMPLE_20],
    AffineGrid => grid::AFFINE_GRID,
    RoiAlign => grid::ROI_ALIGN, older: [grid::ROI_ALIGN_10, grid::ROI_ALIGN_16],
    CenterCropPad => grid::CENTER_CROP_PAD,
    // issue 17: optional outputs, tensor attributes, opset 24
    Swish => opset24::SWISH,
    TensorScatter => opset24::TENSOR_SCATTER,
    // issue 18: mla
    MlaAttention => mla::MLA_ATTENTION,
    // issue 18: fp8
    Fp8BlockGemm => fp8::FP8_BLOCK_GEMM,
    // issue 17: attrs
    Constant => constant::CONSTANT_24, older: [constant::CONSTANT_11, constant::CONSTANT_12, constant::CONSTANT_13, constant::CONSTANT_19, constant::CONSTANT_21, constant::CONSTANT_23],
    BitCast => bitcast::BIT_CAST,
}

impl Op {
    /// Looks an operator up by ONNX name (case-sensitive, as in ONNX).
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.iter().copied().find(|op| op.name == name)
    }

    /// The version that serves a model at `opset` (the newest version whose
    /// `since_version` is at most `opset`), or `None` when `opset` is older
    /// than every implemented version.
    pub fn def_at(self, opset: i64) -> Option<&'static OpDef> {
        self.versions()
            .iter()
            .rev()
            .find(|d| d.spec.opset <= opset)
            .copied()
    }

    /// The opsets that introduced each implemented version, oldest first.
    pub fn opsets(self) -> impl Iterator<Item = i64> {
        self.versions().iter().map(|d| d.spec.opset)
    }

    /// The ONNX operator name.
    pub fn name(self) -> &'static str {
        self.def().spec.name
    }

    /// The ONNX specification part of the definition.
    pub fn spec(self) -> &'static OpSpec {
        &self.def().spec
    }

    /// The output dtypes and shapes of a call at the newest version (see
    /// [`OpDef::output_shapes`]).
    pub fn output_shapes(
        self,
        attrs: &Attributes,
        inputs: &[Option<TypedShape>],
        values: &mut dyn FnMut(usize) -> Vec<f64>,
    ) -> std::result::Result<Vec<TypedShape>, String> {
        self.def().output_shapes(attrs, inputs, values)
    }

    /// The work of a call at the newest version.
    pub fn work(self, attrs: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
        self.def().work(attrs, inputs)
    }

    /// The default check at the newest version (see [`OpDef::default_check`]).
    pub fn default_check(
        self,
        dtype: DType,
        attrs: &Attributes,
        input_shapes: &[Option<Vec<usize>>],
        output_shape: &[usize],
    ) -> CheckSpec {
        self.def()
            .default_check(dtype, attrs, input_shapes, output_shape)
    }
}

impl OpDef {
    /// The output dtypes and shapes of a call (see [`ShapeFn`]), after the
    /// input dtypes are checked against the spec.
    pub fn output_shapes(
        &self,
        attrs: &Attributes,
        inputs: &[Option<TypedShape>],
        values: &mut dyn FnMut(usize) -> Vec<f64>,
    ) -> std::result::Result<Vec<TypedShape>, String> {
        self.requested_shapes(attrs, inputs, values, None)
    }

    /// [`OpDef::output_shapes`] of a call requesting `requested` outputs
    /// (`None`: [`OpDef::required_outputs`]): the first `requested` of the
    /// op's outputs, or, for an op whose count the call decides (Split),
    /// that many; a count the op cannot give is an error.
    pub fn requested_shapes(
        &self,
        attrs: &Attributes,
        inputs: &[Option<TypedShape>],
        values: &mut dyn FnMut(usize) -> Vec<f64>,
        requested: Option<usize>,
    ) -> std::result::Result<Vec<TypedShape>, String> {
        let dtypes: Vec<Option<DType>> = inputs.iter().map(|i| i.as_ref().map(|t| t.0)).collect();
        let named = |m: String| format!("{}: {m}", self.spec.name);
        self.spec.check_inputs(&dtypes).map_err(named)?;
        if let Some(n) = requested {
            self.check_requested(n).map_err(named)?;
        }
        let mut shapes = match (requested, outputs::counted_shape(&self.spec)) {
            (Some(n), Some(counted)) => counted(attrs, inputs, values, self.spec.opset, n),
            _ => (self.shape)(attrs, inputs, values),
        }
        .map_err(named)?;
        if self.spec.outputs != 0 {
            shapes.truncate(requested.unwrap_or_else(|| self.required_outputs()));
        }
        Ok(shapes)
    }

    /// The outputs a call must request, and requests when it names no
    /// count: the op's outputs but its optional trailing ones
    /// (LayerNormalization, Attention: 1), 0 for an op whose count the
    /// call decides (Split).
    pub fn required_outputs(&self) -> usize {
        outputs::required(&self.spec)
    }

    /// Whether a call may request `n` outputs: from
    /// [`OpDef::required_outputs`] to `spec.outputs`, or any positive count
    /// where the call decides it (the parts must then agree: the shape rule
    /// and the oracle judge that).
    pub fn check_requested(&self, n: usize) -> std::result::Result<(), String> {
        outputs::check_requested(&self.spec, n)
    }

    /// The outputs whose shape depends on the input values (NonZero,
    /// Compress, Unique, NonMaxSuppression): the shape rule gives an upper
    /// bound for them, the harness allocates that and the backend reports
    /// the actual shape (ABI minor 2). Empty for every other op.
    pub fn data_dependent_outputs(&self) -> &'static [usize] {
        dynamic::data_dependent(&self.spec).map_or(&[], |d| d.outputs)
    }

    /// Puts output `i`'s values in the canonical order of what the spec
    /// leaves open, for comparing a backend's (or a published) output with
    /// the oracle's: the rows of an output the spec calls a set
    /// (NonMaxSuppression's `selected_indices`) are sorted; every other
    /// output is left as it is. The oracle's outputs are already canonical.
    pub fn canonical_order(&self, i: usize, values: &mut ndarray::ArrayD<f64>) {
        if dynamic::data_dependent(&self.spec).is_some_and(|d| d.row_sets.contains(&i)) {
            dynamic::sort_rows(values);
        }
    }

    /// The work of a call with these attributes and input shapes.
    pub fn work(&self, attrs: &Attributes, inputs: &[Option<&[usize]>]) -> Work {
        (self.cost)(attrs, inputs)
    }

    /// The check this version gets by default for an output of `dtype`,
    /// given the input shapes and that output's shape.
    pub fn default_check(
        &self,
        dtype: DType,
        attrs: &Attributes,
        input_shapes: &[Option<Vec<usize>>],
        output_shape: &[usize],
    ) -> CheckSpec {
        let terms = (self.terms)(attrs, input_shapes, output_shape);
        crate::numerics::check::default_check(self.check, dtype, terms)
    }
}

impl std::ops::Deref for Op {
    type Target = OpSpec;
    fn deref(&self) -> &OpSpec {
        self.spec()
    }
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Names of all known operators, in registry order (suite and report order,
/// "did you mean" messages).
pub fn names() -> impl Iterator<Item = &'static str> {
    Op::ALL.iter().map(|op| op.name())
}

#[cfg(test)]
mod tests;
