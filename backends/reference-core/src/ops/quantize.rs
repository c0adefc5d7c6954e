//! QuantizeLinear (21) and DequantizeLinear (21): per-tensor, per-axis and
//! blocked linear quantization to and from 8/16-bit integers and fp8.
//!
//! Quantization divides in f32 (f16/bf16 inputs are widened exactly, which
//! `query_op` declares as an f32 compute precision) and rounds the quotient
//! once: half to even for integers, the fp8 rounding of [`crate::fp8`] for
//! fp8. Dequantization is computed in f64, where `(x - zero_point) * scale` is
//! exact for every 8/16-bit and fp8 input, and rounded once to the scale's
//! dtype, so it is correctly rounded (an f32 product followed by a rounding to
//! f16 or bf16 could round twice).

use half::{bf16, f16};
use xpucert_abi::{BackendError, DType};

use super::Args;
use crate::fp8::Fp8;
use crate::layout::normalize_axis;
use crate::support::{dequantize_output, division_precision, quantize_target, saturate};
use crate::tensor::{Data, Tensor};

/// Which scale (and zero point) applies to each element of `x`.
#[derive(Debug, Clone, Copy)]
enum Channels {
    /// One scale for the whole tensor.
    PerTensor,
    /// One scale per index along an axis of length `len`, whose elements
    /// are `inner` apart.
    PerAxis { inner: usize, len: usize },
    /// One scale per `block` consecutive indices along an axis of length
    /// `len`; the scale tensor has x's shape with that axis `len / block`
    /// rounded up.
    Blocked {
        inner: usize,
        len: usize,
        block: usize,
    },
}

impl Channels {
    /// The flat index into the scale of element `flat` of `x`.
    fn of(self, flat: usize) -> usize {
        match self {
            Channels::PerTensor => 0,
            Channels::PerAxis { inner, len } => (flat / inner) % len,
            Channels::Blocked { inner, len, block } => {
                let (outer, a, r) = (flat / (len * inner), (flat / inner) % len, flat % inner);
                (outer * len.div_ceil(block) + a / block) * inner + r
            }
        }
    }
}

/// Validates the shapes of x, the scale and the zero point and says how the
/// scale is laid over x. Without `block_size`, a scalar or one-element
/// scale is per-tensor (for any `axis`, so a rank-1 x with the default axis
/// 1 still works) and a longer 1-D scale is per-axis and must match x's
/// `axis` dimension. With `block_size` b > 0 the scale has x's rank, and
/// x's shape with the `axis` dimension divided by b, rounded up (the last
/// block may be short).
fn channels(args: &Args<'_>, x: &Tensor, scale: &Tensor) -> Result<Channels, BackendError> {
    // A scalar and a one-element 1-D tensor are both per-tensor, whichever
    // of the two the scale and the zero point are (ONNX's tests pair them).
    let per_tensor = |t: &Tensor| t.shape.is_empty() || t.shape == [1];
    if let Some(zp) = args.optional(2)
        && zp.shape != scale.shape
        && !(per_tensor(zp) && per_tensor(scale))
    {
        return Err(args.invalid(format!(
            "zero point shape {:?} differs from scale shape {:?}",
            zp.shape, scale.shape
        )));
    }
    let block = args.attrs.int("block_size", 0)?;
    if block == 0 && per_tensor(scale) {
        return Ok(Channels::PerTensor);
    }
    let axis = normalize_axis(args.attrs.int("axis", 1)?, x.shape.len(), args.op)?;
    let (len, inner) = (x.shape[axis], x.shape[axis + 1..].iter().product());
    if block == 0 {
        return match scale.shape.as_slice() {
            [n] if *n == len => Ok(Channels::PerAxis { inner, len }),
            [n] => Err(args.invalid(format!(
                "per-axis scale has {n} entries, x has {len} along axis {axis}"
            ))),
            shape => Err(args.invalid(format!(
                "scale of shape {shape:?} needs block_size > 0 (blocked quantization)"
            ))),
        };
    }
    let block = usize::try_from(block)
        .map_err(|_| args.invalid(format!("block_size {block} is negative")))?;
    let mut want = x.shape.clone();
    want[axis] = len.div_ceil(block);
    if scale.shape != want {
        return Err(args.invalid(format!(
            "blocked quantization with block_size {block} along axis {axis} needs a scale of shape {want:?} (x is {:?}), got {:?}",
            x.shape, scale.shape
        )));
    }
    Ok(Channels::Blocked { inner, len, block })
}

/// The values of an integer or fp8 tensor, exactly, as f64.
fn quantized_values(t: &Tensor) -> Result<Vec<f64>, BackendError> {
    Ok(match &t.data {
        Data::I8(v) => v.iter().map(|&e| f64::from(e)).collect(),
        Data::U8(v) => v.iter().map(|&e| f64::from(e)).collect(),
        Data::I16(v) => v.iter().map(|&e| f64::from(e)).collect(),
        Data::U16(v) => v.iter().map(|&e| f64::from(e)).collect(),
        Data::I32(v) => v.iter().map(|&e| f64::from(e)).collect(),
        Data::F8E4M3FN(_) | Data::F8E5M2(_) => t.to_real::<f64>()?,
        Data::Codes(DType::I4, v) => v
            .iter()
            .map(|&c| f64::from(crate::narrow::i4_decode(c)))
            .collect(),
        Data::Codes(DType::U4, v) => v.iter().map(|&c| f64::from(c & 0x0F)).collect(),
        Data::Codes(DType::I2, v) => v
            .iter()
            .map(|&c| f64::from(crate::narrow::i2_decode(c)))
            .collect(),
        Data::Codes(DType::U2, v) => v.iter().map(|&c| f64::from(c & 0x03)).collect(),
        Data::Codes(DType::F8E4M3FNUZ | DType::F8E5M2FNUZ | DType::F4E2M1, _) => {
            t.to_real::<f64>()?
        }
        other => {
            return Err(BackendError::unsupported(format!(
                "quantized tensor of dtype {}",
                other.dtype()
            )));
        }
    })
}

/// QuantizeLinear (21): `y = saturate(round(x / y_scale) + y_zero_point)`.
///
/// Integers: the f32 quotient is rounded half to even, the zero point added,
/// and the sum clamped to the output range; a NaN quotient gives the zero
/// point (ONNX leaves it undefined). fp8: the quotient is converted with the
/// `saturate` rule; a zero zero point (the usual case) is not added, so the
/// sign of a zero quotient survives, a non-zero one is added in f64 before
/// the single rounding.
pub fn quantize_linear(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (x, scale) = (args.input(0)?, args.input(1)?);
    let zero_point = args.optional(2);
    let target = quantize_target(&args.attrs, zero_point.map(Tensor::dtype))?;
    let sat = saturate(&args.attrs)?;
    let layout = channels(args, x, scale)?;
    if args.opset < 13 && !matches!(layout, Channels::PerTensor) {
        return Err(args.invalid("the scale must be a scalar before opset 13".to_string()));
    }
    let precision = division_precision(&args.attrs, scale.dtype(), args.opset)?;
    let xs = x.to_real::<f64>()?;
    let ss = scale.to_real::<f64>()?;
    let zps = match zero_point {
        Some(zp) => quantized_values(zp)?,
        None => vec![0.0; ss.len()],
    };
    // Before 23 the division is in f32. From 23 it is in `precision`: the
    // f64 quotient of two operands of at most 24 significant bits, rounded
    // once to the precision, is the correctly rounded quotient there (f64
    // has more than twice their bits plus two, so the double rounding is
    // innocuous).
    let divide = move |v: f64, s: f64| -> f32 {
        match precision {
            None | Some(DType::F32) => (v as f32) / (s as f32),
            Some(DType::F16) => f16::from_f64(v / s).to_f32(),
            Some(DType::BF16) => bf16::from_f64(v / s).to_f32(),
            Some(_) => (v / s) as f32,
        }
    };
    let quotients = xs.iter().enumerate().map(move |(i, &v)| {
        let c = layout.of(i);
        (divide(v, ss[c]), zps[c])
    });
    let integer = |lo: f64, hi: f64| -> Vec<f64> {
        quotients
            .clone()
            .map(|(q, zp)| {
                if q.is_nan() {
                    zp
                } else {
                    (f64::from(q.round_ties_even()) + zp).clamp(lo, hi)
                }
            })
            .collect()
    };
    let fp8 = |format: Fp8| -> Vec<u8> {
        quotients
            .clone()
            .map(|(q, zp)| {
                let v = if zp == 0.0 {
                    f64::from(q)
                } else {
                    f64::from(q) + zp
                };
                format.encode(v, sat)
            })
            .collect()
    };
    // The clamped values are integers inside the target's range, so the
    // `as` conversions below are exact.
    let data = match target {
        DType::I8 => Data::I8(integer(-128.0, 127.0).iter().map(|&v| v as i8).collect()),
        DType::U8 => Data::U8(integer(0.0, 255.0).iter().map(|&v| v as u8).collect()),
        DType::I16 => Data::I16(
            integer(-32768.0, 32767.0)
                .iter()
                .map(|&v| v as i16)
                .collect(),
        ),
        DType::U16 => Data::U16(integer(0.0, 65535.0).iter().map(|&v| v as u16).collect()),
        DType::F8E4M3FN => Data::F8E4M3FN(fp8(Fp8::E4M3FN)),
        DType::F8E5M2 => Data::F8E5M2(fp8(Fp8::E5M2)),
        DType::F8E4M3FNUZ => Data::Codes(target, fp8(Fp8::E4M3FNUZ)),
        DType::F8E5M2FNUZ => Data::Codes(target, fp8(Fp8::E5M2FNUZ)),
        // The clamped values are integers in -8..=7 / 0..=15: keep 4 bits.
        DType::I4 => Data::Codes(
            target,
            integer(-8.0, 7.0)
                .iter()
                .map(|&v| (v as i8 as u8) & 0x0F)
                .collect(),
        ),
        DType::U4 => Data::Codes(
            target,
            integer(0.0, 15.0).iter().map(|&v| v as u8).collect(),
        ),
        // Likewise -2..=1 / 0..=3 (25): keep 2 bits.
        DType::I2 => Data::Codes(
            target,
            integer(-2.0, 1.0)
                .iter()
                .map(|&v| (v as i8 as u8) & 0x03)
                .collect(),
        ),
        DType::U2 => Data::Codes(target, integer(0.0, 3.0).iter().map(|&v| v as u8).collect()),
        DType::F4E2M1 => Data::Codes(
            target,
            quotients
                .clone()
                .map(|(q, zp)| crate::narrow::fp4_encode(f64::from(q) + zp))
                .collect(),
        ),
        other => {
            return Err(BackendError::internal(format!(
                "QuantizeLinear: target {other} passed the support check"
            )));
        }
    };
    Tensor::new(x.shape.clone(), data)
}

/// DequantizeLinear (21): `y = (x - x_zero_point) * x_scale`, computed in
/// f64 and rounded once to the scale's dtype.
pub fn dequantize_linear(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (x, scale) = (args.input(0)?, args.input(1)?);
    let layout = channels(args, x, scale)?;
    if args.opset < 13 && !matches!(layout, Channels::PerTensor) {
        return Err(args.invalid("the scale must be a scalar before opset 13".to_string()));
    }
    let out = dequantize_output(&args.attrs, scale.dtype())?;
    let xs = quantized_values(x)?;
    let ss = scale.to_real::<f64>()?;
    let zps = match args.optional(2) {
        Some(zp) => quantized_values(zp)?,
        None => vec![0.0; ss.len()],
    };
    let ys: Vec<f64> = xs
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = layout.of(i);
            (v - zps[c]) * ss[c]
        })
        .collect();
    Tensor::from_real(out, x.shape.clone(), ys)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::{AttrValue, DType, Status};

    fn t(shape: &[usize], data: Data) -> Option<Tensor> {
        Tensor::new(shape.to_vec(), data).ok()
    }

    fn scalar(v: f32) -> Option<Tensor> {
        f32t(&[], &[v])
    }

    #[test]
    fn ties_round_to_even_and_saturate() {
        let x = f32t(
            &[8],
            &[2.5, 3.5, -2.5, -0.5, 0.5, 1000.0, -1000.0, f32::INFINITY],
        );
        // No zero point: u8 with zero point 0.
        let y = run1("QuantizeLinear", &[], vec![x.clone(), scalar(1.0)]).unwrap();
        assert_eq!(y.data, Data::U8(vec![2, 4, 0, 0, 0, 255, 0, 255]));
        let zp = t(&[], Data::I8(vec![1]));
        let y = run1("QuantizeLinear", &[], vec![x.clone(), scalar(1.0), zp]).unwrap();
        assert_eq!(y.data, Data::I8(vec![3, 5, -1, 1, 1, 127, -128, 127]));
        // The quotient is rounded, then the zero point added: 5 / 2 = 2.5 -> 2.
        let zp = t(&[], Data::U8(vec![128]));
        let y = run1(
            "QuantizeLinear",
            &[],
            vec![f32t(&[3], &[5.0, 7.0, -255.0]), scalar(2.0), zp],
        )
        .unwrap();
        assert_eq!(y.data, Data::U8(vec![130, 132, 0]));
        // output_dtype without a zero point; 16-bit ranges.
        let code = |d: DType| [("output_dtype", AttrValue::Int(i64::from(d.code())))];
        let big = f32t(&[3], &[-1e6, 12345.5, 1e6]);
        let y = run1(
            "QuantizeLinear",
            &code(DType::I16),
            vec![big.clone(), scalar(1.0)],
        )
        .unwrap();
        assert_eq!(y.data, Data::I16(vec![-32768, 12346, 32767]));
        let y = run1("QuantizeLinear", &code(DType::U16), vec![big, scalar(1.0)]).unwrap();
        assert_eq!(y.data, Data::U16(vec![0, 12346, 65535]));
    }

    #[test]
    fn per_axis_scales_and_zero_points() {
        // x is 2x3, one scale per column (axis 1, the default) and per row.
        let x = f32t(&[2, 3], &[1.0, 2.0, 3.0, -1.0, -2.0, -3.0]);
        let scales = f32t(&[3], &[0.5, 1.0, 2.0]);
        let zps = t(&[3], Data::I8(vec![0, 10, -10]));
        let y = run1("QuantizeLinear", &[], vec![x.clone(), scales.clone(), zps]).unwrap();
        // 3 / 2 = 1.5 -> 2, -3 / 2 = -1.5 -> -2.
        assert_eq!(y.data, Data::I8(vec![2, 12, -8, -2, 8, -12]));
        let rows = f32t(&[2], &[1.0, 0.25]);
        let y = run1(
            "QuantizeLinear",
            &[("axis", AttrValue::Int(-2))],
            vec![x.clone(), rows],
        )
        .unwrap();
        assert_eq!(y.data, Data::U8(vec![1, 2, 3, 0, 0, 0]));
        // A per-axis scale that does not match the axis is malformed.
        let e = run1(
            "QuantizeLinear",
            &[("axis", AttrValue::Int(0))],
            vec![x.clone(), scales],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        // So is a zero point whose shape differs from the scale's...
        let e = run1(
            "QuantizeLinear",
            &[],
            vec![
                x.clone(),
                t(&[2], Data::F32(vec![1.0, 2.0])),
                t(&[1], Data::U8(vec![0])),
            ],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        // ...unless both are per-tensor: a [1] zero point with a scalar
        // scale, as ONNX's test_quantizelinear_e4m3fn pairs them.
        let y = run1(
            "QuantizeLinear",
            &[],
            vec![x, scalar(1.0), t(&[1], Data::U8(vec![1]))],
        )
        .unwrap();
        assert_eq!(y.data, Data::U8(vec![2, 3, 4, 0, 0, 0]));
    }

    #[test]
    fn fp8_quantization_honours_saturate() {
        let x = f32t(&[5], &[1000.0, -1000.0, 464.0, 0.3, f32::INFINITY]);
        let e4 = t(&[], Data::F8E4M3FN(vec![0]));
        let y = run1(
            "QuantizeLinear",
            &[],
            vec![x.clone(), scalar(1.0), e4.clone()],
        )
        .unwrap();
        // 0.3 lies between 0.28125 (0x29) and 0.3125 (0x2A), nearer the second.
        assert_eq!(y.data, Data::F8E4M3FN(vec![0x7E, 0xFE, 0x7E, 0x2A, 0x7E]));
        let off = [("saturate", AttrValue::Int(0))];
        let y = run1("QuantizeLinear", &off, vec![x.clone(), scalar(1.0), e4]).unwrap();
        assert_eq!(y.data, Data::F8E4M3FN(vec![0x7F, 0xFF, 0x7E, 0x2A, 0x7F]));
        let e5 = [(
            "output_dtype",
            AttrValue::Int(i64::from(DType::F8E5M2.code())),
        )];
        let big = f32t(&[3], &[61440.0, -1e9, f32::INFINITY]);
        let y = run1("QuantizeLinear", &e5, vec![big.clone(), scalar(1.0)]).unwrap();
        assert_eq!(y.data, Data::F8E5M2(vec![0x7B, 0xFB, 0x7B]));
        let both = [e5[0], off[0]];
        let y = run1("QuantizeLinear", &both, vec![big, scalar(1.0)]).unwrap();
        assert_eq!(y.data, Data::F8E5M2(vec![0x7C, 0xFC, 0x7C]));
    }

    #[test]
    fn dequantize_inverts_quantize() {
        let x = f32t(&[2, 3], &[0.0, 1.5, -3.0, 10.0, 63.5, -64.0]);
        let scales = f32t(&[3], &[0.5, 0.25, 0.5]);
        let zps = t(&[3], Data::U8(vec![128, 0, 200]));
        let q = run1(
            "QuantizeLinear",
            &[],
            vec![x.clone(), scales.clone(), zps.clone()],
        )
        .unwrap();
        assert_eq!(q.data, Data::U8(vec![128, 6, 194, 148, 254, 72]));
        let y = run1("DequantizeLinear", &[], vec![Some(q), scales, zps]).unwrap();
        assert_eq!(values(&y), vec![0.0, 1.5, -3.0, 10.0, 63.5, -64.0]);
        // fp8 round trip on values the format holds exactly.
        let exact = f32t(&[4], &[448.0, -0.015625, 3.5, 0.0]);
        let e4 = t(&[], Data::F8E4M3FN(vec![0]));
        let q = run1(
            "QuantizeLinear",
            &[],
            vec![exact.clone(), scalar(2.0), e4.clone()],
        )
        .unwrap();
        let y = run1("DequantizeLinear", &[], vec![Some(q), scalar(2.0), e4]).unwrap();
        // 448 / 2 = 224 is representable, so the round trip is exact.
        assert_eq!(values(&y), vec![448.0, -0.015625, 3.5, 0.0]);
        // int32 without a zero point; f16 output follows the scale.
        let x = t(&[3], Data::I32(vec![-7, 1 << 10, 1 << 20]));
        let half = t(&[], Data::F16(vec![0x3800])); // 0.5
        let y = run1("DequantizeLinear", &[], vec![x, half]).unwrap();
        // -3.5, 2^9, and 2^19 overflows f16 to infinity.
        assert_eq!(y.data, Data::F16(vec![0xC300, 0x6000, 0x7C00]));
    }

    #[test]
    fn dequantize_rounds_to_nearest_in_the_scale_dtype() {
        // (x - zp) = 2050 - 1 = 2049 and the scale is 1 + 2^-10 (f16): the exact product is 2049 + 2049 * 2^-10 =
        // 2051.0009765625; f16 spacing there is 2, so the nearest f16 is
        // 2052 (0x6802), not 2050.
        let x = t(&[1], Data::U16(vec![2050]));
        let zp = t(&[], Data::U16(vec![1]));
        let s = t(&[], Data::F16(vec![0x3C01]));
        let y = run1("DequantizeLinear", &[], vec![x, s, zp]).unwrap();
        assert_eq!(y.data, Data::F16(vec![0x6802]));
    }

    #[test]
    fn blocked_along_either_axis_with_a_short_last_block() {
        // Blocks of 2 along axis 1 of a 2x5 x: three blocks per row, the last
        // one column wide; each block has its own scale and zero point.
        let x = t(
            &[2, 5],
            Data::U8(vec![10, 12, 14, 16, 18, 20, 22, 24, 26, 28]),
        );
        let s = f32t(&[2, 3], &[1.0, 2.0, 4.0, 0.5, 0.25, 1.0]);
        let zp = t(&[2, 3], Data::U8(vec![0, 2, 4, 10, 20, 8]));
        let block = [("block_size", AttrValue::Int(2))];
        let y = run1("DequantizeLinear", &block, vec![x, s, zp]).unwrap();
        assert_eq!(
            y.data,
            Data::F32(vec![10.0, 12.0, 24.0, 28.0, 56.0, 5.0, 6.0, 1.0, 1.5, 20.0])
        );
        // Blocks of 2 along axis 0 of a 3x2 x: rows 0-1 share a scale.
        let x = f32t(&[3, 2], &[2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
        let s = f32t(&[2, 2], &[2.0, 4.0, 1.0, 0.5]);
        let axis0 = [
            ("block_size", AttrValue::Int(2)),
            ("axis", AttrValue::Int(0)),
        ];
        let y = run1("QuantizeLinear", &axis0, vec![x, s]).unwrap();
        assert_eq!(y.data, Data::U8(vec![1, 1, 3, 2, 10, 24]));
    }

    #[test]
    fn blocked_and_mismatched_calls_are_refused() {
        let x = f32t(&[2, 4], &[0.0; 8]);
        // Blocks of 2 along axis 1 need a [2, 2] scale, not [2, 3].
        let e = run1(
            "QuantizeLinear",
            &[("block_size", AttrValue::Int(2))],
            vec![x.clone(), f32t(&[2, 3], &[1.0; 6])],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        assert!(
            e.message.contains("needs a scale of shape [2, 2]"),
            "{}",
            e.message
        );
        // A rank-2 scale without block_size is malformed.
        let e = run1(
            "QuantizeLinear",
            &[],
            vec![x.clone(), f32t(&[2, 2], &[1.0; 4])],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        // output_dtype contradicting the zero point.
        let e = run1(
            "QuantizeLinear",
            &[("output_dtype", AttrValue::Int(3))],
            vec![x.clone(), scalar(1.0), t(&[], Data::U8(vec![0]))],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::InvalidArgument);
        // int32 is a DequantizeLinear input but not a QuantizeLinear output.
        let e = run1(
            "QuantizeLinear",
            &[("output_dtype", AttrValue::Int(6))],
            vec![x, scalar(1.0)],
        )
        .unwrap_err();
        assert_eq!(e.status, Status::Unsupported);
    }
}
