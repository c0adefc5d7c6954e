//! Tensor-valued attributes ([`AttrValue::Tensor`](super::AttrValue)): how
//! they read in messages, how they cross the worker pipe (JSON), and how a
//! suite's `{dtype, shape, values}` literal becomes one. They reach a backend
//! as `XPU_ATTR_TENSOR` with the tensor in `XpuOpCall.attribute_tensors`
//! (ABI minor 3); an older library is never sent them (`run::needs_minor`).

use std::fmt;

use ndarray::{ArrayD, IxDyn};

use crate::numerics::{DType, HostTensor};

/// Elements shown in a message before it is cut short.
const SHOWN: usize = 8;

/// `tensor f32[2, 3] [1, 2, 3, 4, 5, 6]`: the dtype, the shape and the first
/// values (exact: every float dtype and integers below 2^53).
pub(super) fn describe(t: &HostTensor, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "tensor {}{:?} [", t.dtype.name(), t.shape)?;
    for i in 0..t.numel().min(SHOWN) {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{}", t.get_f64(i))?;
    }
    if t.numel() > SHOWN {
        f.write_str(", ...")?;
    }
    f.write_str("]")
}

/// A tensor of `dtype` and `shape` holding `values` (row-major). Integer
/// and bool values must be exact values of the dtype; floats are rounded to
/// it (to nearest even), as suite inputs are.
pub fn from_values(dtype: DType, shape: &[usize], values: &[f64]) -> Result<HostTensor, String> {
    let n = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if n != Some(values.len()) {
        return Err(format!("{} values for shape {shape:?}", values.len()));
    }
    if !dtype.is_float()
        && let Some(x) = values
            .iter()
            .find(|&&x| !(x.is_finite() && crate::numerics::round_to(dtype, x) == x))
    {
        return Err(format!("{x} is not a value of dtype {dtype}"));
    }
    let a = ArrayD::from_shape_vec(IxDyn(shape), values.to_vec())
        .map_err(|e| format!("shape {shape:?}: {e}"))?;
    Ok(HostTensor::from_f64(dtype, &a))
}

/// serde for a [`HostTensor`] inside [`AttrValue`](super::AttrValue):
/// `{"dtype": "f32", "shape": [1], "data": [0, 0, 128, 63]}`, the bytes as
/// they are (exact for every dtype, i64 beyond 2^53 included); a decoded
/// tensor whose byte count does not fit its dtype and shape is refused.
pub(super) mod wire {
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

    use crate::numerics::{DType, HostTensor};

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wire {
        dtype: String,
        shape: Vec<usize>,
        data: Vec<u8>,
    }

    pub fn serialize<S: Serializer>(t: &HostTensor, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            dtype: t.dtype.name().to_string(),
            shape: t.shape.clone(),
            data: t.data.clone(),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<HostTensor, D::Error> {
        let w = Wire::deserialize(d)?;
        let dtype = DType::from_name(&w.dtype)
            .ok_or_else(|| de::Error::custom(format!("unknown dtype `{}`", w.dtype)))?;
        let n = w
            .shape
            .iter()
            .try_fold(1usize, |n, &x| n.checked_mul(x))
            .ok_or_else(|| de::Error::custom("tensor attribute: element count overflows"))?;
        if w.data.len() != dtype.bytes_for(n) {
            return Err(de::Error::custom(format!(
                "tensor attribute: {} bytes for {dtype} {:?}",
                w.data.len(),
                w.shape
            )));
        }
        Ok(HostTensor {
            dtype,
            shape: w.shape,
            data: w.data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{AttrValue, Attributes};

    #[test]
    fn from_values_checks_count_and_integer_exactness() {
        let t = from_values(DType::I32, &[2], &[3.0, -4.0]).unwrap();
        assert_eq!(t.data, [3i32.to_ne_bytes(), (-4i32).to_ne_bytes()].concat());
        assert!(
            from_values(DType::I32, &[3], &[1.0])
                .unwrap_err()
                .contains("1 values")
        );
        assert!(
            from_values(DType::U8, &[1], &[256.0])
                .unwrap_err()
                .contains("256")
        );
        assert!(
            from_values(DType::I64, &[1], &[0.5])
                .unwrap_err()
                .contains("0.5")
        );
        // Floats round to the dtype, as suite inputs do.
        let h = from_values(DType::F16, &[], &[0.1]).unwrap();
        assert_eq!(h.get_f64(0), f64::from(half::f16::from_f64(0.1)));
    }

    #[test]
    fn wire_round_trip_is_exact_and_refuses_a_wrong_byte_count() {
        let mut a = Attributes::new();
        let big = HostTensor {
            dtype: DType::I64,
            shape: vec![1],
            data: ((1i64 << 60) + 1).to_ne_bytes().to_vec(),
        };
        a.insert("value".into(), AttrValue::Tensor(big));
        let json = serde_json::to_string(&a).unwrap();
        let back: Attributes = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        let bad = json.replace("\"shape\":[1]", "\"shape\":[2]");
        let e = serde_json::from_str::<Attributes>(&bad).unwrap_err();
        assert!(e.to_string().contains("8 bytes"), "{e}");
    }

    #[test]
    fn describe_shows_dtype_shape_and_leading_values() {
        let t = from_values(DType::F32, &[10], &[1.5; 10]).unwrap();
        assert_eq!(
            AttrValue::Tensor(t).to_string(),
            "tensor f32[10] [1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, ...]"
        );
    }
}
