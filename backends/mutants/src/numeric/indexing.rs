//! Faults of the shape and indexing ops (issue 17): a negative-step Slice
//! off by one, Pad's reflect mode read as edge, and ScatterND's reduction
//! ignored.

use xpucert_abi::{AttrValue, BackendError};
use xpucert_reference_core::tensor::Tensor;

use super::io::Loaded;
use super::{Patch, fault};
use crate::Mode;

/// `data` with every element along `axis` replaced by its predecessor
/// (the first keeps itself): what reading coordinate `c - 1` for `c`
/// gives.
fn shifted(data: &Tensor, axis: usize) -> Result<Tensor, BackendError> {
    let d = data.shape[axis];
    let inner: usize = data.shape[axis + 1..].iter().product();
    let index: Vec<usize> = (0..data.numel())
        .map(|i| {
            if (i / inner.max(1)) % d.max(1) >= 1 {
                i - inner
            } else {
                i
            }
        })
        .collect();
    Tensor::new(data.shape.clone(), data.data.gather(&index))
}

/// Slice whose backward-stepping axes read one element too low: the
/// reversed index computed as `start - 1 - k*|step|` instead of
/// `start - k*|step|` (clamped at 0), so the output keeps its shape and
/// every element but those at coordinate 0 comes from its neighbour.
fn slice_negative_off_by_one(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let Some(steps) = l.inputs.get(4).cloned().flatten() else {
        return l.reference();
    };
    let rank = l.input(0)?.shape.len();
    let n = steps.numel();
    let axes: Vec<i64> = match l.inputs.get(3).cloned().flatten() {
        Some(a) => a.to_indices()?,
        None => (0..n as i64).collect(),
    };
    let mut data = l.input(0)?.clone();
    for (k, &s) in steps.to_indices()?.iter().enumerate() {
        let Some(&a) = axes.get(k) else { continue };
        let a = if a < 0 { a + rank as i64 } else { a };
        if s < 0 && (0..rank as i64).contains(&a) {
            data = shifted(&data, a as usize)?;
        }
    }
    l.inputs[0] = Some(data);
    l.reference()
}

/// Fault: a negative-step Slice off by one.
pub fn slice_negative_step_off_by_one() -> Mode {
    fault(
        "slice_negative_step_off_by_one",
        "Slice with a negative step reads each element from one position lower (start - 1 - k|step|, clamped at 0)",
        Patch::new(&["Slice"], slice_negative_off_by_one),
    )
}

/// Pad treating mode=reflect as edge.
fn reflect_as_edge(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    if matches!(l.attr("mode"), Some(AttrValue::String("reflect"))) {
        l.set("mode", AttrValue::String("edge"));
    }
    l.reference()
}

/// Fault: reflect padding computed as edge padding.
pub fn pad_reflect_as_edge() -> Mode {
    fault(
        "pad_reflect_as_edge",
        "Pad with mode=reflect repeats the edge element instead of mirroring about it",
        Patch::new(&["Pad"], reflect_as_edge),
    )
}

/// ScatterND writing every update (reduction none) whatever `reduction`
/// says.
fn reduction_ignored(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.set("reduction", AttrValue::String("none"));
    l.reference()
}

/// Fault: ScatterND's reduction ignored.
pub fn scatternd_reduction_ignored() -> Mode {
    fault(
        "scatternd_reduction_ignored",
        "ScatterND overwrites with the update instead of applying reduction add/mul/max/min",
        Patch::new(&["ScatterND"], reduction_ignored),
    )
}

#[cfg(test)]
mod tests {
    use super::shifted;
    use xpucert_reference_core::tensor::Tensor;

    #[test]
    fn shift_reads_the_predecessor_along_the_axis() {
        let t = Tensor::f32(&[2, 3], vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(
            shifted(&t, 1).unwrap().data,
            Tensor::f32(&[2, 3], vec![0.0, 0.0, 1.0, 3.0, 3.0, 4.0])
                .unwrap()
                .data
        );
        assert_eq!(
            shifted(&t, 0).unwrap().data,
            Tensor::f32(&[2, 3], vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0])
                .unwrap()
                .data
        );
    }
}
