//! Indexing by index tensors, for every dtype (issue 17): GatherElements,
//! GatherND, ScatterElements, DepthToSpace, SpaceToDepth, OneHot,
//! ReverseSequence.
//!
//! Like `movement.rs`, each kernel works out which input element every
//! output element copies and gathers once, so the element type never
//! matters; ScatterElements' reductions are the one place values are
//! combined: integers natively (wrapping), floats in f64 rounded back into
//! the dtype after every step.

use xpucert_abi::{BackendError, DType};

use super::Args;
use crate::fp8::Fp8;
use crate::layout::{contiguous_strides, normalize_axis};
use crate::tensor::{Data, Tensor};

/// Resolves index `v` into an axis of length `len` (negative from the end).
fn resolve(args: &Args<'_>, v: i64, len: usize, axis: usize) -> Result<usize, BackendError> {
    let j = if v < 0 { v + len as i64 } else { v };
    usize::try_from(j).ok().filter(|&j| j < len).ok_or_else(|| {
        args.invalid(format!(
            "index {v} is out of range for axis {axis} of size {len}"
        ))
    })
}

/// The data offsets GatherElements reads and ScatterElements writes: entry
/// `p` of the indices addresses the data element with `p`'s coordinates
/// but `indices[p]` on `axis`.
fn element_offsets(
    args: &Args<'_>,
    data: &[usize],
    ind: &Tensor,
    axis: usize,
) -> Result<Vec<usize>, BackendError> {
    let shape = &ind.shape;
    if shape.len() != data.len() || (0..data.len()).any(|d| d != axis && shape[d] > data[d]) {
        return Err(args.invalid(format!(
            "indices {shape:?} do not fit data {data:?} off axis {axis}"
        )));
    }
    let ds = contiguous_strides(data);
    let is = contiguous_strides(shape);
    ind.to_indices()?
        .into_iter()
        .enumerate()
        .map(|(p, v)| {
            let mut o = resolve(args, v, data[axis], axis)? * ds[axis];
            for d in (0..data.len()).filter(|&d| d != axis) {
                o += (p / is[d]) % shape[d] * ds[d];
            }
            Ok(o)
        })
        .collect()
}

/// GatherElements (11, 13).
pub fn gather_elements(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (x, ind) = (args.input(0)?, args.input(1)?);
    if x.shape.is_empty() {
        return Err(args.invalid("data must have at least one dimension"));
    }
    let axis = normalize_axis(args.attrs.int("axis", 0)?, x.shape.len(), args.op)?;
    let index = element_offsets(args, &x.shape, ind, axis)?;
    Tensor::new(ind.shape.clone(), x.data.gather(&index))
}

/// GatherND (11, 12, 13): batch_dims from 12.
pub fn gather_nd(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (x, ind) = (args.input(0)?, args.input(1)?);
    let (r, q) = (x.shape.len(), ind.shape.len());
    let b = if args.opset >= 12 {
        args.attrs.int("batch_dims", 0)?
    } else {
        0
    };
    if r == 0 || q == 0 || b < 0 || b as usize >= r.min(q) {
        return Err(args.invalid(format!("ranks {r} and {q} do not admit batch_dims {b}")));
    }
    let b = b as usize;
    let k = ind.shape[q - 1];
    if x.shape[..b] != ind.shape[..b] || k == 0 || k > r - b {
        return Err(args.invalid("indices do not fit the data"));
    }
    let strides = contiguous_strides(&x.shape);
    let slice: usize = x.shape[b + k..].iter().product();
    let batch: usize = x.shape[b..].iter().product();
    let per_batch: usize = ind.shape[b..q - 1].iter().product();
    let idx = ind.to_indices()?;
    let mut index = Vec::with_capacity(idx.len() / k * slice);
    for (n, tuple) in idx.chunks(k).enumerate() {
        let mut base = (n / per_batch.max(1)) * batch;
        for (a, &v) in tuple.iter().enumerate() {
            base += resolve(args, v, x.shape[b + a], b + a)? * strides[b + a];
        }
        index.extend(base..base + slice);
    }
    let mut shape = ind.shape[..q - 1].to_vec();
    shape.extend_from_slice(&x.shape[b + k..]);
    Tensor::new(shape, x.data.gather(&index))
}

/// `v` wrapped into the integer dtype `dtype` (two's complement).
fn wrap(dtype: DType, v: i128) -> i128 {
    let (bits, signed) = match dtype {
        DType::I8 => (8, true),
        DType::U8 => (8, false),
        DType::I16 => (16, true),
        DType::U16 => (16, false),
        DType::I32 => (32, true),
        DType::U32 => (32, false),
        DType::I64 => (64, true),
        _ => (64, false),
    };
    let m = v.rem_euclid(1i128 << bits);
    if signed && m >= 1i128 << (bits - 1) {
        m - (1i128 << bits)
    } else {
        m
    }
}

/// The elements of an integer tensor, exactly, or `None` for other dtypes.
fn integers(d: &Data) -> Option<Vec<i128>> {
    fn w<E: Copy + Into<i128>>(v: &[E]) -> Vec<i128> {
        v.iter().map(|&e| e.into()).collect()
    }
    Some(match d {
        Data::I64(v) => w(v),
        Data::I32(v) => w(v),
        Data::I16(v) => w(v),
        Data::I8(v) => w(v),
        Data::U64(v) => w(v),
        Data::U32(v) => w(v),
        Data::U16(v) => w(v),
        Data::U8(v) => w(v),
        _ => return None,
    })
}

/// Integers (already wrapped) stored in `dtype`.
fn from_integers(dtype: DType, v: &[i128]) -> Data {
    match dtype {
        DType::I64 => Data::I64(v.iter().map(|&x| x as i64).collect()),
        DType::I32 => Data::I32(v.iter().map(|&x| x as i32).collect()),
        DType::I16 => Data::I16(v.iter().map(|&x| x as i16).collect()),
        DType::I8 => Data::I8(v.iter().map(|&x| x as i8).collect()),
        DType::U64 => Data::U64(v.iter().map(|&x| x as u64).collect()),
        DType::U32 => Data::U32(v.iter().map(|&x| x as u32).collect()),
        DType::U16 => Data::U16(v.iter().map(|&x| x as u16).collect()),
        _ => Data::U8(v.iter().map(|&x| x as u8).collect()),
    }
}

/// Float values stored in the float dtype `dtype`, rounded to nearest even.
fn from_floats(dtype: DType, v: Vec<f64>) -> Result<Data, BackendError> {
    Ok(match dtype {
        DType::F8E4M3FN => {
            Data::F8E4M3FN(v.iter().map(|&x| Fp8::E4M3FN.encode(x, false)).collect())
        }
        DType::F8E5M2 => Data::F8E5M2(v.iter().map(|&x| Fp8::E5M2.encode(x, false)).collect()),
        _ => Tensor::from_real::<f64>(dtype, vec![v.len()], v)?.data,
    })
}

/// One float value rounded into `dtype` (a reduction step's result).
fn round_into(dtype: DType, x: f64) -> Result<f64, BackendError> {
    let t = Tensor::new(vec![1], from_floats(dtype, vec![x])?)?;
    Ok(t.to_real::<f64>()?[0])
}

/// ScatterElements (11, 13, 16, 18): a copy of the data with each update
/// written (reduction none) or combined (add, mul from 16; max, min from
/// 18) at its place, in order.
pub fn scatter_elements(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (x, ind, upd) = (args.input(0)?, args.input(1)?, args.input(2)?);
    let reduction = args.attrs.string("reduction", "none")?;
    let ok = match reduction {
        "none" => true,
        "add" | "mul" => args.opset >= 16,
        "max" | "min" => args.opset >= 18,
        _ => false,
    };
    if !ok {
        return Err(args.invalid(format!("reduction {reduction:?} at opset {}", args.opset)));
    }
    if x.shape.is_empty() || upd.shape != ind.shape || upd.dtype() != x.dtype() {
        return Err(args.invalid("updates must match the indices' shape and the data's dtype"));
    }
    let axis = normalize_axis(args.attrs.int("axis", 0)?, x.shape.len(), args.op)?;
    let places = element_offsets(args, &x.shape, ind, axis)?;
    let dtype = x.dtype();
    if reduction == "none" {
        // Every place reads its last update (ONNX leaves duplicates
        // undefined; this is one of the allowed results).
        let mut index: Vec<usize> = (0..x.numel()).collect();
        for (u, &p) in places.iter().enumerate() {
            index[p] = x.numel() + u;
        }
        let both = Data::concat(&[&x.data, &upd.data])?;
        return Tensor::new(x.shape.clone(), both.gather(&index));
    }
    if let (Some(mut out), Some(u)) = (integers(&x.data), integers(&upd.data)) {
        for (&p, &v) in places.iter().zip(&u) {
            out[p] = match reduction {
                "add" => wrap(dtype, out[p] + v),
                "mul" => wrap(dtype, out[p] * v),
                "max" => out[p].max(v),
                _ => out[p].min(v),
            };
        }
        return Tensor::new(x.shape.clone(), from_integers(dtype, &out));
    }
    if dtype == DType::Bool {
        return Err(args.invalid(format!("reduction {reduction} on bool")));
    }
    let mut out = x.to_real::<f64>()?;
    let u = upd.to_real::<f64>()?;
    for (&p, &v) in places.iter().zip(&u) {
        let o = out[p];
        out[p] = match reduction {
            "add" => round_into(dtype, o + v)?,
            "mul" => round_into(dtype, o * v)?,
            _ if o.is_nan() || v.is_nan() => f64::NAN,
            "max" => o.max(v),
            _ => o.min(v),
        };
    }
    Tensor::new(x.shape.clone(), from_floats(dtype, out)?)
}

/// The `[N, C, H, W]` dims and the blocksize of a DepthToSpace or
/// SpaceToDepth call.
fn blocked(args: &Args<'_>, x: &Tensor) -> Result<([usize; 4], usize), BackendError> {
    let b = args.attrs.int("blocksize", 0)?;
    match (x.shape.as_slice(), b) {
        (&[n, c, h, w], 1..) => Ok(([n, c, h, w], b as usize)),
        _ => Err(args.invalid(format!(
            "needs a 4-D input and blocksize >= 1, got {:?} and {b}",
            x.shape
        ))),
    }
}

/// DepthToSpace (11, 13): mode DCR (default) or CRD.
pub fn depth_to_space(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let ([n, c, h, w], b) = blocked(args, x)?;
    let crd = match args.attrs.string("mode", "DCR")? {
        "DCR" => false,
        "CRD" => true,
        m => return Err(args.invalid(format!("mode {m:?}"))),
    };
    if c % (b * b) != 0 {
        return Err(args.invalid(format!("{c} channels for blocksize {b}")));
    }
    let co = c / (b * b);
    let mut index = Vec::with_capacity(x.numel());
    for bn in 0..n {
        for oc in 0..co {
            for y in 0..h * b {
                for z in 0..w * b {
                    let (i, j) = (y % b, z % b);
                    let ic = if crd {
                        (oc * b + i) * b + j
                    } else {
                        (i * b + j) * co + oc
                    };
                    index.push(((bn * c + ic) * h + y / b) * w + z / b);
                }
            }
        }
    }
    Tensor::new(vec![n, co, h * b, w * b], x.data.gather(&index))
}

/// SpaceToDepth (1, 13).
pub fn space_to_depth(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let ([n, c, h, w], b) = blocked(args, x)?;
    if h % b != 0 || w % b != 0 {
        return Err(args.invalid(format!("{h}x{w} is not a multiple of blocksize {b}")));
    }
    let (ho, wo) = (h / b, w / b);
    let mut index = Vec::with_capacity(x.numel());
    for bn in 0..n {
        for i in 0..b {
            for j in 0..b {
                for ic in 0..c {
                    for y in 0..ho {
                        for z in 0..wo {
                            index.push(((bn * c + ic) * h + y * b + i) * w + z * b + j);
                        }
                    }
                }
            }
        }
    }
    Tensor::new(vec![n, c * b * b, ho, wo], x.data.gather(&index))
}

/// The elements of a numeric tensor as f64 (integers exactly up to 2^53,
/// which indices and depths never approach).
fn numbers(t: &Tensor) -> Result<Vec<f64>, BackendError> {
    match integers(&t.data) {
        Some(v) => Ok(v.into_iter().map(|x| x as f64).collect()),
        None => t.to_real::<f64>(),
    }
}

/// OneHot (11): `values[1]` where the (int64-cast) index names the place on
/// the new axis, `values[0]` elsewhere; out-of-range indices give all off.
pub fn one_hot(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (ind, depth, vals) = (args.input(0)?, args.input(1)?, args.input(2)?);
    if depth.numel() != 1 || depth.shape.len() > 1 || vals.shape != [2] {
        return Err(args.invalid("depth must hold one value and values two"));
    }
    let d = numbers(depth)?[0].trunc();
    if d.is_nan() || d < 1.0 {
        return Err(args.invalid(format!("depth {d}")));
    }
    let depth = d as usize;
    let r = ind.shape.len() as i64;
    let a = args.attrs.int("axis", -1)?;
    if !(-r - 1..=r).contains(&a) {
        return Err(args.invalid(format!("axis {a} for indices of rank {r}")));
    }
    let axis = if a < 0 { a + r + 1 } else { a } as usize;
    let inner: usize = ind.shape[axis..].iter().product();
    let outer: usize = ind.shape[..axis].iter().product();
    let hot = numbers(ind)?;
    // 0 picks values[0] (off), 1 values[1] (on).
    let mut index = vec![0usize; outer * depth * inner];
    for (p, &v) in hot.iter().enumerate() {
        let v = v.trunc();
        if v.is_finite() && v >= -d && v < d {
            let k = if v < 0.0 { v + d } else { v } as usize;
            index[((p / inner) * depth + k) * inner + p % inner] = 1;
        }
    }
    let mut shape = ind.shape[..axis].to_vec();
    shape.push(depth);
    shape.extend_from_slice(&ind.shape[axis..]);
    Tensor::new(shape, vals.data.gather(&index))
}

/// ReverseSequence (10): per batch, the first `sequence_lens[i]` steps of
/// the time axis reversed.
pub fn reverse_sequence(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (x, lens) = (args.input(0)?, args.input(1)?);
    let b = args.attrs.int("batch_axis", 1)?;
    let t = args.attrs.int("time_axis", 0)?;
    if x.shape.len() < 2 || !matches!((b, t), (0, 1) | (1, 0)) {
        return Err(args.invalid(format!("axes {b} and {t} of {:?}", x.shape)));
    }
    let (b, t) = (b as usize, t as usize);
    let lens = lens.to_indices()?;
    let steps = x.shape[t];
    if lens.len() != x.shape[b] || lens.iter().any(|&l| l < 0 || l as usize > steps) {
        return Err(args.invalid("sequence_lens must give 0..=time steps per batch"));
    }
    let strides = contiguous_strides(&x.shape);
    let mut index: Vec<usize> = (0..x.numel()).collect();
    let inner: usize = x.shape[2..].iter().product();
    for (bi, &l) in lens.iter().enumerate() {
        let l = l as usize;
        for ti in 0..l {
            let dst = bi * strides[b] + ti * strides[t];
            let src = bi * strides[b] + (l - 1 - ti) * strides[t];
            for k in 0..inner {
                index[dst + k] = src + k;
            }
        }
    }
    Tensor::new(x.shape.clone(), x.data.gather(&index))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::AttrValue;

    #[test]
    fn depth_to_space_modes() {
        let x = f32t(&[1, 8, 1, 1], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let run = |mode: &'static str| {
            values(
                &run1(
                    "DepthToSpace",
                    &[
                        ("blocksize", AttrValue::Int(2)),
                        ("mode", AttrValue::String(mode)),
                    ],
                    vec![x.clone()],
                )
                .unwrap(),
            )
        };
        assert_eq!(run("DCR"), [0.0, 2.0, 4.0, 6.0, 1.0, 3.0, 5.0, 7.0]);
        assert_eq!(run("CRD"), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    }

    #[test]
    fn scatter_elements_wraps_integers_and_rounds_floats() {
        let t = |d: Data| Some(Tensor::new(vec![1], d).unwrap());
        let y = run1(
            "ScatterElements",
            &[("reduction", AttrValue::String("add"))],
            vec![
                t(Data::U64(vec![u64::MAX])),
                Some(Tensor::new(vec![2], Data::I64(vec![0, -1])).unwrap()),
                Some(Tensor::new(vec![2], Data::U64(vec![1, 5])).unwrap()),
            ],
        )
        .unwrap();
        assert_eq!(y.data, Data::U64(vec![5]));
        let y = run1(
            "ScatterElements",
            &[("reduction", AttrValue::String("mul"))],
            vec![
                f32t(&[2], &[1.0, 2.0]),
                i64t(&[2], &[1, 1]),
                f32t(&[2], &[3.0, 0.5]),
            ],
        )
        .unwrap();
        assert_eq!(values(&y), [1.0, 3.0]);
    }

    #[test]
    fn gather_nd_batches_and_one_hot() {
        let d3 = f32t(&[2, 2, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let y = run1(
            "GatherND",
            &[("batch_dims", AttrValue::Int(1))],
            vec![d3, i64t(&[2, 1], &[1, 0])],
        )
        .unwrap();
        assert_eq!(values(&y), [2.0, 3.0, 4.0, 5.0]);
        let y = run1(
            "OneHot",
            &[],
            vec![
                i64t(&[3], &[0, -1, 5]),
                i64t(&[], &[3]),
                f32t(&[2], &[0.0, 1.0]),
            ],
        )
        .unwrap();
        assert_eq!(values(&y), [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
    }
}
