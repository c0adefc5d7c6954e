//! ConvTranspose faults: the reference's own kernel (`reference-core`'s
//! `ops::conv_transpose`) over a wrong output window.

use xpucert_abi::BackendError;
use xpucert_reference_core::ops::{Args, conv_transpose};
use xpucert_reference_core::support::Attrs;
use xpucert_reference_core::tensor::Tensor;

use super::io::Loaded;

/// Fault: ConvTranspose adds `output_padding`'s extra elements at the
/// start of each axis instead of the end (the output window slides back by
/// `output_padding`): the output shape is right, every element is shifted,
/// and the first ones hold the bias alone.
pub fn output_padding_at_start(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let a = Args {
        op: l.op(),
        opset: l.call.opset,
        attrs: Attrs(&l.attrs),
        inputs: &l.inputs,
        outputs: l.call.output_specs.len(),
    };
    let (mut g, group) = conv_transpose::geometry(&a)?;
    for (b, &p) in g.begin.iter_mut().zip(&g.output_padding) {
        *b -= p as i64;
    }
    Ok(vec![conv_transpose::conv_transpose_with(&a, &g, group)?])
}
