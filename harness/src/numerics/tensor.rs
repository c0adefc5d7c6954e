//! Owned host tensors: the harness's representation of inputs and outputs.

use ndarray::{ArrayD, IxDyn};

use super::{DType, from_f64_bits, to_f64_bits};

/// A contiguous, row-major tensor in host memory, stored in its dtype.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Element type of `data`.
    pub dtype: DType,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// `numel * dtype.size()` bytes, native byte order.
    pub data: Vec<u8>,
}

impl HostTensor {
    /// A tensor of zeros.
    pub fn zeros(dtype: DType, shape: &[usize]) -> Self {
        let n: usize = shape.iter().product();
        HostTensor {
            dtype,
            shape: shape.to_vec(),
            data: vec![0; n * dtype.size()],
        }
    }

    /// Converts f64 values to `dtype` (rounding to nearest even).
    pub fn from_f64(dtype: DType, values: &ArrayD<f64>) -> Self {
        let sz = dtype.size();
        let mut data = vec![0u8; values.len() * sz];
        for (chunk, &v) in data.chunks_exact_mut(sz).zip(values.iter()) {
            from_f64_bits(dtype, v, chunk);
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
        let sz = self.dtype.size();
        to_f64_bits(self.dtype, &self.data[i * sz..(i + 1) * sz])
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
}
