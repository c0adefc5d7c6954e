//! Owned host tensors: the harness's representation of inputs and outputs.

use ndarray::{ArrayD, IxDyn};

use super::{DType, read_element, write_element};

/// A contiguous, row-major tensor in host memory, stored in its dtype.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Element type of `data`.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// `dtype.bytes_for(numel)` bytes, native byte order; packed dtypes two
    /// elements to a byte, low nibble first, an odd count's last high nibble
    /// zero.
    pub data: Vec<u8>,
}

impl HostTensor {
    /// A tensor of zeros.
    pub fn zeros(dtype: DType, shape: &[usize]) -> Self {
        let n: usize = shape.iter().product();
        HostTensor {
            dtype,
            shape: shape.to_vec(),
            data: vec![0; dtype.bytes_for(n)],
        }
    }

    /// Converts f64 values to `dtype` (rounding to nearest even).
    pub fn from_f64(dtype: DType, values: &ArrayD<f64>) -> Self {
        let mut data = vec![0u8; dtype.bytes_for(values.len())];
        for (i, &v) in values.iter().enumerate() {
            write_element(dtype, &mut data, i, v);
        }
        HostTensor {
            dtype,
            shape: values.shape().to_vec(),
            data,
        }
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The element at flat (row-major) index `i`, as f64.
    pub fn get_f64(&self, i: usize) -> f64 {
        read_element(self.dtype, &self.data, i)
    }

    /// The data with one byte per element: `data` itself for whole-byte
    /// dtypes, the 4-bit codes (zero-extended) for packed ones.
    pub fn unpacked_codes(&self) -> Vec<u8> {
        if !self.dtype.is_packed() {
            return self.data.clone();
        }
        (0..self.numel())
            .map(|i| (self.data[i / 2] >> (4 * (i % 2))) & 0x0F)
            .collect()
    }

    /// All elements as an f64 array of the same shape (exact for every
    /// float dtype, and for integers below 2^53).
    pub fn to_f64(&self) -> ArrayD<f64> {
        let v: Vec<f64> = (0..self.numel()).map(|i| self.get_f64(i)).collect();
        ArrayD::from_shape_vec(IxDyn(&self.shape), v).expect("shape matches data length")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f64_round_trip_rounds_to_dtype() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![0.1, -2.5, 1e-3, 3.0]).unwrap();
        let t = HostTensor::from_f64(DType::F32, &a);
        assert_eq!(t.data.len(), 16);
        let b = t.to_f64();
        assert_eq!(b[[0, 0]], 0.1f32 as f64);
        assert_eq!(b[[0, 1]], -2.5);
        assert_eq!(b.shape(), &[2, 2]);
    }

    #[test]
    fn packed_dtypes_take_half_a_byte_each() {
        let a = ArrayD::from_shape_vec(IxDyn(&[3]), vec![1.0, -2.0, 7.0]).unwrap();
        let t = HostTensor::from_f64(DType::I4, &a);
        // 1 in the low nibble, -2 (0xE) in the high one, then 7 and a zero pad.
        assert_eq!(t.data, vec![0xE1, 0x07]);
        assert_eq!(t.to_f64(), a);
        assert_eq!(HostTensor::zeros(DType::U4, &[5]).data.len(), 3);
        let f = HostTensor::from_f64(DType::F4E2M1, &a);
        assert_eq!(f.data, vec![0xC2, 0x07]); // 1.0 = 0x2, -2.0 = 0xC, 6.0 = 0x7
    }
}
