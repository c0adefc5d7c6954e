//! Seeded input generation.
//!
//! Each input gets its own ChaCha8 stream keyed by sha256(case seed, input
//! index), and values are made from raw 64-bit words by the formulas below,
//! not by `rand_distr`, so the bytes of a case depend only on its id and
//! suite seed, never on crate versions, other cases or run order.

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use super::{Case, Distribution, InputSpec, Source, SpecialValue, TensorSpec};
use crate::numerics::{DType, HostTensor};

/// Generates every input of `case` as a logical, contiguous tensor (`None`
/// for absent inputs). Deterministic in `case.seed`.
pub fn generate_inputs(case: &Case) -> Vec<Option<HostTensor>> {
    case.inputs
        .iter()
        .enumerate()
        .map(|(i, inp)| match inp {
            InputSpec::Absent => None,
            InputSpec::Tensor(t) => Some(generate_tensor(t, case.seed, i)),
        })
        .collect()
}

/// Input `i` of `case` as the run will generate it, flattened to f64 (empty
/// for an absent input): what the load-time check reads value-dependent
/// inputs (indices, shapes, K, axes) through.
pub(crate) fn input_values(case: &Case, i: usize) -> Vec<f64> {
    match case.inputs.get(i) {
        Some(InputSpec::Tensor(t)) => generate_tensor(t, case.seed, i)
            .to_f64()
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

fn generate_tensor(t: &TensorSpec, seed: u64, index: usize) -> HostTensor {
    let mut key = Sha256::new();
    key.update(b"xpucert input");
    key.update(seed.to_le_bytes());
    key.update((index as u64).to_le_bytes());
    let mut rng = ChaCha8Rng::from_seed(key.finalize().into());
    let n = t.numel();
    let values: Vec<f64> = match &t.source {
        Source::Values(v) => v.clone(),
        Source::Dist(d) => (0..n).map(|i| sample(d, t.dtype, i, &mut rng)).collect(),
    };
    let arr = ArrayD::from_shape_vec(IxDyn(&t.shape), values)
        .expect("expansion checked that values match the shape");
    HostTensor::from_f64(t.dtype, &arr)
}

/// Uniform on [0, 1) with 53 random bits.
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform integer in [0, n) by a widening multiply (bias below 2^-64 * n).
fn below(rng: &mut ChaCha8Rng, n: u128) -> u128 {
    (u128::from(rng.next_u64()) * n) >> 64
}

fn sample(d: &Distribution, dtype: DType, index: usize, rng: &mut ChaCha8Rng) -> f64 {
    match d {
        Distribution::Uniform { low, high } => low + (high - low) * unit(rng),
        Distribution::Normal { mean, std } => {
            // Box-Muller, cosine branch only: one normal per two words.
            let u1 = 1.0 - unit(rng);
            let u2 = unit(rng);
            mean + std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        }
        Distribution::Int { low, high } => {
            let span = (*high as i128 - *low as i128 + 1) as u128;
            (*low as i128 + below(rng, span) as i128) as f64
        }
        Distribution::Bernoulli { p } => f64::from(u8::from(unit(rng) < *p)),
        Distribution::Arange { start, step } => start + step * index as f64,
        Distribution::Special {
            fraction,
            values,
            base,
        } => {
            if unit(rng) < *fraction {
                let v = values[below(rng, values.len() as u128) as usize];
                special(v, dtype, rng)
            } else {
                sample(base, dtype, index, rng)
            }
        }
    }
}

fn special(v: SpecialValue, dtype: DType, rng: &mut ChaCha8Rng) -> f64 {
    match v {
        SpecialValue::Nan => f64::NAN,
        SpecialValue::Inf => f64::INFINITY,
        SpecialValue::NegInf => f64::NEG_INFINITY,
        SpecialValue::NegZero => -0.0,
        SpecialValue::Denormal => {
            // Between 1/8 and 7/8 of the smallest normal: a subnormal in
            // every float dtype, even fp8 with its 3 mantissa bits.
            let mag = dtype_min_normal(dtype) * (0.125 + 0.75 * unit(rng));
            if rng.next_u64() & 1 == 1 { -mag } else { mag }
        }
        SpecialValue::Max => dtype_max(dtype),
        SpecialValue::MinNormal => dtype_min_normal(dtype),
    }
}

/// Largest finite value of a float dtype (the type's maximum for integers).
pub fn dtype_max(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => f64::MAX,
        DType::F32 => f32::MAX as f64,
        DType::F16 => f16::MAX.to_f64(),
        DType::BF16 => bf16::MAX.to_f64(),
        DType::F8E4M3FN => 448.0,
        DType::F8E5M2 | DType::F8E5M2FNUZ => 57344.0,
        DType::F8E4M3FNUZ => 240.0,
        DType::F8E8M0 => 2f64.powi(127),
        DType::F4E2M1 => 6.0,
        DType::I4 => 7.0,
        DType::U4 => 15.0,
        DType::I2 => 1.0,
        DType::U2 => 3.0,
        DType::I8 => i8::MAX as f64,
        DType::U8 => u8::MAX as f64,
        DType::I16 => i16::MAX as f64,
        DType::U16 => u16::MAX as f64,
        DType::I32 => i32::MAX as f64,
        DType::U32 => u32::MAX as f64,
        DType::I64 => i64::MAX as f64,
        DType::U64 => u64::MAX as f64,
        DType::Bool => 1.0,
    }
}

/// Smallest positive normal value of a float dtype (1 for integers).
pub fn dtype_min_normal(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => f64::MIN_POSITIVE,
        DType::F32 => f32::MIN_POSITIVE as f64,
        DType::F16 | DType::F8E5M2 => 2f64.powi(-14),
        DType::BF16 => 2f64.powi(-126),
        DType::F8E4M3FN => 2f64.powi(-6),
        DType::F8E4M3FNUZ => 2f64.powi(-7),
        DType::F8E5M2FNUZ => 2f64.powi(-15),
        DType::F8E8M0 => 2f64.powi(-127),
        _ => 1.0,
    }
}
