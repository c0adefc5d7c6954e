//! Faults of the optional outputs (issue 17): LayerNormalization's
//! InvStdDev returned as the standard deviation itself.

use xpucert_abi::BackendError;
use xpucert_reference_core::tensor::Tensor;

use super::io::Loaded;

/// LayerNormalization whose third output is `sqrt(var + eps)` instead of
/// its reciprocal (the name read as "std dev"): Y and Mean are the
/// reference's, so only a case requesting InvStdDev can see it.
pub fn layernorm_invstddev_is_stddev(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let mut out = l.reference()?;
    if let Some(t) = out.get_mut(2) {
        let v: Vec<f64> = (t.to_real::<f64>()?.into_iter()).map(|x| 1.0 / x).collect();
        *t = Tensor::from_real(t.dtype(), t.shape.clone(), v)?;
    }
    Ok(out)
}
