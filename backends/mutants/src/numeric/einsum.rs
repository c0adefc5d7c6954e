//! Linear-algebra faults (issue 17): Det by Gaussian elimination without
//! row exchanges, the textbook loop that works on every random matrix and
//! fails on a small or zero leading pivot.

use xpucert_abi::BackendError;
use xpucert_reference_core::ops::{Args, einsum};
use xpucert_reference_core::support::Attrs;
use xpucert_reference_core::tensor::Tensor;

use super::io::Loaded;

/// Fault: Det eliminating without partial pivoting.
pub fn det_without_pivoting(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let a = Args {
        op: l.op(),
        opset: l.call.opset,
        attrs: Attrs(&l.attrs),
        inputs: &l.inputs,
        outputs: l.call.output_specs.len(),
    };
    Ok(vec![einsum::det_with(&a, false)?])
}
