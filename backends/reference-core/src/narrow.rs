//! The other narrow types ONNX defines next to fp8: FP4 E2M1, the E8M0
//! scale type of the OCP MX formats, and the 4- and 2-bit integers. Each
//! element is held as its code in one `u8` (in the low bits); packing two or
//! four to a byte happens only at the ABI boundary
//! (`xpucert_abi::TensorRef::read` and `TensorMut::write`).
//!
//! Written from the ONNX notes (docs/technical/float4.md, int4.md, int2.md, Cast-25's
//! E8M0 table), by table lookup and comparison rather than bit arithmetic,
//! so a mistake here is unlikely to repeat one in the harness's converter.

/// The magnitudes of E2M1's eight sign-less codes.
const E2M1_MAGNITUDES: [f64; 8] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];

/// The value of an E2M1 code (bit 3 is the sign; every code is a number).
pub fn fp4_decode(code: u8) -> f32 {
    let m = E2M1_MAGNITUDES[usize::from(code & 0x7)] as f32;
    if code & 0x8 != 0 { -m } else { m }
}

/// `x` to E2M1 per ONNX's float4 table: round to nearest, ties to the even
/// code; beyond ±6 (±Inf included) saturate to ±6; NaN gives +6.
pub fn fp4_encode(x: f64) -> u8 {
    if x.is_nan() {
        return 0x7;
    }
    let sign = if x.is_sign_negative() { 0x8 } else { 0 };
    let a = x.abs();
    if a >= 6.0 {
        return sign | 0x7; // ±6, ±Inf included (every distance is Inf there)
    }
    let mut best = 0u8;
    for code in 1..8u8 {
        let (d, db) = (
            (E2M1_MAGNITUDES[usize::from(code)] - a).abs(),
            (E2M1_MAGNITUDES[usize::from(best)] - a).abs(),
        );
        if d < db || (d == db && code % 2 == 0) {
            best = code;
        }
    }
    sign | best
}

/// The value of an int4 code: two's complement in four bits.
pub fn i4_decode(code: u8) -> i8 {
    let c = (code & 0x0F) as i8;
    if c >= 8 { c - 16 } else { c }
}

/// ONNX's conversion to a 4-bit integer: round to nearest even, keep the low
/// four bits (one code serves int4 and uint4). NaN and ±Inf give 0.
pub fn four_bit_encode(x: f64) -> u8 {
    if !x.is_finite() {
        return 0;
    }
    x.round_ties_even().rem_euclid(16.0) as u8
}

/// An integer's low four bits (Cast's "discard higher bits").
pub fn four_bit_wrap(v: i64) -> u8 {
    (v & 0x0F) as u8
}

/// The value of an int2 code: two's complement in two bits (codes 0, 1, 2,
/// 3 are 0, 1, -2, -1).
pub fn i2_decode(code: u8) -> i8 {
    const VALUES: [i8; 4] = [0, 1, -2, -1];
    VALUES[usize::from(code & 0x03)]
}

/// ONNX's conversion to a 2-bit integer (its int2 note): round to nearest
/// even, keep the low two bits (one code serves int2 and uint2). NaN and
/// ±Inf give 0.
pub fn two_bit_encode(x: f64) -> u8 {
    if !x.is_finite() {
        return 0;
    }
    x.round_ties_even().rem_euclid(4.0) as u8
}

/// An integer's low two bits (Cast's "discard higher bits").
pub fn two_bit_wrap(v: i64) -> u8 {
    (v & 0x03) as u8
}

/// Cast's `round_mode` for E8M0 targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum E8m0Round {
    /// Away from zero (the default).
    Up,
    /// Toward zero.
    Down,
    /// Nearer power of two, 1.5 * 2^k going up.
    Nearest,
}

/// The value of an E8M0 code: 2^(code - 127); 0xFF is NaN.
pub fn e8m0_decode(code: u8) -> f64 {
    if code == 0xFF {
        f64::NAN
    } else {
        2f64.powi(i32::from(code) - 127)
    }
}

/// `|x|` to E8M0 (Cast-25's table): NaN -> NaN; zero, values below 2^-127,
/// +Inf and values above 2^127 clamp to the range with `saturate` and are
/// NaN without it.
pub fn e8m0_encode(x: f64, saturate: bool, round: E8m0Round) -> u8 {
    if x.is_nan() {
        return 0xFF;
    }
    let a = x.abs();
    let (low, high) = if saturate {
        (0u8, 0xFEu8)
    } else {
        (0xFF, 0xFF)
    };
    if a == 0.0 {
        return low;
    }
    if a.is_infinite() {
        return high;
    }
    // The binade: 2^k <= a < 2^(k+1), searched with exact powers of two.
    let mut k = a.log2().floor() as i32;
    while 2f64.powi(k) > a {
        k -= 1;
    }
    while 2f64.powi(k + 1) <= a {
        k += 1;
    }
    let p = 2f64.powi(k);
    let e = match round {
        E8m0Round::Down => k,
        E8m0Round::Up if a > p => k + 1,
        E8m0Round::Up => k,
        E8m0Round::Nearest if a >= 1.5 * p => k + 1,
        E8m0Round::Nearest => k,
    };
    if e < -127 {
        low
    } else if e > 127 {
        high
    } else {
        (e + 127) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp4_every_code_and_the_onnx_table() {
        for code in 0..16u8 {
            let v = fp4_decode(code);
            assert_eq!(fp4_encode(f64::from(v)), code, "{code:#x}");
        }
        // Midpoints go to the even code: 0.25 -> 0, 0.75 -> 1.0, 2.5 -> 2,
        // 3.5 -> 4, 5 -> 4.
        let cases = [
            (0.25, 0x0),
            (0.2500001, 0x1),
            (0.75, 0x2),
            (1.25, 0x2),
            (1.75, 0x4),
            (2.5, 0x4),
            (3.5, 0x6),
            (5.0, 0x6),
            (5.0001, 0x7),
            (1e9, 0x7),
            (-7.0, 0xF),
            (f64::INFINITY, 0x7),
            (f64::NEG_INFINITY, 0xF),
            (f64::NAN, 0x7),
            (-0.0, 0x8),
            (-0.1, 0x8),
        ];
        for (x, code) in cases {
            assert_eq!(fp4_encode(x), code, "{x}");
        }
    }

    #[test]
    fn four_bit_integers_round_even_and_wrap() {
        assert_eq!(i4_decode(0x8), -8);
        assert_eq!(i4_decode(0x7), 7);
        assert_eq!(i4_decode(0xF), -1);
        assert_eq!(four_bit_encode(-9.0), 0x7);
        assert_eq!(four_bit_encode(8.0), 0x8);
        assert_eq!(four_bit_encode(2.5), 0x2);
        assert_eq!(four_bit_encode(-2.5), 0xE);
        assert_eq!(four_bit_encode(15.5), 0x0);
        assert_eq!(four_bit_encode(f64::NAN), 0);
        assert_eq!(four_bit_wrap(200), 0x8);
        assert_eq!(four_bit_wrap(-1), 0xF);
    }

    #[test]
    fn e8m0_codes_and_rounding() {
        assert_eq!(e8m0_decode(127), 1.0);
        assert_eq!(e8m0_decode(0), 2f64.powi(-127));
        assert!(e8m0_decode(255).is_nan());
        for code in 0..=254u8 {
            let v = e8m0_decode(code);
            for r in [E8m0Round::Up, E8m0Round::Down, E8m0Round::Nearest] {
                assert_eq!(e8m0_encode(v, false, r), code);
            }
        }
        assert_eq!(e8m0_encode(3.0, true, E8m0Round::Up), 129);
        assert_eq!(e8m0_encode(3.0, true, E8m0Round::Down), 128);
        assert_eq!(e8m0_encode(3.0, true, E8m0Round::Nearest), 129);
        assert_eq!(e8m0_encode(2.9, true, E8m0Round::Nearest), 128);
        assert_eq!(e8m0_encode(0.0, true, E8m0Round::Up), 0);
        assert_eq!(e8m0_encode(0.0, false, E8m0Round::Nearest), 255);
        assert_eq!(e8m0_encode(f64::INFINITY, true, E8m0Round::Up), 254);
        assert_eq!(e8m0_encode(1e39, false, E8m0Round::Up), 255);
        assert_eq!(e8m0_encode(2f64.powi(127) * 1.1, true, E8m0Round::Up), 254);
        assert_eq!(e8m0_encode(2f64.powi(127) * 1.1, false, E8m0Round::Up), 255);
    }
}
