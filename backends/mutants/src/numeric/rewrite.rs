//! Faults expressed as a rewrite of the call (an attribute, an operand's
//! shape, a mask) followed by the reference kernel: each is the same bug a
//! real backend makes when it mis-reads the spec, with the reference's
//! arithmetic everywhere else.

use xpucert_abi::{AttrValue, BackendError, DType};
use xpucert_reference_core::tensor::{Data, Tensor};

use super::io::{Loaded, f32s, from_f32};

/// Tanh-approximate Gelu where the exact (erf) form was asked.
pub fn gelu_tanh(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.set("approximate", AttrValue::String("tanh"));
    l.reference()
}

/// RotaryEmbedding with the pairing swapped (interleaved <-> half-split).
pub fn rope_swapped(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let flipped = 1 - l.int("interleaved", 0).clamp(0, 1);
    l.set("interleaved", AttrValue::Int(flipped));
    l.reference()
}

/// Attention ignoring `is_causal`.
pub fn causal_missing(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.set("is_causal", AttrValue::Int(0));
    l.reference()
}

/// Sequence lengths of Q and K: 4-D (b, h, s, d) or 3-D (b, s, h*d).
fn seq_len(t: &Tensor) -> usize {
    match t.shape.len() {
        4 => t.shape[2],
        _ => t.shape.get(1).copied().unwrap_or(0),
    }
}

/// Attention whose causal mask lets query i see key i + 1 (a `<=` where a
/// `<` was meant). Calls with an explicit mask or a past are left alone.
pub fn causal_off_by_one(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let plain = (3..l.inputs.len()).all(|i| l.inputs[i].is_none());
    if l.int("is_causal", 0) == 0 || !plain {
        return l.reference();
    }
    let (q, k) = (seq_len(l.input(0)?), seq_len(l.input(1)?));
    let mask: Vec<u8> = (0..q)
        .flat_map(|i| (0..k).map(move |j| u8::from(j <= i + 1)))
        .collect();
    l.set("is_causal", AttrValue::Int(0));
    l.inputs.resize(4, None);
    l.inputs[3] = Some(Tensor::new(vec![q, k], Data::Bool(mask))?);
    l.reference()
}

/// Attention scaled by 1/d instead of 1/sqrt(d) when no scale is given.
pub fn scale_one_over_d(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    if l.attr("scale").is_none() {
        let q = l.input(0)?;
        let d = match q.shape.len() {
            4 => q.shape[3],
            _ => q.shape[2] / l.int("q_num_heads", 1).max(1) as usize,
        };
        l.set("scale", AttrValue::Float(1.0 / d.max(1) as f64));
    }
    l.reference()
}

/// Attention ignoring `softcap`.
pub fn softcap_ignored(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.set("softcap", AttrValue::Float(0.0));
    l.reference()
}

/// Grouped-query attention mapping query head h to key/value head
/// h % kv_heads instead of h / (q_heads / kv_heads).
pub fn gqa_modulo(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    if l.inputs.len() > 4 && l.inputs[4..].iter().any(Option::is_some) {
        return l.reference();
    }
    let q = l.input(0)?.clone();
    for slot in [1, 2] {
        let t = l.input(slot)?.clone();
        let expanded = match (q.shape.len(), t.shape.len()) {
            (4, 4) => {
                let (b, kv, s, d) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3]);
                let hq = q.shape[1];
                if hq == kv || kv == 0 {
                    return l.reference();
                }
                let index: Vec<usize> = (0..b * hq * s * d)
                    .map(|f| {
                        let (di, si, h, bi) =
                            (f % d, f / d % s, f / (d * s) % hq, f / (d * s * hq));
                        ((bi * kv + h % kv) * s + si) * d + di
                    })
                    .collect();
                Tensor::new(vec![b, hq, s, d], t.data.gather(&index))?
            }
            (3, 3) => {
                let (hq, kv) = (
                    l.int("q_num_heads", 0) as usize,
                    l.int("kv_num_heads", 0) as usize,
                );
                if hq == kv || kv == 0 || hq == 0 {
                    return l.reference();
                }
                let (b, s, hidden) = (t.shape[0], t.shape[1], t.shape[2]);
                let d = hidden / kv;
                let index: Vec<usize> = (0..b * s * hq * d)
                    .map(|f| {
                        let (di, h, row) = (f % d, f / d % hq, f / (d * hq));
                        row * hidden + (h % kv) * d + di
                    })
                    .collect();
                Tensor::new(vec![b, s, hq * d], t.data.gather(&index))?
            }
            _ => return l.reference(),
        };
        l.inputs[slot] = Some(expanded);
    }
    if q.shape.len() == 3 {
        let hq = l.int("q_num_heads", 0);
        l.set("kv_num_heads", AttrValue::Int(hq));
    }
    l.reference()
}

/// Binary op whose 1-D right operand of length L is broadcast along the
/// rows (as [L, 1]) whenever the left operand has L rows: the shape check
/// passes and the wrong axis is used.
pub fn broadcast_rows(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let (a, b) = (l.input(0)?, l.input(1)?);
    if b.shape.len() == 1 && a.shape.len() >= 2 && a.shape[a.shape.len() - 2] == b.shape[0] {
        let mut col = b.clone();
        col.shape = vec![b.shape[0], 1];
        l.inputs[1] = Some(col);
    }
    l.reference()
}

/// Gemm ignoring beta (as if it were 1).
pub fn gemm_beta_ignored(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.set("beta", AttrValue::Float(1.0));
    l.reference()
}

/// ReduceMax with NaN dropped (fmax semantics): NaN read as -inf.
pub fn max_drops_nan(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let x = l.input(0)?;
    if matches!(x.dtype(), DType::F32 | DType::F16 | DType::BF16) {
        let v = f32s(x)?
            .into_iter()
            .map(|e| if e.is_nan() { f32::NEG_INFINITY } else { e })
            .collect();
        l.inputs[0] = Some(from_f32(x.dtype(), x.shape.clone(), v)?);
    }
    l.reference()
}

/// ReduceMean dividing by the size of the last reduced axis only.
pub fn mean_wrong_count(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let mut out = l.reference()?;
    let x = l.input(0)?;
    let rank = x.shape.len();
    let axes: Vec<usize> = match l.inputs.get(1).and_then(Option::as_ref) {
        Some(t) if t.numel() > 0 => t
            .to_indices()?
            .iter()
            .map(|&a| {
                if a < 0 {
                    (a + rank as i64) as usize
                } else {
                    a as usize
                }
            })
            .collect(),
        _ if l.int("noop_with_empty_axes", 0) != 0 => return Ok(out),
        _ => (0..rank).collect(),
    };
    let total: usize = axes.iter().map(|&a| x.shape[a]).product();
    let last = axes.iter().max().map_or(1, |&a| x.shape[a]);
    if total == last
        || last == 0
        || !matches!(out[0].dtype(), DType::F32 | DType::F16 | DType::BF16)
    {
        return Ok(out);
    }
    let factor = total as f32 / last as f32;
    let y = &out[0];
    let v = f32s(y)?.into_iter().map(|e| e * factor).collect();
    out[0] = from_f32(y.dtype(), y.shape.clone(), v)?;
    Ok(out)
}

/// TopK returning the higher index first among equal values: the input is
/// reversed along the axis, so the reference's lower-index-first rule picks
/// the higher original index, and the indices are mapped back.
pub fn topk_ties_reversed(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let x = l.input(0)?.clone();
    let rank = x.shape.len();
    let axis = l.int("axis", -1);
    let axis = if axis < 0 { axis + rank as i64 } else { axis } as usize;
    if axis >= rank {
        return l.reference();
    }
    let len = x.shape[axis];
    let inner: usize = x.shape[axis + 1..].iter().product();
    let index: Vec<usize> = (0..x.numel())
        .map(|f| {
            let (i, j, o) = (f % inner, f / inner % len, f / (inner * len));
            (o * len + (len - 1 - j)) * inner + i
        })
        .collect();
    l.inputs[0] = Some(Tensor::new(x.shape.clone(), x.data.gather(&index))?);
    let mut out = l.reference()?;
    if let Some(Data::I64(ix)) = out.get_mut(1).map(|t| &mut t.data) {
        for v in ix.iter_mut() {
            *v = len as i64 - 1 - *v;
        }
    }
    Ok(out)
}

/// Transpose applying the inverse permutation (the same for 2-D and for
/// swaps, different for 3-cycles).
pub fn transpose_inverse(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    if let Some(AttrValue::Ints(perm)) = l.attr("perm") {
        let mut inv = vec![0i64; perm.len()];
        for (i, &p) in perm.iter().enumerate() {
            if let Some(slot) = usize::try_from(p).ok().and_then(|p| inv.get_mut(p)) {
                *slot = i as i64;
            }
        }
        // Attribute values borrow; a Transpose perm is a few bytes per call,
        // so leaking it is cheaper than threading an owner through Loaded.
        let inv: &'static [i64] = Box::leak(inv.into_boxed_slice());
        l.set("perm", AttrValue::Ints(inv));
    }
    l.reference()
}

/// Concat normalising a negative axis as rank + axis - 1 (off by one).
pub fn concat_negative_axis(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let axis = l.int("axis", 0);
    if axis < 0 {
        let rank = l.input(0)?.shape.len() as i64;
        l.set("axis", AttrValue::Int((rank + axis - 1).max(0)));
    }
    l.reference()
}

/// Where broadcasting its condition by tiling the flat buffer (element k
/// reads cond[k % len]) instead of by axes.
pub fn where_tiled(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let cond = l.input(0)?;
    let shape = l.out_shape(0);
    let n: usize = shape.iter().product();
    if cond.numel() == 0 || cond.shape == shape {
        return l.reference();
    }
    let len = cond.numel();
    let index: Vec<usize> = (0..n).map(|k| k % len).collect();
    l.inputs[0] = Some(Tensor::new(shape, cond.data.gather(&index))?);
    l.reference()
}

/// Integer-to-integer Cast that saturates where ONNX wraps ("discard the
/// higher bits"): a saturating conversion instruction used for both cases.
pub fn cast_saturates(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let x = l.input(0)?;
    let range = match l.out_dtypes.first() {
        Some(DType::I8) => Some((i64::from(i8::MIN), i64::from(i8::MAX))),
        Some(DType::U8) => Some((0, i64::from(u8::MAX))),
        Some(DType::I32) => Some((i64::from(i32::MIN), i64::from(i32::MAX))),
        _ => None,
    };
    if let Some((lo, hi)) = range {
        let clamped = match &x.data {
            Data::I64(v) => Some(Data::I64(v.iter().map(|&e| e.clamp(lo, hi)).collect())),
            Data::I32(v) => Some(Data::I32(
                v.iter()
                    .map(|&e| i64::from(e).clamp(lo, hi) as i32)
                    .collect(),
            )),
            _ => None,
        };
        if let Some(d) = clamped {
            l.inputs[0] = Some(Tensor::new(x.shape.clone(), d)?);
        }
    }
    l.reference()
}

/// Every bf16 result rounded by truncation instead of to nearest even: the
/// call is computed with bf16 widened to f32 (what the reference does
/// internally), then the low 16 bits are dropped.
pub fn bf16_truncating(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    if !l.out_dtypes.contains(&DType::BF16) {
        return l.reference();
    }
    for slot in l.inputs.iter_mut() {
        if let Some(t) = slot
            && t.dtype() == DType::BF16
        {
            *t = from_f32(DType::F32, t.shape.clone(), f32s(t)?)?;
        }
    }
    for d in l.out_dtypes.iter_mut() {
        if *d == DType::BF16 {
            *d = DType::F32;
        }
    }
    if l.op() == "Cast" {
        l.set("to", AttrValue::Int(i64::from(DType::F32.code())));
    }
    let out = l.reference()?;
    let wanted: Vec<DType> = l.call.output_specs.iter().map(|(d, _)| *d).collect();
    out.into_iter()
        .zip(wanted)
        .map(|(t, want)| match (&t.data, want) {
            (Data::F32(v), DType::BF16) => Tensor::new(
                t.shape.clone(),
                Data::BF16(v.iter().map(|x| (x.to_bits() >> 16) as u16).collect()),
            ),
            _ => Ok(t),
        })
        .collect()
}

/// The bf16 nearest-even rounding the reference uses, for tests.
#[cfg(test)]
fn bf16_nearest(x: f32) -> u16 {
    half::bf16::from_f32(x).to_bits()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_differs_from_nearest_even() {
        let x = 1.0f32 + 3.0 * f32::powi(2.0, -9); // 1.00585..., between bf16 steps
        assert_ne!((x.to_bits() >> 16) as u16, bf16_nearest(x));
    }
}
