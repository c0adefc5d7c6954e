//! Faults of DeepSeek-V3 ports (issue 18): how a vendor's router kernel or
//! model port gets DeepSeek's routing and YaRN wrong.

use xpucert_abi::{AttrValue, BackendError};
use xpucert_reference_core::tensor::Tensor;

use super::io::Loaded;
use super::{Patch, fault};
use crate::Mode;

/// MoeGatingTopK ranking all experts together: `n_group` and
/// `topk_group` ignored (the router of a port written for DeepSeek-V2's
/// `greedy` method).
fn groups_ignored(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.set("n_group", AttrValue::Int(1));
    l.set("topk_group", AttrValue::Int(1));
    l.reference()
}

/// MoeGatingTopK whose weights come from the biased scores: the bias is
/// added to the scores once, for selection and weights alike.
fn bias_in_weights(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let Some(bias) = l.inputs.get(1).cloned().flatten() else {
        return l.reference();
    };
    let scores = l.input(0)?;
    let s = scores.to_real::<f32>()?;
    let b = bias.to_real::<f32>()?;
    let biased: Vec<f32> = s
        .iter()
        .enumerate()
        .map(|(i, &v)| v + b[i % b.len()])
        .collect();
    l.inputs[0] = Some(Tensor::f32(&scores.shape.clone(), biased)?);
    l.inputs[1] = None;
    l.reference()
}

/// Attention that ignores its `scale` attribute and uses `1/sqrt(head
/// dim)`: how a DeepSeek port loses YaRN's `mscale^2`, which only the
/// attention scale carries.
fn scale_ignored(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.unset("scale");
    l.reference()
}

/// The DeepSeek faults.
pub fn fault_modes() -> Vec<Mode> {
    vec![
        fault(
            "moe_groups_ignored",
            "MoeGatingTopK picks the top k over all experts, ignoring n_group and topk_group",
            Patch::new(&["MoeGatingTopK"], groups_ignored),
        ),
        fault(
            "moe_bias_in_weights",
            "MoeGatingTopK weights the chosen experts by their biased scores (the correction bias applied to the weights as well as the selection)",
            Patch::new(&["MoeGatingTopK"], bias_in_weights),
        ),
        fault(
            "attention_scale_ignored",
            "Attention uses 1/sqrt(head dim) whatever its scale attribute says (a DeepSeek port losing YaRN's mscale^2)",
            Patch::new(&["Attention"], scale_ignored),
        ),
    ]
}
