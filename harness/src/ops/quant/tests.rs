use super::super::testutil::*;
use super::super::{Call, Value, evaluate};
use super::*;
use crate::ops::{AttrValue, Attributes, Op};

fn a(list: &[(&str, i64)]) -> Attributes {
    let v: Vec<(&str, AttrValue)> = list.iter().map(|&(k, v)| (k, AttrValue::Int(v))).collect();
    attrs(&v)
}

fn q(at: &Attributes, inputs: &[Value]) -> Value {
    run1("QuantizeLinear", at, inputs)
}

fn dq(at: &Attributes, inputs: &[Value]) -> Value {
    run1("DequantizeLinear", at, inputs)
}

fn scalar(dtype: DType, v: f64) -> Value {
    t(dtype, &[], &[v])
}

#[test]
fn uint8_by_default_rounds_half_to_even_and_saturates() {
    // x / 2 = 0.5, 1.5, 2.5, 3.5 -> 0, 2, 2, 4; -2 -> 0; 600 -> 255.
    let x = f(&[6], &[1.0, 3.0, 5.0, 7.0, -4.0, 1200.0]);
    let y = q(&Attributes::new(), &[x, scalar(DType::F32, 2.0)]);
    assert_eq!(y.dtype, DType::U8);
    close(&y.data, &[0.0, 2.0, 2.0, 4.0, 0.0, 255.0], 0.0);
}

#[test]
fn two_bit_targets_saturate_at_their_ranges_and_dequantize_back() {
    // x / 1 = -3, -1.5, -0.5, 0.5, 1.5, 3 -> -3, -2, -0, 0, 2, 3 (ties to
    // even); + zero point -1 -> -4, -3, -1, -1, 1, 2; int2 clamps to -2..=1.
    let x = f(&[6], &[-3.0, -1.5, -0.5, 0.5, 1.5, 3.0]);
    let one = scalar(DType::F32, 1.0);
    let y = q(
        &Attributes::new(),
        &[x.clone(), one.clone(), scalar(DType::I2, -1.0)],
    );
    assert_eq!(y.dtype, DType::I2);
    close(&y.data, &[-2.0, -2.0, -1.0, -1.0, 1.0, 1.0], 0.0);
    // uint2 by output_dtype (25 = UINT2), zero point 0: clamps to 0..=3.
    let y = q(&a(&[("output_dtype", 25)]), &[x, one]);
    assert_eq!(y.dtype, DType::U2);
    close(&y.data, &[0.0, 0.0, 0.0, 0.0, 2.0, 3.0], 0.0);
    // (x - zp) * scale over every int2 value.
    let codes = t(DType::I2, &[4], &[-2.0, -1.0, 0.0, 1.0]);
    let y = dq(
        &Attributes::new(),
        &[codes, scalar(DType::F32, 0.5), scalar(DType::I2, 1.0)],
    );
    close(&y.data, &[-1.5, -1.0, -0.5, 0.0], 0.0);
}

#[test]
fn zero_point_is_added_after_rounding() {
    // round(2.5) - 3 = -1; adding first would give round(-0.5) = 0.
    // round(-2.5) - 3 = -5, round(-3.5) - 3 = -7; saturation at both ends.
    let x = f(&[5], &[2.5, -2.5, -3.5, 1000.0, -1000.0]);
    let y = q(
        &Attributes::new(),
        &[x, scalar(DType::F32, 1.0), scalar(DType::I8, -3.0)],
    );
    assert_eq!(y.dtype, DType::I8);
    close(&y.data, &[-1.0, -5.0, -7.0, 127.0, -128.0], 0.0);
    // And +-Inf saturates like any out-of-range value.
    let x = f(&[2], &[f64::INFINITY, f64::NEG_INFINITY]);
    let y = q(
        &Attributes::new(),
        &[x, scalar(DType::F32, 1.0), scalar(DType::U8, 7.0)],
    );
    close(&y.data, &[255.0, 0.0], 0.0);
}

#[test]
fn one_element_scale_and_zero_point_are_per_tensor_whatever_their_rank() {
    // ONNX's test_quantizelinear_e4m3fn pairs a [1] zero point with a
    // scalar scale; both are per tensor. Both ways, and for DequantizeLinear.
    let x = f(&[3], &[1.0, 2.0, 4.0]);
    let y = q(
        &Attributes::new(),
        &[
            x.clone(),
            scalar(DType::F32, 2.0),
            t(DType::U8, &[1], &[3.0]),
        ],
    );
    close(&y.data, &[3.0, 4.0, 5.0], 0.0);
    let y = q(
        &Attributes::new(),
        &[x, f(&[1], &[2.0]), scalar(DType::U8, 3.0)],
    );
    close(&y.data, &[3.0, 4.0, 5.0], 0.0);
    let d = dq(
        &Attributes::new(),
        &[
            t(DType::U8, &[2], &[3.0, 5.0]),
            scalar(DType::F32, 0.5),
            t(DType::U8, &[1], &[1.0]),
        ],
    );
    close(&d.data, &[1.0, 2.0], 0.0);
}

#[test]
fn output_dtype_without_zero_point() {
    let x = f(&[3], &[-40000.0, 1.5, 40000.0]);
    let y = q(&a(&[("output_dtype", 5)]), &[x, scalar(DType::F32, 1.0)]);
    assert_eq!(y.dtype, DType::I16);
    close(&y.data, &[-32768.0, 2.0, 32767.0], 0.0);
}

#[test]
fn per_axis_along_any_axis() {
    // x [2, 3], axis 1 (default): scales [1, 2, 4], zero points [0, 10, 128].
    let x = f(&[2, 3], &[3.0, 3.0, 3.0, -6.0, 7.0, 10.0]);
    let s = f(&[3], &[1.0, 2.0, 4.0]);
    let z = t(DType::U8, &[3], &[0.0, 10.0, 128.0]);
    // 3/1=3; 3/2=1.5->2 +10=12; 3/4=0.75->1 +128=129;
    // -6 -> 0 (saturated); 7/2=3.5->4 +10=14; 10/4=2.5->2 +128=130.
    let want = [3.0, 12.0, 129.0, 0.0, 14.0, 130.0];
    let y = q(&Attributes::new(), &[x.clone(), s.clone(), z.clone()]);
    close(&y.data, &want, 0.0);
    let y = q(&a(&[("axis", -1)]), &[x.clone(), s, z]);
    close(&y.data, &want, 0.0);
    // axis 0: one scale per row.
    let y = q(
        &a(&[("axis", 0)]),
        &[x, f(&[2], &[1.0, 0.5]), t(DType::I8, &[2], &[0.0, -1.0])],
    );
    close(&y.data, &[3.0, 3.0, 3.0, -13.0, 13.0, 19.0], 0.0);
    // A one-element 1-D scale is per-tensor, whatever the axis.
    let y = q(
        &a(&[("axis", 0)]),
        &[f(&[2, 2], &[1.0, 2.0, 3.0, 4.0]), f(&[1], &[2.0])],
    );
    close(&y.data, &[0.0, 1.0, 2.0, 2.0], 0.0);
}

#[test]
fn blocked_with_a_short_last_block() {
    // x [1, 5], blocks of 2 along axis 1: scales [1, 10, 100].
    let x = f(&[1, 5], &[1.0, 2.0, 30.0, 40.0, 500.0]);
    let s = f(&[1, 3], &[1.0, 10.0, 100.0]);
    let y = q(&a(&[("block_size", 2)]), &[x.clone(), s.clone()]);
    close(&y.data, &[1.0, 2.0, 3.0, 4.0, 5.0], 0.0);
    // Dequantize inverts it, zero points blocked the same way.
    let z = t(DType::U8, &[1, 3], &[0.0, 1.0, 2.0]);
    let yq = q(&a(&[("block_size", 2)]), &[x, s.clone(), z.clone()]);
    close(&yq.data, &[1.0, 2.0, 4.0, 5.0, 7.0], 0.0);
    let back = dq(&a(&[("block_size", 2)]), &[yq, s, z]);
    close(&back.data, &[1.0, 2.0, 30.0, 40.0, 500.0], 0.0);
}

#[test]
fn fp8_targets_saturate_or_not() {
    // 464 is the tie between 448 and the out-of-range code: to even (448).
    // 0.3 = 1.2 * 2^-2 rounds to 1.25 * 2^-2 = 0.3125.
    let x = f(
        &[7],
        &[500.0, -1e4, 464.0, 465.0, f64::INFINITY, f64::NAN, 0.6],
    );
    let s = scalar(DType::F32, 2.0);
    let e4 = |sat| {
        q(
            &a(&[("output_dtype", 17), ("saturate", sat)]),
            &[x.clone(), s.clone()],
        )
    };
    let y = e4(1);
    assert_eq!(y.dtype, DType::F8E4M3FN);
    // x / 2: 250 -> 256, -5000 -> -448, 232 -> 224 (tie to even), 232.5 -> 240.
    close(
        &y.data,
        &[256.0, -448.0, 224.0, 240.0, 448.0, f64::NAN, 0.3125],
        0.0,
    );
    let y = q(
        &a(&[("output_dtype", 17)]),
        &[f(&[3], &[928.0, 929.0, -1e9]), scalar(DType::F32, 2.0)],
    );
    close(&y.data, &[448.0, 448.0, -448.0], 0.0);
    let y = e4(0);
    close(
        &y.data,
        &[256.0, f64::NAN, 224.0, 240.0, f64::NAN, f64::NAN, 0.3125],
        0.0,
    );
    // E5M2: 61440 is the tie above 57344 (odd code): IEEE gives Inf.
    let x = f(&[4], &[60000.0, 61440.0, -1e6, f64::INFINITY]);
    let y = q(
        &a(&[("output_dtype", 19)]),
        &[x.clone(), scalar(DType::F32, 1.0)],
    );
    close(&y.data, &[57344.0, 57344.0, -57344.0, 57344.0], 0.0);
    let y = q(
        &a(&[("output_dtype", 19), ("saturate", 0)]),
        &[x, scalar(DType::F32, 1.0)],
    );
    close(
        &y.data,
        &[57344.0, f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY],
        0.0,
    );
    // A zero fp8 zero point selects the type.
    let y = q(
        &Attributes::new(),
        &[
            f(&[1], &[3.0]),
            scalar(DType::F32, 4.0),
            scalar(DType::F8E5M2, 0.0),
        ],
    );
    assert_eq!(y.dtype, DType::F8E5M2);
    close(&y.data, &[0.75], 0.0);
}

#[test]
fn one_rounding_of_the_exact_quotient() {
    // 0.35f32 / 0.1f32 = 3.49999988...: exactly 3. Dividing in f32 first
    // gives 3.5 and then 4 (the reason the suites avoid near-ties).
    // Before 23 (which leaves the division's precision open) the oracle
    // rounds the exact quotient once; from 23 the division is in y_scale's
    // type (here f32), so 4 is the specified result.
    let (x, s) = (0.35f32, 0.1f32);
    let inputs = [
        Some(f(&[1], &[f64::from(x)])),
        Some(scalar(DType::F32, f64::from(s))),
    ];
    let y = run_at("QuantizeLinear", 21, &Attributes::new(), &inputs).unwrap();
    assert_eq!(y[0].value.data[[0]], 3.0);
    let y = run_at("QuantizeLinear", 24, &Attributes::new(), &inputs).unwrap();
    assert_eq!(y[0].value.data[[0]], 4.0);
    assert_eq!((x / s).round_ties_even(), 4.0);
    assert_eq!((x * (1.0 / s)).round_ties_even(), 4.0);
    // f16 x and scale, exact ties: 2.5 / 1 -> 2, 3.5 -> 4.
    let y = q(
        &Attributes::new(),
        &[t(DType::F16, &[2], &[2.5, 3.5]), scalar(DType::F16, 1.0)],
    );
    close(&y.data, &[2.0, 4.0], 0.0);
    // int32 x and scale are divided exactly: 7 / 2 = 3.5 -> 4, 5 / 2 -> 2,
    // -7 / 2 -> -4, and 2^31-1 / 2 = 1073741823.5 -> even 1073741824,
    // saturated to 255.
    let y = q(
        &Attributes::new(),
        &[
            t(DType::I32, &[3], &[7.0, 5.0, 2147483647.0]),
            scalar(DType::I32, 2.0),
        ],
    );
    close(&y.data, &[4.0, 2.0, 255.0], 0.0);
    assert_eq!(div_round_half_even(-7, 2), -4);
    assert_eq!(div_round_half_even(7, -2), -4);
    assert_eq!(div_round_half_even(-5, 2), -2);
    assert_eq!(div_round_half_even(2147483647, 2), 1073741824);
    assert_eq!(div_round_half_even(10, 4), 2);
    assert_eq!(div_round_half_even(11, 4), 3);
}

#[test]
fn dequantize_per_tensor_per_axis_and_fp8() {
    let y = dq(
        &Attributes::new(),
        &[
            t(DType::U8, &[3], &[0.0, 128.0, 255.0]),
            scalar(DType::F32, 0.5),
            scalar(DType::U8, 128.0),
        ],
    );
    assert_eq!(y.dtype, DType::F32);
    close(&y.data, &[-64.0, 0.0, 63.5], 0.0);
    // int8 per axis 0, f16 scale: output f16.
    let y = dq(
        &a(&[("axis", 0)]),
        &[
            t(DType::I8, &[2, 2], &[-128.0, 127.0, -1.0, 1.0]),
            t(DType::F16, &[2], &[0.25, 2.0]),
            t(DType::I8, &[2], &[0.0, -1.0]),
        ],
    );
    assert_eq!(y.dtype, DType::F16);
    close(&y.data, &[-32.0, 31.75, 0.0, 4.0], 0.0);
    // fp8 values keep NaN and Inf; no zero point.
    let y = dq(
        &Attributes::new(),
        &[
            t(
                DType::F8E5M2,
                &[4],
                &[57344.0, f64::NEG_INFINITY, f64::NAN, 0.75],
            ),
            scalar(DType::BF16, 0.5),
        ],
    );
    assert_eq!(y.dtype, DType::BF16);
    close(&y.data, &[28672.0, f64::NEG_INFINITY, f64::NAN, 0.375], 0.0);
}

#[test]
fn round_trips_on_the_grid() {
    // Every uint8 code dequantizes and quantizes back to itself.
    let codes: Vec<f64> = (0..=255).map(f64::from).collect();
    let x = t(DType::U8, &[256], &codes);
    let (s, z) = (scalar(DType::F32, 0.0078125), scalar(DType::U8, 77.0));
    let real = dq(&Attributes::new(), &[x, s.clone(), z.clone()]);
    let back = q(
        &Attributes::new(),
        &[Value::new(DType::F32, real.data), s, z],
    );
    close(&back.data, &codes, 0.0);
    // And every finite E4M3FN value through scale 4 (exact in f32).
    let vals: Vec<f64> = (0..=255u8)
        .map(|c| to_f64_bits(DType::F8E4M3FN, &[c]))
        .filter(|v| v.is_finite())
        .collect();
    let n = vals.len();
    let x = t(DType::F8E4M3FN, &[n], &vals);
    let s = scalar(DType::F32, 4.0);
    let real = dq(&Attributes::new(), &[x, s.clone()]);
    let back = q(
        &a(&[("output_dtype", 17)]),
        &[Value::new(DType::F32, real.data), s],
    );
    close(&back.data, &vals, 0.0);
}

#[test]
fn fp8_conversion_matches_cast() {
    // Cast and QuantizeLinear (scale 1) must agree on every fp8 rule.
    let xs = [
        0.0,
        -0.0,
        0.1,
        1.0625,
        240.0,
        449.0,
        464.0,
        464.5,
        57000.0,
        61440.0,
        1e9,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        2f64.powi(-10),
        -2f64.powi(-17),
    ];
    for dtype in [DType::F8E4M3FN, DType::F8E5M2] {
        for sat in [0, 1] {
            let x = f(&[xs.len()], &xs);
            let c = run1(
                "Cast",
                &a(&[("to", i64::from(dtype.code())), ("saturate", sat)]),
                std::slice::from_ref(&x),
            );
            let y = q(
                &a(&[("output_dtype", i64::from(dtype.code())), ("saturate", sat)]),
                &[x, scalar(DType::F32, 1.0)],
            );
            for (k, (&u, &v)) in c.data.iter().zip(&y.data).enumerate() {
                assert!(
                    u.to_bits() == v.to_bits() || (u.is_nan() && v.is_nan()),
                    "{dtype} saturate={sat} x={}: Cast {u}, QuantizeLinear {v}",
                    xs[k]
                );
            }
        }
    }
}

#[test]
fn configuration_errors() {
    let x = f(&[2, 3], &[0.0; 6]);
    let s = scalar(DType::F32, 1.0);
    let some = |v: &[Value]| -> Vec<Option<Value>> { v.iter().cloned().map(Some).collect() };
    let qf =
        |at: &Attributes, v: &[Value], needle: &str| fails("QuantizeLinear", at, &some(v), needle);
    let dqf = |at: &Attributes, v: &[Value], needle: &str| {
        fails("DequantizeLinear", at, &some(v), needle)
    };
    qf(
        &a(&[("block_size", -1)]),
        &[x.clone(), s.clone()],
        "block_size must be >= 0",
    );
    qf(
        &Attributes::new(),
        &[x.clone(), f(&[2], &[1.0, 1.0])],
        "1-D with 3 elements",
    );
    qf(
        &a(&[("axis", 2)]),
        &[x.clone(), f(&[3], &[1.0; 3])],
        "axis 2 is out of range",
    );
    qf(
        &a(&[("block_size", 2)]),
        &[x.clone(), f(&[2, 1], &[1.0, 1.0])],
        "of shape [2, 2]",
    );
    qf(
        &Attributes::new(),
        &[x.clone(), scalar(DType::F32, 0.0)],
        "finite and nonzero",
    );
    // x and y_scale share T1 before 23 (separate types from 23).
    let at21 = run_at(
        "QuantizeLinear",
        21,
        &Attributes::new(),
        &[Some(x.clone()), Some(scalar(DType::F16, 1.0))],
    );
    assert!(
        at21.unwrap_err().to_string().contains("same dtype"),
        "QuantizeLinear-21 with an f16 scale for f32 x"
    );
    assert_eq!(
        q(&Attributes::new(), &[x.clone(), scalar(DType::F16, 1.0)]).dtype,
        DType::U8
    );
    qf(
        &Attributes::new(),
        &[t(DType::I8, &[1], &[1.0]), scalar(DType::I8, 1.0)],
        "must be one of (type T1: f32, f16, bf16, i32), got i8",
    );
    qf(
        &Attributes::new(),
        &[x.clone(), s.clone(), scalar(DType::F8E4M3FN, 1.0)],
        "must be 0 for f8e4m3fn",
    );
    qf(
        &a(&[("output_dtype", 3)]),
        &[x.clone(), s.clone(), scalar(DType::U8, 0.0)],
        "must match the dtype of y_zero_point",
    );
    qf(
        &a(&[("output_dtype", 1)]),
        &[x.clone(), s.clone()],
        "not a quantized type",
    );
    qf(
        &a(&[("output_dtype", 99)]),
        &[x.clone(), s.clone()],
        "output_dtype = 99",
    );
    // int2 (26) is a quantized type from opset 25 only.
    let int2 = |opset| {
        run_at(
            "QuantizeLinear",
            opset,
            &a(&[("output_dtype", 26)]),
            &[Some(x.clone()), Some(s.clone())],
        )
    };
    let e = int2(24).unwrap_err().to_string();
    assert!(e.contains("output_dtype"), "{e}");
    assert_eq!(int2(25).unwrap()[0].value.dtype, DType::I2);
    qf(
        &Attributes::new(),
        &[f(&[1], &[f64::NAN]), s.clone()],
        "NaN",
    );
    dqf(
        &Attributes::new(),
        &[x.clone(), s.clone()],
        "input x must be one of (type T1: i32, i8, u8",
    );
    dqf(
        &Attributes::new(),
        &[t(DType::U8, &[1], &[1.0]), scalar(DType::I32, 1.0)],
        "input x_scale must be one of (type T2: f32, f16, bf16, f8e8m0)",
    );
    dqf(
        &Attributes::new(),
        &[
            t(DType::U8, &[1], &[1.0]),
            s.clone(),
            scalar(DType::I8, 0.0),
        ],
        "same dtype",
    );
    dqf(
        &Attributes::new(),
        &[
            t(DType::I32, &[1], &[1.0]),
            s.clone(),
            scalar(DType::I32, 5.0),
        ],
        "must be 0 for i32",
    );
    // A per-axis scale needs an axis, which a scalar x does not have.
    qf(
        &Attributes::new(),
        &[scalar(DType::F32, 1.0), f(&[2], &[1.0, 1.0])],
        "x is a scalar (rank 0) and has no axis 1",
    );
    // The zero point has the scale's shape (ONNX: "Shape must match y_scale").
    qf(
        &Attributes::new(),
        &[x.clone(), s.clone(), t(DType::U8, &[3], &[0.0; 3])],
        "y_zero_point must have the shape of y_scale []",
    );
    qf(
        &a(&[("saturate", 2)]),
        &[x.clone(), s.clone()],
        "saturate must be 0 or 1",
    );
}

/// The strategies a correct backend may use for `x / scale`: the
/// division in f32 (ONNX's reference, in the scale's type), a
/// multiplication by an f32 reciprocal, and for f16 inputs the division
/// in f16.
fn backend_quotients(dtype: DType) -> Vec<(&'static str, Quotient)> {
    let mut v: Vec<(&'static str, Quotient)> = vec![
        ("f32 division", |x, s| f64::from(x as f32 / s as f32)),
        ("f32 reciprocal", |x, s| {
            f64::from(x as f32 * (1.0 / s as f32))
        }),
    ];
    if dtype == DType::F16 {
        v.push(("f16 division", |x, s| {
            crate::numerics::round_to(DType::F16, x / s)
        }));
    }
    v
}

#[test]
fn core_suite_has_no_near_ties() {
    // Every QuantizeLinear case of the core suite must give the same
    // result whichever honest quotient a backend forms (module docs):
    // otherwise its exact check would fail a correct backend.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/ops/core.yaml");
    let suite = crate::suite::load(&path).expect("core suite loads");
    let mut checked = 0;
    for case in suite.cases.iter().filter(|c| c.op.name == "QuantizeLinear") {
        let inputs: Vec<Option<Value>> = crate::suite::generate_inputs(case)
            .into_iter()
            .map(|t| t.map(|t| Value::new(t.dtype, t.to_f64())))
            .collect();
        let spec = Op::QuantizeLinear.spec();
        let refs: Vec<Option<&Value>> = inputs.iter().map(Option::as_ref).collect();
        let call = Call {
            spec,
            attrs: &case.attributes,
            inputs: &refs,
            magnitudes: true,
            requested: None,
        };
        let exact = evaluate(Op::QuantizeLinear, &case.attributes, &inputs)
            .unwrap_or_else(|e| panic!("{}: {e}", case.id))
            .remove(0)
            .value;
        for (name, qf) in backend_quotients(case.dtype) {
            let other = quantize_with(&call, qf, spec.opset).unwrap().value;
            let diff = exact
                .data
                .iter()
                .zip(&other.data)
                .position(|(a, b)| a != b && !(a.is_nan() && b.is_nan()));
            assert!(
                diff.is_none(),
                "{}: element {} is a near-tie ({name} gives {}, exact {})",
                case.id,
                diff.unwrap_or(0),
                other.data.iter().nth(diff.unwrap_or(0)).unwrap(),
                exact.data.iter().nth(diff.unwrap_or(0)).unwrap(),
            );
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} QuantizeLinear cases");
}
