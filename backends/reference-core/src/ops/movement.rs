//! Data movement, for every dtype: Gather, Transpose, Reshape, Concat, Where,
//! and the dtype conversion Cast.
//!
//! The movement ops compute, for each output element, which input element it
//! copies (an index map) and then gather once, so the element type never
//! matters to them.

use xpucert_abi::{BackendError, DType};

use super::Args;
use crate::fp8::Fp8;
use crate::layout::{
    broadcast_offsets, broadcast_shapes, contiguous_strides, normalize_axis, split_at_axis,
    view_offsets,
};
use crate::narrow;
use crate::support::{cast_target, e8m0_rounding, saturate};
use crate::tensor::{Data, Real, Tensor};

/// Gather (13): picks slices along `axis` (default 0) by int64/int32 indices;
/// negative indices count from the end.
pub fn gather(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (data, indices) = (args.input(0)?, args.input(1)?);
    let rank = data.shape.len();
    if rank == 0 {
        return Err(args.invalid("data must have at least one dimension"));
    }
    let axis = normalize_axis(args.attrs.int("axis", 0)?, rank, args.op)?;
    let (outer, dim, inner) = split_at_axis(&data.shape, axis);
    let picks = indices
        .to_indices()?
        .into_iter()
        .map(|i| {
            let j = if i < 0 { i + dim as i64 } else { i };
            usize::try_from(j).ok().filter(|&j| j < dim).ok_or_else(|| {
                args.invalid(format!("index {i} is out of range for axis of size {dim}"))
            })
        })
        .collect::<Result<Vec<usize>, _>>()?;
    let mut index = Vec::with_capacity(outer * picks.len() * inner);
    for o in 0..outer {
        for &p in &picks {
            let base = (o * dim + p) * inner;
            index.extend(base..base + inner);
        }
    }
    let mut shape = data.shape[..axis].to_vec();
    shape.extend_from_slice(&indices.shape);
    shape.extend_from_slice(&data.shape[axis + 1..]);
    Tensor::new(shape, data.data.gather(&index))
}

/// Transpose (21): `perm` defaults to reversing the axes.
pub fn transpose(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let rank = x.shape.len();
    let perm: Vec<usize> = match args.attrs.ints("perm")? {
        None => (0..rank).rev().collect(),
        Some(p) => p
            .iter()
            .map(|&a| normalize_axis(a, rank, args.op))
            .collect::<Result<_, _>>()?,
    };
    let mut seen = vec![false; rank];
    if perm.len() != rank || perm.iter().any(|&a| std::mem::replace(&mut seen[a], true)) {
        return Err(args.invalid(format!("perm {perm:?} is not a permutation of {rank} axes")));
    }
    let strides = contiguous_strides(&x.shape);
    let shape: Vec<usize> = perm.iter().map(|&a| x.shape[a]).collect();
    let view: Vec<usize> = perm.iter().map(|&a| strides[a]).collect();
    Tensor::new(shape.clone(), x.data.gather(&view_offsets(&shape, &view)))
}

/// Reshape (21): 0 copies the input dimension (unless `allowzero`), -1 is
/// inferred from the element count.
pub fn reshape(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (x, spec) = (args.input(0)?, args.input(1)?);
    if spec.shape.len() != 1 {
        return Err(args.invalid(format!("shape must be 1-D, got shape {:?}", spec.shape)));
    }
    let allow_zero = args.attrs.int("allowzero", 0)? != 0;
    let dims = spec.to_indices()?;
    let mut shape = Vec::with_capacity(dims.len());
    let mut inferred = None;
    for (i, &d) in dims.iter().enumerate() {
        shape.push(match d {
            -1 if inferred.is_none() => {
                inferred = Some(i);
                1
            }
            0 if !allow_zero => *x.shape.get(i).ok_or_else(|| {
                args.invalid(format!(
                    "shape {dims:?}: 0 at {i} has no input dimension to copy"
                ))
            })?,
            d if d >= 0 => d as usize,
            _ => return Err(args.invalid(format!("shape {dims:?} is not a valid target shape"))),
        });
    }
    let known: usize = shape.iter().product();
    if let Some(i) = inferred {
        if known == 0 || x.numel() % known != 0 {
            return Err(args.invalid(format!(
                "cannot infer -1 in {dims:?} for {} elements",
                x.numel()
            )));
        }
        shape[i] = x.numel() / known;
    }
    if shape.iter().product::<usize>() != x.numel() {
        return Err(args.invalid(format!(
            "cannot reshape {:?} ({} elements) to {dims:?}",
            x.shape,
            x.numel()
        )));
    }
    Tensor::new(shape, x.data.clone())
}

/// Concat (13) along `axis`; all inputs agree on every other dimension.
pub fn concat(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let parts: Vec<&Tensor> = (0..args.inputs.len())
        .map(|i| args.input(i))
        .collect::<Result<_, _>>()?;
    let first = parts[0];
    let rank = first.shape.len();
    let axis = normalize_axis(args.attrs.int("axis", 0)?, rank, args.op)?;
    let mut shape = first.shape.clone();
    shape[axis] = 0;
    for p in &parts {
        let same_rest = p.shape.len() == rank
            && p.shape
                .iter()
                .zip(&first.shape)
                .enumerate()
                .all(|(i, (a, b))| i == axis || a == b);
        if !same_rest {
            return Err(args.invalid(format!(
                "shapes {:?} and {:?} differ outside axis {axis}",
                first.shape, p.shape
            )));
        }
        shape[axis] += p.shape[axis];
    }
    let (outer, _, _) = split_at_axis(&shape, axis);
    let mut index = Vec::with_capacity(shape.iter().product());
    for o in 0..outer {
        let mut base = 0;
        for p in &parts {
            let chunk = p.numel() / outer.max(1);
            index.extend(base + o * chunk..base + (o + 1) * chunk);
            base += p.numel();
        }
    }
    let all: Vec<&Data> = parts.iter().map(|p| &p.data).collect();
    Tensor::new(shape, Data::concat(&all)?.gather(&index))
}

/// Where (16): `condition ? X : Y` with three-way broadcasting.
pub fn where_(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (c, x, y) = (args.input(0)?, args.input(1)?, args.input(2)?);
    let Data::Bool(cond) = &c.data else {
        return Err(BackendError::unsupported(format!(
            "Where: condition of dtype {}",
            c.dtype()
        )));
    };
    let shape = broadcast_shapes(&[&c.shape, &x.shape, &y.shape])?;
    let ci = broadcast_offsets(&c.shape, &shape)?;
    let xi = broadcast_offsets(&x.shape, &shape)?;
    let yi = broadcast_offsets(&y.shape, &shape)?;
    // Index into X's elements followed by Y's.
    let index: Vec<usize> = ci
        .iter()
        .zip(xi.iter().zip(&yi))
        .map(|(&k, (&i, &j))| if cond[k] != 0 { i } else { x.numel() + j })
        .collect();
    Tensor::new(shape, Data::concat(&[&x.data, &y.data])?.gather(&index))
}

/// Every source value in one of two exact intermediate forms.
enum Wide {
    Float(Vec<f64>),
    Int(Vec<i64>),
}

/// Cast (21) between f64, f32, f16, bf16, fp8 (e4m3fn, e5m2), i64, i32, i8,
/// u8 and bool. Floats round to nearest even, once (every source value is
/// exact in f64); to fp8, `saturate` (default 1) clamps values that round
/// out of range, and ±Inf, to ±max, otherwise they become NaN (e4m3fn) or
/// ±Inf (e5m2). Floats to integers truncate toward zero (and saturate,
/// NaN -> 0, where ONNX leaves the result undefined); integers wrap; anything
/// to bool is `!= 0`.
pub fn cast(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let to = cast_target(&args.attrs)?;
    let sat = saturate(&args.attrs)?;
    convert(x, to, sat, e8m0_rounding(&args.attrs)?)
}

/// `x` converted to `to` by Cast's rules (`sat`: fp8 saturation, `round`:
/// how values become E8M0); CastLike converts with it too.
pub fn convert(
    x: &Tensor,
    to: DType,
    sat: bool,
    round: narrow::E8m0Round,
) -> Result<Tensor, BackendError> {
    let wide = match &x.data {
        Data::F64(_)
        | Data::F32(_)
        | Data::F16(_)
        | Data::BF16(_)
        | Data::F8E4M3FN(_)
        | Data::F8E5M2(_) => Wide::Float(x.to_real::<f64>()?),
        Data::I64(v) => Wide::Int(v.clone()),
        Data::I32(v) => Wide::Int(v.iter().map(|&e| i64::from(e)).collect()),
        Data::I8(v) => Wide::Int(v.iter().map(|&e| i64::from(e)).collect()),
        Data::U8(v) | Data::Bool(v) => Wide::Int(v.iter().map(|&e| i64::from(e)).collect()),
        Data::I16(v) => Wide::Int(v.iter().map(|&e| i64::from(e)).collect()),
        Data::U16(v) => Wide::Int(v.iter().map(|&e| i64::from(e)).collect()),
        Data::U32(v) => Wide::Int(v.iter().map(|&e| i64::from(e)).collect()),
        // Cast does not take u64 (support.rs); two's complement if it did.
        Data::U64(v) => Wide::Int(v.iter().map(|&e| e as i64).collect()),
        Data::Codes(DType::I4, v) => {
            Wide::Int(v.iter().map(|&c| i64::from(narrow::i4_decode(c))).collect())
        }
        Data::Codes(DType::U4, v) => Wide::Int(v.iter().map(|&c| i64::from(c & 0x0F)).collect()),
        Data::Codes(DType::I2, v) => {
            Wide::Int(v.iter().map(|&c| i64::from(narrow::i2_decode(c))).collect())
        }
        Data::Codes(DType::U2, v) => Wide::Int(v.iter().map(|&c| i64::from(c & 0x03)).collect()),
        Data::Codes(..) => Wide::Float(x.to_real::<f64>()?),
    };
    macro_rules! convert {
        ($f:expr, $i:expr) => {
            match &wide {
                Wide::Float(v) => v.iter().map($f).collect(),
                Wide::Int(v) => v.iter().map($i).collect(),
            }
        };
    }
    let data = match to {
        DType::F64 => Data::F64(convert!(|&e| e, |&e| e as f64)),
        DType::F32 => Data::F32(convert!(|&e| e as f32, |&e| e as f32)),
        // i64 -> f64 is exact below 2^53; beyond that f16 overflows anyway
        // and bf16 may round twice (documented limitation).
        DType::F16 => Data::F16(convert!(|&e| e.to_f16_bits(), |&e| (e as f64).to_f16_bits())),
        DType::BF16 => Data::BF16(convert!(|&e| e.to_bf16_bits(), |&e| (e as f64).to_bf16_bits())),
        DType::I64 => Data::I64(convert!(|&e| e as i64, |&e| e)),
        DType::I32 => Data::I32(convert!(|&e| e as i32, |&e| e as i32)),
        DType::I8 => Data::I8(convert!(|&e| e as i8, |&e| e as i8)),
        DType::U8 => Data::U8(convert!(|&e| e as u8, |&e| e as u8)),
        DType::Bool => Data::Bool(convert!(|&e| u8::from(e != 0.0), |&e| u8::from(e != 0))),
        DType::F8E4M3FN => {
            Data::F8E4M3FN(convert!(|&e| Fp8::E4M3FN.encode(e, sat), |&e| Fp8::E4M3FN
                .encode(e as f64, sat)))
        }
        DType::F8E5M2 => Data::F8E5M2(convert!(|&e| Fp8::E5M2.encode(e, sat), |&e| Fp8::E5M2
            .encode(e as f64, sat))),
        DType::F8E4M3FNUZ | DType::F8E5M2FNUZ => {
            let f = if to == DType::F8E4M3FNUZ {
                Fp8::E4M3FNUZ
            } else {
                Fp8::E5M2FNUZ
            };
            Data::Codes(
                to,
                convert!(|&e| f.encode(e, sat), |&e| f.encode(e as f64, sat)),
            )
        }
        DType::F4E2M1 => Data::Codes(
            to,
            convert!(|&e| narrow::fp4_encode(e), |&e| narrow::fp4_encode(
                e as f64
            )),
        ),
        DType::F8E8M0 => Data::Codes(
            to,
            convert!(|&e| narrow::e8m0_encode(e, sat, round), |&e| {
                narrow::e8m0_encode(e as f64, sat, round)
            }),
        ),
        // Floats round to nearest even and integers wrap, both keeping the
        // low four bits (ONNX's int4 note).
        DType::I4 | DType::U4 => Data::Codes(
            to,
            convert!(|&e| narrow::four_bit_encode(e), |&e| narrow::four_bit_wrap(
                e
            )),
        ),
        // The same with two bits (ONNX's int2 note).
        DType::I2 | DType::U2 => Data::Codes(
            to,
            convert!(|&e| narrow::two_bit_encode(e), |&e| narrow::two_bit_wrap(e)),
        ),
        other => return Err(BackendError::unsupported(format!("Cast to {other}"))),
    };
    Tensor::new(x.shape.clone(), data)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::{AttrValue, DType, Status};

    fn t(shape: &[usize], data: Data) -> Option<Tensor> {
        Tensor::new(shape.to_vec(), data).ok()
    }

    #[test]
    fn gather_rows_and_negative_indices() {
        let data = t(&[3, 2], Data::I32(vec![1, 2, 3, 4, 5, 6]));
        let y = run1("Gather", &[], vec![data.clone(), i64t(&[2], &[2, -3])]).unwrap();
        assert_eq!(
            (y.shape.clone(), y.data),
            (vec![2, 2], Data::I32(vec![5, 6, 1, 2]))
        );
        let idx32 = t(&[2, 1], Data::I32(vec![1, 0]));
        let y = run1(
            "Gather",
            &[("axis", AttrValue::Int(1))],
            vec![data.clone(), idx32],
        )
        .unwrap();
        assert_eq!(
            (y.shape.clone(), y.data),
            (vec![3, 2, 1], Data::I32(vec![2, 1, 4, 3, 6, 5]))
        );
        let e = run1("Gather", &[], vec![data.clone(), i64t(&[1], &[3])]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        let e = run1("Gather", &[], vec![data, i64t(&[1], &[-4])]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }

    #[test]
    fn transpose_default_and_perm() {
        let x = t(&[2, 3], Data::Bool(vec![1, 0, 0, 0, 1, 1]));
        let y = run1("Transpose", &[], vec![x]).unwrap();
        assert_eq!(
            (y.shape.clone(), y.data),
            (vec![3, 2], Data::Bool(vec![1, 0, 0, 1, 0, 1]))
        );
        let x = f32t(&[1, 2, 3], &[0., 1., 2., 3., 4., 5.]);
        let perm = [2i64, 0, 1];
        let y = run1(
            "Transpose",
            &[("perm", AttrValue::Ints(&perm))],
            vec![x.clone()],
        )
        .unwrap();
        assert_eq!(
            (y.shape.clone(), values(&y)),
            (vec![3, 1, 2], vec![0., 3., 1., 4., 2., 5.])
        );
        let bad = [0i64, 0, 1];
        let e = run1("Transpose", &[("perm", AttrValue::Ints(&bad))], vec![x]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }

    #[test]
    fn reshape_zero_and_minus_one() {
        let x = f32t(&[2, 3, 4], &[0.; 24]);
        let y = run1("Reshape", &[], vec![x.clone(), i64t(&[3], &[0, -1, 2])]).unwrap();
        assert_eq!(y.shape, vec![2, 6, 2]);
        let y = run1("Reshape", &[], vec![x.clone(), i64t(&[1], &[-1])]).unwrap();
        assert_eq!(y.shape, vec![24]);
        let e = run1("Reshape", &[], vec![x.clone(), i64t(&[2], &[5, -1])]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        let e = run1("Reshape", &[], vec![x.clone(), i64t(&[2], &[-1, -1])]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        let allow = [("allowzero", AttrValue::Int(1))];
        let e = run1("Reshape", &allow, vec![x, i64t(&[3], &[0, 3, 8])]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        let empty = f32t(&[0, 3], &[]);
        let y = run1("Reshape", &allow, vec![empty, i64t(&[2], &[3, 0])]).unwrap();
        assert_eq!(y.shape, vec![3, 0]);
    }

    #[test]
    fn concat_along_inner_axis() {
        let a = f32t(&[2, 1], &[1., 2.]);
        let b = f32t(&[2, 2], &[3., 4., 5., 6.]);
        let y = run1(
            "Concat",
            &[("axis", AttrValue::Int(-1))],
            vec![a.clone(), b.clone()],
        )
        .unwrap();
        assert_eq!(
            (y.shape.clone(), values(&y)),
            (vec![2, 3], vec![1., 3., 4., 2., 5., 6.])
        );
        let y = run1(
            "Concat",
            &[("axis", AttrValue::Int(0))],
            vec![b.clone(), f32t(&[1, 2], &[7., 8.])],
        )
        .unwrap();
        assert_eq!(values(&y), vec![3., 4., 5., 6., 7., 8.]);
        let e = run1("Concat", &[("axis", AttrValue::Int(0))], vec![a, b]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }

    #[test]
    fn where_broadcasts_three_ways() {
        let c = t(&[2, 1], Data::Bool(vec![1, 0]));
        let x = t(&[3], Data::I64(vec![1, 2, 3]));
        let y = t(&[], Data::I64(vec![-1]));
        let out = run1("Where", &[], vec![c, x, y]).unwrap();
        assert_eq!(
            (out.shape.clone(), out.data),
            (vec![2, 3], Data::I64(vec![1, 2, 3, -1, -1, -1]))
        );
        let e = run1(
            "Where",
            &[],
            vec![f32t(&[1], &[1.]), f32t(&[1], &[1.]), f32t(&[1], &[1.])],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::Unsupported);
    }

    #[test]
    fn cast_between_dtypes() {
        let to = |d: DType| [("to", AttrValue::Int(i64::from(d.code())))];
        let x = f32t(&[5], &[-1.7, 0.0, 2.9, 300.0, f32::NAN]);
        let y = run1("Cast", &to(DType::I32), vec![x.clone()]).unwrap();
        assert_eq!(y.data, Data::I32(vec![-1, 0, 2, 300, 0]));
        let y = run1("Cast", &to(DType::Bool), vec![x.clone()]).unwrap();
        assert_eq!(y.data, Data::Bool(vec![1, 0, 1, 1, 1]));
        let y = run1("Cast", &to(DType::F16), vec![x]).unwrap();
        let Data::F16(bits) = &y.data else {
            panic!("f16 expected")
        };
        assert_eq!(&bits[..4], &[0xBECD, 0x0000, 0x41CD, 0x5CB0]);
        let ints = t(&[3], Data::I64(vec![300, -1, 16_777_217]));
        let y = run1("Cast", &to(DType::U8), vec![ints.clone()]).unwrap();
        assert_eq!(y.data, Data::U8(vec![44, 255, 1]));
        let y = run1("Cast", &to(DType::F32), vec![ints]).unwrap();
        assert_eq!(y.data, Data::F32(vec![300., -1., 16_777_216.]));
        let b = t(&[2], Data::Bool(vec![1, 0]));
        let y = run1("Cast", &to(DType::BF16), vec![b]).unwrap();
        assert_eq!(y.data, Data::BF16(vec![0x3F80, 0]));
        let e = run1("Cast", &to(DType::U16), vec![f32t(&[1], &[1.])]).unwrap_err();
        assert_eq!(e.status, Status::Unsupported);
        let e = run1("Cast", &[], vec![f32t(&[1], &[1.])]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }

    #[test]
    fn cast_to_and_from_fp8() {
        let to = |d: DType, sat: i64| {
            [
                ("to", AttrValue::Int(i64::from(d.code()))),
                ("saturate", AttrValue::Int(sat)),
            ]
        };
        let x = f32t(&[6], &[1.0, -464.0, 465.0, f32::INFINITY, f32::NAN, -0.0]);
        let y = run1("Cast", &to(DType::F8E4M3FN, 1), vec![x.clone()]).unwrap();
        assert_eq!(
            y.data,
            Data::F8E4M3FN(vec![0x38, 0xFE, 0x7E, 0x7E, 0x7F, 0x80])
        );
        let y = run1("Cast", &to(DType::F8E4M3FN, 0), vec![x.clone()]).unwrap();
        assert_eq!(
            y.data,
            Data::F8E4M3FN(vec![0x38, 0xFE, 0x7F, 0x7F, 0x7F, 0x80])
        );
        let y = run1("Cast", &to(DType::F8E5M2, 0), vec![x.clone()]).unwrap();
        assert_eq!(
            y.data,
            Data::F8E5M2(vec![0x3C, 0xDF, 0x5F, 0x7C, 0x7F, 0x80])
        );
        let y = run1("Cast", &to(DType::F8E5M2, 1), vec![x]).unwrap();
        assert_eq!(
            y.data,
            Data::F8E5M2(vec![0x3C, 0xDF, 0x5F, 0x7B, 0x7F, 0x80])
        );
        // f16 and bf16 sources convert with one rounding: 61440 (f16 0x7B80)
        // overflows E5M2 without saturation.
        let h = t(&[2], Data::F16(vec![0x7B80, 0x3C00]));
        let y = run1("Cast", &to(DType::F8E5M2, 0), vec![h]).unwrap();
        assert_eq!(y.data, Data::F8E5M2(vec![0x7C, 0x3C]));
        let b = t(&[1], Data::BF16(vec![0x43E8])); // 464
        let y = run1("Cast", &to(DType::F8E4M3FN, 0), vec![b]).unwrap();
        assert_eq!(y.data, Data::F8E4M3FN(vec![0x7E]));
        // From fp8: exact widening, Inf kept, NaN stays NaN.
        let f8 = t(&[4], Data::F8E5M2(vec![0x7B, 0xFC, 0x01, 0x7F]));
        let y = run1("Cast", &to(DType::F32, 1), vec![f8.clone()]).unwrap();
        let v = values(&y);
        assert_eq!(&v[..3], &[57344.0, f32::NEG_INFINITY, 2f32.powi(-16)]);
        assert!(v[3].is_nan());
        let y = run1("Cast", &to(DType::BF16, 1), vec![f8.clone()]).unwrap();
        assert_eq!(y.data, Data::BF16(vec![0x4760, 0xFF80, 0x3780, 0x7FC0]));
        // fp8 to fp8: 57344 does not fit E4M3FN.
        let y = run1("Cast", &to(DType::F8E4M3FN, 0), vec![f8]).unwrap();
        assert_eq!(y.data, Data::F8E4M3FN(vec![0x7F, 0xFF, 0x00, 0x7F]));
        let e = run1("Cast", &to(DType::F8E5M2, 2), vec![f32t(&[1], &[1.])]).unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
    }
}
