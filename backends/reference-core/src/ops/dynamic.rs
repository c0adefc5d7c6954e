//! Operators whose output size depends on the input values (issue 17):
//! NonZero, Compress, Unique, NonMaxSuppression.
//!
//! The kernels return tensors of the actual shape; `store` in the crate
//! root reports that shape through the harness's dims slot
//! (`TensorMut::set_shape`, ABI minor 2) and writes the prefix. Element
//! values are only compared, copied or counted, never rounded: integers are
//! compared as `i128`, floats as their exact `f64` widening with -0 equal
//! to +0 and every NaN equal to every other NaN (numpy's `unique`).

use std::cmp::Ordering;

use xpucert_abi::BackendError;

use super::Args;
use crate::tensor::{Data, Tensor};

/// One element as an ordered key: integers exactly, floats widened.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key {
    /// An integer or bool element.
    Int(i128),
    /// A float element (NaN and -0 are normalised by [`key_cmp`]).
    Float(f64),
}

/// Every element of `data` as a [`Key`].
pub(crate) fn keys(t: &Tensor) -> Result<Vec<Key>, BackendError> {
    let ints = |v: Vec<i128>| v.into_iter().map(Key::Int).collect();
    Ok(match &t.data {
        Data::I64(v) => ints(v.iter().map(|&x| i128::from(x)).collect()),
        Data::I32(v) => ints(v.iter().map(|&x| i128::from(x)).collect()),
        Data::I16(v) => ints(v.iter().map(|&x| i128::from(x)).collect()),
        Data::I8(v) => ints(v.iter().map(|&x| i128::from(x)).collect()),
        Data::U64(v) => ints(v.iter().map(|&x| i128::from(x)).collect()),
        Data::U32(v) => ints(v.iter().map(|&x| i128::from(x)).collect()),
        Data::U16(v) => ints(v.iter().map(|&x| i128::from(x)).collect()),
        Data::U8(v) | Data::Bool(v) => ints(v.iter().map(|&x| i128::from(x)).collect()),
        _ => t.to_real::<f64>()?.into_iter().map(Key::Float).collect(),
    })
}

/// The total order of keys: numeric, -0 equal to +0, NaN after every
/// number and equal to every NaN.
pub(crate) fn key_cmp(a: &Key, b: &Key) -> Ordering {
    match (a, b) {
        (Key::Int(x), Key::Int(y)) => x.cmp(y),
        (Key::Float(x), Key::Float(y)) => match (x.is_nan(), y.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        },
        // One tensor's keys share a variant; order mixed ones by variant.
        (Key::Int(_), Key::Float(_)) => Ordering::Less,
        (Key::Float(_), Key::Int(_)) => Ordering::Greater,
    }
}

/// Whether a key is nonzero (NaN is).
fn nonzero_key(k: &Key) -> bool {
    match k {
        Key::Int(x) => *x != 0,
        Key::Float(x) => *x != 0.0,
    }
}

/// NonZero (9, 13): `[rank, n]` int64, the indices of the nonzero elements
/// in row-major order, one row per axis (a scalar: `[0, n]`).
pub fn nonzero(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let rank = x.shape.len();
    let hits: Vec<usize> = keys(x)?
        .iter()
        .enumerate()
        .filter(|(_, k)| nonzero_key(k))
        .map(|(i, _)| i)
        .collect();
    let n = hits.len();
    let mut y = vec![0i64; rank * n];
    for (col, &flat) in hits.iter().enumerate() {
        let mut rest = flat;
        for axis in (0..rank).rev() {
            let d = x.shape[axis];
            y[axis * n + col] = (rest % d) as i64;
            rest /= d;
        }
    }
    Tensor::new(vec![rank, n], Data::I64(y))
}

/// `axis` resolved against `rank` (negative from opset 11 for Compress).
fn resolve_axis(args: &Args<'_>, axis: i64, rank: usize) -> Result<usize, BackendError> {
    let r = rank as i64;
    if !(-r..r).contains(&axis) {
        return Err(args.invalid(format!("axis {axis} out of range for rank {rank}")));
    }
    Ok(if axis < 0 { axis + r } else { axis } as usize)
}

/// The flat indices of slice `k` along `axis` of a row-major `shape`.
fn slice_index(shape: &[usize], axis: usize, k: usize) -> Vec<usize> {
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    let d = shape[axis];
    let mut idx = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        let base = (o * d + k) * inner;
        idx.extend(base..base + inner);
    }
    idx
}

/// The flat indices of slices `ks` along `axis`, stacked along it in
/// order: what `select(axis, ks)` gathers.
fn select_index(shape: &[usize], axis: usize, ks: &[usize]) -> Vec<usize> {
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    let d = shape[axis];
    let mut idx = Vec::with_capacity(outer * ks.len() * inner);
    for o in 0..outer {
        for &k in ks {
            let base = (o * d + k) * inner;
            idx.extend(base..base + inner);
        }
    }
    idx
}

/// Compress (9, 11): the slices along `axis` (or elements of the
/// flattened input) whose condition entry is true.
pub fn compress(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let c = args.input(1)?;
    if c.shape.len() != 1 {
        return Err(args.invalid("condition must be 1-D"));
    }
    let Data::Bool(cond) = &c.data else {
        return Err(args.invalid("condition must be bool"));
    };
    let axis = if args.attrs.has("axis") {
        let a = args.attrs.int("axis", 0)?;
        if args.opset < 11 && a < 0 {
            return Err(args.invalid(format!("negative axis {a} before opset 11")));
        }
        Some(resolve_axis(args, a, x.shape.len())?)
    } else {
        None
    };
    let avail = axis.map_or(x.numel(), |a| x.shape[a]);
    if cond.len() > avail {
        return Err(args.invalid(format!("condition has {} entries for {avail}", cond.len())));
    }
    let keep: Vec<usize> = (0..cond.len()).filter(|&i| cond[i] != 0).collect();
    match axis {
        None => Tensor::new(vec![keep.len()], x.data.gather(&keep)),
        Some(a) => {
            let mut shape = x.shape.clone();
            shape[a] = keep.len();
            Tensor::new(shape, x.data.gather(&select_index(&x.shape, a, &keep)))
        }
    }
}

/// Unique (11): Y, indices, inverse_indices and counts. Slices (elements
/// without an axis) are compared lexicographically by [`key_cmp`]; a stable
/// sort makes each run of equal slices start with the first occurrence.
pub fn unique(args: &Args<'_>) -> Result<Vec<Tensor>, BackendError> {
    let x = args.input(0)?;
    let sorted = match args.attrs.int("sorted", 1)? {
        0 => false,
        1 => true,
        v => return Err(args.invalid(format!("sorted must be 0 or 1, got {v}"))),
    };
    let axis = if args.attrs.has("axis") {
        let a = args.attrs.int("axis", 0)?;
        Some(resolve_axis(args, a, x.shape.len())?)
    } else {
        None
    };
    let k = keys(x)?;
    let (n, slices): (usize, Vec<Vec<usize>>) = match axis {
        None => (x.numel(), (0..x.numel()).map(|i| vec![i]).collect()),
        Some(a) => (
            x.shape[a],
            (0..x.shape[a])
                .map(|j| slice_index(&x.shape, a, j))
                .collect(),
        ),
    };
    let cmp = |p: &usize, q: &usize| {
        slices[*p]
            .iter()
            .zip(&slices[*q])
            .map(|(&u, &v)| key_cmp(&k[u], &k[v]))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(cmp);
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &j in &order {
        match groups.last_mut() {
            Some(g) if cmp(&g[0], &j).is_eq() => g.push(j),
            _ => groups.push(vec![j]),
        }
    }
    if !sorted {
        groups.sort_by_key(|g| g[0]);
    }
    let mut inverse = vec![0i64; n];
    for (pos, g) in groups.iter().enumerate() {
        for &j in g {
            inverse[j] = pos as i64;
        }
    }
    let firsts: Vec<usize> = groups.iter().map(|g| g[0]).collect();
    let y = match axis {
        None => Tensor::new(vec![firsts.len()], x.data.gather(&firsts))?,
        Some(a) => {
            let mut shape = x.shape.clone();
            shape[a] = firsts.len();
            Tensor::new(shape, x.data.gather(&select_index(&x.shape, a, &firsts)))?
        }
    };
    let u = firsts.len();
    Ok(vec![
        y,
        Tensor::new(
            vec![u],
            Data::I64(firsts.iter().map(|&j| j as i64).collect()),
        )?,
        Tensor::new(vec![n], Data::I64(inverse))?,
        Tensor::new(
            vec![u],
            Data::I64(groups.iter().map(|g| g.len() as i64).collect()),
        )?,
    ])
}

/// One value of an optional scalar input (shape `[]` or `[1]`).
fn scalar_input(args: &Args<'_>, i: usize) -> Result<Option<f64>, BackendError> {
    let Some(t) = args.optional(i) else {
        return Ok(None);
    };
    if t.numel() != 1 || t.shape.len() > 1 {
        return Err(args.invalid(format!("input {i} must hold one value")));
    }
    Ok(Some(match &t.data {
        Data::I64(v) => v[0] as f64,
        _ => t.to_real::<f64>()?[0],
    }))
}

/// `(x_min, x_max, y_min, y_max)` of a box (see the harness's oracle).
fn extent(b: &[f32], center: bool) -> (f32, f32, f32, f32) {
    if center {
        let (hw, hh) = (b[2] / 2.0, b[3] / 2.0);
        (b[0] - hw, b[0] + hw, b[1] - hh, b[1] + hh)
    } else {
        (
            b[1].min(b[3]),
            b[1].max(b[3]),
            b[0].min(b[2]),
            b[0].max(b[2]),
        )
    }
}

/// Whether the selected box `a` suppresses `b`: IoU strictly above the
/// threshold, computed in f32.
fn suppresses(a: &[f32], b: &[f32], center: bool, iou: f32) -> bool {
    let (ax0, ax1, ay0, ay1) = extent(a, center);
    let (bx0, bx1, by0, by1) = extent(b, center);
    let (ix, iy) = (ax1.min(bx1) - ax0.max(bx0), ay1.min(by1) - ay0.max(by0));
    if ix <= 0.0 || iy <= 0.0 {
        return false;
    }
    let inter = ix * iy;
    let (area_a, area_b) = ((ax1 - ax0) * (ay1 - ay0), (bx1 - bx0) * (by1 - by0));
    let union = area_a + area_b - inter;
    area_a > 0.0 && area_b > 0.0 && union > 0.0 && inter / union > iou
}

/// NonMaxSuppression (10, 11), in f32: per batch and class, boxes above
/// the score threshold by descending score (lower index first on equal
/// scores), each kept unless a kept box suppresses it, up to
/// max_output_boxes_per_class; rows in batch, class, selection order.
pub fn non_max_suppression(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let boxes = args.input(0)?;
    let scores = args.input(1)?;
    let (bs, ss) = (&boxes.shape, &scores.shape);
    if bs.len() != 3 || bs[2] != 4 || ss.len() != 3 || ss[0] != bs[0] || ss[2] != bs[1] {
        return Err(args.invalid(format!("boxes {bs:?} and scores {ss:?} do not match")));
    }
    let center = match args.attrs.int("center_point_box", 0)? {
        0 => false,
        1 => true,
        v => return Err(args.invalid(format!("center_point_box {v}"))),
    };
    let max = scalar_input(args, 2)?.unwrap_or(0.0).max(0.0) as usize;
    let iou = scalar_input(args, 3)?.unwrap_or(0.0) as f32;
    if !(0.0..=1.0).contains(&iou) {
        return Err(args.invalid(format!("iou_threshold {iou} outside [0, 1]")));
    }
    let score = scalar_input(args, 4)?.map(|v| v as f32);
    let (b_all, s_all) = (boxes.to_real::<f32>()?, scores.to_real::<f32>()?);
    let (nb, nc, n) = (bs[0], ss[1], bs[1]);
    let mut rows: Vec<i64> = Vec::new();
    for b in 0..nb {
        let bx = |i: usize| &b_all[(b * n + i) * 4..(b * n + i) * 4 + 4];
        for c in 0..nc {
            let sc = &s_all[(b * nc + c) * n..(b * nc + c + 1) * n];
            let mut cand: Vec<usize> = (0..n)
                .filter(|&i| score.is_none_or(|t| sc[i] > t))
                .collect();
            cand.sort_by(|&i, &j| sc[j].total_cmp(&sc[i]));
            let mut kept: Vec<usize> = Vec::new();
            for i in cand {
                if kept.len() >= max {
                    break;
                }
                if !kept.iter().any(|&k| suppresses(bx(k), bx(i), center, iou)) {
                    kept.push(i);
                }
            }
            for i in kept {
                rows.extend([b as i64, c as i64, i as i64]);
            }
        }
    }
    Tensor::new(vec![rows.len() / 3, 3], Data::I64(rows))
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::*;
    use crate::tensor::Data;
    use xpucert_abi::AttrValue;

    #[test]
    fn nonzero_indices_by_axis() {
        let y = run1(
            "NonZero",
            &[],
            vec![f32t(&[2, 3], &[0.0, 2.0, 0.0, f32::NAN, 0.0, -0.0])],
        )
        .unwrap();
        assert_eq!(y.shape, vec![2, 2]);
        assert_eq!(y.data, Data::I64(vec![0, 1, 1, 0]));
        let y = run1("NonZero", &[], vec![f32t(&[], &[3.0])]).unwrap();
        assert_eq!(y.shape, vec![0, 1]);
    }

    #[test]
    fn unique_in_both_orders() {
        let x = i64t(&[6], &[2, 1, 1, 3, 4, 3]);
        let out = run("Unique", &[("sorted", AttrValue::Int(0))], vec![x.clone()]).unwrap();
        assert_eq!(out[0].data, Data::I64(vec![2, 1, 3, 4]));
        assert_eq!(out[1].data, Data::I64(vec![0, 1, 3, 4]));
        assert_eq!(out[2].data, Data::I64(vec![0, 1, 1, 2, 3, 2]));
        assert_eq!(out[3].data, Data::I64(vec![1, 2, 2, 1]));
        let out = run("Unique", &[], vec![x]).unwrap();
        assert_eq!(out[0].data, Data::I64(vec![1, 2, 3, 4]));
        assert_eq!(out[1].data, Data::I64(vec![1, 0, 3, 4]));
        // Example 3 of the spec: rows of a 3x3 along axis 0.
        let x = i64t(&[3, 3], &[1, 0, 0, 1, 0, 0, 2, 3, 4]);
        let out = run("Unique", &[("axis", AttrValue::Int(0))], vec![x]).unwrap();
        assert_eq!(out[0].shape, vec![2, 3]);
        assert_eq!(out[0].data, Data::I64(vec![1, 0, 0, 2, 3, 4]));
        assert_eq!(out[2].data, Data::I64(vec![0, 0, 1]));
        assert_eq!(out[3].data, Data::I64(vec![2, 1]));
    }

    #[test]
    fn compress_along_an_axis_and_flat() {
        let x = f32t(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let c = Some(crate::tensor::Tensor::new(vec![3], Data::Bool(vec![0, 1, 1])).unwrap());
        let y = run1(
            "Compress",
            &[("axis", AttrValue::Int(0))],
            vec![x.clone(), c],
        )
        .unwrap();
        assert_eq!(y.shape, vec![2, 2]);
        assert_eq!(values(&y), vec![3.0, 4.0, 5.0, 6.0]);
        let c = Some(crate::tensor::Tensor::new(vec![5], Data::Bool(vec![0, 1, 0, 0, 1])).unwrap());
        let y = run1("Compress", &[], vec![x, c]).unwrap();
        assert_eq!(values(&y), vec![2.0, 5.0]);
    }

    #[test]
    fn nms_keeps_an_iou_equal_to_the_threshold() {
        // Two unit-height boxes overlapping by half their width: IoU 1/3.
        let boxes = f32t(&[1, 2, 4], &[0.0, 0.0, 1.0, 2.0, 0.0, 1.0, 1.0, 3.0]);
        let scores = f32t(&[1, 1, 2], &[0.5, 0.9]);
        let max = i64t(&[1], &[10]);
        let run_at = |iou: f32| {
            run1(
                "NonMaxSuppression",
                &[],
                vec![
                    boxes.clone(),
                    scores.clone(),
                    max.clone(),
                    f32t(&[1], &[iou]),
                ],
            )
            .unwrap()
        };
        assert_eq!(run_at(0.3).data, Data::I64(vec![0, 0, 1]));
        assert_eq!(run_at(0.5).data, Data::I64(vec![0, 0, 1, 0, 0, 0]));
    }
}
