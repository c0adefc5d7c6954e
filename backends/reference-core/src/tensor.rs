//! The backend's own tensor: a contiguous row-major buffer with a shape.
//!
//! Inputs arrive as strided [`xpucert_abi::TensorRef`] views; `lib.rs` gathers
//! them once into a [`Tensor`] (through `TensorRef::read`, which honours the
//! strides), and every kernel works on contiguous data from then on. Floating
//! point kernels are generic over [`Real`] (f32 or f64); f16 and bf16 tensors
//! are widened to f32 on the way in and rounded to nearest even on the way out.

use half::{bf16, f16};
use xpucert_abi::{BackendError, DType};

use crate::fp8::Fp8;
use crate::narrow;

/// The elements of a tensor, in logical row-major order, in their storage type.
/// f16, bf16 and the fp8 formats are kept as raw bit patterns; bool is one
/// byte, 0 or 1.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// IEEE binary64
    F64(Vec<f64>),
    /// IEEE binary32
    F32(Vec<f32>),
    /// IEEE binary16, as bits
    F16(Vec<u16>),
    /// bfloat16, as bits
    BF16(Vec<u16>),
    /// fp8 E4M3FN, as bits (see [`crate::fp8`])
    F8E4M3FN(Vec<u8>),
    /// fp8 E5M2, as bits (see [`crate::fp8`])
    F8E5M2(Vec<u8>),
    /// signed 64-bit integers
    I64(Vec<i64>),
    /// signed 32-bit integers
    I32(Vec<i32>),
    /// signed 8-bit integers
    I8(Vec<i8>),
    /// unsigned 8-bit integers
    U8(Vec<u8>),
    /// signed 16-bit integers (quantized data only)
    I16(Vec<i16>),
    /// unsigned 16-bit integers
    U16(Vec<u16>),
    /// unsigned 32-bit integers
    U32(Vec<u32>),
    /// unsigned 64-bit integers
    U64(Vec<u64>),
    /// booleans, one byte each (0 or 1)
    Bool(Vec<u8>),
    /// The narrow types without arithmetic of their own (fp8 fnuz, E8M0,
    /// FP4 E2M1, int4, uint4, int2, uint2), one code per element (the 4- and
    /// 2-bit types unpacked, code in the low bits); see [`crate::narrow`].
    Codes(DType, Vec<u8>),
}

/// Applies one expression to the vector inside any [`Data`] variant and wraps
/// the result in the same variant. The expression must type-check for every
/// element type (it is usually a pure data-movement operation).
macro_rules! map_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            Data::F64($v) => Data::F64($body),
            Data::F32($v) => Data::F32($body),
            Data::F16($v) => Data::F16($body),
            Data::BF16($v) => Data::BF16($body),
            Data::F8E4M3FN($v) => Data::F8E4M3FN($body),
            Data::F8E5M2($v) => Data::F8E5M2($body),
            Data::I64($v) => Data::I64($body),
            Data::I32($v) => Data::I32($body),
            Data::I8($v) => Data::I8($body),
            Data::U8($v) => Data::U8($body),
            Data::I16($v) => Data::I16($body),
            Data::U16($v) => Data::U16($body),
            Data::U32($v) => Data::U32($body),
            Data::U64($v) => Data::U64($body),
            Data::Bool($v) => Data::Bool($body),
            Data::Codes(d, $v) => Data::Codes(*d, $body),
        }
    };
}

/// Runs `$body` with `$T` bound to the type a float dtype is computed in
/// (f32 for f32/f16/bf16, f64 for f64); any other dtype is unsupported.
macro_rules! with_real {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            xpucert_abi::DType::F32 | xpucert_abi::DType::F16 | xpucert_abi::DType::BF16 => {
                type $T = f32;
                $body
            }
            xpucert_abi::DType::F64 => {
                type $T = f64;
                $body
            }
            other => Err(xpucert_abi::BackendError::unsupported(format!(
                "dtype {other} is not a floating-point type this backend computes in"
            ))),
        }
    };
}
pub(crate) use with_real;

impl Data {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            Data::F64(_) => DType::F64,
            Data::F32(_) => DType::F32,
            Data::F16(_) => DType::F16,
            Data::BF16(_) => DType::BF16,
            Data::F8E4M3FN(_) => DType::F8E4M3FN,
            Data::F8E5M2(_) => DType::F8E5M2,
            Data::I64(_) => DType::I64,
            Data::I32(_) => DType::I32,
            Data::I8(_) => DType::I8,
            Data::U8(_) => DType::U8,
            Data::I16(_) => DType::I16,
            Data::U16(_) => DType::U16,
            Data::U32(_) => DType::U32,
            Data::U64(_) => DType::U64,
            Data::Bool(_) => DType::Bool,
            Data::Codes(d, _) => *d,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Data::F64(v) => v.len(),
            Data::F32(v) => v.len(),
            Data::F16(v) | Data::BF16(v) | Data::U16(v) => v.len(),
            Data::I64(v) => v.len(),
            Data::I32(v) => v.len(),
            Data::I16(v) => v.len(),
            Data::U32(v) => v.len(),
            Data::U64(v) => v.len(),
            Data::I8(v) => v.len(),
            Data::U8(v) | Data::Bool(v) | Data::F8E4M3FN(v) | Data::F8E5M2(v) => v.len(),
            Data::Codes(_, v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new buffer holding `self[i]` for every `i` in `index` (callers
    /// guarantee the indices are in range).
    pub fn gather(&self, index: &[usize]) -> Data {
        map_data!(self, v => index.iter().map(|&i| v[i]).collect())
    }

    /// Like [`Data::gather`], with `None` reading a zero of the dtype (all
    /// bits clear: +0.0, 0, false): padding of the sampling ops.
    pub fn gather_or_zero(&self, index: &[Option<usize>]) -> Data {
        map_data!(self, v => index
            .iter()
            .map(|i| i.map_or(Default::default(), |i| v[i]))
            .collect())
    }

    /// The elements of all `parts` one after the other; every part must have
    /// the dtype of the first (checked, an internal error otherwise).
    pub fn concat(parts: &[&Data]) -> Result<Data, BackendError> {
        let first = parts
            .first()
            .ok_or_else(|| BackendError::internal("concatenation of no buffers"))?;
        let mut out = map_data!(first, v => Vec::with_capacity(v.len()));
        for part in parts {
            match (&mut out, part) {
                (Data::F64(o), Data::F64(v)) => o.extend_from_slice(v),
                (Data::F32(o), Data::F32(v)) => o.extend_from_slice(v),
                (Data::F16(o), Data::F16(v))
                | (Data::BF16(o), Data::BF16(v))
                | (Data::U16(o), Data::U16(v)) => o.extend_from_slice(v),
                (Data::I64(o), Data::I64(v)) => o.extend_from_slice(v),
                (Data::I32(o), Data::I32(v)) => o.extend_from_slice(v),
                (Data::I16(o), Data::I16(v)) => o.extend_from_slice(v),
                (Data::U32(o), Data::U32(v)) => o.extend_from_slice(v),
                (Data::U64(o), Data::U64(v)) => o.extend_from_slice(v),
                (Data::I8(o), Data::I8(v)) => o.extend_from_slice(v),
                (Data::U8(o), Data::U8(v))
                | (Data::Bool(o), Data::Bool(v))
                | (Data::F8E4M3FN(o), Data::F8E4M3FN(v))
                | (Data::F8E5M2(o), Data::F8E5M2(v)) => o.extend_from_slice(v),
                (Data::Codes(d, o), Data::Codes(e, v)) if d == e => o.extend_from_slice(v),
                (o, p) => {
                    return Err(BackendError::internal(format!(
                        "concatenation of {} and {} buffers",
                        o.dtype(),
                        p.dtype()
                    )));
                }
            }
        }
        Ok(out)
    }

    /// The elements' bytes in native order, as they are stored in an ABI
    /// buffer of this dtype.
    pub fn to_ne_bytes(&self) -> Vec<u8> {
        fn bytes<T: xpucert_abi::Element>(v: &[T]) -> Vec<u8> {
            let mut out = vec![0u8; v.len() * T::SIZE];
            for (x, chunk) in v.iter().zip(out.chunks_exact_mut(T::SIZE)) {
                x.write(chunk);
            }
            out
        }
        match self {
            Data::F64(v) => bytes(v),
            Data::F32(v) => bytes(v),
            Data::F16(v) | Data::BF16(v) | Data::U16(v) => bytes(v),
            Data::I64(v) => bytes(v),
            Data::I32(v) => bytes(v),
            Data::I16(v) => bytes(v),
            Data::U32(v) => bytes(v),
            Data::U64(v) => bytes(v),
            Data::I8(v) => bytes(v),
            Data::U8(v) | Data::Bool(v) | Data::F8E4M3FN(v) | Data::F8E5M2(v) => v.clone(),
            Data::Codes(d, v) if d.is_packed() => {
                let mut out = vec![0u8; d.bytes_for(v.len())];
                for (k, &c) in v.iter().enumerate() {
                    d.set_packed_code(&mut out, k, c);
                }
                out
            }
            Data::Codes(_, v) => v.clone(),
        }
    }
}

/// A contiguous row-major tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions; the product equals `data.len()`.
    pub shape: Vec<usize>,
    /// The elements.
    pub data: Data,
}

impl Tensor {
    /// A tensor from a shape and data whose length matches it.
    pub fn new(shape: Vec<usize>, data: Data) -> Result<Tensor, BackendError> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(BackendError::internal(format!(
                "shape {shape:?} holds {n} elements, the buffer {}",
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }

    /// An f32 tensor (convenience for kernels and tests).
    pub fn f32(shape: &[usize], values: Vec<f32>) -> Result<Tensor, BackendError> {
        Tensor::new(shape.to_vec(), Data::F32(values))
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The elements widened (exactly) to the compute type `T`; an error for
    /// non-float tensors.
    pub fn to_real<T: Real>(&self) -> Result<Vec<T>, BackendError> {
        Ok(match &self.data {
            Data::F64(v) => v.iter().map(|&x| T::from_f64(x)).collect(),
            Data::F32(v) => v.iter().map(|&x| T::from_f32(x)).collect(),
            Data::F16(v) => v
                .iter()
                .map(|&b| T::from_f32(f16::from_bits(b).to_f32()))
                .collect(),
            Data::BF16(v) => v
                .iter()
                .map(|&b| T::from_f32(bf16::from_bits(b).to_f32()))
                .collect(),
            Data::F8E4M3FN(v) => v
                .iter()
                .map(|&b| T::from_f32(Fp8::E4M3FN.decode(b)))
                .collect(),
            Data::F8E5M2(v) => v
                .iter()
                .map(|&b| T::from_f32(Fp8::E5M2.decode(b)))
                .collect(),
            Data::Codes(DType::F8E4M3FNUZ, v) => v
                .iter()
                .map(|&b| T::from_f32(Fp8::E4M3FNUZ.decode(b)))
                .collect(),
            Data::Codes(DType::F8E5M2FNUZ, v) => v
                .iter()
                .map(|&b| T::from_f32(Fp8::E5M2FNUZ.decode(b)))
                .collect(),
            Data::Codes(DType::F4E2M1, v) => v
                .iter()
                .map(|&b| T::from_f32(narrow::fp4_decode(b)))
                .collect(),
            Data::Codes(DType::F8E8M0, v) => v
                .iter()
                .map(|&b| T::from_f64(narrow::e8m0_decode(b)))
                .collect(),
            other => {
                return Err(BackendError::unsupported(format!(
                    "{} tensor where a floating-point one is needed",
                    other.dtype()
                )));
            }
        })
    }

    /// A tensor of float dtype `dtype` from compute-type values, each rounded
    /// to nearest even.
    pub fn from_real<T: Real>(
        dtype: DType,
        shape: Vec<usize>,
        values: Vec<T>,
    ) -> Result<Tensor, BackendError> {
        let data = match dtype {
            DType::F64 => Data::F64(values.into_iter().map(Real::to_f64).collect()),
            DType::F32 => Data::F32(values.into_iter().map(Real::to_f32).collect()),
            DType::F16 => Data::F16(values.into_iter().map(Real::to_f16_bits).collect()),
            DType::BF16 => Data::BF16(values.into_iter().map(Real::to_bf16_bits).collect()),
            other => {
                return Err(BackendError::internal(format!(
                    "float result requested as {other}"
                )));
            }
        };
        Tensor::new(shape, data)
    }

    /// The elements of an integer index tensor (int64, or int32 widened).
    pub fn to_indices(&self) -> Result<Vec<i64>, BackendError> {
        match &self.data {
            Data::I64(v) => Ok(v.clone()),
            Data::I32(v) => Ok(v.iter().map(|&x| i64::from(x)).collect()),
            other => Err(BackendError::unsupported(format!(
                "index tensor of dtype {}",
                other.dtype()
            ))),
        }
    }
}

/// Rounds an f64 to the f32 nearest it in the "round to odd" sense: exact
/// values are kept, inexact ones are truncated toward zero with the last bit
/// set. A second rounding of the result to any format with at least two fewer
/// significand bits (f16, bf16) is then the correctly rounded f64 conversion,
/// which a plain f64 -> f32 -> f16 chain is not (double rounding).
fn f64_to_f32_round_odd(x: f64) -> f32 {
    if x.is_nan() {
        return f32::NAN;
    }
    let nearest = x as f32;
    if f64::from(nearest) == x {
        return nearest;
    }
    let toward_zero = if f64::from(nearest).abs() > x.abs() {
        // Rounded away from zero (possibly to infinity): step back one ulp.
        f32::from_bits(nearest.to_bits() - 1)
    } else {
        nearest
    };
    f32::from_bits(toward_zero.to_bits() | 1)
}

/// The floating-point types kernels compute in: f32 (for f32, f16, bf16) and
/// f64. Conversions to the storage types round to nearest even.
pub trait Real:
    Copy
    + PartialOrd
    + std::fmt::Debug
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + std::ops::AddAssign
    + std::ops::MulAssign
    + std::ops::DivAssign
    + Send
    + Sync
    + ndarray::LinalgScalar
    + 'static
{
    /// 0
    const ZERO: Self;
    /// 1
    const ONE: Self;
    /// -infinity
    const NEG_INFINITY: Self;
    /// From an f32, exactly.
    fn from_f32(v: f32) -> Self;
    /// From an f64, rounding to nearest even if needed.
    fn from_f64(v: f64) -> Self;
    /// To f64, exactly.
    fn to_f64(self) -> f64;
    /// To f32, rounding to nearest even.
    fn to_f32(self) -> f32;
    /// To f16 bits, rounding to nearest even (once).
    fn to_f16_bits(self) -> u16;
    /// To bf16 bits, rounding to nearest even (once).
    fn to_bf16_bits(self) -> u16;
    /// e^x
    fn exp(self) -> Self;
    /// natural logarithm
    fn ln(self) -> Self;
    /// ln(1 + x), accurate near 0
    fn ln_1p(self) -> Self;
    /// square root
    fn sqrt(self) -> Self;
    /// hyperbolic tangent
    fn tanh(self) -> Self;
    /// error function
    fn erf(self) -> Self;
    /// NaN test
    fn is_nan(self) -> bool;
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    fn from_f32(v: f32) -> Self {
        v
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn to_f16_bits(self) -> u16 {
        f16::from_f32(self).to_bits()
    }
    fn to_bf16_bits(self) -> u16 {
        bf16::from_f32(self).to_bits()
    }
    fn exp(self) -> Self {
        f32::exp(self)
    }
    fn ln(self) -> Self {
        f32::ln(self)
    }
    fn ln_1p(self) -> Self {
        f32::ln_1p(self)
    }
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    fn tanh(self) -> Self {
        f32::tanh(self)
    }
    fn erf(self) -> Self {
        libm::erff(self)
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    fn from_f32(v: f32) -> Self {
        f64::from(v)
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn to_f16_bits(self) -> u16 {
        // half's own f64 conversion drops the low 32 significand bits before
        // rounding, which breaks ties wrongly; round to odd first instead.
        f16::from_f32(f64_to_f32_round_odd(self)).to_bits()
    }
    fn to_bf16_bits(self) -> u16 {
        bf16::from_f32(f64_to_f32_round_odd(self)).to_bits()
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn ln(self) -> Self {
        f64::ln(self)
    }
    fn ln_1p(self) -> Self {
        f64::ln_1p(self)
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
    fn erf(self) -> Self {
        libm::erf(self)
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_and_bf16_results_round_to_nearest_even() {
        // 1 + 2^-11 is halfway between f16 1.0 and 1 + 2^-10: ties go to even (1.0).
        let tie = 1.0f32 + f32::powi(2.0, -11);
        assert_eq!(tie.to_f16_bits(), 0x3C00);
        // Just above the tie rounds up.
        let above = 1.0f32 + f32::powi(2.0, -11) + f32::powi(2.0, -20);
        assert_eq!(above.to_f16_bits(), 0x3C01);
        // bf16: 1 + 2^-8 is a tie between 1.0 (0x3F80) and 1 + 2^-7 (0x3F81).
        assert_eq!((1.0f32 + f32::powi(2.0, -8)).to_bf16_bits(), 0x3F80);
        assert_eq!((1.0f32 + 3.0 * f32::powi(2.0, -8)).to_bf16_bits(), 0x3F82);
    }

    #[test]
    fn f64_to_half_rounds_once() {
        // A tie in the upper bits with a sticky bit far below: must round up.
        let x = 1.0f64 + 2f64.powi(-11) + 2f64.powi(-40);
        assert_eq!(x.to_f16_bits(), 0x3C01);
        let y = 1.0f64 + 2f64.powi(-8) + 2f64.powi(-45);
        assert_eq!(y.to_bf16_bits(), 0x3F81);
        // Exact ties still go to even, and huge values overflow to infinity.
        assert_eq!((1.0f64 + 2f64.powi(-11)).to_f16_bits(), 0x3C00);
        assert_eq!(1e300f64.to_f16_bits(), 0x7C00);
        assert_eq!((-1e300f64).to_bf16_bits(), 0xFF80);
        assert!(f16::from_bits(f64::NAN.to_f16_bits()).is_nan());
    }

    #[test]
    fn widening_and_gather() {
        let t = Tensor::new(vec![3], Data::F16(vec![0x3C00, 0xC000, 0x3800])).unwrap();
        assert_eq!(t.to_real::<f32>().unwrap(), vec![1.0, -2.0, 0.5]);
        assert_eq!(t.data.gather(&[2, 0]), Data::F16(vec![0x3800, 0x3C00]));
        let ints = Tensor::new(vec![2], Data::I32(vec![-1, 7])).unwrap();
        assert_eq!(ints.to_indices().unwrap(), vec![-1, 7]);
        assert!(ints.to_real::<f32>().is_err());
        assert!(Tensor::new(vec![2, 2], Data::F32(vec![1.0])).is_err());
    }
}
