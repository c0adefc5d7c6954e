//! What the backend supports, decided in one place.
//!
//! [`check`] is the only function that answers "is this call supported?"; both
//! `query_op` and `run_op` call it, so they cannot disagree, and the manifest
//! is generated from the same [`OPS`] table.

use xpucert_abi::{AttrValue, Attribute, BackendError, DType};

/// Metadata of one tensor of a call: what support depends on. (Shapes are
/// not part of it: they are the kernels' to validate.)
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    /// Element type.
    pub dtype: DType,
    /// True when the data lives in host memory.
    pub host: bool,
}

/// One operator call as the backend sees it, without tensor data.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    /// `""` for ONNX.
    pub domain: &'a str,
    /// ONNX operator name.
    pub op_type: &'a str,
    /// Opset whose semantics apply.
    pub opset: i64,
    /// Attributes as given.
    pub attrs: Attrs<'a>,
    /// Inputs, positional; `None` for an omitted optional input.
    pub inputs: Vec<Option<Meta>>,
    /// Dtypes of the outputs the caller allocated (their number is how many
    /// outputs are wanted).
    pub output_dtypes: Vec<DType>,
}

impl Invocation<'_> {
    /// Input `i`'s metadata, or an invalid-argument error if it is absent.
    pub fn input(&self, i: usize) -> Result<&Meta, BackendError> {
        self.inputs.get(i).and_then(Option::as_ref).ok_or_else(|| {
            BackendError::invalid(format!("{}: input {i} is required", self.op_type))
        })
    }

    /// Input `i`'s dtype if the input is present.
    fn dtype(&self, i: usize) -> Option<DType> {
        self.inputs.get(i).and_then(Option::as_ref).map(|m| m.dtype)
    }
}

/// Typed access to a call's attributes with ONNX defaults.
#[derive(Debug, Clone, Copy)]
pub struct Attrs<'a>(pub &'a [Attribute<'a>]);

impl<'a> Attrs<'a> {
    fn get(&self, name: &str) -> Option<AttrValue<'a>> {
        self.0.iter().find(|a| a.name == name).map(|a| a.value)
    }

    /// True when the attribute was given.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Integer attribute or `default`.
    pub fn int(&self, name: &str, default: i64) -> Result<i64, BackendError> {
        match self.get(name) {
            None => Ok(default),
            Some(AttrValue::Int(v)) => Ok(v),
            Some(v) => Err(type_error(name, "an int", v)),
        }
    }

    /// Float attribute or `default` (an int is accepted and widened).
    pub fn float(&self, name: &str, default: f64) -> Result<f64, BackendError> {
        match self.get(name) {
            None => Ok(default),
            Some(AttrValue::Float(v)) => Ok(v),
            Some(AttrValue::Int(v)) => Ok(v as f64),
            Some(v) => Err(type_error(name, "a float", v)),
        }
    }

    /// String attribute or `default`.
    pub fn string(&self, name: &str, default: &'a str) -> Result<&'a str, BackendError> {
        match self.get(name) {
            None => Ok(default),
            Some(AttrValue::String(v)) => Ok(v),
            Some(v) => Err(type_error(name, "a string", v)),
        }
    }

    /// Int-list attribute, if given.
    pub fn ints(&self, name: &str) -> Result<Option<&'a [i64]>, BackendError> {
        match self.get(name) {
            None => Ok(None),
            Some(AttrValue::Ints(v)) => Ok(Some(v)),
            Some(v) => Err(type_error(name, "a list of ints", v)),
        }
    }

    /// Tensor attribute (ABI minor 3), if given.
    pub fn tensor(&self, name: &str) -> Result<Option<xpucert_abi::TensorRef<'a>>, BackendError> {
        match self.get(name) {
            None => Ok(None),
            Some(AttrValue::Tensor(t)) => Ok(Some(t)),
            Some(v) => Err(type_error(name, "a tensor", v)),
        }
    }
}

fn type_error(name: &str, want: &str, got: AttrValue<'_>) -> BackendError {
    BackendError::invalid(format!("attribute {name} must be {want}, got {got:?}"))
}

/// One supported operator: the opsets whose semantics are implemented, the
/// dtypes of its main input, and its input/output counts.
#[derive(Debug, Clone, Copy)]
pub struct OpInfo {
    /// `""` for ONNX, `"xpucert"` for the harness's own operators.
    pub domain: &'static str,
    /// Operator name.
    pub name: &'static str,
    /// Opsets accepted.
    pub opsets: &'static [i64],
    /// Dtypes of the main (first data) input, as listed in the manifest.
    pub dtypes: &'static [DType],
    /// Inputs that must be present.
    pub required_inputs: usize,
    /// Most inputs accepted (`usize::MAX` for variadic).
    pub max_inputs: usize,
    /// Most outputs produced.
    pub max_outputs: usize,
}

const FLOATS: &[DType] = &[DType::F32, DType::F16, DType::BF16, DType::F64];
const FLOATS_AND_INTS: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I32,
    DType::I64,
];
/// Every integer dtype.
const INTS: &[DType] = &[
    DType::I8,
    DType::U8,
    DType::I16,
    DType::U16,
    DType::I32,
    DType::U32,
    DType::I64,
    DType::U64,
];
/// Add, Sub, Mul, Div, and the values TopK orders: the floats and every
/// integer dtype.
const ARITHMETIC: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I8,
    DType::U8,
    DType::I16,
    DType::U16,
    DType::I32,
    DType::U32,
    DType::I64,
    DType::U64,
];
/// The numeric types the comparisons, Max, Min and Mod take (ONNX's
/// `tensor(numeric)` without fp8): the same list as [`ARITHMETIC`].
const NUMERIC: &[DType] = ARITHMETIC;
/// Equal's, and ReduceMax/ReduceMin-20's: the numeric types and bool.
const COMPARABLE: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I8,
    DType::U8,
    DType::I16,
    DType::U16,
    DType::I32,
    DType::U32,
    DType::I64,
    DType::U64,
    DType::Bool,
];
/// BitShift's: the unsigned integers.
const UNSIGNED: &[DType] = &[DType::U8, DType::U16, DType::U32, DType::U64];
/// Pow's base (`T`).
const POW_BASE: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I32,
    DType::I64,
];
/// Dtypes of the data-movement ops and of Cast (both sides).
const MOVABLE: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I64,
    DType::I32,
    DType::I8,
    DType::U8,
    DType::Bool,
    DType::F8E4M3FN,
    DType::F8E5M2,
];
/// The structural ops' dtypes from the versions that widened their `T`
/// (Reshape, Transpose, Identity, Flatten, Squeeze, Unsqueeze, Shape, Size,
/// Pad): the movable ones and the narrow types (fp8 fnuz from 19, int4/uint4
/// from 21, FP4 E2M1 from 23, E8M0 from 24, int2/uint2 from 25), which they
/// only move. As for Cast, the harness sends each only where it is valid.
const MOVABLE_NARROW: &[DType] = CAST_TYPES;
/// Cast's and CastLike's dtypes (both sides): the movable ones and the
/// narrow types ONNX adds for them (fp8 fnuz from 19, int4/uint4 from 21,
/// FP4 E2M1 from 23, E8M0 from 24, int2/uint2 from 25; the reference takes
/// them at every version it registers, the harness sends each only where it
/// is valid).
const CAST_TYPES: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I64,
    DType::I32,
    DType::I8,
    DType::U8,
    DType::Bool,
    DType::F8E4M3FN,
    DType::F8E5M2,
    DType::F8E4M3FNUZ,
    DType::F8E5M2FNUZ,
    DType::F8E8M0,
    DType::F4E2M1,
    DType::I4,
    DType::U4,
    DType::I2,
    DType::U2,
];
/// Dtypes of the integer-capable activations (Clip, Abs, Sign, Shrink):
/// the floats and the integers of 8 to 64 bits but u32 and u64.
const ACTIVATION_TYPES: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I64,
    DType::I32,
    DType::I16,
    DType::I8,
    DType::U16,
    DType::U8,
];
/// Dtypes IsNaN and IsInf classify: every float, fp8 included.
const CLASSIFIED: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::F8E4M3FN,
    DType::F8E5M2,
];
/// Dtypes QuantizeLinear quantizes from (its `x` and `y_scale`).
/// ONNX also allows int32 `x`; not implemented.
const QUANTIZE_FROM: &[DType] = &[DType::F32, DType::F16, DType::BF16];
/// The QuantizeLinear and DequantizeLinear versions implemented: every one
/// that changed them (25 adds only the 2-bit integers).
const Q_OPSETS: &[i64] = &[10, 13, 19, 21, 23, 24, 25];
/// Dtypes QuantizeLinear produces and DequantizeLinear reads (besides i32).
const QUANTIZED: &[DType] = &[
    DType::I8,
    DType::U8,
    DType::I16,
    DType::U16,
    DType::F8E4M3FN,
    DType::F8E5M2,
    DType::F8E4M3FNUZ,
    DType::F8E5M2FNUZ,
    DType::I4,
    DType::U4,
    DType::F4E2M1,
    DType::I2,
    DType::U2,
];
/// Dtypes DequantizeLinear reads.
const DEQUANTIZE_FROM: &[DType] = &[
    DType::I8,
    DType::U8,
    DType::I16,
    DType::U16,
    DType::I32,
    DType::F8E4M3FN,
    DType::F8E5M2,
    DType::F8E4M3FNUZ,
    DType::F8E5M2FNUZ,
    DType::I4,
    DType::U4,
    DType::F4E2M1,
    DType::I2,
    DType::U2,
];

/// The 8-bit quantized types of MatMulInteger, ConvInteger and the QLinear
/// ops.
const Q8: &[DType] = &[DType::U8, DType::I8];
/// QLinearMatMul-21's scales (10: f32 only).
const SCALES_21: &[DType] = &[DType::F32, DType::F16, DType::BF16];

/// MaxPool's input dtypes: the floats, and int8/uint8 from opset 12.
const MAXPOOL_TYPES: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I8,
    DType::U8,
];

const fn op(
    name: &'static str,
    opset: &'static [i64],
    dtypes: &'static [DType],
    inputs: (usize, usize),
    max_outputs: usize,
) -> OpInfo {
    OpInfo {
        domain: "",
        name,
        opsets: opset,
        dtypes,
        required_inputs: inputs.0,
        max_inputs: inputs.1,
        max_outputs,
    }
}

/// An operator of the `xpucert` domain (specified in `docs/ops/`).
const fn xop(
    name: &'static str,
    dtypes: &'static [DType],
    inputs: (usize, usize),
    max_outputs: usize,
) -> OpInfo {
    OpInfo {
        domain: "xpucert",
        ..op(name, &[1], dtypes, inputs, max_outputs)
    }
}

/// Every operator the backend implements.
pub const OPS: &[OpInfo] = &[
    op("Add", &[14], ARITHMETIC, (2, 2), 1),
    op("Sub", &[14], ARITHMETIC, (2, 2), 1),
    op("Mul", &[14], ARITHMETIC, (2, 2), 1),
    op("Div", &[14], ARITHMETIC, (2, 2), 1),
    op("Neg", &[13], FLOATS, (1, 1), 1),
    op("Exp", &[13], FLOATS, (1, 1), 1),
    op("Log", &[13], FLOATS, (1, 1), 1),
    op("Sqrt", &[13], FLOATS, (1, 1), 1),
    op("Reciprocal", &[13], FLOATS, (1, 1), 1),
    op("Tanh", &[13], FLOATS, (1, 1), 1),
    op("Sigmoid", &[13], FLOATS, (1, 1), 1),
    op("Relu", &[14], FLOATS, (1, 1), 1),
    op("Erf", &[13], FLOATS, (1, 1), 1),
    op("Softplus", &[22], FLOATS, (1, 1), 1),
    op("Gelu", &[20], FLOATS, (1, 1), 1),
    op("MatMul", &[13], FLOATS, (2, 2), 1),
    op("Gemm", &[13], FLOATS, (2, 3), 1),
    op("ReduceSum", &[11, 13], FLOATS, (1, 2), 1),
    op("ReduceMean", &[11, 13, 18], FLOATS, (1, 2), 1),
    op("ReduceMax", &[11, 12, 13, 18, 20], COMPARABLE, (1, 2), 1),
    op("Softmax", &[13], FLOATS, (1, 1), 1),
    op("LogSoftmax", &[13], FLOATS, (1, 1), 1),
    op("LayerNormalization", &[17], FLOATS, (2, 3), 3),
    op("RMSNormalization", &[23], FLOATS, (2, 2), 1),
    op("Gather", &[13], MOVABLE, (2, 2), 1),
    op("Transpose", &[21, 23, 24, 25], MOVABLE_NARROW, (1, 1), 1),
    op("Reshape", &[21, 23, 24, 25], MOVABLE_NARROW, (2, 2), 1),
    op("Concat", &[13], MOVABLE, (1, usize::MAX), 1),
    op("Where", &[16], MOVABLE, (3, 3), 1),
    op("Cast", &[21, 23, 24, 25], CAST_TYPES, (1, 1), 1),
    op("TopK", &[11], ARITHMETIC, (2, 2), 2),
    op("RotaryEmbedding", &[23], FLOATS, (3, 4), 1),
    op("Attention", &[23, 24], FLOATS, (3, 7), 4),
    op("QuantizeLinear", Q_OPSETS, QUANTIZE_FROM, (2, 3), 1),
    op("DequantizeLinear", Q_OPSETS, DEQUANTIZE_FROM, (2, 3), 1),
    // issue 17: activations and unary math
    op("Clip", &[6, 11, 12, 13], ACTIVATION_TYPES, (1, 3), 1),
    op("Elu", &[6, 22], FLOATS, (1, 1), 1),
    op("Selu", &[6, 22], FLOATS, (1, 1), 1),
    op("Celu", &[12], &[DType::F32], (1, 1), 1),
    op("LeakyRelu", &[6, 16], FLOATS, (1, 1), 1),
    op("PRelu", &[9, 16], FLOATS_AND_INTS, (2, 2), 1),
    op("ThresholdedRelu", &[10, 22], FLOATS, (1, 1), 1),
    op("Shrink", &[9], ACTIVATION_TYPES, (1, 1), 1),
    op("HardSigmoid", &[6, 22], FLOATS, (1, 1), 1),
    op("HardSwish", &[14, 22], FLOATS, (1, 1), 1),
    op("Mish", &[18, 22], FLOATS, (1, 1), 1),
    op("Softsign", &[1, 22], FLOATS, (1, 1), 1),
    op("Abs", &[6, 13], ACTIVATION_TYPES, (1, 1), 1),
    op("Ceil", &[6, 13], FLOATS, (1, 1), 1),
    op("Floor", &[6, 13], FLOATS, (1, 1), 1),
    op("Round", &[11, 22], FLOATS, (1, 1), 1),
    op("Sign", &[9, 13], ACTIVATION_TYPES, (1, 1), 1),
    op("Sin", &[7, 22], FLOATS, (1, 1), 1),
    op("Cos", &[7, 22], FLOATS, (1, 1), 1),
    op("Tan", &[7, 22], FLOATS, (1, 1), 1),
    op("Asin", &[7, 22], FLOATS, (1, 1), 1),
    op("Acos", &[7, 22], FLOATS, (1, 1), 1),
    op("Atan", &[7, 22], FLOATS, (1, 1), 1),
    op("Sinh", &[9, 22], FLOATS, (1, 1), 1),
    op("Cosh", &[9, 22], FLOATS, (1, 1), 1),
    op("Asinh", &[9, 22], FLOATS, (1, 1), 1),
    op("Acosh", &[9, 22], FLOATS, (1, 1), 1),
    op("Atanh", &[9, 22], FLOATS, (1, 1), 1),
    op("IsNaN", &[9, 13, 20], CLASSIFIED, (1, 1), 1),
    op("IsInf", &[10, 20], CLASSIFIED, (1, 1), 1),
    op("Not", &[1], &[DType::Bool], (1, 1), 1),
    // issue 17: binary/variadic math, comparison, logic, bitwise
    op("Pow", &[7, 12, 13, 15], POW_BASE, (2, 2), 1),
    op("Max", &[8, 12, 13], NUMERIC, (1, usize::MAX), 1),
    op("Min", &[8, 12, 13], NUMERIC, (1, usize::MAX), 1),
    op("Mean", &[8, 13], FLOATS, (1, usize::MAX), 1),
    op("Sum", &[8, 13], FLOATS, (1, usize::MAX), 1),
    op("Mod", &[10, 13], NUMERIC, (2, 2), 1),
    op("Equal", &[11, 13, 19], COMPARABLE, (2, 2), 1),
    op("Less", &[9, 13], NUMERIC, (2, 2), 1),
    op("LessOrEqual", &[12, 16], NUMERIC, (2, 2), 1),
    op("Greater", &[9, 13], NUMERIC, (2, 2), 1),
    op("GreaterOrEqual", &[12, 16], NUMERIC, (2, 2), 1),
    op("And", &[7], &[DType::Bool], (2, 2), 1),
    op("Or", &[7], &[DType::Bool], (2, 2), 1),
    op("Xor", &[7], &[DType::Bool], (2, 2), 1),
    op("BitShift", &[11], UNSIGNED, (2, 2), 1),
    op("BitwiseAnd", &[18], INTS, (2, 2), 1),
    op("BitwiseOr", &[18], INTS, (2, 2), 1),
    op("BitwiseXor", &[18], INTS, (2, 2), 1),
    op("BitwiseNot", &[18], INTS, (1, 1), 1),
    // issue 17: normalization and reductions
    op("BatchNormalization", &[9, 14, 15], FLOATS, (5, 5), 1),
    op("ReduceMin", &[11, 12, 13, 18, 20], COMPARABLE, (1, 2), 1),
    op("ReduceProd", &[11, 13, 18], FLOATS, (1, 2), 1),
    op("ReduceL1", &[11, 13, 18], FLOATS, (1, 2), 1),
    op("ReduceL2", &[11, 13, 18], FLOATS, (1, 2), 1),
    op("ReduceLogSum", &[11, 13, 18], FLOATS, (1, 2), 1),
    op("ReduceLogSumExp", &[11, 13, 18], FLOATS, (1, 2), 1),
    op("ReduceSumSquare", &[11, 13, 18], FLOATS, (1, 2), 1),
    op("ArgMax", &[11, 12, 13], FLOATS_AND_INTS, (1, 1), 1),
    op("ArgMin", &[11, 12, 13], FLOATS_AND_INTS, (1, 1), 1),
    op("CumSum", &[11, 14], FLOATS_AND_INTS, (2, 2), 1),
    op("Hardmax", &[11, 13], FLOATS, (1, 1), 1),
    // issue 17: Resize and friends
    op("Resize", &[11, 13, 18, 19], RESIZABLE, (1, 4), 1),
    // issue 17: shape and indexing
    op("Slice", &[10, 11, 13], MOVABLE, (3, 5), 1),
    op(
        "Squeeze",
        &[11, 13, 21, 23, 24, 25],
        MOVABLE_NARROW,
        (1, 2),
        1,
    ),
    op(
        "Unsqueeze",
        &[11, 13, 21, 23, 24, 25],
        MOVABLE_NARROW,
        (1, 2),
        1,
    ),
    op(
        "Shape",
        &[1, 13, 15, 19, 21, 23, 24, 25],
        MOVABLE_NARROW,
        (1, 1),
        1,
    ),
    op(
        "Size",
        &[1, 13, 19, 21, 23, 24, 25],
        MOVABLE_NARROW,
        (1, 1),
        1,
    ),
    op(
        "Identity",
        &[1, 16, 19, 21, 23, 24, 25],
        MOVABLE_NARROW,
        (1, 1),
        1,
    ),
    op(
        "Flatten",
        &[11, 13, 21, 23, 24, 25],
        MOVABLE_NARROW,
        (1, 1),
        1,
    ),
    op("Expand", &[8, 13], MOVABLE, (2, 2), 1),
    op("Tile", &[6, 13], MOVABLE, (2, 2), 1),
    op(
        "ConstantOfShape",
        &[9, 20, 21, 23, 24],
        &[DType::I64],
        (1, 1),
        1,
    ),
    op("Range", &[11, 27], RANGE, (3, 3), 1),
    op(
        "Pad",
        &[11, 13, 18, 19, 21, 23, 24, 25],
        MOVABLE_NARROW,
        (2, 4),
        1,
    ),
    op("Split", &[11, 13, 18], MOVABLE, (1, 2), usize::MAX),
    op("EyeLike", &[9, 22], MOVABLE, (1, 1), 1),
    op("Trilu", &[14], MOVABLE, (1, 2), 1),
    op("ScatterND", &[11, 13, 16, 18], MOVABLE, (3, 3), 1),
    // issue 17: convolution and pooling
    op("Conv", &[11], FLOATS, (2, 3), 1),
    op("MaxPool", &[11, 12], MAXPOOL_TYPES, (1, 1), 2),
    op("AveragePool", &[11, 19], FLOATS, (1, 1), 1),
    op("GlobalAveragePool", &[1], FLOATS, (1, 1), 1),
    op("GlobalMaxPool", &[1], FLOATS, (1, 1), 1),
    // issue 17: linear algebra and spatial sampling
    op("Einsum", &[12], EINSUM_TYPES, (1, usize::MAX), 1),
    op("Det", &[11, 22], FLOATS, (1, 1), 1),
    op("Col2Im", &[18], ARITHMETIC, (3, 3), 1),
    // issue 17: recurrent
    op("LSTM", &[7, 14, 22], FLOATS, (3, 8), 3),
    op("GRU", &[7, 14, 22], FLOATS, (3, 6), 2),
    op("RNN", &[7, 14, 22], FLOATS, (3, 6), 2),
    // issue 17: data-dependent output shapes
    op("NonZero", &[9, 13], MOVABLE, (1, 1), 1),
    op("Compress", &[9, 11], MOVABLE, (2, 2), 1),
    op("Unique", &[11], MOVABLE, (1, 1), 4),
    op("NonMaxSuppression", &[10, 11], &[DType::F32], (2, 5), 1),
    // issue 17: gather, scatter and index movement
    op("GatherElements", &[11, 13], EVERY, (2, 2), 1),
    op("GatherND", &[11, 12, 13], EVERY, (2, 2), 1),
    op("ScatterElements", &[11, 13, 16, 18], EVERY, (3, 3), 1),
    op("DepthToSpace", &[11, 13], EVERY, (1, 1), 1),
    op("SpaceToDepth", &[1, 13], EVERY, (1, 1), 1),
    op("OneHot", &[11], ONE_HOT_NUMERIC, (3, 3), 1),
    op("CumProd", &[26], FLOATS_AND_INTS, (2, 2), 1),
    op("ReverseSequence", &[10], EVERY, (2, 2), 1),
    // issue 17: normalization family 2
    op("InstanceNormalization", &[6, 22], FLOATS, (3, 3), 1),
    op("GroupNormalization", &[18, 21], FLOATS, (3, 3), 1),
    op("MeanVarianceNormalization", &[9, 13], FLOATS, (1, 1), 1),
    op("LpNormalization", &[1, 22], FLOATS, (1, 1), 1),
    op("LRN", &[1, 13], FLOATS, (1, 1), 1),
    op("Dropout", &[10, 12, 13, 22], DROPOUT_TYPES, (1, 3), 2),
    op("CastLike", &[15, 19, 21, 23, 24, 25], CAST_TYPES, (2, 2), 1),
    // issue 17: convolution transpose and quantized linear algebra
    op("ConvTranspose", &[11], FLOATS, (2, 3), 1),
    // issue 17: integer-quantized ops and the last pooling ops
    op("MatMulInteger", &[10], Q8, (2, 4), 1),
    op("QLinearMatMul", &[10, 21], Q8, (8, 8), 1),
    op("ConvInteger", &[10], Q8, (2, 4), 1),
    op("QLinearConv", &[10], Q8, (8, 9), 1),
    op("DynamicQuantizeLinear", &[11], &[DType::F32], (1, 1), 3),
    op("LpPool", &[11, 18, 22], FLOATS, (1, 1), 1),
    op("MaxUnpool", &[11, 22], FLOATS, (2, 3), 1),
    // issue 18: DeepSeek
    xop("MoeGatingTopK", &[DType::F32], (1, 2), 2),
    // issue 17: spatial sampling
    op("GridSample", &[16, 20, 22], GRID_SAMPLE_TYPES, (2, 2), 1),
    op("AffineGrid", &[20], FLOATS, (2, 2), 1),
    op("RoiAlign", &[10, 16, 22], FLOATS, (3, 3), 1),
    op("CenterCropPad", &[18], CROP_TYPES, (2, 2), 1),
    // issue 17: optional outputs, tensor attributes, opset 24
    op("Swish", &[24], FLOATS, (1, 1), 1),
    op("TensorScatter", &[24], EVERY, (2, 3), 1),
    // issue 18: mla
    xop("MlaAttention", MLA_TYPES, (2, 3), 1),
    // issue 18: fp8
    xop("Fp8BlockGemm", &[DType::F8E4M3FN], (4, 4), 1),
    // issue 17: attrs (Constant's dtypes are its value's: it has no input)
    op(
        "Constant",
        &[11, 12, 13, 19, 21, 23, 24],
        &DType::ALL,
        (0, 0),
        1,
    ),
    op("BitCast", &[26], &DType::ALL, (1, 1), 1),
];

/// MlaAttention's q and cache: the floats deployments run it in, and f64.
const MLA_TYPES: &[DType] = &[DType::F32, DType::F16, DType::BF16, DType::F64];

/// GridSample's X dtypes: the floats, and for nearest (a gather) the
/// integers and bool.
const GRID_SAMPLE_TYPES: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I64,
    DType::I32,
    DType::I16,
    DType::I8,
    DType::U64,
    DType::U32,
    DType::U16,
    DType::U8,
    DType::Bool,
];
/// CenterCropPad's dtypes: every dtype but fp8 (not in ONNX's list at 18).
const CROP_TYPES: &[DType] = GRID_SAMPLE_TYPES;

/// Einsum's dtypes (ONNX's `T`: no bfloat16).
const EINSUM_TYPES: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::F64,
    DType::I8,
    DType::U8,
    DType::I16,
    DType::U16,
    DType::I32,
    DType::U32,
    DType::I64,
    DType::U64,
];

// issue 17: gather, scatter and index movement
/// Every dtype the backend's tensors hold: the index-movement ops copy
/// elements whatever they are.
const EVERY: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I64,
    DType::I32,
    DType::I16,
    DType::I8,
    DType::U64,
    DType::U32,
    DType::U16,
    DType::U8,
    DType::Bool,
    DType::F8E4M3FN,
    DType::F8E5M2,
];
/// OneHot's indices and depth (ONNX's `T1`, `T2`): the integers, float16,
/// float and double.
const ONE_HOT_NUMERIC: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::F64,
    DType::I64,
    DType::I32,
    DType::I16,
    DType::I8,
    DType::U64,
    DType::U32,
    DType::U16,
    DType::U8,
];

/// Dropout's data and ratio dtypes: the floats, fp8 included (Dropout-22).
const DROPOUT_TYPES: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::F8E4M3FN,
    DType::F8E5M2,
];

/// Dtypes Resize moves (nearest) or interpolates (the floats): every dtype
/// the backend's tensors hold but fp8, which ONNX's Resize does not take.
const RESIZABLE: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I64,
    DType::I32,
    DType::I16,
    DType::I8,
    DType::U16,
    DType::U8,
    DType::Bool,
];

/// The first opset whose Reduce* op takes its axes as an input rather than
/// an attribute: 13 for ReduceSum, 18 for the others.
fn axes_input_since(op: &str) -> i64 {
    if op == "ReduceSum" { 13 } else { 18 }
}

/// Range's dtypes: ONNX's T (Range-27 adds f16 and bf16).
const RANGE: &[DType] = &[
    DType::F32,
    DType::F64,
    DType::F16,
    DType::BF16,
    DType::I32,
    DType::I64,
    DType::I16,
];

/// The table entry for `name`.
pub fn find(domain: &str, name: &str) -> Option<&'static OpInfo> {
    OPS.iter().find(|o| o.domain == domain && o.name == name)
}

fn unsupported_dtype(inv: &Invocation<'_>, input: usize, dtype: DType) -> BackendError {
    BackendError::unsupported(format!(
        "{}: input {input} of dtype {dtype} is not supported",
        inv.op_type
    ))
}

/// Requires input `i`, when present, to have a dtype in `allowed`.
fn want(inv: &Invocation<'_>, i: usize, allowed: &[DType]) -> Result<(), BackendError> {
    match inv.dtype(i) {
        Some(d) if !allowed.contains(&d) => Err(unsupported_dtype(inv, i, d)),
        _ => Ok(()),
    }
}

/// The dtype input 0 converts to for Cast (`to`), validated.
pub fn cast_target(attrs: &Attrs<'_>) -> Result<DType, BackendError> {
    if !attrs.has("to") {
        return Err(BackendError::invalid("Cast: attribute `to` is required"));
    }
    let code = attrs.int("to", 0)?;
    let to = i32::try_from(code)
        .ok()
        .and_then(DType::from_code)
        .ok_or_else(|| BackendError::unsupported(format!("Cast: target dtype code {code}")))?;
    if !CAST_TYPES.contains(&to) {
        return Err(BackendError::unsupported(format!(
            "Cast: target dtype {to}"
        )));
    }
    Ok(to)
}

/// Cast's `round_mode` (opset 24+, default `up`): how values become E8M0.
pub fn e8m0_rounding(attrs: &Attrs<'_>) -> Result<crate::narrow::E8m0Round, BackendError> {
    use crate::narrow::E8m0Round;
    match attrs.string("round_mode", "up")? {
        "up" => Ok(E8m0Round::Up),
        "down" => Ok(E8m0Round::Down),
        "nearest" => Ok(E8m0Round::Nearest),
        other => Err(BackendError::invalid(format!(
            "attribute round_mode must be up, down or nearest, got {other:?}"
        ))),
    }
}

/// The ONNX `saturate` attribute (default 1) of Cast and QuantizeLinear; it
/// only matters for fp8 results.
pub fn saturate(attrs: &Attrs<'_>) -> Result<bool, BackendError> {
    match attrs.int("saturate", 1)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(BackendError::invalid(format!(
            "attribute saturate must be 0 or 1, got {other}"
        ))),
    }
}

/// The dtype QuantizeLinear produces: `y_zero_point`'s when it is given,
/// else `output_dtype` when it is set (non-zero), else u8. Both given and
/// different is a malformed call, as in ONNX's type inference.
pub fn quantize_target(
    attrs: &Attrs<'_>,
    zero_point: Option<DType>,
) -> Result<DType, BackendError> {
    let code = attrs.int("output_dtype", 0)?;
    let from_attr = match code {
        0 => None,
        code => {
            let d = i32::try_from(code)
                .ok()
                .and_then(DType::from_code)
                .filter(|d| QUANTIZED.contains(d))
                .ok_or_else(|| {
                    BackendError::unsupported(format!("QuantizeLinear: output_dtype {code}"))
                })?;
            Some(d)
        }
    };
    match (zero_point, from_attr) {
        (Some(zp), Some(d)) if zp != d => Err(BackendError::invalid(format!(
            "QuantizeLinear: output_dtype {d} differs from y_zero_point's dtype {zp}"
        ))),
        (Some(zp), _) => Ok(zp),
        (None, Some(d)) => Ok(d),
        (None, None) => Ok(DType::U8),
    }
}

/// DequantizeLinear's output dtype: `output_dtype` (23+; float, float16 or
/// bfloat16), else the scale's, which an E8M0 scale cannot be.
pub fn dequantize_output(attrs: &Attrs<'_>, scale: DType) -> Result<DType, BackendError> {
    match attrs.int("output_dtype", 0)? {
        0 if QUANTIZE_FROM.contains(&scale) => Ok(scale),
        0 => Err(BackendError::invalid(format!(
            "DequantizeLinear: an {scale} scale needs output_dtype"
        ))),
        code => i32::try_from(code)
            .ok()
            .and_then(DType::from_code)
            .filter(|d| QUANTIZE_FROM.contains(d))
            .ok_or_else(|| {
                BackendError::unsupported(format!("DequantizeLinear: output_dtype {code}"))
            }),
    }
}

/// QuantizeLinear's division precision from opset 23: `precision` (a float
/// dtype code), else the scale's float type; `None` before 23 (the f32
/// division) and for an E8M0 scale without `precision`.
pub fn division_precision(
    attrs: &Attrs<'_>,
    scale: DType,
    opset: i64,
) -> Result<Option<DType>, BackendError> {
    if opset < 23 {
        return Ok(None);
    }
    match attrs.int("precision", 0)? {
        0 => Ok(QUANTIZE_FROM.contains(&scale).then_some(scale)),
        code => i32::try_from(code)
            .ok()
            .and_then(DType::from_code)
            .filter(|d| matches!(d, DType::F64 | DType::F32 | DType::F16 | DType::BF16))
            .map(Some)
            .ok_or_else(|| BackendError::unsupported(format!("QuantizeLinear: precision {code}"))),
    }
}

/// The dtypes of the outputs the op produces for this call.
fn output_dtypes(inv: &Invocation<'_>, main: DType) -> Result<Vec<DType>, BackendError> {
    Ok(match inv.op_type {
        "Cast" => vec![cast_target(&inv.attrs)?],
        "QuantizeLinear" => vec![quantize_target(&inv.attrs, inv.dtype(2))?],
        // The scale's dtype is the output's (ONNX opset 21 has no
        // output_dtype attribute for DequantizeLinear).
        "DequantizeLinear" => vec![dequantize_output(&inv.attrs, inv.input(1)?.dtype)?],
        "TopK" | "MaxPool" => vec![main, DType::I64],
        // Mean and InvStdDev in stash_type, which check_op_specific holds to 1.
        "LayerNormalization" => vec![main, DType::F32, DType::F32],
        "Where" => vec![inv.input(1)?.dtype],
        "IsNaN" | "IsInf" => vec![DType::Bool],
        // issue 17: binary/variadic math, comparison, logic, bitwise
        "Equal" | "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" | "And" | "Or" | "Xor" => {
            vec![DType::Bool]
        }
        "ArgMax" | "ArgMin" => vec![DType::I64],
        // issue 17: shape and indexing
        "Shape" | "Size" => vec![DType::I64],
        "BitCast" => vec![crate::ops::bitcast::bit_cast_target(&inv.attrs)?],
        "ConstantOfShape" => match inv.attrs.tensor("value")? {
            Some(t) => vec![t.dtype()],
            None => vec![DType::F32],
        },
        "EyeLike" => vec![crate::ops::shaping::eye_like_dtype(&inv.attrs, main)?],
        "Split" => vec![main; inv.output_dtypes.len()],
        // issue 17: recurrent
        "LSTM" | "GRU" | "RNN" => vec![main; inv.output_dtypes.len()],
        // issue 17: data-dependent output shapes
        "NonZero" | "NonMaxSuppression" => vec![DType::I64],
        "Unique" => vec![main, DType::I64, DType::I64, DType::I64],
        // issue 17: gather, scatter and index movement
        "OneHot" => vec![inv.input(2)?.dtype],
        // issue 17: normalization family 2
        "Dropout" => vec![main, DType::Bool],
        "CastLike" => vec![inv.input(1)?.dtype],
        // issue 17: integer-quantized ops and the last pooling ops
        "MatMulInteger" | "ConvInteger" => vec![DType::I32],
        "QLinearMatMul" | "QLinearConv" => vec![inv.input(7)?.dtype],
        "DynamicQuantizeLinear" => vec![DType::U8, DType::F32, DType::U8],
        // issue 18: DeepSeek
        "MoeGatingTopK" => vec![DType::F32, DType::I64],
        // issue 18: fp8
        "Fp8BlockGemm" => vec![match inv.attrs.int("output_dtype", 1)? {
            16 => DType::BF16,
            _ => DType::F32,
        }],
        _ => vec![main],
    })
}

/// Decides whether the call is supported. `Ok(info)` means `run_op` will
/// execute it; an `UNSUPPORTED` error means it will not; any other error means
/// the call is malformed. Shapes are validated later by the kernels.
pub fn check(inv: &Invocation<'_>) -> Result<&'static OpInfo, BackendError> {
    let info = find(inv.domain, inv.op_type).ok_or_else(|| {
        BackendError::unsupported(match inv.domain {
            "" => format!("operator {}", inv.op_type),
            d => format!("operator {} of domain {d:?}", inv.op_type),
        })
    })?;
    if !info.opsets.contains(&inv.opset) {
        return Err(BackendError::unsupported(format!(
            "{} opset {} (implemented: {:?})",
            inv.op_type, inv.opset, info.opsets
        )));
    }
    if inv.inputs.len() > info.max_inputs {
        return Err(BackendError::invalid(format!(
            "{}: {} inputs given, at most {} accepted",
            inv.op_type,
            inv.inputs.len(),
            info.max_inputs
        )));
    }
    if inv.inputs.len() < info.required_inputs {
        return Err(BackendError::invalid(format!(
            "{}: {} inputs given, {} required",
            inv.op_type,
            inv.inputs.len(),
            info.required_inputs
        )));
    }
    // A variadic op (Concat) needs every input it is given.
    let needed = if info.max_inputs == usize::MAX {
        inv.inputs.len()
    } else {
        info.required_inputs
    };
    for i in 0..needed {
        inv.input(i)?;
    }
    if inv.output_dtypes.is_empty() {
        return Err(BackendError::invalid(format!("{}: no output", inv.op_type)));
    }
    if inv.output_dtypes.len() > info.max_outputs {
        return Err(BackendError::unsupported(format!(
            "{}: {} outputs requested, only the first {} are implemented",
            inv.op_type,
            inv.output_dtypes.len(),
            info.max_outputs
        )));
    }
    for (i, m) in inv.inputs.iter().enumerate() {
        if matches!(m, Some(m) if !m.host) {
            return Err(BackendError::unsupported(format!(
                "{}: input {i} is in device memory",
                inv.op_type
            )));
        }
    }
    // The main input's dtype (Where's is X; the condition is checked below).
    let main_index = usize::from(inv.op_type == "Where");
    // Constant has no input: its value attribute's dtype stands for one.
    let main = match inv.op_type {
        "Constant" => crate::ops::constant::constant_dtype(&inv.attrs)?,
        _ => inv.input(main_index)?.dtype,
    };
    if !info.dtypes.contains(&main) {
        return Err(unsupported_dtype(inv, main_index, main));
    }
    check_op_specific(inv, main)?;
    let expected = output_dtypes(inv, main)?;
    for (i, (&got, &want)) in inv.output_dtypes.iter().zip(&expected).enumerate() {
        if got != want {
            return Err(BackendError::invalid(format!(
                "{}: output {i} is allocated as {got}, the op produces {want}",
                inv.op_type
            )));
        }
    }
    Ok(info)
}

/// Dtype and attribute rules beyond the main input's dtype.
fn check_op_specific(inv: &Invocation<'_>, main: DType) -> Result<(), BackendError> {
    let same = [main];
    let indices = [DType::I64];
    match inv.op_type {
        "Add" | "Sub" | "Mul" | "Div" | "MatMul" | "Gemm" | "LayerNormalization" => {
            for i in 1..inv.inputs.len() {
                want(inv, i, &same)?;
            }
        }
        "Reshape" | "TopK" => want(inv, 1, &indices)?,
        "Gather" => want(inv, 1, &[DType::I64, DType::I32])?,
        "Concat" => {
            for i in 1..inv.inputs.len() {
                want(inv, i, &same)?;
            }
        }
        "Where" => {
            want(inv, 0, &[DType::Bool])?;
            want(inv, 2, &same)?;
        }
        "Cast" => {
            cast_target(&inv.attrs)?;
            saturate(&inv.attrs)?;
            e8m0_rounding(&inv.attrs)?;
        }
        "QuantizeLinear" | "DequantizeLinear" => check_quantization(inv, main)?,
        "Gelu" => {
            let approximate = inv.attrs.string("approximate", "none")?;
            if approximate != "none" && approximate != "tanh" {
                return Err(BackendError::unsupported(format!(
                    "Gelu: approximate={approximate:?}"
                )));
            }
        }
        "RMSNormalization" => want(inv, 1, FLOATS)?,
        "Clip" | "PRelu" => {
            for i in 1..inv.inputs.len() {
                want(inv, i, &same)?;
            }
        }
        // issue 17: shape and indexing
        "Slice" => {
            let idx = inv.dtype(1).unwrap_or(DType::I64);
            for i in 1..inv.inputs.len() {
                want(inv, i, &[DType::I64, DType::I32])?;
                want(inv, i, &[idx])?;
            }
        }
        "Squeeze" | "Unsqueeze" | "Expand" | "Tile" | "Split" | "Trilu" => {
            want(inv, 1, &indices)?;
        }
        "ScatterND" => {
            want(inv, 1, &indices)?;
            want(inv, 2, &same)?;
            let reduction = inv.attrs.string("reduction", "none")?;
            if reduction != "none" && main == DType::Bool {
                return Err(BackendError::invalid(format!(
                    "ScatterND: reduction {reduction} on bool"
                )));
            }
        }
        "Range" => {
            want(inv, 1, &same)?;
            want(inv, 2, &same)?;
        }
        // issue 17: recurrent (sequence_lens is int32; bfloat16 from 22)
        "LSTM" | "GRU" | "RNN" => {
            for i in 1..inv.inputs.len() {
                want(inv, i, if i == 4 { &[DType::I32] } else { &same })?;
            }
            if main == DType::BF16 && inv.opset < 22 {
                return Err(unsupported_dtype(inv, 0, main));
            }
        }
        "Pad" => {
            want(inv, 1, &indices)?;
            want(inv, 2, &same)?;
            want(inv, 3, &[DType::I64, DType::I32])?;
            let mode = inv.attrs.string("mode", "constant")?;
            let wrap = inv.opset >= 19 && mode == "wrap";
            if !(wrap || matches!(mode, "constant" | "reflect" | "edge")) {
                return Err(BackendError::invalid(format!(
                    "Pad-{}: mode {mode:?}",
                    inv.opset
                )));
            }
        }
        "EyeLike" => {
            let to = crate::ops::shaping::eye_like_dtype(&inv.attrs, main)?;
            if !MOVABLE.contains(&to) {
                return Err(BackendError::unsupported(format!("EyeLike: dtype {to}")));
            }
        }
        "RotaryEmbedding" => {
            want(inv, 1, &same)?;
            want(inv, 2, &same)?;
            want(inv, 3, &indices)?;
        }
        "Attention" => {
            for i in [1, 2, 4, 5] {
                want(inv, i, &same)?;
            }
            want(inv, 3, &[main, DType::Bool])?;
            want(inv, 6, &indices)?;
            let precision = inv.attrs.int("softmax_precision", 1)?;
            let ok = matches!(precision, 1 | 10 | 16) || (precision == 11 && main == DType::F64);
            if !ok {
                return Err(BackendError::unsupported(format!(
                    "Attention: softmax_precision {precision} with {main} inputs"
                )));
            }
        }
        // issue 17: binary/variadic math, comparison, logic, bitwise
        "Equal" | "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" | "And" | "Or" | "Xor"
        | "BitShift" | "BitwiseAnd" | "BitwiseOr" | "BitwiseXor" | "Mod" | "Max" | "Min"
        | "Sum" | "Mean" => {
            for i in 1..inv.inputs.len() {
                want(inv, i, &same)?;
            }
        }
        "Pow" => want(inv, 1, NUMERIC)?,
        // issue 17: normalization and reductions
        "BatchNormalization" => check_batch_norm(inv, main)?,
        op if op.starts_with("Reduce") => {
            // The axes are an input or an attribute, by version, never both.
            if inv.opset >= axes_input_since(op) {
                if inv.attrs.has("axes") {
                    return Err(BackendError::invalid(format!(
                        "{op}-{}: axes is an input, not an attribute",
                        inv.opset
                    )));
                }
                want(inv, 1, &indices)?;
            } else {
                if inv.inputs.len() > 1 {
                    return Err(BackendError::invalid(format!(
                        "{op}-{}: axes is an attribute, not an input",
                        inv.opset
                    )));
                }
                inv.attrs.ints("axes")?;
            }
        }
        "CumSum" => want(inv, 1, &[DType::I64, DType::I32])?,
        // issue 17: Resize and friends
        "Resize" => {
            want(inv, 1, &[DType::F16, DType::F32, DType::F64])?;
            want(inv, 2, &[DType::F32])?;
            want(inv, 3, &indices)?;
        }
        // issue 17: convolution and pooling
        "Conv" => {
            want(inv, 1, &same)?;
            want(inv, 2, &same)?;
        }
        "MaxPool" if inv.opset < 12 => want(inv, 0, FLOATS)?,
        // issue 17: linear algebra and spatial sampling
        "Einsum" => {
            for i in 1..inv.inputs.len() {
                want(inv, i, &same)?;
            }
        }
        "Col2Im" => {
            want(inv, 1, &indices)?;
            want(inv, 2, &indices)?;
        }
        "Det" if inv.opset < 22 => want(inv, 0, &[DType::F32, DType::F16, DType::F64])?,
        "AveragePool" if inv.opset < 19 && inv.attrs.has("dilations") => {
            return Err(BackendError::invalid(
                "AveragePool: dilations is an attribute from opset 19 on",
            ));
        }
        // issue 17: data-dependent output shapes
        "Compress" => want(inv, 1, &[DType::Bool])?,
        "NonMaxSuppression" => {
            want(inv, 1, &[DType::F32])?;
            want(inv, 2, &[DType::I64])?;
            want(inv, 3, &[DType::F32])?;
            want(inv, 4, &[DType::F32])?;
        }
        // issue 17: gather, scatter and index movement
        "GatherElements" => want(inv, 1, &[DType::I64, DType::I32])?,
        "GatherND" => want(inv, 1, &indices)?,
        "ScatterElements" => {
            want(inv, 1, &[DType::I64, DType::I32])?;
            want(inv, 2, &same)?;
            let reduction = inv.attrs.string("reduction", "none")?;
            if reduction != "none" && main == DType::Bool {
                return Err(BackendError::invalid(format!(
                    "ScatterElements: reduction {reduction} on bool"
                )));
            }
        }
        "CumProd" => want(inv, 1, &[DType::I64, DType::I32])?,
        "ReverseSequence" => want(inv, 1, &indices)?,
        "OneHot" => {
            want(inv, 1, ONE_HOT_NUMERIC)?;
            let values = inv.input(2)?.dtype;
            if matches!(values, DType::BF16 | DType::F8E4M3FN | DType::F8E5M2) {
                return Err(BackendError::unsupported(format!(
                    "OneHot: values of {values} (ONNX's T3 has no bfloat16 or fp8)"
                )));
            }
        }
        // issue 17: normalization family 2
        "InstanceNormalization" | "GroupNormalization" => {
            want(inv, 1, &same)?;
            want(inv, 2, &same)?;
            if inv.op_type == "GroupNormalization" && inv.opset >= 21 {
                let stash = inv.attrs.int("stash_type", 1)?;
                if stash != 1 {
                    return Err(BackendError::unsupported(format!(
                        "GroupNormalization: stash_type {stash} (only 1, float32, is implemented)"
                    )));
                }
            }
        }
        "Dropout" => {
            if inv.opset < 12 && inv.inputs.len() > 1 {
                return Err(BackendError::invalid(
                    "Dropout-10: ratio is an attribute, not an input",
                ));
            }
            want(inv, 1, DROPOUT_TYPES)?;
            want(inv, 2, &[DType::Bool])?;
        }
        "CastLike" => {
            want(inv, 1, CAST_TYPES)?;
            saturate(&inv.attrs)?;
            e8m0_rounding(&inv.attrs)?;
        }
        // issue 17: convolution transpose and quantized linear algebra
        "ConvTranspose" => {
            want(inv, 1, &same)?;
            want(inv, 2, &same)?;
        }
        // issue 17: integer-quantized ops and the last pooling ops
        "MatMulInteger" | "ConvInteger" => {
            want(inv, 1, Q8)?;
            want(inv, 2, &same)?;
            let second = inv.dtype(1);
            if let Some(d) = inv.dtype(3)
                && Some(d) != second
            {
                return Err(unsupported_dtype(inv, 3, d));
            }
        }
        "QLinearMatMul" | "QLinearConv" => {
            let scales = if inv.op_type == "QLinearMatMul" && inv.opset >= 21 {
                SCALES_21
            } else {
                &[DType::F32][..]
            };
            let scale = inv.input(1)?.dtype;
            want(inv, 1, scales)?;
            for i in [4, 6] {
                want(inv, i, &[scale])?;
            }
            want(inv, 2, &same)?;
            want(inv, 3, Q8)?;
            let w = inv.input(3)?.dtype;
            want(inv, 5, &[w])?;
            want(inv, 7, Q8)?;
            want(inv, 8, &[DType::I32])?;
        }
        "LpPool" | "MaxUnpool" => {
            if main == DType::BF16 && inv.opset < 22 {
                return Err(unsupported_dtype(inv, 0, main));
            }
            want(inv, 1, &[DType::I64])?;
            want(inv, 2, &[DType::I64])?;
        }
        // issue 18: DeepSeek
        "MoeGatingTopK" => want(inv, 1, &[DType::F32])?,
        // issue 17: spatial sampling
        "GridSample" => {
            let grids: &[DType] = if inv.opset >= 22 {
                &[DType::F32, DType::F16, DType::BF16, DType::F64]
            } else {
                &[DType::F32, DType::F16, DType::F64]
            };
            want(inv, 1, grids)?;
            if main == DType::BF16 && inv.opset < 22 {
                return Err(unsupported_dtype(inv, 0, main));
            }
            let nearest = inv.attrs.string("mode", "linear")? == "nearest";
            if !nearest && !FLOATS.contains(&main) {
                return Err(BackendError::unsupported(format!(
                    "GridSample: interpolating {main} (defined for floats only)"
                )));
            }
        }
        "AffineGrid" => want(inv, 1, &[DType::I64])?,
        "RoiAlign" => {
            want(inv, 1, &same)?;
            want(inv, 2, &[DType::I64])?;
            if main == DType::BF16 && inv.opset < 22 {
                return Err(unsupported_dtype(inv, 0, main));
            }
        }
        "CenterCropPad" => want(inv, 1, &[DType::I64, DType::I32])?,
        // issue 17: optional outputs, tensor attributes, opset 24
        "TensorScatter" => {
            want(inv, 1, &same)?;
            want(inv, 2, &indices)?;
        }
        // issue 18: mla
        "MlaAttention" => {
            want_same(inv, 1, main)?;
            want(inv, 2, &[DType::I64])?;
        }
        // issue 18: fp8
        "Fp8BlockGemm" => {
            want(inv, 1, &[DType::F32])?;
            want(inv, 2, &[DType::F8E4M3FN])?;
            want(inv, 3, &[DType::F32])?;
            let code = inv.attrs.int("output_dtype", 1)?;
            if !matches!(code, 1 | 16) {
                return Err(BackendError::unsupported(format!(
                    "Fp8BlockGemm: output_dtype {code} (f32 = 1 and bf16 = 16 are implemented)"
                )));
            }
        }
        _ => {}
    }
    if matches!(inv.op_type, "LayerNormalization" | "RMSNormalization") {
        let stash = inv.attrs.int("stash_type", 1)?;
        if stash != 1 {
            return Err(BackendError::unsupported(format!(
                "{}: stash_type {stash} (only 1, float32, is implemented)",
                inv.op_type
            )));
        }
    }
    Ok(())
}

/// BatchNormalization's dtypes by version (9: every input X's; 14: scale and
/// B X's, mean and var one float type; 15: scale and B one float type, mean
/// and var one float type) and inference mode only.
fn check_batch_norm(inv: &Invocation<'_>, main: DType) -> Result<(), BackendError> {
    let pair = |i: usize| -> Result<(), BackendError> {
        want(inv, i, FLOATS)?;
        let (a, b) = (inv.input(i)?.dtype, inv.input(i + 1)?.dtype);
        if a != b {
            return Err(BackendError::invalid(format!(
                "BatchNormalization: inputs {i} and {} must share a dtype, got {a} and {b}",
                i + 1
            )));
        }
        Ok(())
    };
    match inv.opset {
        9 => (1..5).try_for_each(|i| want_same(inv, i, main))?,
        14 => {
            want_same(inv, 1, main)?;
            want_same(inv, 2, main)?;
            pair(3)?;
        }
        _ => {
            pair(1)?;
            pair(3)?;
        }
    }
    if inv.opset >= 14 && inv.attrs.int("training_mode", 0)? != 0 {
        return Err(BackendError::unsupported(
            "BatchNormalization: training_mode=1 (only inference is implemented)",
        ));
    }
    Ok(())
}

/// Requires input `i` to have the main input's dtype (a malformed call
/// otherwise: ONNX's type constraint binds them).
fn want_same(inv: &Invocation<'_>, i: usize, main: DType) -> Result<(), BackendError> {
    let d = inv.input(i)?.dtype;
    if d != main {
        return Err(BackendError::invalid(format!(
            "{}-{}: input {i} is {d}, X is {main}; they must have the same dtype",
            inv.op_type, inv.opset
        )));
    }
    Ok(())
}

/// Dtype and attribute rules of QuantizeLinear and DequantizeLinear (opset
/// 21); the shapes (per tensor, per axis, blocked) are the kernel's to judge.
fn check_quantization(inv: &Invocation<'_>, main: DType) -> Result<(), BackendError> {
    let op = inv.op_type;
    inv.attrs.int("axis", 1)?;
    let block = inv.attrs.int("block_size", 0)?;
    if block < 0 {
        return Err(BackendError::invalid(format!(
            "{op}: block_size {block} is negative"
        )));
    }
    let scale = inv.input(1)?.dtype;
    // An E8M0 scale (MX style) from 24, a float one otherwise.
    if !(QUANTIZE_FROM.contains(&scale) || (inv.opset >= 24 && scale == DType::F8E8M0)) {
        return Err(unsupported_dtype(inv, 1, scale));
    }
    if op == "QuantizeLinear" {
        // x and y_scale share the type variable T1 before opset 23.
        if inv.opset < 23 && scale != main {
            return Err(BackendError::invalid(format!(
                "{op}: y_scale is {scale}, x is {main}; opset {} requires the same type",
                inv.opset
            )));
        }
        division_precision(&inv.attrs, scale, inv.opset)?;
        want(inv, 2, QUANTIZED)?;
        quantize_target(&inv.attrs, inv.dtype(2))?;
        saturate(&inv.attrs)?;
    } else {
        dequantize_output(&inv.attrs, scale)?;
        // The zero point has x's type (T1).
        if let Some(zp) = inv.dtype(2)
            && zp != main
        {
            return Err(BackendError::invalid(format!(
                "{op}: x_zero_point is {zp}, x is {main}; they must have the same type"
            )));
        }
    }
    Ok(())
}

/// The precision the call is really computed in: f32 for f16/bf16 inputs of
/// arithmetic ops and of QuantizeLinear (whose `x / y_scale` is an f32
/// division), the io dtype otherwise. DequantizeLinear computes exactly in
/// f64 and rounds once, so it is correctly rounded in its output dtype.
pub fn compute_precision(info: &OpInfo, main: DType) -> Option<DType> {
    let arithmetic = info.dtypes == FLOATS
        || info.dtypes == FLOATS_AND_INTS
        || info.dtypes == ARITHMETIC
        || matches!(info.name, "QuantizeLinear" | "Pow" | "Mod");
    (arithmetic && matches!(main, DType::F16 | DType::BF16)).then_some(DType::F32)
}

/// The manifest JSON (schema 1), generated from [`OPS`].
pub fn manifest_json() -> String {
    let ops: Vec<String> = OPS
        .iter()
        .map(|o| {
            let opsets: Vec<String> = o.opsets.iter().map(i64::to_string).collect();
            let dtypes: Vec<String> = o
                .dtypes
                .iter()
                .map(|d| format!("\"{}\"", d.name()))
                .collect();
            format!(
                "{{\"domain\": \"{}\", \"op\": \"{}\", \"opsets\": [{}], \"dtypes\": [{}]}}",
                o.domain,
                o.name,
                opsets.join(", "),
                dtypes.join(", ")
            )
        })
        .collect();
    format!(
        "{{\"schema\": 1, \"vendor\": \"xpucert\", \"device\": \"cpu\", \
         \"backend_version\": \"{}\", \"ops\": [{}]}}",
        env!("CARGO_PKG_VERSION"),
        ops.join(", ")
    )
}
