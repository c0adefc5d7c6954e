//! Elementwise ops: the four arithmetic ops with broadcasting, the unary math
//! functions, Where and Cast.
//!
//! Their check policies follow the error a correct implementation can have
//! (OpenCL CTS budgets; the reasoning is at `numerics::check::default_check`).

use ndarray::Zip;

use super::rules::{broadcast_all, no_flops, no_sum, per_output_element, same_as_first};
use super::spec::{
    BINARY, CONVERTIBLE_21, CONVERTIBLE_23, CONVERTIBLE_24, CONVERTIBLE_25, T_ANY, T_FLOAT,
    T_NUMERIC, TypeVar, UNARY, fixed, unary,
};
use super::{
    AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape, Value,
    broadcast, finish, quant, wrap_int,
};
use crate::numerics::check::CheckPolicy;
use crate::numerics::{DType, E8m0Rounding, round_to, to_e8m0, to_f64_bits};

/// Neg's and Relu's `T`: floats and signed integers.
const T_SIGNED: TypeVar = TypeVar {
    name: "T",
    allowed: &[
        DType::F64,
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::F8E4M3FN,
        DType::F8E5M2,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
    ],
};

/// Where's condition.
const CONDITION: TypeVar = TypeVar {
    name: "B",
    allowed: &[DType::Bool],
};

/// A binary arithmetic op (opset 14): broadcast shapes, one FLOP per output
/// element; `float` and `int` are its arithmetic on floats and on integers
/// (`int` gives `None` where ONNX leaves the result undefined).
macro_rules! arithmetic_op {
    ($name:literal, $check:expr, $float:expr, $int:expr) => {
        OpDef {
            spec: OpSpec {
                name: $name,
                domain: "",
                opset: 14,
                arity: fixed(2, 0),
                input_names: BINARY,
                input_types: &[T_NUMERIC, T_NUMERIC],
                outputs: 1,
                attributes: &[],
            },
            oracle: |c| Ok(vec![arithmetic(c, $float, $int)?]),
            shape: broadcast_all,
            cost: per_output_element,
            check: $check,
            terms: no_sum,
        }
    };
}

/// A unary op computing `f` on floats: same shape, one FLOP per element.
macro_rules! unary_op {
    ($name:literal, $opset:literal, $check:expr, $f:expr) => {
        OpDef {
            spec: unary($name, $opset),
            oracle: |c| Ok(vec![unary_float(c, $f)?]),
            shape: same_as_first,
            cost: per_output_element,
            check: $check,
            terms: no_sum,
        }
    };
}

/// Correctly rounded by IEEE-754 (0 ulp in the CTS), so 0.5 ulp.
pub(super) const ADD: OpDef = arithmetic_op!(
    "Add",
    CheckPolicy::UlpOrSubnormal(0.5),
    |x, y| x + y,
    |x, y| Some(x.wrapping_add(y))
);
/// Correctly rounded, as Add.
pub(super) const SUB: OpDef = arithmetic_op!(
    "Sub",
    CheckPolicy::UlpOrSubnormal(0.5),
    |x, y| x - y,
    |x, y| Some(x.wrapping_sub(y))
);
/// Correctly rounded, as Add.
pub(super) const MUL: OpDef = arithmetic_op!(
    "Mul",
    CheckPolicy::UlpOrSubnormal(0.5),
    |x, y| x * y,
    |x, y| Some(x.wrapping_mul(y))
);
/// 2.5 ulp (CTS single-precision divide); a multiply by the reciprocal passes.
pub(super) const DIV: OpDef = OpDef {
    // The shape rule also refuses an integer division by zero, as the
    // oracle does (it reads the divisor's values).
    shape: |attrs, inputs, values| {
        let dtype = super::rules::input(inputs, 0)?.0;
        if !dtype.is_float() && values(1).contains(&0.0) {
            return Err(INT_DIV_BY_ZERO.into());
        }
        broadcast_all(attrs, inputs, values)
    },
    ..arithmetic_op!(
        "Div",
        CheckPolicy::UlpOrSubnormal(2.5),
        |x, y| x / y,
        // Truncates toward zero.
        |x, y| (y != 0).then(|| x.wrapping_div(y))
    )
};

/// The error of an integer division by zero.
const INT_DIV_BY_ZERO: &str = "integer division by zero (undefined in ONNX)";

/// Neg also accepts signed integers (its ONNX type constraint does). No
/// rounding: exact.
pub(super) const NEG: OpDef = OpDef {
    spec: OpSpec {
        input_types: &[T_SIGNED],
        ..unary("Neg", 13)
    },
    oracle: |c| Ok(vec![unary_signed(c, |v| -v)?]),
    shape: same_as_first,
    cost: per_output_element,
    check: CheckPolicy::Exact,
    terms: no_sum,
};
/// CTS budget 3, plus one for f16/bf16 results of an f32 routine.
pub(super) const EXP: OpDef = unary_op!("Exp", 13, CheckPolicy::Ulp(4.0), f64::exp);
/// Near x = 1 a correct log cancels `e ln2 + log m`: ~2u absolute.
pub(super) const LOG: OpDef = unary_op!("Log", 13, CheckPolicy::UlpOrAbsolute(4.0), f64::ln);
/// CTS; sqrt never returns a subnormal, so no floor.
pub(super) const SQRT: OpDef = unary_op!("Sqrt", 13, CheckPolicy::Ulp(3.0), f64::sqrt);
/// As Div.
pub(super) const RECIPROCAL: OpDef =
    unary_op!("Reciprocal", 13, CheckPolicy::UlpOrSubnormal(2.5), |v| 1.0
        / v);
/// CTS 5, plus one as for Exp.
pub(super) const TANH: OpDef = unary_op!("Tanh", 13, CheckPolicy::Ulp(6.0), f64::tanh);
/// An exp within 3 ulps, one add, one divide; subnormal results are kept.
pub(super) const SIGMOID: OpDef =
    unary_op!("Sigmoid", 13, CheckPolicy::UlpOrSubnormal(5.0), sigmoid);
/// Relu also accepts signed integers. No rounding: exact.
pub(super) const RELU: OpDef = OpDef {
    spec: OpSpec {
        input_types: &[T_SIGNED],
        ..unary("Relu", 14)
    },
    // f64::max would turn NaN into 0; Relu must propagate it.
    oracle: |c| Ok(vec![unary_signed(c, |v| if v < 0.0 { 0.0 } else { v })?]),
    shape: same_as_first,
    cost: per_output_element,
    check: CheckPolicy::Exact,
    terms: no_sum,
};
/// CTS erf budget.
pub(super) const ERF: OpDef = unary_op!("Erf", 13, CheckPolicy::Ulp(16.0), libm::erf);
/// ln(1 + e^x) rounds 1 + e^x: u absolute for x << 0.
pub(super) const SOFTPLUS: OpDef =
    unary_op!("Softplus", 22, CheckPolicy::UlpOrAbsolute(4.0), softplus);
/// Judged by its error model ([`gelu_model`]) with `c = 1`: 1 + erf cancels
/// for x < -2, so the honest error there is ~|x| u absolute.
pub(super) const GELU: OpDef = OpDef {
    spec: OpSpec {
        name: "Gelu",
        domain: "",
        opset: 20,
        arity: fixed(1, 0),
        input_names: UNARY,
        input_types: &[T_FLOAT],
        outputs: 1,
        attributes: &[("approximate", AttrType::String)],
    },
    oracle: |c| {
        let tanh = gelu_is_tanh(c.attrs).map_err(|m| c.err(m))?;
        let f = if tanh { gelu_tanh } else { gelu_erf };
        let out = unary_float(c, f)?;
        let x = c.input(0)?;
        let models = x.data.mapv(|x| gelu_model(x, tanh));
        let (model, io) = (models.mapv(|m| m.0), models.mapv(|m| m.1));
        Ok(vec![Output::bounded(
            out.value.dtype,
            out.value.data,
            model,
            Some(io),
        )])
    },
    shape: |attrs, inputs, values| {
        gelu_is_tanh(attrs)?;
        same_as_first(attrs, inputs, values)
    },
    cost: per_output_element,
    check: CheckPolicy::ModelBound,
    terms: no_sum,
};

/// Gelu's `approximate`: `"tanh"` (true) or `"none"` (false, the default).
fn gelu_is_tanh(attrs: &Attributes) -> std::result::Result<bool, String> {
    match attrs.string("approximate", "none")? {
        "none" => Ok(false),
        "tanh" => Ok(true),
        other => Err(format!(
            "attribute approximate must be \"none\" or \"tanh\", got {other:?}"
        )),
    }
}

/// Selection: exact.
pub(super) const WHERE: OpDef = OpDef {
    spec: OpSpec {
        name: "Where",
        domain: "",
        opset: 16,
        arity: fixed(3, 0),
        input_names: &["condition", "X", "Y"],
        input_types: &[CONDITION, T_ANY, T_ANY],
        outputs: 1,
        attributes: &[],
    },
    oracle: |c| Ok(vec![where_(c)?]),
    shape: |attrs, inputs, values| {
        // The output takes X's dtype, the shape all three broadcast to.
        let mut out = broadcast_all(attrs, inputs, values)?;
        out[0].0 = super::rules::input(inputs, 1)?.0;
        Ok(out)
    },
    cost: per_output_element,
    check: CheckPolicy::Exact,
    terms: no_sum,
};

/// Cast-21's `T1`/`T2`: int4 and uint4 added (fp8 fnuz came in 19).
const T_CAST_21: TypeVar = TypeVar {
    name: "T",
    allowed: CONVERTIBLE_21,
};
/// Cast-23's: FLOAT4E2M1 added.
const T_CAST_23: TypeVar = TypeVar {
    name: "T",
    allowed: CONVERTIBLE_23,
};
/// Cast-24's: FLOAT8E8M0 added.
const T_CAST_24: TypeVar = TypeVar {
    name: "T",
    allowed: CONVERTIBLE_24,
};
/// Cast-25's: int2 and uint2 added.
const T_CAST_25: TypeVar = TypeVar {
    name: "T",
    allowed: CONVERTIBLE_25,
};

/// A conversion is one rounding, which the oracle does too: exact.
pub(super) const CAST: OpDef = OpDef {
    spec: OpSpec {
        name: "Cast",
        domain: "",
        opset: 21,
        arity: fixed(1, 0),
        input_names: &["input"],
        input_types: &[T_CAST_21],
        outputs: 1,
        attributes: &[("to", AttrType::Int), ("saturate", AttrType::Int)],
    },
    oracle: |c| Ok(vec![cast(c, CONVERTIBLE_21)?]),
    shape: |a, s, _| cast_shape(a, s, CONVERTIBLE_21),
    cost: no_flops,
    check: CheckPolicy::Exact,
    terms: no_sum,
};

/// Cast-23: adds FLOAT4E2M1 (always saturating, NaN to +6).
pub(super) const CAST_23: OpDef = OpDef {
    spec: OpSpec {
        opset: 23,
        input_types: &[T_CAST_23],
        ..CAST.spec
    },
    oracle: |c| Ok(vec![cast(c, CONVERTIBLE_23)?]),
    shape: |a, s, _| cast_shape(a, s, CONVERTIBLE_23),
    ..CAST
};

/// Cast-24: adds FLOAT8E8M0 and the `round_mode` attribute for it.
pub(super) const CAST_24: OpDef = OpDef {
    spec: OpSpec {
        opset: 24,
        input_types: &[T_CAST_24],
        attributes: &[
            ("to", AttrType::Int),
            ("saturate", AttrType::Int),
            ("round_mode", AttrType::String),
        ],
        ..CAST.spec
    },
    oracle: |c| Ok(vec![cast(c, CONVERTIBLE_24)?]),
    shape: |a, s, _| cast_shape(a, s, CONVERTIBLE_24),
    ..CAST
};

/// Cast-25: adds int2 and uint2 (round to nearest even, keep two bits).
pub(super) const CAST_25: OpDef = OpDef {
    spec: OpSpec {
        opset: 25,
        input_types: &[T_CAST_25],
        ..CAST_24.spec
    },
    oracle: |c| Ok(vec![cast(c, CONVERTIBLE_25)?]),
    shape: |a, s, _| cast_shape(a, s, CONVERTIBLE_25),
    ..CAST
};

/// Cast's `to`: a dtype code the version admits (`allowed`); shared by the
/// oracle and the shape rule so both refuse the same calls.
fn cast_target(attrs: &Attributes, allowed: &[DType]) -> std::result::Result<DType, String> {
    let code = match attrs.get("to") {
        None => return Err("attribute to is required".into()),
        Some(_) => attrs.int("to", 0)?,
    };
    let to = i32::try_from(code)
        .ok()
        .and_then(DType::from_code)
        .ok_or_else(|| format!("attribute to = {code} is not a dtype xpucert knows"))?;
    if !allowed.contains(&to) {
        return Err(format!(
            "attribute to = {to} is not a dtype of this version"
        ));
    }
    Ok(to)
}

/// Cast's output: the `to` dtype, the input's shape.
fn cast_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    allowed: &[DType],
) -> std::result::Result<Vec<TypedShape>, String> {
    let (_, shape) = super::rules::input(inputs, 0)?;
    let dtype = cast_target(attrs, allowed)?;
    e8m0_rounding(attrs)?;
    Ok(vec![(dtype, shape.clone())])
}

/// Add, Sub, Mul, Div (opset 14): multidirectional broadcasting, output dtype
/// = input dtype. Float division follows IEEE (x/0 is +-inf or NaN). Integer
/// ops are computed exactly in i128 and wrapped to the dtype; integer Div
/// truncates toward zero, and an integer division by zero (undefined in ONNX)
/// is reported as an error rather than given a made-up value.
fn arithmetic(
    call: &Call,
    float: fn(f64, f64) -> f64,
    int: fn(i128, i128) -> Option<i128>,
) -> Result<Output> {
    let (a, b) = (call.input(0)?, call.input(1)?);
    let shape = broadcast::shapes(call, &[a.shape(), b.shape()])?;
    let av = broadcast::to(call, "A", &a.data, &shape)?;
    let bv = broadcast::to(call, "B", &b.data, &shape)?;
    let data = if a.dtype.is_float() {
        Zip::from(&av).and(&bv).map_collect(|&x, &y| float(x, y))
    } else {
        // Inputs of an integer dtype hold integers, so `as i128` is exact;
        // wrapping i128 arithmetic keeps the low bits that the dtype keeps.
        let mut undefined = false;
        let exact = Zip::from(&av).and(&bv).map_collect(|&x, &y| {
            int(x as i128, y as i128).map_or_else(
                || {
                    undefined = true;
                    0.0
                },
                |v| v as f64,
            )
        });
        if undefined {
            return Err(call.err(INT_DIV_BY_ZERO));
        }
        finish(a.dtype, exact)
    };
    Ok(Output::plain(a.dtype, data))
}

/// A float-only unary op computing `f` elementwise.
fn unary_float(call: &Call, f: fn(f64) -> f64) -> Result<Output> {
    let x = call.input(0)?;
    Ok(Output::plain(x.dtype, x.data.mapv(f)))
}

/// A unary op that also accepts signed integers (Neg, Relu: their ONNX type
/// constraints do), computing `f` elementwise.
fn unary_signed(call: &Call, f: fn(f64) -> f64) -> Result<Output> {
    let x = call.input(0)?;
    if matches!(x.dtype, DType::I8 | DType::I16 | DType::I32 | DType::I64) {
        return Ok(Output::plain(x.dtype, finish(x.dtype, x.data.mapv(f))));
    }
    unary_float(call, f)
}

/// 1 / (1 + e^-x), in the form that never overflows.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// ln(1 + e^x) (Softplus-22), without overflow for large x and without
/// losing the tiny result for very negative x.
fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// Gelu with approximate="none": 0.5 x (1 + erf(x / sqrt 2)), written as
/// 0.5 x erfc(-x / sqrt 2), which is the same function but keeps full
/// relative accuracy in the negative tail, where 1 + erf cancels to 0.
fn gelu_erf(x: f64) -> f64 {
    0.5 * x * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// The error model of Gelu as ONNX writes it, `0.5 x (1 + r)`, in units of
/// the compute precision's u (`docs/error-models.md`):
/// * erf form, `r = erf(t)`, `t = x / sqrt 2`: the scaling of t moves erf by
///   `erf'(t) |t|`; erf itself is within 16 ulps (the OpenCL CTS budget),
///   `32 |r|`; then `1 + r` and the product round: `0.5 |x| (erf'(t) |t| +
///   32 |r| + |1 + r|) + |y|`;
/// * tanh form, `r = tanh(z)`, `z = sqrt(2/pi) (x + 0.044715 x^3)`: z costs
///   4 roundings of its terms, which tanh scales by `1 - r^2`; tanh is within
///   6 ulps, `12 |r|`: `0.5 |x| ((1 - r^2) 4 sqrt(2/pi) (|x| + 0.044715
///   |x|^3) + 12 |r| + |1 + r|) + |y|`.
///
/// Returns `(M, M_io)`: the function body runs every stage in the io dtype,
/// each correctly rounded there, which costs `0.5 |x| (s + |r| + |1 + r|)`
/// with `s` the argument scaling's effect (`erf'(t) |t|`, or the tanh
/// form's `(1 - r^2) 4 sqrt(2/pi) (|x| + 0.044715 |x|^3)`).
fn gelu_model(x: f64, tanh: bool) -> (f64, f64) {
    use std::f64::consts::{PI, SQRT_2};
    if !x.is_finite() {
        return (0.0, 0.0);
    }
    // (argument scaling's effect, the function's ulp budget in u, r)
    let (arg, budget, r) = if tanh {
        let c = (2.0 / PI).sqrt();
        let r = (c * (x + 0.044715 * x * x * x)).tanh();
        let arg = (1.0 - r * r) * 4.0 * c * (x.abs() + 0.044715 * x.abs().powi(3));
        (arg, 12.0, r)
    } else {
        let t = x / SQRT_2;
        let r = libm::erf(t);
        (2.0 / PI.sqrt() * (-t * t).exp() * t.abs(), 32.0, r)
    };
    let y = if tanh { gelu_tanh(x) } else { gelu_erf(x) };
    let half_x = 0.5 * x.abs();
    (
        half_x * (arg + budget * r.abs() + (1.0 + r).abs()) + y.abs(),
        half_x * (arg + r.abs() + (1.0 + r).abs()),
    )
}

/// Gelu with approximate="tanh": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
/// Since 1 + tanh(u) = 2 sigmoid(2u), this is x sigmoid(2u), which avoids the
/// same cancellation as above.
fn gelu_tanh(x: f64) -> f64 {
    let u = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
    x * sigmoid(2.0 * u)
}

/// Where (opset 16): `condition ? X : Y` with all three broadcast together.
fn where_(call: &Call) -> Result<Output> {
    let (c, x, y) = (call.input(0)?, call.input(1)?, call.input(2)?);
    let shape = broadcast::shapes(call, &[c.shape(), x.shape(), y.shape()])?;
    let cv = broadcast::to(call, "condition", &c.data, &shape)?;
    let xv = broadcast::to(call, "X", &x.data, &shape)?;
    let yv = broadcast::to(call, "Y", &y.data, &shape)?;
    let data = Zip::from(&cv)
        .and(&xv)
        .and(&yv)
        .map_collect(|&c, &x, &y| if c != 0.0 { x } else { y });
    Ok(Output::plain(x.dtype, data))
}

/// Cast (opsets 21, 23, 24, 25; `allowed`: the version's dtypes, which `to`
/// must be one of): the value converted to `to`.
/// * to a float type: round to nearest even (`round_to`);
/// * to fp8: the spec's tables. With saturate=1 (default) +-Inf and values
///   whose rounding exceeds the largest finite value become +-max (all four
///   formats). With saturate=0, e4m3fn gives NaN, e5m2 +-Inf, and the fnuz
///   formats their one NaN for those (`quant::to_fp8`, shared with
///   QuantizeLinear); fnuz has no -0 (it becomes +0);
/// * to FLOAT4E2M1: round to nearest even, always saturating, NaN to +6
///   (ONNX's float4 table);
/// * to FLOAT8E8M0: the power of two by `round_mode` (up, down, nearest),
///   zero to 2^-127 with saturate (NaN without), NaN to NaN;
/// * to int4/uint4 (int2/uint2): round to nearest even, then keep the low
///   four (two) bits (ONNX's int4 and int2 notes), from floats and integers
///   alike;
/// * float to integer: truncation toward zero (numpy's `astype`, which the
///   ONNX reference uses); out of range is undefined in ONNX and saturates
///   here; NaN gives 0;
/// * integer or bool to integer: "when OOR, discard higher bits and
///   reinterpret" (two's complement wrap);
/// * to bool: zero is false, everything else (NaN included) true.
fn cast(call: &Call, allowed: &[DType]) -> Result<Output> {
    let x = call.input(0)?;
    let to = cast_target(call.attrs, allowed).map_err(|m| call.err(m))?;
    let saturate = call.int("saturate", 1)? != 0;
    let rounding = e8m0_rounding(call.attrs).map_err(|m| call.err(m))?;
    Ok(convert(x, to, saturate, rounding))
}

/// Cast-24's and CastLike-24's `round_mode` (default `up`; it only matters
/// for FLOAT8E8M0 targets), shared by the oracles and the shape rules.
pub(super) fn e8m0_rounding(attrs: &Attributes) -> std::result::Result<E8m0Rounding, String> {
    match attrs.string("round_mode", "up")? {
        "up" => Ok(E8m0Rounding::Up),
        "down" => Ok(E8m0Rounding::Down),
        "nearest" => Ok(E8m0Rounding::Nearest),
        other => Err(format!(
            "round_mode must be up, down or nearest, got {other:?}"
        )),
    }
}

/// `x` converted to `to` by Cast's rules (see [`cast`]); CastLike, whose
/// target is another input's dtype, converts with it too. `rounding` only
/// matters for FLOAT8E8M0 targets.
pub(super) fn convert(x: &Value, to: DType, saturate: bool, rounding: E8m0Rounding) -> Output {
    let from_float = x.dtype.is_float();
    let data = x.data.mapv(|v| match to {
        DType::F8E4M3FN | DType::F8E5M2 | DType::F8E4M3FNUZ | DType::F8E5M2FNUZ => {
            quant::to_fp8(to, v, saturate)
        }
        DType::F8E8M0 => to_f64_bits(DType::F8E8M0, &[to_e8m0(v, saturate, rounding)]),
        // ONNX's int4 note: round to nearest even, keep four bits, for
        // float and integer sources alike (an integer is its own rounding).
        DType::I4 | DType::U4 | DType::I2 | DType::U2 => round_to(to, v),
        DType::Bool => wrap_int(DType::Bool, v),
        t if t.is_float() => round_to(t, v),
        t if from_float => round_to(t, v),
        t => wrap_int(t, v),
    });
    Output::plain(to, data)
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};

/// The sizes of an elementwise size class: the last dim of the full operand.
pub(super) fn elementwise_size(level: &str) -> usize {
    match level {
        "n0" => 0,
        "n1" => 1,
        "prime" => 7,
        "large" => 1031,
        other => panic!("`{other}` is not a size level"),
    }
}

/// Add, Sub, Mul, Div: every broadcast pattern on either side, ranks 1-4,
/// equal and distinct dims, sizes 0 / 1 / prime / large, every layout of the
/// full operand. `b_fill` is the second operand's values by dtype (Div keeps
/// away from 0).
fn binary_space(dtypes: &[DType], b_fill: fn(DType) -> Fill) -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(dtypes),
            Factor::new("rank", &["r1", "r2", "r3", "r4"]),
            Factor::new(
                "broadcast",
                &[
                    "same", "scalar", "lowrank", "lowrank1", "mid1", "lead1", "trail1", "outer",
                ],
            ),
            Factor::new("side", &["bcastb", "bcasta"]),
            Factor::new("dims", &["eqdims", "distinct"]),
            Factor::new("size", &["n0", "n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(move |p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let size = elementwise_size(p.get("size"));
            let eq = p.is("dims", "eqdims");
            if eq && size > 64 {
                return None; // all dims large: too big for what it adds
            }
            let full = cases::dims(rank, size, eq);
            let (a, b) = broadcast_pattern(p.get("broadcast"), full)?;
            let dt = p.dtype();
            let storage = Storage::from_level(p.get("layout"));
            let big = GenInput::new(dt, a).stored(storage);
            let small = GenInput::new(dt, b);
            let (a, b) = if p.is("side", "bcastb") {
                (big, small)
            } else {
                (small, big)
            };
            Some(GenCase::new(vec![a.some(), b.fill(b_fill(dt)).some()]))
        }),
    })
}

/// The two shapes of a broadcast pattern on `full` (the larger first), or
/// `None` where the pattern needs a higher rank.
pub(super) fn broadcast_pattern(
    pattern: &str,
    full: Vec<usize>,
) -> Option<(Vec<usize>, Vec<usize>)> {
    let r = full.len();
    Some(match pattern {
        "same" => (full.clone(), full),
        "scalar" => (full, Vec::new()),
        // [2, 3, 4] with [3, 4]
        "lowrank" if r >= 2 => (full.clone(), full[1..].to_vec()),
        // [2, 3, 4] with [1, 4]
        "lowrank1" if r >= 3 => {
            let b = [vec![1], full[2..].to_vec()].concat();
            (full, b)
        }
        // [5, 1, 7] with [1, 7]: both sides broadcast
        "mid1" if r >= 3 => {
            let mut a = full.clone();
            a[r - 2] = 1;
            (a, vec![1, full[r - 1]])
        }
        // [2, 3, 4] with [1, 3, 4]
        "lead1" if r >= 2 => {
            let mut b = full.clone();
            b[0] = 1;
            (full, b)
        }
        // [2, 3, 4] with [2, 3, 1]
        "trail1" => {
            let mut b = full.clone();
            b[r - 1] = 1;
            (full, b)
        }
        // [.., 3, 1] with [.., 1, 4]
        "outer" if r >= 2 => {
            let mut a = full.clone();
            let mut b = full;
            a[r - 1] = 1;
            b[r - 2] = 1;
            (a, b)
        }
        _ => return None,
    })
}

/// The dtypes of the arithmetic cases: the floats and every integer dtype.
const ARITHMETIC_DTYPES: &[DType] = &[
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

pub(super) fn add_cases() -> Option<CaseSpace> {
    binary_space(ARITHMETIC_DTYPES, |_| Fill::Default)
}

pub(super) fn sub_cases() -> Option<CaseSpace> {
    binary_space(ARITHMETIC_DTYPES, |_| Fill::Default)
}

pub(super) fn mul_cases() -> Option<CaseSpace> {
    binary_space(ARITHMETIC_DTYPES, |_| Fill::Default)
}

/// Float divisors away from 0; integer divisors from 1 to 9, never 0 (an
/// integer division by 0 is undefined), with signed dividends of both signs
/// so that truncation toward zero shows.
pub(super) fn div_cases() -> Option<CaseSpace> {
    binary_space(ARITHMETIC_DTYPES, |dt| {
        if dt.is_float() {
            Fill::Uniform(0.25, 4.0)
        } else {
            Fill::Int(1, 9)
        }
    })
}

/// A unary op: ranks 0-4, sizes 0 / 1 / prime / large, every layout, values
/// from `fill`; `extra` factors with the attribute each sets (Gelu's
/// `approximate`).
fn unary_space(
    fill: Fill,
    extra: Option<(&'static str, &'static [&'static str])>,
) -> Option<CaseSpace> {
    let mut factors = vec![
        Factor::dtypes(cases::FLOATS),
        Factor::new("rank", &["r0", "r1", "r2", "r3", "r4"]),
        Factor::new("size", &["n0", "n1", "prime", "large"]),
        cases::layout_factor(),
    ];
    if let Some((name, levels)) = extra {
        factors.push(Factor::new(name, levels));
    }
    Some(CaseSpace {
        factors,
        build: Box::new(move |p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            if rank == 0 && !p.is("size", "n1") {
                return None; // a scalar has no size class
            }
            let x = GenInput::new(
                p.dtype(),
                cases::dims(rank, elementwise_size(p.get("size")), false),
            )
            .fill(fill.clone())
            .stored(Storage::from_level(p.get("layout")));
            let mut case = GenCase::new(vec![x.some()]);
            if let Some((name, _)) = extra {
                case = case.string(name, p.get(name));
            }
            Some(case)
        }),
    })
}

pub(super) fn neg_cases() -> Option<CaseSpace> {
    unary_space(Fill::Default, None)
}

pub(super) fn exp_cases() -> Option<CaseSpace> {
    unary_space(Fill::Uniform(-10.0, 10.0), None)
}

pub(super) fn log_cases() -> Option<CaseSpace> {
    unary_space(Fill::Uniform(0.01, 10.0), None)
}

pub(super) fn sqrt_cases() -> Option<CaseSpace> {
    unary_space(Fill::Uniform(0.0, 100.0), None)
}

pub(super) fn reciprocal_cases() -> Option<CaseSpace> {
    unary_space(Fill::Uniform(0.1, 10.0), None)
}

pub(super) fn tanh_cases() -> Option<CaseSpace> {
    unary_space(Fill::Uniform(-5.0, 5.0), None)
}

pub(super) fn sigmoid_cases() -> Option<CaseSpace> {
    unary_space(Fill::Uniform(-10.0, 10.0), None)
}

pub(super) fn relu_cases() -> Option<CaseSpace> {
    unary_space(Fill::Default, None)
}

pub(super) fn erf_cases() -> Option<CaseSpace> {
    unary_space(Fill::Uniform(-3.0, 3.0), None)
}

pub(super) fn softplus_cases() -> Option<CaseSpace> {
    unary_space(Fill::Uniform(-10.0, 10.0), None)
}

pub(super) fn gelu_cases() -> Option<CaseSpace> {
    unary_space(
        Fill::Uniform(-4.0, 4.0),
        Some(("approximate", &["none", "tanh"])),
    )
}

/// Where: a bool condition, X and Y of every movable dtype, each operand
/// broadcast in turn (lower rank, trailing 1, scalar, all three at once).
pub(super) fn where_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("rank", &["r1", "r2", "r3"]),
            Factor::new(
                "broadcast",
                &[
                    "same",
                    "condrow",
                    "xscalar",
                    "ylowrank",
                    "ylowrank1",
                    "threeway",
                ],
            ),
            Factor::new("size", &["n0", "n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let full = cases::dims(rank, elementwise_size(p.get("size")), false);
            let (mut c, mut x, mut y) = (full.clone(), full.clone(), full.clone());
            match p.get("broadcast") {
                "same" => {}
                "condrow" => c[rank - 1] = 1,
                "xscalar" => x = Vec::new(),
                "ylowrank" if rank >= 2 => y = full[1..].to_vec(),
                "ylowrank1" if rank >= 3 => y = [vec![1], full[2..].to_vec()].concat(),
                "threeway" if rank >= 3 => {
                    c[0] = 1;
                    c[rank - 1] = 1;
                    x[1] = 1;
                    y = full[1..].to_vec();
                }
                _ => return None,
            }
            let dt = p.dtype();
            Some(GenCase::new(vec![
                GenInput::new(DType::Bool, c)
                    .fill(Fill::Bernoulli(0.5))
                    .some(),
                GenInput::new(dt, x)
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::new(dt, y).some(),
            ]))
        }),
    })
}

/// Cast: every movable and narrow dtype to every one, `saturate` 0 for the
/// fp8 and E8M0 targets (values past their range then), sizes and layouts.
pub(super) fn cast_cases() -> Option<CaseSpace> {
    Some(conversion_space(|x, to| {
        GenCase::new(vec![x.some()]).int("to", i64::from(to.code()))
    }))
}

/// The dtypes a generated conversion case converts from and to: the
/// movable ones and the narrow ones (which the newest Cast and CastLike
/// take).
const CONVERTED: &[DType] = &[
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
    DType::I4,
    DType::U4,
    DType::F4E2M1,
    DType::F8E8M0,
    DType::I2,
    DType::U2,
];

/// The case space of a conversion (Cast, CastLike): the input `x` of every
/// movable or narrow dtype, filled for the target, and the target dtype, which `call`
/// turns into the op's call (an attribute or a target tensor).
pub(super) fn conversion_space(call: fn(GenInput, DType) -> GenCase) -> CaseSpace {
    CaseSpace {
        factors: vec![
            Factor::dtypes(CONVERTED),
            Factor::new(
                "to",
                &[
                    "tof32",
                    "tof16",
                    "tobf16",
                    "tof64",
                    "toi64",
                    "toi32",
                    "toi8",
                    "tou8",
                    "tobool",
                    "tof8e4m3fn",
                    "tof8e5m2",
                    "tof8e4m3fnuz",
                    "tof8e5m2fnuz",
                    "toi4",
                    "tou4",
                    "tof4e2m1",
                    "tof8e8m0",
                    "toi2",
                    "tou2",
                ],
            ),
            Factor::new("saturate", &["satdefault", "sat0"]),
            Factor::new("size", &["n0", "n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(move |p: &Pick| {
            let from = p.dtype();
            let to = DType::from_name(&p.get("to")[2..]).expect("`to` levels name dtypes");
            // The targets where saturate decides something: fp8 and E8M0.
            let f8 = matches!(
                to,
                DType::F8E4M3FN
                    | DType::F8E5M2
                    | DType::F8E4M3FNUZ
                    | DType::F8E5M2FNUZ
                    | DType::F8E8M0
            );
            if p.is("saturate", "sat0") && !f8 {
                return None; // saturate only concerns fp8 targets
            }
            // Unsigned targets get non-negative values (a negative float to
            // u8 is undefined in ONNX); fp8 targets get values past their
            // range, where saturate decides; the narrow sources get values
            // spread over their own range.
            let unsigned = matches!(to, DType::U8 | DType::U4 | DType::U2);
            let narrow_f8 = matches!(
                from,
                DType::F8E4M3FN | DType::F8E5M2 | DType::F8E4M3FNUZ | DType::F8E5M2FNUZ
            );
            let lo = |l: f64| if unsigned { 0.0 } else { l };
            let fill = match from {
                DType::Bool => Fill::Bernoulli(0.5),
                DType::F4E2M1 => Fill::Uniform(lo(-6.0), 6.0),
                DType::F8E8M0 => Fill::Uniform(0.01, 100.0),
                DType::I4 => Fill::Int(lo(-8.0) as i64, 7),
                DType::U4 => Fill::Int(0, 15),
                DType::I2 => Fill::Int(lo(-2.0) as i64, 1),
                DType::U2 => Fill::Int(0, 3),
                d if d.is_float() && f8 && !narrow_f8 => {
                    Fill::Normal(if matches!(to, DType::F8E5M2 | DType::F8E5M2FNUZ) {
                        40000.0
                    } else {
                        300.0
                    })
                }
                d if d.is_float() => Fill::Uniform(lo(-100.0), 100.0),
                DType::U8 => Fill::Int(0, 100),
                _ => Fill::Int(lo(-100.0) as i64, 100),
            };
            let shape = cases::dims(2, elementwise_size(p.get("size")), false);
            let x = GenInput::new(from, shape)
                .fill(fill)
                .stored(Storage::from_level(p.get("layout")));
            let mut case = call(x, to);
            if p.is("saturate", "sat0") {
                case = case.int("saturate", 0);
            }
            Some(case)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::ops::{AttrValue, Attributes};

    fn none() -> Attributes {
        Attributes::new()
    }

    #[test]
    fn arithmetic_broadcasts() {
        // [[1,2,3],[4,5,6]] + [10,20,30] -> [[11,22,33],[14,25,36]]
        let a = f(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b = f(&[3], &[10.0, 20.0, 30.0]);
        let y = run1("Add", &none(), &[a.clone(), b.clone()]);
        assert_eq!(y.shape(), &[2, 3]);
        close(&y.data, &[11.0, 22.0, 33.0, 14.0, 25.0, 36.0], 0.0);
        assert_eq!(y.dtype, DType::F32);
        // Column broadcast: [[1],[2]] - [10,20,30]
        let c = f(&[2, 1], &[1.0, 2.0]);
        let y = run1("Sub", &none(), &[c.clone(), b.clone()]);
        close(&y.data, &[-9.0, -19.0, -29.0, -8.0, -18.0, -28.0], 0.0);
        let y = run1("Mul", &none(), &[a.clone(), c]);
        close(&y.data, &[1.0, 2.0, 3.0, 8.0, 10.0, 12.0], 0.0);
        let y = run1("Div", &none(), &[b.clone(), f(&[], &[4.0])]);
        close(&y.data, &[2.5, 5.0, 7.5], 0.0);
    }

    #[test]
    fn float_division_is_ieee() {
        let y = run1(
            "Div",
            &none(),
            &[f(&[3], &[1.0, -1.0, 0.0]), f(&[3], &[0.0, 0.0, 0.0])],
        );
        assert_eq!(y.data[[0]], f64::INFINITY);
        assert_eq!(y.data[[1]], f64::NEG_INFINITY);
        assert!(y.data[[2]].is_nan());
    }

    #[test]
    fn integer_arithmetic_truncates_and_wraps() {
        let a = t(DType::I32, &[4], &[7.0, -7.0, 7.0, -7.0]);
        let b = t(DType::I32, &[4], &[2.0, 2.0, -2.0, -2.0]);
        let y = run1("Div", &none(), &[a, b]);
        close(&y.data, &[3.0, -3.0, -3.0, 3.0], 0.0);
        assert_eq!(y.dtype, DType::I32);
        let y = run1(
            "Add",
            &none(),
            &[t(DType::I8, &[1], &[100.0]), t(DType::I8, &[1], &[100.0])],
        );
        assert_eq!(y.data[[0]], -56.0);
        let z = t(DType::I32, &[1], &[0.0]);
        fails(
            "Div",
            &none(),
            &[Some(z.clone()), Some(z)],
            "division by zero",
        );
        fails(
            "Add",
            &none(),
            &[Some(f(&[1], &[1.0])), Some(t(DType::F16, &[1], &[1.0]))],
            "same dtype",
        );
        fails(
            "Add",
            &none(),
            &[Some(f(&[2], &[1.0, 2.0])), Some(f(&[3], &[1.0, 2.0, 3.0]))],
            "cannot be broadcast",
        );
    }

    #[test]
    fn unary_known_values() {
        let x = f(&[3], &[-1.0, 0.0, 2.0]);
        close(
            &run1("Neg", &none(), std::slice::from_ref(&x)).data,
            &[1.0, 0.0, -2.0],
            0.0,
        );
        close(
            &run1("Exp", &none(), std::slice::from_ref(&x)).data,
            &[0.367_879_441_171_442_33, 1.0, 7.389_056_098_930_65],
            1e-15,
        );
        close(
            &run1("Relu", &none(), std::slice::from_ref(&x)).data,
            &[0.0, 0.0, 2.0],
            0.0,
        );
        close(
            &run1("Sigmoid", &none(), std::slice::from_ref(&x)).data,
            &[0.268_941_421_369_995_1, 0.5, 0.880_797_077_977_882_3],
            1e-15,
        );
        close(
            &run1("Tanh", &none(), std::slice::from_ref(&x)).data,
            &[-0.761_594_155_955_764_9, 0.0, 0.964_027_580_075_817],
            1e-15,
        );
        let p = f(&[3], &[0.25, 1.0, 4.0]);
        close(
            &run1("Sqrt", &none(), std::slice::from_ref(&p)).data,
            &[0.5, 1.0, 2.0],
            0.0,
        );
        close(
            &run1("Reciprocal", &none(), std::slice::from_ref(&p)).data,
            &[4.0, 1.0, 0.25],
            0.0,
        );
        close(
            &run1("Log", &none(), &[p]).data,
            &[-1.386_294_361_119_890_6, 0.0, 1.386_294_361_119_890_6],
            1e-15,
        );
        // Log(0) = -inf, Sqrt(-1) = NaN, Relu(NaN) = NaN.
        let y = run1("Log", &none(), &[f(&[1], &[0.0])]);
        assert_eq!(y.data[[0]], f64::NEG_INFINITY);
        assert!(run1("Sqrt", &none(), &[f(&[1], &[-1.0])]).data[[0]].is_nan());
        assert!(run1("Relu", &none(), &[f(&[1], &[f64::NAN])]).data[[0]].is_nan());
        // Integer Neg and Relu are allowed; Exp on integers is not.
        let yi = run1("Neg", &none(), &[t(DType::I8, &[2], &[-128.0, 5.0])]);
        close(&yi.data, &[-128.0, -5.0], 0.0); // -(-128) wraps in int8
        fails(
            "Exp",
            &none(),
            &[Some(t(DType::I32, &[1], &[1.0]))],
            "must be a float tensor",
        );
    }

    #[test]
    fn erf_matches_high_precision_values() {
        // Reference values of erf/erfc computed to 40 digits (mpmath), rounded
        // to the nearest f64.
        let x = f(&[5], &[0.5, 1.0, 2.0, -0.7, 0.0]);
        close(
            &run1("Erf", &none(), &[x]).data,
            &[
                0.520_499_877_813_046_5,
                0.842_700_792_949_714_9,
                0.995_322_265_018_952_7,
                -0.677_801_193_837_418_4,
                0.0,
            ],
            2e-16,
        );
        // erfc in the tail, used by Gelu: erfc(5) = 1.5374597944280348502e-12.
        let r = libm::erfc(5.0);
        assert!((r / 1.537_459_794_428_035e-12 - 1.0).abs() < 1e-14, "{r}");
    }

    #[test]
    fn softplus_is_stable() {
        let x = f(&[4], &[0.0, 1.0, 1000.0, -1000.0]);
        let y = run1("Softplus", &none(), &[x]);
        // ln 2; ln(1+e) = 1.3132616875182228; 1000 exactly; e^-1000 underflows to 0.
        close(
            &y.data,
            &[std::f64::consts::LN_2, 1.313_261_687_518_222_8, 1000.0, 0.0],
            1e-15,
        );
        let y = run1("Softplus", &none(), &[f(&[1], &[-30.0])]);
        // ln(1 + e^-30) = 9.3576229688397368e-14 (e^-30 minus its square / 2).
        close(&y.data, &[9.357_622_968_839_737e-14], 1e-15);
    }

    #[test]
    fn gelu_both_forms() {
        let x = f(&[3], &[1.0, -1.0, 0.0]);
        // 0.5 * 1 * (1 + erf(1/sqrt 2)) = Phi(1) = 0.8413447460685429
        let y = run1("Gelu", &none(), std::slice::from_ref(&x));
        close(
            &y.data,
            &[0.841_344_746_068_542_9, -0.158_655_253_931_457_05, 0.0],
            1e-15,
        );
        // tanh form at 1: u = sqrt(2/pi) * 1.044715 = 0.83356196893916;
        // 0.5 * (1 + tanh(u)) = 0.84119199060827670
        let a = attrs(&[("approximate", AttrValue::String("tanh".into()))]);
        let y = run1("Gelu", &a, std::slice::from_ref(&x));
        close(
            &y.data,
            &[0.841_191_990_608_276_7, -0.158_808_009_391_723_3, 0.0],
            1e-15,
        );
        // The forms differ, so a backend mixing them up is caught.
        assert!((y.data[[0]] - 0.841_344_746_068_542_9).abs() > 1e-4);
        // Deep negative tail keeps relative accuracy: gelu(-10) = -10 * Phi(-10)
        // = -7.619853024160527e-23.
        let y = run1("Gelu", &none(), &[f(&[1], &[-10.0])]);
        close(&y.data, &[-7.619_853_024_160_527e-23], 1e-12);
        let bad = attrs(&[("approximate", AttrValue::String("fast".into()))]);
        fails("Gelu", &bad, &[Some(x)], "approximate");
    }

    #[test]
    fn where_broadcasts_all_three() {
        let c = t(DType::Bool, &[2, 1], &[1.0, 0.0]);
        let x = f(&[3], &[1.0, 2.0, 3.0]);
        let y = f(&[], &[-1.0]);
        let out = run1("Where", &none(), &[c, x.clone(), y.clone()]);
        assert_eq!(out.shape(), &[2, 3]);
        close(&out.data, &[1.0, 2.0, 3.0, -1.0, -1.0, -1.0], 0.0);
        fails(
            "Where",
            &none(),
            &[Some(x.clone()), Some(x.clone()), Some(y)],
            "input condition must be one of (type B: bool), got",
        );
    }

    fn cast_to(to: DType, extra: &[(&str, AttrValue)], x: Value) -> Value {
        let mut a = vec![("to", AttrValue::Int(to.code() as i64))];
        a.extend(extra.iter().cloned());
        run1("Cast", &attrs(&a), &[x])
    }

    use super::super::Value;

    #[test]
    fn cast_rounds_and_truncates() {
        // 1 + 2^-11 is a tie in f16: to even (1.0); 1 + 3*2^-11 rounds up.
        let x = t(
            DType::F64,
            &[2],
            &[1.0 + 2f64.powi(-11), 1.0 + 3.0 * 2f64.powi(-11)],
        );
        let y = cast_to(DType::F16, &[], x);
        assert_eq!(y.dtype, DType::F16);
        close(&y.data, &[1.0, 1.0 + 2f64.powi(-9)], 0.0);
        // Float to int truncates toward zero.
        let y = cast_to(DType::I32, &[], f(&[4], &[2.7, -2.7, 0.5, -0.0]));
        close(&y.data, &[2.0, -2.0, 0.0, 0.0], 0.0);
        // Int to narrower int discards high bits: 200 (int16) -> -56 (int8).
        let y = cast_to(DType::I8, &[], t(DType::I16, &[1], &[200.0]));
        assert_eq!(y.data[[0]], -56.0);
        // To bool: NaN and -3 are true, -0 is false.
        let y = cast_to(DType::Bool, &[], f(&[3], &[f64::NAN, -3.0, -0.0]));
        close(&y.data, &[1.0, 1.0, 0.0], 0.0);
        fails(
            "Cast",
            &Attributes::new(),
            &[Some(f(&[1], &[1.0]))],
            "to is required",
        );
        fails(
            "Cast",
            &attrs(&[("to", AttrValue::Int(8))]),
            &[Some(f(&[1], &[1.0]))],
            "to = 8",
        );
    }

    #[test]
    fn cast_fp8_saturation_tables() {
        let x = f(&[5], &[f64::INFINITY, -1000.0, 464.0, 465.0, f64::NAN]);
        let y = cast_to(DType::F8E4M3FN, &[], x.clone());
        close(&y.data, &[448.0, -448.0, 448.0, 448.0, f64::NAN], 0.0);
        let y = cast_to(DType::F8E4M3FN, &[("saturate", AttrValue::Int(0))], x);
        // 464 is the tie between 448 and 480 and goes to the even 448.
        close(
            &y.data,
            &[f64::NAN, f64::NAN, 448.0, f64::NAN, f64::NAN],
            0.0,
        );
        let x = f(&[4], &[f64::NEG_INFINITY, 61440.0, 61439.0, 1e6]);
        let y = cast_to(DType::F8E5M2, &[], x.clone());
        close(&y.data, &[-57344.0, 57344.0, 57344.0, 57344.0], 0.0);
        let y = cast_to(DType::F8E5M2, &[("saturate", AttrValue::Int(0))], x);
        close(
            &y.data,
            &[f64::NEG_INFINITY, f64::INFINITY, 57344.0, f64::INFINITY],
            0.0,
        );
    }
}
