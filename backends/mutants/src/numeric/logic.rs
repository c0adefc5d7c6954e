//! Faults of the comparison and binary math ops (issue 17): Mod's sign
//! rule, Max's NaN, LessOrEqual's ties. Each rewrites the call or its inputs
//! and runs the reference kernel.

use xpucert_abi::{AttrValue, BackendError};
use xpucert_reference_core::ops::{Args, logic};
use xpucert_reference_core::support::Attrs;
use xpucert_reference_core::tensor::Tensor;

use super::io::Loaded;

/// Mod with fmod = 0 computed as C's fmod: the remainder takes the
/// dividend's sign instead of the divisor's (the two differ whenever the
/// signs differ and the remainder is not 0).
pub fn mod_sign_of_dividend(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    if l.int("fmod", 0) == 0 && !l.input(0)?.dtype().is_float() {
        l.set("fmod", AttrValue::Int(1));
    }
    l.reference()
}

/// Max ignoring NaN (fmax semantics): every NaN input element is read as
/// -inf, so the other inputs win.
pub fn max_nan_dropped(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    for slot in l.inputs.iter_mut() {
        let Some(t) = slot.as_ref() else { continue };
        if !t.dtype().is_float() {
            continue;
        }
        let v: Vec<f64> = t
            .to_real::<f64>()?
            .into_iter()
            .map(|e| if e.is_nan() { f64::NEG_INFINITY } else { e })
            .collect();
        *slot = Some(Tensor::from_real(t.dtype(), t.shape.clone(), v)?);
    }
    l.reference()
}

/// LessOrEqual computed as Less: equal operands give false.
pub fn less_or_equal_as_less(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let args = Args {
        op: "Less",
        opset: l.call.opset,
        attrs: Attrs(&l.attrs),
        inputs: &l.inputs,
        outputs: l.call.output_specs.len(),
    };
    Ok(vec![logic::compare(&args)?])
}

/// Honest: Sum and Mean adding their inputs last to first (broadcasting is
/// symmetric, so only the rounding order changes).
pub fn sum_reversed(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.inputs.reverse();
    l.reference()
}
