//! Elementwise kernels: fast transcendental functions (honest ones within
//! their ulp budget, and faulty ones that are not), and division through
//! the reciprocal.

use half::f16;
use xpucert_abi::{BackendError, DType};
use xpucert_reference_core::layout::{broadcast_offsets, broadcast_shapes};
use xpucert_reference_core::tensor::Tensor;

use super::io::{Loaded, computes_in_f32, f32s, from_f32};

const LN2_HI: f32 = 0.693_145_75; // ln 2 with its low 12 bits cleared
const LN2_LO: f32 = 1.428_606_8e-6; // ln 2 - LN2_HI

/// e^x by Cody-Waite range reduction (x = n ln2 + r, |r| <= ln2 / 2) and a
/// Taylor polynomial of `degree` in r, evaluated with FMA. Degree 7 leaves a
/// truncation error below 0.1 ulp (total about 1.5 ulp); degree 5 leaves
/// r^6 / 720, about 2.4e-6 relative (40 ulp) at |r| = ln2 / 2.
pub fn poly_exp(x: f32, degree: u32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > 88.722_84 {
        return f32::INFINITY;
    }
    if x < -104.0 {
        return 0.0;
    }
    let n = (x * std::f32::consts::LOG2_E).round();
    let r = (-n).mul_add(LN2_HI, x);
    let r = (-n).mul_add(LN2_LO, r);
    // Horner from the highest coefficient 1/degree! down to 1.
    let mut p = 1.0f32;
    for k in (1..=degree).rev() {
        p = (r / k as f32).mul_add(p, 1.0);
    }
    // 2^n in two factors, so neither leaves the normal range before the
    // product is formed (n spans -150..128).
    let n = n as i32;
    let (n1, n2) = (n / 2, n - n / 2);
    let pow2 = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    p * pow2(n1) * pow2(n2)
}

/// tanh through expm1, accurate near 0 (no cancellation): t / (t + 2) with
/// t = expm1(2x); saturates to +-1 beyond |x| = 10, where tanh rounds to 1.
pub fn tanh_expm1(x: f32) -> f32 {
    if x.abs() > 10.0 {
        return x.signum();
    }
    let t = libm::expm1f(2.0 * x);
    t / (t + 2.0)
}

/// Fault: tanh as (e^2x - 1) / (e^2x + 1). Guarded against overflow, but the
/// subtraction cancels near 0: for |x| = 1e-3 the relative error is ~u/2|x|,
/// hundreds of ulps, while the absolute error stays below 1e-7.
pub fn tanh_naive(x: f32) -> f32 {
    if x.abs() > 10.0 {
        return x.signum();
    }
    let e = (2.0 * x).exp();
    (e - 1.0) / (e + 1.0)
}

/// Fault: softplus as ln(1 + e^x) without the large-x guard: e^x overflows
/// above x = 88.7 and the result is +inf instead of ~x.
pub fn softplus_unguarded(x: f32) -> f32 {
    (1.0 + x.exp()).ln()
}

/// Fault: sigmoid as 1 / (1 + e^-x) with every step rounded to f16: e^-x
/// overflows f16 for x < -11.1 and the result becomes 0 instead of ~e^x.
pub fn sigmoid_f16_naive(x: f32) -> f32 {
    let e = f16::from_f32((-x).exp());
    let d = f16::from_f32(1.0 + e.to_f32());
    f16::from_f32(1.0 / d.to_f32()).to_f32()
}

/// Applies `f` to every element of input 0 (f32, f16, bf16 computed in
/// f32; f64 goes to the reference).
pub fn map(l: &Loaded<'_>, f: fn(f32) -> f32) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let x = l.input(0)?;
    if !computes_in_f32(x.dtype()) {
        return l.reference();
    }
    let v: Vec<f32> = f32s(x)?.into_iter().map(f).collect();
    Ok(vec![from_f32(x.dtype(), x.shape.clone(), v)?])
}

/// Like [`map`], but only for f16 calls; the others go to the reference.
pub fn map_f16(l: &Loaded<'_>, f: fn(f32) -> f32) -> Result<Vec<Tensor>, BackendError> {
    if l.input(0)?.dtype() == DType::F16 {
        map(l, f)
    } else {
        l.reference()
    }
}

/// Div as a * (1 / b), two roundings: at most 1.5 ulp, inside the 2.5 ulp
/// the OpenCL CTS allows for single-precision division.
pub fn div_by_reciprocal(l: &Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let (a, b) = (l.input(0)?, l.input(1)?);
    if !computes_in_f32(a.dtype()) {
        return l.reference();
    }
    let shape = broadcast_shapes(&[&a.shape, &b.shape])?;
    let (ai, bi) = (
        broadcast_offsets(&a.shape, &shape)?,
        broadcast_offsets(&b.shape, &shape)?,
    );
    let (av, bv) = (f32s(a)?, f32s(b)?);
    let v = ai
        .iter()
        .zip(&bi)
        .map(|(&i, &j)| av[i] * (1.0 / bv[j]))
        .collect();
    Ok(vec![from_f32(a.dtype(), shape, v)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Largest error in f32 ulps of the result over a dense sweep.
    fn worst_ulps(f: impl Fn(f32) -> f32, exact: impl Fn(f64) -> f64, lo: f32, hi: f32) -> f64 {
        let mut worst = 0.0f64;
        let steps = 200_000;
        for i in 0..=steps {
            let x = lo + (hi - lo) * i as f32 / steps as f32;
            let want = exact(f64::from(x));
            let got = f64::from(f(x));
            let ulp = f64::from((want as f32).abs().next_up() - (want as f32).abs());
            worst = worst.max((got - want).abs() / ulp);
        }
        worst
    }

    #[test]
    fn honest_fast_functions_stay_within_their_budget() {
        let e = worst_ulps(|x| poly_exp(x, 7), f64::exp, -87.0, 88.0);
        assert!(e < 3.0, "poly exp: {e} ulp");
        let t = worst_ulps(tanh_expm1, f64::tanh, -9.0, 9.0);
        assert!(t < 4.0, "tanh via expm1: {t} ulp");
    }

    #[test]
    fn faulty_functions_exceed_any_budget() {
        let e = worst_ulps(|x| poly_exp(x, 5), f64::exp, -5.0, 5.0);
        assert!(e > 20.0, "degree-5 exp: {e} ulp");
        let t = worst_ulps(tanh_naive, f64::tanh, -0.01, 0.01);
        assert!(t > 50.0, "naive tanh near 0: {t} ulp");
        assert_eq!(softplus_unguarded(100.0), f32::INFINITY);
        assert_eq!(sigmoid_f16_naive(-12.0), 0.0);
    }
}
