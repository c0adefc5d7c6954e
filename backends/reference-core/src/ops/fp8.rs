//! Fp8BlockGemm (xpucert domain, version 1; `docs/ops/Fp8BlockGemm.md`):
//! DeepSeek-V3's FP8 linear layer, `Y = (A a_s) (B b_s)^T` with e4m3
//! operands and per-block f32 scales.
//!
//! As DeepGEMM's `fp8_gemm_nt` computes it: each `block_k`-wide K block's
//! e4m3 products summed in an f32 partial sum (the products are exact in
//! f32: 4 + 4 significant bits), the partial sum scaled by
//! `a_s[m, kb] * b_s[n / block_n, kb]` and added into an f32 accumulator
//! (promotion every `block_k` elements), rounded once to the output dtype.
//! The operands are decoded once, row by row (a dequantized K panel is
//! the e4m3 value itself: the scales are applied per block).

use xpucert_abi::{BackendError, DType};

use super::Args;
use crate::tensor::Tensor;

/// `Y` `[M, N]`, f32 or bf16 (`output_dtype` 1 or 16).
pub fn block_gemm(args: &Args<'_>) -> Result<Tensor, BackendError> {
    let (a, a_s, b, b_s) = (
        args.input(0)?,
        args.input(1)?,
        args.input(2)?,
        args.input(3)?,
    );
    let block = |name: &str| -> Result<usize, BackendError> {
        let v = args.attrs.int(name, 128)?;
        usize::try_from(v)
            .ok()
            .filter(|&v| v >= 1)
            .ok_or_else(|| args.invalid(format!("{name} = {v} must be at least 1")))
    };
    let (bk, bn) = (block("block_k")?, block("block_n")?);
    let out = match args.attrs.int("output_dtype", 1)? {
        1 => DType::F32,
        16 => DType::BF16,
        v => return Err(args.invalid(format!("output_dtype {v} (1 or 16)"))),
    };
    let (&[m, k], &[n, kb]) = (&a.shape[..], &b.shape[..]) else {
        return Err(args.invalid(format!(
            "A must be [M, K] and B [N, K], got {:?} and {:?}",
            a.shape, b.shape
        )));
    };
    let (k_blocks, n_blocks) = (k.div_ceil(bk), n.div_ceil(bn));
    if k != kb || a_s.shape != [m, k_blocks] || b_s.shape != [n_blocks, k_blocks] {
        return Err(args.invalid(format!(
            "A {:?}, A_scale {:?}, B {:?}, B_scale {:?} do not fit blocks of {bk} (K) x {bn} (N)",
            a.shape, a_s.shape, b.shape, b_s.shape
        )));
    }
    let (a, a_s, b, b_s) = (
        a.to_real::<f32>()?,
        a_s.to_real::<f32>()?,
        b.to_real::<f32>()?,
        b_s.to_real::<f32>()?,
    );
    let mut y = vec![0f32; m * n];
    for (row, (a_row, y_row)) in a.chunks(k.max(1)).zip(y.chunks_mut(n.max(1))).enumerate() {
        let a_scales = &a_s[row * k_blocks..(row + 1) * k_blocks];
        for (col, (b_row, out)) in b.chunks(k.max(1)).zip(y_row.iter_mut()).enumerate() {
            let b_scales = &b_s[(col / bn) * k_blocks..(col / bn + 1) * k_blocks];
            let mut acc = 0f32;
            for (kb, (xs, ws)) in a_row.chunks(bk).zip(b_row.chunks(bk)).enumerate() {
                let partial: f32 = xs.iter().zip(ws).map(|(x, w)| x * w).sum();
                acc += partial * (a_scales[kb] * b_scales[kb]);
            }
            *out = acc;
        }
    }
    Tensor::from_real(out, vec![m, n], y)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::tensor::{Data, Tensor};
    use xpucert_abi::AttrValue;

    /// An e4m3 tensor of values that e4m3 holds exactly.
    fn e4m3(shape: &[usize], v: &[f32]) -> Option<Tensor> {
        let codes = v
            .iter()
            .map(|&x| crate::fp8::Fp8::E4M3FN.encode(f64::from(x), true))
            .collect();
        Some(Tensor::new(shape.to_vec(), Data::F8E4M3FN(codes)).expect("shape"))
    }

    #[test]
    fn blocks_take_their_own_scales() {
        // The harness oracle's hand example (harness/src/ops/fp8.rs):
        // blocks of 2 (K) x 2 (N), K = 3, N = 3.
        let y = run1(
            "Fp8BlockGemm",
            &[
                ("block_k", AttrValue::Int(2)),
                ("block_n", AttrValue::Int(2)),
            ],
            vec![
                e4m3(&[1, 3], &[1.0, 2.0, 3.0]),
                f32t(&[1, 2], &[0.5, 2.0]),
                e4m3(&[3, 3], &[1.0, 1.0, 1.0, -2.0, 0.5, 4.0, 448.0, 0.0, -1.0]),
                f32t(&[2, 2], &[1.0, 0.25, 8.0, 0.125]),
            ],
        )
        .unwrap();
        assert_eq!(values(&y), vec![3.0, 5.5, 1791.25]);
    }

    #[test]
    fn ragged_k_bf16_output_and_bad_scales() {
        let attrs = [("output_dtype", AttrValue::Int(16))];
        let inputs = |a_scale_cols: usize| {
            vec![
                e4m3(&[1, 130], &[1.0; 130]),
                f32t(&[1, a_scale_cols], &[1.0, 0.5][..a_scale_cols]),
                e4m3(&[1, 130], &[2.0; 130]),
                f32t(&[1, 2], &[0.25, 4.0]),
            ]
        };
        let y = run1("Fp8BlockGemm", &attrs, inputs(2)).unwrap();
        // 128 * 2 * 0.25 + 2 * 2 * 2, exact in bf16.
        assert_eq!(y.to_real::<f32>().unwrap(), vec![72.0]);
        assert_eq!(y.dtype(), xpucert_abi::DType::BF16);
        let err = run1("Fp8BlockGemm", &attrs, inputs(1)).unwrap_err();
        assert!(err.to_string().contains("do not fit blocks"), "{err}");
    }
}
