//! The storage dtypes of the fused kernels: how a float dtype's bytes are
//! widened to its compute type and rounded back, and reading inputs as
//! bytes.

use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
use half::{bf16, f16};
use xpucert_abi::{DType, TensorRef};

use super::BLOCK;
use crate::tensor::Real;

/// A float storage dtype and the type it is computed in. `widen` and
/// `narrow` convert between native-endian bytes and compute values exactly
/// like `Tensor::to_real` / `Tensor::from_real` (f16/bf16 through `half`,
/// rounding to nearest even once).
pub trait Storage: 'static {
    /// The compute type.
    type C: Real;
    /// The dtype.
    const DTYPE: DType;
    /// Bytes per element.
    const SIZE: usize;
    /// `dst[i]` = element `i` of `src` (`src.len() == dst.len() * SIZE`).
    fn widen(src: &[u8], dst: &mut [Self::C]);
    /// Element `i` of `dst` = `src[i]` rounded (`dst.len() == src.len() * SIZE`).
    fn narrow(src: &[Self::C], dst: &mut [u8]);
    /// True when [`Storage::get`] and [`Storage::put`] are cheap, branch-free
    /// and vectorisable, so kernels can run element by element straight
    /// over the bytes (f16 instead converts whole blocks, which is where
    /// `half` uses the F16C instructions).
    const DIRECT: bool;
    /// One element from exactly `SIZE` bytes.
    fn get(b: &[u8]) -> Self::C;
    /// One element into exactly `SIZE` bytes.
    fn put(v: Self::C, b: &mut [u8]);
}

/// IEEE binary32.
pub struct F32;
/// IEEE binary64.
pub struct F64;
/// IEEE binary16, computed in f32.
pub struct F16;
/// bfloat16, computed in f32.
pub struct Bf16;

impl Storage for F32 {
    type C = f32;
    const DTYPE: DType = DType::F32;
    const SIZE: usize = 4;
    fn widen(src: &[u8], dst: &mut [f32]) {
        for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
            *d = f32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
        }
    }
    fn narrow(src: &[f32], dst: &mut [u8]) {
        for (c, v) in dst.chunks_exact_mut(4).zip(src) {
            c.copy_from_slice(&v.to_ne_bytes());
        }
    }
    const DIRECT: bool = true;
    #[inline(always)]
    fn get(b: &[u8]) -> f32 {
        f32::from_ne_bytes([b[0], b[1], b[2], b[3]])
    }
    #[inline(always)]
    fn put(v: f32, b: &mut [u8]) {
        b.copy_from_slice(&v.to_ne_bytes());
    }
}

impl Storage for F64 {
    type C = f64;
    const DTYPE: DType = DType::F64;
    const SIZE: usize = 8;
    fn widen(src: &[u8], dst: &mut [f64]) {
        for (d, c) in dst.iter_mut().zip(src.chunks_exact(8)) {
            *d = f64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        }
    }
    fn narrow(src: &[f64], dst: &mut [u8]) {
        for (c, v) in dst.chunks_exact_mut(8).zip(src) {
            c.copy_from_slice(&v.to_ne_bytes());
        }
    }
    const DIRECT: bool = true;
    #[inline(always)]
    fn get(b: &[u8]) -> f64 {
        f64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }
    #[inline(always)]
    fn put(v: f64, b: &mut [u8]) {
        b.copy_from_slice(&v.to_ne_bytes());
    }
}

impl Storage for F16 {
    type C = f32;
    const DTYPE: DType = DType::F16;
    const SIZE: usize = 2;
    fn widen(src: &[u8], dst: &mut [f32]) {
        // half's slice conversion uses the same (hardware or software)
        // conversion as `f16::to_f32`, several elements at a time.
        let mut bits = [0u16; BLOCK];
        for (s, d) in src.chunks(2 * BLOCK).zip(dst.chunks_mut(BLOCK)) {
            let m = d.len().min(s.len() / 2);
            for (b, c) in bits[..m].iter_mut().zip(s.chunks_exact(2)) {
                *b = u16::from_ne_bytes([c[0], c[1]]);
            }
            bits[..m]
                .reinterpret_cast::<f16>()
                .convert_to_f32_slice(&mut d[..m]);
        }
    }
    fn narrow(src: &[f32], dst: &mut [u8]) {
        let mut h = [f16::ZERO; BLOCK];
        for (s, d) in src.chunks(BLOCK).zip(dst.chunks_mut(2 * BLOCK)) {
            let m = s.len().min(d.len() / 2);
            h[..m].convert_from_f32_slice(&s[..m]);
            for (c, v) in d.chunks_exact_mut(2).zip(&h[..m]) {
                c.copy_from_slice(&v.to_bits().to_ne_bytes());
            }
        }
    }
    const DIRECT: bool = false;
    fn get(b: &[u8]) -> f32 {
        f16::from_bits(u16::from_ne_bytes([b[0], b[1]])).to_f32()
    }
    fn put(v: f32, b: &mut [u8]) {
        b.copy_from_slice(&f16::from_f32(v).to_bits().to_ne_bytes());
    }
}

impl Storage for Bf16 {
    type C = f32;
    const DTYPE: DType = DType::BF16;
    const SIZE: usize = 2;
    fn widen(src: &[u8], dst: &mut [f32]) {
        for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
            *d = Self::get(c);
        }
    }
    fn narrow(src: &[f32], dst: &mut [u8]) {
        for (c, v) in dst.chunks_exact_mut(2).zip(src) {
            Self::put(*v, c);
        }
    }
    const DIRECT: bool = true;
    #[inline(always)]
    fn get(b: &[u8]) -> f32 {
        bf16_to_f32(u16::from_ne_bytes([b[0], b[1]]))
    }
    #[inline(always)]
    fn put(v: f32, b: &mut [u8]) {
        b.copy_from_slice(&f32_to_bf16(v).to_ne_bytes());
    }
}

/// `bf16::to_f32` written without branches (a select), so loops over it
/// vectorise: NaNs get the quiet bit set as in `half`, everything else is
/// exact. Checked against `half` on all 2^16 patterns.
#[inline(always)]
pub(super) fn bf16_to_f32(i: u16) -> f32 {
    let quiet = if i & 0x7FFF > 0x7F80 { 0x0040 } else { 0 };
    f32::from_bits(u32::from(i | quiet) << 16)
}

/// `bf16::from_f32` (round to nearest even; NaN keeps its upper payload
/// with the quiet bit set) without branches. Adding 0x7FFF plus the lowest
/// kept bit carries into the kept bits exactly when the dropped half is
/// above one half, or exactly one half with an odd kept part. Checked
/// against `half` on a dense sweep of f32 patterns.
#[inline(always)]
pub(super) fn f32_to_bf16(v: f32) -> u16 {
    let x = v.to_bits();
    // Selected in 32-bit lanes, narrowed once (vectorises better).
    let rounded = x.wrapping_add(0x7FFF + ((x >> 16) & 1));
    let nan = x | 0x0040_0000;
    let y = if x & 0x7FFF_FFFF > 0x7F80_0000 {
        nan
    } else {
        rounded
    };
    (y >> 16) as u16
}

/// The bytes of a contiguous input of dtype `dtype`, exactly its elements.
pub(crate) fn contiguous<'a>(t: &TensorRef<'a>, dtype: DType) -> Option<&'a [u8]> {
    if t.dtype() != dtype || !t.is_contiguous() {
        return None;
    }
    t.data()?.get(..t.numel() * dtype.size())
}

/// An ABI shape as `usize` dimensions.
pub(crate) fn dims(shape: &[i64]) -> Vec<usize> {
    shape.iter().map(|&d| d as usize).collect()
}

/// Any float tensor (strided allowed; small parameters only) widened to `C`
/// exactly as `Tensor::to_real` widens it.
pub(super) fn widen_any<C: Real>(t: &TensorRef<'_>) -> Option<Vec<C>> {
    Some(match t.dtype() {
        DType::F64 => t.read::<f64>().ok()?.into_iter().map(C::from_f64).collect(),
        DType::F32 => t.read::<f32>().ok()?.into_iter().map(C::from_f32).collect(),
        DType::F16 => t
            .read::<u16>()
            .ok()?
            .into_iter()
            .map(|b| C::from_f32(f16::from_bits(b).to_f32()))
            .collect(),
        DType::BF16 => t
            .read::<u16>()
            .ok()?
            .into_iter()
            .map(|b| C::from_f32(bf16::from_bits(b).to_f32()))
            .collect(),
        _ => return None,
    })
}
