//! Conversions between f64 and each storage dtype's bits.
//!
//! Floating conversions round to nearest, ties to even; NaN stays NaN and
//! infinities stay infinite where the format has them. Integer conversions of
//! finite values truncate toward zero and saturate at the type's range (the
//! suites generate integers exactly, so this only matters for Cast, whose
//! out-of-range behaviour ONNX leaves undefined and suites avoid).

use half::{bf16, f16};

use super::DType;

/// Rounds `x` to the nearest value representable in `dtype`, as f64.
pub fn round_to(dtype: DType, x: f64) -> f64 {
    let mut buf = [0u8; 8];
    from_f64_bits(dtype, x, &mut buf[..dtype.size()]);
    to_f64_bits(dtype, &buf[..dtype.size()])
}

/// Writes `x` converted to `dtype` into `out` (exactly `dtype.size()` bytes,
/// native byte order).
pub fn from_f64_bits(dtype: DType, x: f64, out: &mut [u8]) {
    match dtype {
        DType::F64 => out.copy_from_slice(&x.to_ne_bytes()),
        DType::F32 => out.copy_from_slice(&(x as f32).to_ne_bytes()),
        DType::F16 => out.copy_from_slice(&f16::from_f64(x).to_bits().to_ne_bytes()),
        DType::BF16 => out.copy_from_slice(&bf16::from_f64(x).to_bits().to_ne_bytes()),
        DType::F8E4M3FN => out[0] = f8e4m3fn_from_f64(x),
        DType::F8E5M2 => out[0] = f8e5m2_from_f64(x),
        DType::I8 => out.copy_from_slice(&(x as i8).to_ne_bytes()),
        DType::U8 => out.copy_from_slice(&(x as u8).to_ne_bytes()),
        DType::I16 => out.copy_from_slice(&(x as i16).to_ne_bytes()),
        DType::U16 => out.copy_from_slice(&(x as u16).to_ne_bytes()),
        DType::I32 => out.copy_from_slice(&(x as i32).to_ne_bytes()),
        DType::U32 => out.copy_from_slice(&(x as u32).to_ne_bytes()),
        DType::I64 => out.copy_from_slice(&(x as i64).to_ne_bytes()),
        DType::U64 => out.copy_from_slice(&(x as u64).to_ne_bytes()),
        DType::Bool => out[0] = u8::from(x != 0.0),
    }
}

/// Reads one element of `dtype` from `bytes` (native byte order) as f64.
/// 64-bit integers beyond 2^53 lose precision; the suites stay below that.
pub fn to_f64_bits(dtype: DType, bytes: &[u8]) -> f64 {
    macro_rules! rd {
        ($t:ty) => {{
            let mut a = [0u8; std::mem::size_of::<$t>()];
            a.copy_from_slice(bytes);
            <$t>::from_ne_bytes(a)
        }};
    }
    match dtype {
        DType::F64 => rd!(f64),
        DType::F32 => rd!(f32) as f64,
        DType::F16 => f16::from_bits(rd!(u16)).to_f64(),
        DType::BF16 => bf16::from_bits(rd!(u16)).to_f64(),
        DType::F8E4M3FN => f8_to_f64(bytes[0], 4, 3, false),
        DType::F8E5M2 => f8_to_f64(bytes[0], 5, 2, true),
        DType::I8 => rd!(i8) as f64,
        DType::U8 => rd!(u8) as f64,
        DType::I16 => rd!(i16) as f64,
        DType::U16 => rd!(u16) as f64,
        DType::I32 => rd!(i32) as f64,
        DType::U32 => rd!(u32) as f64,
        DType::I64 => rd!(i64) as f64,
        DType::U64 => rd!(u64) as f64,
        DType::Bool => f64::from(u8::from(bytes[0] != 0)),
    }
}

/// Decodes an 8-bit float with `e` exponent and `m` mantissa bits. E5M2 is
/// IEEE-like (Inf and NaN at the top exponent); E4M3FN has no Inf and only
/// S.1111.111 is NaN.
fn f8_to_f64(b: u8, e: u32, m: u32, ieee: bool) -> f64 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let exp = ((b >> m) & ((1 << e) - 1) as u8) as i32;
    let man = (b & ((1 << m) - 1) as u8) as i32;
    let bias = (1 << (e - 1)) - 1;
    let max_exp = (1 << e) - 1;
    if ieee && exp == max_exp {
        return if man == 0 {
            sign * f64::INFINITY
        } else {
            f64::NAN
        };
    }
    if !ieee && exp == max_exp && man == (1 << m) - 1 {
        return f64::NAN;
    }
    if exp == 0 {
        sign * (man as f64) * 2f64.powi(1 - bias - m as i32)
    } else {
        sign * (1.0 + man as f64 / (1 << m) as f64) * 2f64.powi(exp - bias)
    }
}

/// Encodes by searching the 128 non-negative codes: the nearest finite value,
/// ties to the even code. Slow but obviously right; replaced by tables in the
/// numerics work.
fn f8_encode(x: f64, e: u32, m: u32, ieee: bool) -> u8 {
    // S.1111.111 is NaN in both formats (E5M2 has other NaN codes too).
    if x.is_nan() {
        return 0x7f;
    }
    let sign = if x.is_sign_negative() { 0x80u8 } else { 0 };
    let a = x.abs();
    if !ieee && a.is_infinite() {
        // E4M3FN has no infinity: a non-saturating conversion gives NaN.
        return sign | 0x7f;
    }
    let mut best = 0u8;
    let mut best_err = f64::INFINITY;
    for code in 0u8..0x80 {
        let v = f8_to_f64(code, e, m, ieee);
        if !v.is_finite() {
            continue;
        }
        let err = (v - a).abs();
        if err < best_err || (err == best_err && code % 2 == 0) {
            best = code;
            best_err = err;
        }
    }
    let max = f8_to_f64(best, e, m, ieee);
    if ieee && a.is_infinite() {
        return sign | 0x7c;
    }
    if !ieee && a > max {
        // Beyond the largest finite value by more than half an ulp: NaN. At
        // exactly half an ulp, 448 (mantissa 110) is the even neighbour.
        let ulp = max - f8_to_f64(best - 1, e, m, ieee);
        if a > max + ulp / 2.0 {
            return sign | 0x7f;
        }
    }
    if ieee && a > max {
        // Beyond the largest finite value by more than half an ulp: Inf.
        let ulp = max - f8_to_f64(best - 1, e, m, ieee);
        if a >= max + ulp / 2.0 {
            return sign | 0x7c;
        }
    }
    sign | best
}

fn f8e4m3fn_from_f64(x: f64) -> u8 {
    f8_encode(x, 4, 3, false)
}

fn f8e5m2_from_f64(x: f64) -> u8 {
    f8_encode(x, 5, 2, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_rounding_is_nearest_even() {
        // 1 + 2^-11 is exactly between two f16 values: ties to even (1.0).
        assert_eq!(round_to(DType::F16, 1.0 + 2f64.powi(-11)), 1.0);
        assert_eq!(
            round_to(DType::F16, 1.0 + 3.0 * 2f64.powi(-11)),
            1.0 + 2f64.powi(-9)
        );
        assert_eq!(round_to(DType::BF16, 1.0 + 2f64.powi(-8)), 1.0);
        assert_eq!(round_to(DType::F32, 0.1), 0.1f32 as f64);
        assert!(round_to(DType::F16, 1e6).is_infinite());
    }

    #[test]
    fn fp8_known_values() {
        assert_eq!(round_to(DType::F8E4M3FN, 448.0), 448.0);
        assert_eq!(round_to(DType::F8E5M2, 57344.0), 57344.0);
        assert_eq!(round_to(DType::F8E4M3FN, 2f64.powi(-9)), 2f64.powi(-9));
        assert!(round_to(DType::F8E5M2, f64::INFINITY).is_infinite());
        assert!(round_to(DType::F8E4M3FN, f64::NAN).is_nan());
        assert!(
            round_to(DType::F8E4M3FN, f64::INFINITY).is_nan(),
            "no Inf in E4M3FN"
        );
        assert_eq!(round_to(DType::F8E4M3FN, 463.0), 448.0);
        assert_eq!(
            round_to(DType::F8E4M3FN, 464.0),
            448.0,
            "tie to the even code"
        );
        assert!(round_to(DType::F8E4M3FN, 464.5).is_nan());
        assert_eq!(
            round_to(DType::F8E5M2, 61440.0),
            f64::INFINITY,
            "tie to the even code"
        );
        assert_eq!(round_to(DType::F8E5M2, -1e6), f64::NEG_INFINITY);
    }

    #[test]
    fn integers_and_bool() {
        assert_eq!(round_to(DType::I8, -3.0), -3.0);
        assert_eq!(round_to(DType::I64, 123456789.0), 123456789.0);
        assert_eq!(round_to(DType::Bool, -2.0), 1.0);
        assert_eq!(round_to(DType::U8, 255.0), 255.0);
    }
}
