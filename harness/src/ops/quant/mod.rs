//! QuantizeLinear and DequantizeLinear (opsets 10, 13, 19, 21, 23, 24, 25):
//! linear quantization to int8/uint8/int16/uint16/int4/uint4/int2/uint2, the
//! four fp8 formats and FLOAT4E2M1, and back; float or (24) E8M0 scales.
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
//! From opset 23 ONNX fixes the division's precision (`precision`, else
//! y_scale's type): the oracle then rounds the quotient once to it before
//! the final rounding, which is the spec's computation, correctly rounded
//! (the f64 quotient of operands of at most 24 significant bits rounds to
//! f32/f16/bf16 without a double-rounding error, as f64 carries more than
//! twice their bits plus two). An int32 x is still divided exactly (a
//! documented limitation: a float precision would round its quotient
//! twice). An E8M0 scale is a power of two, so its quotients are exact.
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

// ------------------------------------------------------------- versions
// QuantizeLinear and DequantizeLinear at every version that changed them:
// 10 (per tensor, int8/uint8, f32), 13 (`axis`: per axis), 19 (fp8 with
// `saturate`, f16/bf16 x), 21 (blocked, int16/uint16/int4/uint4,
// `output_dtype`), 23 (FLOAT4E2M1; y_scale a type of its own and the
// `precision` of the division; DequantizeLinear's `output_dtype`), 24
// (FLOAT8E8M0 scales, MX style), 25 (int2/uint2). One oracle and one shape
// rule serve all, told the version; one function per op builds every
// version's definition from the version's type lists and attributes
// ([`quantize_def`], [`dequantize_def`]).

/// DequantizeLinear's `x` types, int32 first, then the quantized types in
/// the order ONNX added them: every version's list is a prefix of this
/// ([`quantized_count`]).
const QUANTIZABLE: [DType; 14] = [
    DType::I32,
    DType::I8,
    DType::U8,
    DType::F8E4M3FN,
    DType::F8E4M3FNUZ,
    DType::F8E5M2,
    DType::F8E5M2FNUZ,
    DType::I16,
    DType::U16,
    DType::I4,
    DType::U4,
    DType::F4E2M1,
    DType::I2,
    DType::U2,
];

/// How many quantized types (zero point's and y's) `opset` has: the first
/// that many of [`QUANTIZABLE`] after int32.
const fn quantized_count(opset: i64) -> usize {
    match opset {
        ..19 => 2,
        19..21 => 6,
        21..23 => 10,
        23..25 => 11,
        _ => 13,
    }
}

/// The dtypes QuantizeLinear can produce at `opset`.
const fn quantized_at(opset: i64) -> &'static [DType] {
    QUANTIZABLE.split_at(1).1.split_at(quantized_count(opset)).0
}

/// The dtypes DequantizeLinear reads at `opset`: the quantized ones and
/// int32.
const fn dequantizable_at(opset: i64) -> &'static [DType] {
    QUANTIZABLE.split_at(1 + quantized_count(opset)).0
}

/// A type variable named `name` over `allowed`.
const fn var(name: &'static str, allowed: &'static [DType]) -> TypeVar {
    TypeVar { name, allowed }
}

/// f32 only (`tensor(float)`, 10 and 13).
const F32_ONLY: &[DType] = &[DType::F32];
/// QuantizeLinear-10/13's x.
const X_10: &[DType] = &[DType::F32, DType::I32];
/// QuantizeLinear-19+'s x (and y_scale from 19 to 23); y_scale from 24
/// adds E8M0.
const X_19: &[DType] = &[DType::F32, DType::F16, DType::BF16, DType::I32];
const Y_SCALE_24: &[DType] = &[
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::I32,
    DType::F8E8M0,
];
/// DequantizeLinear's x_scale from 19, and its output (`T3`, 23+);
/// x_scale from 24 adds E8M0.
const FLOAT_SCALES: &[DType] = &[DType::F32, DType::F16, DType::BF16];
const X_SCALE_24: &[DType] = &[DType::F32, DType::F16, DType::BF16, DType::F8E8M0];

const Q_NAMES: &[&str] = &["x", "y_scale", "y_zero_point"];
const DQ_NAMES: &[&str] = &["x", "x_scale", "x_zero_point"];

/// The attributes by version: `axis` from 13, `saturate` (Q) from 19,
/// `block_size` and `output_dtype` (Q) from 21, `precision` (Q) and
/// `output_dtype` (DQ) from 23.
const Q_ATTRS: [(&str, AttrType); 5] = [
    ("axis", AttrType::Int),
    ("saturate", AttrType::Int),
    ("block_size", AttrType::Int),
    ("output_dtype", AttrType::Int),
    ("precision", AttrType::Int),
];
const DQ_ATTRS: [(&str, AttrType); 3] = [
    ("axis", AttrType::Int),
    ("block_size", AttrType::Int),
    ("output_dtype", AttrType::Int),
];

/// QuantizeLinear-`V`'s `x`, `y_scale` and `y_zero_point` types. Before 23
/// x and y_scale share one type variable.
const fn quantize_types(opset: i64) -> &'static [TypeVar] {
    const fn at(opset: i64) -> [TypeVar; 3] {
        let t3 = var("T3", quantized_at(opset));
        match opset {
            ..19 => [
                var("T1", X_10),
                var("y_scale", F32_ONLY),
                var("T2", quantized_at(opset)),
            ],
            19..23 => [
                var("T1", X_19),
                var("T1", X_19),
                var("T2", quantized_at(opset)),
            ],
            23 => [var("T1", X_19), var("T2", X_19), t3],
            _ => [var("T1", X_19), var("T2", Y_SCALE_24), t3],
        }
    }
    // A const fn cannot return a reference to a value it computes; these
    // constants are evaluated once, at compile time.
    const V10: [TypeVar; 3] = at(10);
    const V19: [TypeVar; 3] = at(19);
    const V21: [TypeVar; 3] = at(21);
    const V23: [TypeVar; 3] = at(23);
    const V24: [TypeVar; 3] = at(24);
    const V25: [TypeVar; 3] = at(25);
    match opset {
        ..19 => &V10,
        19..21 => &V19,
        21..23 => &V21,
        23 => &V23,
        24 => &V24,
        _ => &V25,
    }
}

/// DequantizeLinear-`V`'s `x`, `x_scale` and `x_zero_point` types.
const fn dequantize_types(opset: i64) -> &'static [TypeVar] {
    const fn at(opset: i64) -> [TypeVar; 3] {
        let x = dequantizable_at(opset);
        match opset {
            ..19 => [var("T", x), var("x_scale", F32_ONLY), var("T", x)],
            19..24 => [var("T1", x), var("T2", FLOAT_SCALES), var("T1", x)],
            _ => [var("T1", x), var("T2", X_SCALE_24), var("T1", x)],
        }
    }
    const V10: [TypeVar; 3] = at(10);
    const V19: [TypeVar; 3] = at(19);
    const V21: [TypeVar; 3] = at(21);
    const V23: [TypeVar; 3] = at(23);
    const V24: [TypeVar; 3] = at(24);
    const V25: [TypeVar; 3] = at(25);
    match opset {
        ..19 => &V10,
        19..21 => &V19,
        21..23 => &V21,
        23 => &V23,
        24 => &V24,
        _ => &V25,
    }
}

/// QuantizeLinear-`V` ([`quantize_linear`]): one rounding, which the oracle
/// makes too. Integer outputs are exact (every integer output is); fp8
/// outputs get the dtype's allclose.
const fn quantize_def<const V: i64>() -> OpDef {
    fn oracle<const V: i64>(c: &Call) -> Result<Vec<Output>> {
        Ok(vec![quantize_linear(c, V)?])
    }
    fn shape<const V: i64>(
        a: &Attributes,
        s: &[Option<TypedShape>],
        v: &mut dyn FnMut(usize) -> Vec<f64>,
    ) -> std::result::Result<Vec<TypedShape>, String> {
        quantize_shape(a, s, v, V)
    }
    let attrs = match V {
        ..13 => 0,
        13..19 => 1,
        19..21 => 2,
        21..23 => 4,
        _ => 5,
    };
    OpDef {
        spec: OpSpec {
            name: "QuantizeLinear",
            domain: "",
            opset: V,
            arity: fixed(2, 1),
            input_names: Q_NAMES,
            input_types: quantize_types(V),
            outputs: 1,
            attributes: Q_ATTRS.split_at(attrs).0,
        },
        oracle: oracle::<V>,
        shape: shape::<V>,
        cost: per_input_element::<2>,
        check: CheckPolicy::Allclose,
        terms: no_sum,
    }
}

/// DequantizeLinear-`V` ([`dequantize_linear`]): `(x - zero_point) * scale`
/// is exact in f64; torch's allclose on the float output.
const fn dequantize_def<const V: i64>() -> OpDef {
    fn oracle<const V: i64>(c: &Call) -> Result<Vec<Output>> {
        Ok(vec![dequantize_linear(c, V)?])
    }
    fn shape<const V: i64>(
        a: &Attributes,
        s: &[Option<TypedShape>],
        v: &mut dyn FnMut(usize) -> Vec<f64>,
    ) -> std::result::Result<Vec<TypedShape>, String> {
        dequantize_shape(a, s, v, V)
    }
    let attrs = match V {
        ..13 => 0,
        13..21 => 1,
        21..23 => 2,
        _ => 3,
    };
    OpDef {
        spec: OpSpec {
            name: "DequantizeLinear",
            domain: "",
            opset: V,
            arity: fixed(2, 1),
            input_names: DQ_NAMES,
            input_types: dequantize_types(V),
            outputs: 1,
            attributes: DQ_ATTRS.split_at(attrs).0,
        },
        oracle: oracle::<V>,
        shape: shape::<V>,
        cost: per_input_element::<2>,
        check: CheckPolicy::Allclose,
        terms: no_sum,
    }
}

/// QuantizeLinear-25: int2 and uint2.
pub(super) const QUANTIZE_LINEAR: OpDef = quantize_def::<25>();
/// QuantizeLinear-24: FLOAT8E8M0 scales.
pub(super) const QUANTIZE_LINEAR_24: OpDef = quantize_def::<24>();
/// QuantizeLinear-23: FLOAT4E2M1, y_scale's own type, `precision`.
pub(super) const QUANTIZE_LINEAR_23: OpDef = quantize_def::<23>();
/// QuantizeLinear-21: blocked, 16- and 4-bit integers, `output_dtype`.
pub(super) const QUANTIZE_LINEAR_21: OpDef = quantize_def::<21>();
/// QuantizeLinear-19: fp8 and `saturate`; f16/bf16 x.
pub(super) const QUANTIZE_LINEAR_19: OpDef = quantize_def::<19>();
/// QuantizeLinear-13: `axis` (per-axis scales).
pub(super) const QUANTIZE_LINEAR_13: OpDef = quantize_def::<13>();
/// QuantizeLinear-10: per tensor only, int8/uint8, f32 scale.
pub(super) const QUANTIZE_LINEAR_10: OpDef = quantize_def::<10>();

/// DequantizeLinear-25: int2 and uint2.
pub(super) const DEQUANTIZE_LINEAR: OpDef = dequantize_def::<25>();
/// DequantizeLinear-24: FLOAT8E8M0 scales.
pub(super) const DEQUANTIZE_LINEAR_24: OpDef = dequantize_def::<24>();
/// DequantizeLinear-23: FLOAT4E2M1 and `output_dtype`.
pub(super) const DEQUANTIZE_LINEAR_23: OpDef = dequantize_def::<23>();
/// DequantizeLinear-21: blocked, 16- and 4-bit integers.
pub(super) const DEQUANTIZE_LINEAR_21: OpDef = dequantize_def::<21>();
/// DequantizeLinear-19: fp8; f16/bf16 scales.
pub(super) const DEQUANTIZE_LINEAR_19: OpDef = dequantize_def::<19>();
/// DequantizeLinear-13: `axis`.
pub(super) const DEQUANTIZE_LINEAR_13: OpDef = dequantize_def::<13>();
/// DequantizeLinear-10: per tensor only.
pub(super) const DEQUANTIZE_LINEAR_10: OpDef = dequantize_def::<10>();

/// QuantizeLinear's output: x's shape; the zero point's dtype, else
/// output_dtype, else uint8.
fn quantize_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
    opset: i64,
) -> std::result::Result<Vec<TypedShape>, String> {
    let plan = Quantize::resolve(attrs, inputs, values, opset)?;
    Ok(vec![(plan.out, rules::input(inputs, 0)?.1.clone())])
}

/// DequantizeLinear's output: x's shape; output_dtype, else the scale's
/// dtype.
fn dequantize_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
    opset: i64,
) -> std::result::Result<Vec<TypedShape>, String> {
    let plan = Dequantize::resolve(attrs, inputs, values, opset)?;
    Ok(vec![(plan.out, rules::input(inputs, 0)?.1.clone())])
}
use crate::numerics::{DType, from_f64_bits, from_f64_bits_saturating, round_to, to_f64_bits};

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
        DType::I2 => (-2.0, 1.0),
        DType::U2 => (0.0, 3.0),
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
    /// The dtype `x / y_scale` is rounded to before the final rounding
    /// (23+: `precision`, else y_scale's float type); `None`: the exact
    /// quotient (before 23, which leaves it unspecified; module docs).
    precision: Option<DType>,
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
        opset: i64,
    ) -> std::result::Result<Self, String> {
        let (x_dtype, x) = rules::input(inputs, 0)?;
        let (scale_dtype, scale) = rules::input(inputs, 1)?;
        let zp = inputs.get(2).and_then(Option::as_ref).map(|(d, _)| *d);
        let out = quantized_dtype(attrs, zp, opset)?;
        let saturate = rules::flag(attrs, "saturate", true)?;
        let granularity = Granularity::of(attrs, "y_scale", scale, x)?;
        per_tensor_before_13(granularity, "y_scale", opset)?;
        // An int32 x is divided exactly, as before 23: its quotients may
        // lie closer to a tie than a float division resolves, and rounding
        // them to a float precision first is a double rounding that xpucert
        // does not model (a documented limitation).
        let precision = match division_precision(attrs, *scale_dtype)? {
            Some(p) if opset >= 23 && *x_dtype != DType::I32 => Some(p),
            _ => None,
        };
        check_scale_values(values, scale, "y_scale", *scale_dtype)?;
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
            precision,
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
        opset: i64,
    ) -> std::result::Result<Self, String> {
        let (x_dtype, x) = rules::input(inputs, 0)?;
        let (scale_dtype, scale) = rules::input(inputs, 1)?;
        let granularity = Granularity::of(attrs, "x_scale", scale, x)?;
        per_tensor_before_13(granularity, "x_scale", opset)?;
        let zero_only = is_fp8(*x_dtype) || *x_dtype == DType::I32;
        check_zero_point(inputs, values, ["x_scale", "x_zero_point"], zero_only)?;
        check_scale_values(values, scale, "x_scale", *scale_dtype)?;
        // 23+: output_dtype (float, float16 or bfloat16), else the scale's
        // type, which an E8M0 scale (24) cannot be.
        let code = attrs.int("output_dtype", 0)?;
        let out = match code {
            0 if FLOAT_SCALES.contains(scale_dtype) => *scale_dtype,
            0 => {
                return Err(format!(
                    "x_scale is {scale_dtype}, which is no output type: output_dtype \
                     (float, float16 or bfloat16) is required"
                ));
            }
            c => i32::try_from(c)
                .ok()
                .and_then(DType::from_code)
                .filter(|d| FLOAT_SCALES.contains(d))
                .ok_or_else(|| {
                    format!("attribute output_dtype = {c} must be 1 (float), 10 (float16) or 16 (bfloat16)")
                })?,
        };
        Ok(Dequantize { out, granularity })
    }
}

/// The scale's values, when known: finite and nonzero for a QuantizeLinear
/// scale (x / 0 has no quantized value), not NaN for an E8M0 one (its 0xFF).
fn check_scale_values(
    values: &mut dyn FnMut(usize) -> Vec<f64>,
    scale: &[usize],
    name: &str,
    dtype: DType,
) -> std::result::Result<(), String> {
    let quantize = name == "y_scale";
    let bad = |v: &f64| v.is_nan() || (quantize && (v.is_infinite() || *v == 0.0));
    if let Some(v) = known(values, 1, scale).and_then(|v| v.into_iter().find(bad)) {
        return Err(if quantize {
            format!("{name} must be finite and nonzero, got {v}")
        } else {
            format!("{name} ({dtype}) holds NaN")
        });
    }
    Ok(())
}

/// Before opset 13 (no `axis`) a scale is per tensor: a scalar.
fn per_tensor_before_13(g: Granularity, name: &str, opset: i64) -> std::result::Result<(), String> {
    if opset < 13 && g != Granularity::PerTensor {
        return Err(format!(
            "{name} must be a scalar at opset {opset} (per-axis scales came in 13)"
        ));
    }
    Ok(())
}

/// QuantizeLinear-23+'s division precision: the `precision` attribute (an
/// ONNX float dtype code; 0 = unset), else y_scale's type when it is a
/// float of xpucert's (f32, f16, bf16); an int32 or E8M0 scale without
/// `precision` divides exactly (an E8M0 scale is a power of two).
fn division_precision(
    attrs: &Attributes,
    scale: DType,
) -> std::result::Result<Option<DType>, String> {
    let code = attrs.int("precision", 0)?;
    if code == 0 {
        return Ok(FLOAT_SCALES.contains(&scale).then_some(scale));
    }
    i32::try_from(code)
        .ok()
        .and_then(DType::from_code)
        .filter(|d| matches!(d, DType::F64 | DType::F32 | DType::F16 | DType::BF16))
        .map(Some)
        .ok_or_else(|| {
            format!(
                "attribute precision = {code} must be a float type (1 float, 10 float16, 16 bfloat16, 11 double)"
            )
        })
}

/// The output dtype of QuantizeLinear: the zero point's dtype, else the
/// `output_dtype` attribute (an ONNX dtype code; 0 = unset), else uint8;
/// one of the quantized types of `opset`.
fn quantized_dtype(
    attrs: &Attributes,
    zp: Option<DType>,
    opset: i64,
) -> std::result::Result<DType, String> {
    let quantized = quantized_at(opset);
    let accepted = || {
        quantized
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
    if quantized.contains(&out) {
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

/// QuantizeLinear (`opset`: 10 to 24): `saturate(round(x / y_scale) + y_zero_point)`
/// for integer targets; `x / y_scale` converted to fp8 (with `saturate`,
/// default 1) for fp8 targets, whose zero point must be 0. What a valid
/// call is: [`Quantize::resolve`].
fn quantize_linear(call: &Call, opset: i64) -> Result<Output> {
    quantize_with(call, exact_quotient, opset)
}

fn quantize_with(call: &Call, quotient: Quotient, opset: i64) -> Result<Output> {
    let plan = Quantize::resolve(
        call.attrs,
        &call.typed_shapes(),
        &mut |i| call.values(i),
        opset,
    )
    .map_err(|m| call.err(m))?;
    // 23+: the quotient rounded once to the division's precision first.
    let quotient = |x: f64, s: f64| match plan.precision {
        Some(p) => round_to(p, quotient(x, s)),
        None => quotient(x, s),
    };
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
                let r = if x.dtype == DType::I32 && scale.dtype == DType::I32 {
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

/// DequantizeLinear (`opset`: 10 to 24): `(x - x_zero_point) * x_scale`, in
/// `output_dtype` (23+), else the scale's dtype (f32, f16 or bf16). x is a
/// quantized type or int32 ([`Dequantize::resolve`]). NaN and infinite fp8 inputs stay NaN
/// and infinite.
fn dequantize_linear(call: &Call, opset: i64) -> Result<Output> {
    let plan = Dequantize::resolve(
        call.attrs,
        &call.typed_shapes(),
        &mut |i| call.values(i),
        opset,
    )
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
        DType::U8 | DType::U16 | DType::U4 => 3.0 + (i % 4) as f64,
        DType::I8 | DType::I16 | DType::I4 => -3.0 + (i % 4) as f64,
        // Every value of the 2-bit types.
        DType::U2 => (i % 4) as f64,
        DType::I2 => -2.0 + (i % 4) as f64,
        _ => 0.0,
    }
}

/// The scale's dtype: the float dtype of the case, or E8M0 (24's MX-style
/// block scales).
fn scale_dtype(p: &Pick, dt: DType) -> DType {
    if p.is("scale", "e8m0scale") {
        DType::F8E8M0
    } else {
        dt
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
                &[
                    "tou8",
                    "toi8",
                    "tou16",
                    "toi16",
                    "tof8e4m3fn",
                    "tof8e5m2",
                    "tof8e4m3fnuz",
                    "tof8e5m2fnuz",
                    "toi4",
                    "tou4",
                    "tof4e2m1",
                    "toi2",
                    "tou2",
                ],
            ),
            Factor::new("scale", &["floatscale", "e8m0scale"]),
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
                // An E8M0 scale (24, MX style) holds the same powers of two.
                GenInput::values(scale_dtype(p, dt), pow2_scales(n))
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
                    "fromf8e4m3fnuz",
                    "fromf8e5m2fnuz",
                    "fromi4",
                    "fromu4",
                    "fromf4e2m1",
                    "fromi2",
                    "fromu2",
                ],
            ),
            Factor::new("scale", &["floatscale", "e8m0scale"]),
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
                DType::I4 => Fill::Int(-8, 7),
                DType::U4 => Fill::Int(0, 15),
                DType::I2 => Fill::Int(-2, 1),
                DType::U2 => Fill::Int(0, 3),
                DType::F4E2M1 => Fill::Uniform(-6.0, 6.0),
                d if d.is_float() => Fill::Normal(8.0),
                _ => Fill::Int(-128, 127),
            };
            let mut inputs = vec![
                GenInput::new(from, x)
                    .fill(fill)
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::values(scale_dtype(p, dt), pow2_scales(n))
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
            if p.is("scale", "e8m0scale") {
                // An E8M0 scale is no output type: output_dtype names it.
                case = case.int("output_dtype", i64::from(dt.code()));
            }
            if let Some(a) = axis {
                case = case.int("axis", a);
            }
            Some(case)
        }),
    })
}

#[cfg(test)]
mod tests;
