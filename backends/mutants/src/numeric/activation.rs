//! Activations and unary math (issue 17): an honest variant computing the
//! ONNX formulas literally in f32 with the platform's f32 libm (what a
//! straightforward kernel does, cancellations included), and faults seen in
//! real kernels and exporters.

use xpucert_abi::{AttrValue, BackendError};
use xpucert_reference_core::tensor::Tensor;

use super::io::{Loaded, computes_in_f32, f32s, from_f32};
use super::{Patch, fault, honest};
use crate::Mode;

/// The ops [`f32_formulas`] computes itself.
const FORMULA_OPS: &[&str] = &[
    "Elu",
    "Selu",
    "Celu",
    "HardSigmoid",
    "HardSwish",
    "Mish",
    "Softsign",
    "Sin",
    "Cos",
    "Tan",
    "Asin",
    "Acos",
    "Atan",
    "Sinh",
    "Cosh",
    "Asinh",
    "Acosh",
    "Atanh",
];

/// A float attribute as the f32 ONNX stores.
fn attr(l: &Loaded<'_>, name: &str, default: f32) -> f32 {
    l.float(name, f64::from(default)) as f32
}

/// Honest: the ONNX formulas in f32, as written (`alpha (e^x - 1)`, not
/// expm1; `ln(1 + e^x)` with PyTorch's threshold of 20; HardSwish as
/// `x (relu6(x + 3) / 6)`), and Rust's f32 libm for the trigonometric and
/// hyperbolic functions (atanh in glibc's odd-symmetric form, see below).
/// f64 calls go to the reference.
fn f32_formulas(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let x = l.input(0)?;
    if !computes_in_f32(x.dtype()) {
        return l.reference();
    }
    let f: Box<dyn Fn(f32) -> f32> = match l.op() {
        "Elu" => {
            let a = attr(l, "alpha", 1.0);
            Box::new(move |x| if x < 0.0 { a * (x.exp() - 1.0) } else { x })
        }
        "Selu" => {
            let a = attr(l, "alpha", 1.673_263_2);
            let g = attr(l, "gamma", 1.050_701);
            Box::new(move |x| {
                if x > 0.0 {
                    g * x
                } else {
                    g * (a * x.exp() - a)
                }
            })
        }
        "Celu" => {
            let a = attr(l, "alpha", 1.0);
            // max/min written so that NaN propagates, as numpy's do
            // (f32::max would turn a NaN into 0).
            Box::new(move |x| {
                let pos = if x > 0.0 { x } else { 0.0 };
                let neg = a * ((x / a).exp() - 1.0);
                pos + if neg < 0.0 || neg.is_nan() { neg } else { 0.0 }
            })
        }
        "HardSigmoid" => {
            let a = attr(l, "alpha", 0.2);
            let b = attr(l, "beta", 0.5);
            Box::new(move |x| (a * x + b).clamp(0.0, 1.0))
        }
        // The gate before the product: x * 6 / 6 would overflow for
        // |x| > max / 6, where the result is finite.
        "HardSwish" => Box::new(|x| x * ((x + 3.0).clamp(0.0, 6.0) / 6.0)),
        "Mish" => Box::new(|x| {
            let softplus = if x > 20.0 { x } else { (1.0 + x.exp()).ln() };
            x * softplus.tanh()
        }),
        "Softsign" => Box::new(|x| x / (1.0 + x.abs())),
        "Sin" => Box::new(f32::sin),
        "Cos" => Box::new(f32::cos),
        "Tan" => Box::new(f32::tan),
        "Asin" => Box::new(f32::asin),
        "Acos" => Box::new(f32::acos),
        "Atan" => Box::new(f32::atan),
        "Sinh" => Box::new(f32::sinh),
        "Cosh" => Box::new(f32::cosh),
        "Asinh" => Box::new(f32::asinh),
        "Acosh" => Box::new(f32::acosh),
        // Odd-symmetric, as glibc's atanhf: Rust's f32::atanh evaluates
        // ln_1p(2x / (1 - x)) for negative x too, where 1 + 2x/(1 - x)
        // cancels, about 20 ulps off near -1 (outside the CTS budget).
        "Atanh" => Box::new(|x: f32| {
            let a = x.abs();
            (0.5 * ((2.0 * a) / (1.0 - a)).ln_1p()).copysign(x)
        }),
        _ => return l.reference(),
    };
    let v = f32s(x)?.into_iter().map(f).collect();
    Ok(vec![from_f32(x.dtype(), x.shape.clone(), v)?])
}

/// Fault: Rust's own `f32::atanh`, `ln_1p(2x / (1 - x)) / 2` for negative
/// x as well: `1 + 2x / (1 - x)` cancels as x nears -1, about 20 ulps off
/// at -0.98 and 4% at -0.99999994. A library bug, not a contrived one.
fn atanh_asymmetric(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    super::elementwise::map(l, f32::atanh)
}

/// Fault: Round with ties away from zero (C's `round`, Rust's
/// `f32::round`) instead of to even: 2.5 gives 3, -0.5 gives -1.
fn round_half_away(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    super::elementwise::map(l, f32::round)
}

/// Fault: HardSigmoid with PyTorch's alpha (1/6) when the attribute is
/// absent; ONNX's default is 0.2 (an exporter must write 1/6 explicitly).
fn hardsigmoid_default_alpha(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    if l.attr("alpha").is_none() {
        l.set("alpha", AttrValue::Float(1.0 / 6.0));
    }
    l.reference()
}

/// Fault: Clip as `fmin(fmax(x, min), max)`: the IEEE maxNum/minNum
/// functions return the other operand for a NaN, so a NaN becomes min (or
/// max, or -inf when no bound is given) instead of staying NaN.
fn clip_nan_dropped(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let x = l.input(0)?;
    if !computes_in_f32(x.dtype()) {
        return l.reference();
    }
    let (lo, hi) = if l.call.opset < 11 {
        (attr(l, "min", f32::MIN), attr(l, "max", f32::MAX))
    } else {
        let bound = |i: usize, none: f32| -> Result<f32, BackendError> {
            match l.inputs.get(i).and_then(Option::as_ref) {
                Some(t) => Ok(f32s(t)?.first().copied().unwrap_or(none)),
                None => Ok(none),
            }
        };
        (bound(1, f32::NEG_INFINITY)?, bound(2, f32::INFINITY)?)
    };
    let v = f32s(x)?.into_iter().map(|v| v.max(lo).min(hi)).collect();
    Ok(vec![from_f32(x.dtype(), x.shape.clone(), v)?])
}

/// The honest modes of this family.
pub fn honest_modes() -> Vec<Mode> {
    vec![honest(
        "activation_f32_formulas",
        "activations and trigonometric/hyperbolic functions as the literal ONNX formulas in f32 (e^x - 1, ln(1 + e^x), x (relu6(x + 3) / 6)) and f32 libm",
        Patch::new(FORMULA_OPS, f32_formulas),
    )]
}

/// The faults of this family.
pub fn fault_modes() -> Vec<Mode> {
    vec![
        fault(
            "round_half_away",
            "Round breaks ties away from zero (2.5 -> 3) instead of to even",
            Patch::new(&["Round"], round_half_away),
        ),
        fault(
            "hardsigmoid_default_alpha_wrong",
            "HardSigmoid defaults alpha to PyTorch's 1/6 instead of ONNX's 0.2",
            Patch::new(&["HardSigmoid"], hardsigmoid_default_alpha),
        ),
        fault(
            "atanh_asymmetric",
            "Atanh as Rust's f32::atanh, ln_1p(2x / (1 - x)) / 2 for negative x too: cancels near -1",
            Patch::new(&["Atanh"], atanh_asymmetric),
        ),
        fault(
            "clip_nan_dropped",
            "Clip as fmin(fmax(x, min), max): NaN becomes min instead of staying NaN",
            Patch::new(&["Clip"], clip_nan_dropped),
        ),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_faulty_functions_differ_where_they_should() {
        // Ties away from zero versus to even.
        assert_eq!(2.5f32.round(), 3.0);
        assert_eq!(2.5f32.round_ties_even(), 2.0);
        // maxNum drops NaN.
        assert_eq!(f32::NAN.max(-1.0), -1.0);
    }
}
