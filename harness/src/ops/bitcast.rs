//! BitCast-26: the input's bits read as another dtype of the same width
//! (ONNX: "the exact bit pattern without any value conversion", little
//! endian, same shape). Exact check: nothing is computed.
//!
//! The oracle stores the input's values in its dtype (exact: a value the
//! harness holds is a value of the dtype) and reads the bytes back as the
//! target. NaN payloads survive (f32/f16/bf16 -> f64 keeps them); a
//! signalling NaN input would be quieted by the f64 round trip, which the
//! suites never feed. A byte read as bool must be 0 or 1: the spec does not
//! say what other bytes mean, so such a call is refused.

use super::cases::{CaseSpace, Factor, Fill, GenCase, GenInput, Pick};
use super::indexing::def;
use super::spec::{TypeVar, fixed};
use super::{AttrType, Attributes, AttributesExt, Call, OpDef, Output, Result, TypedShape};
use crate::numerics::{DType, HostTensor};

/// `T1`: every xpucert dtype (ONNX adds complex, string-free; int2/uint2
/// are not xpucert dtypes).
const T_ALL: TypeVar = TypeVar {
    name: "T1",
    allowed: &DType::ALL,
};

/// BitCast-26.
pub(super) const BIT_CAST: OpDef = def(
    "BitCast",
    26,
    fixed(1, 0),
    &["input"],
    &[T_ALL],
    1,
    &[("to", AttrType::Int)],
    bit_cast_eval,
    |a, s, _| bit_cast_plan(a, s).map(|(to, shape)| vec![(to, shape)]),
);

/// The one validity function, shared by the oracle and the shape rule:
/// `to` a dtype xpucert knows, of the input's bit width; the input's shape.
fn bit_cast_plan(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
) -> std::result::Result<(DType, Vec<usize>), String> {
    let (from, shape) = super::rules::input(inputs, 0)?;
    if attrs.get("to").is_none() {
        return Err("attribute to is required".into());
    }
    let code = attrs.int("to", 0)?;
    let to = i32::try_from(code)
        .ok()
        .and_then(DType::from_code)
        .ok_or_else(|| format!("attribute to = {code} is not a dtype xpucert knows"))?;
    if to.bits() != from.bits() {
        return Err(format!(
            "to = {to} is {} bits wide, the input ({from}) {}: BitCast needs equal widths",
            to.bits(),
            from.bits()
        ));
    }
    Ok((to, shape.clone()))
}

fn bit_cast_eval(call: &Call) -> Result<Vec<Output>> {
    let (to, _) = bit_cast_plan(call.attrs, &call.typed_shapes()).map_err(|m| call.err(m))?;
    let x = call.input(0)?;
    let stored = HostTensor::from_f64(x.dtype, &x.data);
    if to == DType::Bool
        && let Some(b) = stored.data.iter().find(|&&b| b > 1)
    {
        return Err(call.err(format!(
            "byte {b:#04x} read as bool: only 0 and 1 are bools"
        )));
    }
    let y = HostTensor {
        dtype: to,
        shape: stored.shape,
        data: stored.data,
    };
    Ok(vec![Output::plain(to, y.to_f64())])
}

/// Pairs of the same width, both ways, every width (4, 8, 16, 32, 64 bits).
const PAIRS: &[(DType, DType)] = {
    use DType::*;
    &[
        (F32, I32),
        (I32, F32),
        (U32, F32),
        (F16, I16),
        (U16, BF16),
        (BF16, F16),
        (F64, I64),
        (I64, F64),
        (U64, I64),
        (I8, U8),
        (Bool, U8),
        (U8, F8E4M3FN),
        (F8E5M2, I8),
        (F8E4M3FNUZ, F8E5M2FNUZ),
        (F8E8M0, U8),
        (I4, U4),
        (U4, F4E2M1),
        (F4E2M1, I4),
    ]
};

/// BitCast: every input dtype (the target a same-width partner, named in
/// the `to` factor by its width class) at a few shapes; the values span
/// each dtype (specials included, as the suite's default fill draws them).
pub(super) fn bit_cast_cases() -> Option<CaseSpace> {
    let from: Vec<DType> = PAIRS.iter().map(|p| p.0).collect();
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(&from),
            Factor::new("rank", &["r0", "r1", "r3"]),
        ],
        build: Box::new(|p: &Pick| {
            let from = p.dtype();
            let to = PAIRS.iter().find(|q| q.0 == from)?.1;
            let shape: Vec<usize> = match p.get("rank") {
                "r0" => vec![],
                "r1" => vec![17],
                _ => vec![2, 3, 5],
            };
            Some(
                GenCase::new(vec![GenInput::new(from, shape).fill(fill(from)).some()])
                    .int("to", i64::from(to.code())),
            )
        }),
    })
}

/// Values over (most of) the dtype's range, so every bit of the pattern
/// varies: wide floats far beyond [-1, 1), integers over their whole range
/// (64-bit ones within 2^53, which the suite's f64 values hold exactly).
fn fill(d: DType) -> Fill {
    use DType::*;
    match d {
        F64 | F32 | F16 | BF16 => Fill::Uniform(-6.0e4, 6.0e4),
        F8E4M3FN => Fill::Uniform(-448.0, 448.0),
        F8E4M3FNUZ => Fill::Uniform(-240.0, 240.0),
        F8E5M2 | F8E5M2FNUZ => Fill::Uniform(-5.0e4, 5.0e4),
        F4E2M1 => Fill::Uniform(-6.0, 6.0),
        F8E8M0 => Fill::Uniform(1.0e-3, 1.0e3),
        I8 => Fill::Int(-128, 127),
        U8 => Fill::Int(0, 255),
        I16 => Fill::Int(-32768, 32767),
        U16 => Fill::Int(0, 65535),
        I32 => Fill::Int(i64::from(i32::MIN), i64::from(i32::MAX)),
        U32 => Fill::Int(0, i64::from(u32::MAX)),
        I64 => Fill::Int(-(1 << 53), 1 << 53),
        U64 => Fill::Int(0, 1 << 53),
        I4 => Fill::Int(-8, 7),
        U4 => Fill::Int(0, 15),
        I2 => Fill::Int(-2, 1),
        U2 => Fill::Int(0, 3),
        Bool => Fill::Bernoulli(0.5),
    }
}

#[cfg(test)]
mod tests {
    use super::super::AttrValue;
    use super::super::testutil::*;
    use super::*;

    fn to(d: DType) -> Attributes {
        attrs(&[("to", AttrValue::Int(i64::from(d.code())))])
    }

    #[test]
    fn bits_are_kept() {
        let y = run1(
            "BitCast",
            &to(DType::I32),
            &[t(DType::F32, &[2], &[1.0, -0.0])],
        );
        assert_eq!(y.dtype, DType::I32);
        assert_eq!(
            y.data.iter().copied().collect::<Vec<_>>(),
            [1_065_353_216.0, -2_147_483_648.0]
        );
        let y = run1(
            "BitCast",
            &to(DType::F16),
            &[t(DType::I16, &[], &[0x3C00 as f64])],
        );
        assert_eq!(y.data[[]], 1.0);
        // 0x7FC00000 is f32's quiet NaN.
        let y = run1(
            "BitCast",
            &to(DType::F32),
            &[t(DType::U32, &[1], &[2_143_289_344.0])],
        );
        assert!(y.data[[0]].is_nan());
        // 4 bits: int4 -1 is 0xF, uint4 15; FP4 E2M1 0x7 is 6.
        let y = run1(
            "BitCast",
            &to(DType::U4),
            &[t(DType::I4, &[3], &[-1.0, 7.0, -8.0])],
        );
        assert_eq!(y.data.iter().copied().collect::<Vec<_>>(), [15.0, 7.0, 8.0]);
        let y = run1("BitCast", &to(DType::F4E2M1), &[t(DType::U4, &[1], &[7.0])]);
        assert_eq!(y.data[[0]], 6.0);
        let y = run1(
            "BitCast",
            &to(DType::U8),
            &[t(DType::Bool, &[2], &[1.0, 0.0])],
        );
        assert_eq!(y.data.iter().copied().collect::<Vec<_>>(), [1.0, 0.0]);
    }

    #[test]
    fn widths_must_match_and_bool_bytes_be_0_or_1() {
        fails(
            "BitCast",
            &to(DType::I64),
            &[Some(t(DType::F32, &[1], &[1.0]))],
            "BitCast needs equal widths",
        );
        fails(
            "BitCast",
            &attrs(&[]),
            &[Some(t(DType::F32, &[1], &[1.0]))],
            "attribute to is required",
        );
        fails(
            "BitCast",
            &to(DType::Bool),
            &[Some(t(DType::U8, &[2], &[1.0, 2.0]))],
            "only 0 and 1 are bools",
        );
    }
}
