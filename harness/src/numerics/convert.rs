//! Conversions between f64 and each storage dtype's bits.
//!
//! Floating conversions round to nearest, ties to even, in one step from the
//! full f64 value; NaN stays NaN (quiet, sign and leading payload bits kept)
//! and infinities stay infinite where the format has them.
//!
//! f16, bf16 and both fp8 formats share one encoder and one decoder driven by
//! a [`Format`] description. We do not use the `half` crate's `from_f64`: it
//! keeps only the top 32 bits of the f64 before rounding, so an f64 just
//! above a tie (e.g. `1 + 2^-11 + 2^-52` to f16) is rounded as the tie
//! itself and lands on the wrong neighbour. f32 keeps Rust's `as`, which is
//! a single correct rounding.
//!
//! Integer conversions of finite values truncate toward zero and saturate at
//! the type's range, and NaN gives 0 (Rust's `as`). ONNX leaves out-of-range
//! float-to-integer casts undefined; the suites generate integers exactly
//! and avoid out-of-range Casts, so saturation is just a deterministic choice.
//! Bool is `x != 0`, so NaN is true, as ONNX specifies.
//!
//! The fnuz fp8 formats (E4M3FNUZ, E5M2FNUZ) and FP4 E2M1 go through the
//! same encoder: fnuz has one NaN (0x80), no negative zero (a negative value
//! that rounds to zero is +0) and no infinity (overflow without saturation
//! is NaN); E2M1 has neither NaN nor infinity and always saturates at ±6,
//! NaN giving +6 (ONNX's float4 table).
//!
//! The 4-bit integers follow ONNX's int4 note: round to nearest even, then
//! keep the low 4 bits (so 8 -> -8 in int4 and -1 -> 15 in uint4); NaN and
//! ±Inf give 0. The 2-bit integers follow its int2 note, the same rule with
//! 2 bits (2 -> -2 in int2, -1 -> 3 in uint2). E8M0 (a power of two, no sign) rounds to the nearest power
//! of two, ties (1.5 * 2^k) up, as Cast's `round_mode=nearest`; Cast's other
//! modes use [`to_e8m0`].
//!
//! A packed (4- or 2-bit) element is read from and written to the low bits
//! of one byte here; [`super::HostTensor`] places the codes two or four to a
//! byte ([`DType::packed_code`]).
//!
//! The conversions are verified exhaustively against an independent
//! implementation in `tests/it/conversions.rs`.

use super::DType;

/// Rounds `x` to the nearest value representable in `dtype`, as f64.
pub fn round_to(dtype: DType, x: f64) -> f64 {
    let mut buf = [0u8; 8];
    from_f64_bits(dtype, x, &mut buf[..dtype.size()]);
    to_f64_bits(dtype, &buf[..dtype.size()])
}

/// Element `i` of a contiguous buffer of `dtype` (packed dtypes: code `i`,
/// lowest bits first), as f64. Panics past the end of `data`.
pub fn read_element(dtype: DType, data: &[u8], i: usize) -> f64 {
    if dtype.is_packed() {
        let code = dtype
            .packed_code(data, i)
            .expect("packed element within the buffer");
        return to_f64_bits(dtype, &[code]);
    }
    let sz = dtype.size();
    to_f64_bits(dtype, &data[i * sz..(i + 1) * sz])
}

/// Writes `x` converted to `dtype` ([`from_f64_bits`]) as element `i` of a
/// contiguous buffer (packed dtypes: into code `i`, leaving the other
/// codes of its byte as they were).
pub fn write_element(dtype: DType, data: &mut [u8], i: usize, x: f64) {
    if dtype.is_packed() {
        let mut code = [0u8];
        from_f64_bits(dtype, x, &mut code);
        dtype.set_packed_code(data, i, code[0]);
        return;
    }
    let sz = dtype.size();
    from_f64_bits(dtype, x, &mut data[i * sz..(i + 1) * sz]);
}

/// How Cast rounds to E8M0 (its `round_mode` attribute, opset 24+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum E8m0Rounding {
    /// Away from zero: the next power of two up unless exact (the default).
    Up,
    /// Toward zero: the power of two at or below.
    Down,
    /// The nearer power of two; the midpoint 1.5 * 2^k goes up.
    Nearest,
}

/// The E8M0 code of `x` (Cast-24/25 to FLOAT8E8M0). E8M0 holds 2^(c - 127)
/// for c in 0..=254 and NaN (255); the sign of `x` is ignored (ONNX leaves
/// negative inputs unspecified; its reference drops the sign). Following
/// Cast's table: NaN -> NaN; with `saturate`, +Inf and values past 2^127
/// give 2^127 and zero and values below 2^-127 give 2^-127; without it
/// they all give NaN.
pub fn to_e8m0(x: f64, saturate: bool, rounding: E8m0Rounding) -> u8 {
    const NAN: u8 = 0xFF;
    if x.is_nan() {
        return NAN;
    }
    let a = x.abs();
    let (low, high) = if saturate { (0, 0xFE) } else { (NAN, NAN) };
    if a == 0.0 {
        return low;
    }
    if a.is_infinite() {
        return high;
    }
    // a = 2^k * m with 1 <= m < 2, subnormal f64s included.
    let bits = a.to_bits();
    let exp_field = ((bits >> F64_FRAC_BITS) & 0x7ff) as i32;
    let (k, frac) = if exp_field == 0 {
        let lead = 63 - bits.leading_zeros() as i32; // bit index of the leading one
        let frac = (bits << (F64_FRAC_BITS as i32 - lead)) & F64_FRAC_MASK;
        (lead - F64_FRAC_BITS as i32 + 1 - F64_EXP_BIAS, frac)
    } else {
        (exp_field - F64_EXP_BIAS, bits & F64_FRAC_MASK)
    };
    let up = match rounding {
        E8m0Rounding::Up => frac != 0,
        E8m0Rounding::Down => false,
        // m >= 1.5: the top fraction bit is set.
        E8m0Rounding::Nearest => frac >> (F64_FRAC_BITS - 1) != 0,
    };
    let code = k + i32::from(up) + 127;
    if code < 0 {
        low
    } else if code > 0xFE {
        high
    } else {
        code as u8
    }
}

/// Writes `x` converted to `dtype` into `out` (exactly `dtype.size()` bytes,
/// native byte order).
///
/// Overflow follows IEEE 754 (and ONNX Cast with `saturate=0` for fp8):
/// values at or beyond half an ulp past the largest finite value become ±Inf,
/// or NaN in E4M3FN, which has no infinity (so there ±Inf becomes NaN too).
pub fn from_f64_bits(dtype: DType, x: f64, out: &mut [u8]) {
    write_bits(dtype, x, Overflow::Ieee, out);
}

/// Like [`from_f64_bits`], but with ONNX Cast's `saturate=1` (its default)
/// for the fp8 formats: finite values that round past the largest finite
/// value, and ±Inf, become ±max finite (±448 for E4M3FN, ±57344 for E5M2,
/// per the Cast spec table, which maps ±Inf to max for E5M2 too). NaN stays
/// NaN. Other dtypes behave exactly as in [`from_f64_bits`]: ONNX applies
/// `saturate` to float8 targets only.
pub fn from_f64_bits_saturating(dtype: DType, x: f64, out: &mut [u8]) {
    write_bits(dtype, x, Overflow::Saturate, out);
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
        DType::F16 => decode(F16, u32::from(rd!(u16))),
        DType::BF16 => decode(BF16, u32::from(rd!(u16))),
        DType::F8E4M3FN => E4M3FN_VALUES[usize::from(bytes[0])],
        DType::F8E5M2 => E5M2_VALUES[usize::from(bytes[0])],
        DType::F8E4M3FNUZ => E4M3FNUZ_VALUES[usize::from(bytes[0])],
        DType::F8E5M2FNUZ => E5M2FNUZ_VALUES[usize::from(bytes[0])],
        DType::F8E8M0 => decode_e8m0(bytes[0]),
        DType::F4E2M1 => decode(E2M1, u32::from(bytes[0] & 0x0F)),
        // Sign-extend the low nibble: shift it to the top of an i8 and back.
        DType::I4 => f64::from(((bytes[0] << 4) as i8) >> 4),
        DType::U4 => f64::from(bytes[0] & 0x0F),
        // The same with the low two bits.
        DType::I2 => f64::from(((bytes[0] << 6) as i8) >> 6),
        DType::U2 => f64::from(bytes[0] & 0x03),
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

/// What a value beyond the largest finite one becomes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    /// ±Inf, or NaN in a format without infinities.
    Ieee,
    /// ±max finite, for ±Inf as well (ONNX `saturate=1`, fp8 only).
    Saturate,
}

fn write_bits(dtype: DType, x: f64, overflow: Overflow, out: &mut [u8]) {
    // `overflow` reaches the fp8 formats only: saturation is an fp8 notion
    // in ONNX, and wider formats always overflow to Inf.
    match dtype {
        DType::F64 => out.copy_from_slice(&x.to_ne_bytes()),
        // `as f32` is one IEEE round-to-nearest-even step; NaN stays NaN.
        DType::F32 => out.copy_from_slice(&(x as f32).to_ne_bytes()),
        DType::F16 => out.copy_from_slice(&narrow_u16(F16, x).to_ne_bytes()),
        DType::BF16 => out.copy_from_slice(&narrow_u16(BF16, x).to_ne_bytes()),
        DType::F8E4M3FN => out[0] = narrow_u8(E4M3FN, x, overflow),
        DType::F8E5M2 => out[0] = narrow_u8(E5M2, x, overflow),
        DType::F8E4M3FNUZ => out[0] = narrow_u8(E4M3FNUZ, x, overflow),
        DType::F8E5M2FNUZ => out[0] = narrow_u8(E5M2FNUZ, x, overflow),
        DType::F8E8M0 => {
            out[0] = to_e8m0(x, overflow == Overflow::Saturate, E8m0Rounding::Nearest);
        }
        // E2M1 always saturates (it has nothing else to overflow to).
        DType::F4E2M1 => out[0] = narrow_u8(E2M1, x, overflow),
        DType::I4 | DType::U4 => out[0] = narrow_int(x, 4),
        DType::I2 | DType::U2 => out[0] = narrow_int(x, 2),
        // Rust's float-to-int `as` truncates toward zero, saturates at the
        // range and maps NaN to 0: the documented choice for what ONNX
        // leaves undefined.
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

/// ONNX's conversion to int4/uint4 and int2/uint2 (`bits` 4 or 2): round to
/// nearest even, keep the low `bits` bits (two's complement, so the one code
/// serves the signed and the unsigned type). NaN and ±Inf, for which ONNX
/// defines nothing, give 0.
fn narrow_int(x: f64, bits: u32) -> u8 {
    if !x.is_finite() {
        return 0;
    }
    // Every f64 of magnitude >= 2^52 is an integer, and rem_euclid of an
    // integer-valued f64 by a power of two is exact, so these are the low
    // bits.
    x.round_ties_even().rem_euclid(f64::from(1u32 << bits)) as u8
}

/// The value of an E8M0 code: 2^(code - 127), NaN for 0xFF.
fn decode_e8m0(code: u8) -> f64 {
    if code == 0xFF {
        return f64::NAN;
    }
    // 2^-127 .. 2^127 are normal f64s: build the exponent field directly.
    f64::from_bits(((i32::from(code) - 127 + F64_EXP_BIAS) as u64) << F64_FRAC_BITS)
}

// The casts below cannot truncate: a format's codes fit in its width.
fn narrow_u16(fmt: Format, x: f64) -> u16 {
    encode(fmt, x, Overflow::Ieee) as u16
}

fn narrow_u8(fmt: Format, x: f64, overflow: Overflow) -> u8 {
    encode(fmt, x, overflow) as u8
}

/// A binary floating-point storage format narrower than f64: one sign bit,
/// `exp_bits` of biased exponent, `man_bits` of stored significand.
#[derive(Clone, Copy)]
struct Format {
    exp_bits: u32,
    man_bits: u32,
    special: Special,
}

/// Which codes of a format are not ordinary numbers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Special {
    /// IEEE-like: the all-ones exponent holds ±Inf (significand 0) and NaNs.
    Ieee,
    /// "FN", finite: only all-ones exponent and significand is NaN, and the
    /// rest of that binade holds ordinary finite values.
    Fn,
    /// "FNUZ": the negative-zero code is the only NaN, there is no -0 and
    /// no infinity, and the bias is one more than IEEE's.
    Fnuz,
    /// Every code is a number (E2M1); out of range saturates.
    Finite,
}

const F16: Format = Format {
    exp_bits: 5,
    man_bits: 10,
    special: Special::Ieee,
};
const BF16: Format = Format {
    exp_bits: 8,
    man_bits: 7,
    special: Special::Ieee,
};
const E4M3FN: Format = Format {
    exp_bits: 4,
    man_bits: 3,
    special: Special::Fn,
};
const E5M2: Format = Format {
    exp_bits: 5,
    man_bits: 2,
    special: Special::Ieee,
};
const E4M3FNUZ: Format = Format {
    exp_bits: 4,
    man_bits: 3,
    special: Special::Fnuz,
};
const E5M2FNUZ: Format = Format {
    exp_bits: 5,
    man_bits: 2,
    special: Special::Fnuz,
};
const E2M1: Format = Format {
    exp_bits: 2,
    man_bits: 1,
    special: Special::Finite,
};

const F64_FRAC_BITS: u32 = 52;
const F64_FRAC_MASK: u64 = (1 << F64_FRAC_BITS) - 1;
const F64_EXP_BIAS: i32 = 1023;
const F64_QUIET_NAN: u64 = 0x7ff8_0000_0000_0000;

impl Format {
    const fn bias(self) -> i32 {
        let ieee = (1 << (self.exp_bits - 1)) - 1;
        if matches!(self.special, Special::Fnuz) {
            ieee + 1
        } else {
            ieee
        }
    }

    /// Exponent of the smallest normal value; subnormals share its ulp.
    const fn emin(self) -> i32 {
        1 - self.bias()
    }

    const fn sign_bit(self) -> u32 {
        1 << (self.exp_bits + self.man_bits)
    }

    const fn exp_all_ones(self) -> u32 {
        (1 << self.exp_bits) - 1
    }

    const fn man_mask(self) -> u32 {
        (1 << self.man_bits) - 1
    }

    const fn max_finite(self) -> u32 {
        match self.special {
            Special::Ieee => (self.exp_all_ones() << self.man_bits) - 1,
            // All ones is NaN; the code below it is the largest value.
            Special::Fn => (self.sign_bit() - 1) - 1,
            // Every positive code is finite.
            Special::Fnuz | Special::Finite => self.sign_bit() - 1,
        }
    }

    /// What a magnitude past the range becomes without saturation, with the
    /// sign of the value: ±Inf, NaN where there is no infinity, and ±max
    /// where there is no NaN either.
    const fn overflow(self, sign: u32) -> u32 {
        match self.special {
            Special::Ieee => sign | (self.exp_all_ones() << self.man_bits),
            Special::Fn => sign | (self.sign_bit() - 1),
            Special::Fnuz => self.sign_bit(),
            Special::Finite => sign | self.max_finite(),
        }
    }
}

/// Rounds `x` to `fmt`, ties to even, straight from the f64 bits, so there is
/// exactly one rounding. Returns the code including the sign bit.
fn encode(fmt: Format, x: f64, overflow: Overflow) -> u32 {
    let bits = x.to_bits();
    let sign = if bits >> 63 != 0 { fmt.sign_bit() } else { 0 };
    let exp_field = ((bits >> F64_FRAC_BITS) & 0x7ff) as i32;
    let frac = bits & F64_FRAC_MASK;
    let overflowed = match overflow {
        Overflow::Ieee => fmt.overflow(sign),
        Overflow::Saturate => sign | fmt.max_finite(),
    };

    if exp_field == 0x7ff {
        if frac == 0 {
            return overflowed;
        }
        return quiet_nan(fmt, sign, frac);
    }
    // FNUZ has no -0: a negative value that rounds to zero is +0.
    let zero = if fmt.special == Special::Fnuz {
        0
    } else {
        sign
    };

    // x = sig * 2^(e - 52) exactly, subnormal f64s included.
    let (e, sig) = if exp_field == 0 {
        (1 - F64_EXP_BIAS, frac)
    } else {
        (exp_field - F64_EXP_BIAS, frac | (1 << F64_FRAC_BITS))
    };
    if sig == 0 {
        return zero;
    }

    // The target's ulp at this magnitude is 2^(max(e, emin) - man_bits):
    // below emin the spacing stops shrinking (subnormals). Count x in those
    // ulps by shifting the f64 significand right, then round the remainder.
    let man_bits = fmt.man_bits as i32;
    let ulp_exp = e.max(fmt.emin()) - man_bits;
    // At least 52 - man_bits > 0, so `half` below is well defined.
    let shift = (F64_FRAC_BITS as i32 + ulp_exp - e) as u32;
    let ulps = if shift >= 64 {
        // Far below the smallest subnormal: less than half an ulp.
        0
    } else {
        let kept = sig >> shift;
        let rest = sig & ((1u64 << shift) - 1);
        let half = 1u64 << (shift - 1);
        if rest > half || (rest == half && kept & 1 == 1) {
            kept + 1
        } else {
            kept
        }
    };

    // For a normal result `ulps` includes the implicit bit (2^man_bits), so
    // adding (e - emin) << man_bits yields the biased exponent field; when
    // rounding carries to 2^(man_bits + 1) it moves into the next binade by
    // itself. Subnormals (and a carry into the smallest normal) need nothing.
    let code = if e >= fmt.emin() {
        (((e - fmt.emin()) as u64) << man_bits) + ulps
    } else {
        ulps
    };
    if code > u64::from(fmt.max_finite()) {
        return overflowed;
    }
    if code == 0 {
        return zero;
    }
    sign | code as u32
}

/// A NaN of `fmt` with the sign bit `sign`, keeping the leading bits of the
/// f64 payload `frac` where the format has payloads.
fn quiet_nan(fmt: Format, sign: u32, frac: u64) -> u32 {
    match fmt.special {
        Special::Ieee => {}
        // FN formats have a single NaN code per sign.
        Special::Fn => return sign | (fmt.sign_bit() - 1),
        // FNUZ has one NaN, the negative-zero code.
        Special::Fnuz => return fmt.sign_bit(),
        // E2M1 has no NaN: ONNX's float4 table maps NaN to +6.
        Special::Finite => return fmt.max_finite(),
    }
    let payload = (frac >> (F64_FRAC_BITS - fmt.man_bits)) as u32 & fmt.man_mask();
    let quiet = 1 << (fmt.man_bits - 1);
    sign | (fmt.exp_all_ones() << fmt.man_bits) | quiet | payload
}

/// The exact f64 value of `code` in `fmt` (a widening, so never rounded).
/// NaNs decode to quiet f64 NaNs with the sign and payload kept.
const fn decode(fmt: Format, code: u32) -> f64 {
    let sign = if code & fmt.sign_bit() != 0 {
        1u64 << 63
    } else {
        0
    };
    let exp_field = (code >> fmt.man_bits) & fmt.exp_all_ones();
    let man = (code & fmt.man_mask()) as u64;
    let to_f64_frac = F64_FRAC_BITS - fmt.man_bits;

    match fmt.special {
        Special::Ieee if exp_field == fmt.exp_all_ones() => {
            // Inf keeps a zero fraction; NaN payloads widen as-is, made quiet.
            let quiet = if man == 0 { 0 } else { F64_QUIET_NAN };
            return f64::from_bits(sign | (0x7ff << F64_FRAC_BITS) | quiet | (man << to_f64_frac));
        }
        Special::Fn if exp_field == fmt.exp_all_ones() && man == fmt.man_mask() as u64 => {
            return f64::from_bits(sign | F64_QUIET_NAN);
        }
        Special::Fnuz if code == fmt.sign_bit() => return f64::from_bits(F64_QUIET_NAN),
        _ => {}
    }
    if exp_field == 0 {
        if man == 0 {
            return f64::from_bits(sign);
        }
        // man * 2^(emin - man_bits): normalise so the leading one becomes
        // f64's implicit bit.
        let lead = 63 - man.leading_zeros();
        let e = fmt.emin() - fmt.man_bits as i32 + lead as i32;
        let frac = (man << (F64_FRAC_BITS - lead)) & F64_FRAC_MASK;
        return f64::from_bits(sign | (((e + F64_EXP_BIAS) as u64) << F64_FRAC_BITS) | frac);
    }
    let e = exp_field as i32 - fmt.bias();
    f64::from_bits(sign | (((e + F64_EXP_BIAS) as u64) << F64_FRAC_BITS) | (man << to_f64_frac))
}

/// Every fp8 code's value, built at compile time.
const fn fp8_table(fmt: Format) -> [f64; 256] {
    let mut table = [0.0; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = decode(fmt, code as u32);
        code += 1;
    }
    table
}

static E4M3FN_VALUES: [f64; 256] = fp8_table(E4M3FN);
static E5M2_VALUES: [f64; 256] = fp8_table(E5M2);
static E4M3FNUZ_VALUES: [f64; 256] = fp8_table(E4M3FNUZ);
static E5M2FNUZ_VALUES: [f64; 256] = fp8_table(E5M2FNUZ);

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored code of `x` in a 16- or 8-bit float dtype.
    fn bits(dtype: DType, x: f64) -> u16 {
        let mut buf = [0u8; 2];
        from_f64_bits(dtype, x, &mut buf[..dtype.size()]);
        match dtype.size() {
            1 => u16::from(buf[0]),
            _ => u16::from_ne_bytes(buf),
        }
    }

    fn sat(dtype: DType, x: f64) -> f64 {
        let mut buf = [0u8; 8];
        from_f64_bits_saturating(dtype, x, &mut buf[..dtype.size()]);
        to_f64_bits(dtype, &buf[..dtype.size()])
    }

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
    fn one_rounding_from_the_full_f64() {
        // Just above a tie, in bits the `half` crate drops: rounds up.
        let above_tie = f64::from_bits((1.0 + 2f64.powi(-11)).to_bits() + 1);
        assert_eq!(round_to(DType::F16, above_tie), 1.0 + 2f64.powi(-10));
        let above_tie = f64::from_bits((1.0 + 2f64.powi(-8)).to_bits() + 1);
        assert_eq!(round_to(DType::BF16, above_tie), 1.0 + 2f64.powi(-7));
        // And in the subnormal range: just above half the smallest
        // subnormal rounds up to it; the exact half goes to even zero.
        let half_min = 2f64.powi(-25);
        assert_eq!(round_to(DType::F16, half_min), 0.0);
        let above = f64::from_bits(half_min.to_bits() + 1);
        assert_eq!(round_to(DType::F16, above), 2f64.powi(-24));
        assert_eq!(round_to(DType::BF16, 2f64.powi(-134)), 0.0);
        assert_eq!(
            round_to(DType::BF16, f64::from_bits(2f64.powi(-134).to_bits() + 1)),
            2f64.powi(-133)
        );
    }

    #[test]
    fn special_values_keep_their_meaning() {
        assert_eq!(bits(DType::F16, -0.0), 0x8000);
        assert_eq!(bits(DType::BF16, f64::NEG_INFINITY), 0xff80);
        assert_eq!(bits(DType::F16, f64::NAN), 0x7e00);
        assert_eq!(bits(DType::BF16, -f64::NAN), 0xffc0);
        // A signalling NaN whose payload is all below f16's bits stays NaN.
        assert!(round_to(DType::F16, f64::from_bits(0x7ff0_0000_0000_0001)).is_nan());
        assert_eq!(bits(DType::F8E5M2, f64::NAN), 0x7e);
        assert_eq!(bits(DType::F8E4M3FN, -f64::NAN), 0xff);
        // f16 overflow: 65520 is the tie between 65504 and 2^16 (odd code).
        assert_eq!(round_to(DType::F16, 65519.99), 65504.0);
        assert_eq!(round_to(DType::F16, 65520.0), f64::INFINITY);
        assert_eq!(round_to(DType::F16, f64::MAX), f64::INFINITY);
        assert_eq!(round_to(DType::F16, f64::MIN_POSITIVE / 2.0), 0.0);
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
    fn fp8_saturation_follows_onnx() {
        assert_eq!(sat(DType::F8E4M3FN, 464.5), 448.0);
        assert_eq!(sat(DType::F8E4M3FN, f64::NEG_INFINITY), -448.0);
        assert_eq!(sat(DType::F8E4M3FN, 464.0), 448.0);
        assert!(sat(DType::F8E4M3FN, f64::NAN).is_nan());
        assert_eq!(sat(DType::F8E5M2, 61440.0), 57344.0);
        assert_eq!(sat(DType::F8E5M2, -1e300), -57344.0);
        assert_eq!(sat(DType::F8E5M2, f64::INFINITY), 57344.0);
        assert!(sat(DType::F8E5M2, f64::NAN).is_nan());
        // saturate is an fp8 attribute: f16 still overflows to Inf.
        assert_eq!(sat(DType::F16, 1e6), f64::INFINITY);
    }

    #[test]
    fn fp8_tables_match_the_decoder() {
        for code in 0..=255u8 {
            for (fmt, table) in [(E4M3FN, &E4M3FN_VALUES), (E5M2, &E5M2_VALUES)] {
                let v = decode(fmt, u32::from(code));
                assert!(v.to_bits() == table[usize::from(code)].to_bits());
            }
        }
        assert_eq!(E4M3FN_VALUES[0x01], 2f64.powi(-9));
        assert_eq!(E4M3FN_VALUES[0x7e], 448.0);
        assert!(E4M3FN_VALUES[0x7f].is_nan() && E4M3FN_VALUES[0xff].is_nan());
        assert_eq!(E4M3FN_VALUES[0x78], 256.0, "no Inf at the top exponent");
        assert_eq!(E5M2_VALUES[0x7b], 57344.0);
        assert_eq!(E5M2_VALUES[0xfc], f64::NEG_INFINITY);
        assert!(E5M2_VALUES[0x7d].is_nan());
    }

    #[test]
    fn integers_and_bool() {
        assert_eq!(round_to(DType::I8, -3.0), -3.0);
        assert_eq!(round_to(DType::I64, 123456789.0), 123456789.0);
        assert_eq!(round_to(DType::Bool, -2.0), 1.0);
        assert_eq!(round_to(DType::U8, 255.0), 255.0);
        // Truncation toward zero, saturation, NaN -> 0.
        assert_eq!(round_to(DType::I8, -3.9), -3.0);
        assert_eq!(round_to(DType::U8, 255.9), 255.0);
        assert_eq!(round_to(DType::I8, 1e9), 127.0);
        assert_eq!(round_to(DType::U16, -5.0), 0.0);
        assert_eq!(round_to(DType::I32, f64::NEG_INFINITY), i32::MIN as f64);
        assert_eq!(round_to(DType::U64, f64::NAN), 0.0);
        assert_eq!(round_to(DType::Bool, f64::NAN), 1.0);
        assert_eq!(round_to(DType::Bool, -0.0), 0.0);
    }
}
