//! Activations and unary elementwise math (issue 17): Clip, the ReLU family
//! (Elu, Selu, Celu, LeakyRelu, PRelu, ThresholdedRelu, Shrink), the hard
//! and smooth gates (HardSigmoid, HardSwish, Mish, Softsign), rounding (Abs,
//! Ceil, Floor, Round, Sign), trigonometric and hyperbolic functions and
//! their inverses, the float classifiers IsNaN and IsInf, and Not.
//!
//! Each op registers its newest version and, where a model at opset 11-21
//! would otherwise find none, the version it would use there. Most of those
//! older versions differ only in their type constraints (bfloat16 arrived in
//! opsets 13, 16 and 22); Clip's changed its semantics (attributes min/max
//! until 6, inputs from 11).
//!
//! ONNX stores float attributes as 32-bit floats (`AttributeProto.f`), so
//! the oracle rounds every float attribute to f32 before using it, as a
//! runtime reading the model would ([`attr`]).
//!
//! Check policies follow the error a correct implementation can have (the
//! OpenCL CTS budgets of `numerics::check::default_check`, plus one ulp for
//! f16/bf16 results of an f32 routine, as Exp and Tanh do); each definition
//! says why in its doc comment.

use ndarray::{ArrayD, Zip};

use super::rules::{no_sum, per_output_element, same_as_first, stretches_to};
use super::spec::{TypeVar, WIDE_FLOATS, fixed, unary};
use super::{
    AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape, finish,
};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;

// ------------------------------------------------------------------ types

/// `T` of the versions before bfloat16: float16, float, double.
pub(super) const T_F16_F32_F64: TypeVar = TypeVar {
    name: "T",
    allowed: &[DType::F64, DType::F32, DType::F16],
};
/// `T` of the newer versions: bfloat16 too.
pub(super) const T_FLOAT4: TypeVar = TypeVar {
    name: "T",
    allowed: WIDE_FLOATS,
};
/// Celu-12's `T`: float only.
const T_F32: TypeVar = TypeVar {
    name: "T",
    allowed: &[DType::F32],
};
/// IsInf-10's `T1`: float and double.
const T1_F32_F64: TypeVar = TypeVar {
    name: "T1",
    allowed: &[DType::F64, DType::F32],
};
/// IsNaN-9's `T1`.
const T1_F16_F32_F64: TypeVar = TypeVar {
    name: "T1",
    allowed: &[DType::F64, DType::F32, DType::F16],
};
/// IsNaN-13's `T1`.
const T1_FLOAT4: TypeVar = TypeVar {
    name: "T1",
    allowed: WIDE_FLOATS,
};
/// IsNaN-20's and IsInf-20's `T1`: every float, fp8 included.
const T1_FLOATS: TypeVar = TypeVar {
    name: "T1",
    allowed: super::spec::FLOATS,
};
/// Clip-12's and Shrink's `T`: every integer, float16, float, double.
const T_NUMERIC_NO_BF16: TypeVar = TypeVar {
    name: "T",
    allowed: &[
        DType::F64,
        DType::F32,
        DType::F16,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
    ],
};
/// Clip-13's, Abs-13's and Sign-13's `T`: every integer and the four wide
/// floats (not fp8).
const T_NUMERIC: TypeVar = TypeVar {
    name: "T",
    allowed: &[
        DType::F64,
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::U32,
        DType::I64,
        DType::U64,
    ],
};
/// PRelu-9's `T`.
const T_PRELU_9: TypeVar = TypeVar {
    name: "T",
    allowed: &[
        DType::F64,
        DType::F32,
        DType::F16,
        DType::U32,
        DType::U64,
        DType::I32,
        DType::I64,
    ],
};
/// PRelu-16's `T`: bfloat16 too.
const T_PRELU_16: TypeVar = TypeVar {
    name: "T",
    allowed: &[
        DType::F64,
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::U32,
        DType::U64,
        DType::I32,
        DType::I64,
    ],
};
/// Not's `T`.
const T_BOOL: TypeVar = TypeVar {
    name: "T",
    allowed: &[DType::Bool],
};

/// The same op at an older opset whose only difference is its type
/// constraint (`types`, one per input).
pub(super) const fn older(def: OpDef, opset: i64, types: &'static [TypeVar]) -> OpDef {
    OpDef {
        spec: OpSpec {
            opset,
            input_types: types,
            ..def.spec
        },
        ..def
    }
}

/// A float-only unary op without attributes computing `f`.
macro_rules! float_op {
    ($name:literal, $opset:literal, $check:expr, $f:expr) => {
        OpDef {
            spec: OpSpec {
                input_types: &[T_FLOAT4],
                ..unary($name, $opset)
            },
            oracle: |c| Ok(vec![map_float(c, $f)?]),
            shape: same_as_first,
            cost: per_output_element,
            check: $check,
            terms: no_sum,
        }
    };
}

// ------------------------------------------------------------------- Clip

/// Clip's `min` and `max`, inputs from opset 11.
const CLIP_INPUTS: &[&str] = &["input", "min", "max"];

/// Clip-13: `Min(max, Max(input, min))`; no arithmetic, so exact. Integer
/// types from 12, bfloat16 from 13; the semantics are those of Clip-11
/// (13's text only states what the formula already gives when min > max:
/// every element becomes max).
pub(super) const CLIP: OpDef = OpDef {
    spec: OpSpec {
        name: "Clip",
        domain: "",
        opset: 13,
        arity: fixed(1, 2),
        input_names: CLIP_INPUTS,
        input_types: &[T_NUMERIC],
        outputs: 1,
        attributes: &[],
    },
    oracle: |c| Ok(vec![clip(c)?]),
    shape: clip_shape,
    cost: per_output_element,
    check: CheckPolicy::Exact,
    terms: no_sum,
};
/// Clip-12: Clip-13 without bfloat16.
pub(super) const CLIP_12: OpDef = older(CLIP, 12, &[T_NUMERIC_NO_BF16]);
/// Clip-11: min and max became optional scalar inputs; floats only.
pub(super) const CLIP_11: OpDef = older(CLIP, 11, &[T_F16_F32_F64]);
/// Clip-6: min and max are float attributes, defaulting to the f32 range
/// (ONNX writes them as -3.402823e+38 and 3.402823e+38); exact.
pub(super) const CLIP_6: OpDef = OpDef {
    spec: OpSpec {
        attributes: &[("min", AttrType::Float), ("max", AttrType::Float)],
        ..unary("Clip", 6)
    },
    oracle: |c| {
        let lo = attr(c, "min", f32::MIN)?;
        let hi = attr(c, "max", f32::MAX)?;
        let x = c.input(0)?;
        Ok(vec![Output::plain(
            x.dtype,
            x.data.mapv(|v| clamp(v, lo, hi)),
        )])
    },
    shape: same_as_first,
    cost: per_output_element,
    check: CheckPolicy::Exact,
    terms: no_sum,
};

/// `Min(hi, Max(x, lo))` with numpy's NaN rule (the ONNX reference is
/// `np.clip`): a NaN in x, lo or hi gives NaN. `f64::max` would drop it.
fn clamp(x: f64, lo: f64, hi: f64) -> f64 {
    if x.is_nan() || lo.is_nan() || hi.is_nan() {
        return f64::NAN;
    }
    let v = if x < lo { lo } else { x };
    if v > hi { hi } else { v }
}

/// Clip-11+'s validity: `min` and `max`, when given, hold one value each.
/// ONNX asks for a scalar (shape []); a one-element tensor (shape [1]), which
/// exporters write and runtimes accept, is taken as that scalar too.
fn clip_bounds_ok(inputs: &[Option<TypedShape>]) -> std::result::Result<(), String> {
    for (i, name) in [(1, "min"), (2, "max")] {
        if let Some(Some((_, shape))) = inputs.get(i)
            && shape.iter().product::<usize>() != 1
        {
            return Err(format!(
                "input {name} must be a scalar (one element), got shape {shape:?}"
            ));
        }
    }
    Ok(())
}

fn clip_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    clip_bounds_ok(inputs)?;
    same_as_first(attrs, inputs, values)
}

/// Clip-11 and later: bounds from the optional inputs, else no bound.
fn clip(c: &Call) -> Result<Output> {
    clip_bounds_ok(&c.typed_shapes()).map_err(|m| c.err(m))?;
    let x = c.input(0)?;
    let bound = |i: usize, none: f64| c.opt(i).map_or(none, |v| v.data.iter().copied().sum());
    let (lo, hi) = (bound(1, f64::NEG_INFINITY), bound(2, f64::INFINITY));
    Ok(Output::plain(x.dtype, x.data.mapv(|v| clamp(v, lo, hi))))
}

// ------------------------------------------------------- the ReLU family

/// Elu-22: `x` for x >= 0, `alpha (e^x - 1)` below. Judged by an error
/// model ([`elu_model`]): the ONNX formula's `e^x - 1` cancels near 0,
/// where an exp within 3 ulps is 3u absolute, so the honest error there is
/// `3 |alpha| u` absolute, unbounded in ulps; expm1 does better and passes.
pub(super) const ELU: OpDef = OpDef {
    spec: OpSpec {
        input_types: &[T_FLOAT4],
        attributes: &[("alpha", AttrType::Float)],
        ..unary("Elu", 22)
    },
    oracle: |c| {
        let alpha = attr(c, "alpha", 1.0)?;
        bounded(
            c,
            |x| if x < 0.0 { alpha * x.exp_m1() } else { x },
            |x, y| elu_model(x, y, alpha),
        )
    },
    shape: same_as_first,
    cost: per_output_element,
    check: CheckPolicy::ModelBound,
    terms: no_sum,
};
/// Elu-6: without bfloat16.
pub(super) const ELU_6: OpDef = older(ELU, 6, &[T_F16_F32_F64]);

/// The error model of `alpha (e^x - 1)` (x < 0) in units of the compute
/// precision's u: exp within 3 ulps of e^x < 1 is 3u absolute, scaled by
/// alpha, and one more for the form `alpha e^x - alpha` (Selu's as ONNX
/// writes it), whose product rounds at the size of alpha; the subtraction,
/// exact while e^x >= 1/2, and the product round (2 |y|), and a margin of
/// 2 |y| for expm1-style evaluation. x >= 0 is exact.
fn elu_model(x: f64, y: f64, alpha: f64) -> f64 {
    if x < 0.0 {
        4.0 * alpha.abs() + 4.0 * y.abs()
    } else {
        0.0
    }
}

/// Selu's ONNX defaults: the f32 values of its two constants.
const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_GAMMA: f32 = 1.050_701;

/// Selu-22: `gamma x` for x > 0, `gamma alpha (e^x - 1)` for x <= 0. As Elu
/// ([`elu_model`] with `gamma alpha`, and one more rounding for gamma); the
/// positive side is one product (one rounding, |y|).
pub(super) const SELU: OpDef = OpDef {
    spec: OpSpec {
        input_types: &[T_FLOAT4],
        attributes: &[("alpha", AttrType::Float), ("gamma", AttrType::Float)],
        ..unary("Selu", 22)
    },
    oracle: |c| {
        let alpha = attr(c, "alpha", SELU_ALPHA)?;
        let gamma = attr(c, "gamma", SELU_GAMMA)?;
        bounded(
            c,
            |x| {
                if x > 0.0 {
                    gamma * x
                } else {
                    gamma * alpha * x.exp_m1()
                }
            },
            |x, y| {
                if x > 0.0 {
                    y.abs()
                } else {
                    elu_model(x, y, gamma * alpha) + y.abs()
                }
            },
        )
    },
    shape: same_as_first,
    cost: per_output_element,
    check: CheckPolicy::ModelBound,
    terms: no_sum,
};
/// Selu-6: without bfloat16.
pub(super) const SELU_6: OpDef = older(SELU, 6, &[T_F16_F32_F64]);

/// Celu-12 (float only): `max(0, x) + min(0, alpha (e^(x/alpha) - 1))`. As
/// Elu, plus the rounding of `x / alpha`, which moves the result by
/// `|x| e^(x/alpha) u <= |alpha| u / e`: `5 |alpha| + 4 |y|`. alpha = 0
/// divides by zero and is refused.
pub(super) const CELU: OpDef = OpDef {
    spec: OpSpec {
        input_types: &[T_F32],
        attributes: &[("alpha", AttrType::Float)],
        ..unary("Celu", 12)
    },
    oracle: |c| {
        let alpha = celu_alpha(c.attrs).map_err(|m| c.err(m))?;
        bounded(
            c,
            |x| {
                // The formula's max/min, written so that NaN propagates.
                let neg = alpha * (x / alpha).exp_m1();
                if x > 0.0 {
                    x + neg.min(0.0)
                } else if neg < 0.0 || neg.is_nan() {
                    neg
                } else {
                    0.0
                }
            },
            |x, y| {
                if x < 0.0 || alpha < 0.0 {
                    5.0 * alpha.abs() + 4.0 * y.abs()
                } else {
                    0.0
                }
            },
        )
    },
    shape: |attrs, inputs, values| {
        celu_alpha(attrs)?;
        same_as_first(attrs, inputs, values)
    },
    cost: per_output_element,
    check: CheckPolicy::ModelBound,
    terms: no_sum,
};

/// Celu's alpha (default 1), which must not be 0.
fn celu_alpha(attrs: &Attributes) -> std::result::Result<f64, String> {
    let alpha = f64::from(attrs.float("alpha", 1.0)? as f32);
    if alpha == 0.0 {
        return Err("attribute alpha must not be 0 (Celu divides by it)".into());
    }
    Ok(alpha)
}

/// LeakyRelu-16: `x` for x >= 0, `alpha x` below: one product, one
/// rounding, so 0.5 ulp with the subnormal floor (`alpha x` may be
/// subnormal).
pub(super) const LEAKY_RELU: OpDef = OpDef {
    spec: OpSpec {
        input_types: &[T_FLOAT4],
        attributes: &[("alpha", AttrType::Float)],
        ..unary("LeakyRelu", 16)
    },
    oracle: |c| {
        let alpha = attr(c, "alpha", 0.01)?;
        map_float_out(c, |x| if x < 0.0 { alpha * x } else { x })
    },
    shape: same_as_first,
    cost: per_output_element,
    check: CheckPolicy::UlpOrSubnormal(0.5),
    terms: no_sum,
};
/// LeakyRelu-6: without bfloat16.
pub(super) const LEAKY_RELU_6: OpDef = older(LEAKY_RELU, 6, &[T_F16_F32_F64]);

/// PRelu's inputs.
const PRELU_INPUTS: &[&str] = &["X", "slope"];

/// PRelu-16: `x` for x >= 0, `slope x` below, slope broadcast
/// unidirectionally to X. One product: 0.5 ulp with the subnormal floor as
/// LeakyRelu; integer results (int32/int64, uint32/uint64) wrap and are
/// exact.
pub(super) const PRELU: OpDef = OpDef {
    spec: OpSpec {
        name: "PRelu",
        domain: "",
        opset: 16,
        arity: fixed(2, 0),
        input_names: PRELU_INPUTS,
        input_types: &[T_PRELU_16, T_PRELU_16],
        outputs: 1,
        attributes: &[],
    },
    oracle: |c| Ok(vec![prelu(c)?]),
    shape: |attrs, inputs, values| {
        prelu_ok(inputs)?;
        same_as_first(attrs, inputs, values)
    },
    cost: per_output_element,
    check: CheckPolicy::UlpOrSubnormal(0.5),
    terms: no_sum,
};
/// PRelu-9: without bfloat16.
pub(super) const PRELU_9: OpDef = older(PRELU, 9, &[T_PRELU_9, T_PRELU_9]);

/// PRelu's validity: slope stretches to X (unidirectional broadcasting).
fn prelu_ok(inputs: &[Option<TypedShape>]) -> std::result::Result<(), String> {
    let x = super::rules::input(inputs, 0)?;
    let slope = super::rules::input(inputs, 1)?;
    stretches_to("slope", &slope.1, &x.1)
}

fn prelu(c: &Call) -> Result<Output> {
    prelu_ok(&c.typed_shapes()).map_err(|m| c.err(m))?;
    let (x, slope) = (c.input(0)?, c.input(1)?);
    let s = super::broadcast::to(c, "slope", &slope.data, x.shape())?;
    let data = Zip::from(&x.data)
        .and(&s)
        .map_collect(|&x, &s| if x < 0.0 { s * x } else { x });
    Ok(Output::plain(x.dtype, finish(x.dtype, data)))
}

/// ThresholdedRelu-22: `x` for x > alpha, else 0 (NaN too: it is not
/// greater, and ONNX's reference gives 0). Selection only: exact.
pub(super) const THRESHOLDED_RELU: OpDef = OpDef {
    spec: OpSpec {
        input_types: &[T_FLOAT4],
        attributes: &[("alpha", AttrType::Float)],
        ..unary("ThresholdedRelu", 22)
    },
    oracle: |c| {
        let alpha = attr(c, "alpha", 1.0)?;
        map_float_out(c, |x| if x > alpha { x } else { 0.0 })
    },
    shape: same_as_first,
    cost: per_output_element,
    check: CheckPolicy::Exact,
    terms: no_sum,
};
/// ThresholdedRelu-10: without bfloat16.
pub(super) const THRESHOLDED_RELU_10: OpDef = older(THRESHOLDED_RELU, 10, &[T_F16_F32_F64]);

/// Shrink-9: `x + bias` for x < -lambd, `x - bias` for x > lambd, else 0.
/// One addition, correctly rounded: 0.5 ulp with the subnormal floor.
/// Integer inputs compute in floating point and are truncated toward zero
/// to the dtype, as the ONNX reference's `astype` does.
pub(super) const SHRINK: OpDef = OpDef {
    spec: OpSpec {
        input_names: &["input"],
        input_types: &[T_NUMERIC_NO_BF16],
        attributes: &[("bias", AttrType::Float), ("lambd", AttrType::Float)],
        ..unary("Shrink", 9)
    },
    oracle: |c| {
        let bias = attr(c, "bias", 0.0)?;
        let lambd = attr(c, "lambd", 0.5)?;
        map_numeric(c, |x| {
            if x < -lambd {
                x + bias
            } else if x > lambd {
                x - bias
            } else if x.is_nan() {
                x
            } else {
                0.0
            }
        })
    },
    shape: same_as_first,
    cost: per_output_element,
    check: CheckPolicy::UlpOrSubnormal(0.5),
    terms: no_sum,
};

// ------------------------------------------------------------------ gates

/// HardSigmoid-22: `max(0, min(1, alpha x + beta))`, alpha 0.2 and beta
/// 0.5 by default (PyTorch's hardsigmoid uses 1/6; an exporter must say
/// so). Judged by its error model: the product and the sum round (`|alpha
/// x| + |alpha x + beta|`, in u), which near the zero crossing is an
/// absolute error, unbounded in ulps; a clamped result is no worse than the
/// value it was clamped from.
pub(super) const HARD_SIGMOID: OpDef = OpDef {
    spec: OpSpec {
        input_types: &[T_FLOAT4],
        attributes: &[("alpha", AttrType::Float), ("beta", AttrType::Float)],
        ..unary("HardSigmoid", 22)
    },
    oracle: |c| {
        let alpha = attr(c, "alpha", 0.2)?;
        let beta = attr(c, "beta", 0.5)?;
        bounded(
            c,
            |x| clamp(alpha * x + beta, 0.0, 1.0),
            |x, _| (alpha * x).abs() + (alpha * x + beta).abs(),
        )
    },
    shape: same_as_first,
    cost: per_output_element,
    check: CheckPolicy::ModelBound,
    terms: no_sum,
};
/// HardSigmoid-6: without bfloat16.
pub(super) const HARD_SIGMOID_6: OpDef = older(HARD_SIGMOID, 6, &[T_F16_F32_F64]);

/// HardSwish-22: `x max(0, min(1, x/6 + 1/2))`. Judged by its error model:
/// the gate's roundings (`2 |x/6| + |x/6 + 1/2|`, covering x * (1/6 as a
/// float) as well as `relu6(x + 3) / 6`) scaled by |x|, plus the product's
/// rounding |y|. Near x = -3 the gate cancels and the error is absolute.
pub(super) const HARD_SWISH: OpDef = OpDef {
    spec: OpSpec {
        input_types: &[T_FLOAT4],
        ..unary("HardSwish", 22)
    },
    oracle: |c| {
        bounded(
            c,
            |x| x * clamp(x / 6.0 + 0.5, 0.0, 1.0),
            |x, y| x.abs() * (2.0 * (x / 6.0).abs() + (x / 6.0 + 0.5).abs()) + y.abs(),
        )
    },
    shape: same_as_first,
    cost: per_output_element,
    check: CheckPolicy::ModelBound,
    terms: no_sum,
};
/// HardSwish-14: without bfloat16.
pub(super) const HARD_SWISH_14: OpDef = older(HARD_SWISH, 14, &[T_F16_F32_F64]);

/// Mish-22: `x tanh(ln(1 + e^x))`. Judged by its error model
/// ([`mish_model`]): the ONNX formula rounds `1 + e^x`, which for x < 0
/// costs ~3u absolute in the softplus (as Log near 1) and |x| times that in
/// the result, thousands of ulps in the negative tail.
pub(super) const MISH: OpDef = OpDef {
    spec: OpSpec {
        input_types: &[T_FLOAT4],
        ..unary("Mish", 22)
    },
    oracle: |c| bounded(c, mish, mish_model),
    shape: same_as_first,
    cost: per_output_element,
    check: CheckPolicy::ModelBound,
    terms: no_sum,
};
/// Mish-18: without bfloat16.
pub(super) const MISH_18: OpDef = older(MISH, 18, &[T_F16_F32_F64]);

/// x tanh(softplus(x)), softplus evaluated without overflow or loss of the
/// tiny values of the negative tail.
fn mish(x: f64) -> f64 {
    let sp = if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    };
    x * sp.tanh()
}

/// Mish's error model in u: the stages within their CTS budgets (softplus
/// 4 ulps, tanh 6 ulps, which the product carries with slopes below 1, and
/// the product's rounding) are `18 |y|`; for x < 0 the rounding of `1 +
/// e^x` and the log's absolute error near 1 add `4 |x|`.
fn mish_model(x: f64, y: f64) -> f64 {
    18.0 * y.abs() + if x < 0.0 { 4.0 * x.abs() } else { 0.0 }
}

/// Softsign-22: `x / (1 + |x|)`. An addition (0.5 ulp) and a CTS divide
/// (2.5 ulps) relative to the result: 3 ulps, subnormal floor.
pub(super) const SOFTSIGN: OpDef =
    float_op!("Softsign", 22, CheckPolicy::UlpOrSubnormal(3.0), |x| x
        / (1.0 + x.abs()));
/// Softsign-1: without bfloat16.
pub(super) const SOFTSIGN_1: OpDef = older(SOFTSIGN, 1, &[T_F16_F32_F64]);

// --------------------------------------------------------------- rounding

/// Abs-13: integers too (the most negative value wraps to itself, as
/// two's-complement hardware and numpy give). Exact.
pub(super) const ABS: OpDef = OpDef {
    spec: OpSpec {
        input_types: &[T_NUMERIC],
        ..unary("Abs", 13)
    },
    oracle: |c| map_numeric(c, f64::abs),
    shape: same_as_first,
    cost: per_output_element,
    check: CheckPolicy::Exact,
    terms: no_sum,
};
/// Abs-6: without bfloat16.
pub(super) const ABS_6: OpDef = older(ABS, 6, &[T_NUMERIC_NO_BF16]);

/// Ceil-13: the result is an integer the dtype holds: exact.
pub(super) const CEIL: OpDef = float_op!("Ceil", 13, CheckPolicy::Exact, f64::ceil);
/// Ceil-6: without bfloat16.
pub(super) const CEIL_6: OpDef = older(CEIL, 6, &[T_F16_F32_F64]);
/// Floor-13: exact, as Ceil.
pub(super) const FLOOR: OpDef = float_op!("Floor", 13, CheckPolicy::Exact, f64::floor);
/// Floor-6: without bfloat16.
pub(super) const FLOOR_6: OpDef = older(FLOOR, 6, &[T_F16_F32_F64]);
/// Round-22: to the nearest integer, halves to even (2.5 -> 2, -1.5 -> -2);
/// exact.
pub(super) const ROUND: OpDef = float_op!("Round", 22, CheckPolicy::Exact, f64::round_ties_even);
/// Round-11: without bfloat16.
pub(super) const ROUND_11: OpDef = older(ROUND, 11, &[T_F16_F32_F64]);

/// Sign-13: -1, 0 or 1 (NaN stays NaN, as numpy's sign); integers too.
/// Exact.
pub(super) const SIGN: OpDef = OpDef {
    spec: OpSpec {
        input_types: &[T_NUMERIC],
        ..unary("Sign", 13)
    },
    oracle: |c| map_numeric(c, sign),
    shape: same_as_first,
    cost: per_output_element,
    check: CheckPolicy::Exact,
    terms: no_sum,
};
/// Sign-9: without bfloat16.
pub(super) const SIGN_9: OpDef = older(SIGN, 9, &[T_NUMERIC_NO_BF16]);

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else if x == 0.0 {
        0.0
    } else {
        x
    }
}

// --------------------------------------------------- trigonometric math
// CTS budgets (single precision): sin, cos, asin, acos 4 ulps; tan, atan
// 5; sinh, cosh, asinh, acosh, atanh 4. Each gets one more for f16/bf16
// results of an f32 routine, as Exp and Tanh do.

/// Sin-22: CTS 4 ulps, plus one. For large arguments the result near a
/// multiple of pi is tiny, and a correct reduction by a finite-precision pi
/// leaves an absolute error: 5u absolute as well.
pub(super) const SIN: OpDef = float_op!("Sin", 22, CheckPolicy::UlpOrAbsolute(5.0), f64::sin);
/// Sin-7: without bfloat16.
pub(super) const SIN_7: OpDef = older(SIN, 7, &[T_F16_F32_F64]);
/// Cos-22: as Sin (near odd multiples of pi/2).
pub(super) const COS: OpDef = float_op!("Cos", 22, CheckPolicy::UlpOrAbsolute(5.0), f64::cos);
/// Cos-7: without bfloat16.
pub(super) const COS_7: OpDef = older(COS, 7, &[T_F16_F32_F64]);
/// Tan-22: CTS 5 ulps, plus one; absolute near multiples of pi as Sin.
pub(super) const TAN: OpDef = float_op!("Tan", 22, CheckPolicy::UlpOrAbsolute(6.0), f64::tan);
/// Tan-7: without bfloat16.
pub(super) const TAN_7: OpDef = older(TAN, 7, &[T_F16_F32_F64]);
/// Asin-22: CTS 4 ulps, plus one; asin(x) ~ x near 0 keeps its relative
/// accuracy, so no absolute term. Outside [-1, 1]: NaN.
pub(super) const ASIN: OpDef = float_op!("Asin", 22, CheckPolicy::UlpOrSubnormal(5.0), f64::asin);
/// Asin-7: without bfloat16.
pub(super) const ASIN_7: OpDef = older(ASIN, 7, &[T_F16_F32_F64]);
/// Acos-22: CTS 4 ulps, plus one, and 5u absolute: the common
/// `pi/2 - asin(x)` form cancels as x nears 1. Outside [-1, 1]: NaN.
pub(super) const ACOS: OpDef = float_op!("Acos", 22, CheckPolicy::UlpOrAbsolute(5.0), f64::acos);
/// Acos-7: without bfloat16.
pub(super) const ACOS_7: OpDef = older(ACOS, 7, &[T_F16_F32_F64]);
/// Atan-22: CTS 5 ulps, plus one.
pub(super) const ATAN: OpDef = float_op!("Atan", 22, CheckPolicy::UlpOrSubnormal(6.0), f64::atan);
/// Atan-7: without bfloat16.
pub(super) const ATAN_7: OpDef = older(ATAN, 7, &[T_F16_F32_F64]);
/// Sinh-22: CTS 4 ulps, plus one, relative: as for Tanh, the `(e^x -
/// e^-x) / 2` form that cancels near 0 is not within budget there.
pub(super) const SINH: OpDef = float_op!("Sinh", 22, CheckPolicy::UlpOrSubnormal(5.0), f64::sinh);
/// Sinh-9: without bfloat16.
pub(super) const SINH_9: OpDef = older(SINH, 9, &[T_F16_F32_F64]);
/// Cosh-22: CTS 4 ulps, plus one (cosh >= 1: nothing cancels).
pub(super) const COSH: OpDef = float_op!("Cosh", 22, CheckPolicy::Ulp(5.0), f64::cosh);
/// Cosh-9: without bfloat16.
pub(super) const COSH_9: OpDef = older(COSH, 9, &[T_F16_F32_F64]);
/// Asinh-22: CTS 4 ulps, plus one, and 5u absolute: the log form
/// `ln(x + sqrt(x^2 + 1))` takes the log of a number near 1 for small x,
/// whose error is absolute (as Log's).
pub(super) const ASINH: OpDef = float_op!("Asinh", 22, CheckPolicy::UlpOrAbsolute(5.0), f64::asinh);
/// Asinh-9: without bfloat16.
pub(super) const ASINH_9: OpDef = older(ASINH, 9, &[T_F16_F32_F64]);
/// Acosh-22: as Asinh (near x = 1 the log form's error is absolute). Below
/// 1: NaN.
pub(super) const ACOSH: OpDef = float_op!("Acosh", 22, CheckPolicy::UlpOrAbsolute(5.0), f64::acosh);
/// Acosh-9: without bfloat16.
pub(super) const ACOSH_9: OpDef = older(ACOSH, 9, &[T_F16_F32_F64]);
/// Atanh-22: as Asinh (`ln((1 + x) / (1 - x)) / 2` near 0). +-1 give
/// +-inf, |x| > 1 NaN.
pub(super) const ATANH: OpDef = float_op!("Atanh", 22, CheckPolicy::UlpOrAbsolute(5.0), f64::atanh);
/// Atanh-9: without bfloat16.
pub(super) const ATANH_9: OpDef = older(ATANH, 9, &[T_F16_F32_F64]);

// ---------------------------------------------------------- classifiers

/// IsNaN-20: a bool per element; exact. Every float type, fp8 included.
pub(super) const IS_NAN: OpDef = OpDef {
    spec: OpSpec {
        input_types: &[T1_FLOATS],
        ..unary("IsNaN", 20)
    },
    oracle: |c| classify(c, f64::is_nan),
    shape: to_bool,
    cost: per_output_element,
    check: CheckPolicy::Exact,
    terms: no_sum,
};
/// IsNaN-13: the wide floats.
pub(super) const IS_NAN_13: OpDef = older(IS_NAN, 13, &[T1_FLOAT4]);
/// IsNaN-9: without bfloat16.
pub(super) const IS_NAN_9: OpDef = older(IS_NAN, 9, &[T1_F16_F32_F64]);

/// IsInf-20: true for +inf when `detect_positive` (default 1) and for -inf
/// when `detect_negative` (default 1) is nonzero; exact.
pub(super) const IS_INF: OpDef = OpDef {
    spec: OpSpec {
        input_types: &[T1_FLOATS],
        attributes: &[
            ("detect_negative", AttrType::Int),
            ("detect_positive", AttrType::Int),
        ],
        ..unary("IsInf", 20)
    },
    oracle: |c| {
        let neg = c.int("detect_negative", 1)? != 0;
        let pos = c.int("detect_positive", 1)? != 0;
        let x = c.input(0)?;
        let data = x.data.mapv(|v| {
            let hit = (v == f64::INFINITY && pos) || (v == f64::NEG_INFINITY && neg);
            f64::from(u8::from(hit))
        });
        Ok(vec![Output::plain(DType::Bool, data)])
    },
    shape: to_bool,
    cost: per_output_element,
    check: CheckPolicy::Exact,
    terms: no_sum,
};
/// IsInf-10: float and double only.
pub(super) const IS_INF_10: OpDef = older(IS_INF, 10, &[T1_F32_F64]);

/// Not-1: logical negation of a bool tensor; exact.
pub(super) const NOT: OpDef = OpDef {
    spec: OpSpec {
        input_types: &[T_BOOL],
        ..unary("Not", 1)
    },
    oracle: |c| {
        let x = c.input(0)?;
        let data = x.data.mapv(|v| f64::from(u8::from(v == 0.0)));
        Ok(vec![Output::plain(DType::Bool, data)])
    },
    shape: same_as_first,
    cost: per_output_element,
    check: CheckPolicy::Exact,
    terms: no_sum,
};

/// Shape rule of IsNaN and IsInf: bool, the input's shape.
fn to_bool(
    _: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (_, shape) = super::rules::input(inputs, 0)?;
    Ok(vec![(DType::Bool, shape.clone())])
}

fn classify(c: &Call, test: fn(f64) -> bool) -> Result<Vec<Output>> {
    let x = c.input(0)?;
    let data = x.data.mapv(|v| f64::from(u8::from(test(v))));
    Ok(vec![Output::plain(DType::Bool, data)])
}

// ---------------------------------------------------------------- helpers

/// A float attribute or its default, rounded to f32 as ONNX stores it.
fn attr(c: &Call, name: &str, default: f32) -> Result<f64> {
    Ok(f64::from(c.float(name, f64::from(default))? as f32))
}

/// `f` on every element of a float input.
fn map_float(c: &Call, f: impl Fn(f64) -> f64) -> Result<Output> {
    let x = c.input(0)?;
    Ok(Output::plain(x.dtype, x.data.mapv(f)))
}

/// [`map_float`] as an oracle's output list.
fn map_float_out(c: &Call, f: impl Fn(f64) -> f64) -> Result<Vec<Output>> {
    Ok(vec![map_float(c, f)?])
}

/// `f` on every element, integer results truncated and wrapped into the
/// input's integer dtype ([`finish`]).
fn map_numeric(c: &Call, f: impl Fn(f64) -> f64) -> Result<Vec<Output>> {
    let x = c.input(0)?;
    Ok(vec![Output::plain(
        x.dtype,
        finish(x.dtype, x.data.mapv(f)),
    )])
}

/// `f` on every element with its error model `model(x, y)` (in units of
/// the compute precision's u; `CheckPolicy::ModelBound`). Non-finite
/// results have no model (the check compares them exactly).
fn bounded(
    c: &Call,
    f: impl Fn(f64) -> f64,
    model: impl Fn(f64, f64) -> f64,
) -> Result<Vec<Output>> {
    let x = c.input(0)?;
    let y: ArrayD<f64> = x.data.mapv(&f);
    let m = Zip::from(&x.data).and(&y).map_collect(|&x, &y| {
        let m = model(x, y);
        if m.is_finite() { m } else { 0.0 }
    });
    Ok(vec![Output::bounded(x.dtype, y, m, None)])
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};
use super::elementwise::elementwise_size;

/// The values of the `values` factor's `traps` level for one dtype: a list
/// cycled over the tensor.
type Traps = fn(DType) -> Vec<f64>;

/// How an op's case space differs from the plain unary one.
struct Unary {
    /// The dtypes the space covers.
    dtypes: &'static [DType],
    /// The float values of the `uniform` level.
    fill: Fill,
    /// The numerical traps (the `traps` level).
    traps: Traps,
    /// Attribute factors.
    attrs: Vec<Factor>,
    /// Sets the attributes (and extra inputs) a pick asks for; `None` for
    /// an impossible combination.
    set: fn(&Pick, GenCase) -> Option<GenCase>,
}

impl Unary {
    fn new(dtypes: &'static [DType], fill: Fill, traps: Traps) -> Unary {
        Unary {
            dtypes,
            fill,
            traps,
            attrs: Vec::new(),
            set: |_, c| Some(c),
        }
    }

    fn attrs(mut self, attrs: Vec<Factor>, set: fn(&Pick, GenCase) -> Option<GenCase>) -> Unary {
        self.attrs = attrs;
        self.set = set;
        self
    }
}

/// A unary op: ranks 0-4, sizes 0 / 1 / prime / large, every layout,
/// uniform values or the op's numerical traps, and its attribute factors.
fn unary_space(u: Unary) -> Option<CaseSpace> {
    let mut factors = vec![
        Factor::dtypes(u.dtypes),
        Factor::new("rank", &["r0", "r1", "r2", "r3", "r4"]),
        Factor::new("size", &["n0", "n1", "prime", "large"]),
        cases::layout_factor(),
        Factor::new("values", &["uniform", "traps"]),
    ];
    factors.extend(u.attrs);
    let (fill, traps, set) = (u.fill, u.traps, u.set);
    Some(CaseSpace {
        factors,
        build: Box::new(move |p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            if rank == 0 && !p.is("size", "n1") {
                return None; // a scalar has no size class
            }
            let dt = p.dtype();
            let shape = cases::dims(rank, elementwise_size(p.get("size")), false);
            let n: usize = shape.iter().product();
            let values = if p.is("values", "traps") {
                let t = traps(dt);
                Fill::Values((0..n).map(|i| t[i % t.len()]).collect())
            } else {
                default_fill(dt, &fill)
            };
            let x = GenInput::new(dt, shape)
                .fill(values)
                .stored(Storage::from_level(p.get("layout")));
            set(p, GenCase::new(vec![x.some()]))
        }),
    })
}

/// `fill` for floats; small integers (non-negative for unsigned dtypes),
/// false/true for bool.
fn default_fill(dt: DType, fill: &Fill) -> Fill {
    match dt {
        DType::Bool => Fill::Bernoulli(0.5),
        DType::U8 | DType::U16 | DType::U32 | DType::U64 => Fill::Int(0, 100),
        d if !d.is_float() => Fill::Int(-100, 100),
        _ => fill.clone(),
    }
}

/// Traps every float op shares: signed zeros, NaN, infinities.
const SPECIALS: [f64; 5] = [0.0, -0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

/// The integer traps of a dtype: 0, +-1, its extremes (as f64: i64's
/// largest is not, so 2^62 stands in).
fn int_traps(dt: DType) -> Vec<f64> {
    let (lo, hi) = match dt {
        DType::I8 => (-128.0, 127.0),
        DType::U8 => (0.0, 255.0),
        DType::I16 => (-32768.0, 32767.0),
        DType::U16 => (0.0, 65535.0),
        DType::I32 => (-2_147_483_648.0, 2_147_483_647.0),
        DType::U32 => (0.0, 4_294_967_295.0),
        DType::I64 => (-9_223_372_036_854_775_808.0, 4_611_686_018_427_387_904.0),
        _ => (0.0, 4_611_686_018_427_387_904.0),
    };
    let mut v = vec![0.0, 1.0, lo, hi, lo + 1.0, 7.0];
    if lo < 0.0 {
        v.extend([-1.0, -7.0]);
    }
    v
}

/// Float traps: `extra`, then the specials; integer dtypes get theirs.
fn traps_with(dt: DType, extra: &[f64]) -> Vec<f64> {
    if !dt.is_float() {
        return int_traps(dt);
    }
    let mut v = extra.to_vec();
    v.extend(SPECIALS);
    v
}

/// Float dtypes of the newest versions.
const FLOAT4: &[DType] = cases::FLOATS;
/// Floats and integers of Clip-13, Abs-13, Sign-13.
const NUMERIC: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I32,
    DType::I64,
    DType::I8,
    DType::U8,
];

/// Clip: min and max given, one of them, neither, min > max (all become
/// max), and bounds of shape [1] instead of [].
pub(super) fn clip_cases() -> Option<CaseSpace> {
    unary_space(
        Unary::new(NUMERIC, Fill::Default, |d| {
            traps_with(d, &[0.5, -0.5, 0.25, -1.0, 1e30, -1e30])
        })
        .attrs(
            vec![Factor::new(
                "bounds",
                &[
                    "both", "minonly", "maxonly", "nobounds", "inverted", "shape1",
                ],
            )],
            |p, mut c| {
                let dt = p.dtype();
                let (lo, hi) = if dt.is_float() {
                    (-0.5, 0.25)
                } else if matches!(dt, DType::U8) {
                    (20.0, 60.0)
                } else {
                    (-30.0, 40.0)
                };
                let scalar = |v: f64| GenInput::values(dt, vec![v]).shaped(Vec::new());
                let (min, max) = match p.get("bounds") {
                    "both" => (Some(scalar(lo)), Some(scalar(hi))),
                    "minonly" => (Some(scalar(lo)), None),
                    "maxonly" => (None, Some(scalar(hi))),
                    "nobounds" => (None, None),
                    "inverted" => (Some(scalar(hi)), Some(scalar(lo))),
                    _ => (
                        Some(GenInput::values(dt, vec![lo])),
                        Some(GenInput::values(dt, vec![hi])),
                    ),
                };
                match (min, max) {
                    (None, None) => {}
                    (min, None) => c.inputs.push(min),
                    (min, max) => c.inputs.extend([min, max]),
                }
                Some(c)
            },
        ),
    )
}

/// The `alpha` factor: the default and `levels` (value in the level name:
/// `alpha05` is 0.5, `alpha2` 2, `alphan05` -0.5).
fn alpha_factor(levels: &'static [&'static str]) -> Factor {
    Factor::new("alpha", levels)
}

/// Sets `alpha` from an [`alpha_factor`] level.
fn set_alpha(p: &Pick, c: GenCase) -> Option<GenCase> {
    Some(match p.get("alpha") {
        "alphadefault" => c,
        "alpha05" => c.float("alpha", 0.5),
        "alpha2" => c.float("alpha", 2.0),
        "alpha02" => c.float("alpha", 0.2),
        "alphan05" => c.float("alpha", -0.5),
        other => panic!("`{other}` is not an alpha level"),
    })
}

pub(super) fn elu_cases() -> Option<CaseSpace> {
    unary_space(
        Unary::new(FLOAT4, Fill::Uniform(-6.0, 3.0), |d| {
            traps_with(d, &[-1e-4, -1e-7, -20.0, -100.0, 1e-4])
        })
        .attrs(
            vec![alpha_factor(&["alphadefault", "alpha05", "alpha2"])],
            set_alpha,
        ),
    )
}

pub(super) fn selu_cases() -> Option<CaseSpace> {
    unary_space(
        Unary::new(FLOAT4, Fill::Uniform(-6.0, 3.0), |d| {
            traps_with(d, &[-1e-4, -1e-7, -20.0, 1e-4, 100.0])
        })
        .attrs(
            vec![Factor::new("coefficients", &["seludefault", "selucustom"])],
            |p, c| {
                Some(if p.is("coefficients", "selucustom") {
                    c.float("alpha", 2.0).float("gamma", 0.5)
                } else {
                    c
                })
            },
        ),
    )
}

pub(super) fn celu_cases() -> Option<CaseSpace> {
    unary_space(
        Unary::new(&[DType::F32], Fill::Uniform(-6.0, 3.0), |d| {
            traps_with(d, &[-1e-4, -1e-7, -20.0, 1e-4])
        })
        .attrs(
            vec![alpha_factor(&["alphadefault", "alpha05", "alpha2"])],
            set_alpha,
        ),
    )
}

pub(super) fn leaky_relu_cases() -> Option<CaseSpace> {
    unary_space(
        Unary::new(FLOAT4, Fill::Default, |d| {
            traps_with(d, &[-1e-30, -3.0, 65504.0, -65504.0])
        })
        .attrs(
            vec![alpha_factor(&["alphadefault", "alpha02", "alphan05"])],
            set_alpha,
        ),
    )
}

/// PRelu: the slope the same shape as X, a scalar, one per channel (dim 1
/// of a rank >= 2 X: [C, 1, ...]), one per last-dim element, or a leading
/// 1; floats and the integer dtypes it allows.
pub(super) fn prelu_cases() -> Option<CaseSpace> {
    unary_space(
        Unary::new(
            &[
                DType::F32,
                DType::F16,
                DType::BF16,
                DType::F64,
                DType::I32,
                DType::I64,
            ],
            Fill::Default,
            |d| traps_with(d, &[-1e-30, -3.0]),
        )
        .attrs(
            vec![Factor::new(
                "slope",
                &[
                    "slopesame",
                    "slopescalar",
                    "slopechannel",
                    "slopelast",
                    "slopelead1",
                ],
            )],
            |p, mut c| {
                let x = c.inputs[0].clone().expect("X is present");
                let r = x.shape.len();
                let shape = match p.get("slope") {
                    "slopesame" => x.shape.clone(),
                    "slopescalar" => Vec::new(),
                    "slopechannel" if r >= 2 => {
                        let mut s = vec![1; r - 1];
                        s[0] = x.shape[1];
                        s
                    }
                    "slopelast" if r >= 1 => vec![x.shape[r - 1]],
                    "slopelead1" if r >= 2 => [vec![1], x.shape[1..].to_vec()].concat(),
                    _ => return None,
                };
                let fill = if x.dtype.is_float() {
                    Fill::Uniform(-0.5, 0.5)
                } else {
                    Fill::Int(-3, 3)
                };
                c.inputs
                    .push(GenInput::new(x.dtype, shape).fill(fill).some());
                Some(c)
            },
        ),
    )
}

pub(super) fn thresholded_relu_cases() -> Option<CaseSpace> {
    unary_space(
        Unary::new(FLOAT4, Fill::Uniform(-2.0, 2.0), |d| {
            // The thresholds themselves: x == alpha gives 0.
            traps_with(d, &[1.0, 0.5, -0.5, 2.0, 1.0000001])
        })
        .attrs(
            vec![alpha_factor(&["alphadefault", "alpha05", "alphan05"])],
            set_alpha,
        ),
    )
}

/// Shrink: lambd and bias at their defaults or set; floats and integers.
pub(super) fn shrink_cases() -> Option<CaseSpace> {
    unary_space(
        Unary::new(
            &[DType::F32, DType::F16, DType::F64, DType::I32, DType::I8],
            Fill::Uniform(-3.0, 3.0),
            |d| traps_with(d, &[0.5, -0.5, 1.5, -1.5, 0.75]),
        )
        .attrs(
            vec![
                Factor::new("lambd", &["lambddefault", "lambd15"]),
                Factor::new("bias", &["biasdefault", "bias05", "bias2"]),
            ],
            |p, mut c| {
                if p.is("lambd", "lambd15") {
                    c = c.float("lambd", 1.5);
                }
                Some(match p.get("bias") {
                    "bias05" => c.float("bias", 0.5),
                    "bias2" => c.float("bias", 2.0),
                    _ => c,
                })
            },
        ),
    )
}

/// HardSigmoid: the default alpha and beta (absent: a backend defaulting
/// alpha to PyTorch's 1/6 differs), or both set.
pub(super) fn hard_sigmoid_cases() -> Option<CaseSpace> {
    unary_space(
        Unary::new(FLOAT4, Fill::Uniform(-4.0, 4.0), |d| {
            traps_with(d, &[-2.5, 2.5, 1.0, -1.0, 3.0, -3.0])
        })
        .attrs(
            vec![Factor::new("coefficients", &["hsdefault", "hscustom"])],
            |p, c| {
                Some(if p.is("coefficients", "hscustom") {
                    c.float("alpha", 0.5).float("beta", 0.25)
                } else {
                    c
                })
            },
        ),
    )
}

pub(super) fn hard_swish_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(FLOAT4, Fill::Uniform(-5.0, 5.0), |d| {
        traps_with(d, &[-3.0, 3.0, -2.9990234, 1.5, -1.5])
    }))
}

pub(super) fn mish_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(FLOAT4, Fill::Uniform(-10.0, 10.0), |d| {
        traps_with(d, &[-20.0, -50.0, 20.0, 100.0, 1e-4, -1e-4])
    }))
}

pub(super) fn softsign_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(FLOAT4, Fill::Uniform(-10.0, 10.0), |d| {
        traps_with(d, &[1e30, -1e30, 1e-30, 60000.0])
    }))
}

pub(super) fn abs_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(NUMERIC, Fill::Default, |d| {
        traps_with(d, &[-1e-30, 65504.0, -65504.0])
    }))
}

/// Rounding traps: halves (ties), values just below a half, integers past
/// the dtype's last fractional bit.
fn rounding_traps(dt: DType) -> Vec<f64> {
    traps_with(
        dt,
        &[
            0.5,
            1.5,
            2.5,
            -0.5,
            -1.5,
            -2.5,
            0.49999997,
            -0.49999997,
            0.4,
            -0.4,
            8388609.0,
            -8388609.5,
            1e30,
        ],
    )
}

pub(super) fn ceil_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(
        FLOAT4,
        Fill::Uniform(-10.0, 10.0),
        rounding_traps,
    ))
}

pub(super) fn floor_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(
        FLOAT4,
        Fill::Uniform(-10.0, 10.0),
        rounding_traps,
    ))
}

pub(super) fn round_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(
        FLOAT4,
        Fill::Uniform(-10.0, 10.0),
        rounding_traps,
    ))
}

pub(super) fn sign_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(NUMERIC, Fill::Default, |d| {
        traps_with(d, &[1e-30, -1e-30])
    }))
}

/// Large arguments of the periodic functions: exact reduction matters.
const LARGE_ARGUMENTS: [f64; 8] = [1e4, -1e4, 3141.5927, 12345.678, 65504.0, 1e6, 1e22, -3.0e30];

pub(super) fn sin_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(FLOAT4, Fill::Uniform(-10.0, 10.0), |d| {
        traps_with(
            d,
            &[
                &LARGE_ARGUMENTS[..],
                &[f64::from(std::f32::consts::PI), 1e-5],
            ]
            .concat(),
        )
    }))
}

pub(super) fn cos_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(FLOAT4, Fill::Uniform(-10.0, 10.0), |d| {
        traps_with(
            d,
            &[
                &LARGE_ARGUMENTS[..],
                &[f64::from(std::f32::consts::FRAC_PI_2), 1e-5],
            ]
            .concat(),
        )
    }))
}

pub(super) fn tan_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(FLOAT4, Fill::Uniform(-1.5, 1.5), |d| {
        traps_with(
            d,
            &[
                &LARGE_ARGUMENTS[..],
                &[
                    f64::from(std::f32::consts::FRAC_PI_2),
                    -f64::from(std::f32::consts::FRAC_PI_2),
                    1e-5,
                ],
            ]
            .concat(),
        )
    }))
}

/// Domain edges of asin/acos: +-1, just inside, just outside (NaN).
pub(super) fn asin_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(FLOAT4, Fill::Uniform(-1.0, 1.0), |d| {
        traps_with(
            d,
            &[1.0, -1.0, 0.99999994, -0.99999994, 1.0078125, -1.5, 1e-5],
        )
    }))
}

pub(super) fn acos_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(FLOAT4, Fill::Uniform(-1.0, 1.0), |d| {
        traps_with(
            d,
            &[1.0, -1.0, 0.99999994, -0.99999994, 1.0078125, -1.5, 1e-5],
        )
    }))
}

pub(super) fn atan_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(FLOAT4, Fill::Uniform(-10.0, 10.0), |d| {
        traps_with(d, &[1e30, -1e30, 1e-5, 1.0, -1.0])
    }))
}

pub(super) fn sinh_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(FLOAT4, Fill::Uniform(-5.0, 5.0), |d| {
        traps_with(d, &[1e-4, -1e-4, 1e-7, 10.0, -10.0])
    }))
}

pub(super) fn cosh_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(FLOAT4, Fill::Uniform(-5.0, 5.0), |d| {
        traps_with(d, &[1e-4, -1e-4, 10.0, -10.0])
    }))
}

pub(super) fn asinh_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(FLOAT4, Fill::Uniform(-10.0, 10.0), |d| {
        traps_with(d, &[1e-4, -1e-4, 1e-7, 1e10, -1e10])
    }))
}

/// acosh: 1 (0), just above, below 1 (NaN).
pub(super) fn acosh_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(FLOAT4, Fill::Uniform(1.0, 10.0), |d| {
        traps_with(d, &[1.0, 1.0078125, 1.0009765625, 0.99, -1.0, 1e10])
    }))
}

/// atanh: +-1 (+-inf), just inside, outside (NaN).
pub(super) fn atanh_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(FLOAT4, Fill::Uniform(-0.99, 0.99), |d| {
        traps_with(d, &[1.0, -1.0, 0.99609375, -0.99609375, 1.5, 1e-5, -1e-5])
    }))
}

/// Classifier traps: finite extremes beside the specials.
fn classifier_traps(dt: DType) -> Vec<f64> {
    traps_with(dt, &[1.0, -2.5, 448.0, -448.0])
}

pub(super) fn is_nan_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(
        super::spec::FLOATS,
        Fill::Default,
        classifier_traps,
    ))
}

/// IsInf: each detect flag at its default or 0.
pub(super) fn is_inf_cases() -> Option<CaseSpace> {
    unary_space(
        Unary::new(super::spec::FLOATS, Fill::Default, classifier_traps).attrs(
            vec![
                Factor::new("negative", &["negdefault", "neg0"]),
                Factor::new("positive", &["posdefault", "pos0"]),
            ],
            |p, mut c| {
                if p.is("negative", "neg0") {
                    c = c.int("detect_negative", 0);
                }
                if p.is("positive", "pos0") {
                    c = c.int("detect_positive", 0);
                }
                Some(c)
            },
        ),
    )
}

pub(super) fn not_cases() -> Option<CaseSpace> {
    unary_space(Unary::new(&[DType::Bool], Fill::Default, |_| {
        vec![0.0, 1.0, 1.0]
    }))
}

#[cfg(test)]
mod tests;
