//! Faults of the data-dependent-shape ops (issue 17): NonZero that writes
//! the right indices but never reports their count, so the harness reads
//! the whole bound.

use xpucert_abi::{BackendError, OpCall, TensorMut};
use xpucert_reference_core::ReferenceBackend;

use super::io::{Loaded, Reading, bytes_of};
use crate::{Behaviour, Expect, Mode};

/// NonZero computed by the reference, its `[rank, n]` indices written
/// contiguously at the start of the `[rank, numel]` bound, but the dims
/// slot left holding the bound: the bug of a kernel ported from a fixed-
/// shape ABI, which writes a count nowhere.
struct ShapeNotReported;

impl Behaviour for ShapeNotReported {
    fn run(
        &self,
        r: &ReferenceBackend,
        call: &OpCall<'_>,
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), BackendError> {
        use xpucert_abi::Backend;
        if call.op_type != "NonZero" {
            return r.run_op(call, outputs);
        }
        let loaded = Loaded::new(call, Reading::Strided)?;
        let results = loaded.reference()?;
        for (res, out) in results.iter().zip(outputs.iter_mut()) {
            let src = bytes_of(res);
            let dst = out.bytes_mut();
            let n = src.len().min(dst.len());
            dst[..n].copy_from_slice(&src[..n]);
            // The rest of the bound is zero-filled (as a memset would), so
            // the poison check cannot be what catches it: the shape is.
            dst[n..].fill(0);
        }
        Ok(())
    }
}

/// Fault: NonZero's actual shape never reported.
pub fn nonzero_shape_not_reported() -> Mode {
    Mode {
        name: "nonzero_shape_not_reported",
        expect: Expect::Fail,
        ops: &["NonZero"],
        description: "NonZero writes the right indices at the start of the bound but leaves output_shapes at the bound (rank x numel)",
        behaviour: Box::new(ShapeNotReported),
    }
}
