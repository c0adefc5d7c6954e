//! Integer-quantized linear algebra: MatMulInteger (10), QLinearMatMul (10,
//! 21), ConvInteger (10), QLinearConv (10) and DynamicQuantizeLinear (11).
//!
//! The products are MatMul's and Conv's own (`linalg::matmul_arrays`,
//! `conv::Lowered`) on the operands with their zero points subtracted: the
//! values are integers of at most 9 bits, so every product and partial sum
//! is an integer far below 2^53 and the f64 result is the exact int32
//! accumulation. ONNX lets the accumulation wrap in int32 ("may overflow if
//! and only if in 32 bits"); the oracle refuses a call whose sum *could*
//! leave the int32 range (its length times 255^2 above `i32::MAX`, i.e. K or
//! `C/group × kernel` above 33025) rather than guess at a wrapped value.
//!
//! # Granularity
//! MatMulInteger's and QLinearMatMul's zero points and scales are per
//! tensor (a scalar or a one-element 1-D tensor), per row of A (`[M]` for a
//! 2-D A, A's shape with the last axis 1 for an N-D one) or per column of
//! B (`[N]`, or B's shape with the second-to-last axis 1). A scale and its
//! zero point have one shape. QLinearMatMul's y is per tensor. ConvInteger
//! and QLinearConv take X's per tensor and W's per tensor or per output
//! channel (`[M]`). Where ONNX's reference broadcasts a `[M]` row zero
//! point numpy-style along K instead (meaningful only when M = K), the
//! oracle follows the specification's text.
//!
//! # Checks
//! * MatMulInteger, ConvInteger: exact (int32 accumulation is exact).
//! * QLinearMatMul, QLinearConv: `CheckPolicy::QuantumNearTies`. The result
//!   is `saturate(round(acc · s_a s_b / s_y) + zp_y)`, ties to even. The
//!   oracle rounds the exact value once. A correct backend computes the
//!   rescale in f32 (the multiplier `s_a s_b / s_y`, the conversion of
//!   acc, the product, the zero point's addition: at most four roundings,
//!   relative error below `4u`, u = 2^-24), so where the exact value lies
//!   within that error of a half-integer it may round the other way. The
//!   oracle marks each element whose exact value `v` is within `δ = 8 u
//!   (|acc · s_a s_b / s_y| + |zp_y|)` of a half-integer (twice the worst
//!   f32 error, for a reciprocal-multiply order too) and allows one quantum
//!   there; every other element is exact. When every scale is a power of
//!   two and `|acc| <= 2^24`, the f32 rescale is itself exact, `δ = 0` and
//!   exact ties must go to even: the suites use power-of-two scales for
//!   that, and realistic scales for the band.
//! * DynamicQuantizeLinear: the same policy for all three outputs. y_scale
//!   `= (max(0, max x) - min(0, min x)) / 255` (ONNX's reference: 1/255 when
//!   the range is 0) is compared with `4u |s|` (an f32 subtraction and
//!   division round twice, `2u`, a multiply by a rounded 1/255 three times);
//!   the zero point `round(-min(0, min x) / s)` (saturated to [0, 255]) and
//!   `y = saturate(round(x / s) + zp)` are computed by a backend from its
//!   rounded scale, within `4u` relative of the exact quotients, so the
//!   oracle allows one quantum where a quotient is within `8u` relative of
//!   a half-integer, and one more on every y when the zero point is (y
//!   carries it).
//!
//! fp8 on QLinearMatMul-21's quantized side: ONNX names the types but
//! defines no fp8 arithmetic for the op (its reference rejects them: it
//! clips with `np.iinfo`), so the signatures here admit int8 and uint8 only;
//! -21 differs from -10 by its float16/bfloat16 scales.

use ndarray::{ArrayD, IxDyn};

use super::conv::{self, Lowered};
use super::rules::{self, no_sum};
use super::spec::{TypeVar, fixed};
use super::{
    AttrType, Attributes, Call, OpDef, OpSpec, Output, Result, TypedShape, Value, Work, linalg,
};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;

/// int8 or uint8, as ONNX's quantized T1/T2/T3 of these ops (one variable
/// per name, so A's and B's types are independent).
const fn q8(name: &'static str) -> TypeVar {
    TypeVar {
        name,
        allowed: &[DType::I8, DType::U8],
    }
}

/// The scales of the opset-10 ops: `tensor(float)`.
const SCALE_F32: TypeVar = TypeVar {
    name: "TS",
    allowed: &[DType::F32],
};
/// QLinearMatMul-21's scales: float, float16, bfloat16 (one type for all).
const SCALE_21: TypeVar = TypeVar {
    name: "TS",
    allowed: &[DType::F32, DType::F16, DType::BF16],
};
/// QLinearConv's bias.
const BIAS_I32: TypeVar = TypeVar {
    name: "T4",
    allowed: &[DType::I32],
};

/// The longest int32 accumulation the oracle accepts: `i32::MAX / 255^2`
/// products of 9-bit operands (module docs).
const MAX_TERMS: usize = (i32::MAX as usize) / (255 * 255);

/// The unit roundoff of the f32 rescale a correct backend computes in.
const U32: f64 = 1.0 / (1u64 << 24) as f64;

/// The conv attributes ConvInteger and QLinearConv take.
const CONV_ATTRS: &[(&str, AttrType)] = &[
    ("auto_pad", AttrType::String),
    ("dilations", AttrType::Ints),
    ("group", AttrType::Int),
    ("kernel_shape", AttrType::Ints),
    ("pads", AttrType::Ints),
    ("strides", AttrType::Ints),
];

/// int32 accumulation of 8-bit products: exact.
pub(super) const MATMUL_INTEGER: OpDef = OpDef {
    spec: OpSpec {
        name: "MatMulInteger",
        domain: "",
        opset: 10,
        arity: fixed(2, 2),
        input_names: &["A", "B", "a_zero_point", "b_zero_point"],
        input_types: &[q8("T1"), q8("T2"), q8("T1"), q8("T2")],
        outputs: 1,
        attributes: &[],
    },
    oracle: |c| Ok(vec![matmul_integer(c)?]),
    shape: |_, inputs, values| {
        let out = MatPlan::integer(inputs, values)?;
        Ok(vec![(DType::I32, out)])
    },
    cost: |_, inputs| matmul_work(rules::shape_of(inputs, 0), rules::shape_of(inputs, 1)),
    check: CheckPolicy::Exact,
    terms: no_sum,
};

/// QLinearMatMul's input types with scales of `scale`.
const fn qlinear_matmul_types(scale: TypeVar) -> [TypeVar; 8] {
    [
        q8("T1"),
        scale,
        q8("T1"),
        q8("T2"),
        scale,
        q8("T2"),
        scale,
        q8("T3"),
    ]
}
const QLINEAR_MATMUL_10_TYPES: [TypeVar; 8] = qlinear_matmul_types(SCALE_F32);
const QLINEAR_MATMUL_21_TYPES: [TypeVar; 8] = qlinear_matmul_types(SCALE_21);

/// The spec of QLinearMatMul at `opset` with input types `types`.
const fn qlinear_matmul_spec(opset: i64, types: &'static [TypeVar]) -> OpSpec {
    OpSpec {
        name: "QLinearMatMul",
        domain: "",
        opset,
        arity: fixed(8, 0),
        input_names: &[
            "a",
            "a_scale",
            "a_zero_point",
            "b",
            "b_scale",
            "b_zero_point",
            "y_scale",
            "y_zero_point",
        ],
        input_types: types,
        outputs: 1,
        attributes: &[],
    }
}

/// Requantized: exact but one quantum at near-ties (module docs).
pub(super) const QLINEAR_MATMUL_10: OpDef = OpDef {
    spec: qlinear_matmul_spec(10, &QLINEAR_MATMUL_10_TYPES),
    oracle: |c| Ok(vec![qlinear_matmul(c)?]),
    shape: |_, inputs, values| {
        let out = MatPlan::qlinear(inputs, values)?;
        Ok(vec![(rules::input(inputs, 7)?.0, out)])
    },
    cost: |_, inputs| matmul_work(rules::shape_of(inputs, 0), rules::shape_of(inputs, 3)),
    check: CheckPolicy::QuantumNearTies,
    terms: no_sum,
};

/// QLinearMatMul-21: as 10, with float16 and bfloat16 scales too.
pub(super) const QLINEAR_MATMUL: OpDef = OpDef {
    spec: qlinear_matmul_spec(21, &QLINEAR_MATMUL_21_TYPES),
    ..QLINEAR_MATMUL_10
};

/// int32 accumulation of 8-bit products: exact.
pub(super) const CONV_INTEGER: OpDef = OpDef {
    spec: OpSpec {
        name: "ConvInteger",
        domain: "",
        opset: 10,
        arity: fixed(2, 2),
        input_names: &["x", "w", "x_zero_point", "w_zero_point"],
        input_types: &[q8("T1"), q8("T2"), q8("T1"), q8("T2")],
        outputs: 1,
        attributes: CONV_ATTRS,
    },
    oracle: |c| Ok(vec![conv_integer(c)?]),
    shape: |attrs, inputs, values| {
        let out = ConvPlan::resolve(attrs, inputs, values, false)?.output;
        Ok(vec![(DType::I32, out)])
    },
    cost: |attrs, inputs| conv_work(attrs, inputs, false),
    check: CheckPolicy::Exact,
    terms: no_sum,
};

/// Requantized: exact but one quantum at near-ties (module docs).
pub(super) const QLINEAR_CONV: OpDef = OpDef {
    spec: OpSpec {
        name: "QLinearConv",
        domain: "",
        opset: 10,
        arity: fixed(8, 1),
        input_names: &[
            "x",
            "x_scale",
            "x_zero_point",
            "w",
            "w_scale",
            "w_zero_point",
            "y_scale",
            "y_zero_point",
            "B",
        ],
        input_types: &[
            q8("T1"),
            SCALE_F32,
            q8("T1"),
            q8("T2"),
            SCALE_F32,
            q8("T2"),
            SCALE_F32,
            q8("T3"),
            BIAS_I32,
        ],
        outputs: 1,
        attributes: CONV_ATTRS,
    },
    oracle: |c| Ok(vec![qlinear_conv(c)?]),
    shape: |attrs, inputs, values| {
        let out = ConvPlan::resolve(attrs, inputs, values, true)?.output;
        Ok(vec![(rules::input(inputs, 7)?.0, out)])
    },
    cost: |attrs, inputs| conv_work(attrs, inputs, true),
    check: CheckPolicy::QuantumNearTies,
    terms: no_sum,
};

/// Three requantized outputs: one quantum at near-ties, the scale within
/// `4u` (module docs).
pub(super) const DYNAMIC_QUANTIZE_LINEAR: OpDef = OpDef {
    spec: OpSpec {
        name: "DynamicQuantizeLinear",
        domain: "",
        opset: 11,
        arity: fixed(1, 0),
        input_names: &["x"],
        input_types: &[TypeVar {
            name: "T1",
            allowed: &[DType::F32],
        }],
        outputs: 3,
        attributes: &[],
    },
    oracle: dynamic_quantize_linear,
    shape: |_, inputs, values| {
        let x = dynamic_input(inputs, values)?;
        Ok(vec![
            (DType::U8, x.to_vec()),
            (DType::F32, vec![]),
            (DType::U8, vec![]),
        ])
    },
    cost: rules::per_input_element::<4>,
    check: CheckPolicy::QuantumNearTies,
    terms: no_sum,
};

// -------------------------------------------------------------- validation

/// Which axis of its operand a per-axis scale or zero point follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// A's rows (the second-to-last axis).
    Rows,
    /// B's columns (the last axis).
    Cols,
}

/// Whether a parameter shape is per tensor: a scalar or one element in 1-D.
fn per_tensor(p: &[usize]) -> bool {
    p.is_empty() || p == [1]
}

/// The shape a parameter (named `name`) of shape `p` takes to broadcast onto
/// its operand of shape `x` (module docs: per tensor, per row of A, per
/// column of B), or why it does not fit.
fn param_layout(
    name: &str,
    side: Side,
    p: &[usize],
    x: &[usize],
) -> std::result::Result<Vec<usize>, String> {
    if per_tensor(p) {
        return Ok(vec![]);
    }
    let r = x.len();
    let (axis, what) = match side {
        Side::Rows => (r.wrapping_sub(2), "per row"),
        Side::Cols => (r.wrapping_sub(1), "per column"),
    };
    if r >= 2 {
        let mut nd = x.to_vec();
        let other = match side {
            Side::Rows => r - 1,
            Side::Cols => r - 2,
        };
        nd[other] = 1;
        if r == 2 && p == [x[axis]] {
            let mut b = vec![1, 1];
            b[axis] = x[axis];
            return Ok(b);
        }
        if p == nd.as_slice() {
            return Ok(nd);
        }
        return Err(format!(
            "{name} must be per tensor (a scalar or [1]) or {what} ({}{nd:?}) for an operand of shape {x:?}, got {p:?}",
            if r == 2 {
                format!("[{}] or ", x[axis])
            } else {
                String::new()
            }
        ));
    }
    Err(format!(
        "{name} must be per tensor (a scalar or [1]) for an operand of shape {x:?}, got {p:?}"
    ))
}

/// Checks a scale and its zero point: the same shape (a scalar and `[1]`
/// count as one), and a layout on the operand.
fn scale_and_zero_point(
    names: [&str; 2],
    side: Option<Side>,
    scale: &[usize],
    zp: &[usize],
    x: &[usize],
) -> std::result::Result<(), String> {
    let [s, z] = names;
    if scale != zp && !(per_tensor(scale) && per_tensor(zp)) {
        return Err(format!(
            "{z} must have the shape of {s} {scale:?}, got {zp:?}"
        ));
    }
    match side {
        Some(side) => param_layout(s, side, scale, x).map(|_| ()),
        None if per_tensor(scale) => Ok(()),
        None => Err(format!(
            "{s} must be per tensor (a scalar or [1]), got shape {scale:?}"
        )),
    }
}

/// Input `i`'s values when the reader knows them (a suite's generated
/// tensors are known only once generated: the reader then gives nothing).
fn known(values: &mut dyn FnMut(usize) -> Vec<f64>, i: usize, shape: &[usize]) -> Option<Vec<f64>> {
    let v = values(i);
    (v.len() == shape.iter().product::<usize>()).then_some(v)
}

/// Refuses scales a rescale cannot use: NaN, infinite, zero or negative
/// (ONNX's scales are positive; a zero y_scale divides by zero).
fn check_scales(
    values: &mut dyn FnMut(usize) -> Vec<f64>,
    inputs: &[Option<TypedShape>],
    scales: &[(usize, &str)],
) -> std::result::Result<(), String> {
    for &(i, name) in scales {
        let (_, shape) = rules::input(inputs, i)?;
        if let Some(v) = known(values, i, shape)
            .and_then(|v| v.into_iter().find(|v| !(v.is_finite() && *v > 0.0)))
        {
            return Err(format!("{name} must be positive and finite, got {v}"));
        }
    }
    Ok(())
}

/// Refuses an accumulation of `terms` products that could leave int32.
fn check_terms(terms: usize, what: &str) -> std::result::Result<(), String> {
    if terms > MAX_TERMS {
        Err(format!(
            "{what} sums {terms} products of up to 255^2, which could overflow the int32 accumulator \
             (ONNX leaves the wrapped result to the implementation); at most {MAX_TERMS} are accepted"
        ))
    } else {
        Ok(())
    }
}

/// The shared check of MatMulInteger and QLinearMatMul.
struct MatPlan;

impl MatPlan {
    /// MatMulInteger: A and B multiply (numpy matmul), the zero points fit
    /// (module docs), K is short enough for int32. Returns Y's shape.
    fn integer(
        inputs: &[Option<TypedShape>],
        values: &mut dyn FnMut(usize) -> Vec<f64>,
    ) -> std::result::Result<Vec<usize>, String> {
        let (_, a) = rules::input(inputs, 0)?;
        let (_, b) = rules::input(inputs, 1)?;
        let out = Self::product(inputs, 0, 1, values)?;
        for (i, name, side, x) in [
            (2, "a_zero_point", Side::Rows, a),
            (3, "b_zero_point", Side::Cols, b),
        ] {
            if let Some((_, p)) = inputs.get(i).and_then(Option::as_ref) {
                param_layout(name, side, p, x)?;
            }
        }
        Ok(out)
    }

    /// QLinearMatMul: as MatMulInteger, plus scales beside every zero point
    /// and y per tensor.
    fn qlinear(
        inputs: &[Option<TypedShape>],
        values: &mut dyn FnMut(usize) -> Vec<f64>,
    ) -> std::result::Result<Vec<usize>, String> {
        let (_, a) = rules::input(inputs, 0)?;
        let (_, b) = rules::input(inputs, 3)?;
        let out = Self::product(inputs, 0, 3, values)?;
        let shape = |i| rules::input(inputs, i).map(|t| t.1.as_slice());
        scale_and_zero_point(
            ["a_scale", "a_zero_point"],
            Some(Side::Rows),
            shape(1)?,
            shape(2)?,
            a,
        )?;
        scale_and_zero_point(
            ["b_scale", "b_zero_point"],
            Some(Side::Cols),
            shape(4)?,
            shape(5)?,
            b,
        )?;
        scale_and_zero_point(
            ["y_scale", "y_zero_point"],
            None,
            shape(6)?,
            shape(7)?,
            &out,
        )?;
        check_scales(
            values,
            inputs,
            &[(1, "a_scale"), (4, "b_scale"), (6, "y_scale")],
        )?;
        Ok(out)
    }

    /// The product's shape (MatMul's rule on inputs `ia` and `ib`) and the
    /// int32 guard on K.
    fn product(
        inputs: &[Option<TypedShape>],
        ia: usize,
        ib: usize,
        values: &mut dyn FnMut(usize) -> Vec<f64>,
    ) -> std::result::Result<Vec<usize>, String> {
        let a = rules::input(inputs, ia)?.clone();
        let b = rules::input(inputs, ib)?.clone();
        let k = a.1.last().copied().unwrap_or(0);
        let out = linalg::matmul_shape(&Attributes::new(), &[Some(a), Some(b)], values)?;
        check_terms(k, "the product")?;
        Ok(out.into_iter().next().map(|t| t.1).unwrap_or_default())
    }
}

/// `2·m·n·k` per batch, as MatMul.
fn matmul_work(a: &[usize], b: &[usize]) -> Work {
    let (m, k, n, batch_a, batch_b) = linalg::matmul_dims(a, b);
    let batch = rules::broadcast_numel(&[Some(batch_a), Some(batch_b)]);
    let macs = batch * (m * n * k) as f64;
    Work {
        flops: Some(2.0 * macs),
        multiply_adds: macs,
        scratch: 0.0,
    }
}

/// A checked ConvInteger or QLinearConv call: the output shape.
struct ConvPlan {
    output: Vec<usize>,
}

impl ConvPlan {
    /// Conv's geometry on x (input 0) and w (input 1 or 3), the zero points
    /// and scales (x's and y's per tensor, w's per tensor or per output
    /// channel), QLinearConv's B `[M]`, the int32 guard.
    fn resolve(
        attrs: &Attributes,
        inputs: &[Option<TypedShape>],
        values: &mut dyn FnMut(usize) -> Vec<f64>,
        qlinear: bool,
    ) -> std::result::Result<Self, String> {
        let (_, x) = rules::input(inputs, 0)?;
        let wi = if qlinear { 3 } else { 1 };
        let (_, w) = rules::input(inputs, wi)?;
        let b = if qlinear {
            inputs
                .get(8)
                .and_then(Option::as_ref)
                .map(|t| t.1.as_slice())
        } else {
            None
        };
        let g = conv::conv_geometry(attrs, x, w, b)?;
        check_terms(
            rules::numel(&w[1..]) as usize,
            "each output of the convolution",
        )?;
        let maps = g.maps;
        let per_channel = |name: &str, p: &[usize]| -> std::result::Result<(), String> {
            if per_tensor(p) || p == [maps] {
                Ok(())
            } else {
                Err(format!(
                    "{name} must be per tensor (a scalar or [1]) or per output channel [{maps}], got {p:?}"
                ))
            }
        };
        let opt = |i: usize| {
            inputs
                .get(i)
                .and_then(Option::as_ref)
                .map(|t| t.1.as_slice())
        };
        if qlinear {
            let shape = |i| rules::input(inputs, i).map(|t| t.1.as_slice());
            scale_and_zero_point(["x_scale", "x_zero_point"], None, shape(1)?, shape(2)?, x)?;
            let (ws, wz) = (shape(4)?, shape(5)?);
            if ws != wz && !(per_tensor(ws) && per_tensor(wz)) {
                return Err(format!(
                    "w_zero_point must have the shape of w_scale {ws:?}, got {wz:?}"
                ));
            }
            per_channel("w_scale", ws)?;
            scale_and_zero_point(["y_scale", "y_zero_point"], None, shape(6)?, shape(7)?, x)?;
            check_scales(
                values,
                inputs,
                &[(1, "x_scale"), (4, "w_scale"), (6, "y_scale")],
            )?;
        } else {
            if let Some(p) = opt(2)
                && !per_tensor(p)
            {
                return Err(format!(
                    "x_zero_point must be per tensor (a scalar or [1]), got shape {p:?}"
                ));
            }
            if let Some(p) = opt(3) {
                per_channel("w_zero_point", p)?;
            }
        }
        let mut output = vec![g.batch, g.maps];
        output.extend(&g.window.output);
        Ok(ConvPlan { output })
    }
}

/// `2 · N · M · out · C/group · kernel`, as Conv.
fn conv_work(attrs: &Attributes, inputs: &[Option<&[usize]>], qlinear: bool) -> Work {
    let x = rules::shape_of(inputs, 0);
    let w = rules::shape_of(inputs, if qlinear { 3 } else { 1 });
    let Ok(g) = conv::conv_geometry(attrs, x, w, None) else {
        return Work {
            flops: Some(0.0),
            multiply_adds: 0.0,
            scratch: 0.0,
        };
    };
    let macs = (g.batch * g.maps * g.window.out_size()) as f64 * rules::numel(&w[1..]);
    Work {
        flops: Some(2.0 * macs),
        multiply_adds: macs,
        // The im2col matrix of one (batch, group) and its absolute value.
        scratch: 2.0 * rules::numel(&w[1..]) * g.window.out_size() as f64,
    }
}

// ------------------------------------------------------------------ oracles

/// `x - zp`, the zero point (optional) laid out by `layout` and broadcast.
fn shifted(call: &Call, x: &Value, zp: Option<&Value>, layout: &[usize]) -> Result<ArrayD<f64>> {
    let Some(zp) = zp else {
        return Ok(x.data.clone());
    };
    let p = expand(call, zp, layout, x.shape())?;
    Ok(&x.data - &p)
}

/// A scale or zero point laid out as `layout` (from [`param_layout`]) and
/// broadcast to `shape`.
fn expand(call: &Call, p: &Value, layout: &[usize], shape: &[usize]) -> Result<ArrayD<f64>> {
    let v = p
        .data
        .to_shape(IxDyn(layout))
        .map_err(|e| call.err(format!("{e}")))?;
    v.broadcast(IxDyn(shape))
        .map(|b| b.to_owned())
        .ok_or_else(|| call.err(format!("cannot lay {:?} onto {shape:?}", p.shape())))
}

/// MatMulInteger (10): `(A - a_zero_point) · (B - b_zero_point)` in int32,
/// numpy matmul shapes, zero points per tensor, per row of A, per column
/// of B. Checked by [`MatPlan::integer`].
fn matmul_integer(call: &Call) -> Result<Output> {
    MatPlan::integer(&call.typed_shapes(), &mut |i| call.values(i)).map_err(|m| call.err(m))?;
    let (a, b) = (call.input(0)?, call.input(1)?);
    let la = layout_of(call, 2, Side::Rows, a)?;
    let lb = layout_of(call, 3, Side::Cols, b)?;
    let a2 = shifted(call, a, call.opt(2), &la)?;
    let b2 = shifted(call, b, call.opt(3), &lb)?;
    let (acc, _) = linalg::matmul_arrays(call, &a2, &b2)?;
    Ok(Output::plain(DType::I32, acc))
}

/// The layout of parameter input `i` (absent: per tensor) on `x`.
fn layout_of(call: &Call, i: usize, side: Side, x: &Value) -> Result<Vec<usize>> {
    match call.opt(i) {
        None => Ok(vec![]),
        Some(p) => {
            param_layout(&call.input_name(i), side, p.shape(), x.shape()).map_err(|m| call.err(m))
        }
    }
}

/// Whether `s` is a power of two (then an f32 rescale by it is exact).
fn power_of_two(s: f64) -> bool {
    s > 0.0 && s.is_finite() && s.to_bits() & ((1u64 << 52) - 1) == 0
}

/// The requantization of exact values `v` (before rounding, zero point
/// included) into `out`: `saturate(round_half_even(v))`, and the quanta a
/// correct f32 rescale may be off by (module docs): 1 where `v` is within
/// `δ = 8u (|v - zp| + |zp|)` of a half-integer, unless the rescale is
/// `exact` for that element (power-of-two scales, `|acc| <= 2^24`).
fn requantize(
    out: DType,
    v: &ArrayD<f64>,
    zp: f64,
    exact: &dyn Fn(usize) -> bool,
) -> (ArrayD<f64>, ArrayD<f64>) {
    let (lo, hi) = if out == DType::I8 {
        (-128.0, 127.0)
    } else {
        (0.0, 255.0)
    };
    let mut y = v.clone();
    let mut allow = ArrayD::zeros(v.raw_dim());
    for (k, ((y, a), &v)) in y.iter_mut().zip(allow.iter_mut()).zip(v.iter()).enumerate() {
        *y = v.round_ties_even().clamp(lo, hi);
        let delta = if exact(k) {
            0.0
        } else {
            8.0 * U32 * ((v - zp).abs() + zp.abs())
        };
        if near_tie(v, delta) {
            *a = 1.0;
        }
    }
    (y, allow)
}

/// Whether `v` lies strictly within `delta` of a half-integer (`delta = 0`:
/// never, so exact ties are judged exactly).
fn near_tie(v: f64, delta: f64) -> bool {
    (v - (v.floor() + 0.5)).abs() < delta
}

/// An integer output with its quanta allowance as the io magnitude (and a
/// zero sum magnitude: `c = 0` uses none, and it keeps the `bound` rule
/// where a missing magnitude would fall back to another one).
fn requantized(out: DType, y: ArrayD<f64>, allow: ArrayD<f64>) -> Output {
    Output {
        magnitude: Some(ArrayD::zeros(y.raw_dim())),
        value: Value::new(out, y),
        io_magnitude: Some(allow),
        product_magnitude: None,
    }
}

/// QLinearMatMul (10, 21): `saturate(round(acc · a_scale · b_scale /
/// y_scale) + y_zero_point)` with `acc = (a - a_zero_point) · (b -
/// b_zero_point)` (numpy matmul, int32), rounding half to even, y of
/// y_zero_point's type. Checked by [`MatPlan::qlinear`].
fn qlinear_matmul(call: &Call) -> Result<Output> {
    MatPlan::qlinear(&call.typed_shapes(), &mut |i| call.values(i)).map_err(|m| call.err(m))?;
    let (a, b) = (call.input(0)?, call.input(3)?);
    let (sa, sb, sy) = (call.input(1)?, call.input(4)?, call.input(6)?);
    let zy = call.input(7)?;
    let la = layout_of(call, 1, Side::Rows, a)?;
    let lb = layout_of(call, 4, Side::Cols, b)?;
    let a2 = shifted(call, a, call.opt(2), &la)?;
    let b2 = shifted(call, b, call.opt(5), &lb)?;
    let (acc, _) = linalg::matmul_arrays(call, &a2, &b2)?;
    // sa and sb are constant along K, so folding them into the operands
    // gives sa_i sb_j acc_ij (exactly so for power-of-two scales).
    let a3 = &a2 * &expand(call, sa, &la, a.shape())?;
    let b3 = &b2 * &expand(call, sb, &lb, b.shape())?;
    let (scaled, _) = linalg::matmul_arrays(call, &a3, &b3)?;
    let (sy, zy_v) = (first(sy), first(zy));
    let v = scaled.mapv(|r| r / sy + zy_v);
    let pow2 = [sa, sb]
        .iter()
        .all(|s| s.data.iter().all(|&x| power_of_two(x)))
        && power_of_two(sy);
    let accs: Vec<f64> = acc.iter().copied().collect();
    let exact = |k: usize| pow2 && accs[k].abs() <= (1u64 << 24) as f64;
    let (y, allow) = requantize(zy.dtype, &v, zy_v, &exact);
    Ok(requantized(zy.dtype, y, allow))
}

/// A per-tensor parameter's value.
fn first(v: &Value) -> f64 {
    v.data.iter().next().copied().unwrap_or(0.0)
}

/// The int32 convolution of `x - x_zero_point` and `w - w_zero_point`
/// (`w` at input `wi`, zero points at `xz` and `wz`), padding 0 after the
/// shift (the zero point before it), with its call geometry.
fn integer_conv(call: &Call, wi: usize, xz: usize, wz: usize) -> Result<(ArrayD<f64>, usize)> {
    let (x, w) = (call.input(0)?, call.input(wi)?);
    let b = if wi == 3 { call.opt(8) } else { None };
    let g = conv::conv_geometry(call.attrs, x.shape(), w.shape(), b.map(Value::shape))
        .map_err(|m| call.err(m))?;
    let xs = Value::new(x.dtype, shifted(call, x, call.opt(xz), &[])?);
    let cg = g.channels / g.group;
    let win = &g.window;
    let mut ws = w
        .data
        .to_shape((g.maps, cg * win.taps()))
        .map_err(|e| call.err(format!("w: {e}")))?
        .to_owned();
    if let Some(z) = call.opt(wz) {
        let zs: Vec<f64> = z.data.iter().copied().collect();
        for (m, mut row) in ws.rows_mut().into_iter().enumerate() {
            let zm = if zs.len() == 1 { zs[0] } else { zs[m] };
            row.mapv_inplace(|v| v - zm);
        }
    }
    let lowered = Lowered {
        batch: g.batch,
        channels: g.channels,
        group: g.group,
        input: &win.input,
        kernel: &win.kernel,
        output: &win.output,
        table: win.table(false),
    };
    let out = lowered.run(call, &xs, ws.view(), b)?;
    Ok((out.value.data, g.maps))
}

/// ConvInteger (10): Conv (all its attributes) of `x - x_zero_point` and
/// `w - w_zero_point` in int32; the padding reads as the zero point (0
/// after the shift, as ONNX's reference and onnxruntime compute it).
/// Checked by [`ConvPlan::resolve`].
fn conv_integer(call: &Call) -> Result<Output> {
    ConvPlan::resolve(
        call.attrs,
        &call.typed_shapes(),
        &mut |i| call.values(i),
        false,
    )
    .map_err(|m| call.err(m))?;
    let (acc, _) = integer_conv(call, 1, 2, 3)?;
    Ok(Output::plain(DType::I32, acc))
}

/// QLinearConv (10): `saturate(round((acc + B) · x_scale · w_scale[m] /
/// y_scale) + y_zero_point)`, acc ConvInteger's, B (int32, optional)
/// quantized with scale `x_scale · w_scale` and zero point 0, w's scale
/// and zero point per tensor or per output channel m.
fn qlinear_conv(call: &Call) -> Result<Output> {
    ConvPlan::resolve(
        call.attrs,
        &call.typed_shapes(),
        &mut |i| call.values(i),
        true,
    )
    .map_err(|m| call.err(m))?;
    let (acc, maps) = integer_conv(call, 3, 2, 5)?;
    let (sx, sw, sy, zy) = (
        first(call.input(1)?),
        call.input(4)?,
        first(call.input(6)?),
        call.input(7)?,
    );
    let sws: Vec<f64> = sw.data.iter().copied().collect();
    let zy_v = first(zy);
    let plane = acc.len() / (acc.shape()[0] * maps).max(1);
    let accs: Vec<f64> = acc.iter().copied().collect();
    let mut v = acc.clone();
    for (k, y) in v.iter_mut().enumerate() {
        let m = (k / plane.max(1)) % maps;
        let s = if sws.len() == 1 { sws[0] } else { sws[m] };
        *y = *y * sx * s / sy + zy_v;
    }
    let pow2 = power_of_two(sx) && power_of_two(sy) && sws.iter().all(|&s| power_of_two(s));
    let exact = |k: usize| pow2 && accs[k].abs() <= (1u64 << 24) as f64;
    let (y, allow) = requantize(zy.dtype, &v, zy_v, &exact);
    Ok(requantized(zy.dtype, y, allow))
}

/// DynamicQuantizeLinear's x: nonempty, and finite where known (a NaN or
/// infinite x has no range to quantize by).
fn dynamic_input<'a>(
    inputs: &'a [Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<&'a [usize], String> {
    let (_, x) = rules::input(inputs, 0)?;
    if x.contains(&0) {
        return Err(format!(
            "x of shape {x:?} is empty: it has no range to quantize by"
        ));
    }
    if let Some(v) = known(values, 0, x).and_then(|v| v.into_iter().find(|v| !v.is_finite())) {
        return Err(format!(
            "x holds {v}: the range of a non-finite x gives no scale"
        ));
    }
    Ok(x)
}

/// DynamicQuantizeLinear (11): uint8 quantization by x's own range widened
/// to hold 0 (module docs): y_scale `= (max(0, max x) - min(0, min x)) /
/// 255` (1/255 for an all-zero x, as ONNX's reference), y_zero_point `=
/// saturate(round(-min(0, min x) / y_scale))`, `y = saturate(round(x /
/// y_scale) + y_zero_point)`, rounding half to even.
fn dynamic_quantize_linear(call: &Call) -> Result<Vec<Output>> {
    dynamic_input(&call.typed_shapes(), &mut |i| call.values(i)).map_err(|m| call.err(m))?;
    let x = call.input(0)?;
    let hi = x.data.iter().copied().fold(0.0f64, f64::max);
    let lo = x.data.iter().copied().fold(0.0f64, f64::min);
    let range = if hi == lo { 1.0 } else { hi - lo };
    let scale = range / 255.0;
    // x / s as x · 255 / range: x · 255 is exact, so one rounding, and an
    // exact tie stays one.
    let quotient = |x: f64| x * 255.0 / range;
    let zp_real = quotient(-lo);
    // + 0.0: an x without negatives gives -0 / s = -0, a zero point of 0.
    let zp = zp_real.round_ties_even().clamp(0.0, 255.0) + 0.0;
    // A backend's quotients, from its f32 scale, are within 4u relative of
    // the exact ones: 8u is the band (module docs).
    let band = |q: f64| 8.0 * U32 * q.abs();
    let zp_near = f64::from(u8::from(near_tie(zp_real, band(zp_real))));
    let mut y = x.data.clone();
    let mut allow = ArrayD::zeros(x.data.raw_dim());
    for (y, a) in y.iter_mut().zip(allow.iter_mut()) {
        let q = quotient(*y);
        *y = (q.round_ties_even() + zp).clamp(0.0, 255.0);
        *a = zp_near + f64::from(u8::from(near_tie(q, band(q))));
    }
    let scalar = |v: f64| ArrayD::from_elem(IxDyn(&[]), v);
    Ok(vec![
        requantized(DType::U8, y, allow),
        Output {
            value: Value::new(DType::F32, scalar(scale)),
            magnitude: Some(scalar(0.0)),
            // 3u |s| on top of the bound's output rounding u |s|: 4u.
            io_magnitude: Some(scalar(3.0 * scale)),
            product_magnitude: None,
        },
        requantized(DType::U8, scalar(zp), scalar(zp_near)),
    ])
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};

/// The full range of an 8-bit quantized dtype.
fn full_range(dtype: DType) -> Fill {
    if dtype == DType::I8 {
        Fill::Int(-128, 127)
    } else {
        Fill::Int(0, 255)
    }
}

/// `n` zero points of `dtype`, off-centre and varying (so that ignoring or
/// misplacing them shows).
fn zero_points(dtype: DType, n: usize) -> Vec<f64> {
    let base = if dtype == DType::I8 { -5.0 } else { 120.0 };
    (0..n).map(|i| base + (i % 7) as f64 * 3.0).collect()
}

/// The dtype named by a level after its prefix (`bu8` -> u8).
fn level_dtype(level: &str) -> DType {
    DType::from_name(&level[1..]).expect("levels name dtypes after one letter")
}

/// The summed length for a `k` level.
fn k_of(level: &str) -> usize {
    match level {
        "k1" => 1,
        "kprime" => 13,
        _ => 256,
    }
}

/// A parameter of `n` values laid out for an operand: per tensor (a
/// scalar) or per axis in `shape`.
fn param(dtype: DType, values: Vec<f64>, shape: Vec<usize>) -> Option<GenInput> {
    GenInput::values(dtype, values).shaped(shape).some()
}

/// The matmul operand shapes of a `dims` level (m = 5, n = 6, distinct
/// from each other and from K) and the per-axis parameter shapes of A
/// (per row) and B (per column).
#[allow(clippy::type_complexity)]
fn mat_shapes(dims: &str, k: usize) -> (Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>) {
    let (m, n) = (5, 6);
    match dims {
        "d2" => (vec![m, k], vec![k, n], vec![m], vec![n]),
        _ => (vec![2, m, k], vec![2, k, n], vec![2, m, 1], vec![2, 1, n]),
    }
}

/// MatMulInteger: int8 and uint8 on either side, no, per-tensor or
/// per-row/column zero points, 2-D and batched, K of 1, a prime and 256,
/// every layout of A.
pub(super) fn matmul_integer_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(&[DType::U8, DType::I8]),
            Factor::new("b", &["bu8", "bi8"]),
            Factor::new("zp", &["nozp", "pertensor", "peraxis"]),
            Factor::new("dims", &["d2", "d3"]),
            Factor::new("k", &["k1", "kprime", "klarge"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let (ta, tb) = (p.dtype(), level_dtype(p.get("b")));
            let (a, b, pa, pb) = mat_shapes(p.get("dims"), k_of(p.get("k")));
            let mut inputs = vec![
                GenInput::new(ta, a)
                    .fill(full_range(ta))
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::new(tb, b).fill(full_range(tb)).some(),
            ];
            match p.get("zp") {
                "pertensor" => {
                    inputs.push(param(ta, zero_points(ta, 1), vec![]));
                    inputs.push(param(tb, zero_points(tb, 1), vec![]));
                }
                "peraxis" => {
                    inputs.push(param(ta, zero_points(ta, pa.iter().product()), pa));
                    inputs.push(param(tb, zero_points(tb, pb.iter().product()), pb));
                }
                _ => {}
            }
            Some(GenCase::new(inputs))
        }),
    })
}

/// Scales for `n` channels: powers of two (every f32 rescale exact, so
/// ties are judged exactly) or realistic values (the near-tie band).
fn scales(pow2: bool, base: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            if pow2 {
                base.log2().round().exp2() * if i % 2 == 1 { 2.0 } else { 1.0 }
            } else {
                base * (1.0 + 0.037 * (i % 5) as f64)
            }
        })
        .collect()
}

/// A y_scale that keeps `sqrt(k)`-sized sums of 8-bit products mostly
/// inside the 8-bit range (some saturate), a power of two or not.
fn y_scale(pow2: bool, s: f64, k: usize) -> f64 {
    let y = s * 110.0 * (k as f64).sqrt();
    if pow2 {
        y.log2().round().exp2()
    } else {
        y * 1.03
    }
}

/// QLinearMatMul: int8 and uint8 for a, b and y, float, float16 and
/// bfloat16 scales, power-of-two and realistic scales, per-tensor and
/// per-row/column parameters, 2-D and batched, K of 1, a prime and 256.
pub(super) fn qlinear_matmul_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(&[DType::U8, DType::I8]),
            Factor::new("b", &["bu8", "bi8"]),
            Factor::new("y", &["yu8", "yi8"]),
            Factor::new("scale", &["sf32", "sf16", "sbf16"]),
            Factor::new("scales", &["pow2", "real"]),
            Factor::new("granularity", &["pertensor", "peraxis"]),
            Factor::new("dims", &["d2", "d3"]),
            Factor::new("k", &["k1", "kprime", "klarge"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let (ta, tb, ty) = (p.dtype(), level_dtype(p.get("b")), level_dtype(p.get("y")));
            let ts = level_dtype(p.get("scale"));
            let pow2 = p.is("scales", "pow2");
            let k = k_of(p.get("k"));
            let (a, b, pa, pb) = mat_shapes(p.get("dims"), k);
            let (pa, pb) = if p.is("granularity", "peraxis") {
                (pa, pb)
            } else {
                (vec![], vec![])
            };
            let (na, nb) = (pa.iter().product(), pb.iter().product());
            let (sa, sb) = (0.0123, 0.0371);
            Some(GenCase::new(vec![
                GenInput::new(ta, a)
                    .fill(full_range(ta))
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                param(ts, scales(pow2, sa, na), pa.clone()),
                param(ta, zero_points(ta, na), pa),
                GenInput::new(tb, b).fill(full_range(tb)).some(),
                param(ts, scales(pow2, sb, nb), pb.clone()),
                param(tb, zero_points(tb, nb), pb),
                param(ts, vec![y_scale(pow2, sa * sb, k)], vec![]),
                param(ty, zero_points(ty, 1), vec![]),
            ]))
        }),
    })
}

/// The conv shapes of a case: X `[2, C, spatial]`, W `[M, C/group, k...]`.
fn conv_shapes(p: &Pick) -> (Vec<usize>, Vec<usize>, usize, usize) {
    let spatial = conv::spatial_of(p.get("dims"));
    let kernel = conv::kernel_of(p.get("kernel"), spatial.len());
    let group = if p.is("group", "g2") { 2 } else { 1 };
    let (c, m) = (4, 6);
    let mut x = vec![2, c];
    x.extend(&spatial);
    let mut w = vec![m, c / group];
    w.extend(&kernel);
    (x, w, m, group)
}

/// Sets the group, stride and padding of a conv case.
fn conv_attrs(case: GenCase, p: &Pick, group: usize, rank: usize) -> GenCase {
    let mut case = case.int("group", group as i64);
    if p.is("stride", "s2") {
        case = case.ints("strides", vec![2; rank]);
    }
    conv::with_pads(case, p.get("pads"), rank)
}

/// ConvInteger: int8 and uint8 x and w, no, per-tensor or per-channel
/// zero points (padding then reads as x's zero point), 1-D and 2-D, one and
/// two groups, kernels 1 and 3, strides 1 and 2, every padding, every
/// layout of x.
pub(super) fn conv_integer_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(&[DType::U8, DType::I8]),
            Factor::new("w", &["wu8", "wi8"]),
            Factor::new("zp", &["nozp", "pertensor", "perchannel"]),
            Factor::new("dims", &["d1", "d2"]),
            Factor::new("group", &["g1", "g2"]),
            Factor::new("kernel", &["k1", "k3"]),
            Factor::new("stride", &["s1", "s2"]),
            conv::pads_factor(),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let (tx, tw) = (p.dtype(), level_dtype(p.get("w")));
            let (x, w, m, group) = conv_shapes(p);
            let rank = x.len() - 2;
            let mut inputs = vec![
                GenInput::new(tx, x)
                    .fill(full_range(tx))
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                GenInput::new(tw, w).fill(full_range(tw)).some(),
            ];
            match p.get("zp") {
                "pertensor" => {
                    inputs.push(param(tx, zero_points(tx, 1), vec![]));
                    inputs.push(param(tw, zero_points(tw, 1), vec![]));
                }
                "perchannel" => {
                    inputs.push(param(tx, zero_points(tx, 1), vec![]));
                    inputs.push(param(tw, zero_points(tw, m), vec![m]));
                }
                _ => {}
            }
            Some(conv_attrs(GenCase::new(inputs), p, group, rank))
        }),
    })
}

/// QLinearConv: int8 and uint8 x, w and y, power-of-two and realistic
/// scales, w's parameters per tensor or per channel, with and without a
/// bias, 1-D and 2-D, one and two groups, kernels 1 and 3, strides 1 and
/// 2, every padding, every layout of x.
pub(super) fn qlinear_conv_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(&[DType::U8, DType::I8]),
            Factor::new("w", &["wu8", "wi8"]),
            Factor::new("y", &["yu8", "yi8"]),
            Factor::new("scales", &["pow2", "real"]),
            Factor::new("granularity", &["pertensor", "perchannel"]),
            Factor::new("bias", &["bias", "nobias"]),
            Factor::new("dims", &["d1", "d2"]),
            Factor::new("group", &["g1", "g2"]),
            Factor::new("kernel", &["k1", "k3"]),
            Factor::new("stride", &["s1", "s2"]),
            conv::pads_factor(),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let (tx, tw, ty) = (p.dtype(), level_dtype(p.get("w")), level_dtype(p.get("y")));
            let pow2 = p.is("scales", "pow2");
            let (x, w, m, group) = conv_shapes(p);
            let rank = x.len() - 2;
            let terms: usize = w[1..].iter().product();
            let pw = if p.is("granularity", "perchannel") {
                vec![m]
            } else {
                vec![]
            };
            let nw = pw.iter().product();
            let (sx, sw) = (0.0123, 0.0371);
            let mut inputs = vec![
                GenInput::new(tx, x)
                    .fill(full_range(tx))
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
                param(DType::F32, scales(pow2, sx, 1), vec![]),
                param(tx, zero_points(tx, 1), vec![]),
                GenInput::new(tw, w).fill(full_range(tw)).some(),
                param(DType::F32, scales(pow2, sw, nw), pw.clone()),
                param(tw, zero_points(tw, nw), pw),
                param(DType::F32, vec![y_scale(pow2, sx * sw, terms)], vec![]),
                param(ty, zero_points(ty, 1), vec![]),
            ];
            if p.is("bias", "bias") {
                inputs.push(
                    GenInput::new(DType::I32, vec![m])
                        .fill(Fill::Int(-20000, 20000))
                        .some(),
                );
            }
            Some(conv_attrs(GenCase::new(inputs), p, group, rank))
        }),
    })
}

/// DynamicQuantizeLinear: ranges across zero, positive only (zero point
/// 0), negative only (zero point 255) and all zeros (scale 1/255); one, a
/// prime and 4096 elements; every layout.
pub(super) fn dynamic_quantize_linear_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(&[DType::F32]),
            Factor::new("range", &["mixed", "positive", "negative", "zeros"]),
            Factor::new("size", &["n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let n = match p.get("size") {
                "n1" => 1,
                "prime" => 7,
                _ => 1024,
            };
            let shape = vec![4, n];
            let fill = match p.get("range") {
                "mixed" => Fill::Uniform(-3.0, 5.0),
                "positive" => Fill::Uniform(0.5, 4.0),
                "negative" => Fill::Uniform(-4.0, -0.5),
                _ => Fill::Values(vec![0.0; 4 * n]),
            };
            Some(GenCase::new(vec![
                GenInput::new(DType::F32, shape)
                    .fill(fill)
                    .stored(Storage::from_level(p.get("layout")))
                    .some(),
            ]))
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn u8s(shape: &[usize], v: &[f64]) -> Value {
        t(DType::U8, shape, v)
    }

    fn scalar(dtype: DType, v: f64) -> Option<Value> {
        Some(t(dtype, &[], &[v]))
    }

    #[test]
    fn matmul_integer_zero_points_per_row_and_column_by_hand() {
        // A - [1, 2] per row = [[0, 1], [1, 2]]; B - [1, 0] per column =
        // [[0, 2], [2, 4]]; the product is [[2, 4], [4, 10]].
        let a = u8s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let y = run1(
            "MatMulInteger",
            &Attributes::new(),
            &[
                a.clone(),
                a.clone(),
                u8s(&[2], &[1.0, 2.0]),
                u8s(&[2], &[1.0, 0.0]),
            ],
        );
        assert_eq!(y.dtype, DType::I32);
        close(&y.data, &[2.0, 4.0, 4.0, 10.0], 0.0);
        // Per tensor, and N-D per row ([2, 2, 1] on a [2, 2, 2] A).
        let y = run1(
            "MatMulInteger",
            &Attributes::new(),
            &[a.clone(), a.clone(), u8s(&[], &[1.0])],
        );
        // A - 1 = [[0, 1], [2, 3]] times B.
        close(&y.data, &[3.0, 4.0, 11.0, 16.0], 0.0);
        let a3 = u8s(&[2, 2, 2], &[1.0; 8]);
        let y = run1(
            "MatMulInteger",
            &Attributes::new(),
            &[a3, a, u8s(&[2, 2, 1], &[1.0, 0.0, 0.0, 1.0])],
        );
        close(&y.data, &[0.0, 0.0, 4.0, 6.0, 4.0, 6.0, 0.0, 0.0], 0.0);
    }

    #[test]
    fn matmul_integer_errors() {
        let a = Some(u8s(&[2, 3], &[0.0; 6]));
        let b = Some(u8s(&[3, 4], &[0.0; 12]));
        let none = Attributes::new();
        fails(
            "MatMulInteger",
            &none,
            &[a.clone(), b.clone(), Some(u8s(&[3], &[0.0; 3]))],
            "per row",
        );
        fails(
            "MatMulInteger",
            &none,
            &[a.clone(), b.clone(), None, Some(u8s(&[3], &[0.0; 3]))],
            "per column",
        );
        fails(
            "MatMulInteger",
            &none,
            &[
                a,
                Some(t(DType::I8, &[3, 4], &[0.0; 12])),
                None,
                Some(u8s(&[], &[0.0])),
            ],
            "same dtype",
        );
        let k = MAX_TERMS + 1;
        fails(
            "MatMulInteger",
            &none,
            &[
                Some(u8s(&[1, k], &vec![0.0; k])),
                Some(u8s(&[k, 1], &vec![0.0; k])),
            ],
            "could overflow the int32 accumulator",
        );
    }

    fn qlinear_matmul(a: &[f64], sa: f64, out: DType) -> Output {
        let n = a.len();
        let mut o = run_opt(
            "QLinearMatMul",
            &Attributes::new(),
            &[
                Some(u8s(&[n, 1], a)),
                scalar(DType::F32, sa),
                scalar(DType::U8, 0.0),
                Some(u8s(&[1, 1], &[1.0])),
                scalar(DType::F32, 1.0),
                scalar(DType::U8, 0.0),
                scalar(DType::F32, 1.0),
                scalar(out, 0.0),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        o.remove(0)
    }

    #[test]
    fn qlinear_matmul_exact_ties_go_to_even_and_saturate() {
        // acc · 1/2 = 0.5, 1.5, 127.5: 0, 2, 128 -> 127 (int8). The scales
        // are powers of two: the rescale is exact, no quantum is allowed.
        let o = qlinear_matmul(&[1.0, 3.0, 255.0], 0.5, DType::I8);
        assert_eq!(o.value.dtype, DType::I8);
        close(&o.value.data, &[0.0, 2.0, 127.0], 0.0);
        close(o.io_magnitude.as_ref().unwrap(), &[0.0; 3], 0.0);
    }

    #[test]
    fn qlinear_matmul_allows_a_quantum_only_near_a_tie() {
        // 0.1f32 = 0.100000001490116...: 5 · 0.1 lies 7.5e-9 above the tie
        // 0.5, well within 8u · 0.5 = 2.4e-7, so an f32 rescale may give 0;
        // 6 · 0.1 is far from any tie.
        let s = f64::from(0.1f32);
        let o = qlinear_matmul(&[5.0, 6.0], s, DType::U8);
        close(&o.value.data, &[1.0, 1.0], 0.0);
        close(o.io_magnitude.as_ref().unwrap(), &[1.0, 0.0], 0.0);
    }

    #[test]
    fn qlinear_matmul_errors_and_versions() {
        let a = Some(u8s(&[2, 3], &[0.0; 6]));
        let b = Some(u8s(&[3, 4], &[0.0; 12]));
        let f = |v| scalar(DType::F32, v);
        let z = || scalar(DType::U8, 0.0);
        let none = Attributes::new();
        fails(
            "QLinearMatMul",
            &none,
            &[a.clone(), f(1.0), z(), b.clone(), f(1.0), z(), f(0.0), z()],
            "y_scale must be positive",
        );
        fails(
            "QLinearMatMul",
            &none,
            &[
                a.clone(),
                Some(t(DType::F32, &[2], &[1.0, 1.0])),
                z(),
                b.clone(),
                f(1.0),
                z(),
                f(1.0),
                z(),
            ],
            "a_zero_point must have the shape of a_scale",
        );
        // float16 scales from opset 21 on.
        let h = |v| scalar(DType::F16, v);
        let call = [a, h(1.0), z(), b, h(1.0), z(), h(1.0), z()];
        assert!(run_opt("QLinearMatMul", &none, &call).is_ok());
        let e = run_at("QLinearMatMul", 10, &none, &call).unwrap_err();
        assert!(e.to_string().contains("got f16"), "{e}");
    }

    #[test]
    fn conv_integer_padding_reads_the_zero_point() {
        // x - 1 = [0, 1, 2], padded [0, 0, 1, 2, 0]; w = [1, 1].
        let x = u8s(&[1, 1, 3], &[1.0, 2.0, 3.0]);
        let w = u8s(&[1, 1, 2], &[1.0, 1.0]);
        let a = attrs(&[("pads", crate::ops::AttrValue::Ints(vec![1, 1]))]);
        let y = run1("ConvInteger", &a, &[x, w, u8s(&[], &[1.0])]);
        assert_eq!(y.dtype, DType::I32);
        close(&y.data, &[0.0, 1.0, 3.0, 2.0], 0.0);
    }

    #[test]
    fn qlinear_conv_per_channel_with_bias_by_hand() {
        // Channel 0: acc = 1 · [2, 4] + 1 = [3, 5], times 0.5 · 1 =
        // [1.5, 2.5] -> [2, 2] (ties to even). Channel 1: w - 1 = 2, acc =
        // [4, 8], times 0.5 · 0.5 = [1, 2].
        let y = run_opt(
            "QLinearConv",
            &Attributes::new(),
            &[
                Some(u8s(&[1, 1, 2], &[2.0, 4.0])),
                scalar(DType::F32, 0.5),
                scalar(DType::U8, 0.0),
                Some(u8s(&[2, 1, 1], &[1.0, 3.0])),
                Some(t(DType::F32, &[2], &[1.0, 0.5])),
                Some(u8s(&[2], &[0.0, 1.0])),
                scalar(DType::F32, 1.0),
                scalar(DType::U8, 0.0),
                Some(t(DType::I32, &[2], &[1.0, 0.0])),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        close(&y[0].value.data, &[2.0, 2.0, 1.0, 2.0], 0.0);
        close(y[0].io_magnitude.as_ref().unwrap(), &[0.0; 4], 0.0);
    }

    #[test]
    fn dynamic_quantize_linear_onnx_example() {
        // Range [-3, 2]: scale 5/255, zero point 3 / (5/255) = 153. x / s =
        // -127.5 and 25.5 are exact ties (to even: -128, 26), where an f32
        // scale may round either way: one quantum allowed there.
        let x = f(&[6], &[0.0, 2.0, -3.0, -2.5, 1.34, 0.5]);
        let x = Value::new(DType::F32, x.data.mapv(|v| f64::from(v as f32)));
        let o = run("DynamicQuantizeLinear", &Attributes::new(), &[x]).unwrap();
        close(
            &o[0].value.data,
            &[153.0, 255.0, 0.0, 25.0, 221.0, 179.0],
            0.0,
        );
        close(
            o[0].io_magnitude.as_ref().unwrap(),
            &[0.0, 0.0, 0.0, 1.0, 0.0, 1.0],
            0.0,
        );
        close(&o[1].value.data, &[5.0 / 255.0], 1e-15);
        close(&o[2].value.data, &[153.0], 0.0);
        // Positive only: zero point 0 (not -0); all zeros: scale 1/255.
        let o = run(
            "DynamicQuantizeLinear",
            &Attributes::new(),
            &[f(&[2], &[1.0, 2.0])],
        )
        .unwrap();
        assert_eq!(o[2].value.data.iter().next().unwrap().to_bits(), 0);
        let o = run(
            "DynamicQuantizeLinear",
            &Attributes::new(),
            &[f(&[2], &[0.0, 0.0])],
        )
        .unwrap();
        close(&o[1].value.data, &[1.0 / 255.0], 0.0);
        fails(
            "DynamicQuantizeLinear",
            &Attributes::new(),
            &[Some(f(&[2], &[1.0, f64::NAN]))],
            "non-finite",
        );
    }
}
