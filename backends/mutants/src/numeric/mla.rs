//! MlaAttention variants (issue 18, absorbed MLA): an honest kernel that
//! orders its sums as a fused decode kernel does, and a DeepSeek port that
//! caches the rope key before rotating it.

use xpucert_abi::BackendError;
use xpucert_reference_core::tensor::Tensor;

use super::attention::round_to;
use super::io::{Loaded, computes_in_f32, f32s, from_f32};
use super::{Patch, fault, honest};
use crate::Mode;

/// Keys per block of the honest kernel's online softmax (FlashMLA's
/// decode kernel walks the cache in blocks of 64; 16 makes several blocks
/// of the suites' short caches).
const BLOCK: usize = 16;

/// Honest MlaAttention in the order of a fused decode kernel: each score
/// is the latent dot product and the rope dot product, summed separately
/// (latent last to first) and then added; the keys are walked in blocks
/// with a running maximum and rescaled sums (online softmax); the block's
/// probabilities are rounded to the io dtype before P·V (FlashMLA's bf16
/// P); every sum in f32. f64 calls are the reference's.
fn reordered(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let q_in = l.input(0)?;
    let dtype = q_in.dtype();
    if !computes_in_f32(dtype) {
        return l.reference();
    }
    let [batch, sq, heads, d] = q_in.shape[..] else {
        return l.reference();
    };
    let cache_in = l.input(1)?;
    let [_, t, _] = cache_in.shape[..] else {
        return l.reference();
    };
    let dl = usize::try_from(l.int("kv_lora_rank", 0)).unwrap_or(0);
    if dl == 0 || dl > d {
        return l.reference();
    }
    let (q, cache) = (f32s(q_in)?, f32s(cache_in)?);
    let lens: Vec<usize> = match l.inputs.get(2).and_then(Option::as_ref) {
        Some(n) => n
            .to_indices()?
            .iter()
            .map(|&v| usize::try_from(v).unwrap_or(0).min(t))
            .collect(),
        None => vec![t; batch],
    };
    let causal = l.int("is_causal", 0) != 0;
    let scale = l.float("scale", 0.0) as f32;
    let mut out = vec![0f32; batch * sq * heads * dl];
    let mut acc = vec![0f32; dl];
    let mut p = [0f32; BLOCK];
    for (b, &valid) in lens.iter().enumerate().take(batch) {
        let keys = &cache[b * t * d..(b + 1) * t * d];
        for i in 0..sq {
            let last = (valid + i) as i64 - sq as i64;
            let seen = if causal {
                usize::try_from(last + 1).unwrap_or(0).min(valid)
            } else {
                valid
            };
            for h in 0..heads {
                let row = (b * sq + i) * heads + h;
                let qv = &q[row * d..(row + 1) * d];
                let (mut max, mut sum) = (f32::NEG_INFINITY, 0f32);
                acc.fill(0.0);
                for start in (0..seen).step_by(BLOCK) {
                    let end = (start + BLOCK).min(seen);
                    let mut block_max = f32::NEG_INFINITY;
                    for j in start..end {
                        let k = &keys[j * d..(j + 1) * d];
                        let latent: f32 = (0..dl).rev().map(|c| qv[c] * k[c]).sum();
                        let rope: f32 = (dl..d).map(|c| qv[c] * k[c]).sum();
                        p[j - start] = (latent + rope) * scale;
                        block_max = block_max.max(p[j - start]);
                    }
                    let new_max = max.max(block_max);
                    let rescale = (max - new_max).exp();
                    sum *= rescale;
                    acc.iter_mut().for_each(|a| *a *= rescale);
                    for j in start..end {
                        let e = (p[j - start] - new_max).exp();
                        sum += e;
                        let e = round_to(dtype, e);
                        let v = &keys[j * d..j * d + dl];
                        acc.iter_mut().zip(v).for_each(|(a, &v)| *a += e * v);
                    }
                    max = new_max;
                }
                let o = &mut out[row * dl..(row + 1) * dl];
                o.iter_mut().zip(&acc).for_each(|(o, &a)| *o = a / sum);
            }
        }
    }
    Ok(vec![from_f32(dtype, vec![batch, sq, heads, dl], out)?])
}

/// The rope key cached before its rotation: the shared single-head
/// RotaryEmbedding (DeepSeek's `k_pe`, `num_heads` 1) returns its input
/// unrotated, while the query heads' rope part is rotated.
fn rope_before_rotation(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    if l.int("num_heads", 0) == 1 && l.input(0)?.shape.len() == 3 {
        return Ok(vec![l.input(0)?.clone()]);
    }
    l.reference()
}

/// The MLA modes: the honest one, then the fault.
pub fn modes() -> Vec<Mode> {
    vec![
        honest(
            "mla_absorbed_reordered",
            "MlaAttention as a fused decode kernel: latent and rope dot products summed separately then added, keys in blocks of 16 with an online softmax, probabilities rounded to the io dtype before P.V, f32 sums",
            Patch::new(&["MlaAttention"], reordered),
        ),
        fault(
            "mla_rope_before_rotation",
            "DeepSeek's rope key k_pe cached before rotation: the single-head (num_heads 1) 3-D RotaryEmbedding returns its input, the query heads stay rotated",
            Patch::new(&["RotaryEmbedding"], rope_before_rotation),
        ),
    ]
}
