//! Binary elementwise ops beyond arithmetic, with numpy broadcasting: the
//! comparisons (bool output), And/Or/Xor, the bitwise ops and BitShift,
//! Mod and Pow; and the integer lanes (every integer dtype widened to i128,
//! results wrapped back) that they and integer arithmetic share.
//!
//! Every version these ops have from opset 11 on has the same semantics
//! (later versions only admit more types), so the kernels do not branch on
//! the opset.

use std::cmp::Ordering;

use xpucert_abi::{BackendError, DType};

use super::Args;
use super::elementwise::zip_broadcast;
use crate::tensor::{Data, Tensor, with_real};

/// The values of an integer or bool tensor, widened exactly to i128 (every
/// integer dtype fits); `None` for float tensors.
pub fn int_values(t: &Tensor) -> Option<Vec<i128>> {
    fn wide<E: Copy + Into<i128>>(v: &[E]) -> Vec<i128> {
        v.iter().map(|&e| e.into()).collect()
    }
    Some(match &t.data {
        Data::I8(v) => wide(v),
        Data::U8(v) | Data::Bool(v) => wide(v),
        Data::I16(v) => wide(v),
        Data::U16(v) => wide(v),
        Data::I32(v) => wide(v),
        Data::U32(v) => wide(v),
        Data::I64(v) => wide(v),
        Data::U64(v) => wide(v),
        _ => return None,
    })
}

/// A tensor of integer (or bool) dtype `dtype` from i128 values, each
/// wrapped into the dtype (its low bits kept, as two's-complement hardware
/// does); bool is `v != 0`.
pub fn from_ints(dtype: DType, shape: Vec<usize>, v: Vec<i128>) -> Result<Tensor, BackendError> {
    // `as` between integer types keeps the low bits: the wrap.
    let data = match dtype {
        DType::I8 => Data::I8(v.into_iter().map(|e| e as i8).collect()),
        DType::U8 => Data::U8(v.into_iter().map(|e| e as u8).collect()),
        DType::I16 => Data::I16(v.into_iter().map(|e| e as i16).collect()),
        DType::U16 => Data::U16(v.into_iter().map(|e| e as u16).collect()),
        DType::I32 => Data::I32(v.into_iter().map(|e| e as i32).collect()),
        DType::U32 => Data::U32(v.into_iter().map(|e| e as u32).collect()),
        DType::I64 => Data::I64(v.into_iter().map(|e| e as i64).collect()),
        DType::U64 => Data::U64(v.into_iter().map(|e| e as u64).collect()),
        DType::Bool => Data::Bool(v.into_iter().map(|e| u8::from(e != 0)).collect()),
        other => {
            return Err(BackendError::internal(format!(
                "integer result requested as {other}"
            )));
        }
    };
    Tensor::new(shape, data)
}

/// Two inputs with their integer lanes: (A, A's values, B, B's values).
type IntOperands<'a> = (&'a Tensor, Vec<i128>, &'a Tensor, Vec<i128>);

/// The integer lanes of both inputs, or an error naming the op.
fn int_pair<'a>(args: &Args<'a>) -> Result<IntOperands<'a>, BackendError> {
    let (a, b) = (args.input(0)?, args.input(1)?);
    match (int_values(a), int_values(b)) {
        (Some(x), Some(y)) => Ok((a, x, b, y)),
        _ => Err(BackendError::unsupported(format!(
            "{}: {} and {} inputs (integers expected)",
            args.op,
            a.dtype(),
            b.dtype()
        ))),
    }
}

/// Equal, Less, LessOrEqual, Greater, GreaterOrEqual: bool output. Floats
/// compare widened to f64 (exact), integers and bool as i128; an unordered
/// pair (NaN) satisfies none of them, so NaN is not equal to itself.
pub fn compare(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let holds: fn(Option<Ordering>) -> bool = match args.op {
        "Equal" => |o| o == Some(Ordering::Equal),
        "Less" => |o| o == Some(Ordering::Less),
        "LessOrEqual" => |o| matches!(o, Some(Ordering::Less | Ordering::Equal)),
        "Greater" => |o| o == Some(Ordering::Greater),
        "GreaterOrEqual" => |o| matches!(o, Some(Ordering::Greater | Ordering::Equal)),
        other => {
            return Err(BackendError::internal(format!(
                "{other} is not a comparison"
            )));
        }
    };
    let (a, b) = (args.input(0)?, args.input(1)?);
    let (shape, v) = match (int_values(a), int_values(b)) {
        (Some(x), Some(y)) => zip_broadcast(&x, &a.shape, &y, &b.shape, |p, q| {
            u8::from(holds(p.partial_cmp(&q)))
        })?,
        _ => {
            let (x, y) = (a.to_real::<f64>()?, b.to_real::<f64>()?);
            zip_broadcast(&x, &a.shape, &y, &b.shape, |p, q| {
                u8::from(holds(p.partial_cmp(&q)))
            })?
        }
    };
    Tensor::new(shape, Data::Bool(v))
}

/// And, Or, Xor on bool tensors.
pub fn logical(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let f: fn(bool, bool) -> bool = match args.op {
        "And" => |p, q| p && q,
        "Or" => |p, q| p || q,
        "Xor" => |p, q| p != q,
        other => return Err(BackendError::internal(format!("{other} is not logical"))),
    };
    let (a, b) = (args.input(0)?, args.input(1)?);
    let (Data::Bool(x), Data::Bool(y)) = (&a.data, &b.data) else {
        return Err(BackendError::unsupported(format!(
            "{}: bool inputs expected",
            args.op
        )));
    };
    let (shape, v) = zip_broadcast(x, &a.shape, y, &b.shape, |p, q| u8::from(f(p != 0, q != 0)))?;
    Tensor::new(shape, Data::Bool(v))
}

/// BitwiseAnd, BitwiseOr, BitwiseXor: on sign-extended i128 lanes these are
/// the dtype's own bitwise ops.
pub fn bitwise(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let f: fn(i128, i128) -> i128 = match args.op {
        "BitwiseAnd" => |p, q| p & q,
        "BitwiseOr" => |p, q| p | q,
        "BitwiseXor" => |p, q| p ^ q,
        other => return Err(BackendError::internal(format!("{other} is not bitwise"))),
    };
    let (a, x, b, y) = int_pair(args)?;
    let (shape, v) = zip_broadcast(&x, &a.shape, &y, &b.shape, f)?;
    from_ints(a.dtype(), shape, v)
}

/// BitwiseNot: `!x`, wrapped into the dtype.
pub fn bitwise_not(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let v = int_values(x)
        .ok_or_else(|| BackendError::unsupported(format!("BitwiseNot on {}", x.dtype())))?;
    from_ints(
        x.dtype(),
        x.shape.clone(),
        v.into_iter().map(|e| !e).collect(),
    )
}

/// BitShift (unsigned types): `direction` LEFT or RIGHT; bits shifted past
/// the width are lost. A shift by the width or more is undefined in ONNX
/// and refused as invalid, as the oracle refuses it.
pub fn bit_shift(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let left = match args.attrs.string("direction", "")? {
        "LEFT" => true,
        "RIGHT" => false,
        other => {
            return Err(args.invalid(format!(
                "direction must be \"LEFT\" or \"RIGHT\", got {other:?}"
            )));
        }
    };
    let (a, x, b, y) = int_pair(args)?;
    let bits = 8 * a.dtype().size() as i128;
    if let Some(s) = y.iter().find(|&&s| s >= bits) {
        return Err(args.invalid(format!(
            "a shift by {s} is undefined for {} (width {bits})",
            a.dtype()
        )));
    }
    // Values below 2^64 shifted by at most 63 stay below 2^127: no
    // overflow in i128; `from_ints` keeps the low bits.
    let (shape, v) = zip_broadcast(&x, &a.shape, &y, &b.shape, |p, s| {
        if left { p << s } else { p >> s }
    })?;
    from_ints(a.dtype(), shape, v)
}

/// Mod: `fmod` = 0 takes the divisor's sign (integers only), `fmod` = 1 is
/// C's fmod (the dividend's sign; floats compute it in their compute type,
/// where it is exact). An integer division by zero is undefined: invalid.
pub fn modulo(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let fmod = match args.attrs.int("fmod", 0)? {
        0 => false,
        1 => true,
        other => return Err(args.invalid(format!("fmod must be 0 or 1, got {other}"))),
    };
    let (a, b) = (args.input(0)?, args.input(1)?);
    if a.dtype().is_float() {
        if !fmod {
            return Err(args.invalid(format!(
                "fmod=0 is for integer types; {} needs fmod=1",
                a.dtype()
            )));
        }
        return with_real!(a.dtype(), T => {
            let (x, y) = (a.to_real::<T>()?, b.to_real::<T>()?);
            let (shape, v) = zip_broadcast(&x, &a.shape, &y, &b.shape, |p: T, q: T| p % q)?;
            Tensor::from_real(a.dtype(), shape, v)
        });
    }
    let (a, x, b, y) = int_pair(args)?;
    if y.contains(&0) {
        return Err(args.invalid("integer Mod by zero is undefined"));
    }
    let (shape, v) = zip_broadcast(&x, &a.shape, &y, &b.shape, |p, q| {
        let r = p % q;
        if !fmod && r != 0 && (r < 0) != (q < 0) {
            r + q
        } else {
            r
        }
    })?;
    from_ints(a.dtype(), shape, v)
}

/// Pow: the output has X's type. A float base is raised in its compute
/// type (f32 for f32/f16/bf16) to the exponent converted to that type. An
/// integer base with an integer exponent is an exact power that wraps (a
/// negative exponent is undefined: invalid); with a float exponent the f64
/// power is truncated toward zero, as ONNX's reference casts it.
pub fn pow(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (a, b) = (args.input(0)?, args.input(1)?);
    if a.dtype().is_float() {
        return with_real!(a.dtype(), T => {
            let x = a.to_real::<T>()?;
            let y: Vec<T> = match int_values(b) {
                Some(ints) => ints.into_iter().map(|e| e as T).collect(),
                None => b.to_real::<T>()?,
            };
            let (shape, v) = zip_broadcast(&x, &a.shape, &y, &b.shape, |p: T, q: T| p.powf(q))?;
            Tensor::from_real(a.dtype(), shape, v)
        });
    }
    let x =
        int_values(a).ok_or_else(|| BackendError::unsupported(format!("Pow on {}", a.dtype())))?;
    let v = match int_values(b) {
        Some(y) => {
            if y.iter().any(|&e| e < 0) {
                return Err(args.invalid("an integer base to a negative integer power"));
            }
            zip_broadcast(&x, &a.shape, &y, &b.shape, |p, q| int_pow(p, q as u64))?
        }
        None => {
            let y = b.to_real::<f64>()?;
            // `as i128` saturates; in range, the truncated power is exact.
            zip_broadcast(&x, &a.shape, &y, &b.shape, |p, q| {
                (p as f64).powf(q).trunc() as i128
            })?
        }
    };
    from_ints(a.dtype(), v.0, v.1)
}

/// `x^n` by squaring, wrapping modulo 2^128 (the dtype's wrap follows).
fn int_pow(mut x: i128, mut n: u64) -> i128 {
    let mut acc: i128 = 1;
    while n > 0 {
        if n & 1 == 1 {
            acc = acc.wrapping_mul(x);
        }
        x = x.wrapping_mul(x);
        n >>= 1;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::{AttrValue, Status};

    fn t(shape: &[usize], data: Data) -> Option<Tensor> {
        Some(Tensor::new(shape.to_vec(), data).unwrap())
    }

    #[test]
    fn comparisons_broadcast_and_nan_compares_false() {
        let a = f32t(&[2, 2], &[1., 2., 3., f32::NAN]);
        let b = f32t(&[2], &[2., f32::NAN]);
        let y = run1("LessOrEqual", &[], vec![a.clone(), b.clone()]).unwrap();
        assert_eq!(y.data, Data::Bool(vec![1, 0, 0, 0]));
        let y = run1("Equal", &[], vec![a.clone(), a.clone()]).unwrap();
        assert_eq!(y.data, Data::Bool(vec![1, 1, 1, 0]));
        let y = run1("Greater", &[], vec![a, f32t(&[], &[2.])]).unwrap();
        assert_eq!(y.data, Data::Bool(vec![0, 0, 1, 0]));
        let u = t(&[2], Data::U64(vec![u64::MAX, 3]));
        let v = t(&[2], Data::U64(vec![u64::MAX - 1, 3]));
        let y = run1("GreaterOrEqual", &[], vec![u, v]).unwrap();
        assert_eq!(y.data, Data::Bool(vec![1, 1]));
        let p = t(&[2], Data::Bool(vec![1, 0]));
        let y = run1("Equal", &[], vec![p.clone(), t(&[1], Data::Bool(vec![0]))]).unwrap();
        assert_eq!(y.data, Data::Bool(vec![0, 1]));
        let y = run1("Xor", &[], vec![p.clone(), t(&[1], Data::Bool(vec![1]))]).unwrap();
        assert_eq!(y.data, Data::Bool(vec![0, 1]));
    }

    #[test]
    fn bitwise_and_shifts_wrap_into_the_dtype() {
        let a = t(&[3], Data::I8(vec![-1, 12, -128]));
        let b = t(&[3], Data::I8(vec![5, 10, 127]));
        let y = run1("BitwiseXor", &[], vec![a.clone(), b]).unwrap();
        assert_eq!(y.data, Data::I8(vec![-6, 6, -1]));
        let y = run1("BitwiseNot", &[], vec![a]).unwrap();
        assert_eq!(y.data, Data::I8(vec![0, -13, 127]));
        let left = [("direction", AttrValue::String("LEFT"))];
        let x = t(&[2], Data::U8(vec![200, 3]));
        let s = t(&[1], Data::U8(vec![1]));
        let y = run1("BitShift", &left, vec![x.clone(), s]).unwrap();
        assert_eq!(y.data, Data::U8(vec![144, 6]));
        let y = run1(
            "BitShift",
            &left,
            vec![t(&[1], Data::U64(vec![3])), t(&[1], Data::U64(vec![63]))],
        )
        .unwrap();
        assert_eq!(y.data, Data::U64(vec![1 << 63]));
        let e = run1(
            "BitShift",
            &left,
            vec![x.clone(), t(&[1], Data::U8(vec![8]))],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        let up = [("direction", AttrValue::String("UP"))];
        let e = run1("BitShift", &up, vec![x.clone(), x]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }

    #[test]
    fn mod_in_both_modes() {
        let a = t(&[4], Data::I32(vec![7, -7, 7, -7]));
        let b = t(&[4], Data::I32(vec![3, 3, -3, -3]));
        let y = run1("Mod", &[], vec![a.clone(), b.clone()]).unwrap();
        assert_eq!(y.data, Data::I32(vec![1, 2, -2, -1]));
        let fm = [("fmod", AttrValue::Int(1))];
        let y = run1("Mod", &fm, vec![a.clone(), b]).unwrap();
        assert_eq!(y.data, Data::I32(vec![1, -1, 1, -1]));
        let y = run1(
            "Mod",
            &fm,
            vec![f32t(&[2], &[5.5, -5.5]), f32t(&[1], &[2.])],
        )
        .unwrap();
        assert_eq!(values(&y), vec![1.5, -1.5]);
        let e = run1("Mod", &[], vec![f32t(&[1], &[1.]), f32t(&[1], &[2.])]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        let e = run1("Mod", &[], vec![a, t(&[1], Data::I32(vec![0]))]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }

    #[test]
    fn pow_of_floats_and_integers() {
        let y = run1(
            "Pow",
            &[],
            vec![f32t(&[3], &[-2., -2., 4.]), f32t(&[3], &[3., 0.5, -0.5])],
        )
        .unwrap();
        let v = values(&y);
        assert_eq!(v[0], -8.);
        assert!(v[1].is_nan());
        assert_eq!(v[2], 0.5);
        let y = run1(
            "Pow",
            &[],
            vec![f32t(&[1], &[3.]), t(&[1], Data::I64(vec![4]))],
        )
        .unwrap();
        assert_eq!(values(&y), vec![81.]);
        let b = t(&[3], Data::I32(vec![-3, 2, 7]));
        let y = run1(
            "Pow",
            &[],
            vec![b.clone(), t(&[3], Data::I64(vec![3, 31, 0]))],
        )
        .unwrap();
        assert_eq!(y.data, Data::I32(vec![-27, i32::MIN, 1]));
        let y = run1("Pow", &[], vec![b.clone(), f32t(&[1], &[1.5])]).unwrap();
        assert_eq!(y.data, Data::I32(vec![0, 2, 18]));
        let e = run1("Pow", &[], vec![b, t(&[1], Data::I32(vec![-1]))]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }
}
