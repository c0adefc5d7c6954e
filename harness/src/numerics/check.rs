//! Tolerance checks: how an output is compared with the oracle.
//!
//! A [`CheckSpec`] is declared per case in the suite or defaulted from the op
//! and the output dtype by [`default_check`]; [`compare`] applies it and
//! returns a [`Comparison`] holding every figure a report needs. Special values
//! are judged before any tolerance: a NaN where the oracle has none (or the
//! reverse) fails, and an infinity must match in sign.
//!
//! Three kinds exist today; the numerics work adds `ulp(n)` by adding a
//! variant here and an arm in [`allowed_error`]:
//! * `exact`: bitwise equal after conversion to f64 (any NaN matches any NaN);
//! * `allclose(rtol, atol)`: `|y - y*| <= atol + rtol * |y*|`, torch's rule;
//! * `bound(c)`: `|y - y*| <= c * u * M + u_out * |y*|`, where `M` is the
//!   oracle's magnitude (sum of |terms|), `u` the unit roundoff of the compute
//!   precision and `u_out` that of the output dtype. Used for reductions,
//!   whose honest error grows with their length and the size of their terms.

use ndarray::{ArrayD, Dimension};
use serde::{Deserialize, Serialize};

use super::{DType, round_to};
use crate::op::OpSpec;

/// The rule a case is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckSpec {
    /// Bitwise equal after conversion to f64 (any NaN matches any NaN).
    Exact,
    /// `|y - y*| <= atol + rtol * |y*|`.
    Allclose {
        /// relative tolerance
        rtol: f64,
        /// absolute tolerance
        atol: f64,
    },
    /// `|y - y*| <= n * ulp(y*)`, the ulp counted in the output dtype at the
    /// exact oracle value (a correctly rounded result is within 0.5).
    Ulp {
        /// allowed distance in ulps
        n: f64,
    },
    /// `|y - y*| <= c * u * M + u_out * |y*|` with the oracle's magnitude `M`.
    Bound {
        /// multiple of the unit roundoff allowed per unit of magnitude
        c: f64,
    },
}

impl std::fmt::Display for CheckSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckSpec::Exact => write!(f, "exact"),
            CheckSpec::Allclose { rtol, atol } => {
                write!(f, "allclose(rtol={rtol:e}, atol={atol:e})")
            }
            CheckSpec::Ulp { n } => write!(f, "ulp({n})"),
            CheckSpec::Bound { c } => write!(f, "bound(c={c:.1})"),
        }
    }
}

/// Unit roundoff (half an ulp of 1.0) of a float dtype; 0 for integers.
pub fn unit_roundoff(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 2f64.powi(-53),
        DType::F32 => 2f64.powi(-24),
        DType::F16 => 2f64.powi(-11),
        DType::BF16 => 2f64.powi(-8),
        DType::F8E4M3FN => 2f64.powi(-4),
        DType::F8E5M2 => 2f64.powi(-3),
        _ => 0.0,
    }
}

/// The spacing of `dtype`'s representable numbers at `x` (one ulp): for
/// |x| in [2^e, 2^(e+1)) it is 2^(e - p + 1) with p the precision in bits;
/// below the normal range it is the subnormal spacing. 0 for integers.
pub fn ulp(dtype: DType, x: f64) -> f64 {
    let (p, emin) = match dtype {
        DType::F64 => (53, -1022),
        DType::F32 => (24, -126),
        DType::F16 => (11, -14),
        DType::BF16 => (8, -126),
        DType::F8E4M3FN => (4, -6),
        DType::F8E5M2 => (3, -14),
        _ => return 0.0,
    };
    let a = x.abs();
    let e = if a == 0.0 || !a.is_finite() {
        emin
    } else {
        // frexp-style exponent, exact for every finite f64 (no log2 rounding).
        let bits = a.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        if biased == 0 {
            -1023 // an f64 subnormal: far below every emin listed
        } else {
            biased - 1023
        }
    };
    2f64.powi(e.max(emin) - (p - 1))
}

/// Half the smallest positive subnormal of a float dtype: the largest error
/// of rounding a tiny value into it. 0 for integers.
pub fn half_subnormal(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 2f64.powi(-1075),
        DType::F32 => 2f64.powi(-150),
        DType::F16 => 2f64.powi(-25),
        DType::BF16 => 2f64.powi(-134),
        DType::F8E4M3FN => 2f64.powi(-10),
        DType::F8E5M2 => 2f64.powi(-17),
        _ => 0.0,
    }
}

/// torch.testing.assert_close's default (rtol, atol) for a float dtype.
pub fn torch_allclose(dtype: DType) -> CheckSpec {
    let (rtol, atol) = match dtype {
        DType::F64 => (1e-7, 1e-7),
        DType::F32 => (1.3e-6, 1e-5),
        DType::F16 => (1e-3, 1e-5),
        DType::BF16 => (1.6e-2, 1e-5),
        // torch has no fp8 defaults: one unit roundoff relative, and a small
        // absolute floor for values rounded to zero.
        DType::F8E4M3FN => (6.25e-2, 1e-3),
        DType::F8E5M2 => (1.25e-1, 1e-3),
        _ => return CheckSpec::Exact,
    };
    CheckSpec::Allclose { rtol, atol }
}

/// The default rule for one output of `op` stored as `dtype`, where
/// `reduction_len` is the number of terms summed per output element (1 for
/// elementwise ops).
///
/// Data movement, comparisons and integer outputs are exact. Dot-product-like
/// reductions (MatMul, Gemm, ReduceSum/Mean, Attention) use `bound` with
/// `c = 4 + 2 * sqrt(n)`: summing n terms of similar size has an error that
/// grows like `sqrt(n) * u * M` in practice, while a wrong accumulation
/// precision (bf16 for f32) is 2^16 times larger and still caught. Softmax
/// and LogSoftmax use `c = 4 + n` (see below).
/// Everything else uses torch's allclose defaults.
pub fn default_check(op: &OpSpec, dtype: DType, reduction_len: usize) -> CheckSpec {
    if !dtype.is_float() {
        return CheckSpec::Exact;
    }
    match op.name {
        "Gather" | "Transpose" | "Reshape" | "Concat" | "Where" | "Cast" | "Neg" | "Relu"
        | "TopK" | "ReduceMax" => CheckSpec::Exact,
        "MatMul" | "Gemm" | "ReduceSum" | "ReduceMean" | "Attention" => CheckSpec::Bound {
            c: 4.0 + 2.0 * (reduction_len.max(1) as f64).sqrt(),
        },
        // Sums of exponentials: positive terms over a wide range, where a
        // sequential sum drops small terms systematically (swamping; measured
        // at about 4.4 sqrt(n) u on a 32000-wide row). Only the worst-case
        // bound gamma_n holds for every summation order.
        "Softmax" | "LogSoftmax" => CheckSpec::Bound {
            c: 4.0 + reduction_len.max(1) as f64,
        },
        _ => torch_allclose(dtype),
    }
}

/// One element that failed its check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mismatch {
    /// Multi-dimensional index in the output.
    pub index: Vec<usize>,
    /// Oracle value.
    pub expected: f64,
    /// Backend value.
    pub actual: f64,
}

/// Everything measured when comparing one output with the oracle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The rule applied.
    pub check: CheckSpec,
    /// Whether every element satisfied it.
    pub passed: bool,
    /// Number of elements compared.
    pub elements: usize,
    /// Elements outside tolerance (including special-value mismatches).
    pub mismatches: usize,
    /// Elements where NaN/Inf disagreed with the oracle.
    pub special_mismatches: usize,
    /// Largest |y - y*| over finite pairs.
    pub max_abs_err: f64,
    /// Largest |y - y*| / |y*| over finite pairs with y* != 0.
    pub max_rel_err: f64,
    /// Largest measured error / allowed error over finite pairs: below 1
    /// passes; the closer to 1, the less margin. 0 for exact matches.
    pub headroom: f64,
    /// The first failing element in row-major order.
    pub first_mismatch: Option<Mismatch>,
}

/// The allowed |y - y*| for one element under `check`, or `None` for `exact`.
fn allowed_error(
    check: &CheckSpec,
    out_dtype: DType,
    compute_u: f64,
    expected: f64,
    magnitude: f64,
) -> Option<f64> {
    match *check {
        CheckSpec::Exact => None,
        CheckSpec::Allclose { rtol, atol } => Some(atol + rtol * expected.abs()),
        CheckSpec::Ulp { n } => Some(n * ulp(out_dtype, expected)),
        CheckSpec::Bound { c } => {
            // Rounding into the output dtype: half an ulp. Below the normal
            // range the spacing is fixed, and the last two roundings of a
            // computation (say exp, then a division) may each cost half of
            // it, so the floor is two subnormal spacings.
            let output_rounding =
                (unit_roundoff(out_dtype) * expected.abs()).max(4.0 * half_subnormal(out_dtype));
            Some(c * compute_u * magnitude + output_rounding)
        }
    }
}

/// Compares `actual` (the backend's output, read back to f64) with the
/// oracle's `expected`. Shapes must already be equal. `magnitude` is the
/// oracle's per-element sum of |terms| (used by `bound`; when absent, |y*| is
/// used). `compute_u` is the unit roundoff of the precision the backend
/// declared it computes in.
pub fn compare(
    check: CheckSpec,
    out_dtype: DType,
    compute_u: f64,
    expected: &ArrayD<f64>,
    actual: &ArrayD<f64>,
    magnitude: Option<&ArrayD<f64>>,
) -> Comparison {
    assert_eq!(
        expected.shape(),
        actual.shape(),
        "compare needs equal shapes"
    );
    let mut c = Comparison {
        check,
        passed: true,
        elements: expected.len(),
        mismatches: 0,
        special_mismatches: 0,
        max_abs_err: 0.0,
        max_rel_err: 0.0,
        headroom: 0.0,
        first_mismatch: None,
    };
    let mags = magnitude.map(|m| m.iter().copied().collect::<Vec<f64>>());
    for (flat, ((idx, &e), &a)) in expected.indexed_iter().zip(actual.iter()).enumerate() {
        // An exact result beyond the output dtype's range rounds to an
        // infinity under IEEE arithmetic: that infinity is the right answer.
        let e = match round_to(out_dtype, e) {
            r if r.is_infinite() && e.is_finite() && out_dtype.is_float() => r,
            _ => e,
        };
        let bad = if e.is_nan() || a.is_nan() {
            let bad = e.is_nan() != a.is_nan();
            c.special_mismatches += usize::from(bad);
            bad
        } else if e.is_infinite() || a.is_infinite() {
            let bad = e != a;
            c.special_mismatches += usize::from(bad);
            bad
        } else {
            let err = (a - e).abs();
            c.max_abs_err = c.max_abs_err.max(err);
            if e != 0.0 {
                c.max_rel_err = c.max_rel_err.max(err / e.abs());
            }
            let m = mags
                .as_ref()
                .and_then(|m| m.get(flat).copied())
                .unwrap_or(e.abs());
            match allowed_error(&check, out_dtype, compute_u, e, m) {
                None => {
                    // exact: compare bits so that -0 and +0 differ
                    let bad = a.to_bits() != e.to_bits();
                    if bad {
                        c.headroom = f64::INFINITY;
                    }
                    bad
                }
                Some(allowed) => {
                    // A NaN bound (from a NaN magnitude) must never pass.
                    let allowed = if allowed.is_nan() { 0.0 } else { allowed };
                    let ratio = if err == 0.0 {
                        0.0
                    } else if allowed > 0.0 {
                        err / allowed
                    } else {
                        f64::INFINITY
                    };
                    c.headroom = c.headroom.max(ratio);
                    err > allowed
                }
            }
        };
        if bad {
            c.passed = false;
            c.mismatches += 1;
            if c.first_mismatch.is_none() {
                c.first_mismatch = Some(Mismatch {
                    index: idx.slice().to_vec(),
                    expected: e,
                    actual: a,
                });
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    fn arr(v: &[f64]) -> ArrayD<f64> {
        ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).unwrap()
    }

    #[test]
    fn allclose_records_figures_and_first_mismatch() {
        let e = arr(&[1.0, 2.0, 3.0, 0.0]);
        let a = arr(&[1.0, 2.0 + 1e-6, 3.1, 0.0]);
        let c = compare(torch_allclose(DType::F32), DType::F32, 0.0, &e, &a, None);
        assert!(!c.passed);
        assert_eq!(c.mismatches, 1);
        assert!((c.max_abs_err - 0.1).abs() < 1e-12);
        assert!((c.max_rel_err - 0.1 / 3.0).abs() < 1e-12);
        let m = c.first_mismatch.unwrap();
        assert_eq!(m.index, vec![2]);
        assert_eq!(m.actual, 3.1);
        // 2e-6 relative error on element 1 is within 1e-5 + 1.3e-6*2
        assert!(c.headroom > 1.0);
    }

    #[test]
    fn nan_and_inf_must_agree() {
        let e = arr(&[f64::NAN, f64::INFINITY, 1.0]);
        let ok = compare(
            CheckSpec::Exact,
            DType::F32,
            0.0,
            &e,
            &arr(&[f64::NAN, f64::INFINITY, 1.0]),
            None,
        );
        assert!(ok.passed, "NaN matches NaN, +Inf matches +Inf");
        let bad = compare(
            torch_allclose(DType::F32),
            DType::F32,
            0.0,
            &e,
            &arr(&[0.0, f64::NEG_INFINITY, f64::NAN]),
            None,
        );
        assert_eq!(bad.special_mismatches, 3);
        assert_eq!(bad.mismatches, 3);
    }

    #[test]
    fn overflow_of_the_output_dtype_expects_infinity() {
        let e = arr(&[1.25e39, -1e300]);
        let a = arr(&[f64::INFINITY, f64::NEG_INFINITY]);
        assert!(compare(torch_allclose(DType::F32), DType::F32, 0.0, &e, &a, None).passed);
        let finite = arr(&[3.4e38, -3.4e38]);
        assert!(
            !compare(
                torch_allclose(DType::F32),
                DType::F32,
                0.0,
                &e,
                &finite,
                None
            )
            .passed
        );
        // in f64 the same value is finite and must be matched as such
        assert!(!compare(torch_allclose(DType::F64), DType::F64, 0.0, &e, &a, None).passed);
    }

    #[test]
    fn exact_distinguishes_signed_zero() {
        let c = compare(
            CheckSpec::Exact,
            DType::F32,
            0.0,
            &arr(&[0.0]),
            &arr(&[-0.0]),
            None,
        );
        assert!(!c.passed);
    }

    #[test]
    fn bound_scales_with_magnitude_and_precision() {
        let u = unit_roundoff(DType::F32);
        let e = arr(&[1.0]);
        let m = arr(&[4096.0]);
        // error of 100 u*M passes with c = 200, fails with c = 50
        let a = arr(&[1.0 + 100.0 * u * 4096.0]);
        assert!(
            compare(
                CheckSpec::Bound { c: 200.0 },
                DType::F32,
                u,
                &e,
                &a,
                Some(&m)
            )
            .passed
        );
        assert!(
            !compare(
                CheckSpec::Bound { c: 50.0 },
                DType::F32,
                u,
                &e,
                &a,
                Some(&m)
            )
            .passed
        );
        // the same error is nothing for a bf16 accumulator
        let ub = unit_roundoff(DType::BF16);
        assert!(
            compare(
                CheckSpec::Bound { c: 1.0 },
                DType::F32,
                ub,
                &e,
                &a,
                Some(&m)
            )
            .passed
        );
    }

    #[test]
    fn bound_allows_half_a_subnormal_of_the_output() {
        // 1.33e-5 is subnormal in f16: spacing 2^-24, so an error of 1.8e-8
        // is pure output rounding even with an f32 compute precision.
        let u = unit_roundoff(DType::F32);
        let e = arr(&[1.3309650091615928e-5]);
        let a = arr(&[1.329183578491211e-5]);
        let m = arr(&[1.3309650091615928e-5]);
        assert!(
            compare(
                CheckSpec::Bound { c: 10.0 },
                DType::F16,
                u,
                &e,
                &a,
                Some(&m)
            )
            .passed
        );
        let worse = arr(&[1.3309650091615928e-5 - 1.3e-7]);
        assert!(
            !compare(
                CheckSpec::Bound { c: 10.0 },
                DType::F16,
                u,
                &e,
                &worse,
                Some(&m)
            )
            .passed
        );
        let nan_mag = arr(&[f64::NAN]);
        assert!(
            !compare(
                CheckSpec::Bound { c: 10.0 },
                DType::F16,
                u,
                &e,
                &a,
                Some(&nan_mag)
            )
            .passed
        );
    }

    #[test]
    fn ulp_spacing_per_dtype() {
        assert_eq!(ulp(DType::F32, 1.0), 2f64.powi(-23));
        assert_eq!(ulp(DType::F32, 1.9999), 2f64.powi(-23));
        assert_eq!(ulp(DType::F32, 2.0), 2f64.powi(-22));
        assert_eq!(ulp(DType::F32, -0.75), 2f64.powi(-24));
        assert_eq!(ulp(DType::F32, 1e-40), 2f64.powi(-149), "subnormal spacing");
        assert_eq!(ulp(DType::F32, 0.0), 2f64.powi(-149));
        assert_eq!(ulp(DType::F16, 1.0), 2f64.powi(-10));
        assert_eq!(ulp(DType::BF16, 1.0), 2f64.powi(-7));
        assert_eq!(ulp(DType::F16, 1e-6), 2f64.powi(-24));
        assert_eq!(ulp(DType::I32, 5.0), 0.0);
        // a 1-ulp error passes ulp(1), fails ulp(0.5)
        let e = arr(&[1.0]);
        let a = arr(&[1.0 + 2f64.powi(-23)]);
        assert!(compare(CheckSpec::Ulp { n: 1.0 }, DType::F32, 0.0, &e, &a, None).passed);
        assert!(!compare(CheckSpec::Ulp { n: 0.5 }, DType::F32, 0.0, &e, &a, None).passed);
    }

    #[test]
    fn defaults_by_op_class() {
        let sm = crate::op::find("Softmax").unwrap();
        assert_eq!(
            default_check(sm, DType::F32, 32000),
            CheckSpec::Bound { c: 32004.0 }
        );
        let mm = crate::op::find("MatMul").unwrap();
        assert_eq!(default_check(mm, DType::I32, 4), CheckSpec::Exact);
        match default_check(mm, DType::F32, 16384) {
            CheckSpec::Bound { c } => assert!((c - 260.0).abs() < 1e-9),
            other => panic!("{other:?}"),
        }
        let ex = crate::op::find("Exp").unwrap();
        assert_eq!(default_check(ex, DType::F16, 1), torch_allclose(DType::F16));
        let g = crate::op::find("Gather").unwrap();
        assert_eq!(default_check(g, DType::F32, 1), CheckSpec::Exact);
    }
}
