//! MatMul and Gemm with a choice of accumulation and input rounding: the
//! honest reorderings (reversed, pairwise, blocked, FMA, f64) and the
//! precision substitutions (tf32 or bf16 inputs, bf16 or half accumulators).

use half::{bf16, f16};
use xpucert_abi::{BackendError, DType};
use xpucert_reference_core::layout::{broadcast_offsets, broadcast_shapes};
use xpucert_reference_core::tensor::Tensor;

use super::io::{Loaded, computes_in_f32, f32s, from_f32};

/// How one dot product is accumulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acc {
    /// k from last to first.
    Reversed,
    /// Recursive halving (error grows like log k instead of k).
    Pairwise,
    /// `acc = fma(a, b, acc)`: one rounding per step instead of two.
    Fma,
    /// Partial sums over blocks of 64 k, then the partials summed: a tiled
    /// kernel's order.
    Blocked,
    /// In f64, rounded once at the end (more accurate than the reference).
    F64,
    /// The running sum rounded to bf16 after every step (a fault for f32).
    Bf16,
    /// The running sum rounded to the call's own half dtype after every step
    /// (a fault when f32 accumulation is declared).
    Half,
    /// Plain k order (the reference's).
    Sequential,
    /// Fault: the last k term dropped (a remainder loop that stops one short).
    DropLastK,
}

/// How the inputs are rounded before the products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputRound {
    /// Used as given.
    None,
    /// To TensorFloat-32 (10 explicit mantissa bits), nearest even.
    Tf32,
    /// To bf16, nearest even.
    Bf16,
}

/// Rounds an f32 to tf32 (1 + 10 significand bits), nearest even.
pub fn round_tf32(x: f32) -> f32 {
    if !x.is_finite() {
        return x;
    }
    let bits = x.to_bits();
    let dropped = 13;
    let half = 1u32 << (dropped - 1);
    let odd = (bits >> dropped) & 1;
    let rounded = bits.wrapping_add(half - 1 + odd) & !((1u32 << dropped) - 1);
    f32::from_bits(rounded)
}

/// Input rounding applies to f32 calls only: f16 and bf16 inputs are
/// already narrower than any of the formats.
fn round_input(r: InputRound, x: f32) -> f32 {
    match r {
        InputRound::None => x,
        InputRound::Tf32 => round_tf32(x),
        InputRound::Bf16 => bf16::from_f32(x).to_f32(),
    }
}

fn pairwise(a: &[f32], b: &[f32]) -> f32 {
    if a.len() <= 8 {
        let mut s = 0.0f32;
        for (x, y) in a.iter().zip(b) {
            s += x * y;
        }
        return s;
    }
    let h = a.len() / 2;
    pairwise(&a[..h], &b[..h]) + pairwise(&a[h..], &b[h..])
}

/// One dot product under `acc`; `half` is the call's dtype for [`Acc::Half`].
pub fn dot(acc: Acc, half: DType, a: &[f32], b: &[f32]) -> f32 {
    match acc {
        Acc::Sequential => a.iter().zip(b).fold(0.0, |s, (x, y)| s + x * y),
        Acc::DropLastK => {
            let k = a.len().saturating_sub(1);
            dot(Acc::Sequential, half, &a[..k], &b[..k])
        }
        Acc::Reversed => a.iter().zip(b).rev().fold(0.0, |s, (x, y)| s + x * y),
        Acc::Pairwise => pairwise(a, b),
        Acc::Fma => a.iter().zip(b).fold(0.0, |s, (x, y)| x.mul_add(*y, s)),
        Acc::Blocked => {
            let mut total = 0.0f32;
            for (ca, cb) in a.chunks(64).zip(b.chunks(64)) {
                total += ca.iter().zip(cb).fold(0.0, |s, (x, y)| s + x * y);
            }
            total
        }
        Acc::F64 => a
            .iter()
            .zip(b)
            .fold(0.0f64, |s, (x, y)| s + f64::from(*x) * f64::from(*y)) as f32,
        Acc::Bf16 => a
            .iter()
            .zip(b)
            .fold(0.0, |s, (x, y)| bf16::from_f32(x.mul_add(*y, s)).to_f32()),
        Acc::Half => a.iter().zip(b).fold(0.0, |s, (x, y)| {
            let t = x.mul_add(*y, s);
            match half {
                DType::BF16 => bf16::from_f32(t).to_f32(),
                _ => f16::from_f32(t).to_f32(),
            }
        }),
    }
}

/// `out[i, j] = dot(a[i, :], b[:, j])` for row-major `a` (m x k) and `b`
/// (k x n), with b transposed once so both operands are contiguous.
fn product(acc: Acc, dtype: DType, a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut bt = vec![0.0f32; n * k];
    for p in 0..k {
        for j in 0..n {
            bt[j * k + p] = b[p * n + j];
        }
    }
    let mut out = vec![0.0f32; m * n];
    for i in 0..m {
        let row = &a[i * k..(i + 1) * k];
        for j in 0..n {
            // The k-loop bug lives in the remainder (non-vector) columns only.
            let acc = match acc {
                Acc::DropLastK if j < n - n % 8 => Acc::Sequential,
                other => other,
            };
            out[i * n + j] = dot(acc, dtype, row, &bt[j * k..(j + 1) * k]);
        }
    }
    out
}

/// MatMul (numpy semantics) with the given accumulation and input rounding.
/// f64 calls go to the reference.
pub fn matmul(l: &Loaded<'_>, acc: Acc, round: InputRound) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let (a, b) = (l.input(0)?, l.input(1)?);
    if !computes_in_f32(a.dtype()) || a.shape.is_empty() || b.shape.is_empty() {
        return l.reference();
    }
    let a_shape: Vec<usize> = if a.shape.len() == 1 {
        vec![1, a.shape[0]]
    } else {
        a.shape.clone()
    };
    let b_shape: Vec<usize> = if b.shape.len() == 1 {
        vec![b.shape[0], 1]
    } else {
        b.shape.clone()
    };
    let (m, k) = (a_shape[a_shape.len() - 2], a_shape[a_shape.len() - 1]);
    let (kb, n) = (b_shape[b_shape.len() - 2], b_shape[b_shape.len() - 1]);
    if k != kb {
        return l.reference(); // the reference words the error
    }
    let a_batch = &a_shape[..a_shape.len() - 2];
    let b_batch = &b_shape[..b_shape.len() - 2];
    let batch = broadcast_shapes(&[a_batch, b_batch])?;
    let ai = broadcast_offsets(a_batch, &batch)?;
    let bi = broadcast_offsets(b_batch, &batch)?;
    let round = if a.dtype() == DType::F32 {
        round
    } else {
        InputRound::None
    };
    let av: Vec<f32> = f32s(a)?
        .into_iter()
        .map(|x| round_input(round, x))
        .collect();
    let bv: Vec<f32> = f32s(b)?
        .into_iter()
        .map(|x| round_input(round, x))
        .collect();
    let mut out = Vec::with_capacity(ai.len() * m * n);
    for (&i, &j) in ai.iter().zip(&bi) {
        out.extend(product(
            acc,
            a.dtype(),
            &av[i * m * k..(i + 1) * m * k],
            &bv[j * k * n..(j + 1) * k * n],
            m,
            k,
            n,
        ));
    }
    Ok(vec![from_f32(a.dtype(), l.out_shape(0), out)?])
}

fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}

/// Gemm `alpha op(A) op(B) + beta C` with the given accumulation and input
/// rounding; f64 calls go to the reference.
pub fn gemm(l: &Loaded<'_>, acc: Acc, round: InputRound) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let (a, b) = (l.input(0)?, l.input(1)?);
    if !computes_in_f32(a.dtype()) || a.shape.len() != 2 || b.shape.len() != 2 {
        return l.reference();
    }
    let (ta, tb) = (l.int("transA", 0) != 0, l.int("transB", 0) != 0);
    let (alpha, beta) = (l.float("alpha", 1.0) as f32, l.float("beta", 1.0) as f32);
    let (m, k) = if ta {
        (a.shape[1], a.shape[0])
    } else {
        (a.shape[0], a.shape[1])
    };
    let (kb, n) = if tb {
        (b.shape[1], b.shape[0])
    } else {
        (b.shape[0], b.shape[1])
    };
    if k != kb {
        return l.reference();
    }
    let round = if a.dtype() == DType::F32 {
        round
    } else {
        InputRound::None
    };
    let mut av: Vec<f32> = f32s(a)?
        .into_iter()
        .map(|x| round_input(round, x))
        .collect();
    let mut bv: Vec<f32> = f32s(b)?
        .into_iter()
        .map(|x| round_input(round, x))
        .collect();
    if ta {
        av = transpose(&av, k, m);
    }
    if tb {
        bv = transpose(&bv, n, k);
    }
    let mut out = product(acc, a.dtype(), &av, &bv, m, k, n);
    for y in &mut out {
        *y *= alpha;
    }
    if let Some(c) = l.inputs.get(2).and_then(Option::as_ref) {
        let index = broadcast_offsets(&c.shape, &[m, n])?;
        let cv = f32s(c)?;
        for (y, &i) in out.iter_mut().zip(&index) {
            *y = if acc == Acc::Fma {
                beta.mul_add(cv[i], *y)
            } else {
                *y + beta * cv[i]
            };
        }
    }
    Ok(vec![from_f32(a.dtype(), vec![m, n], out)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tf32_rounds_to_nearest_even_on_ten_bits() {
        let one = 1.0f32;
        let step = f32::powi(2.0, -10);
        assert_eq!(round_tf32(one + step / 2.0), one, "tie to even");
        assert_eq!(round_tf32(one + 3.0 * step / 2.0), one + 2.0 * step);
        assert_eq!(round_tf32(one + step * 0.51), one + step);
        assert!(round_tf32(f32::NAN).is_nan());
    }

    #[test]
    fn bf16_accumulator_stalls_on_long_sums() {
        let a = vec![1.0f32; 4096];
        assert_eq!(dot(Acc::Sequential, DType::F32, &a, &a), 4096.0);
        assert_eq!(dot(Acc::Pairwise, DType::F32, &a, &a), 4096.0);
        // bf16 has 8 significand bits: 256 + 1 rounds back to 256.
        assert_eq!(dot(Acc::Bf16, DType::F32, &a, &a), 256.0);
    }
}
