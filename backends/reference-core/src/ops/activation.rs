//! Activations and unary elementwise math (issue 17): Clip, the ReLU family,
//! HardSigmoid/HardSwish/Mish/Softsign, Abs/Ceil/Floor/Round/Sign, the
//! trigonometric and hyperbolic functions, IsNaN/IsInf and Not.
//!
//! Every float op computes in f64 and rounds once to the output dtype, so
//! the one-operation ops (LeakyRelu's and PRelu's product, Shrink's sum) are
//! correctly rounded for every float dtype (an f32 product of two f32s is
//! exact in f64), and the transcendental ones are within an ulp. Integer
//! ops compute in i128 and wrap to the dtype, as two's-complement hardware
//! does. ONNX float attributes are 32-bit floats, so each is read as f32.

use xpucert_abi::{BackendError, DType};

use super::Args;
use super::elementwise::zip_broadcast;
use crate::tensor::{Data, Tensor};

/// Runs one op of the family at `opset` (Clip-6 reads attributes where
/// Clip-11 and later read inputs; the other versions differ only in types).
pub fn run(args: &Args<'_>, opset: i64) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    match args.op {
        "Clip" if opset < 11 => {
            let lo = f64::from(attr(args, "min", f32::MIN)?);
            let hi = f64::from(attr(args, "max", f32::MAX)?);
            map_float(x, |v| clamp(v, lo, hi))
        }
        "Clip" => clip(args, x),
        "PRelu" => prelu(args, x),
        "IsNaN" => classify(x, f64::is_nan),
        "IsInf" => {
            let neg = args.attrs.int("detect_negative", 1)? != 0;
            let pos = args.attrs.int("detect_positive", 1)? != 0;
            classify(x, move |v| {
                (v == f64::INFINITY && pos) || (v == f64::NEG_INFINITY && neg)
            })
        }
        "Not" => match &x.data {
            Data::Bool(v) => Tensor::new(
                x.shape.clone(),
                Data::Bool(v.iter().map(|&b| u8::from(b == 0)).collect()),
            ),
            other => Err(args.invalid(format!("input of dtype {} is not bool", other.dtype()))),
        },
        "Abs" if !x.dtype().is_float() => map_int(x, i128::abs),
        "Sign" if !x.dtype().is_float() => map_int(x, i128::signum),
        "Shrink" if !x.dtype().is_float() => {
            let (bias, lambd) = shrink_attrs(args)?;
            // Computed in floating point and truncated, as ONNX's astype.
            map_int(x, |v| shrink(v as f64, bias, lambd).trunc() as i128)
        }
        _ => {
            let f = float_fn(args)?;
            map_float(x, f)
        }
    }
}

/// The scalar function of a float op without inputs beyond X.
fn float_fn(args: &Args<'_>) -> Result<Box<dyn Fn(f64) -> f64>, BackendError> {
    Ok(match args.op {
        "Elu" => {
            let alpha = f64::from(attr(args, "alpha", 1.0)?);
            Box::new(move |x| if x < 0.0 { alpha * x.exp_m1() } else { x })
        }
        "Selu" => {
            let alpha = f64::from(attr(args, "alpha", 1.673_263_2)?);
            let gamma = f64::from(attr(args, "gamma", 1.050_701)?);
            Box::new(move |x| {
                if x > 0.0 {
                    gamma * x
                } else {
                    gamma * (alpha * x.exp_m1())
                }
            })
        }
        "Celu" => {
            let alpha = f64::from(attr(args, "alpha", 1.0)?);
            if alpha == 0.0 {
                return Err(args.invalid("alpha must not be 0"));
            }
            Box::new(move |x| {
                let neg = alpha * (x / alpha).exp_m1();
                if x > 0.0 {
                    x + neg.min(0.0)
                } else if neg < 0.0 || neg.is_nan() {
                    neg
                } else {
                    0.0
                }
            })
        }
        "LeakyRelu" => {
            let alpha = f64::from(attr(args, "alpha", 0.01)?);
            Box::new(move |x| if x < 0.0 { alpha * x } else { x })
        }
        "ThresholdedRelu" => {
            let alpha = f64::from(attr(args, "alpha", 1.0)?);
            Box::new(move |x| if x > alpha { x } else { 0.0 })
        }
        "Shrink" => {
            let (bias, lambd) = shrink_attrs(args)?;
            Box::new(move |x| shrink(x, bias, lambd))
        }
        "HardSigmoid" => {
            let alpha = f64::from(attr(args, "alpha", 0.2)?);
            let beta = f64::from(attr(args, "beta", 0.5)?);
            Box::new(move |x| clamp(alpha * x + beta, 0.0, 1.0))
        }
        "HardSwish" => Box::new(|x| x * clamp(x / 6.0 + 0.5, 0.0, 1.0)),
        "Mish" => Box::new(|x| {
            let softplus = if x > 0.0 {
                x + (-x).exp().ln_1p()
            } else {
                x.exp().ln_1p()
            };
            x * softplus.tanh()
        }),
        "Softsign" => Box::new(|x| x / (1.0 + x.abs())),
        "Abs" => Box::new(f64::abs),
        "Ceil" => Box::new(f64::ceil),
        "Floor" => Box::new(f64::floor),
        "Round" => Box::new(f64::round_ties_even),
        "Sign" => Box::new(|x| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else if x == 0.0 {
                0.0
            } else {
                x
            }
        }),
        "Sin" => Box::new(f64::sin),
        "Cos" => Box::new(f64::cos),
        "Tan" => Box::new(f64::tan),
        "Asin" => Box::new(f64::asin),
        "Acos" => Box::new(f64::acos),
        "Atan" => Box::new(f64::atan),
        "Sinh" => Box::new(f64::sinh),
        "Cosh" => Box::new(f64::cosh),
        "Asinh" => Box::new(f64::asinh),
        "Acosh" => Box::new(f64::acosh),
        "Atanh" => Box::new(f64::atanh),
        other => {
            return Err(BackendError::internal(format!(
                "{other} is not an activation"
            )));
        }
    })
}

/// A float attribute or its default, as the f32 ONNX stores.
fn attr(args: &Args<'_>, name: &str, default: f32) -> Result<f32, BackendError> {
    Ok(args.attrs.float(name, f64::from(default))? as f32)
}

/// Shrink's `bias` (default 0) and `lambd` (default 0.5).
fn shrink_attrs(args: &Args<'_>) -> Result<(f64, f64), BackendError> {
    Ok((
        f64::from(attr(args, "bias", 0.0)?),
        f64::from(attr(args, "lambd", 0.5)?),
    ))
}

/// x + bias below -lambd, x - bias above lambd, else 0 (NaN kept).
fn shrink(x: f64, bias: f64, lambd: f64) -> f64 {
    if x < -lambd {
        x + bias
    } else if x > lambd {
        x - bias
    } else if x.is_nan() {
        x
    } else {
        0.0
    }
}

/// min(hi, max(x, lo)), NaN in any of them giving NaN (numpy's clip).
fn clamp(x: f64, lo: f64, hi: f64) -> f64 {
    if x.is_nan() || lo.is_nan() || hi.is_nan() {
        return f64::NAN;
    }
    let v = if x < lo { lo } else { x };
    if v > hi { hi } else { v }
}

/// `f` on every element of a float tensor, in f64, rounded once.
fn map_float(x: &Tensor, f: impl Fn(f64) -> f64) -> Result<Tensor, BackendError> {
    let v: Vec<f64> = x.to_real::<f64>()?.into_iter().map(f).collect();
    Tensor::from_real(x.dtype(), x.shape.clone(), v)
}

/// A bool tensor of `test` on every element of a float tensor.
fn classify(x: &Tensor, test: impl Fn(f64) -> bool) -> Result<Tensor, BackendError> {
    let v = x.to_real::<f64>()?;
    Tensor::new(
        x.shape.clone(),
        Data::Bool(v.into_iter().map(|v| u8::from(test(v))).collect()),
    )
}

/// The elements of an integer tensor, exactly.
fn ints(x: &Tensor) -> Result<Vec<i128>, BackendError> {
    Ok(match &x.data {
        Data::I8(v) => v.iter().map(|&e| i128::from(e)).collect(),
        Data::U8(v) => v.iter().map(|&e| i128::from(e)).collect(),
        Data::I16(v) => v.iter().map(|&e| i128::from(e)).collect(),
        Data::U16(v) => v.iter().map(|&e| i128::from(e)).collect(),
        Data::I32(v) => v.iter().map(|&e| i128::from(e)).collect(),
        Data::I64(v) => v.iter().map(|&e| i128::from(e)).collect(),
        other => {
            return Err(BackendError::unsupported(format!(
                "integer kernel on {} data",
                other.dtype()
            )));
        }
    })
}

/// A tensor of `dtype` from exact integers, wrapped to the dtype's width
/// (the `as` casts keep the low bits).
fn from_ints(dtype: DType, shape: Vec<usize>, v: Vec<i128>) -> Result<Tensor, BackendError> {
    let data = match dtype {
        DType::I8 => Data::I8(v.into_iter().map(|e| e as i8).collect()),
        DType::U8 => Data::U8(v.into_iter().map(|e| e as u8).collect()),
        DType::I16 => Data::I16(v.into_iter().map(|e| e as i16).collect()),
        DType::U16 => Data::U16(v.into_iter().map(|e| e as u16).collect()),
        DType::I32 => Data::I32(v.into_iter().map(|e| e as i32).collect()),
        DType::I64 => Data::I64(v.into_iter().map(|e| e as i64).collect()),
        other => {
            return Err(BackendError::internal(format!(
                "integer result requested as {other}"
            )));
        }
    };
    Tensor::new(shape, data)
}

/// `f` on every element of an integer tensor, wrapped to its dtype.
fn map_int(x: &Tensor, f: impl Fn(i128) -> i128) -> Result<Tensor, BackendError> {
    let v = ints(x)?.into_iter().map(f).collect();
    from_ints(x.dtype(), x.shape.clone(), v)
}

/// Clip-11 and later: optional one-element `min` and `max` inputs.
fn clip(args: &Args<'_>, x: &Tensor) -> Result<Tensor, BackendError> {
    let bound = |i: usize| -> Result<Option<&Tensor>, BackendError> {
        match args.optional(i) {
            Some(t) if t.numel() != 1 => Err(args.invalid(format!(
                "{} must hold one value, got shape {:?}",
                ["", "min", "max"][i],
                t.shape
            ))),
            Some(t) if t.dtype() != x.dtype() => Err(args.invalid(format!(
                "{} is {}, input is {}",
                ["", "min", "max"][i],
                t.dtype(),
                x.dtype()
            ))),
            other => Ok(other),
        }
    };
    let (lo, hi) = (bound(1)?, bound(2)?);
    if x.dtype().is_float() {
        let value = |t: Option<&Tensor>, none: f64| -> Result<f64, BackendError> {
            t.map_or(Ok(none), |t| Ok(t.to_real::<f64>()?[0]))
        };
        let (lo, hi) = (value(lo, f64::NEG_INFINITY)?, value(hi, f64::INFINITY)?);
        map_float(x, |v| clamp(v, lo, hi))
    } else {
        let value = |t: Option<&Tensor>| -> Result<Option<i128>, BackendError> {
            t.map(|t| ints(t).map(|v| v[0])).transpose()
        };
        let (lo, hi) = (value(lo)?, value(hi)?);
        map_int(x, |v| {
            let v = lo.map_or(v, |lo| v.max(lo));
            hi.map_or(v, |hi| v.min(hi))
        })
    }
}

/// PRelu: slope * x where x < 0, the slope broadcast to X's shape
/// (unidirectionally: a slope that would grow X is refused).
fn prelu(args: &Args<'_>, x: &Tensor) -> Result<Tensor, BackendError> {
    let slope = args.input(1)?;
    if slope.dtype() != x.dtype() {
        return Err(args.invalid(format!("slope is {}, X is {}", slope.dtype(), x.dtype())));
    }
    let grows = slope.shape.len() > x.shape.len()
        || slope
            .shape
            .iter()
            .rev()
            .zip(x.shape.iter().rev())
            .any(|(&s, &d)| s != d && s != 1);
    if grows {
        return Err(args.invalid(format!(
            "slope of shape {:?} does not broadcast to X's {:?}",
            slope.shape, x.shape
        )));
    }
    if x.dtype().is_float() {
        let (xv, sv) = (x.to_real::<f64>()?, slope.to_real::<f64>()?);
        let (shape, v) = zip_broadcast(&xv, &x.shape, &sv, &slope.shape, |x, s| {
            if x < 0.0 { s * x } else { x }
        })?;
        Tensor::from_real(x.dtype(), shape, v)
    } else {
        let (xv, sv) = (ints(x)?, ints(slope)?);
        let (shape, v) = zip_broadcast(&xv, &x.shape, &sv, &slope.shape, |x, s| {
            if x < 0 { s.wrapping_mul(x) } else { x }
        })?;
        from_ints(x.dtype(), shape, v)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::support::{Attrs, Invocation, Meta};
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::{AttrValue, Attribute, BackendError, DType, Status};

    /// Runs `op` at `opset` (the shared helper runs an op's first opset).
    fn run_at(
        op: &str,
        opset: i64,
        attrs: &[(&str, AttrValue<'_>)],
        inputs: Vec<Option<Tensor>>,
        out: DType,
    ) -> Result<Tensor, BackendError> {
        let attributes: Vec<Attribute<'_>> = attrs
            .iter()
            .map(|&(name, value)| Attribute { name, value })
            .collect();
        let inv = Invocation {
            domain: "",
            op_type: op,
            opset,
            attrs: Attrs(&attributes),
            inputs: inputs
                .iter()
                .map(|t| {
                    t.as_ref().map(|t| Meta {
                        dtype: t.dtype(),
                        host: true,
                    })
                })
                .collect(),
            output_dtypes: vec![out],
        };
        Ok(super::super::evaluate(&inv, &inputs)?.remove(0))
    }

    fn f32_at(op: &str, opset: i64, x: &[f32]) -> Vec<f32> {
        values(&run_at(op, opset, &[], vec![f32t(&[x.len()], x)], DType::F32).unwrap())
    }

    #[test]
    fn clip_reads_attributes_at_6_and_inputs_from_11() {
        let x = f32t(&[4], &[-2.0, -0.5, 0.5, 2.0]);
        let y = run_at(
            "Clip",
            6,
            &[
                ("min", AttrValue::Float(-1.0)),
                ("max", AttrValue::Float(1.0)),
            ],
            vec![x.clone()],
            DType::F32,
        )
        .unwrap();
        assert_eq!(values(&y), vec![-1.0, -0.5, 0.5, 1.0]);
        let lo = f32t(&[], &[0.0]);
        let hi = f32t(&[1], &[1.0]);
        let y = run_at("Clip", 13, &[], vec![x.clone(), lo.clone(), hi], DType::F32).unwrap();
        assert_eq!(values(&y), vec![0.0, 0.0, 0.5, 1.0]);
        let y = run_at(
            "Clip",
            11,
            &[],
            vec![x.clone(), None, f32t(&[], &[0.0])],
            DType::F32,
        );
        assert_eq!(values(&y.unwrap()), vec![-2.0, -0.5, 0.0, 0.0]);
        // min > max: everything becomes max.
        let y = run_at(
            "Clip",
            12,
            &[],
            vec![x.clone(), f32t(&[], &[1.0]), f32t(&[], &[-1.0])],
            DType::F32,
        );
        assert_eq!(values(&y.unwrap()), vec![-1.0; 4]);
        let e = run_at(
            "Clip",
            13,
            &[],
            vec![x, f32t(&[2], &[0.0, 1.0])],
            DType::F32,
        );
        assert_eq!(e.unwrap_err().status, Status::InvalidArgument);
        // Integers clip exactly; NaN stays NaN.
        let xi = Tensor::new(vec![3], Data::I8(vec![-128, 5, 127])).ok();
        let b = |v: i8| Tensor::new(vec![], Data::I8(vec![v])).ok();
        let y = run_at("Clip", 13, &[], vec![xi, b(-10), b(10)], DType::I8).unwrap();
        assert_eq!(y.data, Data::I8(vec![-10, 5, 10]));
        let y = f32_at("Clip", 13, &[f32::NAN]);
        assert!(y[0].is_nan());
    }

    #[test]
    fn activations() {
        let x = f32t(&[4], &[-2.0, -0.5, 0.0, 1.5]);
        let get = |op: &str, attrs: &[(&str, AttrValue<'_>)]| {
            values(&run1(op, attrs, vec![x.clone()]).unwrap())
        };
        assert_close(
            &get("Elu", &[]),
            &[-0.864_664_7, -0.393_469_34, 0.0, 1.5],
            1e-7,
        );
        assert_close(
            &get("Selu", &[]),
            &[-1.520_166_4, -0.691_758_4, 0.0, 1.576_051_5],
            1e-6,
        );
        assert_close(
            &get("Celu", &[("alpha", AttrValue::Float(2.0))]),
            &[-1.264_241_1, -0.442_398, 0.0, 1.5],
            1e-6,
        );
        assert_eq!(get("LeakyRelu", &[]), vec![-0.02, -0.005, 0.0, 1.5]);
        assert_eq!(get("ThresholdedRelu", &[]), vec![0.0, 0.0, 0.0, 1.5]);
        assert_eq!(get("Shrink", &[]), vec![-2.0, 0.0, 0.0, 1.5]);
        assert_close(&get("HardSigmoid", &[]), &[0.1, 0.4, 0.5, 0.8], 1e-7);
        assert_close(
            &get("HardSwish", &[]),
            &[-0.333_333_34, -0.208_333_33, 0.0, 1.125],
            1e-7,
        );
        assert_close(
            &get("Mish", &[]),
            &[-0.252_501_5, -0.220_743_78, 0.0, 1.403_378_3],
            1e-6,
        );
        assert_eq!(get("Softsign", &[]), vec![-2.0 / 3.0, -1.0 / 3.0, 0.0, 0.6]);
        let y = values(
            &run1(
                "PRelu",
                &[],
                vec![
                    f32t(&[2, 2], &[-1.0, 2.0, -3.0, 4.0]),
                    f32t(&[2, 1], &[0.5, 2.0]),
                ],
            )
            .unwrap(),
        );
        assert_eq!(y, vec![-0.5, 2.0, -6.0, 4.0]);
        let e = run1(
            "PRelu",
            &[],
            vec![f32t(&[2], &[-1.0, 2.0]), f32t(&[2, 2], &[1.0; 4])],
        );
        assert_eq!(e.unwrap_err().status, Status::InvalidArgument);
    }

    #[test]
    fn rounding_and_math() {
        let x = [2.5f32, -2.5, 0.5, 1.5, -0.4];
        assert_eq!(f32_at("Round", 22, &x), vec![2.0, -2.0, 0.0, 2.0, -0.0]);
        assert_eq!(f32_at("Ceil", 13, &x), vec![3.0, -2.0, 1.0, 2.0, -0.0]);
        assert_eq!(f32_at("Floor", 13, &x), vec![2.0, -3.0, 0.0, 1.0, -1.0]);
        assert_eq!(f32_at("Sign", 13, &x), vec![1.0, -1.0, 1.0, 1.0, -1.0]);
        assert_eq!(f32_at("Abs", 13, &x), vec![2.5, 2.5, 0.5, 1.5, 0.4]);
        let y = run1(
            "Abs",
            &[],
            vec![Tensor::new(vec![2], Data::I8(vec![-128, -3])).ok()],
        );
        assert_eq!(y.unwrap().data, Data::I8(vec![-128, 3]));
        assert_close(&f32_at("Sin", 22, &[1e4]), &[-0.305_614_32], 1e-6);
        assert_close(&f32_at("Acosh", 22, &[2.0]), &[1.316_958], 1e-6);
        assert!(f32_at("Asin", 22, &[1.5])[0].is_nan());
        assert_eq!(f32_at("Atanh", 22, &[1.0])[0], f32::INFINITY);
    }

    #[test]
    fn classifiers() {
        let x = f32t(&[4], &[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.0]);
        let y = run_at("IsNaN", 20, &[], vec![x.clone()], DType::Bool).unwrap();
        assert_eq!(y.data, Data::Bool(vec![1, 0, 0, 0]));
        let y = run_at(
            "IsInf",
            20,
            &[("detect_negative", AttrValue::Int(0))],
            vec![x],
            DType::Bool,
        )
        .unwrap();
        assert_eq!(y.data, Data::Bool(vec![0, 1, 0, 0]));
        let b = Tensor::new(vec![2], Data::Bool(vec![1, 0])).ok();
        let y = run_at("Not", 1, &[], vec![b], DType::Bool).unwrap();
        assert_eq!(y.data, Data::Bool(vec![0, 1]));
    }
}
