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
    /// dtypes, the 4- or 2-bit codes (zero-extended) for packed ones.
    pub fn unpacked_codes(&self) -> Vec<u8> {
        if !self.dtype.is_packed() {
            return self.data.clone();
        }
        (0..self.numel())
            .map(|i| {
                self.dtype
                    .packed_code(&self.data, i)
                    .expect("a host tensor holds all its elements")
            })
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

    #[test]
    fn two_bit_dtypes_take_a_quarter_byte_each_and_sign_extend() {
        // int2 -2, -1, 0, 1 are the codes 2, 3, 0, 1: 0b01_00_11_10 = 0x4E,
        // lowest bits first; the fifth element (-2) starts a second byte.
        let a = ArrayD::from_shape_vec(IxDyn(&[5]), vec![-2.0, -1.0, 0.0, 1.0, -2.0]).unwrap();
        let t = HostTensor::from_f64(DType::I2, &a);
        assert_eq!(t.data, vec![0x4E, 0x02]);
        assert_eq!(t.to_f64(), a, "codes 2 and 3 read back negative");
        assert_eq!(t.unpacked_codes(), vec![2, 3, 0, 1, 2]);
        // The same bits read as uint2 are 2, 3, 0, 1, 2.
        let u = HostTensor {
            dtype: DType::U2,
            ..t.clone()
        };
        assert_eq!(
            u.to_f64().into_raw_vec_and_offset().0,
            vec![2.0, 3.0, 0.0, 1.0, 2.0]
        );
        // Round to nearest even, then keep two bits (ONNX's int2 note): 2.5
        // rounds to 2, which wraps to -2 in int2; -1 is 3 in uint2.
        let w = ArrayD::from_shape_vec(IxDyn(&[4]), vec![2.5, 1.5, -1.0, 0.49]).unwrap();
        assert_eq!(
            HostTensor::from_f64(DType::I2, &w)
                .to_f64()
                .into_raw_vec_and_offset()
                .0,
            vec![-2.0, -2.0, -1.0, 0.0]
        );
        assert_eq!(
            HostTensor::from_f64(DType::U2, &w)
                .to_f64()
                .into_raw_vec_and_offset()
                .0,
            vec![2.0, 2.0, 3.0, 0.0]
        );
        assert_eq!(HostTensor::zeros(DType::U2, &[9]).data.len(), 3);
    }
}
