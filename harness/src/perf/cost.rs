//! The cost of one call as measured: its op's FLOPs (the op's cost model in
//! `crate::ops`, whose conventions that page documents) and the bytes it
//! moved: every input read once and every output written once, at their
//! dtypes' sizes. That is the minimum traffic, so GB/s is a lower bound on
//! what the memory system did.

use crate::numerics::DType;
use crate::ops::{Attributes, OpDef};

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

/// The cost of a call of `op` (the version called) with these inputs
/// (`None` when omitted), outputs and attributes.
pub fn cost(
    op: &OpDef,
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
    let shapes: Vec<Option<&[usize]>> = inputs.iter().map(|i| i.map(|(s, _)| s)).collect();
    let flops = op.work(attributes, &shapes).flops;
    Cost { flops, bytes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{AttrValue, Op};

    #[test]
    fn matmul_is_2mnk_and_moves_three_matrices() {
        let a = [64usize, 32];
        let b = [32usize, 16];
        let c = [64usize, 16];
        let cost = cost(
            Op::MatMul.def(),
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
            Op::MatMul.def(),
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
            Op::Gemm.def(),
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
        let one = |op: Op| {
            cost(
                op.def(),
                &Attributes::new(),
                &[Some((&s, DType::BF16))],
                &[(&s, DType::BF16)],
            )
        };
        assert_eq!(one(Op::Relu).flops, Some(1000.0));
        assert_eq!(one(Op::Softmax).flops, Some(5000.0));
        assert_eq!(one(Op::Transpose).flops, None);
        assert_eq!(one(Op::Transpose).bytes, 4000.0);
    }

    #[test]
    fn attention_counts_both_products_and_the_softmax() {
        let (q, k, o) = ([1usize, 2, 8, 16], [1usize, 2, 32, 16], [1usize, 2, 8, 16]);
        let c = cost(
            Op::Attention.def(),
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
