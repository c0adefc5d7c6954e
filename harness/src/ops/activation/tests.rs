//! Oracle unit tests of the activation family, values derived by hand (or
//! quoted from the ONNX operator documentation's examples).

use super::super::testutil::*;
use super::super::{AttrValue, Attributes, Value};
use crate::numerics::DType;

fn none() -> Attributes {
    Attributes::new()
}

fn float(name: &str, v: f64) -> (&str, AttrValue) {
    (name, AttrValue::Float(v))
}

fn at(op: &str, opset: i64, a: &Attributes, inputs: &[Option<Value>]) -> Value {
    let mut out = run_at(op, opset, a, inputs).unwrap_or_else(|e| panic!("{e}"));
    out.remove(0).value
}

fn bits(v: &Value) -> Vec<u64> {
    v.data.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn clip_versions() {
    let x = f(&[5], &[-2.0, -0.5, 0.0, 0.7, 3.0]);
    let lo = f(&[], &[-1.0]);
    let hi = f(&[], &[1.0]);
    // ONNX's example: clip([-2, 0, 2], -1, 1) = [-1, 0, 1].
    let y = run1("Clip", &none(), &[x.clone(), lo.clone(), hi.clone()]);
    close(&y.data, &[-1.0, -0.5, 0.0, 0.7, 1.0], 0.0);
    // Min only; max only (min omitted); neither.
    let y = at("Clip", 13, &none(), &[Some(x.clone()), Some(lo.clone())]);
    close(&y.data, &[-1.0, -0.5, 0.0, 0.7, 3.0], 0.0);
    let y = at(
        "Clip",
        11,
        &none(),
        &[Some(x.clone()), None, Some(hi.clone())],
    );
    close(&y.data, &[-2.0, -0.5, 0.0, 0.7, 1.0], 0.0);
    let y = at("Clip", 12, &none(), &[Some(x.clone())]);
    close(&y.data, &[-2.0, -0.5, 0.0, 0.7, 3.0], 0.0);
    // min > max: every element becomes max.
    let y = run1("Clip", &none(), &[x.clone(), hi.clone(), lo.clone()]);
    close(&y.data, &[-1.0; 5], 0.0);
    // Clip-6 takes attributes; its inputs are refused.
    let a = attrs(&[float("min", -1.0), float("max", 0.5)]);
    let y = at("Clip", 6, &a, &[Some(x.clone())]);
    close(&y.data, &[-1.0, -0.5, 0.0, 0.5, 0.5], 0.0);
    let y = at("Clip", 10, &none(), &[Some(f(&[2], &[-1e39, 1e39]))]);
    close(&y.data, &[f64::from(f32::MIN), f64::from(f32::MAX)], 0.0);
    assert!(run_at("Clip", 6, &none(), &[Some(x.clone()), Some(lo.clone())]).is_err());
    assert!(run_at("Clip", 13, &a, &[Some(x.clone())]).is_err());
    // Integers from Clip-12, not in Clip-11.
    let xi = t(DType::I32, &[3], &[-50.0, 5.0, 50.0]);
    let y = run1(
        "Clip",
        &none(),
        &[
            xi.clone(),
            t(DType::I32, &[], &[-10.0]),
            t(DType::I32, &[], &[10.0]),
        ],
    );
    close(&y.data, &[-10.0, 5.0, 10.0], 0.0);
    assert!(run_at("Clip", 11, &none(), &[Some(xi)]).is_err());
    // NaN stays NaN (np.clip); a bound of shape [1] is taken as a scalar;
    // a longer one is refused.
    let y = run1(
        "Clip",
        &none(),
        &[f(&[1], &[f64::NAN]), f(&[1], &[0.0]), hi.clone()],
    );
    assert!(y.data[[0]].is_nan());
    fails(
        "Clip",
        &none(),
        &[Some(x), Some(f(&[2], &[0.0, 1.0]))],
        "input min must be a scalar",
    );
}

#[test]
fn relu_family() {
    let x = f(&[4], &[-2.0, -0.5, 0.0, 1.5]);
    // Elu, alpha 1: e^-2 - 1 = -0.8646647167633873, e^-0.5 - 1 = -0.3934693402873666.
    let y = run1("Elu", &none(), std::slice::from_ref(&x));
    close(
        &y.data,
        &[-0.864_664_716_763_387_3, -0.393_469_340_287_366_6, 0.0, 1.5],
        1e-15,
    );
    // Elu near 0 keeps its relative accuracy (expm1): -1e-10 -> -9.9999999995e-11.
    let y = run1("Elu", &none(), &[t(DType::F64, &[1], &[-1e-10])]);
    close(&y.data, &[-9.999_999_999_5e-11], 1e-15);
    // Selu: gamma x; gamma alpha (e^x - 1), with the f32 constants.
    let y = run1("Selu", &none(), std::slice::from_ref(&x));
    let (a, g) = (f64::from(1.673_263_2f32), f64::from(1.050_701f32));
    close(
        &y.data,
        &[
            g * a * (-2f64).exp_m1(),
            g * a * (-0.5f64).exp_m1(),
            0.0,
            g * 1.5,
        ],
        1e-15,
    );
    // Celu, alpha 2: 2 (e^(-1) - 1) = -1.2642411176571153.
    let y = run1(
        "Celu",
        &attrs(&[float("alpha", 2.0)]),
        std::slice::from_ref(&x),
    );
    close(
        &y.data,
        &[
            -1.264_241_117_657_115_3,
            2.0 * (-0.25f64).exp_m1(),
            0.0,
            1.5,
        ],
        1e-15,
    );
    fails(
        "Celu",
        &attrs(&[float("alpha", 0.0)]),
        &[Some(x.clone())],
        "alpha must not be 0",
    );
    // LeakyRelu: default alpha is 0.01 as an f32.
    let y = run1("LeakyRelu", &none(), std::slice::from_ref(&x));
    let alpha = f64::from(0.01f32);
    close(&y.data, &[-2.0 * alpha, -0.5 * alpha, 0.0, 1.5], 0.0);
    // ThresholdedRelu: strictly greater than alpha (1): 1 itself gives 0.
    let y = run1(
        "ThresholdedRelu",
        &none(),
        &[f(&[4], &[0.5, 1.0, 1.5, -3.0])],
    );
    close(&y.data, &[0.0, 0.0, 1.5, 0.0], 0.0);
    // Shrink, ONNX's hard_shrink example: lambd 1.5 on [-2, -1, 0, 1, 2].
    let r = f(&[5], &[-2.0, -1.0, 0.0, 1.0, 2.0]);
    let y = run1(
        "Shrink",
        &attrs(&[float("lambd", 1.5)]),
        std::slice::from_ref(&r),
    );
    close(&y.data, &[-2.0, 0.0, 0.0, 0.0, 2.0], 0.0);
    // soft_shrink: lambd 1.5, bias 1.5 -> [-0.5, 0, 0, 0, 0.5].
    let a = attrs(&[float("lambd", 1.5), float("bias", 1.5)]);
    let y = run1("Shrink", &a, &[r]);
    close(&y.data, &[-0.5, 0.0, 0.0, 0.0, 0.5], 0.0);
    // Integer Shrink truncates toward zero: -3 + 0.5 = -2.5 -> -2.
    let a = attrs(&[float("bias", 0.5)]);
    let y = run1("Shrink", &a, &[t(DType::I32, &[3], &[-3.0, 0.0, 3.0])]);
    close(&y.data, &[-2.0, 0.0, 2.0], 0.0);
    // NaN propagates through these ...
    for op in ["Elu", "Selu", "Celu", "LeakyRelu", "Shrink"] {
        let y = run1(op, &none(), &[f(&[1], &[f64::NAN])]);
        assert!(y.data[[0]].is_nan(), "{op}");
    }
    // ... but ThresholdedRelu's NaN is not above alpha: 0, as ONNX's
    // reference (np.where(x > alpha, x, 0)) gives.
    let y = run1("ThresholdedRelu", &none(), &[f(&[1], &[f64::NAN])]);
    close(&y.data, &[0.0], 0.0);
}

#[test]
fn prelu_broadcasts_the_slope_one_way() {
    // X [2, 3], slope per column [3].
    let x = f(&[2, 3], &[-1.0, 2.0, -3.0, 4.0, -5.0, -6.0]);
    let s = f(&[3], &[0.5, 0.25, 2.0]);
    let y = run1("PRelu", &none(), &[x.clone(), s]);
    close(&y.data, &[-0.5, 2.0, -6.0, 4.0, -1.25, -12.0], 0.0);
    // A per-channel slope [2, 1] on [2, 3].
    let s = f(&[2, 1], &[0.5, 2.0]);
    let y = run1("PRelu", &none(), &[x.clone(), s]);
    close(&y.data, &[-0.5, 2.0, -1.5, 4.0, -10.0, -12.0], 0.0);
    // The slope may not be larger than X (unidirectional).
    fails(
        "PRelu",
        &none(),
        &[
            Some(f(&[3], &[-1.0, 1.0, 2.0])),
            Some(f(&[2, 3], &[1.0; 6])),
        ],
        "cannot be broadcast",
    );
    // Integers wrap: -2^31 * 2 = 0 in int32.
    let y = run1(
        "PRelu",
        &none(),
        &[
            t(DType::I32, &[2], &[-2_147_483_648.0, -3.0]),
            t(DType::I32, &[], &[2.0]),
        ],
    );
    close(&y.data, &[0.0, -6.0], 0.0);
}

#[test]
fn gates() {
    let x = f(&[5], &[-4.0, -1.0, 0.0, 1.0, 4.0]);
    // HardSigmoid, alpha 0.2, beta 0.5 (as f32s): clamp(0.2 x + 0.5).
    let y = run1("HardSigmoid", &none(), std::slice::from_ref(&x));
    let a = f64::from(0.2f32);
    close(&y.data, &[0.0, 0.5 - a, 0.5, 0.5 + a, 1.0], 0.0);
    // PyTorch's 1/6 differs: 1/6 + 0.5 = 0.6666... at x = 1.
    assert!((y.data[[3]] - (1.0 / 6.0 + 0.5)).abs() > 0.03);
    // HardSwish: x clamp(x/6 + 1/2): -4 -> 0, -1 -> -1/3, 1 -> 2/3, 4 -> 4.
    let y = run1("HardSwish", &none(), std::slice::from_ref(&x));
    close(&y.data, &[0.0, -1.0 / 3.0, 0.0, 2.0 / 3.0, 4.0], 1e-16);
    // Mish(1) = tanh(ln(1 + e)) = 0.8650983882673103; Mish(-1) = -tanh(ln(1 + 1/e))
    // = -0.30340146137410895.
    let y = run1("Mish", &none(), &[f(&[3], &[1.0, -1.0, 0.0])]);
    close(
        &y.data,
        &[0.865_098_388_267_310_3, -0.303_401_461_374_108_95, 0.0],
        1e-15,
    );
    // The negative tail: mish(-40) ~ -40 e^-40 = -1.6993417021166355e-16.
    let y = run1("Mish", &none(), &[t(DType::F64, &[1], &[-40.0])]);
    close(&y.data, &[-1.699_341_702_116_635_5e-16], 1e-14);
    // Softsign: x / (1 + |x|).
    let y = run1("Softsign", &none(), &[f(&[3], &[-3.0, 0.0, 1.0])]);
    close(&y.data, &[-0.75, 0.0, 0.5], 0.0);
}

#[test]
fn rounding_ops() {
    let x = f(&[9], &[2.5, 1.5, -2.5, -0.5, 0.5, 2.3, -4.5, 0.9, f64::NAN]);
    // Round: halves to even (ONNX's examples: 2.5 -> 2, 1.5 -> 2, -4.5 -> -4).
    let y = run1("Round", &none(), std::slice::from_ref(&x));
    close(
        &y.data,
        &[2.0, 2.0, -2.0, -0.0, 0.0, 2.0, -4.0, 1.0, f64::NAN],
        0.0,
    );
    assert_eq!(
        y.data[[3]].to_bits(),
        (-0.0f64).to_bits(),
        "-0.5 rounds to -0"
    );
    let y = run1("Ceil", &none(), std::slice::from_ref(&x));
    close(
        &y.data,
        &[3.0, 2.0, -2.0, -0.0, 1.0, 3.0, -4.0, 1.0, f64::NAN],
        0.0,
    );
    let y = run1("Floor", &none(), std::slice::from_ref(&x));
    close(
        &y.data,
        &[2.0, 1.0, -3.0, -1.0, 0.0, 2.0, -5.0, 0.0, f64::NAN],
        0.0,
    );
    let y = run1(
        "Sign",
        &none(),
        &[f(&[5], &[-3.0, -0.0, 0.0, 2.0, f64::NAN])],
    );
    close(&y.data, &[-1.0, 0.0, 0.0, 1.0, f64::NAN], 0.0);
    assert_eq!(bits(&y)[1], 0, "Sign(-0) is +0, as numpy's");
    // Abs and Sign on integers: int8's -128 wraps to itself.
    let y = run1("Abs", &none(), &[t(DType::I8, &[3], &[-128.0, -5.0, 7.0])]);
    close(&y.data, &[-128.0, 5.0, 7.0], 0.0);
    let y = run1("Sign", &none(), &[t(DType::U8, &[2], &[0.0, 200.0])]);
    close(&y.data, &[0.0, 1.0], 0.0);
    // Round-11 has no bfloat16; Round-22 has.
    let b = t(DType::BF16, &[1], &[0.5]);
    assert!(run_at("Round", 11, &none(), &[Some(b.clone())]).is_err());
    close(&at("Round", 22, &none(), &[Some(b)]).data, &[0.0], 0.0);
}

#[test]
fn trigonometric_and_hyperbolic() {
    let x = f(&[2], &[0.5, -1.0]);
    let get = |op: &str, x: &Value| run1(op, &none(), std::slice::from_ref(x)).data;
    close(
        &get("Sin", &x),
        &[0.479_425_538_604_203, -0.841_470_984_807_896_5],
        1e-15,
    );
    close(
        &get("Cos", &x),
        &[0.877_582_561_890_372_8, 0.540_302_305_868_139_8],
        1e-15,
    );
    close(
        &get("Tan", &x),
        &[0.546_302_489_843_790_5, -1.557_407_724_654_902_3],
        1e-15,
    );
    close(
        &get("Asin", &x),
        &[0.523_598_775_598_298_8, -std::f64::consts::FRAC_PI_2],
        1e-15,
    );
    close(
        &get("Acos", &x),
        &[1.047_197_551_196_597_7, std::f64::consts::PI],
        1e-15,
    );
    close(
        &get("Atan", &x),
        &[0.463_647_609_000_806_1, -std::f64::consts::FRAC_PI_4],
        1e-15,
    );
    close(
        &get("Sinh", &x),
        &[0.521_095_305_493_747_4, -1.175_201_193_643_801_4],
        1e-15,
    );
    close(
        &get("Cosh", &x),
        &[1.127_625_965_206_380_8, 1.543_080_634_815_243_7],
        1e-15,
    );
    close(
        &get("Asinh", &x),
        &[0.481_211_825_059_603_4, -0.881_373_587_019_543],
        1e-15,
    );
    close(
        &get("Atanh", &x),
        &[0.549_306_144_334_054_8, f64::NEG_INFINITY],
        1e-15,
    );
    let y = get("Acosh", &f(&[3], &[1.0, 2.0, 0.5]));
    close(&y, &[0.0, 1.316_957_896_924_816_7, f64::NAN], 1e-15);
    // Out of domain: NaN.
    assert!(get("Asin", &f(&[1], &[1.5])).iter().all(|v| v.is_nan()));
    assert!(get("Atanh", &f(&[1], &[-2.0])).iter().all(|v| v.is_nan()));
    // A large argument, reduced exactly: sin(1e22) = -0.8522008497671888.
    let y = get("Sin", &t(DType::F64, &[1], &[1e22]));
    close(&y, &[-0.852_200_849_767_188_8], 1e-15);
    // The older versions have the same semantics.
    let y = at("Cosh", 9, &none(), &[Some(f(&[1], &[0.0]))]);
    close(&y.data, &[1.0], 0.0);
}

#[test]
fn classifiers_and_not() {
    let x = f(
        &[6],
        &[
            -1.2,
            f64::NAN,
            f64::INFINITY,
            2.8,
            f64::NEG_INFINITY,
            f64::INFINITY,
        ],
    );
    // ONNX's IsInf examples: both signs, positive only, negative only.
    let y = run1("IsInf", &none(), std::slice::from_ref(&x));
    assert_eq!(y.dtype, DType::Bool);
    close(&y.data, &[0.0, 0.0, 1.0, 0.0, 1.0, 1.0], 0.0);
    let a = attrs(&[("detect_negative", AttrValue::Int(0))]);
    close(
        &run1("IsInf", &a, std::slice::from_ref(&x)).data,
        &[0.0, 0.0, 1.0, 0.0, 0.0, 1.0],
        0.0,
    );
    let a = attrs(&[("detect_positive", AttrValue::Int(0))]);
    close(
        &run1("IsInf", &a, std::slice::from_ref(&x)).data,
        &[0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        0.0,
    );
    let y = run1("IsNaN", &none(), std::slice::from_ref(&x));
    close(&y.data, &[0.0, 1.0, 0.0, 0.0, 0.0, 0.0], 0.0);
    // IsInf-10 takes only float and double; IsInf-20 every float.
    let h = t(DType::F16, &[1], &[1.0]);
    assert!(run_at("IsInf", 10, &none(), &[Some(h.clone())]).is_err());
    close(&at("IsInf", 20, &none(), &[Some(h)]).data, &[0.0], 0.0);
    let y = run1("Not", &none(), &[t(DType::Bool, &[3], &[1.0, 0.0, 1.0])]);
    assert_eq!(y.dtype, DType::Bool);
    close(&y.data, &[0.0, 1.0, 0.0], 0.0);
    fails("Not", &none(), &[Some(f(&[1], &[1.0]))], "must be one of");
}

#[test]
fn float_attributes_are_read_as_f32() {
    // 0.1 as an ONNX float attribute is 0.100000001490116...
    let a = attrs(&[float("alpha", 0.1)]);
    let y = run1("LeakyRelu", &a, &[t(DType::F64, &[1], &[-1.0])]);
    assert_eq!(y.data[[0]], -f64::from(0.1f32));
}

#[test]
fn older_versions_resolve_for_opset_11_models() {
    use crate::ops::Op;
    for name in [
        "Clip",
        "Elu",
        "Selu",
        "LeakyRelu",
        "PRelu",
        "HardSigmoid",
        "Softsign",
        "Abs",
        "Ceil",
        "Floor",
        "Round",
        "Sign",
        "Sin",
        "Cos",
        "Tan",
        "Asin",
        "Acos",
        "Atan",
        "Sinh",
        "Cosh",
        "Asinh",
        "Acosh",
        "Atanh",
        "IsNaN",
        "IsInf",
        "Not",
        "ThresholdedRelu",
        "Shrink",
    ] {
        let op = Op::from_name(name).expect("registered");
        assert!(
            op.def_at(11).is_some(),
            "{name} has no version for opset 11"
        );
    }
    // Clip at opset 11 takes inputs, at 10 attributes.
    let op = Op::from_name("Clip").unwrap();
    assert_eq!(op.def_at(11).unwrap().spec.opset, 11);
    assert_eq!(op.def_at(10).unwrap().spec.opset, 6);
}
