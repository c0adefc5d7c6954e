//! Elementwise ops: the broadcasting binary arithmetic (Add, Sub, Mul, Div)
//! and the unary math functions (Neg ... Gelu).

use xpucert_abi::BackendError;

use super::Args;
use super::logic::{from_ints, int_values};
use crate::layout::{broadcast_offsets, broadcast_shapes};
use crate::tensor::{Real, Tensor, with_real};

/// Applies `f` to the numpy broadcast of `a` (shape `ash`) and `b` (shape
/// `bsh`); returns the result's shape and values.
pub fn zip_broadcast<X: Copy, Y: Copy, Z>(
    a: &[X],
    ash: &[usize],
    b: &[Y],
    bsh: &[usize],
    f: impl Fn(X, Y) -> Z,
) -> Result<(Vec<usize>, Vec<Z>), BackendError> {
    let shape = broadcast_shapes(&[ash, bsh])?;
    let values = if ash == bsh {
        a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()
    } else {
        let ai = broadcast_offsets(ash, &shape)?;
        let bi = broadcast_offsets(bsh, &shape)?;
        ai.iter().zip(&bi).map(|(&i, &j)| f(a[i], b[j])).collect()
    };
    Ok((shape, values))
}

/// Add, Sub, Mul, Div with numpy broadcasting. Floats compute in f32 (f64 for
/// f64). Integers of every width compute in i128 and wrap into their dtype
/// like two's-complement hardware; Div truncates toward zero, and an integer
/// division by zero (undefined in ONNX) is an invalid call.
pub fn binary(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (a, b) = (args.input(0)?, args.input(1)?);
    let op = args.op;
    if let (Some(x), Some(y)) = (int_values(a), int_values(b)) {
        let f: fn(i128, i128) -> i128 = match op {
            "Add" => |p, q| p.wrapping_add(q),
            "Sub" => |p, q| p.wrapping_sub(q),
            "Mul" => |p, q| p.wrapping_mul(q),
            "Div" => {
                if y.contains(&0) {
                    return Err(args.invalid("integer division by zero is undefined"));
                }
                |p, q| p.wrapping_div(q)
            }
            other => return Err(BackendError::internal(format!("{other} is not binary"))),
        };
        let (shape, v) = zip_broadcast(&x, &a.shape, &y, &b.shape, f)?;
        return from_ints(a.dtype(), shape, v);
    }
    with_real!(a.dtype(), T => {
        let f: fn(T, T) -> T = match op {
            "Add" => |p, q| p + q,
            "Sub" => |p, q| p - q,
            "Mul" => |p, q| p * q,
            "Div" => |p, q| p / q,
            other => return Err(BackendError::internal(format!("{other} is not binary"))),
        };
        let (x, y) = (a.to_real::<T>()?, b.to_real::<T>()?);
        let (shape, v) = zip_broadcast(&x, &a.shape, &y, &b.shape, f)?;
        Tensor::from_real(a.dtype(), shape, v)
    })
}

/// The scalar function of a unary op.
fn unary_fn<T: Real>(op: &str, approximate: &str) -> Result<fn(T) -> T, BackendError> {
    Ok(match op {
        "Neg" => neg,
        "Exp" => T::exp,
        "Log" => T::ln,
        "Sqrt" => T::sqrt,
        "Reciprocal" => reciprocal,
        "Tanh" => T::tanh,
        "Sigmoid" => sigmoid,
        "Relu" => relu,
        "Erf" => T::erf,
        "Softplus" => softplus,
        "Gelu" if approximate == "tanh" => gelu_tanh,
        "Gelu" => gelu_erf,
        other => return Err(BackendError::internal(format!("{other} is not unary"))),
    })
}

// The scalar functions are shared with the fused kernels in `fast.rs`, so
// both paths compute each element with the same expression.

/// -x
pub(crate) fn neg<T: Real>(x: T) -> T {
    -x
}

/// 1 / x
pub(crate) fn reciprocal<T: Real>(x: T) -> T {
    T::ONE / x
}

/// max(x, 0); `x < 0` is false for NaN, so NaN propagates.
pub(crate) fn relu<T: Real>(x: T) -> T {
    if x < T::ZERO { T::ZERO } else { x }
}

/// 1 / (1 + e^-x), written so that neither branch overflows.
pub(crate) fn sigmoid<T: Real>(x: T) -> T {
    if x >= T::ZERO {
        T::ONE / (T::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::ONE + e)
    }
}

/// ln(1 + e^x) without overflow for large x.
pub(crate) fn softplus<T: Real>(x: T) -> T {
    if x > T::ZERO {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// x/2 * (1 + erf(x / sqrt 2)).
pub(crate) fn gelu_erf<T: Real>(x: T) -> T {
    let half = T::from_f64(0.5);
    let inv_sqrt2 = T::from_f64(std::f64::consts::FRAC_1_SQRT_2);
    half * x * (T::ONE + (x * inv_sqrt2).erf())
}

/// x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))).
pub(crate) fn gelu_tanh<T: Real>(x: T) -> T {
    let half = T::from_f64(0.5);
    let c = T::from_f64((2.0 / std::f64::consts::PI).sqrt());
    let k = T::from_f64(0.044715);
    half * x * (T::ONE + (c * (x + k * x * x * x)).tanh())
}

/// The unary math ops on floats.
pub fn unary(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let approximate = args.attrs.string("approximate", "none")?;
    with_real!(x.dtype(), T => {
        let f = unary_fn::<T>(args.op, approximate)?;
        let v: Vec<T> = x.to_real::<T>()?.into_iter().map(f).collect();
        Tensor::from_real(x.dtype(), x.shape.clone(), v)
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::{AttrValue, DType, Status};

    #[test]
    fn binary_broadcasts_numpy_style() {
        let a = f32t(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let b = f32t(&[3], &[10., 20., 30.]);
        let y = run1("Add", &[], vec![a.clone(), b.clone()]).unwrap();
        assert_eq!(y.shape, vec![2, 3]);
        assert_eq!(values(&y), vec![11., 22., 33., 14., 25., 36.]);
        let col = f32t(&[2, 1], &[2., 4.]);
        let y = run1("Div", &[], vec![a.clone(), col]).unwrap();
        assert_eq!(values(&y), vec![0.5, 1., 1.5, 1., 1.25, 1.5]);
        let y = run1("Sub", &[], vec![b, a]).unwrap();
        assert_eq!(values(&y), vec![9., 18., 27., 6., 15., 24.]);
    }

    #[test]
    fn binary_rejects_incompatible_shapes() {
        let e = run1(
            "Mul",
            &[],
            vec![f32t(&[2], &[1., 2.]), f32t(&[3], &[1., 2., 3.])],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }

    #[test]
    fn integer_arithmetic_wraps() {
        let a = Tensor::new(vec![2], Data::I32(vec![i32::MAX, -3])).ok();
        let b = Tensor::new(vec![], Data::I32(vec![2])).ok();
        let y = run1("Add", &[], vec![a.clone(), b.clone()]).unwrap();
        assert_eq!(y.data, Data::I32(vec![i32::MIN + 1, -1]));
        let y = run1("Mul", &[], vec![a.clone(), b.clone()]).unwrap();
        assert_eq!(y.data, Data::I32(vec![-2, -6]));
        // Div truncates toward zero; by zero it is an invalid call.
        let y = run1("Div", &[], vec![a.clone(), b]).unwrap();
        assert_eq!(y.data, Data::I32(vec![i32::MAX / 2, -1]));
        let z = Tensor::new(vec![1], Data::I32(vec![0])).ok();
        let e = run1("Div", &[], vec![a, z]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        // Every width wraps in its own dtype: u8 3 - 5 = 254, i8 -128 / -1 = -128.
        let u = |v: u8| Tensor::new(vec![1], Data::U8(vec![v])).ok();
        let y = run1("Sub", &[], vec![u(3), u(5)]).unwrap();
        assert_eq!(y.data, Data::U8(vec![254]));
        let i = |v: i8| Tensor::new(vec![1], Data::I8(vec![v])).ok();
        let y = run1("Div", &[], vec![i(-128), i(-1)]).unwrap();
        assert_eq!(y.data, Data::I8(vec![-128]));
        let w = |v: u64| Tensor::new(vec![1], Data::U64(vec![v])).ok();
        let y = run1("Mul", &[], vec![w(u64::MAX), w(3)]).unwrap();
        assert_eq!(y.data, Data::U64(vec![u64::MAX - 2]));
    }

    #[test]
    fn half_precision_rounds_the_f32_result() {
        // f16: 1 + 2^-10 and 2^-11: the exact sum 1 + 3*2^-11 is a tie -> even (1 + 2^-9).
        let a = Tensor::new(vec![1], Data::F16(vec![0x3C01])).ok();
        let b = Tensor::new(vec![1], Data::F16(vec![0x1000])).ok();
        let y = run1("Add", &[], vec![a, b]).unwrap();
        assert_eq!(y.data, Data::F16(vec![0x3C02]));
        assert_eq!(y.dtype(), DType::F16);
    }

    #[test]
    fn unary_values() {
        let x = f32t(&[5], &[-2., -0.5, 0., 1., 30.]);
        let get = |op: &str, attrs: &[(&str, AttrValue<'_>)]| {
            values(&run1(op, attrs, vec![x.clone()]).unwrap())
        };
        assert_eq!(get("Neg", &[]), vec![2., 0.5, -0., -1., -30.]);
        assert_eq!(get("Relu", &[]), vec![0., 0., 0., 1., 30.]);
        assert_close(
            &get("Exp", &[]),
            &[
                0.135_335_28,
                0.606_530_66,
                1.,
                std::f32::consts::E,
                1.068_647_5e13,
            ],
            1e-6,
        );
        assert_close(
            &get("Sigmoid", &[]),
            &[0.119_202_92, 0.377_540_67, 0.5, 0.731_058_6, 1.0],
            1e-6,
        );
        assert_close(
            &get("Tanh", &[]),
            &[-0.964_027_6, -0.462_117_16, 0., 0.761_594_2, 1.0],
            1e-6,
        );
        assert_close(
            &get("Erf", &[]),
            &[-0.995_322_3, -0.520_499_9, 0., 0.842_700_8, 1.0],
            1e-6,
        );
        assert_close(
            &get("Softplus", &[]),
            &[
                0.126_928_01,
                0.474_076_97,
                std::f32::consts::LN_2,
                1.313_261_7,
                30.0,
            ],
            1e-6,
        );
        assert_close(
            &get("Gelu", &[]),
            &[-0.045_500_26, -0.154_268_57, 0., 0.841_344_8, 30.],
            1e-6,
        );
        assert_close(
            &get("Gelu", &[("approximate", AttrValue::String("tanh"))]),
            &[-0.045_402_3, -0.154_286, 0., 0.841_192, 30.],
            1e-6,
        );
        let y = get("Reciprocal", &[]);
        assert_eq!(y[0], -0.5);
        assert_eq!(y[2], f32::INFINITY);
        let p = f32t(&[3], &[4., 0., -1.]);
        let y = values(&run1("Sqrt", &[], vec![p.clone()]).unwrap());
        assert_eq!(&y[..2], &[2., 0.]);
        assert!(y[2].is_nan());
        let y = values(&run1("Log", &[], vec![p]).unwrap());
        assert_close(&y[..1], &[std::f32::consts::LN_2 * 2.], 1e-7);
        assert_eq!(y[1], f32::NEG_INFINITY);
    }

    #[test]
    fn relu_keeps_nan_and_unknown_gelu_mode_is_unsupported() {
        let y = values(&run1("Relu", &[], vec![f32t(&[1], &[f32::NAN])]).unwrap());
        assert!(y[0].is_nan());
        let e = run1(
            "Gelu",
            &[("approximate", AttrValue::String("fast"))],
            vec![f32t(&[1], &[1.])],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::Unsupported);
    }

    #[test]
    fn f64_is_computed_in_f64() {
        let x = Tensor::new(vec![1], Data::F64(vec![1e-300])).ok();
        let y = run1(
            "Mul",
            &[],
            vec![x.clone(), Tensor::new(vec![1], Data::F64(vec![1e10])).ok()],
        )
        .unwrap();
        // In f32 the product would underflow to 0.
        assert_eq!(y.data, Data::F64(vec![1e-300 * 1e10]));
        let y = run1("Exp", &[], vec![x]).unwrap();
        assert_eq!(y.data, Data::F64(vec![1.0]));
    }
}
