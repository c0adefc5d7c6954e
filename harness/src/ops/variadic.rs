//! The variadic elementwise ops: Max, Min, Sum, Mean. One or more inputs,
//! broadcast together multidirectionally (numpy style).
//!
//! Checks: Max and Min select one of their inputs: `exact`, with NaN
//! propagating (ONNX's reference is numpy's `maximum`/`minimum`, which
//! return NaN when either operand is NaN). Sum and Mean add `n` inputs: with
//! cancellation the result can be far smaller than its terms, so no ulp
//! budget on the result holds for three or more inputs (`x + y - x`); the
//! summation bound does, with the magnitude `sum |x_i|`. `n` is small (the
//! number of inputs), so the worst-case growth `4 + n` (`gamma_n`, valid for
//! every order and for pairwise or tree sums) costs nothing over the
//! typical `4 + 2 sqrt(n)`; Mean counts its division as one more term.

use ndarray::ArrayD;

use super::logic::{FLOATS_8, NUMERIC_11, NUMERIC_13};
use super::rules::{broadcast_all, per_output_element};
use super::spec::TypeVar;
use super::{Arity, Call, OpDef, OpSpec, Output, Result, broadcast};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;

/// Float16, float, double, bfloat16.
const FLOATS_13: &[DType] = &[DType::F16, DType::F32, DType::F64, DType::BF16];

const T_FLOATS_8: TypeVar = TypeVar {
    name: "T",
    allowed: FLOATS_8,
};
const T_FLOATS_13: TypeVar = TypeVar {
    name: "T",
    allowed: FLOATS_13,
};
const T_NUMERIC_11: TypeVar = TypeVar {
    name: "T",
    allowed: NUMERIC_11,
};
const T_NUMERIC_13: TypeVar = TypeVar {
    name: "T",
    allowed: NUMERIC_13,
};

/// The spec of a variadic op over type `$t`.
macro_rules! variadic_spec {
    ($name:literal, $opset:literal, $t:expr) => {
        OpSpec {
            name: $name,
            domain: "",
            opset: $opset,
            arity: Arity::Variadic,
            input_names: &["data"],
            input_types: &[$t],
            outputs: 1,
            attributes: &[],
        }
    };
}

/// Max or Min: exact selection.
macro_rules! select_op {
    ($name:literal, $opset:literal, $t:expr, $pick:expr) => {
        OpDef {
            spec: variadic_spec!($name, $opset, $t),
            oracle: |c| Ok(vec![select(c, $pick)?]),
            shape: broadcast_all,
            cost: per_output_element,
            check: CheckPolicy::Exact,
            terms: super::rules::no_sum,
        }
    };
}

/// Max-8: floats.
pub(super) const MAX_8: OpDef = select_op!("Max", 8, T_FLOATS_8, f64::max);
/// Max-12: the integers too.
pub(super) const MAX_12: OpDef = select_op!("Max", 12, T_NUMERIC_11, f64::max);
/// Max-13: bfloat16 added.
pub(super) const MAX: OpDef = select_op!("Max", 13, T_NUMERIC_13, f64::max);
/// Min-8: floats.
pub(super) const MIN_8: OpDef = select_op!("Min", 8, T_FLOATS_8, f64::min);
/// Min-12: the integers too.
pub(super) const MIN_12: OpDef = select_op!("Min", 12, T_NUMERIC_11, f64::min);
/// Min-13: bfloat16 added.
pub(super) const MIN: OpDef = select_op!("Min", 13, T_NUMERIC_13, f64::min);

/// Sum or Mean: the summation bound over `sum |x_i|`.
macro_rules! sum_op {
    ($name:literal, $opset:literal, $t:expr, $mean:literal) => {
        OpDef {
            spec: variadic_spec!($name, $opset, $t),
            oracle: |c| Ok(vec![sum(c, $mean)?]),
            shape: broadcast_all,
            cost: per_output_element,
            check: CheckPolicy::WorstCaseSumBound,
            // n inputs; Mean's division rounds once more.
            terms: |_, inputs, _| inputs.len() + usize::from($mean),
        }
    };
}

/// Sum-8.
pub(super) const SUM_8: OpDef = sum_op!("Sum", 8, T_FLOATS_8, false);
/// Sum-13: bfloat16 added.
pub(super) const SUM: OpDef = sum_op!("Sum", 13, T_FLOATS_13, false);
/// Mean-8.
pub(super) const MEAN_8: OpDef = sum_op!("Mean", 8, T_FLOATS_8, true);
/// Mean-13: bfloat16 added.
pub(super) const MEAN: OpDef = sum_op!("Mean", 13, T_FLOATS_13, true);

/// Every input stretched to the common shape.
fn broadcast_inputs(call: &Call) -> Result<(DType, Vec<ArrayD<f64>>)> {
    let inputs: Vec<&super::Value> = (0..call.inputs.len())
        .map(|i| call.input(i))
        .collect::<Result<_>>()?;
    let shapes: Vec<&[usize]> = inputs.iter().map(|v| v.shape()).collect();
    let shape = broadcast::shapes(call, &shapes)?;
    let mut out = Vec::with_capacity(inputs.len());
    for (i, v) in inputs.iter().enumerate() {
        let name = call.input_name(i);
        out.push(broadcast::to(call, &name, &v.data, &shape)?.to_owned());
    }
    Ok((inputs[0].dtype, out))
}

/// Max/Min: `pick` of the inputs, NaN if any input is NaN (`f64::max`
/// alone would drop it).
fn select(call: &Call, pick: fn(f64, f64) -> f64) -> Result<Output> {
    let (dtype, mut all) = broadcast_inputs(call)?;
    let mut acc = all.remove(0);
    for x in &all {
        ndarray::Zip::from(&mut acc).and(x).for_each(|a, &b| {
            *a = if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                pick(*a, b)
            };
        });
    }
    Ok(Output::plain(dtype, acc))
}

/// Sum/Mean: the exact sum (f64 of a few narrower values), divided by the
/// count for Mean; magnitude `sum |x_i|` (over the count for Mean).
fn sum(call: &Call, mean: bool) -> Result<Output> {
    let (dtype, all) = broadcast_inputs(call)?;
    let n = all.len() as f64;
    let mut total = all[0].clone();
    let mut magnitude = all[0].mapv(f64::abs);
    for x in &all[1..] {
        total += x;
        magnitude += &x.mapv(f64::abs);
    }
    if mean {
        total /= n;
        magnitude /= n;
    }
    Ok(Output::bounded(dtype, total, magnitude, None))
}

// ------------------------------------------------------------- generated cases

use super::cases::{self, CaseSpace, Factor, Fill, GenCase, GenInput, Pick, Storage};
use super::elementwise::elementwise_size;

/// A variadic op: 1 to 4 inputs, broadcast patterns across them (all the
/// same shape, one a scalar, one with a leading 1 or of lower rank, one
/// with a 1 in the middle, every input stretched somewhere), sizes and
/// layouts. `fill` gives each input's values by dtype.
fn variadic_space(dtypes: &[DType], fill: fn(DType) -> Fill) -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(dtypes),
            Factor::new("count", &["one", "two", "three", "four"]),
            Factor::new("rank", &["r1", "r2", "r3"]),
            Factor::new(
                "broadcast",
                &["same", "scalar", "lowrank", "lead1", "mid1", "mixed"],
            ),
            Factor::new("size", &["n0", "n1", "prime", "large"]),
            cases::layout_factor(),
        ],
        build: Box::new(move |p: &Pick| {
            let count = match p.get("count") {
                "one" => 1,
                "two" => 2,
                "three" => 3,
                _ => 4,
            };
            let rank = cases::rank_of(p.get("rank"));
            let full = cases::dims(rank, elementwise_size(p.get("size")), false);
            let pattern = p.get("broadcast");
            if count == 1 && pattern != "same" {
                return None; // one input has nothing to broadcast against
            }
            // The last input carries the pattern (in "mixed", every input
            // has a different dim set to 1).
            let shapes: Vec<Vec<usize>> = (0..count)
                .map(|k| {
                    let last = k + 1 == count;
                    let mut s = full.clone();
                    match pattern {
                        "scalar" if last => s = Vec::new(),
                        "lowrank" if last => s = full[1..].to_vec(),
                        "lead1" if last => s[0] = 1,
                        "mid1" if last => s[rank / 2] = 1,
                        "mixed" => s[k % rank] = 1,
                        _ => {}
                    }
                    s
                })
                .collect();
            match pattern {
                "lowrank" | "lead1" if rank < 2 => return None,
                "mid1" if rank < 3 => return None,
                "mixed" if rank < 2 => return None,
                _ => {}
            }
            let dt = p.dtype();
            let storage = Storage::from_level(p.get("layout"));
            let inputs = shapes
                .into_iter()
                .enumerate()
                .map(|(k, s)| {
                    let x = GenInput::new(dt, s).fill(fill(dt));
                    // The first input takes the layout.
                    if k == 0 { x.stored(storage) } else { x }.some()
                })
                .collect();
            Some(GenCase::new(inputs))
        }),
    })
}

/// Values for Max and Min: few distinct integers (ties between inputs) on
/// floats, and the dtype's default range on integers.
fn select_fill(dtype: DType) -> Fill {
    if dtype.is_float() {
        Fill::Int(-4, 4)
    } else {
        Fill::Default
    }
}

pub(super) fn max_cases() -> Option<CaseSpace> {
    variadic_space(NUMERIC_13, select_fill)
}

pub(super) fn min_cases() -> Option<CaseSpace> {
    variadic_space(NUMERIC_13, select_fill)
}

pub(super) fn sum_cases() -> Option<CaseSpace> {
    variadic_space(FLOATS_13, |_| Fill::Normal(10.0))
}

pub(super) fn mean_cases() -> Option<CaseSpace> {
    variadic_space(FLOATS_13, |_| Fill::Normal(10.0))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::ops::Attributes;

    fn none() -> Attributes {
        Attributes::new()
    }

    #[test]
    fn max_min_broadcast_and_propagate_nan() {
        // The spec's example: max([3,2,1], [1,4,4], [2,5,3]) = [3,5,4].
        let a = f(&[3], &[3.0, 2.0, 1.0]);
        let b = f(&[3], &[1.0, 4.0, 4.0]);
        let c = f(&[3], &[2.0, 5.0, 3.0]);
        let abc = [a.clone(), b.clone(), c];
        close(&run1("Max", &none(), &abc).data, &[3.0, 5.0, 4.0], 0.0);
        close(&run1("Min", &none(), &abc).data, &[1.0, 2.0, 1.0], 0.0);
        close(
            &run1("Max", &none(), std::slice::from_ref(&a)).data,
            &[3.0, 2.0, 1.0],
            0.0,
        );
        let s = f(&[2, 1], &[f64::NAN, 2.5]);
        let y = run1("Max", &none(), &[a.clone(), s.clone()]);
        assert_eq!(y.shape(), &[2, 3]);
        close(&y.data, &[f64::NAN, f64::NAN, f64::NAN, 3.0, 2.5, 2.5], 0.0);
        let y = run1("Min", &none(), &[s, a]);
        close(&y.data, &[f64::NAN, f64::NAN, f64::NAN, 2.5, 2.0, 1.0], 0.0);
        let i = t(DType::U8, &[2], &[3.0, 200.0]);
        let j = t(DType::U8, &[], &[100.0]);
        close(&run1("Max", &none(), &[i, j]).data, &[100.0, 200.0], 0.0);
        // Max-8 takes floats only.
        let k = Some(t(DType::I32, &[1], &[1.0]));
        assert!(run_at("Max", 8, &none(), std::slice::from_ref(&k)).is_err());
        assert!(run_at("Max", 12, &none(), &[k]).is_ok());
        fails("Max", &none(), &[], "at least one");
        fails(
            "Sum",
            &none(),
            &[Some(f(&[2], &[1.0, 2.0])), Some(f(&[3], &[1.0, 2.0, 3.0]))],
            "cannot be broadcast",
        );
    }

    #[test]
    fn sum_and_mean_with_magnitudes() {
        let a = f(&[2], &[1.0, -3.0]);
        let b = f(&[2], &[2.0, 3.0]);
        let c = f(&[], &[0.5]);
        let out = run("Sum", &none(), &[a.clone(), b.clone(), c.clone()]).unwrap();
        close(&out[0].value.data, &[3.5, 0.5], 0.0);
        close(out[0].magnitude.as_ref().unwrap(), &[3.5, 6.5], 0.0);
        let out = run("Mean", &none(), &[a, b, c]).unwrap();
        close(&out[0].value.data, &[3.5 / 3.0, 0.5 / 3.0], 1e-16);
        close(
            out[0].magnitude.as_ref().unwrap(),
            &[3.5 / 3.0, 6.5 / 3.0],
            1e-16,
        );
        fails(
            "Sum",
            &none(),
            &[Some(t(DType::I32, &[1], &[1.0]))],
            "type T",
        );
    }
}
