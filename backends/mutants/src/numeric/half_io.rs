//! f16/bf16 io: what the precision declaration says versus what is summed.
//!
//! The reference computes every arithmetic op on f16/bf16 in f32 and rounds
//! once, and declares f32. A backend may do the same and declare nothing
//! (the default precision with half io means "accumulates in at least f32");
//! a backend that keeps its running sums in the io dtype must be caught.

use xpucert_abi::{BackendError, DType, OpCall, OpSupport, Precision, TensorMut};
use xpucert_reference_core::ReferenceBackend;
use xpucert_reference_core::tensor::Tensor;

use super::io::Loaded;
use super::rows::{self, Order, SoftmaxKind};
use super::{Patch, Unchanged, fault};
use crate::{Behaviour, Expect, Mode};

/// Another behaviour, answering the default precision where it would
/// declare f32 (the reference does so for f16/bf16 arithmetic).
pub struct DeclaresDefault<B>(pub B);

impl<B: Behaviour> Behaviour for DeclaresDefault<B> {
    fn query(&self, r: &ReferenceBackend, call: &OpCall<'_>) -> Result<OpSupport, BackendError> {
        let mut answer = self.0.query(r, call)?;
        if answer.compute_precision == Precision::DType(DType::F32) {
            answer.compute_precision = Precision::Default;
        }
        Ok(answer)
    }

    fn run(
        &self,
        r: &ReferenceBackend,
        call: &OpCall<'_>,
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), BackendError> {
        self.0.run(r, call, outputs)
    }
}

/// Honest: the reference's f32 arithmetic on half io, declared as default.
pub fn half_io_f32_accumulate() -> Mode {
    Mode {
        name: "half_io_f32_accumulate",
        expect: Expect::Pass,
        ops: &[],
        description: "f16/bf16 io computed in f32 and rounded once (the reference's kernels), declared as default precision instead of f32",
        behaviour: Box::new(DeclaresDefault(Unchanged)),
    }
}

/// ReduceSum/ReduceMean/Softmax/LogSoftmax on f16/bf16 with every partial
/// sum rounded to the io dtype; f32 and f64 calls unchanged.
fn running_half(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let dtype = l.input(0)?.dtype();
    if !matches!(dtype, DType::F16 | DType::BF16) {
        return l.reference();
    }
    let order = Order::Running(dtype);
    match l.op() {
        "ReduceSum" | "ReduceMean" => rows::reduce(l, order),
        _ => rows::softmax(l, SoftmaxKind::TwoPass(order)),
    }
}

/// Fault: half running accumulators while f32 accumulation is declared.
pub fn half_running_accumulator() -> Mode {
    fault(
        "half_running_accumulator",
        "f16/bf16 ReduceSum/ReduceMean/Softmax/LogSoftmax sum in a running accumulator of the io dtype while f32 is declared",
        Patch::new(
            &["ReduceSum", "ReduceMean", "Softmax", "LogSoftmax"],
            running_half,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_half_sums_stall_where_f32_does_not() {
        let ones = vec![1.0f32; 4096];
        assert_eq!(rows::sum(Order::Sequential, &ones), 4096.0);
        // bf16 keeps 8 significant bits: 256 + 1 rounds back to 256.
        assert_eq!(rows::sum(Order::Running(DType::BF16), &ones), 256.0);
        // f16 keeps 11: 2048 + 1 rounds back to 2048.
        assert_eq!(rows::sum(Order::Running(DType::F16), &ones), 2048.0);
    }
}
