//! Operators new in opset 24 (issue 17): Swish and TensorScatter.
//!
//! Swish is an activation, `x sigmoid(alpha x)`, judged by its error model
//! like the activation family's smooth gates (Mish, Elu). TensorScatter is
//! the KV-cache update attention models do outside Attention: it copies, so
//! it is exact.

use ndarray::{ArrayD, Dimension, IxDyn, Zip};

use super::activation::{T_FLOAT4, Unary, alpha_factor, attr, set_alpha, traps_with, unary_space};
use super::cases::{self, CaseSpace, Factor, GenCase, GenInput, Pick};
use super::indexing::def;
use super::rules::{self, no_sum, per_output_element, same_as_first};
use super::spec::{T_ANY, TypeVar, fixed, unary};
use super::{AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;

// ------------------------------------------------------------------ Swish

/// Swish-24: `x sigmoid(alpha x)`, alpha default 1 (an f32 attribute).
///
/// Judged by its error model ([`swish_model`]) rather than a bare ulp
/// budget: the function body rounds `alpha x` in the io dtype T before the
/// sigmoid, and for z = alpha x < 0 the sigmoid's relative sensitivity to
/// z is `|z| (1 - sigmoid(z))`, up to |z| itself, so an honest f16 Swish
/// with alpha != 1 is tens of ulps off in the negative tail; with alpha =
/// 1 the product is exact and the model is a plain ulp budget.
pub(super) const SWISH: OpDef = OpDef {
    spec: OpSpec {
        input_types: &[T_FLOAT4],
        attributes: &[("alpha", AttrType::Float)],
        ..unary("Swish", 24)
    },
    oracle: swish,
    shape: same_as_first,
    cost: per_output_element,
    check: CheckPolicy::ModelBound,
    terms: no_sum,
};

/// Swish's values and model. In units of the compute precision's u:
/// Sigmoid's 5-ulp CTS budget and the product's rounding, with a margin,
/// `7 |y|`; where alpha != 1, the rounding of `alpha x` (in u, and in the
/// io dtype's u when the body computes it in T) carried through the
/// sigmoid, `|y| |z| (1 - sigmoid(z))`.
fn swish(c: &Call) -> Result<Vec<Output>> {
    let alpha = attr(c, "alpha", 1.0)?;
    let x = c.input(0)?;
    let y: ArrayD<f64> = x.data.mapv(|v| v * sigmoid(alpha * v));
    let finite = |m: f64| if m.is_finite() { m } else { 0.0 };
    let scaled = |v: f64, y: f64| {
        let z = alpha * v;
        if alpha == 1.0 {
            0.0
        } else {
            y.abs() * z.abs() * (1.0 - sigmoid(z))
        }
    };
    let model = Zip::from(&x.data)
        .and(&y)
        .map_collect(|&v, &y| finite(swish_model(y) + scaled(v, y)));
    let io = Zip::from(&x.data)
        .and(&y)
        .map_collect(|&v, &y| finite(scaled(v, y)));
    Ok(vec![Output::bounded(x.dtype, y, model, Some(io))])
}

/// The part of Swish's model every alpha has: `7 |y|`.
fn swish_model(y: f64) -> f64 {
    7.0 * y.abs()
}

/// `1 / (1 + e^-z)`, without overflow for large |z|.
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

// ---------------------------------------------------------- TensorScatter

/// write_indices: int64.
const T_WRITE: TypeVar = TypeVar {
    name: "tensor(int64)",
    allowed: &[DType::I64],
};

/// TensorScatter-24: `update` written into a copy of `past_cache` along
/// `axis` (default -2, never the batch axis 0) at each batch row's
/// `write_indices` entry (0 when absent); exact.
pub(super) const TENSOR_SCATTER: OpDef = def(
    "TensorScatter",
    24,
    fixed(2, 1),
    &["past_cache", "update", "write_indices"],
    &[T_ANY, T_ANY, T_WRITE],
    1,
    &[("axis", AttrType::Int), ("mode", AttrType::String)],
    tensor_scatter,
    |attrs, inputs, values| {
        let (dtype, past) = rules::input(inputs, 0)?;
        scatter_plan(attrs, inputs, values)?;
        Ok(vec![(*dtype, past.clone())])
    },
);

/// A checked TensorScatter call.
struct ScatterPlan {
    axis: usize,
    circular: bool,
    /// Each batch row's write index.
    starts: Vec<i64>,
}

/// The spec's rules: past_cache and update of one rank, equal but along
/// `axis`, where update is no longer; axis in 1..rank; mode linear or
/// circular; write_indices `[batch]`, and in linear mode each `w` in `0..=
/// max - seq` (the spec: "write_indices + sequence_length <=
/// max_sequence_length"; a negative index writes before the cache). One
/// function for the shape rule and the oracle.
fn scatter_plan(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<ScatterPlan, String> {
    let (_, past) = rules::input(inputs, 0)?;
    let (_, update) = rules::input(inputs, 1)?;
    let rank = past.len();
    if update.len() != rank {
        return Err(format!(
            "past_cache {past:?} and update {update:?} must have the same rank"
        ));
    }
    let raw = attrs.int("axis", -2)?;
    let axis = rules::norm_axis(raw, rank)?;
    if axis == 0 {
        return Err(format!(
            "axis {raw} is the batch axis 0; the sequence axis must be another"
        ));
    }
    let circular = match attrs.string("mode", "linear")? {
        "linear" => false,
        "circular" => true,
        other => return Err(format!("mode must be linear or circular, got {other:?}")),
    };
    for i in 0..rank {
        let bad = if i == axis {
            update[i] > past[i]
        } else {
            update[i] != past[i]
        };
        if bad {
            return Err(format!(
                "update {update:?} must equal past_cache {past:?} but along axis {axis}, where it may be shorter"
            ));
        }
    }
    let batch = past[0];
    let (max, seq) = (past[axis] as i64, update[axis] as i64);
    let starts = match inputs.get(2).and_then(Option::as_ref) {
        None => vec![0; batch],
        Some((_, w)) => {
            if w.as_slice() != [batch] {
                return Err(format!(
                    "write_indices must be [batch] = [{batch}], got {w:?}"
                ));
            }
            rules::ints_of("write_indices", &values(2))?
        }
    };
    if !circular
        && let Some((b, w)) = starts
            .iter()
            .enumerate()
            .find(|&(_, &w)| w < 0 || w + seq > max)
    {
        return Err(format!(
            "write_indices[{b}] = {w} with {seq} updates overruns the cache of {max} along axis {axis} (linear mode needs 0 <= index <= {})",
            max - seq
        ));
    }
    Ok(ScatterPlan {
        axis,
        circular,
        starts,
    })
}

/// TensorScatter: the cache with each `update[.., s, ..]` at sequence
/// position `w_b + s` (modulo the cache length when circular).
fn tensor_scatter(c: &Call) -> Result<Vec<Output>> {
    let plan =
        scatter_plan(c.attrs, &c.typed_shapes(), &mut |i| c.values(i)).map_err(|m| c.err(m))?;
    let past = c.input(0)?;
    let update = c.input(1)?;
    let mut out = past.data.clone();
    let max = past.shape()[plan.axis] as i64;
    for (idx, &v) in update.data.indexed_iter() {
        let mut at: Vec<usize> = idx.slice().to_vec();
        let pos = plan.starts[at[0]] + at[plan.axis] as i64;
        let pos = if plan.circular {
            pos.rem_euclid(max)
        } else {
            pos
        };
        at[plan.axis] = pos as usize;
        out[IxDyn(&at)] = v;
    }
    Ok(vec![Output::plain(past.dtype, out)])
}

// ------------------------------------------------------------- generated cases
// The case spaces of this family (machinery and conventions: ops/cases.rs).

/// Swish: the activation space (ranks, sizes, layouts, uniform values or
/// traps: the saturated tails, tiny values, specials) and alpha default /
/// 0.5 / 2 / -0.5 (a negative alpha flips which tail saturates).
pub(super) fn swish_cases() -> Option<CaseSpace> {
    unary_space(
        Unary::new(cases::FLOATS, cases::Fill::Uniform(-8.0, 8.0), |d| {
            traps_with(d, &[-20.0, -80.0, 20.0, 90.0, 1e-4, -1e-4, -1e-30])
        })
        .attrs(
            vec![alpha_factor(&[
                "alphadefault",
                "alpha05",
                "alpha2",
                "alphan05",
            ])],
            set_alpha,
        ),
    )
}

/// TensorScatter: every movable dtype, rank 3 / 4 (the KV cache's `[batch,
/// seq, hidden]` and `[batch, heads, seq, head]`), axis default (-2) /
/// explicit positive / the last, linear or circular (where the write
/// wraps), write_indices absent / per-row, prefill (update as long as the
/// cache) or decode (one token).
pub(super) fn tensor_scatter_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(cases::MOVABLE),
            Factor::new("rank", &["r3", "r4"]),
            Factor::new("axis", &["axisdefault", "axis1", "axislast"]),
            Factor::new("mode", &["linear", "circular"]),
            Factor::new("indices", &["noindices", "perrow"]),
            Factor::new("phase", &["decode", "chunk", "prefill"]),
        ],
        build: Box::new(|p: &Pick| {
            let dt = p.dtype();
            let rank = if p.is("rank", "r3") { 3 } else { 4 };
            let axis = match p.get("axis") {
                "axisdefault" => rank - 2,
                "axis1" => 1,
                _ => rank - 1,
            };
            let batch = 3;
            let max = 7;
            let mut past: Vec<usize> = match rank {
                3 => vec![batch, 5, 6],
                _ => vec![batch, 2, 5, 4],
            };
            past[axis] = max;
            let seq = match p.get("phase") {
                "decode" => 1,
                "chunk" => 3,
                _ => max,
            };
            let mut update = past.clone();
            update[axis] = seq;
            let circular = p.is("mode", "circular");
            // Linear: in range; circular: past the end, so the write wraps.
            let starts: Vec<f64> = (0..batch)
                .map(|b| {
                    let room = (max - seq) as f64;
                    if circular {
                        (max - 1 - b) as f64
                    } else {
                        room.min(b as f64 * 2.0)
                    }
                })
                .collect();
            let mut inputs = vec![
                GenInput::new(dt, past).some(),
                GenInput::new(dt, update).some(),
            ];
            if p.is("indices", "perrow") {
                inputs.push(GenInput::values(DType::I64, starts).some());
            }
            let mut case = GenCase::new(inputs);
            if !p.is("axis", "axisdefault") {
                case = case.int("axis", axis as i64);
            }
            if circular {
                case = case.string("mode", "circular");
            }
            Some(case)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::numerics::DType;
    use crate::ops::{AttrValue, Attributes};

    #[test]
    fn swish_by_hand() {
        // x sigmoid(x): 0 -> 0; ln 3 -> ln 3 * 3/4; -ln 3 -> -ln 3 / 4.
        let l3 = 3f64.ln();
        let x = f(&[3], &[0.0, l3, -l3]);
        let y = run1("Swish", &Attributes::new(), &[x]);
        close(&y.data, &[0.0, 0.75 * l3, -0.25 * l3], 1e-15);
        // alpha 2 at x = ln(3) / 2: sigmoid(ln 3) = 3/4.
        let x = f(&[1], &[l3 / 2.0]);
        let a = attrs(&[("alpha", AttrValue::Float(2.0))]);
        let y = run1("Swish", &a, &[x]);
        // The attribute is an f32: 2 is exact (the test input is as given).
        let xr = l3 / 2.0;
        close(&y.data, &[xr / (1.0 + (-2.0 * xr).exp())], 1e-15);
        assert_eq!(y.dtype, DType::F32);
    }

    #[test]
    fn swish_tails_and_specials() {
        let x = f(&[4], &[-800.0, 800.0, f64::INFINITY, f64::NEG_INFINITY]);
        let out = run("Swish", &Attributes::new(), &[x]).unwrap().remove(0);
        let y = &out.value.data;
        assert_eq!(y[0], -0.0);
        assert_eq!(y[1], 800.0);
        assert_eq!(y[2], f64::INFINITY);
        // -inf * sigmoid(-inf) = -inf * 0: NaN, as the function body gives.
        assert!(y[3].is_nan());
        // alpha != 1: the io model carries the rounding of alpha x.
        let x = f(&[1], &[-10.0]);
        let a = attrs(&[("alpha", AttrValue::Float(0.5))]);
        let out = run("Swish", &a, &[x]).unwrap().remove(0);
        let io = out.io_magnitude.unwrap()[[0]];
        let y = out.value.data[[0]];
        assert!((io - y.abs() * 5.0 * (1.0 - 1.0 / (1.0 + 5f64.exp()))).abs() < 1e-12);
    }

    fn i64s(shape: &[usize], v: &[i64]) -> crate::ops::Value {
        i(shape, v)
    }

    #[test]
    fn tensor_scatter_linear_and_circular() {
        // Cache [2, 4, 1] (axis -2 = 1), update [2, 2, 1].
        let past = f(&[2, 4, 1], &[0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 13.0]);
        let update = f(&[2, 2, 1], &[-1.0, -2.0, -3.0, -4.0]);
        let idx = i64s(&[2], &[1, 2]);
        let out = run_opt(
            "TensorScatter",
            &Attributes::new(),
            &[Some(past.clone()), Some(update.clone()), Some(idx)],
        )
        .unwrap();
        close(
            &out[0].value.data,
            &[0.0, -1.0, -2.0, 3.0, 10.0, 11.0, -3.0, -4.0],
            0.0,
        );
        // No indices: both rows at 0.
        let out = run_opt(
            "TensorScatter",
            &Attributes::new(),
            &[Some(past.clone()), Some(update.clone())],
        )
        .unwrap();
        close(
            &out[0].value.data,
            &[-1.0, -2.0, 2.0, 3.0, -3.0, -4.0, 12.0, 13.0],
            0.0,
        );
        // Circular: row 0 at 3 wraps to 0; row 1 at -1 is 3.
        let circ = attrs(&[("mode", AttrValue::String("circular".into()))]);
        let idx = i64s(&[2], &[3, -1]);
        let out = run_opt(
            "TensorScatter",
            &circ,
            &[Some(past.clone()), Some(update.clone()), Some(idx)],
        )
        .unwrap();
        close(
            &out[0].value.data,
            &[-2.0, 1.0, 2.0, -1.0, -4.0, 11.0, 12.0, -3.0],
            0.0,
        );
        // Linear overrun and a negative index are refused.
        let over = i64s(&[2], &[3, 0]);
        fails(
            "TensorScatter",
            &Attributes::new(),
            &[Some(past.clone()), Some(update.clone()), Some(over)],
            "write_indices[0] = 3 with 2 updates overruns",
        );
        let neg = i64s(&[2], &[0, -1]);
        fails(
            "TensorScatter",
            &Attributes::new(),
            &[Some(past.clone()), Some(update.clone()), Some(neg)],
            "write_indices[1] = -1",
        );
    }

    #[test]
    fn tensor_scatter_errors() {
        let past = f(&[2, 4, 3], &[0.0; 24]);
        let a0 = attrs(&[("axis", AttrValue::Int(0))]);
        fails(
            "TensorScatter",
            &a0,
            &[Some(past.clone()), Some(f(&[1, 4, 3], &[0.0; 12]))],
            "batch axis 0",
        );
        fails(
            "TensorScatter",
            &Attributes::new(),
            &[Some(past.clone()), Some(f(&[2, 5, 3], &[0.0; 30]))],
            "may be shorter",
        );
        fails(
            "TensorScatter",
            &Attributes::new(),
            &[Some(past.clone()), Some(f(&[2, 1, 2], &[0.0; 4]))],
            "must equal past_cache",
        );
        let bad = attrs(&[("mode", AttrValue::String("ring".into()))]);
        fails(
            "TensorScatter",
            &bad,
            &[Some(past.clone()), Some(f(&[2, 1, 3], &[0.0; 6]))],
            "mode must be linear or circular",
        );
        fails(
            "TensorScatter",
            &Attributes::new(),
            &[
                Some(past),
                Some(f(&[2, 1, 3], &[0.0; 6])),
                Some(i64s(&[3], &[0, 0, 0])),
            ],
            "write_indices must be [batch]",
        );
    }
}
