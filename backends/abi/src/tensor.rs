//! Safe, validated views of the tensors in an `XpuOpCall`.

use crate::{BackendError, DType};

/// A scalar type that can be read from or written to tensor bytes in native
/// byte order. f16/bf16/fp8 are read as their raw bit patterns (`u16`/`u8`).
pub trait Element: Copy + Default + 'static {
    /// Size in bytes.
    const SIZE: usize;
    /// Reads one value from exactly `SIZE` bytes.
    fn read(bytes: &[u8]) -> Self;
    /// Writes one value into exactly `SIZE` bytes.
    fn write(self, bytes: &mut [u8]);
}

macro_rules! impl_element {
    ($($t:ty),*) => {$(
        impl Element for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn read(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(bytes);
                <$t>::from_ne_bytes(a)
            }
            fn write(self, bytes: &mut [u8]) {
                bytes.copy_from_slice(&self.to_ne_bytes());
            }
        }
    )*};
}
impl_element!(f32, f64, i8, u8, i16, u16, i32, u32, i64, u64);

/// A read-only input tensor. Its metadata is always valid; its data is
/// present for `run_op` on host memory and absent for `query_op`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorRef<'a> {
    pub(crate) dtype: DType,
    pub(crate) shape: &'a [i64],
    pub(crate) strides: &'a [i64],
    pub(crate) memory_kind: i32,
    /// The bytes from element (0, ..., 0) to the last reachable element.
    pub(crate) data: Option<&'a [u8]>,
}

impl<'a> TensorRef<'a> {
    /// A host tensor over `bytes`, for a backend's own unit tests: `bytes`
    /// starts at element (0, ..., 0) and must cover every element the strides
    /// reach. The same validation as for tensors arriving over the ABI.
    pub fn host(
        dtype: DType,
        shape: &'a [i64],
        strides: &'a [i64],
        bytes: &'a [u8],
    ) -> Result<Self, BackendError> {
        if shape.len() != strides.len() {
            return Err(BackendError::invalid("shape and strides differ in length"));
        }
        if shape.iter().chain(strides).any(|&v| v < 0) {
            return Err(BackendError::invalid("negative dimension or stride"));
        }
        let empty = shape.contains(&0);
        let span = if empty {
            0
        } else {
            1 + shape
                .iter()
                .zip(strides)
                .map(|(&d, &s)| (d as usize - 1) * s as usize)
                .sum::<usize>()
        };
        if bytes.len() < dtype.bytes_for(span) {
            return Err(BackendError::invalid(format!(
                "{} bytes do not cover {span} elements of {dtype}",
                bytes.len()
            )));
        }
        Ok(TensorRef {
            dtype,
            shape,
            strides,
            memory_kind: crate::ffi::XPU_MEMORY_HOST,
            data: if span == 0 { None } else { Some(bytes) },
        })
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Dimensions (all >= 0).
    pub fn shape(&self) -> &'a [i64] {
        self.shape
    }

    /// Strides in elements (all >= 0).
    pub fn strides(&self) -> &'a [i64] {
        self.strides
    }

    /// `XPU_MEMORY_*` of the data.
    pub fn memory_kind(&self) -> i32 {
        self.memory_kind
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().map(|&d| d as usize).product()
    }

    /// True when the strides are row-major contiguous (ignoring size-1 dims).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1i64;
        for (&d, &s) in self.shape.iter().zip(self.strides).rev() {
            if d != 1 && s != expected {
                return false;
            }
            expected *= d;
        }
        true
    }

    /// The raw bytes spanned by the tensor, starting at element (0, ..., 0);
    /// `None` during `query_op`, for device memory, or when empty.
    pub fn data(&self) -> Option<&'a [u8]> {
        self.data
    }

    /// Element offsets (in elements, from element (0, ..., 0)) in logical
    /// row-major order.
    pub fn offsets(&self) -> Vec<usize> {
        let n = self.numel();
        let mut out = Vec::with_capacity(n);
        if n == 0 {
            return out;
        }
        let nd = self.shape.len();
        let mut idx = vec![0i64; nd];
        let mut off: i64 = 0;
        for _ in 0..n {
            out.push(off as usize);
            for ax in (0..nd).rev() {
                idx[ax] += 1;
                off += self.strides[ax];
                if idx[ax] < self.shape[ax] {
                    break;
                }
                off -= self.strides[ax] * self.shape[ax];
                idx[ax] = 0;
            }
        }
        out
    }

    /// Reads every element in logical row-major order as `T`, which must have
    /// the dtype's size (e.g. `f32` for F32, `u16` for the bits of F16/BF16).
    /// A packed (4- or 2-bit) dtype reads as `u8`, one code per element
    /// (0..=15, 0..=3).
    pub fn read<T: Element>(&self) -> Result<Vec<T>, BackendError> {
        if self.dtype.is_packed() && T::SIZE == 1 {
            return self
                .read_codes()
                .map(|codes| codes.into_iter().map(|c| T::read(&[c])).collect());
        }
        if T::SIZE != self.dtype.size() {
            return Err(BackendError::internal(format!(
                "read of a {} tensor as a {}-byte type",
                self.dtype,
                T::SIZE
            )));
        }
        if self.numel() == 0 {
            return Ok(Vec::new());
        }
        let data = self
            .data
            .ok_or_else(|| BackendError::invalid("tensor data is not readable on the host"))?;
        if self.is_contiguous() {
            // The common case, without an offset table: one pass over the
            // bytes, which the compiler vectorises.
            let bytes = data
                .get(..self.numel() * T::SIZE)
                .ok_or_else(|| BackendError::invalid("tensor data is shorter than its shape"))?;
            return Ok(bytes.chunks_exact(T::SIZE).map(T::read).collect());
        }
        Ok(self
            .offsets()
            .into_iter()
            .map(|o| T::read(&data[o * T::SIZE..(o + 1) * T::SIZE]))
            .collect())
    }

    /// The codes of a packed tensor in logical order: element k of the
    /// stride grid is code k of the data ([`DType::packed_code`]).
    fn read_codes(&self) -> Result<Vec<u8>, BackendError> {
        if self.numel() == 0 {
            return Ok(Vec::new());
        }
        let data = self
            .data
            .ok_or_else(|| BackendError::invalid("tensor data is not readable on the host"))?;
        let dtype = self.dtype;
        let code = |k: usize| -> Result<u8, BackendError> {
            dtype
                .packed_code(data, k)
                .ok_or_else(|| BackendError::invalid("tensor data is shorter than its shape"))
        };
        if self.is_contiguous() {
            return (0..self.numel()).map(code).collect();
        }
        self.offsets().into_iter().map(code).collect()
    }
}

/// An output tensor: contiguous row-major, to be written in full.
///
/// A data-dependent output (ABI minor 2: NonZero, Compress, Unique,
/// NonMaxSuppression) is allocated at an upper bound ([`TensorMut::shape`])
/// and [`TensorMut::is_bounded`]; the backend calls
/// [`TensorMut::set_shape`] with the actual dimensions, which reports them
/// to the harness and narrows the tensor to that prefix of the buffer, then
/// writes it as usual.
#[derive(Debug)]
pub struct TensorMut<'a> {
    pub(crate) dtype: DType,
    pub(crate) shape: &'a [i64],
    pub(crate) data: &'a mut [u8],
    /// The harness's dims slot of a data-dependent output.
    pub(crate) reported: Option<&'a mut [i64]>,
    /// The shape set by [`TensorMut::set_shape`].
    pub(crate) actual: Option<Vec<i64>>,
}

impl<'a> TensorMut<'a> {
    /// A contiguous output over `bytes` (exactly `dtype.bytes_for(numel)`
    /// long), for a backend's own unit tests.
    pub fn host(dtype: DType, shape: &'a [i64], bytes: &'a mut [u8]) -> Result<Self, BackendError> {
        if shape.iter().any(|&d| d < 0) {
            return Err(BackendError::invalid("negative dimension"));
        }
        let n: usize = shape.iter().map(|&d| d as usize).product();
        if bytes.len() != dtype.bytes_for(n) {
            return Err(BackendError::invalid(format!(
                "{} bytes for {n} elements of {dtype}",
                bytes.len()
            )));
        }
        Ok(TensorMut {
            dtype,
            shape,
            data: bytes,
            reported: None,
            actual: None,
        })
    }

    /// [`TensorMut::host`] for a data-dependent output allocated at the
    /// bound `shape`, reporting its actual shape into `reported` (ndim
    /// entries), for a backend's own unit tests.
    pub fn host_bounded(
        dtype: DType,
        shape: &'a [i64],
        bytes: &'a mut [u8],
        reported: &'a mut [i64],
    ) -> Result<Self, BackendError> {
        if reported.len() != shape.len() {
            return Err(BackendError::invalid("reported shape of another rank"));
        }
        let mut t = Self::host(dtype, shape, bytes)?;
        t.reported = Some(reported);
        Ok(t)
    }

    /// Whether the harness allocated this output at an upper bound and
    /// expects [`TensorMut::set_shape`] (a data-dependent output).
    pub fn is_bounded(&self) -> bool {
        self.reported.is_some()
    }

    /// Reports the actual shape of a data-dependent output: same rank,
    /// each dimension within the allocated bound. Afterwards
    /// [`TensorMut::actual_shape`], [`TensorMut::numel`],
    /// [`TensorMut::bytes_mut`] and [`TensorMut::write`] refer to the
    /// contiguous prefix of that shape. An output of fixed shape accepts
    /// only its own shape.
    pub fn set_shape(&mut self, dims: &[i64]) -> Result<(), BackendError> {
        let fits = dims.len() == self.shape.len()
            && dims
                .iter()
                .zip(self.shape)
                .all(|(&d, &b)| (0..=b).contains(&d));
        let fixed = self.reported.is_none() && dims != self.shape;
        if !fits || fixed {
            return Err(BackendError::internal(format!(
                "output shape {dims:?} does not fit the {} allocation {:?}",
                if self.reported.is_some() {
                    "bound"
                } else {
                    "fixed"
                },
                self.shape
            )));
        }
        let n: usize = dims.iter().map(|&d| d as usize).product();
        let data = std::mem::take(&mut self.data);
        self.data = &mut data[..self.dtype.bytes_for(n)];
        if let Some(r) = self.reported.as_deref_mut() {
            r.copy_from_slice(dims);
        }
        self.actual = Some(dims.to_vec());
        Ok(())
    }

    /// The shape being written: the one given to [`TensorMut::set_shape`],
    /// else the allocated one.
    pub fn actual_shape(&self) -> &[i64] {
        self.actual.as_deref().unwrap_or(self.shape)
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Dimensions as allocated (for a data-dependent output, the bound).
    pub fn shape(&self) -> &'a [i64] {
        self.shape
    }

    /// Number of elements of [`TensorMut::actual_shape`].
    pub fn numel(&self) -> usize {
        self.actual_shape().iter().map(|&d| d as usize).product()
    }

    /// The output bytes, `dtype.bytes_for(numel)` long (of the actual shape).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.data
    }

    /// Writes all elements from `values` (row-major; length must be `numel`).
    /// A packed dtype takes `u8` codes (the low 4 or 2 bits of each are
    /// kept) and packs them two or four to a byte.
    pub fn write<T: Element>(&mut self, values: &[T]) -> Result<(), BackendError> {
        if self.dtype.is_packed() && T::SIZE == 1 {
            if values.len() != self.numel() {
                return Err(BackendError::internal(format!(
                    "output has {} elements, {} were computed",
                    self.numel(),
                    values.len()
                )));
            }
            self.data.fill(0);
            for (k, v) in values.iter().enumerate() {
                let mut code = [0u8];
                v.write(&mut code);
                self.dtype.set_packed_code(self.data, k, code[0]);
            }
            return Ok(());
        }
        if T::SIZE != self.dtype.size() {
            return Err(BackendError::internal(format!(
                "write of a {} tensor as a {}-byte type",
                self.dtype,
                T::SIZE
            )));
        }
        if values.len() != self.numel() {
            return Err(BackendError::internal(format!(
                "output has {} elements, {} were computed",
                self.numel(),
                values.len()
            )));
        }
        for (chunk, v) in self.data.chunks_exact_mut(T::SIZE).zip(values) {
            v.write(chunk);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_host_view_reads_in_logical_order() {
        // A 2x3 logical view of a 3x2 row-major buffer, transposed.
        let buf: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let t = TensorRef::host(DType::F32, &[2, 3], &[1, 2], &buf).unwrap();
        assert!(!t.is_contiguous());
        assert_eq!(t.read::<f32>().unwrap(), vec![1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
        assert!(TensorRef::host(DType::F32, &[2, 3], &[1, 2], &buf[..20]).is_err());
        assert!(
            t.read::<f64>().is_err(),
            "element size must match the dtype"
        );
    }

    #[test]
    fn output_writes_every_element() {
        let mut buf = vec![0u8; 8];
        let mut t = TensorMut::host(DType::F32, &[2], &mut buf).unwrap();
        t.write(&[1.5f32, -2.0]).unwrap();
        assert!(t.write(&[1.0f32]).is_err(), "length must match numel");
        assert_eq!(&buf[..4], &1.5f32.to_ne_bytes());
        assert!(TensorMut::host(DType::F32, &[3], &mut [0u8; 8]).is_err());
    }

    #[test]
    fn packed_tensors_read_and_write_nibbles_low_first() {
        // Three u4 elements take two bytes: 0x21 holds 1 (low) then 2.
        let mut buf = vec![0xFFu8; 2];
        let mut t = TensorMut::host(DType::U4, &[3], &mut buf).unwrap();
        t.write(&[1u8, 2, 3]).unwrap();
        assert_eq!(buf, [0x21, 0x03]);
        assert!(TensorMut::host(DType::I4, &[3], &mut [0u8; 1]).is_err());
        // A 2x2 transposed view of [1, 2, 3, 4] reads 1, 3, 2, 4.
        let bytes = [0x21u8, 0x43];
        let v = TensorRef::host(DType::I4, &[2, 2], &[1, 2], &bytes).unwrap();
        assert_eq!(v.read::<u8>().unwrap(), vec![1, 3, 2, 4]);
        assert!(TensorRef::host(DType::U4, &[5], &[1], &bytes).is_err());
        assert!(v.read::<u16>().is_err());
    }

    #[test]
    fn two_bit_tensors_pack_four_to_a_byte_lowest_bits_first() {
        // Five u2 elements take two bytes: 0b11_10_01_00 = 0xE4 holds 0, 1,
        // 2, 3 from the low bits up; the fifth (1) starts the next byte.
        let mut buf = vec![0xFFu8; 2];
        let mut t = TensorMut::host(DType::U2, &[5], &mut buf).unwrap();
        t.write(&[0u8, 1, 2, 3, 5]).unwrap();
        assert_eq!(buf, [0xE4, 0x01], "only the low two bits of 5 are kept");
        assert!(TensorMut::host(DType::I2, &[5], &mut [0u8; 1]).is_err());
        assert!(TensorMut::host(DType::I2, &[4], &mut [0u8; 1]).is_ok());
        // A 2x2 transposed view of the codes [0, 1, 2, 3] reads 0, 2, 1, 3.
        let v = TensorRef::host(DType::I2, &[2, 2], &[1, 2], &buf[..1]).unwrap();
        assert_eq!(v.read::<u8>().unwrap(), vec![0, 2, 1, 3]);
        assert!(TensorRef::host(DType::U2, &[5], &[1], &buf[..1]).is_err());
        // Every code of every position survives a write and a read.
        for k in 0..8 {
            for code in 0..4u8 {
                let mut data = [0x5Au8, 0xA5];
                let before = data;
                DType::U2.set_packed_code(&mut data, k, code);
                assert_eq!(DType::U2.packed_code(&data, k), Some(code));
                for j in (0..8).filter(|&j| j != k) {
                    assert_eq!(
                        DType::U2.packed_code(&data, j),
                        DType::U2.packed_code(&before, j),
                        "writing element {k} changed element {j}"
                    );
                }
            }
        }
        assert_eq!(DType::I2.packed_code(&[0u8; 2], 8), None);
        assert_eq!((DType::I2.bytes_for(5), DType::U2.bytes_for(8)), (2, 2));
    }

    #[test]
    fn a_bounded_output_reports_its_shape_and_writes_the_prefix() {
        let mut buf = vec![0xAAu8; 6 * 4];
        let mut dims = [2i64, 3];
        let bound = [2i64, 3];
        let mut t = TensorMut::host_bounded(DType::I32, &bound, &mut buf, &mut dims).unwrap();
        assert!(t.is_bounded());
        assert!(t.set_shape(&[2, 4]).is_err(), "beyond the bound");
        assert!(t.set_shape(&[6]).is_err(), "another rank");
        t.set_shape(&[2, 1]).unwrap();
        assert_eq!(t.numel(), 2);
        t.write(&[7i32, 8]).unwrap();
        assert_eq!(dims, [2, 1]);
        assert_eq!(&buf[..8], &[7, 0, 0, 0, 8, 0, 0, 0]);
        assert!(
            buf[8..].iter().all(|&b| b == 0xAA),
            "past the prefix untouched"
        );
        let mut fixed = vec![0u8; 8];
        let mut t = TensorMut::host(DType::F32, &[2], &mut fixed).unwrap();
        assert!(!t.is_bounded());
        assert!(t.set_shape(&[1]).is_err(), "a fixed output cannot shrink");
        t.set_shape(&[2]).unwrap();
    }
}
