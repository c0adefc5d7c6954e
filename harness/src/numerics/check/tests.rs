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
fn quality_discounts_one_output_ulp() {
    // An f16 result one ulp off (pure rounding of a higher-precision
    // value) has headroom near 1 under f16 allclose, but quality 0.
    let e = arr(&[1.0]);
    let a = arr(&[1.0 + 2f64.powi(-10)]);
    let c = compare(torch_allclose(DType::F16), DType::F16, 0.0, &e, &a, None);
    assert!(c.passed);
    assert!(c.headroom > 0.9, "{}", c.headroom);
    assert_eq!(c.quality, 0.0);
    // an f32 error of 60% of its allowance is avoidable: quality > 0.5
    let allowed = 1e-5 + 1.3e-6;
    let a = arr(&[1.0 + 0.6 * allowed]);
    let c = compare(torch_allclose(DType::F32), DType::F32, 0.0, &e, &a, None);
    assert!(c.passed);
    assert!(c.quality > WARN_QUALITY && c.quality < 0.6, "{}", c.quality);
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
    let sm = policy("Softmax");
    assert_eq!(
        default_check(sm, DType::F32, 32000),
        CheckSpec::Bound { c: 32004.0 }
    );
    let mm = policy("MatMul");
    assert_eq!(default_check(mm, DType::I32, 4), CheckSpec::Exact);
    match default_check(mm, DType::F32, 16384) {
        CheckSpec::Bound { c } => assert!((c - 260.0).abs() < 1e-9),
        other => panic!("{other:?}"),
    }
    let g = policy("Gather");
    assert_eq!(default_check(g, DType::F32, 1), CheckSpec::Exact);
    let ex = policy("Exp");
    assert_eq!(default_check(ex, DType::F16, 1), CheckSpec::Ulp { n: 4.0 });
    let ge = policy("Gelu");
    assert_eq!(
        default_check(ge, DType::F32, 1),
        CheckSpec::Bound { c: 1.0 }
    );
}

/// The check policy of the op named `name`.
fn policy(name: &str) -> CheckPolicy {
    crate::ops::Op::from_name(name).unwrap().def().check
}

/// Judges `actual` against `exact` under op's f32 default.
fn passes(op: &str, dtype: DType, exact: f64, actual: f64) -> bool {
    let spec = default_check(policy(op), dtype, 1);
    compare(spec, dtype, 0.0, &arr(&[exact]), &arr(&[actual]), None).passed
}

#[test]
fn elementwise_defaults_follow_the_error_of_correct_arithmetic() {
    let ulp1 = 2f64.powi(-23);
    // Add: correctly rounded passes, a result one ulp off fails.
    assert!(passes("Add", DType::F32, 1.0 + 0.5 * ulp1, 1.0));
    assert!(!passes("Add", DType::F32, 1.0 + 0.25 * ulp1, 1.0 + ulp1));
    // Undeclared flush-to-zero of a subnormal fails in every dtype (a
    // backend declares it in query_op: see the subnormal tests below).
    assert!(!passes("Mul", DType::F32, 1e-40, 0.0));
    assert!(!passes("Mul", DType::F16, 1e-6, 0.0));
    assert!(!passes("Sigmoid", DType::F32, 2e-39, 0.0));
    // Half a subnormal spacing is correct rounding there.
    assert!(passes(
        "Mul",
        DType::F32,
        2.5 * 2f64.powi(-149),
        2f64.powi(-148)
    ));
    // Div: a 2-ulp reciprocal product passes, 4 ulps fail.
    assert!(passes("Div", DType::F32, 1.5, 1.5 + 2.0 * ulp1));
    assert!(!passes("Div", DType::F32, 1.0, 1.0 + 4.0 * ulp1));
    // Tanh at 1e-3: 3 ulps pass; the cancelling form (~30 ulps) fails,
    // although its absolute error is far below torch's atol of 1e-5.
    let t = 1e-3f64.tanh();
    let ulp_t = 2f64.powi(-33);
    assert!(passes("Tanh", DType::F32, t, t + 3.0 * ulp_t));
    assert!(!passes("Tanh", DType::F32, t, t + 30.0 * ulp_t));
    // Log near 1: an absolute error of 1.5u passes whatever the result's
    // ulp; Exp 40 ulps off fails.
    let l = 1.001f64.ln();
    assert!(passes("Log", DType::F32, l, l + 1.5 * 2f64.powi(-24)));
    assert!(!passes("Exp", DType::F32, 3.0, 3.0 + 40.0 * 2f64.powi(-22)));
    // Softplus far left: ln(1 + e^x) rounds 1 + e^x to 1 and returns 0.
    assert!(passes("Softplus", DType::F32, (-20f64).exp(), 0.0));
}

#[test]
fn half_io_is_judged_as_accumulating_in_f32_unless_declared() {
    let f32_u = unit_roundoff(DType::F32);
    for d in [DType::F16, DType::BF16, DType::F8E4M3FN] {
        assert_eq!(compute_roundoff(Precision::Default, d), f32_u, "{d:?}");
    }
    assert_eq!(compute_roundoff(Precision::Default, DType::F32), f32_u);
    assert_eq!(
        compute_roundoff(Precision::DType(DType::BF16), DType::BF16),
        unit_roundoff(DType::BF16)
    );
    // A bf16 row summed in a bf16 running accumulator: 1024 terms of 1.0
    // stall at 256 (256 + 1 rounds back to 256 in bf16).
    let n = 1024usize;
    let e = arr(&[n as f64]);
    let m = arr(&[n as f64]);
    let stalled = arr(&[256.0]);
    let check = default_check(CheckPolicy::SumBound, DType::BF16, n);
    let default_u = compute_roundoff(Precision::Default, DType::BF16);
    assert!(!compare(check, DType::BF16, default_u, &e, &stalled, Some(&m)).passed);
    // ...while an f32 accumulator's single output rounding passes (1027
    // rounds to 1024 in bf16, whose spacing there is 8).
    let e = arr(&[1027.0]);
    let rounded = arr(&[round_to(DType::BF16, 1027.0)]);
    assert_eq!(rounded[0], 1024.0);
    assert!(compare(check, DType::BF16, default_u, &e, &rounded, Some(&m)).passed);
}

#[test]
fn a_coarser_declared_precision_widens_ulp_and_allclose_but_not_exact() {
    let e = arr(&[1.0]);
    // 3 bf16 ulps off an f32 result: far outside ulp(4) of f32, inside
    // ulp(4) of bf16.
    let a = arr(&[1.0 + 3.0 * 2f64.powi(-7)]);
    let bf16_u = unit_roundoff(DType::BF16);
    let f32_u = unit_roundoff(DType::F32);
    let ulp4 = CheckSpec::Ulp { n: 4.0 };
    assert!(!compare(ulp4, DType::F32, f32_u, &e, &a, None).passed);
    assert!(compare(ulp4, DType::F32, bf16_u, &e, &a, None).passed);
    let close = torch_allclose(DType::F32);
    assert!(!compare(close, DType::F32, f32_u, &e, &a, None).passed);
    assert!(compare(close, DType::F32, bf16_u, &e, &a, None).passed);
    assert!(!compare(CheckSpec::Exact, DType::F32, bf16_u, &e, &a, None).passed);
    // A finer declared precision never tightens: f64 compute for f32 io.
    assert_eq!(coarsening(DType::F32, unit_roundoff(DType::F64)), 1.0);
    assert_eq!(coarsening(DType::F32, bf16_u), bf16_u / f32_u);
}

#[test]
fn io_magnitude_is_scaled_by_the_io_dtypes_roundoff() {
    // bf16 io, f32 accumulation: an intermediate rounded to bf16 is allowed
    // u_bf16 * M_io on top of the f32 part.
    let e = arr(&[1.0]);
    let zero = arr(&[0.0]);
    let one = arr(&[1.0]);
    let f32_u = unit_roundoff(DType::F32);
    let b = CheckSpec::Bound { c: 1.0 };
    let a = arr(&[1.0 + 1.5 * 2f64.powi(-8)]);
    assert!(!compare_with(b, DType::BF16, f32_u, &e, &a, Some(&zero), None).passed);
    assert!(compare_with(b, DType::BF16, f32_u, &e, &a, Some(&zero), Some(&one)).passed);
    // ...and by the compute roundoff when that is coarser (declared bf16 for
    // f32 io): then both parts are bf16's.
    let bf16_u = unit_roundoff(DType::BF16);
    assert!(compare_with(b, DType::F32, bf16_u, &e, &a, Some(&one), Some(&one)).passed);
    assert!(!compare_with(b, DType::F32, f32_u, &e, &a, Some(&one), Some(&one)).passed);
}

#[test]
fn round_significand_is_tf32_rounding() {
    // 1 + 2^-11 is a tie between 1 and 1 + 2^-10 at 11 bits: even is 1.
    assert_eq!(round_significand(1.0 + 2f64.powi(-11), 11), 1.0);
    assert_eq!(
        round_significand(1.0 + 3.0 * 2f64.powi(-11), 11),
        1.0 + 2.0 * 2f64.powi(-10)
    );
    assert_eq!(
        round_significand(-3.0e-30, 11),
        -round_significand(3.0e-30, 11)
    );
    assert_eq!(round_significand(0.0, 11), 0.0);
    assert!(round_significand(f64::NAN, 11).is_nan());
    // 11 bits agree with f16 in its normal range.
    for x in [0.1, 1.7, 300.3, -65000.0] {
        assert_eq!(round_significand(x, 11), round_to(DType::F16, x));
    }
}

// ------------------------------------------------------ subnormal flushing

/// Every check kind that can judge a subnormal result: exact, the ulp rule,
/// the floored relative rule (Add/Mul's default) and the sum bound.
fn kinds(dtype: DType) -> [CheckSpec; 4] {
    [
        CheckSpec::Exact,
        CheckSpec::Ulp { n: 4.0 },
        default_check(CheckPolicy::UlpOrSubnormal(0.5), dtype, 1),
        CheckSpec::Bound { c: 8.0 },
    ]
}

/// `compare_declared` of one element per entry, with the output dtype's
/// unit roundoff as the compute precision.
fn judge(
    check: CheckSpec,
    dtype: DType,
    expected: &[f64],
    flushed: Option<&[f64]>,
    actual: &[f64],
    flush: Flush,
) -> Comparison {
    let (e, a) = (arr(expected), arr(actual));
    let f = flushed.map(arr);
    compare_declared(
        check,
        dtype,
        Roundoff::compute(unit_roundoff(dtype)),
        Expected {
            value: &e,
            magnitude: None,
            io_magnitude: None,
            product_magnitude: None,
        },
        &a,
        flush,
        f.as_ref().map(|f| Expected {
            value: f,
            magnitude: None,
            io_magnitude: None,
            product_magnitude: None,
        }),
    )
}

const OUTPUTS: Flush = Flush {
    inputs: false,
    outputs: true,
};
const INPUTS: Flush = Flush {
    inputs: true,
    outputs: false,
};
const BOTH: Flush = Flush {
    inputs: true,
    outputs: true,
};

/// Subnormals exactly representable in each dtype (3 * 2^-140 in f32,
/// 2^-130 in bf16, 3 * 2^-20 in f16), each with its sign flipped too.
fn subnormals() -> [(DType, f64); 3] {
    [
        (DType::F32, 3.0 * 2f64.powi(-140)),
        (DType::BF16, 2f64.powi(-130)),
        (DType::F16, 3.0 * 2f64.powi(-20)),
    ]
}

#[test]
fn subnormal_floor_is_subnormal_spacings_in_every_float_dtype() {
    assert_eq!(subnormal_floor(DType::F32, 1.0), 2f64.powi(-149));
    assert_eq!(subnormal_floor(DType::BF16, 2.0), 2f64.powi(-132));
    assert_eq!(subnormal_floor(DType::F64, 1.0), 2f64.powi(-1074));
    assert_eq!(subnormal_floor(DType::F16, 4.0), 2f64.powi(-22));
    assert!(is_subnormal(DType::F32, -1e-40));
    assert!(!is_subnormal(DType::F32, 2f64.powi(-126)));
    assert!(!is_subnormal(DType::F32, 0.0));
    assert!(is_subnormal(DType::F16, 1e-5));
    assert!(!is_subnormal(DType::I32, 1e-40));
}

#[test]
fn undeclared_flushing_of_a_subnormal_result_fails_in_every_kind() {
    for (dtype, x) in subnormals() {
        for check in kinds(dtype) {
            for (e, a) in [(x, 0.0), (-x, -0.0), (x, -0.0)] {
                let c = judge(check, dtype, &[e], None, &[a], Flush::NONE);
                assert!(!c.passed, "{dtype:?} {check}: {e:e} flushed to {a}");
                // Declaring input flushing does not excuse output flushing.
                let c = judge(check, dtype, &[e], Some(&[e]), &[a], INPUTS);
                assert!(
                    !c.passed,
                    "{dtype:?} {check}: inputs declared, {e:e} -> {a}"
                );
            }
            // The subnormal itself passes every kind.
            assert!(judge(check, dtype, &[x], None, &[x], Flush::NONE).passed);
        }
    }
}

#[test]
fn declared_output_flushing_passes_a_zero_of_either_sign_in_every_kind() {
    for (dtype, x) in subnormals() {
        for check in kinds(dtype) {
            for (e, a) in [(x, 0.0), (x, -0.0), (-x, 0.0), (-x, -0.0)] {
                let c = judge(check, dtype, &[e, 1.0], None, &[a, 1.0], OUTPUTS);
                assert!(c.passed, "{dtype:?} {check}: {e:e} -> {a}");
                assert_eq!(c.headroom, 0.0, "a declared flush is no error");
                assert_eq!(c.max_abs_err, 0.0);
            }
            // It excuses zeros only: a wrong subnormal still fails, and so
            // does a normal result written as zero.
            let wrong = judge(check, dtype, &[x], None, &[3.0 * x], OUTPUTS);
            assert!(!wrong.passed, "{dtype:?} {check}: 3x for x");
            let (_, emin) = float_format(dtype).unwrap();
            let normal = 2f64.powi(emin);
            let c = judge(check, dtype, &[normal], None, &[0.0], OUTPUTS);
            assert!(!c.passed, "{dtype:?} {check}: the smallest normal flushed");
        }
    }
    // Tininess detected before rounding: an exact value just below the
    // smallest normal that rounds up to it may also be written as zero.
    let below = 2f64.powi(-126) * (1.0 - 2f64.powi(-30));
    assert!(
        judge(
            CheckSpec::Ulp { n: 4.0 },
            DType::F32,
            &[below],
            None,
            &[0.0],
            OUTPUTS
        )
        .passed
    );
}

#[test]
fn declared_input_flushing_passes_the_oracle_on_flushed_inputs_per_element() {
    // Relu and Add of a subnormal x: on the flushed inputs the results are
    // 0 and y. One element matches each expectation.
    let x = 3.0 * 2f64.powi(-140);
    let y = 1.5;
    let expected = [x, y + x, 2.0];
    let flushed = [0.0, y, 2.0];
    let actual = [0.0, y, 2.0];
    for check in kinds(DType::F32) {
        let c = judge(
            check,
            DType::F32,
            &expected,
            Some(&flushed),
            &actual,
            INPUTS,
        );
        assert!(c.passed, "{check}: {:?}", c.first_mismatch);
        // The same result without the declaration fails on the Relu
        // element at least (y + x rounds to y in f32).
        let c = judge(
            check,
            DType::F32,
            &expected,
            Some(&flushed),
            &actual,
            Flush::NONE,
        );
        assert!(!c.passed, "{check}: undeclared");
        assert_eq!(c.first_mismatch.unwrap().index, vec![0]);
        // A value wrong against both expectations still fails, and the
        // mismatch names the oracle on the given inputs.
        let c = judge(
            check,
            DType::F32,
            &expected,
            Some(&flushed),
            &[x, y, 2.5],
            INPUTS,
        );
        assert!(!c.passed, "{check}: 2.5 for 2");
        let m = c.first_mismatch.unwrap();
        assert_eq!((m.index, m.expected, m.actual), (vec![2], 2.0, 2.5));
        // Reading the input exactly remains correct.
        let c = judge(
            check,
            DType::F32,
            &expected,
            Some(&flushed),
            &[x, 1.5, 2.0],
            INPUTS,
        );
        assert!(c.passed, "{check}: unflushed result");
    }
}

#[test]
fn both_declared_allow_a_zero_where_the_flushed_result_is_subnormal() {
    // The given inputs give a normal result, the flushed ones a subnormal
    // (say x - y with a subnormal y read as zero), which the unit then
    // flushes on the way out.
    let e = 1.5 * 2f64.powi(-126);
    let flushed = 2f64.powi(-130);
    for check in kinds(DType::F32) {
        let only = |flush| judge(check, DType::F32, &[e], Some(&[flushed]), &[0.0], flush).passed;
        assert!(only(BOTH), "{check}");
        assert!(!only(INPUTS), "{check}: inputs only");
        assert!(!only(OUTPUTS), "{check}: outputs only");
        assert!(!only(Flush::NONE), "{check}: nothing declared");
    }
}

#[test]
fn input_flushing_takes_the_better_headroom_of_the_two() {
    let check = CheckSpec::Ulp { n: 4.0 };
    let e = [1.0];
    let flushed = [1.0 + 2f64.powi(-22)];
    // 2 ulps from the given-input oracle, exact for the flushed one.
    let a = [1.0 + 2f64.powi(-22)];
    let c = judge(check, DType::F32, &e, Some(&flushed), &a, INPUTS);
    assert!(c.passed);
    assert_eq!(c.headroom, 0.0);
    let c = judge(check, DType::F32, &e, Some(&flushed), &a, Flush::NONE);
    assert!((c.headroom - 0.5).abs() < 1e-12, "{}", c.headroom);
}

#[test]
fn tf32_widens_only_the_products_share() {
    use xpucert_abi::Precision;
    let u = Roundoff::declared(Precision::Tf32, DType::F32);
    assert_eq!(u.compute, unit_roundoff(DType::F32));
    assert_eq!(u.products, 2f64.powi(-11));
    assert_eq!(
        Roundoff::declared(Precision::Default, DType::F32).products,
        0.0
    );
    // One product a * b with both operands rounded to TF32: off by ~2^-11
    // relative, inside 4 u_tf32 |ab|, outside the f32 bound.
    let e = arr(&[1.0]);
    let m = arr(&[1.0]);
    let prod = arr(&[4.0]);
    let a = arr(&[1.0 + 2f64.powi(-11)]);
    let b = CheckSpec::Bound { c: 6.0 };
    let judged = |u: Roundoff, actual: &ArrayD<f64>| {
        compare_declared(
            b,
            DType::F32,
            u,
            Expected {
                value: &e,
                magnitude: Some(&m),
                io_magnitude: None,
                product_magnitude: Some(&prod),
            },
            actual,
            Flush::NONE,
            None,
        )
        .passed
    };
    assert!(judged(u, &a));
    assert!(!judged(Roundoff::compute(unit_roundoff(DType::F32)), &a));
    // bf16 operands (8 times TF32's u) declared as TF32 stay outside.
    assert!(!judged(u, &arr(&[1.0 + 2f64.powi(-7)])));
}
