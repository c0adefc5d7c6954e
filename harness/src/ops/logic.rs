//! Binary elementwise ops beyond arithmetic: the comparisons (Equal, Less,
//! LessOrEqual, Greater, GreaterOrEqual), the logical ops (And, Or, Xor),
//! the bitwise ops (BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseNot,
//! BitShift), Mod and Pow. All broadcast multidirectionally, as numpy does.
//!
//! Every version from opset 11 on is registered, even where only the type
//! constraints changed (bfloat16 added at 13, for instance): a model at
//! opset 11 must find the version that serves it ([`super::Op::def_at`]).
//!
//! Checks: comparisons, logic and bitwise ops are selections of bits:
//! `exact`. Mod is exact too: C's fmod is exactly representable in the
//! operands' format (`x - n y` has no rounding error; IEEE 754 `remainder`
//! and `fmod` are exact operations), and the integer forms are integer
//! arithmetic. Pow gets the OpenCL CTS budget for single-precision `pow`,
//! 16 ulp (integer outputs are exact by dtype).

use ndarray::{ArrayD, Zip};

use super::rules::{broadcast_all, no_sum, per_output_element};
use super::spec::{BINARY, TypeVar, UNARY, fixed};
use super::{
    AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape,
    broadcast, finish,
};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;

// ------------------------------------------------------------ type classes

/// ONNX's integer types.
pub(super) const INTEGERS: &[DType] = &[
    DType::U8,
    DType::U16,
    DType::U32,
    DType::U64,
    DType::I8,
    DType::I16,
    DType::I32,
    DType::I64,
];
/// The unsigned integers (BitShift).
const UNSIGNED: &[DType] = &[DType::U8, DType::U16, DType::U32, DType::U64];
/// `tensor(numeric)` before opset 13: the integers, float16, float, double.
pub(super) const NUMERIC_11: &[DType] = &[
    DType::U8,
    DType::U16,
    DType::U32,
    DType::U64,
    DType::I8,
    DType::I16,
    DType::I32,
    DType::I64,
    DType::F16,
    DType::F32,
    DType::F64,
];
/// `tensor(numeric)` from opset 13: bfloat16 added.
pub(super) const NUMERIC_13: &[DType] = &[
    DType::U8,
    DType::U16,
    DType::U32,
    DType::U64,
    DType::I8,
    DType::I16,
    DType::I32,
    DType::I64,
    DType::F16,
    DType::F32,
    DType::F64,
    DType::BF16,
];
/// Equal-11's inputs: bool and the numeric types.
const ALL_11: &[DType] = &[
    DType::Bool,
    DType::U8,
    DType::U16,
    DType::U32,
    DType::U64,
    DType::I8,
    DType::I16,
    DType::I32,
    DType::I64,
    DType::F16,
    DType::F32,
    DType::F64,
];
/// Equal-13's inputs (Equal-19 adds string, which xpucert has no dtype for).
const ALL_13: &[DType] = &[
    DType::Bool,
    DType::U8,
    DType::U16,
    DType::U32,
    DType::U64,
    DType::I8,
    DType::I16,
    DType::I32,
    DType::I64,
    DType::F16,
    DType::F32,
    DType::F64,
    DType::BF16,
];
/// Pow-12's base: int32, int64, float16, float, double.
const POW_BASE_12: &[DType] = &[DType::I32, DType::I64, DType::F16, DType::F32, DType::F64];
/// Pow-13's base: bfloat16 added.
const POW_BASE_13: &[DType] = &[
    DType::I32,
    DType::I64,
    DType::F16,
    DType::F32,
    DType::F64,
    DType::BF16,
];
/// Float16, float, double (Pow-7, Max-8 and the like).
pub(super) const FLOATS_8: &[DType] = &[DType::F16, DType::F32, DType::F64];

const fn var(name: &'static str, allowed: &'static [DType]) -> TypeVar {
    TypeVar { name, allowed }
}

const T_ALL_11: TypeVar = var("T", ALL_11);
const T_ALL_13: TypeVar = var("T", ALL_13);
const T_NUMERIC_11: TypeVar = var("T", NUMERIC_11);
const T_NUMERIC_13: TypeVar = var("T", NUMERIC_13);
const T_BOOL: TypeVar = var("T", &[DType::Bool]);
const T_INTEGERS: TypeVar = var("T", INTEGERS);
const T_UNSIGNED: TypeVar = var("T", UNSIGNED);
const T_FLOATS_8: TypeVar = var("T", FLOATS_8);
const T_POW_12: TypeVar = var("T", POW_BASE_12);
const T_POW_13: TypeVar = var("T", POW_BASE_13);
const T1_POW_12: TypeVar = var("T1", NUMERIC_11);
const T1_POW_15: TypeVar = var("T1", NUMERIC_13);

/// The spec of a binary op whose two inputs share the type `$t`.
macro_rules! binary_spec {
    ($name:literal, $opset:literal, $t:expr, $attrs:expr) => {
        OpSpec {
            name: $name,
            domain: "",
            opset: $opset,
            arity: fixed(2, 0),
            input_names: BINARY,
            input_types: &[$t, $t],
            outputs: 1,
            attributes: $attrs,
        }
    };
}

// ------------------------------------------------------------ comparisons

/// A comparison or logical op: bool output, exact.
macro_rules! predicate_op {
    ($name:literal, $opset:literal, $t:expr, $f:expr) => {
        OpDef {
            spec: binary_spec!($name, $opset, $t, &[]),
            oracle: |c| Ok(vec![predicate(c, $f)?]),
            shape: bool_broadcast,
            cost: per_output_element,
            check: CheckPolicy::Exact,
            terms: no_sum,
        }
    };
}

// IEEE comparisons: every one is false when an operand is NaN (so NaN is
// not equal to itself), which is what numpy, and so ONNX's reference, does.

/// Equal-11: bool and the numeric types but bfloat16.
pub(super) const EQUAL_11: OpDef = predicate_op!("Equal", 11, T_ALL_11, |x, y| x == y);
/// Equal-13: bfloat16 added.
pub(super) const EQUAL_13: OpDef = predicate_op!("Equal", 13, T_ALL_13, |x, y| x == y);
/// Equal-19: string added (no such dtype here), else as Equal-13.
pub(super) const EQUAL: OpDef = predicate_op!("Equal", 19, T_ALL_13, |x, y| x == y);
/// Less-9.
pub(super) const LESS_9: OpDef = predicate_op!("Less", 9, T_NUMERIC_11, |x, y| x < y);
/// Less-13: bfloat16 added.
pub(super) const LESS: OpDef = predicate_op!("Less", 13, T_NUMERIC_13, |x, y| x < y);
/// LessOrEqual-12.
pub(super) const LESS_OR_EQUAL_12: OpDef =
    predicate_op!("LessOrEqual", 12, T_NUMERIC_11, |x, y| x <= y);
/// LessOrEqual-16: bfloat16 added.
pub(super) const LESS_OR_EQUAL: OpDef =
    predicate_op!("LessOrEqual", 16, T_NUMERIC_13, |x, y| x <= y);
/// Greater-9.
pub(super) const GREATER_9: OpDef = predicate_op!("Greater", 9, T_NUMERIC_11, |x, y| x > y);
/// Greater-13: bfloat16 added.
pub(super) const GREATER: OpDef = predicate_op!("Greater", 13, T_NUMERIC_13, |x, y| x > y);
/// GreaterOrEqual-12.
pub(super) const GREATER_OR_EQUAL_12: OpDef =
    predicate_op!("GreaterOrEqual", 12, T_NUMERIC_11, |x, y| x >= y);
/// GreaterOrEqual-16: bfloat16 added.
pub(super) const GREATER_OR_EQUAL: OpDef =
    predicate_op!("GreaterOrEqual", 16, T_NUMERIC_13, |x, y| x >= y);
/// And-7 (bool only).
pub(super) const AND: OpDef = predicate_op!("And", 7, T_BOOL, |x, y| x != 0.0 && y != 0.0);
/// Or-7 (bool only).
pub(super) const OR: OpDef = predicate_op!("Or", 7, T_BOOL, |x, y| x != 0.0 || y != 0.0);
/// Xor-7 (bool only).
pub(super) const XOR: OpDef = predicate_op!("Xor", 7, T_BOOL, |x, y| (x != 0.0) != (y != 0.0));

/// Shape rule of the comparisons and logical ops: the broadcast shape, bool.
fn bool_broadcast(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let mut out = broadcast_all(attrs, inputs, values)?;
    out[0].0 = DType::Bool;
    Ok(out)
}

/// The two inputs of a binary op broadcast together: (A, B, their shape).
fn broadcast_pair(call: &Call) -> Result<(ArrayD<f64>, ArrayD<f64>)> {
    let (a, b) = (call.input(0)?, call.input(1)?);
    let shape = broadcast::shapes(call, &[a.shape(), b.shape()])?;
    let av = broadcast::to(call, "A", &a.data, &shape)?.to_owned();
    let bv = broadcast::to(call, "B", &b.data, &shape)?.to_owned();
    Ok((av, bv))
}

/// `f` of every broadcast pair, as a bool tensor.
fn predicate(call: &Call, f: fn(f64, f64) -> bool) -> Result<Output> {
    let (a, b) = broadcast_pair(call)?;
    let data = Zip::from(&a)
        .and(&b)
        .map_collect(|&x, &y| f64::from(u8::from(f(x, y))));
    Ok(Output::plain(DType::Bool, data))
}

// ------------------------------------------------------------ bitwise

/// A bitwise op on two integer tensors (opset 18): exact.
macro_rules! bitwise_op {
    ($name:literal, $f:expr) => {
        OpDef {
            spec: binary_spec!($name, 18, T_INTEGERS, &[]),
            oracle: |c| Ok(vec![bitwise(c, $f)?]),
            shape: broadcast_all,
            cost: per_output_element,
            check: CheckPolicy::Exact,
            terms: no_sum,
        }
    };
}

// On two's-complement values sign-extended to i128 these are the dtype's
// own bitwise ops: the bits above the dtype's width are copies of the sign
// bit (or 0 for unsigned), and stay so.

/// BitwiseAnd-18.
pub(super) const BITWISE_AND: OpDef = bitwise_op!("BitwiseAnd", |x, y| x & y);
/// BitwiseOr-18.
pub(super) const BITWISE_OR: OpDef = bitwise_op!("BitwiseOr", |x, y| x | y);
/// BitwiseXor-18.
pub(super) const BITWISE_XOR: OpDef = bitwise_op!("BitwiseXor", |x, y| x ^ y);
/// BitwiseNot-18: `!x`, brought back into the dtype (for unsigned types,
/// `max - x`).
pub(super) const BITWISE_NOT: OpDef = OpDef {
    spec: OpSpec {
        name: "BitwiseNot",
        domain: "",
        opset: 18,
        arity: fixed(1, 0),
        input_names: UNARY,
        input_types: &[T_INTEGERS],
        outputs: 1,
        attributes: &[],
    },
    oracle: |c| {
        let x = c.input(0)?;
        let data = x.data.mapv(|v| !(v as i128) as f64);
        Ok(vec![Output::plain(x.dtype, finish(x.dtype, data))])
    },
    shape: super::rules::same_as_first,
    cost: per_output_element,
    check: CheckPolicy::Exact,
    terms: no_sum,
};

/// `f` on the broadcast integer values (exact in i128: integer inputs hold
/// integers), wrapped into the dtype.
fn bitwise(call: &Call, f: fn(i128, i128) -> i128) -> Result<Output> {
    let dtype = call.input(0)?.dtype;
    let (a, b) = broadcast_pair(call)?;
    let data = Zip::from(&a)
        .and(&b)
        .map_collect(|&x, &y| f(x as i128, y as i128) as f64);
    Ok(Output::plain(dtype, finish(dtype, data)))
}

/// BitShift-11: unsigned integers shifted by `direction` ("LEFT" or
/// "RIGHT", required). Bits shifted past the width are lost. A shift by the
/// width or more is not defined by ONNX (C leaves it undefined; x86 masks
/// the count, numpy gives 0), so the oracle refuses it.
pub(super) const BIT_SHIFT: OpDef = OpDef {
    spec: binary_spec!(
        "BitShift",
        11,
        T_UNSIGNED,
        &[("direction", AttrType::String)]
    ),
    oracle: |c| {
        let x = c.input(0)?;
        let left = bitshift_valid(c.attrs, x.dtype, &c.values(1)).map_err(|m| c.err(m))?;
        let bits = bit_width(x.dtype);
        let mask = (1u128 << bits) - 1;
        let (a, s) = broadcast_pair(c)?;
        let data = Zip::from(&a).and(&s).map_collect(|&v, &s| {
            let (v, s) = (v as u128, s as u32);
            (if left { (v << s) & mask } else { v >> s }) as f64
        });
        Ok(vec![Output::plain(x.dtype, data)])
    },
    shape: |attrs, inputs, values| {
        let dtype = super::rules::input(inputs, 0)?.0;
        bitshift_valid(attrs, dtype, &values(1))?;
        broadcast_all(attrs, inputs, values)
    },
    cost: per_output_element,
    check: CheckPolicy::Exact,
    terms: no_sum,
};

/// The width in bits of an integer dtype.
fn bit_width(dtype: DType) -> u32 {
    8 * dtype.size() as u32
}

/// BitShift's validity: the direction (true for LEFT), and every shift
/// amount below the width of `dtype`.
fn bitshift_valid(
    attrs: &Attributes,
    dtype: DType,
    shifts: &[f64],
) -> std::result::Result<bool, String> {
    let left = match attrs.get("direction") {
        None => return Err("attribute direction is required (\"LEFT\" or \"RIGHT\")".into()),
        Some(_) => match attrs.string("direction", "")? {
            "LEFT" => true,
            "RIGHT" => false,
            other => {
                return Err(format!(
                    "attribute direction must be \"LEFT\" or \"RIGHT\", got {other:?}"
                ));
            }
        },
    };
    if dtype.is_float() || dtype == DType::Bool {
        return Ok(left); // the type check reports it
    }
    let bits = bit_width(dtype);
    if let Some(&s) = shifts.iter().find(|&&s| s >= f64::from(bits)) {
        return Err(format!(
            "a shift by {s} is not defined for {dtype} (ONNX leaves shifts by the width ({bits}) or more undefined)"
        ));
    }
    Ok(left)
}

// ------------------------------------------------------------ Mod

/// Mod: `fmod` = 0 (default) is the integer modulo with the divisor's sign
/// (Python's `%`); `fmod` = 1 is C's fmod (the dividend's sign). The spec
/// asks for fmod = 1 on floats, and an integer division by zero is
/// undefined: both are refused. fmod = 1 on integers is accepted (ONNX's
/// own node test `mod_int64_fmod` uses it): truncated remainder, C's `%`.
macro_rules! mod_op {
    ($opset:literal, $t:expr) => {
        OpDef {
            spec: binary_spec!("Mod", $opset, $t, &[("fmod", AttrType::Int)]),
            oracle: |c| Ok(vec![modulo(c)?]),
            shape: |attrs, inputs, values| {
                let dtype = super::rules::input(inputs, 0)?.0;
                mod_valid(attrs, dtype, &values(1))?;
                broadcast_all(attrs, inputs, values)
            },
            cost: per_output_element,
            check: CheckPolicy::Exact,
            terms: no_sum,
        }
    };
}

/// Mod-10.
pub(super) const MOD_10: OpDef = mod_op!(10, T_NUMERIC_11);
/// Mod-13: bfloat16 added.
pub(super) const MOD: OpDef = mod_op!(13, T_NUMERIC_13);

/// Mod's validity: `fmod` (true for 1) and the divisor's values.
fn mod_valid(
    attrs: &Attributes,
    dtype: DType,
    divisors: &[f64],
) -> std::result::Result<bool, String> {
    let fmod = match attrs.int("fmod", 0)? {
        0 => false,
        1 => true,
        v => return Err(format!("attribute fmod must be 0 or 1, got {v}")),
    };
    if dtype.is_float() {
        if !fmod {
            return Err(format!(
                "fmod=0 (integer modulo) is defined for integer types only; {dtype} needs fmod=1"
            ));
        }
    } else if divisors.contains(&0.0) {
        return Err("integer Mod by zero (undefined in ONNX)".into());
    }
    Ok(fmod)
}

/// Mod's values (see [`mod_op!`]): exact.
fn modulo(call: &Call) -> Result<Output> {
    let dtype = call.input(0)?.dtype;
    let fmod = mod_valid(call.attrs, dtype, &call.values(1)).map_err(|m| call.err(m))?;
    let (a, b) = broadcast_pair(call)?;
    let data = if dtype.is_float() {
        // Rust's `%` on f64 is C's fmod: exact, dividend's sign, NaN for
        // x = inf or y = 0, x for y = inf.
        Zip::from(&a).and(&b).map_collect(|&x, &y| x % y)
    } else {
        let exact = Zip::from(&a).and(&b).map_collect(|&x, &y| {
            let (x, y) = (x as i128, y as i128);
            let r = x % y;
            let r = if !fmod && r != 0 && (r < 0) != (y < 0) {
                r + y
            } else {
                r
            };
            r as f64
        });
        finish(dtype, exact)
    };
    Ok(Output::plain(dtype, data))
}

// ------------------------------------------------------------ Pow

/// Pow: `X ^ Y` elementwise, the output of X's type. On a float base the
/// exponent (of any numeric type from opset 12) is taken as a real number:
/// a negative base with an integral exponent is real (`(-2)^3 = -8`), with
/// any other exponent NaN. On an integer base (opset 12+) with an integer
/// exponent the power is exact and wraps like the dtype (numpy's
/// `power`); a negative integer exponent is refused (numpy raises, ONNX
/// does not say). On an integer base with a float exponent the real power
/// is truncated toward zero into the dtype, as ONNX's reference does
/// (`np.power(a, b).astype(a.dtype)`).
macro_rules! pow_op {
    ($opset:literal, $t:expr, $t1:expr) => {
        OpDef {
            spec: OpSpec {
                name: "Pow",
                domain: "",
                opset: $opset,
                arity: fixed(2, 0),
                input_names: &["X", "Y"],
                input_types: &[$t, $t1],
                outputs: 1,
                attributes: &[],
            },
            oracle: |c| Ok(vec![pow(c)?]),
            shape: |attrs, inputs, values| {
                let (x, y) = (
                    super::rules::input(inputs, 0)?.0,
                    super::rules::input(inputs, 1)?.0,
                );
                pow_valid(x, y, &values(1))?;
                broadcast_all(attrs, inputs, values)
            },
            cost: per_output_element,
            // The OpenCL CTS budget for single-precision pow.
            check: CheckPolicy::UlpOrSubnormal(16.0),
            terms: no_sum,
        }
    };
}

/// Pow-7: float base and exponent of one type.
pub(super) const POW_7: OpDef = pow_op!(7, T_FLOATS_8, T_FLOATS_8);
/// Pow-12: integer bases; the exponent's type is its own.
pub(super) const POW_12: OpDef = pow_op!(12, T_POW_12, T1_POW_12);
/// Pow-13: bfloat16 bases.
pub(super) const POW_13: OpDef = pow_op!(13, T_POW_13, T1_POW_12);
/// Pow-15: bfloat16 exponents.
pub(super) const POW: OpDef = pow_op!(15, T_POW_13, T1_POW_15);

/// Pow's validity: an integer base takes no negative integer exponent.
fn pow_valid(base: DType, exponent: DType, y: &[f64]) -> std::result::Result<(), String> {
    if !base.is_float() && !exponent.is_float() && y.iter().any(|&v| v < 0.0) {
        return Err(format!(
            "an integer base ({base}) to a negative integer power is not defined"
        ));
    }
    Ok(())
}

fn pow(call: &Call) -> Result<Output> {
    let (x, y) = (call.input(0)?, call.input(1)?);
    pow_valid(x.dtype, y.dtype, &call.values(1)).map_err(|m| call.err(m))?;
    let (a, b) = broadcast_pair(call)?;
    let data = if x.dtype.is_float() {
        Zip::from(&a).and(&b).map_collect(|&x, &y| x.powf(y))
    } else if !y.dtype.is_float() {
        Zip::from(&a)
            .and(&b)
            .map_collect(|&x, &y| int_pow(x as i128, y as u64) as f64)
    } else {
        Zip::from(&a)
            .and(&b)
            .map_collect(|&x, &y| x.powf(y).trunc())
    };
    Ok(Output::plain(x.dtype, finish(x.dtype, data)))
}

/// `x^n` by squaring, wrapping modulo 2^128 (so modulo any dtype's 2^bits,
/// which `finish` then takes).
fn int_pow(mut x: i128, mut n: u64) -> i128 {
    let mut acc: i128 = 1;
    while n > 0 {
        if n & 1 == 1 {
            acc = acc.wrapping_mul(x);
        }
        x = x.wrapping_mul(x);
        n >>= 1;
    }
    acc
}

// ------------------------------------------------------------- generated cases

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};
use super::elementwise::{broadcast_pattern, elementwise_size};

/// Values spanning an integer dtype, kept within 2^40 for the 64-bit types
/// (the oracle's f64 holds every integer below 2^53, and a bitwise op of
/// two such values stays below it).
fn int_span(dtype: DType) -> Fill {
    match dtype {
        DType::U8 => Fill::Int(0, 255),
        DType::U16 => Fill::Int(0, 65535),
        DType::U32 => Fill::Int(0, (1 << 32) - 1),
        DType::U64 => Fill::Int(0, 1 << 40),
        DType::I8 => Fill::Int(-128, 127),
        DType::I16 => Fill::Int(-32768, 32767),
        DType::I32 => Fill::Int(-(1 << 31), (1 << 31) - 1),
        _ => Fill::Int(-(1 << 40), 1 << 40),
    }
}

/// A binary op's space: every broadcast pattern on either side (as Add's),
/// ranks 1-4, sizes 0 / 1 / prime / large, every layout of the larger
/// operand, and `extra` factors. `make` turns the two inputs (A, B: shapes
/// and storage set) into the call, choosing their values and attributes.
fn binary_space(
    dtypes: &[DType],
    extra: Vec<Factor>,
    make: fn(&Pick, GenInput, GenInput) -> Option<GenCase>,
) -> Option<CaseSpace> {
    let mut factors = vec![
        Factor::dtypes(dtypes),
        Factor::new("rank", &["r1", "r2", "r3", "r4"]),
        Factor::new(
            "broadcast",
            &[
                "same", "scalar", "lowrank", "lowrank1", "mid1", "lead1", "trail1", "outer",
            ],
        ),
        Factor::new("side", &["bcastb", "bcasta"]),
        Factor::new("size", &["n0", "n1", "prime", "large"]),
        cases::layout_factor(),
    ];
    factors.extend(extra);
    Some(CaseSpace {
        factors,
        build: Box::new(move |p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            let full = cases::dims(rank, elementwise_size(p.get("size")), false);
            let (big, small) = broadcast_pattern(p.get("broadcast"), full)?;
            let dt = p.dtype();
            let big = GenInput::new(dt, big).stored(Storage::from_level(p.get("layout")));
            let small = GenInput::new(dt, small);
            let (a, b) = if p.is("side", "bcastb") {
                (big, small)
            } else {
                (small, big)
            };
            make(p, a, b)
        }),
    })
}

/// Comparisons: values drawn from a few integers (so many pairs are equal:
/// a `<=` computed as `<` shows), or spread over the dtype.
fn comparison_space(dtypes: &[DType]) -> Option<CaseSpace> {
    binary_space(
        dtypes,
        vec![Factor::new("values", &["ties", "spread"])],
        |p, a, b| {
            let dt = a.dtype;
            let fill = match (p.get("values"), dt) {
                (_, DType::Bool) => Fill::Bernoulli(0.5),
                ("ties", DType::U8 | DType::U16 | DType::U32 | DType::U64) => Fill::Int(0, 3),
                ("ties", _) => Fill::Int(-2, 2),
                (_, d) if d.is_float() => Fill::Normal(10.0),
                (_, d) => int_span(d),
            };
            Some(GenCase::new(vec![
                a.fill(fill.clone()).some(),
                b.fill(fill).some(),
            ]))
        },
    )
}

pub(super) fn equal_cases() -> Option<CaseSpace> {
    comparison_space(ALL_13)
}

pub(super) fn less_cases() -> Option<CaseSpace> {
    comparison_space(NUMERIC_13)
}

pub(super) fn less_or_equal_cases() -> Option<CaseSpace> {
    comparison_space(NUMERIC_13)
}

pub(super) fn greater_cases() -> Option<CaseSpace> {
    comparison_space(NUMERIC_13)
}

pub(super) fn greater_or_equal_cases() -> Option<CaseSpace> {
    comparison_space(NUMERIC_13)
}

/// And, Or, Xor: bool operands, mostly true or mostly false or even (so
/// that every truth-table row shows up in the small cases too).
fn logic_space() -> Option<CaseSpace> {
    binary_space(
        &[DType::Bool],
        vec![Factor::new("truth", &["even", "mostlytrue", "mostlyfalse"])],
        |p, a, b| {
            let q = match p.get("truth") {
                "even" => 0.5,
                "mostlytrue" => 0.8,
                _ => 0.2,
            };
            Some(GenCase::new(vec![
                a.fill(Fill::Bernoulli(q)).some(),
                b.fill(Fill::Bernoulli(0.5)).some(),
            ]))
        },
    )
}

pub(super) fn and_cases() -> Option<CaseSpace> {
    logic_space()
}

pub(super) fn or_cases() -> Option<CaseSpace> {
    logic_space()
}

pub(super) fn xor_cases() -> Option<CaseSpace> {
    logic_space()
}

/// BitwiseAnd/Or/Xor: every integer dtype, values over its range (negative
/// ones for the signed types: their sign bits).
fn bitwise_space() -> Option<CaseSpace> {
    binary_space(INTEGERS, Vec::new(), |_, a, b| {
        let fill = int_span(a.dtype);
        Some(GenCase::new(vec![
            a.fill(fill.clone()).some(),
            b.fill(fill).some(),
        ]))
    })
}

pub(super) fn bitwise_and_cases() -> Option<CaseSpace> {
    bitwise_space()
}

pub(super) fn bitwise_or_cases() -> Option<CaseSpace> {
    bitwise_space()
}

pub(super) fn bitwise_xor_cases() -> Option<CaseSpace> {
    bitwise_space()
}

/// BitwiseNot: every integer dtype, ranks 0-4, sizes, layouts.
pub(super) fn bitwise_not_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(INTEGERS),
            Factor::new("rank", &["r0", "r1", "r2", "r3", "r4"]),
            Factor::new("size", &["n0", "n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = cases::rank_of(p.get("rank"));
            if rank == 0 && !p.is("size", "n1") {
                return None; // a scalar has no size class
            }
            let x = GenInput::new(
                p.dtype(),
                cases::dims(rank, elementwise_size(p.get("size")), false),
            )
            .fill(int_span(p.dtype()))
            .stored(Storage::from_level(p.get("layout")));
            Some(GenCase::new(vec![x.some()]))
        }),
    })
}

/// BitShift: the unsigned dtypes, both directions, shift amounts from 0 to
/// the width - 1 (wider ones are undefined), or small ones.
pub(super) fn bit_shift_cases() -> Option<CaseSpace> {
    binary_space(
        UNSIGNED,
        vec![
            Factor::new("direction", &["left", "right"]),
            Factor::new("shift", &["anyshift", "smallshift"]),
        ],
        |p, a, b| {
            let bits = i64::from(bit_width(a.dtype));
            let shift = if p.is("shift", "anyshift") {
                Fill::Int(0, bits - 1)
            } else {
                Fill::Int(0, 3)
            };
            let direction = if p.is("direction", "left") {
                "LEFT"
            } else {
                "RIGHT"
            };
            let x = int_span(a.dtype);
            Some(
                GenCase::new(vec![a.fill(x).some(), b.fill(shift).some()])
                    .string("direction", direction),
            )
        },
    )
}

/// Mod: both modes, every numeric dtype (fmod = 0 on integers only),
/// dividends and divisors of both signs (the modes differ exactly when the
/// signs differ), divisors never 0.
pub(super) fn mod_cases() -> Option<CaseSpace> {
    binary_space(
        NUMERIC_13,
        vec![Factor::new("fmod", &["fmod0", "fmod1"])],
        |p, a, b| {
            let dt = a.dtype;
            let fmod0 = p.is("fmod", "fmod0");
            if fmod0 && dt.is_float() {
                return None; // fmod = 0 is for integers
            }
            let unsigned = matches!(dt, DType::U8 | DType::U16 | DType::U32 | DType::U64);
            let dividend = match dt {
                d if d.is_float() => Fill::Uniform(-20.0, 20.0),
                _ if unsigned => Fill::Int(0, 100),
                _ => Fill::Int(-100, 100),
            };
            // Divisors cycle through a fixed list without 0 (an integer
            // division by 0 is undefined).
            let pattern: &[f64] = match dt {
                d if d.is_float() => &[-2.5, 3.0, -0.75, 1.25, 7.0, -4.0, 0.5],
                _ if unsigned => &[3.0, 7.0, 1.0, 5.0, 2.0, 11.0],
                _ => &[-3.0, 7.0, -1.0, 5.0, 2.0, -11.0, 4.0],
            };
            let n: usize = b.shape.iter().product();
            let divisors = (0..n).map(|i| pattern[i % pattern.len()]).collect();
            let mut case = GenCase::new(vec![
                a.fill(dividend).some(),
                b.fill(Fill::Values(divisors)).some(),
            ]);
            if !fmod0 {
                case = case.int("fmod", 1);
            }
            Some(case)
        },
    )
}

/// Pow: float and integer bases, positive and negative; exponents of the
/// base's dtype, i64 or f32; fractional exponents only on positive float
/// bases (a negative base to a fractional power is NaN).
pub(super) fn pow_cases() -> Option<CaseSpace> {
    binary_space(
        POW_BASE_13,
        vec![
            Factor::new("base", &["positive", "negative"]),
            Factor::new("exponent", &["integral", "fractional"]),
            Factor::new("expdtype", &["expsame", "expi64", "expf32"]),
        ],
        |p, a, b| {
            let dt = a.dtype;
            let exp_dtype = match p.get("expdtype") {
                "expsame" => dt,
                "expi64" => DType::I64,
                _ => DType::F32,
            };
            let fractional = p.is("exponent", "fractional");
            if fractional && (!dt.is_float() || !exp_dtype.is_float() || p.is("base", "negative")) {
                return None;
            }
            let negative = p.is("base", "negative");
            let base = match (dt.is_float(), negative) {
                (true, false) => Fill::Uniform(0.25, 4.0),
                (true, true) => Fill::Uniform(-4.0, -0.25),
                (false, false) => Fill::Int(0, 6),
                (false, true) => Fill::Int(-6, -1),
            };
            let exponent = match (fractional, dt.is_float()) {
                (true, _) => Fill::Uniform(-3.0, 3.0),
                // Integer bases: no negative powers; 6^7 fits an i32.
                (false, false) => Fill::Int(0, 7),
                (false, true) => Fill::Int(-4, 6),
            };
            let b = GenInput {
                dtype: exp_dtype,
                ..b
            };
            Some(GenCase::new(vec![
                a.fill(base).some(),
                b.fill(exponent).some(),
            ]))
        },
    )
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
    fn comparisons_broadcast_and_nan_is_unequal() {
        let a = f(&[2, 2], &[1.0, 2.0, 3.0, f64::NAN]);
        let b = f(&[2], &[2.0, f64::NAN]);
        let eq = run1("Equal", &none(), &[a.clone(), b.clone()]);
        assert_eq!(eq.dtype, DType::Bool);
        close(&eq.data, &[0.0, 0.0, 0.0, 0.0], 0.0);
        let eq = run1("Equal", &none(), &[a.clone(), a.clone()]);
        close(&eq.data, &[1.0, 1.0, 1.0, 0.0], 0.0); // NaN != NaN
        close(
            &run1("Less", &none(), &[a.clone(), b.clone()]).data,
            &[1.0, 0.0, 0.0, 0.0],
            0.0,
        );
        close(
            &run1("LessOrEqual", &none(), &[a.clone(), b.clone()]).data,
            &[1.0, 0.0, 0.0, 0.0],
            0.0,
        );
        let c = f(&[], &[2.0]);
        close(
            &run1("LessOrEqual", &none(), &[a.clone(), c.clone()]).data,
            &[1.0, 1.0, 0.0, 0.0],
            0.0,
        );
        close(
            &run1("Greater", &none(), &[a.clone(), c.clone()]).data,
            &[0.0, 0.0, 1.0, 0.0],
            0.0,
        );
        close(
            &run1("GreaterOrEqual", &none(), &[a, c]).data,
            &[0.0, 1.0, 1.0, 0.0],
            0.0,
        );
        // Equal takes bool and integers; Less does not take bool.
        let t = t(DType::Bool, &[2], &[1.0, 0.0]);
        close(
            &run1("Equal", &none(), &[t.clone(), t.clone()]).data,
            &[1.0, 1.0],
            0.0,
        );
        fails("Less", &none(), &[Some(t.clone()), Some(t)], "type T");
        let i = i(&[3], &[-1, 5, 7]);
        let j = super::super::testutil::t(DType::I64, &[1], &[5.0]);
        close(&run1("Equal", &none(), &[i, j]).data, &[0.0, 1.0, 0.0], 0.0);
    }

    #[test]
    fn older_versions_take_their_types() {
        let x = Some(super::super::testutil::t(DType::BF16, &[1], &[1.0]));
        let e = run_at("Equal", 11, &none(), &[x.clone(), x.clone()]).unwrap_err();
        assert!(e.to_string().contains("got bf16"), "{e}");
        assert!(run_at("Equal", 13, &none(), &[x.clone(), x.clone()]).is_ok());
        assert!(run_at("LessOrEqual", 12, &none(), &[x.clone(), x.clone()]).is_err());
        assert!(run_at("LessOrEqual", 16, &none(), &[x.clone(), x]).is_ok());
        assert!(run_at("Equal", 10, &none(), &[]).is_err());
        // Pow-7 wants one float type for both; Pow-12 takes integer exponents.
        let b = Some(f(&[1], &[2.0]));
        let e = Some(i(&[1], &[3]));
        assert!(run_at("Pow", 7, &none(), &[b.clone(), e.clone()]).is_err());
        let y = run_at("Pow", 12, &none(), &[b, e]).unwrap();
        assert_eq!(y[0].value.data.as_slice(), Some(&[8.0][..]));
    }

    #[test]
    fn logic_truth_tables() {
        let a = t(DType::Bool, &[4], &[0.0, 0.0, 1.0, 1.0]);
        let b = t(DType::Bool, &[4], &[0.0, 1.0, 0.0, 1.0]);
        let ab = [a, b];
        close(&run1("And", &none(), &ab).data, &[0.0, 0.0, 0.0, 1.0], 0.0);
        close(&run1("Or", &none(), &ab).data, &[0.0, 1.0, 1.0, 1.0], 0.0);
        close(&run1("Xor", &none(), &ab).data, &[0.0, 1.0, 1.0, 0.0], 0.0);
        fails(
            "And",
            &none(),
            &[Some(f(&[1], &[1.0])), Some(f(&[1], &[1.0]))],
            "type T",
        );
    }

    #[test]
    fn bitwise_ops_on_signed_and_unsigned() {
        let a = t(DType::I8, &[3], &[-1.0, 12.0, -128.0]);
        let b = t(DType::I8, &[3], &[5.0, 10.0, 127.0]);
        let ab = [a.clone(), b];
        close(
            &run1("BitwiseAnd", &none(), &ab).data,
            &[5.0, 8.0, 0.0],
            0.0,
        );
        close(
            &run1("BitwiseOr", &none(), &ab).data,
            &[-1.0, 14.0, -1.0],
            0.0,
        );
        close(
            &run1("BitwiseXor", &none(), &ab).data,
            &[-6.0, 6.0, -1.0],
            0.0,
        );
        close(
            &run1("BitwiseNot", &none(), &[a]).data,
            &[0.0, -13.0, 127.0],
            0.0,
        );
        let u = t(DType::U8, &[2], &[0.0, 200.0]);
        close(&run1("BitwiseNot", &none(), &[u]).data, &[255.0, 55.0], 0.0);
        let u = t(DType::U64, &[1], &[5.0]);
        close(
            &run1("BitwiseNot", &none(), &[u]).data,
            &[18_446_744_073_709_551_610.0],
            0.0,
        );
        fails(
            "BitwiseAnd",
            &none(),
            &[Some(f(&[1], &[1.0])), Some(f(&[1], &[1.0]))],
            "type T: u8, u16, u32, u64, i8",
        );
    }

    #[test]
    fn bitshift_both_ways_and_refuses_wide_shifts() {
        let left = attrs(&[("direction", AttrValue::String("LEFT".into()))]);
        let right = attrs(&[("direction", AttrValue::String("RIGHT".into()))]);
        // The spec's examples: RIGHT [16, 4, 1] >> [1, 2, 3] = [8, 1, 0];
        // LEFT [16, 4, 1] << [1, 2, 3] = [32, 16, 8].
        let x = t(DType::U8, &[3], &[16.0, 4.0, 1.0]);
        let s = t(DType::U8, &[3], &[1.0, 2.0, 3.0]);
        close(
            &run1("BitShift", &right, &[x.clone(), s.clone()]).data,
            &[8.0, 1.0, 0.0],
            0.0,
        );
        close(
            &run1("BitShift", &left, &[x, s]).data,
            &[32.0, 16.0, 8.0],
            0.0,
        );
        // Bits shifted out are lost: 200 << 1 = 400 mod 256 = 144.
        let x = t(DType::U8, &[1], &[200.0]);
        let s = t(DType::U8, &[1], &[1.0]);
        close(
            &run1("BitShift", &left, &[x.clone(), s]).data,
            &[144.0],
            0.0,
        );
        let s8 = t(DType::U8, &[1], &[8.0]);
        fails(
            "BitShift",
            &left,
            &[Some(x.clone()), Some(s8.clone())],
            "shift by 8",
        );
        fails(
            "BitShift",
            &none(),
            &[Some(x.clone()), Some(x.clone())],
            "direction is required",
        );
        let bad = attrs(&[("direction", AttrValue::String("UP".into()))]);
        fails("BitShift", &bad, &[Some(x.clone()), Some(x)], "LEFT");
        let x = t(DType::U64, &[1], &[3.0]);
        let s = t(DType::U64, &[1], &[62.0]);
        // 3 << 62 = 2^63 (the top bit of 3 * 2^62 = 2^63 + 2^62 is kept,
        // 2^64 is not)... 3 * 2^62 = 1.5 * 2^63 < 2^64: both bits kept.
        close(
            &run1("BitShift", &left, &[x, s]).data,
            &[3.0 * 2f64.powi(62)],
            0.0,
        );
    }

    #[test]
    fn mod_takes_the_divisors_sign_or_the_dividends() {
        let a = i(&[4], &[7, -7, 7, -7]);
        let b = i(&[4], &[3, 3, -3, -3]);
        // Python: 7 % 3 = 1, -7 % 3 = 2, 7 % -3 = -2, -7 % -3 = -1.
        close(
            &run1("Mod", &none(), &[a.clone(), b.clone()]).data,
            &[1.0, 2.0, -2.0, -1.0],
            0.0,
        );
        // C: fmod(7, 3) = 1, fmod(-7, 3) = -1, fmod(7, -3) = 1, fmod(-7, -3) = -1.
        let fm = attrs(&[("fmod", AttrValue::Int(1))]);
        close(
            &run1("Mod", &fm, &[a, b]).data,
            &[1.0, -1.0, 1.0, -1.0],
            0.0,
        );
        let x = f(&[5], &[5.5, -5.5, 5.5, f64::INFINITY, 3.0]);
        let y = f(&[5], &[2.0, 2.0, -2.0, 2.0, f64::INFINITY]);
        let r = run1("Mod", &fm, &[x.clone(), y.clone()]);
        close(&r.data, &[1.5, -1.5, 1.5, f64::NAN, 3.0], 0.0);
        fails("Mod", &none(), &[Some(x), Some(y)], "needs fmod=1");
        let z = i(&[1], &[0]);
        fails("Mod", &none(), &[Some(i(&[1], &[3])), Some(z)], "by zero");
        let bad = attrs(&[("fmod", AttrValue::Int(2))]);
        fails(
            "Mod",
            &bad,
            &[Some(i(&[1], &[3])), Some(i(&[1], &[2]))],
            "fmod must be 0 or 1",
        );
        // u8: no signs, both modes agree.
        let u = t(DType::U8, &[1], &[250.0]);
        let v = t(DType::U8, &[1], &[7.0]);
        close(&run1("Mod", &none(), &[u, v]).data, &[5.0], 0.0);
    }

    #[test]
    fn pow_of_negative_bases_and_integers() {
        let x = f(&[4], &[-2.0, -2.0, 4.0, 0.0]);
        let y = f(&[4], &[3.0, 0.5, -0.5, -1.0]);
        let r = run1("Pow", &none(), &[x, y]);
        close(&r.data, &[-8.0, f64::NAN, 0.5, f64::INFINITY], 0.0);
        // Integer base and exponent: exact, wrapping like the dtype.
        let b = t(DType::I32, &[3], &[-3.0, 2.0, 7.0]);
        let e = t(DType::I64, &[3], &[3.0, 31.0, 0.0]);
        close(
            &run1("Pow", &none(), &[b.clone(), e]).data,
            &[-27.0, -2_147_483_648.0, 1.0],
            0.0,
        );
        // Integer base, float exponent: truncated. 2^1.5 = 2.83 -> 2.
        let e = f(&[3], &[2.0, 1.5, 0.5]);
        close(
            &run1("Pow", &none(), &[b.clone(), e]).data,
            &[9.0, 2.0, 2.0],
            0.0,
        );
        let e = t(DType::I64, &[1], &[-1.0]);
        fails(
            "Pow",
            &none(),
            &[Some(b), Some(e)],
            "negative integer power",
        );
    }
}
