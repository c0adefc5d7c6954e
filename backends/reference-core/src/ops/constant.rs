//! Constant and ConstantOfShape: outputs written from attributes, the
//! tensor-valued `value` among them (ABI minor 3). Every dtype the backend
//! stores, the narrow ones as codes; nothing is computed.

use xpucert_abi::{AttrValue, BackendError, DType};

use super::Args;
use crate::support::Attrs;
use crate::tensor::{Data, Tensor};

/// ConstantOfShape (9, 20, 21, 23, 24): a tensor of the shape the input
/// holds, every element the one element of `value` (float32 0 without it).
pub fn constant_of_shape(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let shape = super::shaping::dims(args, 0, "input")?;
    let n: usize = shape.iter().product();
    let data = match args.attrs.tensor("value")? {
        None => Data::F32(vec![0.0; n]),
        Some(t) => {
            if t.numel() != 1 {
                return Err(args.invalid(format!(
                    "value must be a one-element tensor, got shape {:?}",
                    t.shape()
                )));
            }
            crate::load(&t)?.data.gather(&vec![0; n])
        }
    };
    Tensor::new(shape, data)
}

/// The dtype Constant's output has: the one value attribute's (float32 for
/// `value_float(s)`, int64 for `value_int(s)`). The support check calls it
/// before allocation is compared, so it refuses what the kernel would.
pub fn constant_dtype(attrs: &Attrs<'_>) -> Result<DType, BackendError> {
    let given = attrs.0;
    let [a] = given else {
        return Err(BackendError::invalid(format!(
            "Constant: exactly one value attribute must be given, got {}",
            given.len()
        )));
    };
    match (a.name, a.value) {
        ("value", AttrValue::Tensor(t)) => Ok(t.dtype()),
        ("value_float" | "value_floats", _) => Ok(DType::F32),
        ("value_int" | "value_ints", _) => Ok(DType::I64),
        ("value_string" | "value_strings", _) => Err(BackendError::unsupported(
            "Constant: string values (no string dtype in the ABI)",
        )),
        (name, _) => Err(BackendError::unsupported(format!(
            "Constant: attribute {name}"
        ))),
    }
}

/// Constant (11, 12, 13, 19, 21, 23, 24): the value attribute's tensor.
pub fn constant(args: &Args<'_>) -> Result<Tensor, BackendError> {
    constant_dtype(&args.attrs)?;
    let a = &args.attrs;
    if let Some(t) = a.tensor("value")? {
        return crate::load(&t);
    }
    if a.has("value_float") {
        let v = a.float("value_float", 0.0)? as f32;
        return Tensor::new(vec![], Data::F32(vec![v]));
    }
    if a.has("value_int") {
        return Tensor::new(vec![], Data::I64(vec![a.int("value_int", 0)?]));
    }
    if let Some(v) = a.ints("value_ints")? {
        return Tensor::new(vec![v.len()], Data::I64(v.to_vec()));
    }
    match a.0[0].value {
        // Round each to f32 (nearest even), as a float32 attribute is.
        AttrValue::Floats(v) => Tensor::new(
            vec![v.len()],
            Data::F32(v.iter().map(|&x| x as f32).collect()),
        ),
        other => Err(args.invalid(format!("{}: unexpected {other:?}", a.0[0].name))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use xpucert_abi::{AttrValue, DType, TensorRef};

    use crate::tensor::Data;

    #[test]
    fn constant_of_shape_repeats_the_value_in_its_dtype() {
        let bytes = (-7i32).to_ne_bytes();
        let v = TensorRef::host(DType::I32, &[1], &[1], &bytes).unwrap();
        let y = run1(
            "ConstantOfShape",
            &[("value", AttrValue::Tensor(v))],
            vec![i64t(&[2], &[2, 3])],
        )
        .unwrap();
        assert_eq!(y.shape, [2, 3]);
        assert_eq!(y.data, Data::I32(vec![-7; 6]));
        // The default: float32 zeros; an empty shape input: a scalar.
        let y = run1("ConstantOfShape", &[], vec![i64t(&[0], &[])]).unwrap();
        assert_eq!((y.shape.len(), y.data), (0, Data::F32(vec![0.0])));
        // A narrow dtype: one code per element.
        let code = [0x3Fu8];
        let v = TensorRef::host(DType::F8E8M0, &[], &[], &code).unwrap();
        let y = run1(
            "ConstantOfShape",
            &[("value", AttrValue::Tensor(v))],
            vec![i64t(&[1], &[3])],
        )
        .unwrap();
        assert_eq!(y.data, Data::Codes(DType::F8E8M0, vec![0x3F; 3]));
        // Two elements are refused.
        let two = [0u8; 8];
        let v = TensorRef::host(DType::F32, &[2], &[1], &two).unwrap();
        let e = run1(
            "ConstantOfShape",
            &[("value", AttrValue::Tensor(v))],
            vec![i64t(&[1], &[3])],
        )
        .unwrap_err();
        assert!(e.message.contains("one-element"), "{e}");
    }

    #[test]
    fn constant_gives_the_value_attribute() {
        let bytes: Vec<u8> = [1u16, 2, 3].iter().flat_map(|v| v.to_ne_bytes()).collect();
        let v = TensorRef::host(DType::U16, &[3], &[1], &bytes).unwrap();
        let y = run1("Constant", &[("value", AttrValue::Tensor(v))], vec![]).unwrap();
        assert_eq!((y.shape, y.data), (vec![3], Data::U16(vec![1, 2, 3])));
        let y = run1(
            "Constant",
            &[("value_float", AttrValue::Float(0.1))],
            vec![],
        )
        .unwrap();
        assert_eq!(y.data, Data::F32(vec![0.1]));
        let y = run1(
            "Constant",
            &[("value_ints", AttrValue::Ints(&[4, -5]))],
            vec![],
        )
        .unwrap();
        assert_eq!((y.shape, y.data), (vec![2], Data::I64(vec![4, -5])));
        let y = run1(
            "Constant",
            &[("value_floats", AttrValue::Floats(&[0.5, 2.0]))],
            vec![],
        )
        .unwrap();
        assert_eq!(y.data, Data::F32(vec![0.5, 2.0]));
        let y = run1("Constant", &[("value_int", AttrValue::Int(-3))], vec![]).unwrap();
        assert_eq!((y.shape.len(), y.data), (0, Data::I64(vec![-3])));
        assert!(
            run1(
                "Constant",
                &[("value_string", AttrValue::String("x"))],
                vec![]
            )
            .is_err()
        );
    }
}
