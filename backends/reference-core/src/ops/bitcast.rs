//! BitCast (26): the input's bytes read as another dtype of the same bit
//! width, same shape (ONNX: little endian; this backend's hosts are).

use xpucert_abi::{BackendError, DType, TensorRef};

use super::Args;
use crate::support::Attrs;
use crate::tensor::Tensor;

/// BitCast's `to`: a dtype the ABI has (required).
pub fn bit_cast_target(attrs: &Attrs<'_>) -> Result<DType, BackendError> {
    if !attrs.has("to") {
        return Err(BackendError::invalid("BitCast: attribute to is required"));
    }
    let code = attrs.int("to", 0)?;
    i32::try_from(code)
        .ok()
        .and_then(DType::from_code)
        .ok_or_else(|| BackendError::unsupported(format!("BitCast: to = {code}")))
}

/// BitCast: the same bytes under the `to` dtype. A byte other than 0 or 1
/// read as bool is refused (the spec gives it no meaning).
pub fn bit_cast(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let x = args.input(0)?;
    let to = bit_cast_target(&args.attrs)?;
    if to.bits() != x.dtype().bits() {
        return Err(args.invalid(format!(
            "to = {to} is {} bits wide, the input ({}) {}",
            to.bits(),
            x.dtype(),
            x.dtype().bits()
        )));
    }
    let bytes = x.data.to_ne_bytes();
    if to == DType::Bool && bytes.iter().any(|&b| b > 1) {
        return Err(args.invalid("a byte other than 0 or 1 read as bool"));
    }
    let shape: Vec<i64> = x.shape.iter().map(|&d| d as i64).collect();
    let mut strides = vec![1i64; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        strides[k] = strides[k + 1] * shape[k + 1];
    }
    crate::load(&TensorRef::host(to, &shape, &strides, &bytes)?)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use xpucert_abi::{AttrValue, DType};

    use crate::tensor::{Data, Tensor};

    fn to(d: DType) -> [(&'static str, AttrValue<'static>); 1] {
        [("to", AttrValue::Int(i64::from(d.code())))]
    }

    #[test]
    fn bits_are_kept_across_widths() {
        let y = run1("BitCast", &to(DType::I32), vec![f32t(&[2], &[1.0, -0.0])]).unwrap();
        assert_eq!(y.data, Data::I32(vec![0x3F80_0000, i32::MIN]));
        let x = Tensor::new(vec![3], Data::Codes(DType::I4, vec![0xF, 0x7, 0x8])).unwrap();
        let y = run1("BitCast", &to(DType::U4), vec![Some(x)]).unwrap();
        assert_eq!(y.data, Data::Codes(DType::U4, vec![0xF, 0x7, 0x8]));
        let x = Tensor::new(vec![2], Data::U8(vec![1, 2])).unwrap();
        assert!(run1("BitCast", &to(DType::Bool), vec![Some(x)]).is_err());
        assert!(run1("BitCast", &to(DType::I64), vec![f32t(&[1], &[1.0])]).is_err());
    }
}
