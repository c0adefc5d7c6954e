//! Shape and indexing ops for every dtype (issue 17): Slice, Squeeze,
//! Unsqueeze, Shape, Size, Identity, Flatten, Expand, Tile,
//! Range, Pad, Split, EyeLike, Trilu (ConstantOfShape is in `constant.rs`).
//!
//! Like `movement.rs`, each kernel works out which input element every
//! output element copies (per output axis, a source coordinate or "the
//! fill value"), then gathers once, so the element type never matters;
//! ops that only change the shape reuse the buffer.

use xpucert_abi::{BackendError, DType};

use super::Args;
use crate::fp8::Fp8;
use crate::layout::{contiguous_strides, normalize_axis};
use crate::tensor::{Data, Tensor};

/// Per output axis, the source coordinate of every output coordinate;
/// [`FILL`] takes the fill value.
type Maps = Vec<Vec<usize>>;

/// The source coordinate that means "the fill value".
const FILL: usize = usize::MAX;

/// Gathers `x` (contiguous, of `in_shape`, which has the maps' rank)
/// through `maps`; `fill` is the one-element buffer [`FILL`] reads.
fn remap(
    x: &Data,
    in_shape: &[usize],
    maps: &Maps,
    fill: Option<&Data>,
) -> Result<Tensor, BackendError> {
    let shape: Vec<usize> = maps.iter().map(Vec::len).collect();
    let strides = contiguous_strides(in_shape);
    let rank = shape.len();
    let fill_at = x.len();
    let mut index = Vec::with_capacity(shape.iter().product());
    if rank == 0 {
        index.push(0);
    } else {
        // Row by row (every axis but the last), the last axis appended
        // to each row's base offset.
        let rows: usize = shape[..rank - 1].iter().product();
        let (last, last_stride) = (&maps[rank - 1], strides[rank - 1]);
        let mut at = vec![0usize; rank - 1];
        for _ in 0..rows {
            let mut base = Some(0usize);
            for k in 0..rank - 1 {
                let c = maps[k][at[k]];
                base = base.and_then(|b| (c != FILL).then(|| b + c * strides[k]));
            }
            index.extend(last.iter().map(|&c| match base {
                Some(b) if c != FILL => b + c * last_stride,
                _ => fill_at,
            }));
            for k in (0..rank - 1).rev() {
                at[k] += 1;
                if at[k] < shape[k] {
                    break;
                }
                at[k] = 0;
            }
        }
    }
    let data = match fill {
        Some(f) => Data::concat(&[x, f])?,
        None => x.clone(),
    };
    Tensor::new(shape, data.gather(&index))
}

/// One element of `dtype` holding `v` (0 or 1 here: exact in every dtype).
fn element(dtype: DType, v: f64) -> Result<Data, BackendError> {
    Ok(match dtype {
        DType::F64 | DType::F32 | DType::F16 | DType::BF16 => {
            Tensor::from_real::<f64>(dtype, vec![1], vec![v])?.data
        }
        DType::F8E4M3FN => Data::F8E4M3FN(vec![Fp8::E4M3FN.encode(v, true)]),
        DType::F8E5M2 => Data::F8E5M2(vec![Fp8::E5M2.encode(v, true)]),
        DType::I64 => Data::I64(vec![v as i64]),
        DType::I32 => Data::I32(vec![v as i32]),
        DType::I16 => Data::I16(vec![v as i16]),
        DType::I8 => Data::I8(vec![v as i8]),
        DType::U16 => Data::U16(vec![v as u16]),
        DType::U8 => Data::U8(vec![v as u8]),
        DType::Bool => Data::Bool(vec![u8::from(v != 0.0)]),
        // Pad's default fill in the narrow types: code 0 is zero in each of
        // them (fp8 fnuz, FP4, the 4- and 2-bit integers); E8M0 has no zero.
        d @ (DType::F8E4M3FNUZ
        | DType::F8E5M2FNUZ
        | DType::F4E2M1
        | DType::I4
        | DType::U4
        | DType::I2
        | DType::U2)
            if v == 0.0 =>
        {
            Data::Codes(d, vec![0])
        }
        other => return Err(BackendError::unsupported(format!("dtype {other}"))),
    })
}

/// A 1-D index input (int64, or int32 where allowed) as i64s.
fn index_list(args: &Args<'_>, i: usize, name: &str) -> Result<Vec<i64>, BackendError> {
    let t = args.input(i)?;
    if t.shape.len() != 1 {
        return Err(args.invalid(format!("{name} must be 1-D, got shape {:?}", t.shape)));
    }
    t.to_indices()
}

/// Axes counted from the end when negative, in range, each named once.
fn axes(args: &Args<'_>, list: &[i64], rank: usize) -> Result<Vec<usize>, BackendError> {
    let mut out: Vec<usize> = Vec::with_capacity(list.len());
    for &a in list {
        let r = normalize_axis(a, rank, args.op)?;
        if out.contains(&r) {
            return Err(args.invalid(format!("axes {list:?} repeat axis {r}")));
        }
        out.push(r);
    }
    Ok(out)
}

/// Slice (10, 11, 13). Per named axis of length `d`: negative starts/ends
/// get `d` added; stepping forward both clamp to `[0, d]`; stepping
/// backward the start clamps to `[0, d-1]` and the end to `[-1, d-1]`.
pub fn slice(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let rank = x.shape.len();
    let starts = index_list(args, 1, "starts")?;
    let ends = index_list(args, 2, "ends")?;
    let n = starts.len();
    let named = match args.optional(3) {
        Some(_) => index_list(args, 3, "axes")?,
        None => (0..n as i64).collect(),
    };
    let steps = match args.optional(4) {
        Some(_) => index_list(args, 4, "steps")?,
        None => vec![1; n],
    };
    if ends.len() != n || named.len() != n || steps.len() != n {
        return Err(args.invalid("starts, ends, axes and steps must have one length"));
    }
    if args.opset < 11 && named.iter().any(|&a| a < 0) {
        return Err(args.invalid("negative axes need Slice-11"));
    }
    let named = axes(args, &named, rank)?;
    let mut maps: Maps = x.shape.iter().map(|&d| (0..d).collect()).collect();
    for (k, &a) in named.iter().enumerate() {
        let step = steps[k];
        if step == 0 {
            return Err(args.invalid("a step cannot be 0"));
        }
        let d = x.shape[a] as i128;
        let fix = |v: i64| {
            let v = i128::from(v);
            if v < 0 { v + d } else { v }
        };
        let (mut s, mut e) = (fix(starts[k]), fix(ends[k]));
        let mut coords = Vec::new();
        if step > 0 {
            s = s.clamp(0, d);
            e = e.clamp(0, d);
            let mut c = s;
            while c < e {
                coords.push(c as usize);
                c += i128::from(step);
            }
        } else if d > 0 {
            s = s.clamp(0, d - 1);
            e = e.clamp(-1, d - 1);
            let mut c = s;
            while c > e {
                coords.push(c as usize);
                c += i128::from(step);
            }
        }
        maps[a] = coords;
    }
    remap(&x.data, &x.shape, &maps, None)
}

/// The same data in another shape.
fn reshaped(x: &Tensor, shape: Vec<usize>) -> Result<Tensor, BackendError> {
    Tensor::new(shape, x.data.clone())
}

/// Squeeze (11: `axes` attribute; 13: `axes` input): removes the named
/// axes, which must have length 1, or every axis of length 1.
pub fn squeeze(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let list = match (args.attrs.ints("axes")?, args.optional(1)) {
        (Some(a), _) => Some(a.to_vec()),
        (None, Some(_)) => {
            let a = index_list(args, 1, "axes")?;
            if a.is_empty() {
                return Err(args.invalid("an empty axes input is not specified by ONNX"));
            }
            Some(a)
        }
        (None, None) => None,
    };
    let drop: Vec<usize> = match list {
        Some(l) => {
            let a = axes(args, &l, x.shape.len())?;
            if let Some(&bad) = a.iter().find(|&&k| x.shape[k] != 1) {
                return Err(args.invalid(format!("axis {bad} has length {}, not 1", x.shape[bad])));
            }
            a
        }
        None => (0..x.shape.len()).filter(|&k| x.shape[k] == 1).collect(),
    };
    let shape = (0..x.shape.len())
        .filter(|k| !drop.contains(k))
        .map(|k| x.shape[k])
        .collect();
    reshaped(x, shape)
}

/// Unsqueeze (11: `axes` attribute; 13: `axes` input): a 1 at each named
/// axis of the output.
pub fn unsqueeze(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let list = match args.attrs.ints("axes")? {
        Some(a) => a.to_vec(),
        None => index_list(args, 1, "axes")?,
    };
    let rank = x.shape.len() + list.len();
    let ones = axes(args, &list, rank)?;
    let mut dims = x.shape.iter();
    let shape = (0..rank)
        .map(|k| {
            if ones.contains(&k) {
                1
            } else {
                dims.next().copied().unwrap_or(1)
            }
        })
        .collect();
    reshaped(x, shape)
}

/// Flatten (11, 13): `[prod(dims[..axis]), prod(dims[axis..])]`, axis in
/// `[-r, r]`.
pub fn flatten(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let r = x.shape.len() as i64;
    let axis = args.attrs.int("axis", 1)?;
    let a = if axis < 0 { axis + r } else { axis };
    if !(0..=r).contains(&a) {
        return Err(args.invalid(format!("axis {axis} is out of range for rank {r}")));
    }
    let (front, back) = x.shape.split_at(a as usize);
    reshaped(x, vec![front.iter().product(), back.iter().product()])
}

/// Identity: the input.
pub fn identity(args: &Args<'_>) -> Result<Tensor, BackendError> {
    Ok(args.input(0)?.clone())
}

/// Shape (1, 13, 15): the dims `[start, end)` (negative plus the rank,
/// clamped to `[0, r]`) as int64.
pub fn shape(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let r = x.shape.len() as i64;
    let at = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = at(args.attrs.int("start", 0)?);
    let end = at(args.attrs.int("end", r)?).max(start);
    let dims: Vec<i64> = x.shape[start..end].iter().map(|&d| d as i64).collect();
    Tensor::new(vec![dims.len()], Data::I64(dims))
}

/// Size: the element count, an int64 scalar.
pub fn size(args: &Args<'_>) -> Result<Tensor, BackendError> {
    Tensor::new(vec![], Data::I64(vec![args.input(0)?.numel() as i64]))
}

/// A shape-like int64 input: 1-D, no negative value.
pub(crate) fn dims(args: &Args<'_>, i: usize, name: &str) -> Result<Vec<usize>, BackendError> {
    index_list(args, i, name)?
        .into_iter()
        .map(|v| usize::try_from(v).map_err(|_| args.invalid(format!("{name} holds {v}"))))
        .collect()
}

/// Expand (8, 13): numpy broadcasting of the input with the shape input
/// (both ways: a 1 in the shape keeps the input's dim).
pub fn expand(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let target = dims(args, 1, "shape")?;
    let rank = x.shape.len().max(target.len());
    let pad = |s: &[usize]| {
        let mut p = vec![1; rank - s.len()];
        p.extend_from_slice(s);
        p
    };
    let (from, to) = (pad(&x.shape), pad(&target));
    let mut maps = Vec::with_capacity(rank);
    for (&f, &t) in from.iter().zip(&to) {
        let out = if f == 1 { t } else { f };
        if t != 1 && t != f && f != 1 {
            return Err(args.invalid(format!(
                "input {:?} does not broadcast to {target:?}",
                x.shape
            )));
        }
        maps.push(if f == 1 {
            vec![0; out]
        } else {
            (0..out).collect()
        });
    }
    remap(&x.data, &from, &maps, None)
}

/// Tile (6, 13): `repeats[k]` copies along axis k.
pub fn tile(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let reps = dims(args, 1, "repeats")?;
    if reps.len() != x.shape.len() {
        return Err(args.invalid("repeats needs one value per axis"));
    }
    let maps = x
        .shape
        .iter()
        .zip(&reps)
        .map(|(&d, &r)| (0..r).flat_map(|_| 0..d).collect())
        .collect();
    remap(&x.data, &x.shape, &maps, None)
}

/// Range (11): `start + i * delta` for `i < max(ceil((limit - start) /
/// delta), 0)`; integers exactly (wrapping), floats in f64 and rounded
/// once.
pub fn range(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let mut v = Vec::with_capacity(3);
    for i in 0..3 {
        let t = args.input(i)?;
        if t.numel() != 1 || t.shape.len() > 1 {
            return Err(args.invalid(format!("input {i} must be a scalar")));
        }
        v.push(t);
    }
    let dtype = v[0].dtype();
    if v.iter().any(|t| t.dtype() != dtype) {
        return Err(args.invalid("start, limit and delta must share a dtype"));
    }
    if dtype.is_float() {
        let f: Vec<f64> = v
            .iter()
            .map(|t| t.to_real::<f64>().map(|r| r[0]))
            .collect::<Result<_, _>>()?;
        let (start, limit, delta) = (f[0], f[1], f[2]);
        if delta == 0.0 || !(start.is_finite() && limit.is_finite() && delta.is_finite()) {
            return Err(args.invalid("delta must be nonzero and every input finite"));
        }
        let n = ((limit - start) / delta).ceil().max(0.0) as usize;
        // Range-27's half floats compute in stash_type (f32 by default), as
        // the spec's loop does; f32 and f64 compute exactly, then round once.
        let half = matches!(dtype, DType::F16 | DType::BF16);
        let out: Vec<f64> = match args.attrs.int("stash_type", 1)? {
            1 if half => {
                let (s, d) = (start as f32, delta as f32);
                (0..n).map(|i| f64::from(s + i as f32 * d)).collect()
            }
            11 | 1 => (0..n).map(|i| start + i as f64 * delta).collect(),
            other => return Err(args.invalid(format!("stash_type {other}"))),
        };
        return Tensor::from_real(dtype, vec![n], out);
    }
    let i: Vec<i64> = v
        .iter()
        .map(|t| match &t.data {
            Data::I16(v) => Ok(i64::from(v[0])),
            _ => t.to_indices().map(|r| r[0]),
        })
        .collect::<Result<_, _>>()?;
    let (start, limit, delta) = (i128::from(i[0]), i128::from(i[1]), i128::from(i[2]));
    if delta == 0 {
        return Err(args.invalid("delta cannot be 0"));
    }
    let span = limit - start;
    let n = if (span > 0) == (delta > 0) && span != 0 {
        ((span.abs() + delta.abs() - 1) / delta.abs()) as usize
    } else {
        0
    };
    let vals = (0..n).map(|k| (start + k as i128 * delta) as i64);
    let data = match dtype {
        DType::I64 => Data::I64(vals.collect()),
        DType::I32 => Data::I32(vals.map(|x| x as i32).collect()),
        DType::I16 => Data::I16(vals.map(|x| x as i16).collect()),
        other => return Err(BackendError::unsupported(format!("Range of {other}"))),
    };
    Tensor::new(vec![n], data)
}

/// Pad (11, 13, 18, 19): pads (begin pads of the padded axes, then end
/// pads) on every axis or those of the `axes` input (18+), in mode
/// constant (the scalar `constant_value`, default 0; negative pads crop),
/// reflect (mirrored about the edge elements, periodically for long pads),
/// edge, or wrap (19+).
pub fn pad(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let rank = x.shape.len();
    let mode = args.attrs.string("mode", "constant")?;
    let known =
        matches!(mode, "constant" | "reflect" | "edge") || (mode == "wrap" && args.opset >= 19);
    if !known {
        return Err(args.invalid(format!("mode {mode:?} at opset {}", args.opset)));
    }
    let padded = match args.optional(3) {
        Some(_) if args.opset >= 18 => axes(args, &index_list(args, 3, "axes")?, rank)?,
        Some(_) => return Err(args.invalid("an axes input needs Pad-18")),
        None => (0..rank).collect(),
    };
    let pads = index_list(args, 1, "pads")?;
    if pads.len() != 2 * padded.len() {
        return Err(args.invalid(format!(
            "pads has {} values for {} axes",
            pads.len(),
            padded.len()
        )));
    }
    let fill = match args.optional(2) {
        Some(c) => {
            if c.numel() != 1 || c.shape.len() > 1 || c.dtype() != x.dtype() {
                return Err(args.invalid("constant_value must be a scalar of the data's dtype"));
            }
            c.data.clone()
        }
        None => element(x.dtype(), 0.0)?,
    };
    let mut maps: Maps = x.shape.iter().map(|&d| (0..d).collect()).collect();
    for (k, &a) in padded.iter().enumerate() {
        let (b, e) = (pads[k], pads[padded.len() + k]);
        let d = x.shape[a] as i64;
        if mode != "constant" && (b < 0 || e < 0) {
            return Err(args.invalid("negative pads are only accepted in constant mode"));
        }
        let len = d + b + e;
        if len < 0 {
            return Err(args.invalid(format!("pads remove more than axis {a} holds")));
        }
        if mode != "constant" && d == 0 && len > 0 {
            return Err(args.invalid(format!("axis {a} is empty: nothing to {mode}-pad from")));
        }
        maps[a] = (-b..d + e)
            .map(|j| {
                if (0..d).contains(&j) {
                    return j as usize;
                }
                (match mode {
                    "constant" => return FILL,
                    "edge" => j.clamp(0, d - 1),
                    "wrap" => j.rem_euclid(d),
                    // reflect: walk back and forth over 0..d
                    _ if d == 1 => 0,
                    _ => {
                        let m = j.rem_euclid(2 * d - 2);
                        if m < d { m } else { 2 * d - 2 - m }
                    }
                }) as usize
            })
            .collect();
    }
    remap(&x.data, &x.shape, &maps, Some(&fill))
}

/// Split (11, 13, 18): parts along `axis` from the split input (13+) or
/// attribute (11), `num_outputs` parts of ceil(d / n) with the last one
/// smaller (18), or as many equal parts as outputs are requested.
pub fn split(args: &Args<'_>) -> Result<Vec<Tensor>, BackendError> {
    let x = args.input(0)?;
    let axis = normalize_axis(args.attrs.int("axis", 0)?, x.shape.len(), args.op)?;
    let d = x.shape[axis];
    let parts: Vec<usize> = if args.optional(1).is_some() {
        dims(args, 1, "split")?
    } else if let Some(s) = args.attrs.ints("split")? {
        s.iter()
            .map(|&v| usize::try_from(v).map_err(|_| args.invalid("negative split")))
            .collect::<Result<_, _>>()?
    } else {
        let n = if args.attrs.has("num_outputs") {
            usize::try_from(args.attrs.int("num_outputs", 0)?)
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| args.invalid("num_outputs must be positive"))?
        } else {
            args.outputs
        };
        let chunk = d.div_ceil(n);
        let before = chunk * (n - 1);
        if before > d {
            return Err(args.invalid(format!("{n} parts of {chunk} overrun {d}")));
        }
        let mut p = vec![chunk; n - 1];
        p.push(d - before);
        p
    };
    if parts.iter().sum::<usize>() != d || parts.len() != args.outputs {
        return Err(args.invalid(format!(
            "parts {parts:?} for axis length {d} and {} outputs",
            args.outputs
        )));
    }
    let mut out = Vec::with_capacity(parts.len());
    let mut first = 0;
    for p in parts {
        let mut maps: Maps = x.shape.iter().map(|&n| (0..n).collect()).collect();
        maps[axis] = (first..first + p).collect();
        out.push(remap(&x.data, &x.shape, &maps, None)?);
        first += p;
    }
    Ok(out)
}

/// The dtype EyeLike produces: the `dtype` attribute's, else the input's.
pub fn eye_like_dtype(
    attrs: &crate::support::Attrs<'_>,
    input: DType,
) -> Result<DType, BackendError> {
    if !attrs.has("dtype") {
        return Ok(input);
    }
    let code = attrs.int("dtype", 0)?;
    i32::try_from(code)
        .ok()
        .and_then(DType::from_code)
        .ok_or_else(|| BackendError::unsupported(format!("EyeLike: dtype code {code}")))
}

/// EyeLike (9, 22): ones where column - row = k, zeros elsewhere, 2-D.
pub fn eye_like(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let &[rows, cols] = x.shape.as_slice() else {
        return Err(args.invalid(format!("input must be 2-D, got {:?}", x.shape)));
    };
    let dtype = eye_like_dtype(&args.attrs, x.dtype())?;
    let k = args.attrs.int("k", 0)?;
    let values = Data::concat(&[&element(dtype, 0.0)?, &element(dtype, 1.0)?])?;
    let mut index = vec![0usize; rows * cols];
    for r in 0..rows {
        let c = r as i64 + k;
        if (0..cols as i64).contains(&c) {
            index[r * cols + c as usize] = 1;
        }
    }
    Tensor::new(vec![rows, cols], values.gather(&index))
}

/// Trilu (14): the upper (default; column - row >= k) or lower (column -
/// row <= k) triangle of every matrix of the last two axes, zeros
/// elsewhere; k is the optional int64 scalar input.
pub fn trilu(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let rank = x.shape.len();
    if rank < 2 {
        return Err(args.invalid("input must have rank >= 2"));
    }
    let k = match args.optional(1) {
        Some(t) if t.numel() == 1 && t.shape.len() <= 1 => t.to_indices()?[0],
        Some(_) => return Err(args.invalid("k must be a scalar")),
        None => 0,
    };
    let upper = match args.attrs.int("upper", 1)? {
        0 => false,
        1 => true,
        v => return Err(args.invalid(format!("upper must be 0 or 1, got {v}"))),
    };
    let (rows, cols) = (x.shape[rank - 2], x.shape[rank - 1]);
    let zero_at = x.numel();
    let index: Vec<usize> = (0..x.numel())
        .map(|i| {
            let (r, c) = (
                ((i / cols.max(1)) % rows.max(1)) as i64,
                (i % cols.max(1)) as i64,
            );
            let keep = if upper { c - r >= k } else { c - r <= k };
            if keep { i } else { zero_at }
        })
        .collect();
    let data = Data::concat(&[&x.data, &element(x.dtype(), 0.0)?])?;
    Tensor::new(x.shape.clone(), data.gather(&index))
}

/// Every element of `d` as f64 (exact: integers as stored, floats
/// widened).
fn wide(t: &Tensor) -> Result<Vec<f64>, BackendError> {
    Ok(match &t.data {
        Data::I64(v) => v.iter().map(|&x| x as f64).collect(),
        Data::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Data::I16(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Data::I8(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Data::U16(v) => v.iter().map(|&x| f64::from(x)).collect(),
        Data::U8(v) | Data::Bool(v) => v.iter().map(|&x| f64::from(x)).collect(),
        _ => t.to_real::<f64>()?,
    })
}

/// `v` stored in `dtype`: floats rounded to nearest even, integers
/// wrapped (two's complement), bool nonzero.
fn narrow(dtype: DType, v: &[f64]) -> Result<Data, BackendError> {
    Ok(match dtype {
        DType::I64 => Data::I64(v.iter().map(|&x| x as i64).collect()),
        DType::I32 => Data::I32(v.iter().map(|&x| x as i64 as i32).collect()),
        DType::I16 => Data::I16(v.iter().map(|&x| x as i64 as i16).collect()),
        DType::I8 => Data::I8(v.iter().map(|&x| x as i64 as i8).collect()),
        DType::U16 => Data::U16(v.iter().map(|&x| x as i64 as u16).collect()),
        DType::U8 => Data::U8(v.iter().map(|&x| x as i64 as u8).collect()),
        DType::Bool => Data::Bool(v.iter().map(|&x| u8::from(x != 0.0)).collect()),
        DType::F8E4M3FN => {
            Data::F8E4M3FN(v.iter().map(|&x| Fp8::E4M3FN.encode(x, false)).collect())
        }
        DType::F8E5M2 => Data::F8E5M2(v.iter().map(|&x| Fp8::E5M2.encode(x, false)).collect()),
        _ => Tensor::from_real::<f64>(dtype, vec![v.len()], v.to_vec())?.data,
    })
}

/// ScatterND (11, 13, 16, 18): the data with each update's slice written
/// (reduction none) or combined (add, mul from 16; max, min from 18) at
/// the place its index tuple names, in order, each step stored in the
/// dtype.
pub fn scatter_nd(args: &Args<'_>) -> Result<Tensor, BackendError> {
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
    let Some((&k, lead)) = ind.shape.split_last() else {
        return Err(args.invalid("indices must not be a scalar"));
    };
    if k > x.shape.len() || upd.dtype() != x.dtype() {
        return Err(args.invalid("indices or updates do not fit the data"));
    }
    let mut want = lead.to_vec();
    want.extend_from_slice(&x.shape[k..]);
    if upd.shape != want {
        return Err(args.invalid(format!("updates must have shape {want:?}")));
    }
    let strides = contiguous_strides(&x.shape);
    let slice: usize = x.shape[k..].iter().product();
    let idx = ind.to_indices()?;
    let mut out = wide(x)?;
    let u = wide(upd)?;
    let dtype = x.dtype();
    for n in 0..lead.iter().product::<usize>() {
        let mut base = 0;
        for a in 0..k {
            let (v, d) = (idx[n * k + a], x.shape[a] as i64);
            let v = if v < 0 { v + d } else { v };
            if !(0..d).contains(&v) {
                return Err(args.invalid(format!("index {} out of range", idx[n * k + a])));
            }
            base += v as usize * strides[a];
        }
        let (dst, src) = (&mut out[base..base + slice], &u[n * slice..(n + 1) * slice]);
        let mut step: Vec<f64> = dst
            .iter()
            .zip(src)
            .map(|(&o, &s)| match reduction {
                "add" => o + s,
                "mul" => o * s,
                "max" if o.is_nan() || s.is_nan() => f64::NAN,
                "max" => o.max(s),
                "min" if o.is_nan() || s.is_nan() => f64::NAN,
                "min" => o.min(s),
                _ => s,
            })
            .collect();
        if dtype.is_float() && reduction != "none" {
            // Round this step into the dtype before the next one.
            let stored = Tensor::new(vec![step.len()], narrow(dtype, &step)?)?;
            step = wide(&stored)?;
        }
        dst.copy_from_slice(&step);
    }
    Tensor::new(x.shape.clone(), narrow(dtype, &out)?)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::AttrValue;

    fn ints(t: &Tensor) -> Vec<i64> {
        match &t.data {
            Data::I64(v) => v.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn slice_negative_steps_clamp_as_onnx_says() {
        let x = f32t(&[5], &[0.0, 1.0, 2.0, 3.0, 4.0]);
        let run = |s: i64, e: i64, st: i64| {
            values(
                &run1(
                    "Slice",
                    &[],
                    vec![
                        x.clone(),
                        i64t(&[1], &[s]),
                        i64t(&[1], &[e]),
                        None,
                        i64t(&[1], &[st]),
                    ],
                )
                .unwrap(),
            )
        };
        // From far past the end back to INT_MIN: everything reversed.
        assert_eq!(run(i64::MAX, i64::MIN, -1), [4.0, 3.0, 2.0, 1.0, 0.0]);
        assert_eq!(run(-1, -6, -2), [4.0, 2.0, 0.0]);
        assert_eq!(run(3, 0, -1), [3.0, 2.0, 1.0]);
        assert_eq!(run(0, 3, -1), Vec::<f32>::new());
        assert_eq!(run(-100, 100, 2), [0.0, 2.0, 4.0]);
    }

    #[test]
    fn pad_modes() {
        let x = f32t(&[3], &[1.0, 2.0, 3.0]);
        let run = |mode: &'static str, b: i64, e: i64| {
            values(
                &run1(
                    "Pad",
                    &[("mode", AttrValue::String(mode))],
                    vec![x.clone(), i64t(&[2], &[b, e])],
                )
                .unwrap(),
            )
        };
        // numpy.pad([1, 2, 3], (5, 5), mode) for each mode.
        assert_eq!(
            run("reflect", 5, 5),
            [
                2.0, 1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 2.0
            ]
        );
        assert_eq!(
            run("wrap", 5, 5),
            [
                2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0
            ]
        );
        assert_eq!(run("edge", 2, 1), [1.0, 1.0, 1.0, 2.0, 3.0, 3.0]);
        assert_eq!(run("constant", -1, 2), [2.0, 3.0, 0.0, 0.0]);
    }

    #[test]
    fn shapes_and_split() {
        let x = f32t(&[2, 1, 3], &[0.0; 6]);
        let s = run1("Shape", &[("start", AttrValue::Int(-2))], vec![x.clone()]).unwrap();
        assert_eq!(ints(&s), [1, 3]);
        let sq = run1("Squeeze", &[], vec![x.clone()]).unwrap();
        assert_eq!(sq.shape, [2, 3]);
        let un = run1("Unsqueeze", &[], vec![x.clone(), i64t(&[2], &[-1, 0])]).unwrap();
        assert_eq!(un.shape, [1, 2, 1, 3, 1]);
        let parts = super::super::testing::run_n(
            "Split",
            &[
                ("axis", AttrValue::Int(-1)),
                ("num_outputs", AttrValue::Int(2)),
            ],
            vec![f32t(&[1, 3], &[1.0, 2.0, 3.0])],
            2,
        )
        .unwrap();
        assert_eq!(values(&parts[0]), [1.0, 2.0]);
        assert_eq!(values(&parts[1]), [3.0]);
    }

    #[test]
    fn trilu_eye_range_tile() {
        let x = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let up = run1("Trilu", &[], vec![x.clone(), i64t(&[], &[1])]).unwrap();
        assert_eq!(values(&up), [0.0, 2.0, 3.0, 0.0, 0.0, 6.0]);
        let low = run1("Trilu", &[("upper", AttrValue::Int(0))], vec![x.clone()]).unwrap();
        assert_eq!(values(&low), [1.0, 0.0, 0.0, 4.0, 5.0, 0.0]);
        let eye = run1("EyeLike", &[("k", AttrValue::Int(-1))], vec![x.clone()]).unwrap();
        assert_eq!(values(&eye), [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        let r = run1(
            "Range",
            &[],
            vec![i64t(&[], &[10]), i64t(&[], &[4]), i64t(&[], &[-2])],
        )
        .unwrap();
        assert_eq!(ints(&r), [10, 8, 6]);
        let t = run1("Tile", &[], vec![f32t(&[2], &[1.0, 2.0]), i64t(&[1], &[2])]).unwrap();
        assert_eq!(values(&t), [1.0, 2.0, 1.0, 2.0]);
        let e = run1(
            "Expand",
            &[],
            vec![f32t(&[2, 1], &[1.0, 2.0]), i64t(&[1], &[2])],
        )
        .unwrap();
        assert_eq!(values(&e), [1.0, 1.0, 2.0, 2.0]);
    }

    #[test]
    fn scatter_nd_reduces_in_order() {
        let run = |r: &'static str| {
            values(
                &run1(
                    "ScatterND",
                    &[("reduction", AttrValue::String(r))],
                    vec![
                        f32t(&[4], &[1.0, 2.0, 3.0, 4.0]),
                        i64t(&[3, 1], &[3, 1, -1]),
                        f32t(&[3], &[10.0, 20.0, 30.0]),
                    ],
                )
                .unwrap(),
            )
        };
        assert_eq!(run("add"), [1.0, 22.0, 3.0, 44.0]);
        assert_eq!(run("mul"), [1.0, 40.0, 3.0, 1200.0]);
        assert_eq!(run("max"), [1.0, 20.0, 3.0, 30.0]);
        assert_eq!(run("min"), [1.0, 2.0, 3.0, 4.0]);
    }
}
