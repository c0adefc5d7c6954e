//! Faults of the gather, scatter and index-movement ops (issue 17):
//! DepthToSpace's CRD mode read as DCR, and GatherND reading every batch
//! from the first.

use xpucert_abi::{AttrValue, BackendError};
use xpucert_reference_core::tensor::Tensor;

use super::io::Loaded;
use super::{Patch, fault};
use crate::Mode;

/// DepthToSpace computing mode=CRD as the default DCR: the same output
/// shape, the channels of each block taken in the other order (the two
/// agree only when C / blocksize² is 1 or blocksize is 1).
fn crd_as_dcr(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    if matches!(l.attr("mode"), Some(AttrValue::String("CRD"))) {
        l.set("mode", AttrValue::String("DCR"));
    }
    l.reference()
}

/// Fault: DepthToSpace's CRD mode read as DCR.
pub fn depthtospace_crd_as_dcr() -> Mode {
    fault(
        "depthtospace_crd_as_dcr",
        "DepthToSpace with mode=CRD rearranges as DCR (depth-column-row channel order)",
        Patch::new(&["DepthToSpace"], crd_as_dcr),
    )
}

/// `data` with every batch (the first `b` axes) holding batch 0's values.
fn first_batch_everywhere(data: &Tensor, b: usize) -> Result<Tensor, BackendError> {
    let per_batch: usize = data.shape[b..].iter().product();
    let index: Vec<usize> = (0..data.numel()).map(|i| i % per_batch.max(1)).collect();
    Tensor::new(data.shape.clone(), data.data.gather(&index))
}

/// GatherND whose tuples index batch 0's data whatever batch they belong
/// to: batch_dims shapes the output but not the offset (a kernel that
/// forgets to add the batch's base offset).
fn batch_offset_dropped(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let b = match l.attr("batch_dims") {
        Some(AttrValue::Int(b)) if b > 0 => b as usize,
        _ => return l.reference(),
    };
    let data = l.input(0)?;
    if data.shape.len() <= b {
        return l.reference();
    }
    let same = first_batch_everywhere(data, b)?;
    l.inputs[0] = Some(same);
    l.reference()
}

/// Fault: GatherND drops the batch offset.
pub fn gathernd_batch_offset_dropped() -> Mode {
    fault(
        "gathernd_batch_offset_dropped",
        "GatherND with batch_dims > 0 reads every batch's tuples from batch 0's data",
        Patch::new(&["GatherND"], batch_offset_dropped),
    )
}

#[cfg(test)]
mod tests {
    use super::first_batch_everywhere;
    use xpucert_reference_core::tensor::Tensor;

    #[test]
    fn every_batch_becomes_the_first() {
        let t = Tensor::f32(&[2, 3], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(
            first_batch_everywhere(&t, 1).unwrap().data,
            Tensor::f32(&[2, 3], vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0])
                .unwrap()
                .data
        );
    }
}
