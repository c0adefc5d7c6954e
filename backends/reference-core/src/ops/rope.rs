//! RotaryEmbedding (23).
//!
//! Input layouts: 4-D `(batch, heads, seq, head_size)`, or 3-D
//! `(batch, seq, heads * head_size)` with the `num_heads` attribute. The first
//! `rotary_embedding_dim` channels of each head (all when 0) are rotated in
//! pairs: `(x[i], x[i + d/2])` (half split) or `(x[2i], x[2i + 1])`
//! (`interleaved=1`), by the angle whose cosine and sine are looked up at the
//! token's position: `cos_cache[position_ids[b, s]]` when position ids are
//! given (caches `(max_pos, d/2)`), else `cos_cache[b, s]` (caches
//! `(batch or 1, seq, d/2)`). Remaining channels pass through.

use xpucert_abi::BackendError;

use super::Args;
use crate::tensor::{Tensor, with_real};

/// Where the heads of a token live in the flat input.
struct Layout {
    batch: usize,
    heads: usize,
    seq: usize,
    head_size: usize,
    /// Layout is 4-D (heads before seq) rather than 3-D.
    heads_major: bool,
}

impl Layout {
    fn new(args: &Args<'_>, x: &Tensor) -> Result<Layout, BackendError> {
        match x.shape[..] {
            [batch, heads, seq, head_size] => Ok(Layout {
                batch,
                heads,
                seq,
                head_size,
                heads_major: true,
            }),
            [batch, seq, hidden] => {
                let heads = args.attrs.int("num_heads", 0)?;
                let heads = usize::try_from(heads)
                    .ok()
                    .filter(|&h| h > 0 && hidden % h == 0)
                    .ok_or_else(|| {
                        args.invalid(format!(
                            "3-D input needs num_heads dividing {hidden}, got {heads}"
                        ))
                    })?;
                Ok(Layout {
                    batch,
                    heads,
                    seq,
                    head_size: hidden / heads,
                    heads_major: false,
                })
            }
            _ => Err(args.invalid(format!("input must be 3-D or 4-D, got shape {:?}", x.shape))),
        }
    }

    /// Flat offset of the first channel of head `h` of token `(b, s)`.
    fn offset(&self, b: usize, s: usize, h: usize) -> usize {
        if self.heads_major {
            ((b * self.heads + h) * self.seq + s) * self.head_size
        } else {
            ((b * self.seq + s) * self.heads + h) * self.head_size
        }
    }
}

/// For each token `(b, s)` (row-major), the row of the caches to use.
fn cache_rows(
    args: &Args<'_>,
    l: &Layout,
    cache: &Tensor,
    half: usize,
) -> Result<Vec<usize>, BackendError> {
    let mut rows = Vec::with_capacity(l.batch * l.seq);
    match args.optional(3) {
        Some(pos) => {
            if pos.shape != [l.batch, l.seq] {
                return Err(args.invalid(format!(
                    "position_ids shape {:?}, expected [{}, {}]",
                    pos.shape, l.batch, l.seq
                )));
            }
            let [max_pos, width] = cache.shape[..] else {
                return Err(args.invalid(format!(
                    "with position_ids the caches must be 2-D, got {:?}",
                    cache.shape
                )));
            };
            if width != half {
                return Err(args.invalid(format!("cache width {width}, expected {half}")));
            }
            for p in pos.to_indices()? {
                let row = usize::try_from(p)
                    .ok()
                    .filter(|&r| r < max_pos)
                    .ok_or_else(|| {
                        args.invalid(format!(
                            "position id {p} outside the cache's {max_pos} rows"
                        ))
                    })?;
                rows.push(row);
            }
        }
        None => {
            let ok = cache.shape.len() == 3
                && (cache.shape[0] == l.batch || cache.shape[0] == 1)
                && cache.shape[1] == l.seq
                && cache.shape[2] == half;
            if !ok {
                return Err(args.invalid(format!(
                    "without position_ids the caches must be [{}, {}, {half}], got {:?}",
                    l.batch, l.seq, cache.shape
                )));
            }
            let per_batch = if cache.shape[0] == 1 { 0 } else { l.seq };
            for b in 0..l.batch {
                rows.extend((0..l.seq).map(|s| b * per_batch + s));
            }
        }
    }
    Ok(rows)
}

/// RotaryEmbedding on float inputs.
pub fn rotary_embedding(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (x, cos, sin) = (args.input(0)?, args.input(1)?, args.input(2)?);
    let l = Layout::new(args, x)?;
    let interleaved = args.attrs.int("interleaved", 0)? != 0;
    let dim = match args.attrs.int("rotary_embedding_dim", 0)? {
        0 => l.head_size,
        d => usize::try_from(d).unwrap_or(usize::MAX),
    };
    if dim > l.head_size || dim % 2 != 0 {
        return Err(args.invalid(format!(
            "rotary_embedding_dim {dim} must be even and at most the head size {}",
            l.head_size
        )));
    }
    let half = dim / 2;
    if cos.shape != sin.shape {
        return Err(args.invalid(format!(
            "cos {:?} and sin {:?} caches differ",
            cos.shape, sin.shape
        )));
    }
    let rows = cache_rows(args, &l, cos, half)?;
    with_real!(x.dtype(), T => {
        let mut v = x.to_real::<T>()?;
        let (c, s) = (cos.to_real::<T>()?, sin.to_real::<T>()?);
        for b in 0..l.batch {
            for t in 0..l.seq {
                let row = rows[b * l.seq + t] * half;
                for h in 0..l.heads {
                    let base = l.offset(b, t, h);
                    for i in 0..half {
                        let (p, q) = if interleaved { (base + 2 * i, base + 2 * i + 1) } else { (base + i, base + i + half) };
                        let (x1, x2) = (v[p], v[q]);
                        let (ci, si) = (c[row + i], s[row + i]);
                        v[p] = ci * x1 - si * x2;
                        v[q] = si * x1 + ci * x2;
                    }
                }
            }
        }
        Tensor::from_real(x.dtype(), x.shape.clone(), v)
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use xpucert_abi::{AttrValue, Status};

    // cos = 0, sin = 1 is a quarter turn: (x1, x2) -> (-x2, x1).
    #[test]
    fn half_split_and_interleaved_pairs() {
        let x = f32t(&[1, 1, 1, 4], &[1., 2., 3., 4.]);
        let cos = f32t(&[1, 1, 2], &[0., 1.]);
        let sin = f32t(&[1, 1, 2], &[1., 0.]);
        // Half split: pairs (x0, x2) rotated a quarter turn, (x1, x3) unchanged.
        let y = run1(
            "RotaryEmbedding",
            &[],
            vec![x.clone(), cos.clone(), sin.clone()],
        )
        .unwrap();
        assert_eq!(values(&y), vec![-3., 2., 1., 4.]);
        // Interleaved: pairs (x0, x1) quarter turn, (x2, x3) unchanged.
        let inter = [("interleaved", AttrValue::Int(1))];
        let y = run1("RotaryEmbedding", &inter, vec![x, cos, sin]).unwrap();
        assert_eq!(values(&y), vec![-2., 1., 3., 4.]);
    }

    #[test]
    fn three_d_with_position_ids_and_partial_rotation() {
        // batch 1, seq 2, 2 heads of size 4; rotate only the first 2 channels.
        let x = f32t(
            &[1, 2, 8],
            &[
                1., 2., 3., 4., 5., 6., 7., 8., 1., 2., 3., 4., 5., 6., 7., 8.,
            ],
        );
        // Cache rows: position 0 identity, position 1 half turn (cos -1, sin 0).
        let cos = f32t(&[2, 1], &[1., -1.]);
        let sin = f32t(&[2, 1], &[0., 0.]);
        let pos = i64t(&[1, 2], &[1, 0]);
        let attrs = [
            ("num_heads", AttrValue::Int(2)),
            ("rotary_embedding_dim", AttrValue::Int(2)),
        ];
        let y = run1(
            "RotaryEmbedding",
            &attrs,
            vec![x.clone(), cos.clone(), sin.clone(), pos],
        )
        .unwrap();
        assert_eq!(
            values(&y),
            vec![
                -1., -2., 3., 4., -5., -6., 7., 8., 1., 2., 3., 4., 5., 6., 7., 8.
            ]
        );
        let bad = i64t(&[1, 2], &[2, 0]);
        let e = run1(
            "RotaryEmbedding",
            &attrs,
            vec![x.clone(), cos.clone(), sin.clone(), bad],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        let e = run1(
            "RotaryEmbedding",
            &[],
            vec![x, cos, sin, i64t(&[1, 2], &[0, 0])],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }
}
