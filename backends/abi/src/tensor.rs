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
#[derive(Debug, Clone)]
pub struct TensorRef<'a> {
    pub(crate) dtype: DType,
    pub(crate) shape: &'a [i64],
    pub(crate) strides: &'a [i64],
    pub(crate) memory_kind: i32,
    /// The bytes from element (0, ..., 0) to the last reachable element.
    pub(crate) data: Option<&'a [u8]>,
}

impl<'a> TensorRef<'a> {
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
    pub fn read<T: Element>(&self) -> Result<Vec<T>, BackendError> {
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
        Ok(self
            .offsets()
            .into_iter()
            .map(|o| T::read(&data[o * T::SIZE..(o + 1) * T::SIZE]))
            .collect())
    }
}

/// An output tensor: contiguous row-major, to be written in full.
#[derive(Debug)]
pub struct TensorMut<'a> {
    pub(crate) dtype: DType,
    pub(crate) shape: &'a [i64],
    pub(crate) data: &'a mut [u8],
}

impl<'a> TensorMut<'a> {
    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Dimensions.
    pub fn shape(&self) -> &'a [i64] {
        self.shape
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().map(|&d| d as usize).product()
    }

    /// The output bytes, `numel * dtype.size()` long.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.data
    }

    /// Writes all elements from `values` (row-major; length must be `numel`).
    pub fn write<T: Element>(&mut self, values: &[T]) -> Result<(), BackendError> {
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
