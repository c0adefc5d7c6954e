//! Faults of the normalization and reduction ops of issue 17: BatchNorm's
//! epsilon outside the square root, ArgMax/ArgMin returning the last of
//! equal extremes, CumSum ignoring `exclusive`.

use xpucert_abi::{AttrValue, BackendError};
use xpucert_reference_core::tensor::Tensor;

use super::io::Loaded;

/// BatchNormalization as `(x - mean) / (sqrt(var) + eps) * scale + B`: the
/// epsilon added after the root, a slip seen in hand-written kernels. The
/// arithmetic is f64, rounded once to X's dtype, so the fault is the only
/// difference from an exact result.
pub fn batchnorm_eps_outside_sqrt(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let eps = l.float("epsilon", 1e-5);
    let x = l.input(0)?;
    let c = x.shape.get(1).copied().unwrap_or(0);
    let inner: usize = x.shape.iter().skip(2).product();
    let p = (1..5)
        .map(|i| l.input(i).and_then(|t| t.to_real::<f64>()))
        .collect::<Result<Vec<_>, _>>()?;
    if c == 0 || p.iter().any(|v| v.len() != c) {
        return l.reference(); // a malformed call: the reference says why
    }
    let mut v = x.to_real::<f64>()?;
    if inner > 0 {
        for (k, plane) in v.chunks_exact_mut(inner).enumerate() {
            let ch = k % c;
            let denom = p[3][ch].sqrt() + eps;
            for e in plane.iter_mut() {
                *e = (*e - p[2][ch]) / denom * p[0][ch] + p[1][ch];
            }
        }
    }
    Ok(vec![Tensor::from_real(x.dtype(), x.shape.clone(), v)?])
}

/// ArgMax/ArgMin returning the last of equal extremes whatever
/// select_last_index says (a `>=` where `>` was meant).
pub fn argmax_last_on_ties(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    if l.call.opset >= 12 {
        l.set("select_last_index", AttrValue::Int(1));
    }
    l.reference()
}

/// CumSum ignoring `exclusive`: always the inclusive running sum.
pub fn cumsum_exclusive_ignored(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.set("exclusive", AttrValue::Int(0));
    l.reference()
}
