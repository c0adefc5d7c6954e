//! A fault of the second normalization family (issue 17):
//! GroupNormalization-21 computed with opset 18's parameter indexing.

use xpucert_abi::BackendError;
use xpucert_reference_core::tensor::Tensor;

use super::io::Loaded;

/// GroupNormalization-21 reading scale and bias per group (`scale[c /
/// (C / num_groups)]`, the first num_groups entries), as a kernel written
/// for opset 18, where they had num_groups entries, still does after the
/// opset 21 change to one entry per channel. The arithmetic is f64 (two
/// passes), rounded once to X's dtype, so the indexing is the only
/// difference from an exact result. Other versions run the reference.
pub fn groupnorm_scale_per_group(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let x = l.input(0)?;
    let groups = usize::try_from(l.int("num_groups", 0)).unwrap_or(0);
    let c = x.shape.get(1).copied().unwrap_or(0);
    let params = (1..3)
        .map(|i| l.input(i).and_then(|t| t.to_real::<f64>()))
        .collect::<Result<Vec<_>, _>>()?;
    let malformed = groups == 0 || c % groups != 0 || params.iter().any(|p| p.len() != c);
    if l.call.opset < 21 || malformed {
        return l.reference(); // another version, or a malformed call the reference explains
    }
    let eps = l.float("epsilon", 1e-5);
    let per_group = c / groups;
    let spatial: usize = x.shape.iter().skip(2).product();
    let len = per_group * spatial;
    let mut v = x.to_real::<f64>()?;
    if len > 0 {
        for row in v.chunks_exact_mut(len) {
            let n = len as f64;
            let mean = row.iter().sum::<f64>() / n;
            let var = row.iter().map(|e| (e - mean) * (e - mean)).sum::<f64>() / n;
            let sd = (var + eps).sqrt();
            row.iter_mut().for_each(|e| *e = (*e - mean) / sd);
        }
        for (k, plane) in v.chunks_exact_mut(spatial).enumerate() {
            let g = (k % c) / per_group;
            plane
                .iter_mut()
                .for_each(|e| *e = *e * params[0][g] + params[1][g]);
        }
    }
    Ok(vec![Tensor::from_real(x.dtype(), x.shape.clone(), v)?])
}
