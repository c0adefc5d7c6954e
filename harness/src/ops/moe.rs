//! MoeGatingTopK (domain `xpucert`, version 1): the expert selection of
//! DeepSeek-V3's router, `topk_method: noaux_tc` (specification:
//! `docs/ops/MoeGatingTopK.md`).
//!
//! Inputs: `scores` `[T, E]` f32, the router's per-expert scores after its
//! scoring function (sigmoid for DeepSeek-V3; the op does not care which),
//! and the optional `bias` `[E]` f32, `e_score_correction_bias`.
//! Attributes: `k` (required), `n_group` and `topk_group` (default 1),
//! `norm_topk_prob` (default 1), `routed_scaling_factor` (default 1.0).
//! Outputs: `weights` `[T, k]` f32 and `indices` `[T, k]` int64.
//!
//! Per token: the selection score is `c_e = fl32(s_e + b_e)`. With
//! `n_group > 1` the experts form `n_group` contiguous groups, a group's
//! score is `fl32(c_(1) + c_(2))` of its two best selection scores, and only
//! the `topk_group` best groups stay eligible. The `k` best eligible experts
//! by `c` are chosen, best first. Their weights come from the scores
//! without the bias, `s_e / sum s * routed_scaling_factor` with
//! `norm_topk_prob`, else `s_e * routed_scaling_factor`. Ties, in groups
//! and in experts, go to the lower index.
//!
//! Why the selection arithmetic is f32 and written out: which experts are
//! chosen is a discontinuous function of the scores. Were it defined on
//! exact sums, two experts whose selection scores differ by less than one
//! f32 rounding could be ranked either way by an honest f32 kernel, and an
//! exact check of the indices would fail it; a tolerant one would pass a
//! kernel that picks the wrong one of two clearly different experts. With
//! the two roundings fixed (the ones DeepSeek's reference implementation
//! and every fused kernel perform, in f32, as the router runs in f32), the
//! indices are a function of the inputs and the check is exact. The
//! oracle rounds its sums to f32 exactly as specified (Rust's f32 addition
//! is IEEE's, correctly rounded), which is the one place an oracle of
//! xpucert computes in f32: the specification says so, not convenience.
//!
//! Masked groups are out of the running (DeepSeek's inference code fills
//! them with -inf); Hugging Face's port fills them with 0.0 instead, which
//! differs only when fewer than `k` eligible experts have a positive
//! selection score.
//!
//! Check: the indices are exact. The weights are a sum of `k` positive
//! terms, a quotient and a product in f32: relative error at most
//! `(k + 1) u`, doubled as the other model bounds are
//! (`CheckPolicy::ModelBound`, magnitude `2 (k + 1) |w|`; without the
//! normalization `2 |w|`, one product).

use ndarray::{ArrayD, IxDyn};

use super::rules::{self, no_sum};
use super::spec::{TypeVar, fixed};
use super::{AttrType, Attributes, AttributesExt, Call, OpDef, OpSpec, Output, Result, TypedShape};
use crate::numerics::DType;
use crate::numerics::check::CheckPolicy;

const T_F32: TypeVar = TypeVar {
    name: "T",
    allowed: &[DType::F32],
};

/// MoeGatingTopK-1 (xpucert).
pub(super) const MOE_GATING_TOPK: OpDef = OpDef {
    spec: OpSpec {
        name: "MoeGatingTopK",
        domain: "xpucert",
        opset: 1,
        arity: fixed(1, 1),
        input_names: &["scores", "bias"],
        input_types: &[T_F32, T_F32],
        outputs: 2,
        attributes: &[
            ("k", AttrType::Int),
            ("n_group", AttrType::Int),
            ("topk_group", AttrType::Int),
            ("norm_topk_prob", AttrType::Int),
            ("routed_scaling_factor", AttrType::Float),
        ],
    },
    oracle: gate,
    shape: gate_shape,
    cost: |_, inputs| {
        // Two adds per expert (bias, group score) and a comparison sort's
        // worth of compares are not flops; the weights are a few per token.
        let n: usize = inputs
            .first()
            .copied()
            .flatten()
            .map_or(0, |s| s.iter().product());
        super::Work {
            flops: Some(2.0 * n as f64),
            multiply_adds: 0.0,
            scratch: 0.0,
        }
    },
    check: CheckPolicy::ModelBound,
    terms: no_sum,
};

/// The validated attributes and dimensions of a call.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Plan {
    tokens: usize,
    experts: usize,
    k: usize,
    groups: usize,
    keep_groups: usize,
    normalize: bool,
    scale: f64,
}

fn plan(
    attrs: &Attributes,
    scores: &[usize],
    bias: Option<&[usize]>,
) -> std::result::Result<Plan, String> {
    let [tokens, experts] = scores[..] else {
        return Err(format!(
            "scores must be 2-D [tokens, experts], got shape {scores:?}"
        ));
    };
    if let Some(b) = bias
        && b != [experts]
    {
        return Err(format!(
            "bias must be [{experts}] (one per expert), got shape {b:?}"
        ));
    }
    if !attrs.contains_key("k") {
        return Err("attribute k is required".into());
    }
    let int = |name: &str, default: i64| -> std::result::Result<usize, String> {
        let v = attrs.int(name, default)?;
        usize::try_from(v).map_err(|_| format!("{name} = {v} must not be negative"))
    };
    let (k, groups, keep_groups) = (int("k", 0)?, int("n_group", 1)?, int("topk_group", 1)?);
    let normalize = match attrs.int("norm_topk_prob", 1)? {
        0 => false,
        1 => true,
        v => return Err(format!("norm_topk_prob must be 0 or 1, got {v}")),
    };
    let scale = attrs.float("routed_scaling_factor", 1.0)?;
    if !scale.is_finite() {
        return Err(format!("routed_scaling_factor {scale} must be finite"));
    }
    if groups == 0 || experts % groups != 0 {
        return Err(format!(
            "n_group = {groups} must divide the {experts} experts"
        ));
    }
    if keep_groups == 0 || keep_groups > groups {
        return Err(format!(
            "topk_group = {keep_groups} must be in 1..={groups} (n_group)"
        ));
    }
    let per_group = experts / groups;
    if groups > 1 && per_group < 2 {
        return Err(format!(
            "a group's score is the sum of its two best experts, but {groups} groups of {experts} experts hold {per_group} each"
        ));
    }
    if k == 0 || k > keep_groups * per_group {
        return Err(format!(
            "k = {k} must be in 1..={} (topk_group x experts per group)",
            keep_groups * per_group
        ));
    }
    Ok(Plan {
        tokens,
        experts,
        k,
        groups,
        keep_groups,
        normalize,
        scale,
    })
}

fn gate_shape(
    attrs: &Attributes,
    inputs: &[Option<TypedShape>],
    _: &mut dyn FnMut(usize) -> Vec<f64>,
) -> std::result::Result<Vec<TypedShape>, String> {
    let (_, scores) = rules::input(inputs, 0)?;
    let bias = inputs
        .get(1)
        .and_then(Option::as_ref)
        .map(|(_, s)| s.as_slice());
    let p = plan(attrs, scores, bias)?;
    Ok(vec![
        (DType::F32, vec![p.tokens, p.k]),
        (DType::I64, vec![p.tokens, p.k]),
    ])
}

/// `a + b` rounded to f32, as the specification fixes it.
fn add_f32(a: f64, b: f64) -> f64 {
    f64::from(a as f32 + b as f32)
}

/// The `k` indices of the best `keys` among `candidates`, best first,
/// ties to the lower index (also the model checks' top-k and the routing
/// judge's ranking, as `ops::top_indices`).
pub fn best(keys: &[f64], candidates: impl Iterator<Item = usize>, k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = candidates.collect();
    order.sort_by(|&a, &b| keys[b].total_cmp(&keys[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// One token's chosen experts, best first.
fn choose(p: &Plan, scores: &[f64], bias: Option<&[f64]>) -> Vec<usize> {
    let select: Vec<f64> = match bias {
        Some(b) => scores.iter().zip(b).map(|(&s, &b)| add_f32(s, b)).collect(),
        None => scores.to_vec(),
    };
    if p.groups == 1 {
        return best(&select, 0..p.experts, p.k);
    }
    let per = p.experts / p.groups;
    let group_scores: Vec<f64> = (0..p.groups)
        .map(|g| {
            let top = best(&select, g * per..(g + 1) * per, 2);
            add_f32(select[top[0]], select[top[1]])
        })
        .collect();
    let kept = best(&group_scores, 0..p.groups, p.keep_groups);
    best(
        &select,
        kept.iter().flat_map(|&g| g * per..(g + 1) * per),
        p.k,
    )
}

fn gate(call: &Call) -> Result<Vec<Output>> {
    let scores = call.input(0)?;
    let bias = call.opt(1);
    let p = plan(call.attrs, scores.shape(), bias.map(|b| b.shape())).map_err(|m| call.err(m))?;
    let s: Vec<f64> = scores.data.iter().copied().collect();
    if let Some(bad) = s.iter().find(|v| !v.is_finite()) {
        return Err(call.err(format!("scores must be finite, got {bad}")));
    }
    let b: Option<Vec<f64>> = bias.map(|b| b.data.iter().copied().collect());
    if let Some(bad) = b.iter().flatten().find(|v| !v.is_finite()) {
        return Err(call.err(format!("bias must be finite, got {bad}")));
    }
    let mut weights = Vec::with_capacity(p.tokens * p.k);
    let mut magnitude = Vec::with_capacity(p.tokens * p.k);
    let mut indices = Vec::with_capacity(p.tokens * p.k);
    for row in s.chunks(p.experts.max(1)).take(p.tokens) {
        let chosen = choose(&p, row, b.as_deref());
        let sum: f64 = chosen.iter().map(|&e| row[e]).sum();
        // Stages after the scores: k - 1 adds, the quotient and the
        // product; doubled (see the file comment).
        let stages = if p.normalize { p.k + 1 } else { 1 };
        for &e in &chosen {
            let w = if p.normalize {
                row[e] / sum * p.scale
            } else {
                row[e] * p.scale
            };
            weights.push(w);
            magnitude.push(2.0 * stages as f64 * w.abs());
            indices.push(e as f64);
        }
    }
    let shape = IxDyn(&[p.tokens, p.k]);
    let arr = |v: Vec<f64>| ArrayD::from_shape_vec(shape.clone(), v).expect("tokens x k");
    Ok(vec![
        Output::bounded(DType::F32, arr(weights), arr(magnitude), None),
        Output::plain(DType::I64, arr(indices)),
    ])
}

// ------------------------------------------------------------- generated cases

use super::cases::{CaseSpace, Factor, Fill, GenCase, GenInput, Pick};

/// MoeGatingTopK: DeepSeek-V3's real routing (256 experts in 8 groups, 4
/// kept, top 8) and smaller ones (one group, where the op is a TopK; 4
/// groups of 4), one token to a prefill's worth, no bias / a bias of the
/// size DeepSeek's has relative to the scores / a bias large enough to
/// decide the selection, normalized or not.
pub(super) fn moe_gating_topk_cases() -> Option<CaseSpace> {
    Some(CaseSpace {
        factors: vec![
            Factor::dtypes(&[DType::F32]),
            Factor::new("routing", &["flat8", "g4of16", "v3"]),
            Factor::new("tokens", &["t1", "t7", "t64"]),
            Factor::new("bias", &["nobias", "smallbias", "largebias"]),
            Factor::new("norm", &["normalized", "raw"]),
        ],
        build: Box::new(|p: &Pick| {
            let (experts, k, groups, keep) = match p.get("routing") {
                "flat8" => (8, 2, 1, 1),
                "g4of16" => (16, 3, 4, 2),
                _ => (256, 8, 8, 4),
            };
            let tokens = match p.get("tokens") {
                "t1" => 1,
                "t7" => 7,
                _ => 64,
            };
            // Sigmoid outputs.
            let scores =
                GenInput::new(DType::F32, vec![tokens, experts]).fill(Fill::Uniform(0.0, 1.0));
            let bias = match p.get("bias") {
                "nobias" => None,
                "smallbias" => {
                    Some(GenInput::new(DType::F32, vec![experts]).fill(Fill::Normal(0.02)))
                }
                _ => Some(GenInput::new(DType::F32, vec![experts]).fill(Fill::Normal(0.5))),
            };
            let (norm, scale) = if p.is("norm", "normalized") {
                (1, 2.5)
            } else {
                (0, 1.0)
            };
            Some(
                GenCase::new(vec![scores.some(), bias])
                    .int("k", k)
                    .int("n_group", groups)
                    .int("topk_group", keep)
                    .int("norm_topk_prob", norm)
                    .float("routed_scaling_factor", scale),
            )
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::ops::AttrValue;

    fn gate_attrs(k: i64, groups: i64, keep: i64, norm: i64, scale: f64) -> crate::ops::Attributes {
        attrs(&[
            ("k", AttrValue::Int(k)),
            ("n_group", AttrValue::Int(groups)),
            ("topk_group", AttrValue::Int(keep)),
            ("norm_topk_prob", AttrValue::Int(norm)),
            ("routed_scaling_factor", AttrValue::Float(scale)),
        ])
    }

    #[test]
    fn groups_are_kept_by_their_two_best_and_the_bias_only_selects() {
        // 8 experts in 4 groups of 2; the bias lifts expert 7.
        let s = [0.75, 0.25, 0.5, 0.5, 0.875, 0.0, 0.25, 0.25];
        let b = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.625];
        // Selection scores [.75 .25 .5 .5 .875 0 .25 .875]; group scores
        // g0 1.0, g1 1.0, g2 0.875, g3 1.125. Kept: g3, and g0 over g1 (a
        // tie, to the lower index). The best single expert, 4, is in g2.
        let out = run(
            "MoeGatingTopK",
            &gate_attrs(2, 4, 2, 1, 2.0),
            &[f(&[1, 8], &s), f(&[8], &b)],
        )
        .unwrap();
        close(&out[1].value.data, &[7.0, 0.0], 0.0);
        // Weights from the unbiased scores 0.25 and 0.75, normalized, x2.
        close(&out[0].value.data, &[0.5, 1.5], 0.0);
        close(out[0].magnitude.as_ref().unwrap(), &[3.0, 9.0], 0.0);
        // Without groups: experts 4 and 7 tie at 0.875, lower index first;
        // no normalization.
        let flat = run(
            "MoeGatingTopK",
            &gate_attrs(2, 1, 1, 0, 1.0),
            &[f(&[1, 8], &s), f(&[8], &b)],
        )
        .unwrap();
        close(&flat[1].value.data, &[4.0, 7.0], 0.0);
        close(&flat[0].value.data, &[0.875, 0.25], 0.0);
    }

    #[test]
    fn selection_sums_are_rounded_to_f32_as_specified() {
        // s0 + b0 and s1 + b1 are equal in f32 but not exactly: the
        // specified f32 sums tie, and the tie goes to the lower index.
        let s0 = 0.5f32;
        let b0 = 2f32.powi(-26); // below half an ulp of 0.5: rounds away
        let out = run(
            "MoeGatingTopK",
            &gate_attrs(1, 1, 1, 0, 1.0),
            &[
                f(&[1, 2], &[0.5, f64::from(s0)]),
                f(&[2], &[0.0, f64::from(b0)]),
            ],
        )
        .unwrap();
        close(&out[1].value.data, &[0.0], 0.0);
    }

    #[test]
    fn bad_calls_say_what_is_wrong() {
        let s = f(&[1, 8], &[0.1; 8]);
        fails(
            "MoeGatingTopK",
            &gate_attrs(2, 3, 1, 1, 1.0),
            &[Some(s.clone())],
            "must divide the 8 experts",
        );
        fails(
            "MoeGatingTopK",
            &gate_attrs(2, 8, 1, 1, 1.0),
            &[Some(s.clone())],
            "two best experts",
        );
        fails(
            "MoeGatingTopK",
            &gate_attrs(5, 4, 2, 1, 1.0),
            &[Some(s.clone())],
            "k = 5 must be in 1..=4",
        );
        fails(
            "MoeGatingTopK",
            &attrs(&[]),
            &[Some(s.clone())],
            "attribute k is required",
        );
        fails(
            "MoeGatingTopK",
            &gate_attrs(2, 1, 1, 1, 1.0),
            &[Some(s), Some(f(&[4], &[0.0; 4]))],
            "bias must be [8]",
        );
    }
}
