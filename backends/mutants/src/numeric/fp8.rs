//! FP8 block-scaled GEMM variants (issue 18): how vendors' Fp8BlockGemm
//! kernels differ from DeepGEMM's promotion every 128 (honest), and how
//! they get the block scaling or the accumulation wrong (faults).
//! Specification: `docs/ops/Fp8BlockGemm.md`.

use xpucert_abi::{BackendError, DType, Precision};
use xpucert_reference_core::tensor::Tensor;

use super::io::{Loaded, f32s, from_f32};
use super::{Patch, fault, honest};
use crate::Mode;

const OPS: &[&str] = &["Fp8BlockGemm"];

/// The call's operands decoded to f32 (e4m3 is exact in f32), with its
/// dimensions and blocks; the reference's support check first, so a mode
/// refuses what the reference refuses.
struct Gemm {
    m: usize,
    n: usize,
    k: usize,
    bk: usize,
    bn: usize,
    a: Vec<f32>,
    a_s: Vec<f32>,
    b: Vec<f32>,
    b_s: Vec<f32>,
    out: DType,
}

impl Gemm {
    fn load(l: &Loaded<'_>) -> Result<Gemm, BackendError> {
        l.check()?;
        // The reference validates the shapes: run it once for its error.
        let y = l.reference()?;
        let (a, b) = (l.input(0)?, l.input(2)?);
        let (m, k, n) = (a.shape[0], a.shape[1], b.shape[0]);
        let block = |name: &str| l.int(name, 128).max(1) as usize;
        Ok(Gemm {
            m,
            n,
            k,
            bk: block("block_k"),
            bn: block("block_n"),
            a: f32s(a)?,
            a_s: f32s(l.input(1)?)?,
            b: f32s(b)?,
            b_s: f32s(l.input(3)?)?,
            out: y[0].dtype(),
        })
    }

    fn k_blocks(&self) -> usize {
        self.k.div_ceil(self.bk)
    }

    /// The combined scale of output column `n`'s K block `kb` for row `m`,
    /// rounded to f32 as a kernel computes it.
    fn scale(&self, m: usize, n: usize, kb: usize) -> f32 {
        let kbs = self.k_blocks();
        self.a_s[m * kbs + kb] * self.b_s[(n / self.bn) * kbs + kb]
    }

    /// `Y` from `dot(m, n)`, rounded to the output dtype.
    fn each(&self, dot: impl Fn(&Gemm, usize, usize) -> f32) -> Result<Vec<Tensor>, BackendError> {
        let mut y = Vec::with_capacity(self.m * self.n);
        for m in 0..self.m {
            for n in 0..self.n {
                y.push(dot(self, m, n));
            }
        }
        Ok(vec![from_f32(self.out, vec![self.m, self.n], y)?])
    }
}

/// Partial sums of 64 products, each summed last to first, scaled by
/// their block's scales and added into an f32 accumulator: a kernel whose
/// MMA tile is half DeepGEMM's, with another order inside it.
fn promote_every_64(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let g = Gemm::load(l)?;
    g.each(|g, m, n| {
        let (a, b) = (&g.a[m * g.k..(m + 1) * g.k], &g.b[n * g.k..(n + 1) * g.k]);
        let mut acc = 0f32;
        let mut start = 0;
        while start < g.k {
            // A 64-wide slice never crosses a block of 128; for smaller
            // blocks the slice stops at the block's end.
            let end = (start + 64).min(g.k).min((start / g.bk + 1) * g.bk);
            let partial: f32 = (start..end).rev().map(|i| a[i] * b[i]).sum();
            acc += partial * g.scale(m, n, start / g.bk);
            start = end;
        }
        acc
    })
}

/// Hardware without FP8: the weights dequantized to bf16
/// (`bf16(B * B_scale)`), the activations dequantized in f32, one f32
/// GEMM over the whole K with FMA. Declared as bf16 compute precision.
fn weights_bf16(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let g = Gemm::load(l)?;
    let kbs = g.k_blocks();
    let bf16 = |x: f32| half::bf16::from_f32(x).to_f32();
    let w: Vec<f32> = (0..g.n * g.k)
        .map(|i| {
            let (n, k) = (i / g.k.max(1), i % g.k.max(1));
            bf16(g.b[i] * g.b_s[(n / g.bn) * kbs + k / g.bk])
        })
        .collect();
    let x: Vec<f32> = (0..g.m * g.k)
        .map(|i| {
            let (m, k) = (i / g.k.max(1), i % g.k.max(1));
            g.a[i] * g.a_s[m * kbs + k / g.bk]
        })
        .collect();
    g.each(|g, m, n| {
        let (x, w) = (&x[m * g.k..(m + 1) * g.k], &w[n * g.k..(n + 1) * g.k]);
        x.iter().zip(w).fold(0f32, |acc, (a, b)| a.mul_add(*b, acc))
    })
}

/// Every block scaled by the first block's scale (`A_scale[0, 0]` and
/// `B_scale[0, 0]`): per-tensor scaling of block-quantized weights.
fn scale_per_tensor(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    for i in [1, 3] {
        let s = l.input(i)?;
        let first = f32s(s)?.first().copied().unwrap_or(1.0);
        l.inputs[i] = Some(Tensor::f32(&s.shape.clone(), vec![first; s.numel()])?);
    }
    l.reference()
}

/// `x` rounded to 14 significant bits, nearest even: what an FP8 tensor
/// core's accumulator keeps (DeepSeek-V3 report, 3.3.2), more generous
/// than the truncation it is said to do.
fn round_14_bits(x: f32) -> f32 {
    if !x.is_finite() {
        return x;
    }
    const DROP: u32 = 23 - 13;
    let bits = x.to_bits();
    let low = bits & ((1 << DROP) - 1);
    let mut high = bits - low;
    let half = 1 << (DROP - 1);
    if low > half || (low == half && (high >> DROP) & 1 == 1) {
        // A carry into the exponent is the correct rounding up.
        high += 1 << DROP;
    }
    f32::from_bits(high)
}

/// The whole K summed in a 14-bit accumulator, each product scaled by its
/// block's scales in f32 before it is added: no promotion.
fn accumulate_14bit(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let g = Gemm::load(l)?;
    g.each(|g, m, n| {
        let (a, b) = (&g.a[m * g.k..(m + 1) * g.k], &g.b[n * g.k..(n + 1) * g.k]);
        (0..g.k).fold(0f32, |acc, i| {
            round_14_bits(acc + a[i] * b[i] * g.scale(m, n, i / g.bk))
        })
    })
}

/// The Fp8BlockGemm modes, honest first.
pub fn modes() -> Vec<Mode> {
    vec![
        honest(
            "fp8_promote_every_64",
            "Fp8BlockGemm with partial sums of 64 products, each summed last to first, promoted into the f32 accumulator",
            Patch::new(OPS, promote_every_64),
        ),
        honest(
            "fp8_weights_bf16_declared",
            "Fp8BlockGemm on hardware without fp8: weights dequantized to bf16, activations dequantized in f32, one f32 FMA GEMM; declares bf16",
            Patch {
                declares: Some(Precision::DType(DType::BF16)),
                ..Patch::new(OPS, weights_bf16)
            },
        ),
        fault(
            "fp8_block_scale_per_tensor",
            "Fp8BlockGemm scales every block by the first block's scales (A_scale[0, 0], B_scale[0, 0]), as per-tensor quantization",
            Patch::new(OPS, scale_per_tensor),
        ),
        fault(
            "fp8_accumulate_14bit",
            "Fp8BlockGemm accumulates the whole K in a 14-significant-bit register without promotion (an FP8 tensor core's accumulator)",
            Patch::new(OPS, accumulate_14bit),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::round_14_bits;

    #[test]
    fn fourteen_bits_round_to_nearest_even() {
        // 1 + 2^-13 is representable (14 bits); 1 + 2^-14 is a tie to 1.
        assert_eq!(round_14_bits(1.0 + 2f32.powi(-13)), 1.0 + 2f32.powi(-13));
        assert_eq!(round_14_bits(1.0 + 2f32.powi(-14)), 1.0);
        assert_eq!(
            round_14_bits(1.0 + 3.0 * 2f32.powi(-14)),
            1.0 + 2f32.powi(-12)
        );
        assert_eq!(
            round_14_bits(1.0 + 2f32.powi(-14) + 2f32.powi(-20)),
            1.0 + 2f32.powi(-13)
        );
        // A carry into the exponent.
        assert_eq!(round_14_bits(2.0 - 2f32.powi(-15)), 2.0);
        assert_eq!(round_14_bits(-3.0), -3.0);
    }
}
