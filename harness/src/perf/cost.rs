//! Cost models: floating-point operations and bytes moved by one call of
//! each op, from its shapes alone (never from what a backend reports).
//!
//! Conventions (the usual ones, so figures compare with BLAS and roofline
//! numbers):
//! * a multiply-add is 2 FLOPs: MatMul and Gemm cost `2·m·n·k` per batch
//!   (Gemm adds `m·n` when C is given); Attention costs `2·Sq·Skv·D` for
//!   QKᵀ, `2·Sq·Skv·Dv` for PV and `5·Sq·Skv` for the softmax, per head;
//! * elementwise ops cost 1 FLOP per output element, a transcendental
//!   (Exp, Tanh, Erf, Gelu, ...) included: the figure is "elements per
//!   second", not an instruction count;
//! * reductions cost 1 per input element; Softmax and LogSoftmax `5·n` (max,
//!   subtract, exp, sum, divide); LayerNormalization `8·n`, RMSNormalization
//!   `4·n`, RotaryEmbedding `3·n`, Quantize/DequantizeLinear `2·n`;
//! * data movement (Gather, Transpose, Reshape, Concat, Cast, TopK) has no
//!   FLOPs: only GB/s is reported for it;
//! * bytes moved = every input read once + every output written once, at
//!   their dtypes' sizes: the minimum traffic, so GB/s is a lower bound on
//!   what the memory system did.

use crate::numerics::DType;
use crate::op::{Attributes, AttributesExt};

/// The cost of one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// Floating-point operations; `None` for pure data movement.
    pub flops: Option<f64>,
    /// Bytes read and written.
    pub bytes: f64,
}

/// A tensor's shape and dtype.
pub type Shape<'a> = (&'a [usize], DType);

fn numel(s: &[usize]) -> f64 {
    s.iter().product::<usize>() as f64
}

/// The cost of `op` with these inputs (`None` when omitted), outputs and
/// attributes.
pub fn cost(
    op: &str,
    attributes: &Attributes,
    inputs: &[Option<Shape<'_>>],
    outputs: &[Shape<'_>],
) -> Cost {
    let bytes: f64 = inputs
        .iter()
        .flatten()
        .chain(outputs)
        .map(|(s, d)| numel(s) * d.size() as f64)
        .sum();
    let shape = |i: usize| inputs.get(i).copied().flatten().map_or(&[][..], |(s, _)| s);
    let out = outputs.first().map_or(&[][..], |(s, _)| *s);
    let n_out = numel(out);
    let n_in = numel(shape(0));
    let flops = match op {
        "MatMul" => Some(2.0 * n_out * shape(0).last().copied().unwrap_or(1) as f64),
        "Gemm" => {
            let m = out.first().copied().unwrap_or(1).max(1) as f64;
            let k = n_in / m;
            let c = if inputs.get(2).copied().flatten().is_none() {
                0.0
            } else {
                n_out
            };
            Some(2.0 * n_out * k + c)
        }
        "Attention" => {
            let (q, k) = (shape(0), shape(1));
            let past = shape(4);
            let (skv, d) = match (q.len(), k.len()) {
                (4, 4) => (k[2] + past.get(2).copied().unwrap_or(0), q[3].max(1)),
                (3, 3) => {
                    let heads = attributes.int("q_num_heads", 1).unwrap_or(1).max(1) as usize;
                    (
                        k[1] + past.get(2).copied().unwrap_or(0),
                        (q[2] / heads).max(1),
                    )
                }
                _ => (0, 1),
            };
            let skv = skv as f64;
            let scores = numel(q) / d as f64 * skv;
            Some(2.0 * numel(q) * skv + 2.0 * n_out * skv + 5.0 * scores)
        }
        "Add" | "Sub" | "Mul" | "Div" | "Neg" | "Exp" | "Log" | "Sqrt" | "Reciprocal" | "Tanh"
        | "Sigmoid" | "Relu" | "Erf" | "Softplus" | "Gelu" | "Where" => Some(n_out),
        "ReduceSum" | "ReduceMean" | "ReduceMax" => Some(n_in),
        "Softmax" | "LogSoftmax" => Some(5.0 * n_in),
        "LayerNormalization" => Some(8.0 * n_in),
        "RMSNormalization" => Some(4.0 * n_in),
        "RotaryEmbedding" => Some(3.0 * n_out),
        "QuantizeLinear" | "DequantizeLinear" => Some(2.0 * n_out),
        _ => None,
    };
    Cost { flops, bytes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::AttrValue;

    #[test]
    fn matmul_is_2mnk_and_moves_three_matrices() {
        let a = [64usize, 32];
        let b = [32usize, 16];
        let c = [64usize, 16];
        let cost = cost(
            "MatMul",
            &Attributes::new(),
            &[Some((&a, DType::F32)), Some((&b, DType::F32))],
            &[(&c, DType::F32)],
        );
        assert_eq!(cost.flops, Some(2.0 * 64.0 * 16.0 * 32.0));
        assert_eq!(cost.bytes, 4.0 * (64.0 * 32.0 + 32.0 * 16.0 + 64.0 * 16.0));
    }

    #[test]
    fn batched_matmul_and_gemm_with_c() {
        let (a, b, c) = ([3usize, 8, 4], [3usize, 4, 5], [3usize, 8, 5]);
        let m = cost(
            "MatMul",
            &Attributes::new(),
            &[Some((&a, DType::F16)), Some((&b, DType::F16))],
            &[(&c, DType::F16)],
        );
        assert_eq!(m.flops, Some(2.0 * 3.0 * 8.0 * 5.0 * 4.0));
        // Gemm with transA: A is [K, M] = [4, 8].
        let mut attrs = Attributes::new();
        attrs.insert("transA".into(), AttrValue::Int(1));
        let (ga, gb, gc, go) = ([4usize, 8], [4usize, 5], [8usize, 5], [8usize, 5]);
        let g = cost(
            "Gemm",
            &attrs,
            &[
                Some((&ga, DType::F32)),
                Some((&gb, DType::F32)),
                Some((&gc, DType::F32)),
            ],
            &[(&go, DType::F32)],
        );
        assert_eq!(g.flops, Some(2.0 * 8.0 * 5.0 * 4.0 + 40.0));
    }

    #[test]
    fn elementwise_softmax_and_movement() {
        let s = [1000usize];
        let one = |op| {
            cost(
                op,
                &Attributes::new(),
                &[Some((&s, DType::BF16))],
                &[(&s, DType::BF16)],
            )
        };
        assert_eq!(one("Relu").flops, Some(1000.0));
        assert_eq!(one("Softmax").flops, Some(5000.0));
        assert_eq!(one("Transpose").flops, None);
        assert_eq!(one("Transpose").bytes, 4000.0);
    }

    #[test]
    fn attention_counts_both_products_and_the_softmax() {
        let (q, k, o) = ([1usize, 2, 8, 16], [1usize, 2, 32, 16], [1usize, 2, 8, 16]);
        let c = cost(
            "Attention",
            &Attributes::new(),
            &[
                Some((&q, DType::F32)),
                Some((&k, DType::F32)),
                Some((&k, DType::F32)),
            ],
            &[(&o, DType::F32)],
        );
        let heads_rows = 2.0 * 8.0;
        let want = 2.0 * heads_rows * 32.0 * 16.0 * 2.0 + 5.0 * heads_rows * 32.0;
        assert_eq!(c.flops, Some(want));
    }
}
