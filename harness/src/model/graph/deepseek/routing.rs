//! Routing as a discrete decision the two paths must agree on.
//!
//! Which experts a token goes to is a discontinuous function of the router
//! scores. An honest backend running in bf16 computes the router's input
//! with errors the layer threshold allows, and where two experts, or two
//! groups, are within that error of each other it may choose the other
//! one. From then on, that token's output differs by a whole expert, and
//! no numeric threshold separates this from a wrong router. DeepSeek-V3's
//! group-limited routing makes such near-ties frequent: the groups are
//! ranked by sums of scores, and a group dropped by a hair takes all its
//! experts with it.
//!
//! xpucert therefore treats routing the way it treats the tokens fed at
//! decode steps. The oracle path runs first and records, for every MoE
//! call, its choice and each token's exact selection scores. The backend
//! path makes its own choice with its own router, and it is judged by
//! [`judge`]:
//! - It agrees with the oracle's: it runs its own choice.
//! - It differs only where the oracle's scores are within the slack of a
//!   tie: it runs the oracle's choice instead (it is forced, as tokens
//!   are), with weights computed from its own scores exactly as
//!   MoeGatingTopK specifies. The continuous comparison then measures
//!   everything else, and the forced tokens are counted in the report.
//! - It differs by more than the slack: it runs its own choice, the
//!   outputs diverge, and the message names the layer and the token.
//!
//! The slack of a token is how far its selection scores can move when the
//! router's input moves by the relative L2 error the suite allows the
//! hidden state (`layer_rel_l2_max`, `r`): `|dx . w_e| <= r |x| |w_e|`
//! (Cauchy-Schwarz), times the scoring function's slope, at most 1/4 for
//! the sigmoid. The slack is that figure for the expert with the largest
//! `|w_e|`, and the softmax also takes it as its bound. A router that
//! ignores the groups, ranks them wrongly, or applies the bias to the
//! weights still fails: the first two choose experts far from any tie, and
//! the third changes the weights, not the choice.

use serde::{Deserialize, Serialize};

use crate::ops::top_indices as best;

/// One MoE call as the oracle routed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Routing {
    /// `layers.3`, for messages.
    pub layer: String,
    /// Tokens of the call.
    pub tokens: usize,
    /// Routed experts.
    pub experts: usize,
    /// Experts per token.
    pub k: usize,
    /// Expert groups (1: none).
    pub groups: usize,
    /// Groups kept.
    pub keep_groups: usize,
    /// Exact selection scores (score plus bias), `tokens x experts`.
    pub select: Vec<f64>,
    /// How far each token's selection scores may honestly move.
    pub slack: Vec<f64>,
    /// The oracle's choice, `tokens x k`, best first.
    pub chosen: Vec<usize>,
}

/// Whether `own` (`tokens x k`, a path's choice) is the oracle's choice up
/// to near-ties, token by token. With groups, the token may use no more
/// groups than are kept, and each group it uses must score within the
/// slack of the oracle's last kept group (four times the slack: a group
/// score sums two selection scores, and both sides of the comparison
/// move). Each chosen expert must score within the slack (twice) of the
/// `k`-th best among the groups this path could have kept: those it used,
/// filled up with the oracle's.
/// `Ok` counts the tokens whose experts differ from the oracle's; `Err`
/// names the first token where it does not hold and by how much.
pub fn judge(r: &Routing, own: &[usize]) -> Result<usize, String> {
    if own.len() != r.tokens * r.k {
        return Err(format!(
            "{}: {} experts chosen, {} expected ({} tokens x {})",
            r.layer,
            own.len(),
            r.tokens * r.k,
            r.tokens,
            r.k
        ));
    }
    let per = r.experts / r.groups.max(1);
    let mut differing = 0;
    for t in 0..r.tokens {
        let c = &r.select[t * r.experts..(t + 1) * r.experts];
        let slack = r.slack[t];
        let mine = &own[t * r.k..(t + 1) * r.k];
        let oracle = &r.chosen[t * r.k..(t + 1) * r.k];
        let mut a: Vec<usize> = mine.to_vec();
        let mut b: Vec<usize> = oracle.to_vec();
        a.sort_unstable();
        b.sort_unstable();
        if a == b {
            continue;
        }
        differing += 1;
        if a.windows(2).any(|w| w[0] == w[1]) || a.iter().any(|&e| e >= r.experts) {
            return Err(format!(
                "{} token {t}: experts {mine:?} are not {} distinct experts of {}",
                r.layer, r.k, r.experts
            ));
        }
        let eligible: Vec<usize> = if r.groups > 1 {
            let gs: Vec<f64> = (0..r.groups)
                .map(|g| {
                    let top = best(c, g * per..(g + 1) * per, 2);
                    c[top[0]] + c[top[1]]
                })
                .collect();
            let kept = best(&gs, 0..r.groups, r.keep_groups);
            let cut = gs[*kept.last().expect("topk_group >= 1")];
            let mut used: Vec<usize> = mine.iter().map(|&e| e / per).collect();
            used.sort_unstable();
            used.dedup();
            if used.len() > r.keep_groups {
                return Err(format!(
                    "{} token {t}: experts {mine:?} span {} groups, {} are kept",
                    r.layer,
                    used.len(),
                    r.keep_groups
                ));
            }
            if let Some(&g) = used.iter().find(|&&g| gs[g] + 4.0 * slack < cut) {
                return Err(format!(
                    "{} token {t}: expert group {g} scores {:.6}, {:.3e} below the last kept group's {cut:.6} (slack {slack:.1e}); the oracle chose {oracle:?}, the backend {mine:?}",
                    r.layer,
                    gs[g],
                    cut - gs[g]
                ));
            }
            // The groups this path could have kept: the ones it used, then
            // the oracle's best others.
            let mut could: Vec<usize> = used.clone();
            for &g in &kept {
                if could.len() < r.keep_groups && !could.contains(&g) {
                    could.push(g);
                }
            }
            could.iter().flat_map(|&g| g * per..(g + 1) * per).collect()
        } else {
            (0..r.experts).collect()
        };
        let top = best(c, eligible.into_iter(), r.k);
        let cut = c[*top.last().expect("k >= 1")];
        if let Some(&e) = mine.iter().find(|&&e| c[e] + 2.0 * slack < cut) {
            return Err(format!(
                "{} token {t}: expert {e} scores {:.6}, {:.3e} below the k-th best {cut:.6} (slack {slack:.1e}); the oracle chose {oracle:?}, the backend {mine:?}",
                r.layer,
                c[e],
                cut - c[e]
            ));
        }
    }
    Ok(differing)
}

/// The weights of `chosen` experts (`tokens x k`) from `scores` (`tokens x
/// experts`, without the bias), as MoeGatingTopK computes them, in f32.
pub fn weights_for(
    scores: &[f64],
    experts: usize,
    chosen: &[usize],
    k: usize,
    normalize: bool,
    scale: f64,
) -> Vec<f64> {
    let scale = scale as f32;
    chosen
        .chunks(k)
        .enumerate()
        .flat_map(|(t, row)| {
            let s: Vec<f32> = row
                .iter()
                .map(|&e| scores[t * experts + e] as f32)
                .collect();
            let sum: f32 = s.iter().sum();
            s.into_iter()
                .map(move |v| {
                    f64::from(if normalize {
                        v / sum * scale
                    } else {
                        v * scale
                    })
                })
                .collect::<Vec<f64>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing(select: Vec<f64>, slack: f64, chosen: Vec<usize>) -> Routing {
        Routing {
            layer: "layers.1".into(),
            tokens: 1,
            experts: 8,
            k: 2,
            groups: 4,
            keep_groups: 2,
            select,
            slack: vec![slack],
            chosen,
        }
    }

    #[test]
    fn near_ties_pass_and_real_differences_fail() {
        // Groups (pairs): g0 1.0, g1 0.9999, g2 0.5, g3 1.2. Kept: g3, g0.
        let c = vec![0.6, 0.4, 0.5, 0.4999, 0.3, 0.2, 0.7, 0.5];
        let r = routing(c, 1e-4, vec![6, 0]);
        assert_eq!(judge(&r, &[0, 6]), Ok(0), "order is free");
        // g1 is within 4 slack of g0 (1e-4 apart): choosing from it passes.
        assert_eq!(judge(&r, &[6, 2]), Ok(1));
        // g2 is 0.5 below: a router that ignored the groups...
        let e = judge(&r, &[6, 4]).unwrap_err();
        assert!(e.contains("expert group 2"), "{e}");
        // ...and an expert far below the k-th best, in a kept group.
        let e = judge(&r, &[6, 7]).unwrap_err();
        assert!(e.contains("expert 7"), "{e}");
        // The same choice with no slack is judged exactly.
        let r = routing(r.select.clone(), 0.0, vec![6, 0]);
        assert!(judge(&r, &[6, 2]).is_err());
        assert!(judge(&r, &[6, 6]).unwrap_err().contains("distinct"));
    }

    #[test]
    fn forced_weights_follow_the_spec() {
        let s = [0.25, 0.75, 0.5, 0.0];
        assert_eq!(weights_for(&s, 4, &[1, 0], 2, true, 2.0), vec![1.5, 0.5]);
        assert_eq!(weights_for(&s, 4, &[2, 1], 2, false, 2.0), vec![1.0, 1.5]);
    }
}
