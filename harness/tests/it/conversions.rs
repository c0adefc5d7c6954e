//! The dtype conversions of `xpucert::numerics`, checked exhaustively.
//!
//! The library converts by bit manipulation. The reference here is written
//! the other way round, so the two are unlikely to share a mistake: a code is
//! decoded by arithmetic on its fields (`(2^m + man) * 2^(e - bias - m)`),
//! and rounding scales |x| by a power of two so the target's ulp becomes 1,
//! then uses `f64::round_ties_even`. The `half` crate's f32-based conversions
//! (`from_f32`, one rounding from f32) serve as a third opinion for f16/bf16.
//!
//! Coverage, per format (f16, bf16, e4m3fn, e5m2, e4m3fnuz, e5m2fnuz,
//! e2m1):
//! * every bit pattern decodes to the reference value and re-encodes to
//!   itself (any NaN for NaN codes);
//! * every representable value, every midpoint between neighbours
//!   (including zero-to-smallest-subnormal and the overflow threshold), and
//!   the f64 and f32 neighbours of each, both signs, in both overflow modes;
//! * a strided sweep over all 2^32 f32 bit patterns (the full sweep is
//!   `#[ignore]`d: run it with `cargo test --release -- --ignored`).

use std::fmt::Write as _;

use xpucert::numerics::{
    DType, E8m0Rounding, from_f64_bits, from_f64_bits_saturating, to_e8m0, to_f64_bits,
};

/// A float format as the reference sees it: sizes of its fields and which
/// codes are not numbers.
#[derive(Clone, Copy, Debug)]
struct Spec {
    dtype: DType,
    width: u32,
    exp_bits: u32,
    man_bits: u32,
    kind: Kind,
}

/// Where a format keeps its non-numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// The top exponent is Inf (zero significand) or NaN.
    Ieee,
    /// Only the all-ones magnitude is NaN (OCP "fn").
    Fn,
    /// Only the negative-zero pattern is NaN; bias one above IEEE's ("fnuz").
    Fnuz,
    /// No NaN, no Inf (E2M1): out of range saturates, NaN becomes +max.
    Finite,
}

const F16: Spec = Spec {
    dtype: DType::F16,
    width: 16,
    exp_bits: 5,
    man_bits: 10,
    kind: Kind::Ieee,
};
const BF16: Spec = Spec {
    dtype: DType::BF16,
    width: 16,
    exp_bits: 8,
    man_bits: 7,
    kind: Kind::Ieee,
};
const E4M3FN: Spec = Spec {
    dtype: DType::F8E4M3FN,
    width: 8,
    exp_bits: 4,
    man_bits: 3,
    kind: Kind::Fn,
};
const E5M2: Spec = Spec {
    dtype: DType::F8E5M2,
    width: 8,
    exp_bits: 5,
    man_bits: 2,
    kind: Kind::Ieee,
};
const E4M3FNUZ: Spec = Spec {
    dtype: DType::F8E4M3FNUZ,
    width: 8,
    exp_bits: 4,
    man_bits: 3,
    kind: Kind::Fnuz,
};
const E5M2FNUZ: Spec = Spec {
    dtype: DType::F8E5M2FNUZ,
    width: 8,
    exp_bits: 5,
    man_bits: 2,
    kind: Kind::Fnuz,
};
const E2M1: Spec = Spec {
    dtype: DType::F4E2M1,
    width: 4,
    exp_bits: 2,
    man_bits: 1,
    kind: Kind::Finite,
};
const ALL: [Spec; 7] = [F16, BF16, E4M3FN, E5M2, E4M3FNUZ, E5M2FNUZ, E2M1];

/// Which library entry point, and so which overflow rule, is under test.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// `from_f64_bits`: overflow to Inf, or NaN without Inf.
    Plain,
    /// `from_f64_bits_saturating`: ONNX `saturate=1`, fp8 only.
    Saturating,
}

/// 2^k, exact for the exponents used here (|k| well inside f64's range).
fn pow2(k: i32) -> f64 {
    2f64.powi(k)
}

impl Spec {
    fn codes(self) -> u32 {
        1 << self.width
    }

    fn bias(self) -> i32 {
        (1 << (self.exp_bits - 1)) - i32::from(self.kind != Kind::Fnuz)
    }

    fn emin(self) -> i32 {
        1 - self.bias()
    }

    /// Exponent of the largest binade holding finite values.
    fn emax(self) -> i32 {
        let top = (1 << self.exp_bits) - 1;
        if self.kind == Kind::Ieee {
            top - 1 - self.bias()
        } else {
            top - self.bias()
        }
    }

    /// Largest finite value: an all-ones significand, or one less in FN
    /// formats, whose all-ones pattern is NaN.
    fn max_finite(self) -> f64 {
        let steps =
            2f64.powi(self.man_bits as i32 + 1) - if self.kind == Kind::Fn { 2.0 } else { 1.0 };
        steps * pow2(self.emax() - self.man_bits as i32)
    }

    /// The value of `code`, computed from its fields with arithmetic.
    fn value(self, code: u32) -> f64 {
        let half = self.codes() / 2;
        let sign = if code >= half { -1.0 } else { 1.0 };
        let rest = code % half;
        let steps = 1u32 << self.man_bits;
        let e = (rest / steps) as i32;
        let m = f64::from(rest % steps);
        let top = (1 << self.exp_bits) - 1;
        if self.kind == Kind::Ieee && e == top {
            return if m == 0.0 {
                sign * f64::INFINITY
            } else {
                f64::NAN
            };
        }
        if self.kind == Kind::Fn && e == top && m == f64::from(steps - 1) {
            return f64::NAN;
        }
        if self.kind == Kind::Fnuz && code == half {
            return f64::NAN;
        }
        let mb = self.man_bits as i32;
        if e == 0 {
            sign * m * pow2(self.emin() - mb)
        } else {
            sign * (f64::from(steps) + m) * pow2(e - self.bias() - mb)
        }
    }

    /// `x` rounded to nearest, ties to even, by scaling: the answer the
    /// library must give.
    fn round(self, x: f64, mode: Mode) -> f64 {
        if x.is_nan() {
            // E2M1 has no NaN: ONNX's float4 table sends NaN to +6.
            return if self.kind == Kind::Finite {
                self.max_finite()
            } else {
                f64::NAN
            };
        }
        let a = x.abs();
        let mb = self.man_bits as i32;
        let overflow = || match (mode, self.kind) {
            (Mode::Saturating, _) if self.width == 8 => self.max_finite().copysign(x),
            (_, Kind::Finite) => self.max_finite().copysign(x),
            (_, Kind::Ieee) => f64::INFINITY.copysign(x),
            _ => f64::NAN,
        };
        // Zero keeps the sign of x, except in fnuz, which has no -0.
        let zero = if self.kind == Kind::Fnuz {
            0.0
        } else {
            0f64.copysign(x)
        };
        if a >= pow2(self.emax() + 2) {
            return overflow(); // Inf included
        }
        if a < pow2(self.emin() - mb - 2) {
            // Below a quarter of the smallest subnormal: zero.
            return zero;
        }
        // The binade of a: 2^k <= a < 2^(k+1). log2 is a first guess only.
        let mut k = a.log2().floor() as i32;
        while pow2(k) > a {
            k -= 1;
        }
        while pow2(k + 1) <= a {
            k += 1;
        }
        let ulp = pow2(k.max(self.emin()) - mb);
        let r = (a / ulp).round_ties_even() * ulp;
        if r > self.max_finite() {
            return overflow();
        }
        if r == 0.0 {
            return zero;
        }
        r.copysign(x)
    }
}

/// The library's code for `x` in `spec`.
fn lib_encode(spec: Spec, x: f64, mode: Mode) -> u32 {
    let mut buf = [0u8; 2];
    let out = &mut buf[..spec.dtype.size()];
    match mode {
        Mode::Plain => from_f64_bits(spec.dtype, x, out),
        Mode::Saturating => from_f64_bits_saturating(spec.dtype, x, out),
    }
    match spec.width {
        // A 4-bit code sits in the low nibble, the high one left zero.
        4 => {
            assert_eq!(buf[0] >> 4, 0, "{:?}: high nibble written", spec.dtype);
            u32::from(buf[0])
        }
        8 => u32::from(buf[0]),
        _ => u32::from(u16::from_ne_bytes(buf)),
    }
}

/// The library's value for `code` in `spec`.
fn lib_decode(spec: Spec, code: u32) -> f64 {
    let bytes = match spec.width {
        4 | 8 => vec![code as u8],
        _ => (code as u16).to_ne_bytes().to_vec(),
    };
    to_f64_bits(spec.dtype, &bytes)
}

/// Equal as results: the same bits (so -0 differs from +0), or both NaN.
fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

/// Collects mismatches, keeping the first few for the failure message.
#[derive(Default)]
struct Tally {
    checked: u64,
    failed: u64,
    examples: String,
}

impl Tally {
    fn fail(&mut self, what: std::fmt::Arguments) {
        self.failed += 1;
        if self.failed <= 12 {
            let _ = writeln!(self.examples, "  {what}");
        }
    }

    /// Checks the library's conversion of `x` against the reference.
    fn convert(&mut self, spec: Spec, x: f64, mode: Mode) {
        self.checked += 1;
        let code = lib_encode(spec, x, mode);
        let got = spec.value(code);
        let want = spec.round(x, mode);
        if !same(got, want) {
            self.fail(format_args!(
                "{:?} {mode:?}: x = {x:e} ({:#018x}) gave code {code:#x} = {got:e}, want {want:e}",
                spec.dtype,
                x.to_bits()
            ));
        }
    }

    fn assert_clean(&self, what: &str) {
        assert!(self.checked > 0, "{what}: nothing checked");
        assert_eq!(
            self.failed, 0,
            "{what}: {} of {} conversions wrong, first ones:\n{}",
            self.failed, self.checked, self.examples
        );
        eprintln!("{what}: {} conversions checked", self.checked);
    }
}

/// Every pattern decodes like the reference and encodes back to itself.
fn exhaustive_patterns(spec: Spec) -> u64 {
    let mut t = Tally::default();
    for code in 0..spec.codes() {
        t.checked += 1;
        let want = spec.value(code);
        let got = lib_decode(spec, code);
        if !same(got, want) {
            t.fail(format_args!("decode {code:#x}: got {got:e}, want {want:e}"));
        }
        for mode in [Mode::Plain, Mode::Saturating] {
            let back = lib_encode(spec, want, mode);
            let ok = if want.is_nan() {
                spec.value(back).is_nan()
            } else if want.is_infinite() && mode == Mode::Saturating && spec.width == 8 {
                spec.value(back) == spec.max_finite().copysign(want)
            } else {
                back == code
            };
            if !ok {
                t.fail(format_args!(
                    "{mode:?} re-encode of {code:#x} ({want:e}) gave {back:#x}"
                ));
            }
        }
    }
    t.assert_clean(&format!("{:?} patterns", spec.dtype));
    t.checked
}

#[test]
fn f16_all_patterns() {
    assert_eq!(exhaustive_patterns(F16), 65_536);
    // half's widening is exact; it must agree bit for bit, NaNs aside.
    for code in 0..=u16::MAX {
        let ours = lib_decode(F16, u32::from(code));
        let theirs = half::f16::from_bits(code).to_f64();
        assert!(
            same(ours, theirs),
            "{code:#06x}: {ours:e} vs half {theirs:e}"
        );
    }
}

#[test]
fn bf16_all_patterns() {
    assert_eq!(exhaustive_patterns(BF16), 65_536);
    for code in 0..=u16::MAX {
        let ours = lib_decode(BF16, u32::from(code));
        let theirs = half::bf16::from_bits(code).to_f64();
        assert!(
            same(ours, theirs),
            "{code:#06x}: {ours:e} vs half {theirs:e}"
        );
    }
}

#[test]
fn fp8_all_patterns() {
    assert_eq!(exhaustive_patterns(E4M3FN), 256);
    assert_eq!(exhaustive_patterns(E5M2), 256);
    // Hand-checked anchors, so the reference itself is pinned down.
    assert_eq!(E4M3FN.max_finite(), 448.0);
    assert_eq!(E5M2.max_finite(), 57344.0);
    assert_eq!(F16.max_finite(), 65504.0);
    assert_eq!(BF16.max_finite(), 3.389_531_389_251_535_5e38);
    assert_eq!(E4M3FN.value(0x01), pow2(-9));
    assert_eq!(E5M2.value(0x01), pow2(-16));
    assert_eq!(F16.value(0x0001), pow2(-24));
    assert_eq!(BF16.value(0x0001), pow2(-133));
    let nans = |s: Spec| (0..s.codes()).filter(|&c| s.value(c).is_nan()).count();
    assert_eq!((nans(E4M3FN), nans(E5M2)), (2, 6));
    assert_eq!((nans(F16), nans(BF16)), (2046, 254));
}

#[test]
fn fnuz_and_fp4_all_patterns() {
    assert_eq!(exhaustive_patterns(E4M3FNUZ), 256);
    assert_eq!(exhaustive_patterns(E5M2FNUZ), 256);
    assert_eq!(exhaustive_patterns(E2M1), 16);
    // Anchors from the ONNX float8/float4 notes.
    assert_eq!(E4M3FNUZ.max_finite(), 240.0);
    assert_eq!(E5M2FNUZ.max_finite(), 57344.0);
    assert_eq!(E2M1.max_finite(), 6.0);
    assert_eq!(E4M3FNUZ.value(0x01), pow2(-10));
    assert_eq!(E5M2FNUZ.value(0x01), pow2(-17));
    assert_eq!(E4M3FNUZ.value(0x40), 1.0);
    assert_eq!(E5M2FNUZ.value(0x40), 1.0);
    assert_eq!(E2M1.value(0x1), 0.5);
    assert_eq!(E2M1.value(0xF), -6.0);
    let nans = |s: Spec| {
        (0..s.codes())
            .filter(|&c| s.value(c).is_nan())
            .collect::<Vec<_>>()
    };
    assert_eq!(nans(E4M3FNUZ), [0x80]);
    assert_eq!(nans(E5M2FNUZ), [0x80]);
    assert!(nans(E2M1).is_empty());
    // No negative zero: -0 and tiny negatives encode as +0 in both modes.
    for spec in [E4M3FNUZ, E5M2FNUZ] {
        for mode in [Mode::Plain, Mode::Saturating] {
            assert_eq!(lib_encode(spec, -0.0, mode), 0);
            assert_eq!(lib_encode(spec, -1e-30, mode), 0);
            assert_eq!(lib_encode(spec, -f64::NAN, mode), 0x80);
        }
        // Without saturation, overflow and ±Inf are the one NaN.
        assert_eq!(lib_encode(spec, -1e30, Mode::Plain), 0x80);
        assert_eq!(lib_encode(spec, f64::INFINITY, Mode::Plain), 0x80);
        assert_eq!(lib_encode(spec, f64::NEG_INFINITY, Mode::Saturating), 0xFF);
    }
    // E2M1 (ONNX's float4 table): saturates in both modes, NaN -> +6.
    assert_eq!(lib_encode(E2M1, f64::NAN, Mode::Plain), 0x7);
    assert_eq!(lib_encode(E2M1, -f64::INFINITY, Mode::Plain), 0xF);
    assert_eq!(lib_encode(E2M1, 5.0, Mode::Plain), 0x6, "tie 4/6 to even");
    assert_eq!(lib_encode(E2M1, -0.0, Mode::Plain), 0x8);
}

#[test]
fn fnuz_and_fp4_midpoints_and_neighbours() {
    check_decisive(E4M3FNUZ);
    check_decisive(E5M2FNUZ);
    check_decisive(E2M1);
}

#[test]
fn f32_sweep_fnuz_and_fp4() {
    f32_sweep(&[E4M3FNUZ, E5M2FNUZ, E2M1], STRIDE);
}

/// int4/uint4 and int2/uint2: every code decodes to its two's complement
/// (or unsigned) value; encoding is ONNX's "round to nearest even, then keep
/// 4 (2) bits", checked on every integer and half-integer in a range that
/// wraps several times, their f64 neighbours, and the non-finite values.
#[test]
fn four_and_two_bit_integers_all_codes_and_boundaries() {
    for (dtype, lo, bits) in [
        (DType::I4, -8i64, 4u32),
        (DType::U4, 0, 4),
        (DType::I2, -2, 2),
        (DType::U2, 0, 2),
    ] {
        let codes = 1i64 << bits;
        for code in 0..codes as u8 {
            let want = (i64::from(code) - lo).rem_euclid(codes) + lo;
            assert_eq!(
                to_f64_bits(dtype, &[code]),
                want as f64,
                "{dtype} {code:#x}"
            );
            // The bits above the element's are not part of it.
            assert_eq!(to_f64_bits(dtype, &[code | 0xA0]), want as f64);
        }
        let encode = |x: f64| {
            let mut b = [0u8];
            from_f64_bits(dtype, x, &mut b);
            assert_eq!(b[0] >> bits, 0);
            to_f64_bits(dtype, &b)
        };
        let wrap = |n: i64| ((n - lo).rem_euclid(codes) + lo) as f64;
        for twice in -80i64..=80 {
            let x = twice as f64 / 2.0;
            // Nearest integer, ties to the even one, by integer arithmetic.
            let nearest = if twice % 2 == 0 {
                twice / 2
            } else {
                let down = (twice - 1).div_euclid(2);
                if down % 2 == 0 { down } else { down + 1 }
            };
            assert_eq!(encode(x), wrap(nearest), "{dtype} of {x}");
            for y in [
                f64::from_bits(x.to_bits() + 1),
                f64::from_bits(x.to_bits().wrapping_sub(1)),
            ] {
                if y.is_finite() && y != 0.0 {
                    assert_eq!(encode(y), wrap(y.round() as i64), "{dtype} of {y:e}");
                }
            }
        }
        assert_eq!(encode(1e300), 0.0, "a huge even integer keeps no low bits");
        assert_eq!(encode(2f64.powi(60) + 2f64.powi(10) * 3.0), 0.0);
        assert_eq!(encode(2f64.powi(52) + 3.0), wrap(3));
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(encode(x), 0.0);
        }
    }
}

/// E8M0: every code is 2^(c - 127) or NaN (255); encoding in each Cast
/// round_mode against a reference that compares with powers of two.
#[test]
fn e8m0_all_codes_and_boundaries() {
    for code in 0u8..=254 {
        assert_eq!(
            to_f64_bits(DType::F8E8M0, &[code]),
            pow2(i32::from(code) - 127)
        );
    }
    assert!(to_f64_bits(DType::F8E8M0, &[0xFF]).is_nan());
    let reference = e8m0_reference;
    let mut inputs = vec![
        0.0,
        f64::NAN,
        f64::INFINITY,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
    ];
    for k in -140..=140 {
        for p in [pow2(k), 1.5 * pow2(k), 1.25 * pow2(k)] {
            inputs.extend([
                p,
                f64::from_bits(p.to_bits() + 1),
                f64::from_bits(p.to_bits() - 1),
            ]);
        }
    }
    for &x in &inputs {
        for sat in [true, false] {
            for r in [E8m0Rounding::Up, E8m0Rounding::Down, E8m0Rounding::Nearest] {
                for x in [x, -x] {
                    assert_eq!(
                        to_e8m0(x, sat, r),
                        reference(x, sat, r),
                        "{x:e} {sat} {r:?}"
                    );
                }
            }
        }
    }
    // The library's plain and saturating conversions are round_mode nearest.
    let mut b = [0u8];
    from_f64_bits(DType::F8E8M0, 3.0, &mut b);
    assert_eq!(b[0], 129);
    from_f64_bits(DType::F8E8M0, 0.0, &mut b);
    assert_eq!(b[0], 255);
    from_f64_bits_saturating(DType::F8E8M0, 0.0, &mut b);
    assert_eq!(b[0], 0);
}

/// E8M0's code for `x` (Cast-24's table), found by comparing |x| with
/// powers of two only: the reference for [`to_e8m0`].
fn e8m0_reference(x: f64, sat: bool, r: E8m0Rounding) -> u8 {
    let a = x.abs();
    let (low, high) = if sat { (0, 254) } else { (255, 255) };
    if x.is_nan() {
        return 255;
    }
    if a == 0.0 {
        return low;
    }
    if a.is_infinite() {
        return high;
    }
    // 2^k <= a < 2^(k+1), found by comparison only.
    let mut k = -1100;
    while pow2(k + 1) <= a {
        k += 1;
    }
    let k = match r {
        E8m0Rounding::Down => k,
        E8m0Rounding::Up => k + i32::from(a > pow2(k)),
        E8m0Rounding::Nearest => k + i32::from(a >= 1.5 * pow2(k)),
    };
    match k + 127 {
        c if c < 0 => low,
        c if c > 254 => high,
        c => c as u8,
    }
}

/// Every conversion between a narrow type (fp8 fnuz, E2M1, E8M0, int4,
/// uint4, int2, uint2) and any float format or 4- or 2-bit integer, in both
/// directions: each
/// code of the source, at its exact value (the decoders are checked above),
/// encoded into the target and compared with the target's reference
/// rounding. Cast converts through exactly these two steps, so this covers
/// every type pair the new dtypes add.
#[test]
fn every_pair_with_a_narrow_type() {
    let narrow = |d: DType| {
        matches!(
            d,
            DType::F8E4M3FNUZ
                | DType::F8E5M2FNUZ
                | DType::F4E2M1
                | DType::F8E8M0
                | DType::I4
                | DType::U4
                | DType::I2
                | DType::U2
        )
    };
    let mut sources: Vec<(DType, f64)> = Vec::new();
    for spec in ALL {
        sources.extend((0..spec.codes()).map(|c| (spec.dtype, spec.value(c))));
    }
    sources.extend((-8..8).map(|v| (DType::I4, f64::from(v))));
    sources.extend((0..16).map(|v| (DType::U4, f64::from(v))));
    sources.extend((-2..2).map(|v| (DType::I2, f64::from(v))));
    sources.extend((0..4).map(|v| (DType::U2, f64::from(v))));
    sources.extend((0..=255u8).map(|c| (DType::F8E8M0, to_f64_bits(DType::F8E8M0, &[c]))));
    let mut t = Tally::default();
    for &(from, x) in &sources {
        for spec in ALL {
            if narrow(from) || narrow(spec.dtype) {
                for mode in [Mode::Plain, Mode::Saturating] {
                    t.convert(spec, x, mode);
                }
            }
        }
        for (to, lo, codes) in [
            (DType::I4, -8.0, 16),
            (DType::U4, 0.0, 16),
            (DType::I2, -2.0, 4),
            (DType::U2, 0.0, 4),
        ] {
            t.checked += 1;
            let mut b = [0u8];
            from_f64_bits(to, x, &mut b);
            let got = to_f64_bits(to, &b);
            // Round to nearest even, keep four (two) bits (in integers: f64
            // arithmetic on huge values would round); non-finite gives 0,
            // and so does anything from 2^62, a multiple of 1024.
            let r = x.round_ties_even();
            let want = if x.is_finite() && r.abs() < pow2(62) {
                ((r as i64 - lo as i64).rem_euclid(codes) + lo as i64) as f64
            } else {
                0.0
            };
            if got != want {
                t.fail(format_args!("{from} {x:e} to {to}: got {got}, want {want}"));
            }
        }
        for sat in [true, false] {
            for r in [E8m0Rounding::Up, E8m0Rounding::Down, E8m0Rounding::Nearest] {
                t.checked += 1;
                let (got, want) = (to_e8m0(x, sat, r), e8m0_reference(x, sat, r));
                if got != want {
                    t.fail(format_args!(
                        "{from} {x:e} to e8m0 ({sat}, {r:?}): got {got}, want {want}"
                    ));
                }
            }
        }
    }
    t.assert_clean("pairs with a narrow type");
}

/// The inputs where rounding is decided: every value of `spec`, each
/// midpoint between neighbours (0 and the smallest subnormal included, and
/// the overflow threshold past the largest finite value), and the nearest
/// f64 and f32 on either side of each, with both signs.
fn decisive_inputs(spec: Spec) -> Vec<f64> {
    let mut values: Vec<f64> = (0..spec.codes() / 2)
        .map(|c| spec.value(c))
        .filter(|v| v.is_finite())
        .collect();
    values.sort_by(f64::total_cmp);
    let top = values[values.len() - 1];
    let below_top = values[values.len() - 2];
    let mut points = values.clone();
    points.extend(values.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    points.push(top + (top - below_top) / 2.0);
    points.extend([f64::INFINITY, f64::MAX, f64::MIN_POSITIVE, 5e-324]);

    let mut inputs = Vec::with_capacity(points.len() * 10);
    for p in points {
        let mut near = vec![p];
        if p > 0.0 && p.is_finite() {
            near.push(f64::from_bits(p.to_bits() - 1));
            near.push(f64::from_bits(p.to_bits() + 1));
            let p32 = p as f32;
            if f64::from(p32) == p {
                near.push(f64::from(f32::from_bits(p32.to_bits() - 1)));
                near.push(f64::from(f32::from_bits(p32.to_bits() + 1)));
            }
        }
        inputs.extend(near.iter().flat_map(|&v| [v, -v]));
    }
    inputs
}

fn check_decisive(spec: Spec) {
    let mut t = Tally::default();
    for other in ALL {
        // Every format's critical points are ordinary inputs for the others.
        for x in decisive_inputs(other) {
            t.convert(spec, x, Mode::Plain);
            t.convert(spec, x, Mode::Saturating);
        }
    }
    t.assert_clean(&format!("{:?} midpoints and neighbours", spec.dtype));
}

#[test]
fn f16_midpoints_and_neighbours() {
    check_decisive(F16);
}

#[test]
fn bf16_midpoints_and_neighbours() {
    check_decisive(BF16);
}

#[test]
fn fp8_midpoints_and_neighbours() {
    check_decisive(E4M3FN);
    check_decisive(E5M2);
}

/// Converts every `stride`-th f32 bit pattern to each format and compares
/// with the reference and, for f16/bf16, with `half`'s f32 conversions
/// (single rounding from f32, so they must agree exactly).
fn f32_sweep(specs: &[Spec], stride: usize) {
    let mut t = Tally::default();
    let mut half_checked = 0u64;
    for pattern in (0..=u32::MAX).step_by(stride) {
        let x32 = f32::from_bits(pattern);
        let x = f64::from(x32);
        for &spec in specs {
            t.convert(spec, x, Mode::Plain);
            if spec.width == 8 {
                t.convert(spec, x, Mode::Saturating);
            }
            let theirs = match spec.dtype {
                DType::F16 => half::f16::from_f32(x32).to_bits(),
                DType::BF16 => half::bf16::from_f32(x32).to_bits(),
                _ => continue,
            };
            half_checked += 1;
            let ours = lib_encode(spec, x, Mode::Plain);
            let agree = if x.is_nan() {
                spec.value(ours).is_nan()
            } else {
                ours == u32::from(theirs)
            };
            if !agree {
                t.fail(format_args!(
                    "{:?}: f32 {pattern:#010x} gave {ours:#06x}, half says {theirs:#06x}",
                    spec.dtype
                ));
            }
        }
    }
    t.assert_clean(&format!("f32 sweep (stride {stride}) to {specs:?}"));
    eprintln!("  of which {half_checked} also against half");
}

/// The default stride: prime, so the low mantissa bits vary across the
/// sweep, and ~15M patterns, a few seconds per format in a debug build.
const STRIDE: usize = 127;

#[test]
fn f32_sweep_f16() {
    f32_sweep(&[F16], STRIDE);
}

#[test]
fn f32_sweep_bf16() {
    f32_sweep(&[BF16], STRIDE);
}

#[test]
fn f32_sweep_fp8() {
    f32_sweep(&[E4M3FN, E5M2], STRIDE);
}

#[test]
#[ignore = "all 2^32 f32 patterns; minutes even in release"]
fn f32_sweep_full() {
    std::thread::scope(|s| {
        for spec in ALL {
            s.spawn(move || f32_sweep(&[spec], 1));
        }
    });
}

/// f64 values just off an f16/bf16 tie, where rounding via 32 bits (the
/// `half` crate's `from_f64`) goes to the even neighbour instead of the
/// nearer one. Pinned with hand-computed answers.
#[test]
fn no_double_rounding_near_ties() {
    let cases = [
        // 1 + 2^-11 + 2^-52: just above the tie between 1 and 1 + 2^-10.
        (F16, 0x3ff0_0200_0000_0001u64, 0x3c01u32),
        // 1 + 2^-10 + 2^-11 - 2^-52: just below the tie between the odd
        // 0x3c01 and the even 0x3c02; rounding via f32 would first land
        // exactly on the tie and then go up to 0x3c02.
        (F16, 0x3ff0_05ff_ffff_ffff, 0x3c01),
        // Subnormal f16: 2^-25 + a hair rounds up to 2^-24.
        (F16, 0x3e60_0000_0000_0001, 0x0001),
        // bf16: 1 + 2^-8 + 2^-52, just above the tie 1 / 1 + 2^-7.
        (BF16, 0x3ff0_1000_0000_0001, 0x3f81),
        // e4m3fn: 1 + 2^-4 + 2^-52 goes up to 1.125.
        (E4M3FN, 0x3ff1_0000_0000_0001, 0x39),
        // e5m2: just above 61440 (the tie with Inf) is Inf all the same,
        // and just below is 57344.
        (E5M2, 0x40ee_0000_0000_0001, 0x7c),
        (E5M2, 0x40ed_ffff_ffff_ffff, 0x7b),
    ];
    for (spec, bits, want) in cases {
        let x = f64::from_bits(bits);
        assert_eq!(
            lib_encode(spec, x, Mode::Plain),
            want,
            "{:?} of {x:e} ({bits:#x})",
            spec.dtype
        );
        assert!(same(spec.value(want), spec.round(x, Mode::Plain)));
    }
}

/// ONNX Cast `saturate=1` for fp8, whole table: NaN stays NaN, ±Inf and
/// finite values past the range clamp to ±max, in range is RNE.
#[test]
fn fp8_saturation_table() {
    for spec in [E4M3FN, E5M2] {
        let max = spec.max_finite();
        let sat = |x: f64| spec.value(lib_encode(spec, x, Mode::Saturating));
        assert!(sat(f64::NAN).is_nan());
        assert_eq!(sat(f64::INFINITY), max);
        assert_eq!(sat(f64::NEG_INFINITY), -max);
        assert_eq!(sat(1e300), max);
        assert_eq!(sat(-2.0 * max), -max);
        assert_eq!(sat(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(sat(max), max);
    }
}

/// Integer targets: truncation toward zero, saturation at the range, NaN 0.
#[test]
fn integer_targets() {
    let read = |dtype: DType, x: f64| {
        let mut buf = [0u8; 8];
        from_f64_bits(dtype, x, &mut buf[..dtype.size()]);
        to_f64_bits(dtype, &buf[..dtype.size()])
    };
    let cases: [(DType, f64, f64); 14] = [
        (DType::I8, -128.9, -128.0),
        (DType::I8, 127.99, 127.0),
        (DType::I8, 200.0, 127.0),
        (DType::I8, f64::NAN, 0.0),
        (DType::U8, -0.5, 0.0),
        (DType::U8, -7.0, 0.0),
        (DType::U8, f64::INFINITY, 255.0),
        (DType::I16, -40000.0, -32768.0),
        (DType::U16, 65535.7, 65535.0),
        (DType::I32, -2.5, -2.0),
        (DType::U32, 5e9, 4294967295.0),
        (DType::I64, -1e30, -9223372036854775808.0),
        (DType::U64, f64::NAN, 0.0),
        (DType::Bool, f64::NAN, 1.0),
    ];
    for (dtype, x, want) in cases {
        assert_eq!(read(dtype, x), want, "{dtype:?} of {x}");
    }
}
