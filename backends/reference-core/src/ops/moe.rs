//! MoeGatingTopK (xpucert domain, version 1; `docs/ops/MoeGatingTopK.md`):
//! DeepSeek-V3's group-limited expert selection, in f32 as specified.
//!
//! Per token: selection scores `c = s + bias` (f32), group scores the sum of
//! each group's two best `c` (f32), the `topk_group` best groups kept, the
//! `k` best experts of the kept groups by `c` chosen, best first, ties to
//! the lower index; weights from the unbiased scores, normalized over the
//! chosen ones when `norm_topk_prob`, times `routed_scaling_factor`.

use xpucert_abi::BackendError;

use super::Args;
use crate::tensor::{Data, Tensor};

/// The `k` best of `candidates` by `keys`, best first, ties to the lower
/// index.
fn best(keys: &[f32], candidates: impl Iterator<Item = usize>, k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = candidates.collect();
    order.sort_by(|&a, &b| keys[b].total_cmp(&keys[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// Weights `[T, k]` f32 and indices `[T, k]` int64.
pub fn gating_topk(args: &Args<'_>) -> Result<Vec<Tensor>, BackendError> {
    let scores = args.input(0)?;
    let [tokens, experts] = scores.shape[..] else {
        return Err(args.invalid(format!(
            "scores must be [tokens, experts], got {:?}",
            scores.shape
        )));
    };
    let s = scores.to_real::<f32>()?;
    let bias = match args.optional(1) {
        Some(b) if b.shape != [experts] => {
            return Err(args.invalid(format!("bias must be [{experts}], got {:?}", b.shape)));
        }
        Some(b) => Some(b.to_real::<f32>()?),
        None => None,
    };
    let count = |name: &str, default: i64| -> Result<usize, BackendError> {
        let v = args.attrs.int(name, default)?;
        usize::try_from(v).map_err(|_| args.invalid(format!("{name} = {v} is negative")))
    };
    if !args.attrs.has("k") {
        return Err(args.invalid("attribute k is required"));
    }
    let (k, groups, keep) = (
        count("k", 0)?,
        count("n_group", 1)?,
        count("topk_group", 1)?,
    );
    let normalize = args.attrs.int("norm_topk_prob", 1)? != 0;
    let scale = args.attrs.float("routed_scaling_factor", 1.0)? as f32;
    if groups == 0 || experts % groups != 0 || keep == 0 || keep > groups {
        return Err(args.invalid(format!(
            "n_group {groups} must divide {experts} experts and topk_group {keep} be in 1..=n_group"
        )));
    }
    let per = experts / groups;
    if (groups > 1 && per < 2) || k == 0 || k > keep * per {
        return Err(args.invalid(format!(
            "k = {k} with {groups} groups of {per}, {keep} kept"
        )));
    }
    let mut weights = Vec::with_capacity(tokens * k);
    let mut indices = Vec::with_capacity(tokens * k);
    let mut select = vec![0f32; experts];
    for row in s.chunks(experts).take(tokens) {
        for (e, c) in select.iter_mut().enumerate() {
            *c = row[e] + bias.as_ref().map_or(0.0, |b| b[e]);
        }
        let chosen = if groups == 1 {
            best(&select, 0..experts, k)
        } else {
            let group_scores: Vec<f32> = (0..groups)
                .map(|g| {
                    let top = best(&select, g * per..(g + 1) * per, 2);
                    select[top[0]] + select[top[1]]
                })
                .collect();
            let kept = best(&group_scores, 0..groups, keep);
            best(
                &select,
                kept.iter().flat_map(|&g| g * per..(g + 1) * per),
                k,
            )
        };
        let sum: f32 = chosen.iter().map(|&e| row[e]).sum();
        for &e in &chosen {
            weights.push(if normalize {
                row[e] / sum * scale
            } else {
                row[e] * scale
            });
            indices.push(e as i64);
        }
    }
    Ok(vec![
        Tensor::f32(&[tokens, k], weights)?,
        Tensor::new(vec![tokens, k], Data::I64(indices))?,
    ])
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use xpucert_abi::AttrValue;

    #[test]
    fn groups_limit_the_choice_and_the_bias_only_selects() {
        let s = [0.75f32, 0.25, 0.5, 0.5, 0.875, 0.0, 0.25, 0.25];
        let b = [0f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.625];
        let out = run(
            "MoeGatingTopK",
            &[
                ("k", AttrValue::Int(2)),
                ("n_group", AttrValue::Int(4)),
                ("topk_group", AttrValue::Int(2)),
                ("routed_scaling_factor", AttrValue::Float(2.0)),
            ],
            vec![f32t(&[1, 8], &s), f32t(&[8], &b)],
        )
        .unwrap();
        assert_eq!(values(&out[0]), vec![0.5, 1.5]);
        assert_eq!(out[1].to_indices().unwrap(), vec![7, 0]);
    }
}
