//! The two OCP 8-bit floating-point formats ONNX names FLOAT8E4M3FN and
//! FLOAT8E5M2, written from their definitions rather than taken from a crate
//! (the numerics design notes a popular one with a wrong E4M3 maximum).
//!
//! Encoding works in two exact steps on an f64: round the magnitude to the
//! format's grid (a power-of-two quantum per binade, fixed below the smallest
//! normal so subnormals fall out naturally), then pack the exact grid value
//! into bits. Rounding first and judging the range afterwards is what ONNX
//! Cast-21 describes: a value is out of range when it *rounds* beyond the
//! largest finite value, so 464 (the E4M3FN tie between 448 and the 480 that
//! does not exist) stays 448, and 61440 (the E5M2 tie between 57344 and 2^16)
//! overflows. Every f32, f16 and bf16 value is exact in f64, so converting
//! through f64 is a single rounding.

/// An fp8 format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fp8 {
    /// 4 exponent bits (bias 7), 3 mantissa bits, no infinities; only
    /// S.1111.111 is NaN, so the largest finite value is 448.
    E4M3FN,
    /// 5 exponent bits (bias 15), 2 mantissa bits, IEEE-like with ±Inf and
    /// NaNs; the largest finite value is 57344.
    E5M2,
    /// 4 exponent bits (bias 8), 3 mantissa bits, no infinities and no -0:
    /// 0x80 is the only NaN, the largest finite value is 240.
    E4M3FNUZ,
    /// 5 exponent bits (bias 16), 2 mantissa bits, no infinities and no -0:
    /// 0x80 is the only NaN, the largest finite value is 57344.
    E5M2FNUZ,
}

impl Fp8 {
    const fn mantissa_bits(self) -> i32 {
        match self {
            Fp8::E4M3FN | Fp8::E4M3FNUZ => 3,
            Fp8::E5M2 | Fp8::E5M2FNUZ => 2,
        }
    }

    const fn bias(self) -> i32 {
        match self {
            Fp8::E4M3FN => 7,
            Fp8::E5M2 => 15,
            Fp8::E4M3FNUZ => 8,
            Fp8::E5M2FNUZ => 16,
        }
    }

    /// True for the formats without negative zero (0x80 is their NaN).
    const fn unsigned_zero(self) -> bool {
        matches!(self, Fp8::E4M3FNUZ | Fp8::E5M2FNUZ)
    }

    /// Exponent of the smallest normal number (also the exponent scale of
    /// the subnormals).
    const fn min_exponent(self) -> i32 {
        1 - self.bias()
    }

    /// The largest finite value.
    pub const fn max(self) -> f64 {
        match self {
            Fp8::E4M3FN => 448.0,
            Fp8::E5M2 | Fp8::E5M2FNUZ => 57344.0,
            Fp8::E4M3FNUZ => 240.0,
        }
    }

    /// Bits of the largest finite value (sign clear).
    const fn max_bits(self) -> u8 {
        match self {
            Fp8::E4M3FN => 0x7E,
            Fp8::E5M2 => 0x7B,
            Fp8::E4M3FNUZ | Fp8::E5M2FNUZ => 0x7F,
        }
    }

    /// The NaN this encoder produces (sign clear). E5M2 uses a quiet-style
    /// pattern (top mantissa bit set) like the wider IEEE formats; the fnuz
    /// formats have only 0x80, which the sign bit must not be added to.
    const fn nan_bits(self) -> u8 {
        if self.unsigned_zero() { 0x80 } else { 0x7F }
    }

    /// What an out-of-range magnitude becomes without saturation: NaN for
    /// E4M3FN and the fnuz formats (no infinity), infinity for E5M2.
    const fn overflow_bits(self) -> u8 {
        match self {
            Fp8::E4M3FN => 0x7F,
            Fp8::E5M2 => 0x7C,
            Fp8::E4M3FNUZ | Fp8::E5M2FNUZ => 0x80,
        }
    }

    /// The exact value of a bit pattern (NaN for every NaN encoding).
    pub fn decode(self, bits: u8) -> f32 {
        let sign = if bits & 0x80 != 0 { -1.0f32 } else { 1.0 };
        let m = self.mantissa_bits();
        let e_field = i32::from((bits & 0x7F) >> m);
        let mantissa = i32::from(bits) & ((1 << m) - 1);
        let all_ones = (1 << (7 - m)) - 1;
        match self {
            Fp8::E4M3FN if e_field == all_ones && mantissa == (1 << m) - 1 => return f32::NAN,
            Fp8::E5M2 if e_field == all_ones => {
                return if mantissa == 0 {
                    sign * f32::INFINITY
                } else {
                    f32::NAN
                };
            }
            Fp8::E4M3FNUZ | Fp8::E5M2FNUZ if bits == 0x80 => return f32::NAN,
            _ => {}
        }
        // Both ranges are tiny, so the products below are exact in f32.
        let magnitude = if e_field == 0 {
            mantissa as f32 * pow2(self.min_exponent() - m)
        } else {
            (((1 << m) + mantissa) as f32) * pow2(e_field - self.bias() - m)
        };
        sign * magnitude
    }

    /// Rounds `x` to nearest even and encodes it. With `saturate`, values
    /// that round beyond the largest finite value, and ±Inf, become ±max;
    /// without it they become NaN (E4M3FN) or ±Inf (E5M2). NaN stays NaN.
    pub fn encode(self, x: f64, saturate: bool) -> u8 {
        let sign: u8 = if x.is_sign_negative() { 0x80 } else { 0 };
        if self.unsigned_zero() {
            // One NaN (0x80) and no -0: the sign goes with nonzero numbers
            // only. Out of range without saturation is that NaN too.
            if x.is_nan() || (!saturate && (x.is_infinite() || self.rounds_past_max(x.abs()))) {
                return 0x80;
            }
            let code = self.encode_magnitude(x.abs(), true);
            return if code == 0 { 0 } else { sign | code };
        }
        if x.is_nan() {
            return sign | self.nan_bits();
        }
        let out_of_range = if saturate {
            self.max_bits()
        } else {
            self.overflow_bits()
        };
        let a = x.abs();
        if a.is_infinite() {
            return sign | out_of_range;
        }
        let m = self.mantissa_bits();
        // The binade of `a` (f64's unbiased exponent; f64 subnormals read as
        // -1023, far below every fp8 subnormal), held at the smallest normal
        // exponent so that the quantum there is the subnormal spacing.
        let binade = ((a.to_bits() >> 52) as i32 - 1023).max(self.min_exponent());
        let quantum = pow2_f64(binade - m);
        // Division and multiplication by a power of two are exact here.
        let rounded = (a / quantum).round_ties_even() * quantum;
        if rounded > self.max() {
            return sign | out_of_range;
        }
        sign | self.pack(rounded)
    }

    /// The sign-less code of a non-negative, non-NaN `a`; out of range and
    /// +Inf give the largest finite code (used with `saturate` semantics).
    fn encode_magnitude(self, a: f64, _saturate: bool) -> u8 {
        if a.is_infinite() || self.rounds_past_max(a) {
            return self.max_bits();
        }
        self.pack(self.round_to_grid(a))
    }

    /// True when `a` (finite or not) rounds beyond the largest finite value.
    fn rounds_past_max(self, a: f64) -> bool {
        a.is_infinite() || self.round_to_grid(a) > self.max()
    }

    /// `a` (finite, >= 0) rounded to nearest even on the format's grid,
    /// ignoring the range.
    fn round_to_grid(self, a: f64) -> f64 {
        let m = self.mantissa_bits();
        let binade = ((a.to_bits() >> 52) as i32 - 1023).max(self.min_exponent());
        let quantum = pow2_f64(binade - m);
        (a / quantum).round_ties_even() * quantum
    }

    /// Bits of an exact, in-range, non-negative grid value.
    fn pack(self, v: f64) -> u8 {
        let m = self.mantissa_bits();
        if v == 0.0 {
            return 0;
        }
        let e = (v.to_bits() >> 52) as i32 - 1023;
        if e < self.min_exponent() {
            // Subnormal: a multiple of the smallest subnormal.
            return (v / pow2_f64(self.min_exponent() - m)) as u8;
        }
        let fraction = (v / pow2_f64(e - m)) as i32 - (1 << m);
        (((e + self.bias()) << m) | fraction) as u8
    }
}

/// 2^e as an f32 (for the small exponents of fp8).
fn pow2(e: i32) -> f32 {
    pow2_f64(e) as f32
}

/// 2^e for any exponent an f64 holds as a normal number.
fn pow2_f64(e: i32) -> f64 {
    f64::from_bits(((e + 1023) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every bit pattern decodes to what its fields say and re-encodes to
    /// itself (NaNs to a NaN), with and without saturation.
    #[test]
    fn all_codes_round_trip() {
        for format in [Fp8::E4M3FN, Fp8::E5M2] {
            let mut finite = 0;
            for bits in 0..=255u8 {
                let v = format.decode(bits);
                for saturate in [true, false] {
                    let back = format.encode(f64::from(v), saturate);
                    if v.is_nan() {
                        assert!(format.decode(back).is_nan(), "{format:?} {bits:#04x}");
                    } else if v.is_infinite() && saturate {
                        assert_eq!(back, (bits & 0x80) | format.max_bits());
                    } else {
                        assert_eq!(back, bits, "{format:?} {bits:#04x} = {v}");
                    }
                }
                finite += usize::from(v.is_finite());
            }
            // E4M3FN: two NaNs; E5M2: two infinities and six NaNs.
            assert_eq!(finite, if format == Fp8::E4M3FN { 254 } else { 248 });
        }
    }

    #[test]
    fn fnuz_codes_and_specials() {
        for format in [Fp8::E4M3FNUZ, Fp8::E5M2FNUZ] {
            let mut finite = 0;
            for bits in 0..=255u8 {
                let v = format.decode(bits);
                if bits == 0x80 {
                    assert!(v.is_nan());
                    continue;
                }
                finite += 1;
                for saturate in [true, false] {
                    assert_eq!(
                        format.encode(f64::from(v), saturate),
                        bits,
                        "{format:?} {bits:#04x}"
                    );
                }
            }
            assert_eq!(finite, 255);
            assert_eq!(format.encode(-0.0, false), 0x00, "no negative zero");
            assert_eq!(format.encode(-1e-30, true), 0x00);
            assert_eq!(format.encode(-f64::NAN, true), 0x80);
            assert_eq!(format.encode(f64::INFINITY, false), 0x80);
            assert_eq!(format.encode(f64::NEG_INFINITY, true), 0xFF);
            assert_eq!(format.encode(-1e30, false), 0x80);
            assert_eq!(f64::from(format.decode(0x7F)), format.max());
        }
        let e4 = Fp8::E4M3FNUZ;
        assert_eq!(e4.decode(0x40), 1.0);
        assert_eq!(e4.decode(0x01), 2f32.powi(-10));
        // 248 is the tie between 240 (odd code 0x7F) and 256: out of range.
        assert_eq!(e4.encode(248.0, false), 0x80);
        assert_eq!(e4.encode(247.9, false), 0x7F);
        let e5 = Fp8::E5M2FNUZ;
        assert_eq!(e5.decode(0x40), 1.0);
        assert_eq!(e5.decode(0x01), 2f32.powi(-17));
        assert_eq!(e5.encode(61440.0, false), 0x80);
        assert_eq!(e5.encode(61440.0, true), 0x7F);
    }

    #[test]
    fn decoded_values_from_the_definitions() {
        let e4 = Fp8::E4M3FN;
        assert_eq!(e4.decode(0x38), 1.0);
        assert_eq!(e4.decode(0x7E), 448.0);
        assert_eq!(e4.decode(0xFE), -448.0);
        assert_eq!(e4.decode(0x01), 2f32.powi(-9));
        assert_eq!(e4.decode(0x08), 2f32.powi(-6));
        assert_eq!(e4.decode(0x07), 7.0 * 2f32.powi(-9));
        assert!(e4.decode(0x7F).is_nan() && e4.decode(0xFF).is_nan());
        assert_eq!(e4.decode(0x78), 256.0); // exponent 15 is a normal binade
        assert!(e4.decode(0x80).is_sign_negative() && e4.decode(0x80) == 0.0);
        let e5 = Fp8::E5M2;
        assert_eq!(e5.decode(0x3C), 1.0);
        assert_eq!(e5.decode(0x7B), 57344.0);
        assert_eq!(e5.decode(0x7C), f32::INFINITY);
        assert_eq!(e5.decode(0xFC), f32::NEG_INFINITY);
        assert!(e5.decode(0x7D).is_nan() && e5.decode(0xFF).is_nan());
        assert_eq!(e5.decode(0x01), 2f32.powi(-16));
        assert_eq!(e5.decode(0x04), 2f32.powi(-14));
    }

    #[test]
    fn values_between_codes_round_to_nearest_even() {
        let e4 = Fp8::E4M3FN;
        // Midpoints between consecutive finite codes go to the even code;
        // a hair either side goes to the nearer one.
        for format in [Fp8::E4M3FN, Fp8::E5M2, Fp8::E4M3FNUZ, Fp8::E5M2FNUZ] {
            for bits in 0..0x7Fu8 {
                let (lo, hi) = (format.decode(bits), format.decode(bits + 1));
                if !hi.is_finite() || f64::from(hi) > format.max() {
                    continue;
                }
                let mid = (f64::from(lo) + f64::from(hi)) / 2.0;
                let even = if bits % 2 == 0 { bits } else { bits + 1 };
                assert_eq!(format.encode(mid, false), even, "{format:?} {mid}");
                let negative = if even == 0 && format.unsigned_zero() {
                    0 // fnuz has no -0
                } else {
                    0x80 | even
                };
                assert_eq!(format.encode(-mid, false), negative);
                let nudge = (f64::from(hi) - f64::from(lo)) / 1024.0;
                assert_eq!(format.encode(mid - nudge, false), bits);
                assert_eq!(format.encode(mid + nudge, false), bits + 1);
            }
        }
        // Below half the smallest subnormal: zero, keeping the sign.
        assert_eq!(e4.encode(2f64.powi(-10), true), 0x00);
        assert_eq!(e4.encode(-2f64.powi(-10), true), 0x80);
        assert_eq!(e4.encode(2f64.powi(-10) * 1.01, true), 0x01);
        assert_eq!(e4.encode(1e-300, true), 0x00);
    }

    #[test]
    fn e4m3fn_overflow_ties_and_saturation() {
        let e4 = Fp8::E4M3FN;
        // 464 is the tie between 448 and the non-existent 480: even wins.
        assert_eq!(e4.encode(464.0, false), 0x7E);
        assert_eq!(e4.encode(-464.0, false), 0xFE);
        assert_eq!(e4.encode(464.0, true), 0x7E);
        // Anything that rounds beyond 448: NaN, or 448 with saturation.
        assert_eq!(e4.encode(464.0001, false), 0x7F);
        assert_eq!(e4.encode(-500.0, false), 0xFF);
        assert_eq!(e4.encode(464.0001, true), 0x7E);
        assert_eq!(e4.encode(-1e30, true), 0xFE);
        assert_eq!(e4.encode(f64::INFINITY, true), 0x7E);
        assert_eq!(e4.encode(f64::NEG_INFINITY, true), 0xFE);
        assert!(e4.decode(e4.encode(f64::INFINITY, false)).is_nan());
        assert!(e4.decode(e4.encode(f64::NAN, true)).is_nan());
    }

    #[test]
    fn e5m2_overflow_ties_and_saturation() {
        let e5 = Fp8::E5M2;
        // 61440 is the tie between 57344 (odd mantissa 11) and 2^16: it
        // rounds up, out of range.
        assert_eq!(e5.encode(61440.0, false), 0x7C);
        assert_eq!(e5.encode(-61440.0, false), 0xFC);
        assert_eq!(e5.encode(61440.0, true), 0x7B);
        assert_eq!(e5.encode(61439.0, false), 0x7B);
        assert_eq!(e5.encode(f64::INFINITY, false), 0x7C);
        assert_eq!(e5.encode(f64::NEG_INFINITY, false), 0xFC);
        // Cast-21: with saturation even ±Inf clamps to ±max.
        assert_eq!(e5.encode(f64::INFINITY, true), 0x7B);
        assert_eq!(e5.encode(f64::NEG_INFINITY, true), 0xFB);
        assert!(e5.decode(e5.encode(f64::NAN, false)).is_nan());
    }

    #[test]
    fn dense_f32_sweep_matches_the_nearest_code() {
        // Against a brute-force nearest-code search over the finite codes.
        for format in [Fp8::E4M3FN, Fp8::E5M2, Fp8::E4M3FNUZ, Fp8::E5M2FNUZ] {
            let codes: Vec<(u8, f64)> = (0..=0x7Fu8)
                .map(|b| (b, f64::from(format.decode(b))))
                .filter(|(_, v)| v.is_finite())
                .collect();
            let mut x = 2f32.powi(-20);
            while f64::from(x) <= format.max() {
                let xv = f64::from(x);
                let best = codes
                    .iter()
                    .min_by(|a, b| {
                        let (da, db) = ((a.1 - xv).abs(), (b.1 - xv).abs());
                        da.total_cmp(&db).then((a.0 & 1).cmp(&(b.0 & 1)))
                    })
                    .map(|c| c.0)
                    .unwrap();
                assert_eq!(format.encode(xv, true), best, "{format:?} {x}");
                // Steps of 2^-8 relative cover every rounding boundary.
                x = f32::from_bits(x.to_bits() + (1 << 15) + 1);
            }
        }
    }
}
