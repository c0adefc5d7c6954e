//! The second normalization family (issue 17): an honest variant,
//! InstanceNormalization and GroupNormalization with the one-pass variance
//! in f32 (as the ONNX function body writes it), and a fault,
//! GroupNormalization-21 computed with opset 18's parameter indexing.

use xpucert_abi::BackendError;
use xpucert_reference_core::tensor::Tensor;

use super::io::{self, Loaded};

/// InstanceNormalization and GroupNormalization with each group's
/// statistics in one f32 pass, `var = max(0, E[x^2] - mean^2)` (the
/// GroupNormalization function body's `MeanOfSquare - SquareOfMean`,
/// clamped as careful kernels do), then `(x - mean) / sqrt(var + eps) *
/// scale + bias` in f32. The subtraction cancels when the mean is large
/// against the spread: honest, and what the error model must allow.
pub fn one_pass_statistics(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let x = l.input(0)?;
    if !io::computes_in_f32(x.dtype()) || x.shape.len() < 2 {
        return l.reference();
    }
    let c = x.shape[1];
    let instance = l.op() == "InstanceNormalization";
    let groups = if instance {
        c
    } else {
        usize::try_from(l.int("num_groups", 0)).unwrap_or(0)
    };
    let per_group_params = !instance && l.call.opset < 21;
    let len = if per_group_params { groups } else { c };
    let scale = io::f32s(l.input(1)?)?;
    let bias = io::f32s(l.input(2)?)?;
    if groups == 0 || c % groups != 0 || scale.len() != len || bias.len() != len {
        return l.reference(); // a malformed call: the reference says why
    }
    let eps = l.float("epsilon", 1e-5) as f32;
    let per_group = c / groups;
    let spatial: usize = x.shape.iter().skip(2).product();
    let row = per_group * spatial;
    let mut v = io::f32s(x)?;
    if row > 0 {
        let n = row as f32;
        for r in v.chunks_exact_mut(row) {
            let (mut sum, mut sq) = (0.0f32, 0.0f32);
            for &e in r.iter() {
                sum += e;
                sq += e * e;
            }
            let mean = sum / n;
            let var = (sq / n - mean * mean).max(0.0);
            let sd = (var + eps).sqrt();
            r.iter_mut().for_each(|e| *e = (*e - mean) / sd);
        }
        for (k, plane) in v.chunks_exact_mut(spatial).enumerate() {
            let ch = k % c;
            let p = if per_group_params { ch / per_group } else { ch };
            plane.iter_mut().for_each(|e| *e = *e * scale[p] + bias[p]);
        }
    }
    Ok(vec![io::from_f32(x.dtype(), x.shape.clone(), v)?])
}

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
