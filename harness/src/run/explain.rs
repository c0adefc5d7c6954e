//! Whether a failed output is explained by a uniformly lower precision.
//!
//! "As if computed in bf16" is a strong claim: it tells a vendor that the
//! kernel is right and only its precision is undeclared. It is made only
//! when a hypothesis is confirmed element by element:
//!
//! * **inputs rounded** to tf32, f16 or bf16 (tensor cores in TF32 mode,
//!   bf16 weights): the oracle re-run on the rounded inputs agrees with the
//!   output under the case's own check, at every element;
//! * **accumulated** in f16 or bf16: every element passes the check with
//!   that precision's unit roundoff, and every output value is a number of
//!   that format (a running accumulator of the format leaves nothing else),
//!   which a logic bug (an ignored beta, dropped terms) does not mimic.
//!   When the output dtype is that format itself the grid says nothing, and
//!   the message says only that the errors fit such an accumulation.
//!
//! Otherwise the message says that no uniform lower precision explains the
//! errors, so that a logic bug is not mistaken for a precision choice.

use ndarray::ArrayD;

use crate::numerics::check::{self, CheckSpec, Comparison, Flush, Roundoff};
use crate::numerics::{DType, HostTensor, round_to};
use crate::ops::{self, Value};
use crate::suite::Case;

/// A precision a backend might have used without declaring it.
struct Candidate {
    name: &'static str,
    u: f64,
    round: fn(f64) -> f64,
    /// Whether an accumulator can be of this format (tf32 is an input format
    /// of tensor cores only).
    accumulates: bool,
}

/// Finest first.
fn candidates() -> [Candidate; 3] {
    [
        Candidate {
            name: "tf32",
            u: check::product_roundoff(xpucert_abi::Precision::Tf32),
            round: |x| check::round_significand(x, 11),
            accumulates: false,
        },
        Candidate {
            name: "f16",
            u: check::unit_roundoff(DType::F16),
            round: |x| round_to(DType::F16, x),
            accumulates: true,
        },
        Candidate {
            name: "bf16",
            u: check::unit_roundoff(DType::BF16),
            round: |x| round_to(DType::BF16, x),
            accumulates: true,
        },
    ]
}

/// What one failed output looked like, for [`explain`].
pub(crate) struct Failed<'a> {
    pub case: &'a Case,
    pub inputs: &'a [Option<HostTensor>],
    /// Index of the output.
    pub index: usize,
    pub check: CheckSpec,
    pub dtype: DType,
    /// The roundoffs the check used (declared or default).
    pub u: Roundoff,
    /// What the check found.
    pub comparison: &'a Comparison,
    pub actual: &'a ArrayD<f64>,
    pub expected: &'a ops::Output,
}

/// One clause for the failure message: which lower precision explains the
/// errors and how, or that none does. `None` for `exact` checks and for
/// outputs whose only disagreements are NaN or infinities.
pub(crate) fn explain(f: &Failed<'_>) -> Option<String> {
    if matches!(f.check, CheckSpec::Exact) || !f.dtype.is_float() {
        return None;
    }
    let judge = |u: Roundoff, expected: &ops::Output| {
        check::compare_declared(
            f.check,
            f.dtype,
            u,
            expected.expected(),
            f.actual,
            Flush::NONE,
            None,
        )
    };
    if f.comparison.mismatches == f.comparison.special_mismatches {
        return None;
    }
    // Only precisions coarser than what was declared: a TF32 declaration
    // is not explained by TF32.
    let declared = f.u.compute.max(f.u.products);
    let all = candidates();
    let coarser = || all.iter().filter(|c| c.u > declared);
    for c in coarser() {
        if inputs_rounded(f, c, &judge) {
            return Some(format!(
                "the output is what the oracle gives on inputs rounded to {n} (as {n} \
                 tensor cores read them): declare {n} as the compute precision in query_op \
                 if that is intended",
                n = c.name
            ));
        }
    }
    // Coarsest first: a bf16 number is also an f16 number (8 significant
    // bits fit in 11), so the grid test must try bf16 before f16.
    for c in coarser().filter(|c| c.accumulates).rev() {
        if judge(Roundoff::compute(c.u), f.expected).passed {
            let on_grid = f
                .actual
                .iter()
                .all(|&a| !a.is_finite() || (c.round)(a) == a);
            let same_format = check::unit_roundoff(f.dtype) >= c.u;
            if same_format {
                return Some(format!(
                    "the errors fit an accumulation in {n}; {d} io is judged as accumulating \
                     in at least f32 unless query_op declares {n}",
                    n = c.name,
                    d = f.dtype.name()
                ));
            }
            if on_grid {
                return Some(format!(
                    "every output is a {n} number within the {n} bound: as if accumulated in \
                     {n}; declare {n} as the compute precision in query_op if that is intended",
                    n = c.name
                ));
            }
        }
    }
    let names: Vec<&str> = coarser().map(|c| c.name).collect();
    (!names.is_empty()).then(|| {
        format!(
            "no uniform lower precision ({}) explains the errors element by element",
            names.join(", ")
        )
    })
}

/// Whether the oracle on the inputs rounded to `c` matches the output: all
/// float inputs first, then only the first two (the operands of MatMul,
/// Gemm and QKᵀ, which tensor cores round while a bias is added in full
/// precision).
fn inputs_rounded(
    f: &Failed<'_>,
    c: &Candidate,
    judge: &dyn Fn(Roundoff, &ops::Output) -> Comparison,
) -> bool {
    let floats = f
        .inputs
        .iter()
        .filter(|t| t.as_ref().is_some_and(|t| t.dtype.is_float()))
        .count();
    let mut tries = vec![usize::MAX];
    if floats > 2 {
        tries.push(2);
    }
    tries.into_iter().any(|first| {
        let values: Vec<Option<Value>> = f
            .inputs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.as_ref().map(|t| {
                    let data = t.to_f64();
                    let data = if t.dtype.is_float() && i < first {
                        data.mapv(c.round)
                    } else {
                        data
                    };
                    Value::new(t.dtype, data)
                })
            })
            .collect();
        match f.case.evaluate(&values) {
            Ok(outs) => outs.get(f.index).is_some_and(|o| judge(f.u, o).passed),
            Err(_) => false,
        }
    })
}
