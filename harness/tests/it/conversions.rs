//! The dtype conversions of `xpucert::numerics`, checked exhaustively.
//!
//! The library converts by bit manipulation. The reference here is written
//! the other way round, so the two are unlikely to share a mistake: a code is
//! decoded by arithmetic on its fields (`(2^m + man) * 2^(e - bias - m)`),
//! and rounding scales |x| by a power of two so the target's ulp becomes 1,
//! then uses `f64::round_ties_even`. The `half` crate's f32-based conversions
//! (`from_f32`, one rounding from f32) serve as a third opinion for f16/bf16.
//!
//! Coverage, per format (f16, bf16, e4m3fn, e5m2):
//! * every bit pattern decodes to the reference value and re-encodes to
//!   itself (any NaN for NaN codes);
//! * every representable value, every midpoint between neighbours
//!   (including zero-to-smallest-subnormal and the overflow threshold), and
//!   the f64 and f32 neighbours of each, both signs, in both overflow modes;
//! * a strided sweep over all 2^32 f32 bit patterns (the full sweep is
//!   `#[ignore]`d: run it with `cargo test --release -- --ignored`).

use std::fmt::Write as _;

use xpucert::numerics::{DType, from_f64_bits, from_f64_bits_saturating, to_f64_bits};

/// A float format as the reference sees it: sizes of its fields and whether
/// its top exponent means Inf/NaN (IEEE) or is mostly ordinary numbers (FN).
#[derive(Clone, Copy, Debug)]
struct Spec {
    dtype: DType,
    width: u32,
    exp_bits: u32,
    man_bits: u32,
    ieee: bool,
}

const F16: Spec = Spec {
    dtype: DType::F16,
    width: 16,
    exp_bits: 5,
    man_bits: 10,
    ieee: true,
};
const BF16: Spec = Spec {
    dtype: DType::BF16,
    width: 16,
    exp_bits: 8,
    man_bits: 7,
    ieee: true,
};
const E4M3FN: Spec = Spec {
    dtype: DType::F8E4M3FN,
    width: 8,
    exp_bits: 4,
    man_bits: 3,
    ieee: false,
};
const E5M2: Spec = Spec {
    dtype: DType::F8E5M2,
    width: 8,
    exp_bits: 5,
    man_bits: 2,
    ieee: true,
};
const ALL: [Spec; 4] = [F16, BF16, E4M3FN, E5M2];

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
        (1 << (self.exp_bits - 1)) - 1
    }

    fn emin(self) -> i32 {
        1 - self.bias()
    }

    /// Exponent of the largest binade holding finite values.
    fn emax(self) -> i32 {
        if self.ieee {
            self.bias()
        } else {
            self.bias() + 1
        }
    }

    /// Largest finite value: an all-ones significand, or one less in FN
    /// formats, whose all-ones pattern is NaN.
    fn max_finite(self) -> f64 {
        let steps = 2f64.powi(self.man_bits as i32 + 1) - if self.ieee { 1.0 } else { 2.0 };
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
        if self.ieee && e == top {
            return if m == 0.0 {
                sign * f64::INFINITY
            } else {
                f64::NAN
            };
        }
        if !self.ieee && e == top && m == f64::from(steps - 1) {
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
            return f64::NAN;
        }
        let a = x.abs();
        let mb = self.man_bits as i32;
        let overflow = || match mode {
            Mode::Saturating if self.width == 8 => self.max_finite().copysign(x),
            _ if self.ieee => f64::INFINITY.copysign(x),
            _ => f64::NAN,
        };
        if a >= pow2(self.emax() + 2) {
            return overflow(); // Inf included
        }
        if a < pow2(self.emin() - mb - 2) {
            // Below a quarter of the smallest subnormal: a signed zero.
            return 0f64.copysign(x);
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
        8 => u32::from(buf[0]),
        _ => u32::from(u16::from_ne_bytes(buf)),
    }
}

/// The library's value for `code` in `spec`.
fn lib_decode(spec: Spec, code: u32) -> f64 {
    let bytes = match spec.width {
        8 => vec![code as u8],
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
