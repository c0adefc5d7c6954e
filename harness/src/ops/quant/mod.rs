//! QuantizeLinear and DequantizeLinear (opset 21): linear quantization to
//! int8/uint8/int16/uint16 and to the two fp8 formats, and back.
//!
//! Scale and zero point are expanded to the shape of `x` first, by the three
//! granularities ONNX defines: per tensor (a scalar, or a one-element 1-D
//! tensor, which ONNX's reference treats the same), per axis (a 1-D tensor as
//! long as `x` along `axis`), and blocked (`block_size > 0`: the rank of `x`,
//! with `ceil(D / block_size)` entries along `axis`, each repeated
//! `block_size` times; the last block may be short).
//!
//! # One rounding, from the exact quotient
//!
//! QuantizeLinear's result is `round(x / scale)` (ties to even) for integer
//! targets and the fp8 value nearest to `x / scale` for fp8 targets. The
//! oracle rounds the *exact* quotient once. Computing `x / scale` in f64
//! first does not change that: with `x` and `scale` of at most 24 significant
//! bits, a quotient that is not exactly a rounding boundary (a half-integer
//! below 2^17, or an fp8 midpoint of 5 significant bits) differs from it by
//! at least about 2^-43 relative, far more than f64 division's 2^-53, so the
//! f64 quotient is on the same side of every boundary as the exact one, and
//! equals a boundary only when the exact quotient does. int32 inputs to an
//! integer target, whose quotients can be closer to a tie than f64 resolves,
//! are divided exactly in integers instead.
//!
//! A correct backend may divide in f32 (as ONNX's reference does, in the
//! scale's type) or multiply by `1 / scale`. Its quotient is then rounded
//! once more before the final rounding, so when the exact quotient lies
//! within about an f32 ulp of a boundary it may land on the other side and
//! the result differs by one quantum (x = 0.35f32, scale = 0.1f32: the exact
//! quotient 3.49999988... gives 3, an f32 quotient of exactly 3.5 gives 4).
//! Allowing an off-by-one everywhere would hide real bugs (truncation instead
//! of rounding is off by one on half the elements), so the checks stay exact
//! and the suites are designed away from those near-ties instead: power-of-two
//! scales (every strategy's quotient is then exact, and exact ties do test
//! ties-to-even), plus realistic scales only on inputs where the exact, the
//! f32-division and the f32-reciprocal results agree. A test in this module
//! evaluates every QuantizeLinear case of `suites/ops/core.yaml` all three
//! ways and fails if a case has a near-tie.
//!
//! DequantizeLinear's `(x - zero_point) * scale` is exact in f64 for every
//! 8- and 16-bit and fp8 input (at most 17 + 24 significant bits); int32
//! inputs are rounded once in f64, far below any output ulp. As everywhere in
//! the oracle, the float result is not rounded to the output dtype.

use ndarray::{ArrayD, IxDyn};

use super::rules::{self, int_attr, no_sum, per_input_element};
use super::spec::{TypeVar, fixed};

/// QuantizeLinear's x and y_scale.
const QUANTIZE_X: TypeVar = TypeVar {
    name: "T1",
    allowed: &[DType::F32, DType::F16, DType::BF16, DType::I32],
};
/// The quantized side: QuantizeLinear's y_zero_point.
const QUANTIZED_T2: TypeVar = TypeVar {
    name: "T2",
    allowed: &QUANTIZED,
};
/// DequantizeLinear's x and x_zero_point.
const DEQUANTIZE_X: TypeVar = TypeVar {
    name: "T1",
    allowed: &[
        DType::I8,
        DType::U8,
        DType::I16,
        DType::U16,
        DType::I32,
        DType::F8E4M3FN,
        DType::F8E5M2,
    ],
};
/// DequantizeLinear's x_scale.
const SCALE_T2: TypeVar = TypeVar {
    name: "T2",
    allowed: &[DType::F32, DType::F16, DType::BF16],
};
use super::{AttrType, Call, OpDef, OpSpec, Output, Result, TypedShape, Value};
use crate::numerics::check::CheckPolicy;

/// One rounding, which the oracle makes too. Integer outputs are exact
/// (every integer output is); fp8 outputs get the dtype's allclose.
pub(super) const QUANTIZE_LINEAR: OpDef = OpDef {
    spec: OpSpec {
        name: "QuantizeLinear",
        domain: "",
        opset: 21,
        arity: fixed(2, 1),
        input_names: &["x", "y_scale", "y_zero_point"],
        input_types: &[QUANTIZE_X, QUANTIZE_X, QUANTIZED_T2],
        outputs: 1,
        attributes: &[
            ("axis", AttrType::Int),
            ("block_size", AttrType::Int),
            ("saturate", AttrType::Int),
            ("output_dtype", AttrType::Int),
        ],
    },
    oracle: |c| Ok(vec![quantize_linear(c)?]),
    // x's shape; the zero point's dtype, else output_dtype, else uint8.
    shape: |attrs, inputs, _| {
        let (_, shape) = rules::input(inputs, 0)?;
        let dtype = match inputs.get(2).and_then(Option::as_ref) {
            Some((zp, _)) => *zp,
            None => match int_attr(attrs, "output_dtype", 0) {
                0 => DType::U8,
                code => i32::try_from(code)
                    .ok()
                    .and_then(DType::from_code)
                    .ok_or_else(|| format!("output_dtype {code} is not a dtype"))?,
            },
        };
        Ok(vec![(dtype, shape.clone())] as Vec<TypedShape>)
    },
    cost: per_input_element::<2>,
    check: CheckPolicy::Allclose,
    terms: no_sum,
};

/// `(x - zero_point) * scale` is exact in f64; torch's allclose on the
/// float output.
pub(super) const DEQUANTIZE_LINEAR: OpDef = OpDef {
    spec: OpSpec {
        name: "DequantizeLinear",
        domain: "",
        opset: 21,
        arity: fixed(2, 1),
        input_names: &["x", "x_scale", "x_zero_point"],
        input_types: &[DEQUANTIZE_X, SCALE_T2, DEQUANTIZE_X],
        outputs: 1,
        attributes: &[("axis", AttrType::Int), ("block_size", AttrType::Int)],
    },
    oracle: |c| Ok(vec![dequantize_linear(c)?]),
    // x's shape, the scale's dtype.
    shape: |_, inputs, _| {
        let (_, shape) = rules::input(inputs, 0)?;
        let (dtype, _) = rules::input(inputs, 1)?;
        Ok(vec![(*dtype, shape.clone())])
    },
    cost: per_input_element::<2>,
    check: CheckPolicy::Allclose,
    terms: no_sum,
};
use crate::numerics::{DType, from_f64_bits, from_f64_bits_saturating, to_f64_bits};

/// The dtypes QuantizeLinear can produce (and DequantizeLinear read, besides
/// int32). int4/uint4 and the fnuz fp8 formats are not xpucert dtypes.
const QUANTIZED: [DType; 6] = [
    DType::I8,
    DType::U8,
    DType::I16,
    DType::U16,
    DType::F8E4M3FN,
    DType::F8E5M2,
];

/// Converts `v` to an fp8 dtype as ONNX Cast and QuantizeLinear do: round to
/// nearest even; with `saturate`, values rounding past the largest finite
/// value and +-Inf become +-max, otherwise +-Inf (E5M2) or NaN (E4M3FN).
/// Shared with Cast so both ops follow one, exhaustively tested conversion.
pub(super) fn to_fp8(dtype: DType, v: f64, saturate: bool) -> f64 {
    debug_assert!(matches!(dtype, DType::F8E4M3FN | DType::F8E5M2));
    let mut b = [0u8; 1];
    if saturate {
        from_f64_bits_saturating(dtype, v, &mut b);
    } else {
        from_f64_bits(dtype, v, &mut b);
    }
    to_f64_bits(dtype, &b)
}

/// The representable range of an integer quantized dtype.
fn int_range(dtype: DType) -> Option<(f64, f64)> {
    Some(match dtype {
        DType::I8 => (-128.0, 127.0),
        DType::U8 => (0.0, 255.0),
        DType::I16 => (-32768.0, 32767.0),
        DType::U16 => (0.0, 65535.0),
        _ => return None,
    })
}

fn is_fp8(dtype: DType) -> bool {
    matches!(dtype, DType::F8E4M3FN | DType::F8E5M2)
}

/// Expands a scale or zero point (input `i`) to the shape of `x`, following
/// its granularity (module docs). `axis` is the raw attribute.
fn expand(call: &Call, i: usize, p: &Value, x_shape: &[usize], axis: i64) -> Result<ArrayD<f64>> {
    let name = call.input_name(i);
    let block_size = call.int("block_size", 0)?;
    if block_size < 0 {
        return Err(call.err(format!(
            "attribute block_size must be >= 0, got {block_size}"
        )));
    }
    let per_tensor = p.data.ndim() == 0 || (p.data.ndim() == 1 && p.data.len() == 1);
    if per_tensor && block_size == 0 {
        let v = p.data.iter().next().copied().unwrap_or(0.0);
        return Ok(ArrayD::from_elem(IxDyn(x_shape), v));
    }
    let ax = call.axis("axis", axis, x_shape.len())?;
    let d = x_shape[ax];
    if block_size == 0 {
        if p.data.ndim() != 1 || p.data.len() != d {
            return Err(call.err(format!(
                "{name} must be a scalar or 1-D with {d} elements (x is {x_shape:?}, axis {axis}), got shape {:?}",
                p.shape()
            )));
        }
        return Ok(ArrayD::from_shape_fn(IxDyn(x_shape), |idx| {
            p.data[[idx[ax]]]
        }));
    }
    let b = block_size as usize;
    let mut want = x_shape.to_vec();
    want[ax] = d.div_ceil(b);
    if p.shape() != want.as_slice() {
        return Err(call.err(format!(
            "blocked quantization with block_size {b} along axis {axis} needs {name} of shape {want:?} (x is {x_shape:?}), got {:?}",
            p.shape()
        )));
    }
    Ok(ArrayD::from_shape_fn(IxDyn(x_shape), |idx| {
        let mut j = idx.clone();
        j[ax] /= b;
        p.data[j]
    }))
}

/// Fails unless every value of the zero point is 0: ONNX defines no offset
/// for fp8 (its reference ignores the zero point) nor for int32.
fn require_zero(call: &Call, i: usize, zp: &Value) -> Result<()> {
    match zp.data.iter().find(|&&v| v != 0.0) {
        None => Ok(()),
        Some(v) => Err(call.err(format!(
            "{} must be 0 for {} (no offset is defined for it), got {v}",
            call.input_name(i),
            zp.dtype
        ))),
    }
}

/// The output dtype of QuantizeLinear: the zero point's dtype, else the
/// `output_dtype` attribute (an ONNX dtype code; 0 = unset), else uint8.
fn quantized_dtype(call: &Call, zp: Option<&Value>) -> Result<DType> {
    let code = call.int("output_dtype", 0)?;
    let attr = if code == 0 {
        None
    } else {
        Some(
            i32::try_from(code)
                .ok()
                .and_then(DType::from_code)
                .ok_or_else(|| {
                    call.err(format!(
                        "attribute output_dtype = {code} is not a dtype xpucert knows"
                    ))
                })?,
        )
    };
    let out = match (zp, attr) {
        (Some(z), Some(a)) if z.dtype != a => {
            return Err(call.err(format!(
                "attribute output_dtype ({a}) must match the dtype of y_zero_point ({})",
                z.dtype
            )));
        }
        (Some(z), _) => z.dtype,
        (None, Some(a)) => a,
        (None, None) => DType::U8,
    };
    if QUANTIZED.contains(&out) {
        Ok(out)
    } else {
        Err(call.err(format!(
            "output dtype {out} is not a quantized type (int8, uint8, int16, uint16, f8e4m3fn, f8e5m2)"
        )))
    }
}

/// How QuantizeLinear forms `x / scale` before rounding; the oracle's is
/// [`exact_quotient`]. Tests substitute f32 strategies a backend may use.
type Quotient = fn(x: f64, scale: f64) -> f64;

/// `x / scale` rounded once to f64, which decides every rounding boundary of
/// a float or fp8 target exactly (module docs).
fn exact_quotient(x: f64, scale: f64) -> f64 {
    x / scale
}

/// QuantizeLinear (opset 21): `saturate(round(x / y_scale) + y_zero_point)`
/// for integer targets; `x / y_scale` converted to fp8 (with `saturate`,
/// default 1) for fp8 targets, whose zero point must be 0.
/// * x and y_scale share one dtype (f32, f16, bf16 or int32; ONNX's T1);
/// * the scale must be finite and nonzero (x / 0 has no quantized value);
/// * a NaN x has no integer quantization in ONNX and is an error; +-Inf
///   saturates like any value beyond the range.
fn quantize_linear(call: &Call) -> Result<Output> {
    quantize_with(call, exact_quotient)
}

fn quantize_with(call: &Call, quotient: Quotient) -> Result<Output> {
    let (x, scale) = (call.input(0)?, call.input(1)?);
    if !matches!(x.dtype, DType::F32 | DType::F16 | DType::BF16 | DType::I32) {
        return Err(call.err(format!(
            "input x must be f32, f16, bf16 or i32, got {}",
            x.dtype
        )));
    }
    call.require_same_dtype(0, x, 1, scale)?;
    let zp = call.opt(2);
    let out = quantized_dtype(call, zp)?;
    if let Some(v) = scale.data.iter().find(|v| !v.is_finite() || **v == 0.0) {
        return Err(call.err(format!("y_scale must be finite and nonzero, got {v}")));
    }
    let saturate = call.int("saturate", 1)? != 0;
    let axis = call.int("axis", 1)?;
    let s = expand(call, 1, scale, x.shape(), axis)?;
    let z = match zp {
        Some(z) => {
            if is_fp8(out) {
                require_zero(call, 2, z)?;
            }
            expand(call, 2, z, x.shape(), axis)?
        }
        None => ArrayD::zeros(IxDyn(x.shape())),
    };
    let mut data = ArrayD::zeros(IxDyn(x.shape()));
    for (((y, &xv), &sv), &zv) in data.iter_mut().zip(&x.data).zip(&s).zip(&z) {
        *y = match int_range(out) {
            Some((lo, hi)) => {
                if xv.is_nan() {
                    return Err(
                        call.err("x holds NaN, whose integer quantization ONNX leaves undefined")
                    );
                }
                let r = if x.dtype == DType::I32 {
                    // Both are integers below 2^31: divide exactly.
                    div_round_half_even(xv as i128, sv as i128) as f64
                } else {
                    quotient(xv, sv).round_ties_even()
                };
                (r + zv).clamp(lo, hi)
            }
            None => to_fp8(out, quotient(xv, sv), saturate),
        };
    }
    Ok(Output::plain(out, data))
}

/// `a / b` rounded to the nearest integer, ties to even, exactly.
fn div_round_half_even(a: i128, b: i128) -> i128 {
    let (a, b) = if b < 0 { (-a, -b) } else { (a, b) };
    let q = a.div_euclid(b);
    let twice_rem = 2 * a.rem_euclid(b);
    if twice_rem > b || (twice_rem == b && q % 2 != 0) {
        q + 1
    } else {
        q
    }
}

/// DequantizeLinear (opset 21): `(x - x_zero_point) * x_scale`, in the
/// scale's dtype (f32, f16 or bf16). x is int8, uint8, int16, uint16, int32
/// or fp8; the zero point has x's dtype and must be 0 for int32 and fp8.
/// NaN and infinite fp8 inputs stay NaN and infinite.
fn dequantize_linear(call: &Call) -> Result<Output> {
    let (x, scale) = (call.input(0)?, call.input(1)?);
    if !(QUANTIZED.contains(&x.dtype) || x.dtype == DType::I32) {
        return Err(call.err(format!(
            "input x must be int8, uint8, int16, uint16, int32, f8e4m3fn or f8e5m2, got {}",
            x.dtype
        )));
    }
    if !matches!(scale.dtype, DType::F32 | DType::F16 | DType::BF16) {
        return Err(call.err(format!(
            "input x_scale must be f32, f16 or bf16, got {}",
            scale.dtype
        )));
    }
    let axis = call.int("axis", 1)?;
    let s = expand(call, 1, scale, x.shape(), axis)?;
    let z = match call.opt(2) {
        Some(z) => {
            call.require_same_dtype(0, x, 2, z)?;
            if is_fp8(x.dtype) || x.dtype == DType::I32 {
                require_zero(call, 2, z)?;
            }
            expand(call, 2, z, x.shape(), axis)?
        }
        None => ArrayD::zeros(IxDyn(x.shape())),
    };
    let mut data = ArrayD::zeros(IxDyn(x.shape()));
    for (((y, &xv), &sv), &zv) in data.iter_mut().zip(&x.data).zip(&s).zip(&z) {
        *y = (xv - zv) * sv;
    }
    Ok(Output::plain(scale.dtype, data))
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};

/// Scales are powers of two, so that every correct strategy (exact, f32
/// division, multiplication by the reciprocal) gives the same quotient and
/// the exact checks hold (module docs: near-ties).
fn pow2_scales(n: usize) -> Vec<f64> {
    (0..n).map(|i| 2f64.powi(-((i % 5) as i32) - 2)).collect()
}

/// A zero point of `dtype` that is inside its range and not 0 where the
/// dtype allows it (fp8 and int32 zero points must be 0).
fn zero_point(dtype: DType, i: usize) -> f64 {
    match dtype {
        DType::U8 | DType::U16 => 3.0 + (i % 4) as f64,
        DType::I8 | DType::I16 => -3.0 + (i % 4) as f64,
        _ => 0.0,
    }
}

/// The scale's (and zero point's) shape and values for a granularity of
/// `x` (2-D here), with the `axis` attribute it needs.
fn granularity(level: &str, x: &[usize]) -> (Vec<usize>, usize, Option<i64>) {
    match level {
        "pertensor" => (vec![], 1, None),
        "peraxis0" => (vec![x[0]], x[0], Some(0)),
        _ => (vec![x[1]], x[1], Some(-1)),
    }
}

/// QuantizeLinear: x of f32 / f16 / bf16 to every quantized dtype, per
/// tensor or per axis (first, last), with a zero point or by
/// `output_dtype`, rows of 1, a prime or 1031 elements, every layout of x.
pub(super) fn quantize_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(&[DType::F32, DType::F16, DType::BF16]),
            Factor::new(
                "to",
                &["tou8", "toi8", "tou16", "toi16", "tof8e4m3fn", "tof8e5m2"],
            ),
            Factor::new("granularity", &["pertensor", "peraxis0", "peraxislast"]),
            Factor::new("zeropoint", &["withzp", "nozp"]),
            Factor::new("size", &["n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let dt = p.dtype();
            let to = DType::from_name(&p.get("to")[2..]).expect("`to` levels name dtypes");
            let size = match p.get("size") {
                "n1" => 1,
                "prime" => 7,
                _ => 1031,
            };
            let x = vec![4, size];
            let (sshape, n, axis) = granularity(p.get("granularity"), &x);
            // Quotients up to about +-300: past the 8-bit ranges, so
            // saturation is exercised; within the 16-bit ones.
            let mut inputs = vec![
                GenInput::new(dt, x)
                    .fill(Fill::Uniform(-20.0, 20.0))
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::values(dt, pow2_scales(n))
                    .shaped(sshape.clone())
                    .some(),
            ];
            let mut case = if p.is("zeropoint", "withzp") {
                inputs.push(
                    GenInput::values(to, (0..n).map(|i| zero_point(to, i)).collect())
                        .shaped(sshape)
                        .some(),
                );
                GenCase::new(inputs)
            } else {
                GenCase::new(inputs).int("output_dtype", i64::from(to.code()))
            };
            if let Some(a) = axis {
                case = case.int("axis", a);
            }
            Some(case)
        }),
    })
}

/// DequantizeLinear: every dtype it reads to f32 / f16 / bf16 scales, per
/// tensor or per axis (first, last), with or without a zero point, rows of
/// 1, a prime or 1031 elements, every layout of x.
pub(super) fn dequantize_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(&[DType::F32, DType::F16, DType::BF16]),
            Factor::new(
                "from",
                &[
                    "fromi8",
                    "fromu8",
                    "fromi16",
                    "fromu16",
                    "fromi32",
                    "fromf8e4m3fn",
                    "fromf8e5m2",
                ],
            ),
            Factor::new("granularity", &["pertensor", "peraxis0", "peraxislast"]),
            Factor::new("zeropoint", &["withzp", "nozp"]),
            Factor::new("size", &["n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let dt = p.dtype();
            let from = DType::from_name(&p.get("from")[4..]).expect("`from` levels name dtypes");
            let size = match p.get("size") {
                "n1" => 1,
                "prime" => 7,
                _ => 1031,
            };
            let x = vec![4, size];
            let (sshape, n, axis) = granularity(p.get("granularity"), &x);
            let fill = match from {
                DType::U8 | DType::U16 => Fill::Int(0, 255),
                DType::F8E4M3FN | DType::F8E5M2 => Fill::Normal(8.0),
                _ => Fill::Int(-128, 127),
            };
            let mut inputs = vec![
                GenInput::new(from, x)
                    .fill(fill)
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::values(dt, pow2_scales(n))
                    .shaped(sshape.clone())
                    .some(),
            ];
            if p.is("zeropoint", "withzp") {
                inputs.push(
                    GenInput::values(from, (0..n).map(|i| zero_point(from, i)).collect())
                        .shaped(sshape)
                        .some(),
                );
            }
            let mut case = GenCase::new(inputs);
            if let Some(a) = axis {
                case = case.int("axis", a);
            }
            Some(case)
        }),
    })
}

#[cfg(test)]
mod tests;
