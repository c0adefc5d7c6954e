//! Attention (23, 24): `softmax(softcap(Q K^T * scale) + bias) V` per head.
//!
//! * Q, K, V are 4-D `(batch, heads, seq, head_size)` or 3-D
//!   `(batch, seq, heads * head_size)` with `q_num_heads`/`kv_num_heads`.
//! * Grouped-query attention: query head `h` reads key/value head
//!   `h / (q_heads / kv_heads)`.
//! * `past_key`/`past_value` (4-D) are prepended to K/V along the sequence.
//! * `attn_mask` broadcasts to `(batch, q_heads, q_seq, mask_len)`: bool
//!   (true = attend) or float (added); keys at or beyond `mask_len` are
//!   masked out. `is_causal` lets query `i` see key `j` iff `j <= i + past`.
//! * `scale` defaults to `1/sqrt(head_size)`; `softcap > 0` caps the scaled
//!   scores with `softcap * tanh(s / softcap)` before the mask is added.
//! * `nonpad_kv_seqlen` (24, input 6; not with a past cache): keys from
//!   `nonpad[b]` on are masked, and `is_causal` aligns to the bottom right
//!   (`j <= i + nonpad[b] - q_seq`).
//! * A row whose keys are all masked has no defined softmax: it gives NaN.

use xpucert_abi::BackendError;

use super::Args;
use super::linalg::{PARALLEL_MIN_MACS, product};
use super::norm::softmax_row;
use crate::layout::broadcast_offsets;
use crate::parallel;
use crate::tensor::{Data, Real, Tensor, with_real};

/// A Q/K/V operand normalised to `(batch, heads, seq, size)` row-major.
struct Heads<T> {
    heads: usize,
    seq: usize,
    size: usize,
    data: Vec<T>,
}

/// Reads `t` as `(batch, heads, seq, size)`; 3-D inputs are split into
/// `heads` (from the attribute) and transposed.
fn heads<T: Real>(
    args: &Args<'_>,
    t: &Tensor,
    batch: usize,
    attr: &str,
) -> Result<Heads<T>, BackendError> {
    let v = t.to_real::<T>()?;
    match t.shape[..] {
        [b, heads, seq, size] if b == batch => Ok(Heads {
            heads,
            seq,
            size,
            data: v,
        }),
        [b, seq, hidden] if b == batch => {
            let n = args.attrs.int(attr, 0)?;
            let heads = usize::try_from(n)
                .ok()
                .filter(|&h| h > 0 && hidden % h == 0)
                .ok_or_else(|| {
                    args.invalid(format!("3-D inputs need {attr} dividing {hidden}, got {n}"))
                })?;
            let size = hidden / heads;
            let mut data = Vec::with_capacity(v.len());
            for bi in 0..batch {
                for h in 0..heads {
                    for s in 0..seq {
                        let at = (bi * seq + s) * hidden + h * size;
                        data.extend_from_slice(&v[at..at + size]);
                    }
                }
            }
            Ok(Heads {
                heads,
                seq,
                size,
                data,
            })
        }
        _ => Err(args.invalid(format!(
            "operand of shape {:?} does not fit batch {batch}",
            t.shape
        ))),
    }
}

/// Prepends the cache `past` (4-D) to `cur` along the sequence axis.
fn with_past<T: Real>(
    args: &Args<'_>,
    past: Option<&Tensor>,
    cur: Heads<T>,
    batch: usize,
) -> Result<Heads<T>, BackendError> {
    let Some(past) = past else { return Ok(cur) };
    let p: Heads<T> = heads(args, past, batch, "")?;
    if past.shape.len() != 4 || p.heads != cur.heads || p.size != cur.size {
        return Err(args.invalid(format!(
            "past cache {:?} does not match heads {} x size {}",
            past.shape, cur.heads, cur.size
        )));
    }
    let seq = p.seq + cur.seq;
    let mut data = Vec::with_capacity(batch * cur.heads * seq * cur.size);
    for bh in 0..batch * cur.heads {
        data.extend_from_slice(&p.data[bh * p.seq * p.size..(bh + 1) * p.seq * p.size]);
        data.extend_from_slice(&cur.data[bh * cur.seq * cur.size..(bh + 1) * cur.seq * cur.size]);
    }
    Ok(Heads {
        heads: cur.heads,
        seq,
        size: cur.size,
        data,
    })
}

/// The additive mask bias as a function of `(b, h, i, j)`.
struct Mask<T> {
    bias: Vec<T>,
    index: Vec<usize>,
    len: usize,
}

fn mask<T: Real>(
    args: &Args<'_>,
    batch: usize,
    heads: usize,
    q_seq: usize,
) -> Result<Option<Mask<T>>, BackendError> {
    let Some(m) = args.optional(3) else {
        return Ok(None);
    };
    let Some(&len) = m.shape.last() else {
        return Err(args.invalid("attn_mask must have at least one dimension"));
    };
    if m.shape.len() > 4 {
        return Err(args.invalid(format!("attn_mask of rank {} (at most 4)", m.shape.len())));
    }
    let bias: Vec<T> = match &m.data {
        Data::Bool(v) => v
            .iter()
            .map(|&a| if a != 0 { T::ZERO } else { T::NEG_INFINITY })
            .collect(),
        _ => m.to_real::<T>()?,
    };
    let index = broadcast_offsets(&m.shape, &[batch, heads, q_seq, len])
        .map_err(|e| args.invalid(format!("attn_mask: {}", e.message)))?;
    Ok(Some(Mask { bias, index, len }))
}

/// Attention on float inputs: `Y`, and as many of the optional outputs as
/// requested: present_key and present_value (the caches after the
/// concatenation, 4-D) and qk_matmul_output (the scores after the scale
/// (qk_matmul_output_mode 0), the softcap (1), the mask (2) or the softmax
/// (3)).
pub fn attention(args: &Args<'_>) -> Result<Vec<Tensor>, BackendError> {
    let q_in = args.input(0)?;
    let three_d = q_in.shape.len() == 3;
    let batch = *q_in.shape.first().unwrap_or(&0);
    for i in [1, 2] {
        if args.input(i)?.shape.len() != q_in.shape.len() {
            return Err(args.invalid("Q, K and V must have the same rank"));
        }
    }
    let is_causal = args.attrs.int("is_causal", 0)? != 0;
    let softcap = args.attrs.float("softcap", 0.0)?;
    with_real!(q_in.dtype(), T => {
        let q: Heads<T> = heads(args, q_in, batch, "q_num_heads")?;
        let k: Heads<T> = heads(args, args.input(1)?, batch, "kv_num_heads")?;
        let v: Heads<T> = heads(args, args.input(2)?, batch, "kv_num_heads")?;
        let past = args.optional(4).map_or(0, |p| p.shape.get(2).copied().unwrap_or(0));
        // nonpad_kv_seqlen (24): each batch row's valid keys; with is_causal
        // the frontier moves to the bottom right (offset = valid - q_seq).
        let nonpad: Option<Vec<i128>> = match args.optional(6) {
            None => None,
            Some(t) => Some(
                super::logic::int_values(t)
                    .filter(|v| v.len() == batch && past == 0)
                    .ok_or_else(|| args.invalid("nonpad_kv_seqlen must be [batch] integers, without a past cache"))?,
            ),
        };
        let k = with_past(args, args.optional(4), k, batch)?;
        let v = with_past(args, args.optional(5), v, batch)?;
        if k.size != q.size || k.heads != v.heads || k.seq != v.seq {
            return Err(args.invalid(format!(
                "K (heads {}, seq {}, size {}) does not match Q size {} or V (heads {}, seq {})",
                k.heads, k.seq, k.size, q.size, v.heads, v.seq
            )));
        }
        if k.heads == 0 || !q.heads.is_multiple_of(k.heads) {
            return Err(args.invalid(format!("{} query heads cannot share {} kv heads", q.heads, k.heads)));
        }
        let group = q.heads / k.heads;
        let scale = T::from_f64(args.attrs.float("scale", 1.0 / (q.size as f64).sqrt())?);
        let cap = T::from_f64(softcap);
        let m = mask::<T>(args, batch, q.heads, q.seq)?;
        let (total, dv) = (k.seq, v.size);
        let mut out = vec![T::ZERO; batch * q.heads * q.seq * dv];
        // Per head: S = Q Kᵀ and O = P V as two fast matrix products (see
        // linalg.rs); scale, softcap, mask and causality are applied to S
        // row by row in between, then each row's softmax.
        // Heads are independent: large calls share them out to threads
        // (each with its own scores buffer); a single large head splits its
        // two products instead.
        let heads_total = batch * q.heads;
        let per_head = q.seq * total * (q.size + dv);
        let parts = if heads_total > 1 {
            parallel::parts(heads_total * per_head, PARALLEL_MIN_MACS)
        } else {
            1
        };
        let unit = (q.seq * dv).max(1);
        let mode = args.attrs.int("qk_matmul_output_mode", 0)?;
        let want_qk = args.outputs > 3;
        let head_scores = q.seq * total;
        let qk = std::sync::Mutex::new(if want_qk {
            vec![T::ZERO; heads_total * head_scores]
        } else {
            Vec::new()
        });
        parallel::split_mut(&mut out, unit, parts, |first, run| {
            let mut scores = vec![T::ZERO; q.seq * total];
            let mut staged = vec![T::ZERO; if want_qk { head_scores } else { 0 }];
            for (r, orows) in run.chunks_mut(unit).enumerate() {
                let (b, h) = ((first + r) / q.heads, (first + r) % q.heads);
                let (offset, valid) = match &nonpad {
                    Some(n) => (n[b] - q.seq as i128, n[b]),
                    None => (past as i128, total as i128),
                };
                let kvh = b * k.heads + h / group;
                let keys = &k.data[kvh * total * k.size..(kvh + 1) * total * k.size];
                let vals = &v.data[kvh * total * dv..(kvh + 1) * total * dv];
                let qh = (b * q.heads + h) * q.seq;
                let qmat = &q.data[qh * q.size..(qh + q.seq) * q.size];
                scores.fill(T::ZERO);
                product(qmat, keys, &mut scores, (q.seq, q.size, total), true, parts == 1);
                for i in 0..q.seq {
                    let row = &mut scores[i * total..(i + 1) * total];
                    let staged_row = if want_qk {
                        &mut staged[i * total..(i + 1) * total]
                    } else {
                        &mut [][..]
                    };
                    for (j, sc) in row.iter_mut().enumerate() {
                        let mut s = *sc * scale;
                        if want_qk && mode == 0 {
                            staged_row[j] = s;
                        }
                        if softcap > 0.0 {
                            s = cap * (s / cap).tanh();
                        }
                        if want_qk && mode == 1 {
                            staged_row[j] = s;
                        }
                        if let Some(m) = &m {
                            s = if j < m.len {
                                s + m.bias[m.index[(qh + i) * m.len + j]]
                            } else {
                                T::NEG_INFINITY
                            };
                        }
                        if (is_causal && j as i128 > i as i128 + offset) || j as i128 >= valid {
                            s = T::NEG_INFINITY;
                        }
                        if want_qk && mode == 2 {
                            staged_row[j] = s;
                        }
                        *sc = s;
                    }
                    softmax_row(row, false);
                    if want_qk && mode == 3 {
                        staged_row.copy_from_slice(row);
                    }
                }
                if want_qk {
                    let at = (first + r) * head_scores;
                    if let Ok(mut all) = qk.lock() {
                        all[at..at + head_scores].copy_from_slice(&staged);
                    }
                }
                product(&scores, vals, orows, (q.seq, total, dv), false, parts == 1);
            }
        });
        let (out, shape) = if three_d {
            // (b, h, s, d) -> (b, s, h * d)
            let mut t = Vec::with_capacity(out.len());
            for b in 0..batch {
                for s in 0..q.seq {
                    for h in 0..q.heads {
                        let at = ((b * q.heads + h) * q.seq + s) * dv;
                        t.extend_from_slice(&out[at..at + dv]);
                    }
                }
            }
            (t, vec![batch, q.seq, q.heads * dv])
        } else {
            (out, vec![batch, q.heads, q.seq, dv])
        };
        let dtype = q_in.dtype();
        let mut outputs = vec![Tensor::from_real(dtype, shape, out)?];
        if args.outputs > 1 {
            let cache = |h: Heads<T>| Tensor::from_real(dtype, vec![batch, h.heads, h.seq, h.size], h.data);
            outputs.push(cache(k)?);
            outputs.push(cache(v)?);
        }
        if want_qk {
            let all = qk.into_inner().map_err(|_| args.invalid("a worker thread panicked"))?;
            outputs.push(Tensor::from_real(dtype, vec![batch, q.heads, q.seq, total], all)?);
        }
        Ok(outputs)
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::{AttrValue, Status};

    // One head, head size 1 makes the arithmetic easy to follow by hand.
    fn qkv() -> Vec<Option<Tensor>> {
        vec![
            f32t(&[1, 1, 2, 1], &[1., 2.]),
            f32t(&[1, 1, 2, 1], &[0., 1.]),
            f32t(&[1, 1, 2, 1], &[10., 20.]),
        ]
    }

    fn weighted(s0: f32, s1: f32) -> f32 {
        let (e0, e1) = (s0.exp(), s1.exp());
        (10. * e0 + 20. * e1) / (e0 + e1)
    }

    #[test]
    fn plain_and_causal() {
        // scale 1/sqrt(1) = 1: scores q*k = [0, q].
        let y = values(&run1("Attention", &[], qkv()).unwrap());
        assert_close(&y, &[weighted(0., 1.), weighted(0., 2.)], 1e-6);
        let causal = [("is_causal", AttrValue::Int(1))];
        let y = values(&run1("Attention", &causal, qkv()).unwrap());
        assert_close(&y, &[10., weighted(0., 2.)], 1e-6);
    }

    #[test]
    fn masks_scale_and_softcap() {
        let mut inputs = qkv();
        inputs.push(Tensor::new(vec![2], Data::Bool(vec![0, 1])).ok());
        let y = values(&run1("Attention", &[], inputs).unwrap());
        assert_close(&y, &[20., 20.], 1e-6);
        let mut inputs = qkv();
        inputs.push(f32t(&[2, 2], &[0., 0., 1., 0.]));
        let attrs = [("scale", AttrValue::Float(0.5))];
        let y = values(&run1("Attention", &attrs, inputs).unwrap());
        assert_close(&y, &[weighted(0., 0.5), weighted(1., 1.)], 1e-6);
        let capped = [("softcap", AttrValue::Float(1.0))];
        let y = values(&run1("Attention", &capped, qkv()).unwrap());
        assert_close(
            &y,
            &[weighted(0., 1f32.tanh()), weighted(0., 2f32.tanh())],
            1e-6,
        );
        // A mask shorter than the keys masks the rest out.
        let mut inputs = qkv();
        inputs.push(f32t(&[1], &[0.]));
        let y = values(&run1("Attention", &[], inputs).unwrap());
        assert_close(&y, &[10., 10.], 1e-6);
    }

    #[test]
    fn gqa_three_d_and_past() {
        // 3-D: batch 1, q seq 1, 2 query heads of size 1 sharing 1 kv head.
        let attrs = [
            ("q_num_heads", AttrValue::Int(2)),
            ("kv_num_heads", AttrValue::Int(1)),
        ];
        let q = f32t(&[1, 1, 2], &[1., 2.]);
        let k = f32t(&[1, 1, 1], &[1.]);
        let v = f32t(&[1, 1, 1], &[20.]);
        // Past cache holds one more key (0) and value (10), placed first.
        let pk = f32t(&[1, 1, 1, 1], &[0.]);
        let pv = f32t(&[1, 1, 1, 1], &[10.]);
        let inputs = vec![q.clone(), k.clone(), v.clone(), None, pk, pv];
        let y = run1("Attention", &attrs, inputs).unwrap();
        assert_eq!(y.shape, vec![1, 1, 2]);
        assert_close(&values(&y), &[weighted(0., 1.), weighted(0., 2.)], 1e-6);
        // Causal with a past: the single query (position 1) sees both keys.
        let mut causal = attrs.to_vec();
        causal.push(("is_causal", AttrValue::Int(1)));
        let inputs = vec![
            q.clone(),
            k.clone(),
            v.clone(),
            None,
            f32t(&[1, 1, 1, 1], &[0.]),
            f32t(&[1, 1, 1, 1], &[10.]),
        ];
        let y = run1("Attention", &causal, inputs).unwrap();
        assert_close(&values(&y), &[weighted(0., 1.), weighted(0., 2.)], 1e-6);
        // 3 query heads cannot share 2 kv heads.
        let bad = [
            ("q_num_heads", AttrValue::Int(3)),
            ("kv_num_heads", AttrValue::Int(2)),
        ];
        let e = run1(
            "Attention",
            &bad,
            vec![
                f32t(&[1, 1, 6], &[0.; 6]),
                f32t(&[1, 1, 4], &[0.; 4]),
                f32t(&[1, 1, 4], &[0.; 4]),
            ],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        // 3-D without head counts is invalid.
        let e = run1("Attention", &[], vec![q, k, v]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }
}
