//! Constant (11, 12, 13, 19, 21, 23, 24) and ConstantOfShape (9, 20, 21,
//! 23, 24): outputs written from an attribute, the one family whose values
//! come from a tensor-valued attribute (`value`, ABI minor 3). Nothing is
//! computed, so every check is exact; the versions differ only in the
//! dtypes `value` may have (and Constant-12 adds `value_float(s)` and
//! `value_int(s)`). The `-25` versions add int2/uint2, which are not xpucert
//! dtypes.
//!
//! Refused with an error that says why: string values (`value_string`, a
//! string `value`), `sparse_value` (xpucert's attributes have no sparse
//! tensors; the suite loader and the node-test converter name it), more or
//! fewer than one Constant value attribute, a ConstantOfShape `value` that
//! is not one element, and a dtype the version does not list.

use ndarray::{ArrayD, IxDyn};

use super::cases::{CaseSpace, Factor, GenCase, GenInput, Pick};
use super::indexing::{def, dims_input};
use super::spec::{TypeVar, fixed};
use super::{AttrType, Attributes, AttributesExt, Call, OpDef, Output, Result, TypedShape, rules};
use crate::numerics::{DType, HostTensor};

/// A shape rule's value reader.
type Values<'a> = &'a mut dyn FnMut(usize) -> Vec<f64>;
/// A shape rule's result.
type Shapes = std::result::Result<Vec<TypedShape>, String>;

const T_I64: TypeVar = TypeVar {
    name: "T1",
    allowed: &[DType::I64],
};

use DType::*;

/// ConstantOfShape-9's `T2`: the standard numeric types and bool.
const COS_9: &[DType] = &[F16, F32, F64, I8, I16, I32, I64, U8, U16, U32, U64, Bool];
/// ConstantOfShape-20's: adds bfloat16 and the four fp8 types.
const COS_20: &[DType] = &[
    F16, F32, F64, I8, I16, I32, I64, U8, U16, U32, U64, Bool, BF16, F8E4M3FN, F8E4M3FNUZ, F8E5M2,
    F8E5M2FNUZ,
];
/// ConstantOfShape-21's: adds int4 and uint4.
const COS_21: &[DType] = &[
    F16, F32, F64, I8, I16, I32, I64, U8, U16, U32, U64, Bool, BF16, F8E4M3FN, F8E4M3FNUZ, F8E5M2,
    F8E5M2FNUZ, U4, I4,
];
/// ConstantOfShape-23's: adds FP4 E2M1.
const COS_23: &[DType] = &[
    F16, F32, F64, I8, I16, I32, I64, U8, U16, U32, U64, Bool, BF16, F8E4M3FN, F8E4M3FNUZ, F8E5M2,
    F8E5M2FNUZ, U4, I4, F4E2M1,
];
/// ConstantOfShape-24's and Constant-24's: adds E8M0 (every xpucert dtype).
const ALL_24: &[DType] = &DType::ALL;

/// Constant-11's and -12's `T` without string and complex (not xpucert
/// dtypes): ConstantOfShape-9's.
const CONST_11: &[DType] = COS_9;
/// Constant-13's: adds bfloat16.
const CONST_13: &[DType] = &[
    F16, F32, F64, I8, I16, I32, I64, U8, U16, U32, U64, Bool, BF16,
];
/// Constant-19's: adds the four fp8 types (ConstantOfShape-20's set).
const CONST_19: &[DType] = COS_20;
/// Constant-21's: adds int4 and uint4.
const CONST_21: &[DType] = COS_21;
/// Constant-23's: adds FP4 E2M1.
const CONST_23: &[DType] = COS_23;

// ------------------------------------------------------------ ConstantOfShape

macro_rules! constant_of_shape {
    ($opset:literal, $allowed:expr) => {
        def(
            "ConstantOfShape",
            $opset,
            fixed(1, 0),
            &["input"],
            &[T_I64],
            1,
            &[("value", AttrType::Tensor)],
            |c| constant_of_shape_eval(c, $allowed),
            |a, s, v| constant_of_shape_shape(a, s, v, $allowed),
        )
    };
}

/// ConstantOfShape-24 (the newest xpucert implements).
pub(super) const CONSTANT_OF_SHAPE_24: OpDef = constant_of_shape!(24, ALL_24);
/// ConstantOfShape-9.
pub(super) const CONSTANT_OF_SHAPE_9: OpDef = constant_of_shape!(9, COS_9);
/// ConstantOfShape-20: bfloat16 and fp8 values.
pub(super) const CONSTANT_OF_SHAPE_20: OpDef = constant_of_shape!(20, COS_20);
/// ConstantOfShape-21: int4 and uint4 values.
pub(super) const CONSTANT_OF_SHAPE_21: OpDef = constant_of_shape!(21, COS_21);
/// ConstantOfShape-23: FP4 E2M1 values.
pub(super) const CONSTANT_OF_SHAPE_23: OpDef = constant_of_shape!(23, COS_23);

/// The `value` tensor's one element and dtype, or ONNX's default (float32
/// 0) when it is absent; the version's dtypes are `allowed`.
fn fill_value(attrs: &Attributes, allowed: &[DType]) -> std::result::Result<(DType, f64), String> {
    let Some(t) = attrs.tensor("value")? else {
        return Ok((F32, 0.0));
    };
    if t.numel() != 1 {
        return Err(format!(
            "value must be a one-element tensor, got shape {:?}",
            t.shape
        ));
    }
    dtype_allowed("value", t.dtype, allowed)?;
    Ok((t.dtype, t.get_f64(0)))
}

fn dtype_allowed(what: &str, d: DType, allowed: &[DType]) -> std::result::Result<(), String> {
    if allowed.contains(&d) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(|d| d.name()).collect();
    Err(format!(
        "{what} is {d}, which this version does not allow (it allows {})",
        names.join(", ")
    ))
}

/// The one validity function of ConstantOfShape, shared by the oracle and
/// the shape rule: the fill value and the output shape.
fn constant_of_shape_plan(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    allowed: &[DType],
) -> std::result::Result<(DType, f64, Vec<usize>), String> {
    let (dtype, v) = fill_value(attrs, allowed)?;
    let (_, s) = rules::input(inputs, 0)?;
    let shape = dims_input("input", s, &values(0))?;
    Ok((dtype, v, shape))
}

fn constant_of_shape_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    values: Values<'_>,
    allowed: &[DType],
) -> Shapes {
    let (dtype, _, shape) = constant_of_shape_plan(attrs, inputs, values, allowed)?;
    Ok(vec![(dtype, shape)])
}

/// ConstantOfShape: a tensor of the shape the input holds, every element
/// `value`'s one element, in `value`'s dtype (float32 0 without it).
fn constant_of_shape_eval(call: &Call, allowed: &[DType]) -> Result<Vec<Output>> {
    let (dtype, v, shape) = constant_of_shape_plan(
        call.attrs,
        &call.typed_shapes(),
        &mut |i| call.values(i),
        allowed,
    )
    .map_err(|m| call.err(m))?;
    Ok(vec![Output::plain(
        dtype,
        ArrayD::from_elem(IxDyn(&shape), v),
    )])
}

// ------------------------------------------------------------------- Constant

/// Constant-11's attributes: `value` only (`sparse_value` is not an
/// attribute type xpucert has).
const CONSTANT_11_ATTRS: &[(&str, AttrType)] = &[("value", AttrType::Tensor)];
/// Constant-12's and later: the `value_*` shorthands. `value_string` is
/// declared so that a call giving it is refused by name, not as unknown.
const CONSTANT_12_ATTRS: &[(&str, AttrType)] = &[
    ("value", AttrType::Tensor),
    ("value_float", AttrType::Float),
    ("value_floats", AttrType::Floats),
    ("value_int", AttrType::Int),
    ("value_ints", AttrType::Ints),
    ("value_string", AttrType::String),
];

macro_rules! constant {
    ($opset:literal, $attrs:expr, $allowed:expr) => {
        def(
            "Constant",
            $opset,
            fixed(0, 0),
            &[],
            &[],
            1,
            $attrs,
            |c| constant_eval(c, $allowed),
            |a, _, _| constant_plan(a, $allowed).map(|t| vec![(t.dtype, t.shape)]),
        )
    };
}

/// Constant-24 (the newest xpucert implements).
pub(super) const CONSTANT_24: OpDef = constant!(24, CONSTANT_12_ATTRS, ALL_24);
/// Constant-11: `value` only.
pub(super) const CONSTANT_11: OpDef = constant!(11, CONSTANT_11_ATTRS, CONST_11);
/// Constant-12: adds `value_float(s)`, `value_int(s)`, `value_string(s)`.
pub(super) const CONSTANT_12: OpDef = constant!(12, CONSTANT_12_ATTRS, CONST_11);
/// Constant-13: bfloat16.
pub(super) const CONSTANT_13: OpDef = constant!(13, CONSTANT_12_ATTRS, CONST_13);
/// Constant-19: fp8.
pub(super) const CONSTANT_19: OpDef = constant!(19, CONSTANT_12_ATTRS, CONST_19);
/// Constant-21: int4 and uint4.
pub(super) const CONSTANT_21: OpDef = constant!(21, CONSTANT_12_ATTRS, CONST_21);
/// Constant-23: FP4 E2M1.
pub(super) const CONSTANT_23: OpDef = constant!(23, CONSTANT_12_ATTRS, CONST_23);

/// The one validity function of Constant, shared by the oracle and the
/// shape rule: exactly one value attribute, turned into the output tensor.
/// `value_float(s)` give float32 (a scalar, a 1-D list), `value_int(s)`
/// int64.
fn constant_plan(attrs: &Attributes, allowed: &[DType]) -> std::result::Result<HostTensor, String> {
    let given: Vec<&str> = attrs.keys().map(String::as_str).collect();
    let [name] = given[..] else {
        return Err(format!(
            "exactly one of value, value_float(s), value_int(s) must be given, got {}",
            if given.is_empty() {
                "none".to_string()
            } else {
                given.join(", ")
            }
        ));
    };
    let lit =
        |dtype: DType, shape: &[usize], v: &[f64]| super::attr_tensor::from_values(dtype, shape, v);
    let t = match name {
        "value" => attrs.tensor("value")?.expect("given").clone(),
        "value_float" => lit(F32, &[], &[attrs.float("value_float", 0.0)?])?,
        "value_int" => lit(I64, &[], &[attrs.int("value_int", 0)? as f64])?,
        "value_floats" => {
            let v = match attrs.get("value_floats") {
                Some(super::AttrValue::Floats(v)) => v.clone(),
                _ => return Err("attribute value_floats must be a list of floats".into()),
            };
            lit(F32, &[v.len()], &v)?
        }
        "value_ints" => {
            let v: Vec<f64> = attrs
                .ints("value_ints")?
                .unwrap_or(&[])
                .iter()
                .map(|&i| i as f64)
                .collect();
            lit(I64, &[v.len()], &v)?
        }
        "value_string" => {
            return Err("value_string: string tensors are not an xpucert dtype".into());
        }
        other => return Err(format!("unknown attribute {other}")),
    };
    dtype_allowed(name, t.dtype, allowed)?;
    Ok(t)
}

/// Constant: the value attribute's tensor, as given.
fn constant_eval(call: &Call, allowed: &[DType]) -> Result<Vec<Output>> {
    let t = constant_plan(call.attrs, allowed).map_err(|m| call.err(m))?;
    Ok(vec![Output::plain(t.dtype, t.to_f64())])
}

// ---------------------------------------------------------------- case spaces

/// A value of `dtype` for a generated case: `typical` is small and exact in
/// every dtype (1.5 rounds to 2 in E8M0, which has only powers of two);
/// `extreme` is the dtype's most negative finite value (the largest for
/// unsigned types and E8M0, true for bool), where a backend that stores the
/// value through a narrower type would clip it.
fn case_value(dtype: DType, extreme: bool) -> f64 {
    if !extreme {
        return match dtype {
            Bool => 1.0,
            F8E8M0 => 2.0,
            I2 | U2 => 1.0,
            d if d.is_float() => 1.5,
            _ => 3.0,
        };
    }
    match dtype {
        F64 => f64::MIN,
        F32 => f64::from(f32::MIN),
        F16 => -65504.0,
        BF16 => -3.389_531_389_251_535_5e38,
        F8E4M3FN => -448.0,
        F8E4M3FNUZ => -240.0,
        F8E5M2 | F8E5M2FNUZ => -57344.0,
        F4E2M1 => -6.0,
        F8E8M0 => 2f64.powi(127),
        I8 => f64::from(i8::MIN),
        I16 => f64::from(i16::MIN),
        I32 => f64::from(i32::MIN),
        I64 => i64::MIN as f64,
        I4 => -8.0,
        I2 => -2.0,
        U2 => 3.0,
        U8 => f64::from(u8::MAX),
        U16 => f64::from(u16::MAX),
        U32 => f64::from(u32::MAX),
        // The largest f64 below 2^64: exact, so the oracle holds it.
        U64 => 18_446_744_073_709_549_568.0,
        U4 => 15.0,
        Bool => 1.0,
    }
}

/// A one-element (`scalar`: rank 0, else [1]) tensor attribute.
fn value_tensor(dtype: DType, v: f64, scalar: bool) -> super::AttrValue {
    let shape: &[usize] = if scalar { &[] } else { &[1] };
    super::AttrValue::Tensor(
        super::attr_tensor::from_values(dtype, shape, &[v]).expect("an exact value of the dtype"),
    )
}

/// ConstantOfShape: every dtype the newest version allows as the value's
/// (the default float32 0 too), a typical or extreme value, and a scalar,
/// 1-D, 3-D or empty output shape.
pub(super) fn constant_of_shape_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(ALL_24),
            Factor::new("value", &["default", "typical", "extreme"]),
            Factor::new("rank", &["r0", "r1", "r3"]),
            Factor::new("size", &["n0", "n1", "prime"]),
        ],
        build: Box::new(|p: &Pick| {
            let rank = super::cases::rank_of(p.get("rank"));
            if rank == 0 && !p.is("size", "n1") {
                return None;
            }
            // The default is float32 0: only an f32 case can leave it out.
            if p.is("value", "default") && p.dtype() != F32 {
                return None;
            }
            let n = match p.get("size") {
                "n0" => 0,
                "n1" => 1,
                _ => 7,
            };
            let mut dims = vec![2i64; rank];
            if let Some(last) = dims.last_mut() {
                *last = n;
            }
            let shape = GenInput::values(I64, dims.iter().map(|&d| d as f64).collect());
            let mut case = GenCase::new(vec![shape.some()]);
            if !p.is("value", "default") {
                let v = case_value(p.dtype(), p.is("value", "extreme"));
                case.attributes
                    .insert("value".into(), value_tensor(p.dtype(), v, rank == 3));
            }
            Some(case)
        }),
    })
}

/// Constant: every dtype of the newest version through `value` (scalar,
/// 1-D or 2-D, typical or extreme values), and the `value_float(s)` /
/// `value_int(s)` shorthands for float32 and int64.
pub(super) fn constant_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(ALL_24),
            Factor::new("attr", &["tensor", "shorthand"]),
            Factor::new("rank", &["r0", "r1", "r2"]),
            Factor::new("value", &["typical", "extreme"]),
        ],
        build: Box::new(|p: &Pick| {
            let dtype = p.dtype();
            let rank = super::cases::rank_of(p.get("rank"));
            let shorthand = p.is("attr", "shorthand");
            if shorthand && (!matches!(dtype, F32 | I64) || rank > 1) {
                return None;
            }
            let extreme = p.is("value", "extreme");
            let shape: Vec<usize> = [3, 5][..rank].to_vec();
            let n: usize = shape.iter().product();
            // Distinct elements, so a backend that writes them out of
            // order or repeats one is caught: the case value, then small
            // steps from it that stay exact in the dtype.
            let base = case_value(dtype, extreme);
            let values: Vec<f64> = (0..n)
                .map(|i| {
                    if i % 2 == 0 {
                        base
                    } else {
                        case_value(dtype, !extreme)
                    }
                })
                .collect();
            let mut case = GenCase::new(vec![]);
            let attr = match (shorthand, dtype, rank) {
                (true, F32, 0) => ("value_float", super::AttrValue::Float(values[0])),
                (true, F32, _) => ("value_floats", super::AttrValue::Floats(values)),
                (true, _, 0) => ("value_int", super::AttrValue::Int(values[0] as i64)),
                (true, _, _) => (
                    "value_ints",
                    super::AttrValue::Ints(values.iter().map(|&v| v as i64).collect()),
                ),
                _ => (
                    "value",
                    super::AttrValue::Tensor(
                        super::attr_tensor::from_values(dtype, &shape, &values)
                            .expect("exact values of the dtype"),
                    ),
                ),
            };
            case.attributes.insert(attr.0.into(), attr.1);
            Some(case)
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::AttrValue;
    use super::super::testutil::*;
    use super::*;

    fn tensor(dtype: DType, shape: &[usize], v: &[f64]) -> AttrValue {
        AttrValue::Tensor(super::super::attr_tensor::from_values(dtype, shape, v).unwrap())
    }

    #[test]
    fn constant_of_shape_fills_with_the_value_in_its_dtype() {
        let a = attrs(&[("value", tensor(I32, &[1], &[-7.0]))]);
        let y = run1("ConstantOfShape", &a, &[i(&[2], &[2, 3])]);
        assert_eq!((y.dtype, y.shape()), (I32, &[2, 3][..]));
        assert!(y.data.iter().all(|&v| v == -7.0));
        // No value: float32 zeros; an empty shape input: a scalar.
        let y = run1("ConstantOfShape", &attrs(&[]), &[i(&[0], &[])]);
        assert_eq!((y.dtype, y.shape(), y.data[[]]), (F32, &[][..], 0.0));
        // A zero dim: no elements.
        let y = run1("ConstantOfShape", &a, &[i(&[2], &[0, 4])]);
        assert_eq!(y.data.len(), 0);
    }

    #[test]
    fn constant_of_shape_versions_admit_their_dtypes_only() {
        let bf = attrs(&[("value", tensor(BF16, &[1], &[1.0]))]);
        let shape = [Some(i(&[1], &[2]))];
        let run = |opset, a: &Attributes| run_at("ConstantOfShape", opset, a, &shape);
        assert!(run(20, &bf).is_ok());
        let e = run(9, &bf).unwrap_err().to_string();
        assert!(
            e.contains("value is bf16") && e.contains("does not allow"),
            "{e}"
        );
        let i4 = attrs(&[("value", tensor(I4, &[1], &[-8.0]))]);
        assert!(run(20, &i4).is_err() && run(21, &i4).is_ok());
        let e8 = attrs(&[("value", tensor(F8E8M0, &[1], &[4.0]))]);
        assert!(run(23, &e8).is_err() && run(24, &e8).is_ok());
        let y = &run(24, &e8).unwrap()[0];
        assert_eq!((y.value.dtype, y.value.data[[0]]), (F8E8M0, 4.0));
    }

    #[test]
    fn constant_of_shape_refuses_a_value_of_several_elements_and_bad_shapes() {
        let two = attrs(&[("value", tensor(F32, &[2], &[1.0, 2.0]))]);
        fails(
            "ConstantOfShape",
            &two,
            &[Some(i(&[1], &[2]))],
            "value must be a one-element tensor, got shape [2]",
        );
        fails(
            "ConstantOfShape",
            &attrs(&[]),
            &[Some(i(&[1], &[-1]))],
            "negative",
        );
        fails(
            "ConstantOfShape",
            &attrs(&[("value", AttrValue::Float(1.0))]),
            &[Some(i(&[1], &[2]))],
            "value must be Tensor",
        );
    }

    #[test]
    fn constant_gives_its_one_value_attribute() {
        let y = run1(
            "Constant",
            &attrs(&[("value", tensor(U8, &[2, 2], &[1.0, 2.0, 3.0, 255.0]))]),
            &[],
        );
        assert_eq!((y.dtype, y.shape()), (U8, &[2, 2][..]));
        assert_eq!(
            y.data.iter().copied().collect::<Vec<_>>(),
            [1.0, 2.0, 3.0, 255.0]
        );
        let y = run1(
            "Constant",
            &attrs(&[("value_float", AttrValue::Float(0.1))]),
            &[],
        );
        assert_eq!(
            (y.dtype, y.shape(), y.data[[]]),
            (F32, &[][..], f64::from(0.1f32))
        );
        let y = run1(
            "Constant",
            &attrs(&[("value_ints", AttrValue::Ints(vec![4, -5]))]),
            &[],
        );
        assert_eq!((y.dtype, y.shape()), (I64, &[2][..]));
        assert_eq!(y.data.iter().copied().collect::<Vec<_>>(), [4.0, -5.0]);
        let y = run1(
            "Constant",
            &attrs(&[("value_int", AttrValue::Int(-3))]),
            &[],
        );
        assert_eq!((y.dtype, y.data[[]]), (I64, -3.0));
        let y = run1(
            "Constant",
            &attrs(&[("value_floats", AttrValue::Floats(vec![]))]),
            &[],
        );
        assert_eq!((y.dtype, y.shape()), (F32, &[0][..]));
    }

    #[test]
    fn constant_refuses_strings_none_or_several_values_and_old_shorthands() {
        fails(
            "Constant",
            &attrs(&[("value_string", AttrValue::String("x".into()))]),
            &[],
            "string tensors are not an xpucert dtype",
        );
        fails("Constant", &attrs(&[]), &[], "exactly one of value");
        fails(
            "Constant",
            &attrs(&[
                ("value_int", AttrValue::Int(1)),
                ("value_float", AttrValue::Float(1.0)),
            ]),
            &[],
            "got value_float, value_int",
        );
        let e = run_at(
            "Constant",
            11,
            &attrs(&[("value_int", AttrValue::Int(1))]),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown attribute value_int"), "{e}");
        let bf = attrs(&[("value", tensor(BF16, &[1], &[1.0]))]);
        assert!(run_at("Constant", 12, &bf, &[]).is_err());
        assert!(run_at("Constant", 13, &bf, &[]).is_ok());
    }
}
