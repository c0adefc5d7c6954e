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

use super::rules::{self, no_sum, per_input_element};
use super::spec::{TypeVar, fixed};
use super::{AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape};
use crate::numerics::check::CheckPolicy;

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
        DType::F8E4M3FNUZ,
        DType::F8E5M2FNUZ,
        DType::I4,
        DType::U4,
        DType::F4E2M1,
    ],
};
/// DequantizeLinear's x_scale.
const SCALE_T2: TypeVar = TypeVar {
    name: "T2",
    allowed: &[DType::F32, DType::F16, DType::BF16],
};

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
    shape: |attrs, inputs, values| {
        let plan = Quantize::resolve(attrs, inputs, values)?;
        Ok(vec![(plan.out, rules::input(inputs, 0)?.1.clone())])
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
    shape: |attrs, inputs, values| {
        let plan = Dequantize::resolve(attrs, inputs, values)?;
        Ok(vec![(plan.out, rules::input(inputs, 0)?.1.clone())])
    },
    cost: per_input_element::<2>,
    check: CheckPolicy::Allclose,
    terms: no_sum,
};
use crate::numerics::{DType, from_f64_bits, from_f64_bits_saturating, round_to, to_f64_bits};

/// The dtypes QuantizeLinear can produce (and DequantizeLinear read, besides
/// int32). FLOAT4E2M1 joined at opset 23 (accepted at 21 here too).
const QUANTIZED: [DType; 11] = [
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
];

/// Converts `v` to an fp8 dtype as ONNX Cast and QuantizeLinear do: round to
/// nearest even; with `saturate`, values rounding past the largest finite
/// value and +-Inf become +-max, otherwise +-Inf (E5M2) or NaN (E4M3FN).
/// Shared with Cast so both ops follow one, exhaustively tested conversion.
pub(super) fn to_fp8(dtype: DType, v: f64, saturate: bool) -> f64 {
    debug_assert!(matches!(
        dtype,
        DType::F8E4M3FN | DType::F8E5M2 | DType::F8E4M3FNUZ | DType::F8E5M2FNUZ
    ));
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
        DType::I4 => (-8.0, 7.0),
        DType::U4 => (0.0, 15.0),
        _ => return None,
    })
}

/// The float quantized types (fp8 and FP4), whose zero point must be 0.
fn is_fp8(dtype: DType) -> bool {
    matches!(
        dtype,
        DType::F8E4M3FN | DType::F8E5M2 | DType::F8E4M3FNUZ | DType::F8E5M2FNUZ | DType::F4E2M1
    )
}

/// How a scale (and its zero point, which has the scale's shape) maps onto
/// the elements of x (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Granularity {
    /// One value for the whole of x: a scalar or a one-element 1-D tensor.
    PerTensor,
    /// One value per index along `axis`.
    PerAxis { axis: usize },
    /// One value per `block` consecutive indices along `axis`.
    Blocked { axis: usize, block: usize },
}

impl Granularity {
    /// The granularity a scale of shape `p` (named `name`) has for x of
    /// shape `x`, by the `axis` and `block_size` attributes, or why the
    /// shapes do not fit together.
    fn of(
        attrs: &Attributes,
        name: &str,
        p: &[usize],
        x: &[usize],
    ) -> std::result::Result<Self, String> {
        let block = attrs.int("block_size", 0)?;
        if block < 0 {
            return Err(format!(
                "attribute block_size must be >= 0 (0: per tensor or per axis), got {block}"
            ));
        }
        if block == 0 && (p.is_empty() || p == [1]) {
            // The axis does not matter (ONNX ignores it), so it is not checked.
            return Ok(Granularity::PerTensor);
        }
        let attr = attrs.int("axis", 1)?;
        let rank = x.len() as i64;
        if rank == 0 {
            return Err(format!(
                "x is a scalar (rank 0) and has no axis {attr} for {name} of shape {p:?} \
                 (a scalar x takes a scalar {name}, without block_size)"
            ));
        }
        if attr < -rank || attr >= rank {
            return Err(format!(
                "axis {attr} is out of range for x of shape {x:?} (accepted: [{}, {}])",
                -rank,
                rank - 1
            ));
        }
        let axis = if attr < 0 { attr + rank } else { attr } as usize;
        let d = x[axis];
        if block == 0 {
            return if p == [d] {
                Ok(Granularity::PerAxis { axis })
            } else {
                Err(format!(
                    "{name} must be a scalar or 1-D with {d} elements (x is {x:?}, axis {attr}), got shape {p:?}"
                ))
            };
        }
        let block =
            usize::try_from(block).map_err(|_| format!("block_size {block} is too large"))?;
        let mut want = x.to_vec();
        want[axis] = d.div_ceil(block);
        if p != want.as_slice() {
            return Err(format!(
                "blocked quantization with block_size {block} along axis {attr} needs {name} of shape {want:?} (x is {x:?}), got {p:?}"
            ));
        }
        Ok(Granularity::Blocked { axis, block })
    }

    /// `p` (validated by [`Granularity::of`]) expanded to x's shape.
    fn expand(self, p: &ArrayD<f64>, x_shape: &[usize]) -> ArrayD<f64> {
        match self {
            Granularity::PerTensor => {
                let v = p.iter().next().copied().unwrap_or(0.0);
                ArrayD::from_elem(IxDyn(x_shape), v)
            }
            Granularity::PerAxis { axis } => {
                ArrayD::from_shape_fn(IxDyn(x_shape), |idx| p[[idx[axis]]])
            }
            Granularity::Blocked { axis, block } => ArrayD::from_shape_fn(IxDyn(x_shape), |idx| {
                let mut j = idx.clone();
                j[axis] /= block;
                p[j]
            }),
        }
    }
}

/// Input `i`'s values, when the reader knows them: a suite's generated
/// tensors are known only once generated, and the reader then gives
/// nothing (an empty list for a nonempty shape).
fn known(values: &mut dyn FnMut(usize) -> Vec<f64>, i: usize, shape: &[usize]) -> Option<Vec<f64>> {
    let v = values(i);
    (v.len() == shape.iter().product::<usize>()).then_some(v)
}

/// Checks the zero point (input 2, optional): the scale's shape and, for a
/// dtype without offsets (`zero_only`), only zeros: ONNX defines no offset
/// for fp8 (its reference ignores the zero point) nor for int32.
fn check_zero_point(
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
    names: [&str; 2],
    zero_only: bool,
) -> std::result::Result<(), String> {
    let [scale_name, zp_name] = names;
    let (Some((dtype, zp)), Some((_, scale))) = (
        inputs.get(2).and_then(Option::as_ref),
        inputs.get(1).and_then(Option::as_ref),
    ) else {
        return Ok(());
    };
    // A scalar and a one-element 1-D tensor are both per-tensor: ONNX's
    // own tests pair a [1] zero point with a scalar scale
    // (test_quantizelinear_e4m3fn), and its reference accepts that.
    let per_tensor = |s: &[usize]| s.is_empty() || s == [1];
    if zp != scale && !(per_tensor(zp) && per_tensor(scale)) {
        return Err(format!(
            "{zp_name} must have the shape of {scale_name} {scale:?}, got {zp:?}"
        ));
    }
    if zero_only
        && let Some(v) = known(values, 2, zp).and_then(|v| v.into_iter().find(|&v| v != 0.0))
    {
        return Err(format!(
            "{zp_name} must be 0 for {dtype} (no offset is defined for it), got {v}"
        ));
    }
    Ok(())
}

/// A QuantizeLinear call, checked: what its oracle and its shape rule
/// both go by.
struct Quantize {
    /// The output dtype.
    out: DType,
    /// How y_scale and y_zero_point map onto x.
    granularity: Granularity,
    /// Whether an fp8 result beyond the range saturates.
    saturate: bool,
}

impl Quantize {
    /// Checks a call (dtypes, shapes, attributes, and the values the reader
    /// knows: scale, zero point, x) and resolves its parameters, or says
    /// what is wrong.
    /// * x and y_scale share one dtype (f32, f16, bf16 or int32; ONNX's T1),
    ///   checked with the signature;
    /// * the output dtype is y_zero_point's, else `output_dtype` (an ONNX
    ///   dtype code, 0 = unset; both given must agree), else uint8;
    /// * the scale must be finite and nonzero (x / 0 has no quantized value);
    /// * an fp8 zero point must be 0;
    /// * a NaN x has no integer quantization in ONNX and is an error; +-Inf
    ///   saturates like any value beyond the range.
    fn resolve(
        attrs: &Attributes,
        inputs: &[Option<TypedShape>],
        values: &mut dyn FnMut(usize) -> Vec<f64>,
    ) -> std::result::Result<Self, String> {
        let (_, x) = rules::input(inputs, 0)?;
        let (_, scale) = rules::input(inputs, 1)?;
        let zp = inputs.get(2).and_then(Option::as_ref).map(|(d, _)| *d);
        let out = quantized_dtype(attrs, zp)?;
        let saturate = rules::flag(attrs, "saturate", true)?;
        let granularity = Granularity::of(attrs, "y_scale", scale, x)?;
        if let Some(v) = known(values, 1, scale)
            .and_then(|v| v.into_iter().find(|v| !v.is_finite() || *v == 0.0))
        {
            return Err(format!("y_scale must be finite and nonzero, got {v}"));
        }
        check_zero_point(inputs, values, ["y_scale", "y_zero_point"], is_fp8(out))?;
        if int_range(out).is_some()
            && known(values, 0, x).is_some_and(|v| v.iter().any(|v| v.is_nan()))
        {
            return Err(format!(
                "x holds NaN, whose quantization to {out} ONNX leaves undefined"
            ));
        }
        Ok(Quantize {
            out,
            granularity,
            saturate,
        })
    }
}

/// A DequantizeLinear call, checked: what its oracle and its shape rule
/// both go by.
struct Dequantize {
    /// The output dtype: x_scale's.
    out: DType,
    /// How x_scale and x_zero_point map onto x.
    granularity: Granularity,
}

impl Dequantize {
    /// Checks a call and resolves its parameters, or says what is wrong.
    /// x is int8, uint8, int16, uint16, int32 or fp8 and x_scale f32, f16 or
    /// bf16 (checked with the signature); the zero point has x's dtype and
    /// the scale's shape, and must be 0 for int32 and fp8.
    fn resolve(
        attrs: &Attributes,
        inputs: &[Option<TypedShape>],
        values: &mut dyn FnMut(usize) -> Vec<f64>,
    ) -> std::result::Result<Self, String> {
        let (x_dtype, x) = rules::input(inputs, 0)?;
        let (out, scale) = rules::input(inputs, 1)?;
        let granularity = Granularity::of(attrs, "x_scale", scale, x)?;
        let zero_only = is_fp8(*x_dtype) || *x_dtype == DType::I32;
        check_zero_point(inputs, values, ["x_scale", "x_zero_point"], zero_only)?;
        Ok(Dequantize {
            out: *out,
            granularity,
        })
    }
}

/// The output dtype of QuantizeLinear: the zero point's dtype, else the
/// `output_dtype` attribute (an ONNX dtype code; 0 = unset), else uint8.
fn quantized_dtype(attrs: &Attributes, zp: Option<DType>) -> std::result::Result<DType, String> {
    let accepted = || {
        QUANTIZED
            .iter()
            .map(|d| format!("{} {d}", d.code()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let code = attrs.int("output_dtype", 0)?;
    let attr = if code == 0 {
        None
    } else {
        Some(
            i32::try_from(code)
                .ok()
                .and_then(DType::from_code)
                .ok_or_else(|| {
                    format!(
                        "attribute output_dtype = {code} is not a dtype xpucert knows (accepted: {}; 0 or none: y_zero_point's dtype, else u8)",
                        accepted()
                    )
                })?,
        )
    };
    let out = match (zp, attr) {
        (Some(z), Some(a)) if z != a => {
            return Err(format!(
                "attribute output_dtype ({a}) must match the dtype of y_zero_point ({z})"
            ));
        }
        (Some(z), _) => z,
        (None, Some(a)) => a,
        (None, None) => DType::U8,
    };
    if QUANTIZED.contains(&out) {
        Ok(out)
    } else {
        Err(format!(
            "output dtype {out} is not a quantized type (accepted output_dtype codes: {})",
            accepted()
        ))
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
/// default 1) for fp8 targets, whose zero point must be 0. What a valid
/// call is: [`Quantize::resolve`].
fn quantize_linear(call: &Call) -> Result<Output> {
    quantize_with(call, exact_quotient)
}

fn quantize_with(call: &Call, quotient: Quotient) -> Result<Output> {
    let plan = Quantize::resolve(call.attrs, &call.typed_shapes(), &mut |i| call.values(i))
        .map_err(|m| call.err(m))?;
    let (x, scale) = (call.input(0)?, call.input(1)?);
    let out = plan.out;
    let s = plan.granularity.expand(&scale.data, x.shape());
    let z = match call.opt(2) {
        Some(z) => plan.granularity.expand(&z.data, x.shape()),
        None => ArrayD::zeros(IxDyn(x.shape())),
    };
    let mut data = ArrayD::zeros(IxDyn(x.shape()));
    for (((y, &xv), &sv), &zv) in data.iter_mut().zip(&x.data).zip(&s).zip(&z) {
        *y = match int_range(out) {
            // x holds no NaN here (checked).
            Some((lo, hi)) => {
                let r = if x.dtype == DType::I32 {
                    // Both are integers below 2^31: divide exactly.
                    div_round_half_even(xv as i128, sv as i128) as f64
                } else {
                    quotient(xv, sv).round_ties_even()
                };
                (r + zv).clamp(lo, hi)
            }
            // E2M1 always saturates (ONNX's float4 table).
            None if out == DType::F4E2M1 => round_to(out, quotient(xv, sv)),
            None => to_fp8(out, quotient(xv, sv), plan.saturate),
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
/// or fp8 ([`Dequantize::resolve`]). NaN and infinite fp8 inputs stay NaN
/// and infinite.
fn dequantize_linear(call: &Call) -> Result<Output> {
    let plan = Dequantize::resolve(call.attrs, &call.typed_shapes(), &mut |i| call.values(i))
        .map_err(|m| call.err(m))?;
    let (x, scale) = (call.input(0)?, call.input(1)?);
    let s = plan.granularity.expand(&scale.data, x.shape());
    let z = match call.opt(2) {
        Some(z) => plan.granularity.expand(&z.data, x.shape()),
        None => ArrayD::zeros(IxDyn(x.shape())),
    };
    let mut data = ArrayD::zeros(IxDyn(x.shape()));
    for (((y, &xv), &sv), &zv) in data.iter_mut().zip(&x.data).zip(&s).zip(&z) {
        *y = (xv - zv) * sv;
    }
    Ok(Output::plain(plan.out, data))
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
