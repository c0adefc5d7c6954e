//! How many outputs a call asks for (issue 17).
//!
//! ONNX lets a node leave trailing outputs out: LayerNormalization's Mean
//! and InvStdDev, Attention's present_key, present_value and
//! qk_matmul_output are optional. `OpSpec::outputs` is the most a call may
//! request (what the oracle can compute); [`OPTIONAL_OUTPUTS`] gives, for
//! the ops with optional outputs, how many a call must request, which is
//! also what a suite case requests when it says nothing (`outputs:` in
//! docs/suite-format.md). Every other op is requested exactly its
//! `outputs`, as before: an existing case never asks a backend for more.
//!
//! Split's count is the call's (`OpSpec::outputs` 0): a case requesting
//! `n` outputs of a Split without `split` (and, at 18, without
//! `num_outputs`) asks for `n` equal parts, as a node with `n` outputs
//! does ([`counted_shape`]).
//!
//! Why a table rather than a field of `OpSpec`: three ops have optional
//! outputs, a new required field would touch every definition of every
//! family (and every family a concurrent branch adds), and
//! `dynamic::DATA_DEPENDENT` set the precedent; the table is keyed by the
//! definitions' own names (never a literal).

use super::{Attributes, OpSpec, TypedShape, attention, indexing, norm};

/// An op with optional trailing outputs.
pub(super) struct Optional {
    /// The op's ONNX name (default domain).
    name: &'static str,
    /// The outputs every call computes (the rest, up to `spec.outputs`,
    /// only when requested); also the count of a case that names none.
    pub(super) required: usize,
}

/// Every op with optional trailing outputs.
pub(super) const OPTIONAL_OUTPUTS: &[Optional] = &[
    // Y; Mean and InvStdDev (training's saved statistics).
    Optional {
        name: norm::LAYER_NORMALIZATION.spec.name,
        required: 1,
    },
    // Y; present_key, present_value, qk_matmul_output.
    Optional {
        name: attention::ATTENTION.spec.name,
        required: 1,
    },
];

/// The outputs a call of `spec` must request (and requests by default):
/// [`Optional::required`] for an op with optional outputs, else
/// `spec.outputs` (0 for an op whose count the call decides).
pub(super) fn required(spec: &OpSpec) -> usize {
    spec.domain
        .is_empty()
        .then(|| OPTIONAL_OUTPUTS.iter().find(|o| o.name == spec.name))
        .flatten()
        .map_or(spec.outputs, |o| o.required)
}

/// Checks a requested output count against `spec`: between the required
/// count and `spec.outputs`, or at least 1 for an op whose count the call
/// decides.
pub(super) fn check_requested(spec: &OpSpec, n: usize) -> Result<(), String> {
    if spec.outputs == 0 {
        return if n >= 1 {
            Ok(())
        } else {
            Err("0 outputs requested; a call has at least one".into())
        };
    }
    let least = required(spec);
    if (least..=spec.outputs).contains(&n) {
        Ok(())
    } else if least == spec.outputs {
        Err(format!(
            "{n} outputs requested; {}-{} has exactly {least}",
            spec.name, spec.opset
        ))
    } else {
        Err(format!(
            "{n} outputs requested; {}-{} has {least} to {} (the last {} optional)",
            spec.name,
            spec.opset,
            spec.outputs,
            spec.outputs - least
        ))
    }
}

/// The shape rule, given the requested count, of an op whose output count
/// the call decides: `(attrs, inputs, values, opset, count)`.
pub(super) type CountedShapeFn = fn(
    &Attributes,
    &[Option<TypedShape>],
    &mut dyn FnMut(usize) -> Vec<f64>,
    i64,
    usize,
) -> Result<Vec<TypedShape>, String>;

/// [`CountedShapeFn`] of `spec`'s op, if its output count is the call's
/// (Split).
pub(super) fn counted_shape(spec: &OpSpec) -> Option<CountedShapeFn> {
    (spec.domain.is_empty() && spec.name == indexing::SPLIT.spec.name)
        .then_some(indexing::split_shape_counted as CountedShapeFn)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::numerics::DType;
    use crate::ops::{AttrValue, Attributes, Op, Output, Value, evaluate_refs};

    fn requested(op: Op, opset: i64, a: &Attributes, inputs: &[Value], n: usize) -> Vec<Output> {
        let refs: Vec<Option<&Value>> = inputs.iter().map(Some).collect();
        evaluate_refs(op, opset, a, &refs, true, Some(n)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn counts_are_checked_against_the_op() {
        let ln = Op::LayerNormalization.def();
        assert_eq!(ln.required_outputs(), 1);
        assert!(ln.check_requested(3).is_ok());
        let e = ln.check_requested(4).unwrap_err();
        assert!(e.contains("has 1 to 3 (the last 2 optional)"), "{e}");
        assert!(ln.check_requested(0).is_err());
        // A fixed-count op takes only its count.
        let relu = Op::Relu.def();
        assert!(relu.check_requested(1).is_ok());
        assert!(relu.check_requested(2).unwrap_err().contains("exactly 1"));
        assert_eq!(Op::TopK.def().required_outputs(), 2);
        // Split's count is the call's.
        assert_eq!(Op::Split.def().required_outputs(), 0);
        assert!(Op::Split.def().check_requested(5).is_ok());
        assert!(Op::Split.def().check_requested(0).is_err());
    }

    #[test]
    fn layer_norm_statistics() {
        // Row [1, 2, 3, 6]: mean 3, var 3.5; eps 0.5 -> 1/std = 1/2.
        let x = f(&[1, 4], &[1.0, 2.0, 3.0, 6.0]);
        let s = f(&[4], &[1.0; 4]);
        let a = attrs(&[("epsilon", AttrValue::Float(0.5))]);
        let out = requested(Op::LayerNormalization, 17, &a, &[x.clone(), s.clone()], 3);
        assert_eq!(out.len(), 3);
        assert_eq!(out[1].value.shape(), &[1, 1]);
        assert_eq!(out[1].value.dtype, DType::F32);
        close(&out[1].value.data, &[3.0], 0.0);
        close(&out[2].value.data, &[0.5], 1e-15);
        // Each statistic has its own bound.
        assert!(out[2].magnitude.as_ref().unwrap()[[0, 0]] > 0.0);
        // Two requested: Y and Mean; none: Y alone.
        assert_eq!(
            requested(Op::LayerNormalization, 17, &a, &[x.clone(), s.clone()], 2).len(),
            2
        );
        assert_eq!(
            run_opt(
                "LayerNormalization",
                &a,
                &[Some(x.clone()), Some(s.clone())]
            )
            .unwrap()
            .len(),
            1
        );
        // stash_type 16: bfloat16 statistics; other types are refused.
        let bf = attrs(&[("stash_type", AttrValue::Int(16))]);
        let out = requested(Op::LayerNormalization, 17, &bf, &[x.clone(), s.clone()], 3);
        assert_eq!(out[2].value.dtype, DType::BF16);
        let d = attrs(&[("stash_type", AttrValue::Int(11))]);
        fails(
            "LayerNormalization",
            &d,
            &[Some(x), Some(s)],
            "stash_type 11",
        );
    }

    #[test]
    fn split_parts_by_count() {
        let x = f(&[6], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let none = Attributes::new();
        let out = requested(Op::Split, 13, &none, std::slice::from_ref(&x), 3);
        assert_eq!(out.len(), 3);
        close(&out[2].value.data, &[4.0, 5.0], 0.0);
        // Without a count there is no way to know the parts.
        let refs = [Some(&x)];
        let e = evaluate_refs(Op::Split, 13, &none, &refs, true, None).unwrap_err();
        assert!(e.to_string().contains("give split"), "{e}");
        // The axis must divide; a given split must agree with the count.
        let e = evaluate_refs(Op::Split, 13, &none, &refs, true, Some(4)).unwrap_err();
        assert!(
            e.to_string().contains("does not split into 4 equal parts"),
            "{e}"
        );
        let n2 = attrs(&[("num_outputs", AttrValue::Int(2))]);
        let e = evaluate_refs(Op::Split, 18, &n2, &refs, true, Some(3)).unwrap_err();
        assert!(
            e.to_string()
                .contains("3 outputs requested, but the split makes 2"),
            "{e}"
        );
        // The shape rule agrees.
        let shapes = Op::Split
            .def_at(13)
            .unwrap()
            .requested_shapes(
                &none,
                &[Some((DType::F32, vec![6]))],
                &mut |_| Vec::new(),
                Some(2),
            )
            .unwrap();
        assert_eq!(shapes, vec![(DType::F32, vec![3]), (DType::F32, vec![3])]);
    }

    #[test]
    fn attention_present_and_scores() {
        // One head of size 1: Q [1], K [0, 1] after a past key 0, V [10, 20].
        let q = f(&[1, 1, 1, 1], &[1.0]);
        let k = f(&[1, 1, 1, 1], &[1.0]);
        let v = f(&[1, 1, 1, 1], &[20.0]);
        let pk = f(&[1, 1, 1, 1], &[0.0]);
        let pv = f(&[1, 1, 1, 1], &[10.0]);
        let none = Attributes::new();
        let inputs = [Some(&q), Some(&k), Some(&v), None, Some(&pk), Some(&pv)];
        let out = evaluate_refs(Op::Attention, 23, &none, &inputs, true, Some(4)).unwrap();
        assert_eq!(out.len(), 4);
        close(&out[1].value.data, &[0.0, 1.0], 0.0);
        close(&out[2].value.data, &[10.0, 20.0], 0.0);
        // Copies: a zero bound.
        assert!(out[1].magnitude.as_ref().unwrap().iter().all(|&m| m == 0.0));
        // Mode 0: scale (1 / sqrt(1)) Q K^T = [0, 1].
        close(&out[3].value.data, &[0.0, 1.0], 0.0);
        assert_eq!(out[3].value.shape(), &[1, 1, 1, 2]);
        // Mode 3: the softmax of [0, 1].
        let m3 = attrs(&[("qk_matmul_output_mode", AttrValue::Int(3))]);
        let out = evaluate_refs(Op::Attention, 23, &m3, &inputs, true, Some(4)).unwrap();
        let e = 1f64.exp();
        close(&out[3].value.data, &[1.0 / (1.0 + e), e / (1.0 + e)], 1e-15);
        // Mode 1 with a softcap: 2 tanh(s / 2).
        let m1 = attrs(&[
            ("qk_matmul_output_mode", AttrValue::Int(1)),
            ("softcap", AttrValue::Float(2.0)),
        ]);
        let out = evaluate_refs(Op::Attention, 23, &m1, &inputs, true, Some(4)).unwrap();
        close(&out[3].value.data, &[0.0, 2.0 * 0.5f64.tanh()], 1e-15);
        // Not requested: Y only.
        let out = evaluate_refs(Op::Attention, 23, &none, &inputs, true, None).unwrap();
        assert_eq!(out.len(), 1);
    }
}
