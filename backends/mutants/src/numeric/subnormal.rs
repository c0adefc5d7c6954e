//! Subnormal flushing, declared and undeclared.
//!
//! GPUs in flush-to-zero mode write results below the normal range as zero
//! (FTZ), and many also read subnormal inputs as zero (DAZ: CUDA's `ftz`,
//! OpenCL devices without `CL_FP_DENORM`). Both are legal when `query_op`
//! declares them (`XpuOpSupport.numeric_flags`); undeclared, the harness
//! must see a wrong result. These modes flush f32 and bf16 (where hardware
//! flushes); f16 keeps its subnormals, as half arithmetic units do.

use xpucert_abi::{BackendError, NumericFlags, OpCall, OpSupport, Support, TensorMut};
use xpucert_reference_core::ReferenceBackend;
use xpucert_reference_core::tensor::{Data, Tensor};

use super::io::{self, Loaded, Reading};
use crate::{Behaviour, Expect, Mode};

/// The ops a flush-to-zero unit changes: arithmetic, the elementwise
/// functions, and the reductions, data movement excluded. Relu and Neg are
/// here because their exact checks are where an undeclared flush is most
/// visible.
const FTZ_OPS: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Relu",
    "Neg",
    "Exp",
    "Sigmoid",
    "Softplus",
    "Gelu",
    "MatMul",
    "Gemm",
    "ReduceSum",
    "ReduceMean",
    "Softmax",
    "LayerNormalization",
    "RMSNormalization",
];

/// The elementwise ops and reductions a DAZ unit reads differently.
const DAZ_OPS: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Relu",
    "Neg",
    "Sqrt",
    "Exp",
    "ReduceSum",
    "ReduceMean",
    "MatMul",
    "Gemm",
];

/// The ops the faults flush: enough for the exact (Relu, Neg), correctly
/// rounded (Add, Sub, Mul) and bound (ReduceSum) checks to each see it.
const FAULT_OPS: &[&str] = &["Relu", "Neg", "Add", "Sub", "Mul", "ReduceSum"];

/// The reference with subnormal inputs and/or results of `ops` flushed.
struct Flushing {
    ops: &'static [&'static str],
    /// Read f32/bf16 subnormal inputs as zero of the same sign.
    inputs: bool,
    /// Write f32/bf16 subnormal results as zero of the same sign.
    outputs: bool,
    /// Declare what it does in `query_op`.
    declared: bool,
}

impl Flushing {
    fn changes(&self, op: &str) -> bool {
        self.ops.contains(&op)
    }
}

impl Behaviour for Flushing {
    fn query(&self, r: &ReferenceBackend, call: &OpCall<'_>) -> Result<OpSupport, BackendError> {
        use xpucert_abi::Backend;
        let mut answer = r.query_op(call)?;
        if self.declared && self.changes(call.op_type) && answer.support != Support::None {
            answer.numeric = NumericFlags {
                flush_subnormal_inputs: self.inputs,
                flush_subnormal_outputs: self.outputs,
            };
        }
        Ok(answer)
    }

    fn run(
        &self,
        r: &ReferenceBackend,
        call: &OpCall<'_>,
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), BackendError> {
        use xpucert_abi::Backend;
        if !self.changes(call.op_type) {
            return r.run_op(call, outputs);
        }
        let mut l = Loaded::new(call, Reading::Strided)?;
        if self.inputs {
            l.inputs.iter_mut().flatten().for_each(flush);
        }
        let mut results = l.reference()?;
        if self.outputs {
            results.iter_mut().for_each(flush);
        }
        io::store(&results, outputs)
    }
}

/// Sets every f32 and bf16 subnormal of `t` to zero, keeping the sign.
pub(super) fn flush(t: &mut Tensor) {
    match &mut t.data {
        Data::F32(v) => v.iter_mut().for_each(|x| {
            if x.is_subnormal() {
                *x = 0.0f32.copysign(*x);
            }
        }),
        Data::BF16(v) => v.iter_mut().for_each(|b| {
            if *b & 0x7F80 == 0 {
                *b &= 0x8000;
            }
        }),
        _ => {}
    }
}

fn mode(
    name: &'static str,
    expect: Expect,
    description: &'static str,
    behaviour: Flushing,
) -> Mode {
    Mode {
        name,
        expect,
        ops: behaviour.ops,
        description,
        behaviour: Box::new(behaviour),
    }
}

/// `flush_to_zero`: declared FTZ.
pub(super) fn flush_to_zero() -> Mode {
    mode(
        "flush_to_zero",
        Expect::Pass,
        "f32/bf16 results below the normal range flushed to signed zero (GPU FTZ mode), declared in query_op",
        Flushing {
            ops: FTZ_OPS,
            inputs: false,
            outputs: true,
            declared: true,
        },
    )
}

/// The honest DAZ modes, then the undeclared faults.
pub(super) fn modes() -> (Vec<Mode>, Vec<Mode>) {
    let honest = vec![
        mode(
            "flush_inputs_declared",
            Expect::Pass,
            "f32/bf16 subnormal inputs read as signed zero (DAZ), declared in query_op",
            Flushing {
                ops: DAZ_OPS,
                inputs: true,
                outputs: false,
                declared: true,
            },
        ),
        mode(
            "flush_both_declared",
            Expect::Pass,
            "f32/bf16 subnormal inputs read and results written as signed zero (DAZ + FTZ), declared",
            Flushing {
                ops: DAZ_OPS,
                inputs: true,
                outputs: true,
                declared: true,
            },
        ),
    ];
    let faults = vec![
        mode(
            "flush_outputs_undeclared",
            Expect::Fail,
            "Relu/Neg/Add/Sub/Mul/ReduceSum: f32/bf16 subnormal results written as zero, not declared",
            Flushing {
                ops: FAULT_OPS,
                inputs: false,
                outputs: true,
                declared: false,
            },
        ),
        mode(
            "flush_inputs_undeclared",
            Expect::Fail,
            "Relu/Neg/Add/Sub/Mul/ReduceSum: f32/bf16 subnormal inputs read as zero, not declared",
            Flushing {
                ops: FAULT_OPS,
                inputs: true,
                outputs: false,
                declared: false,
            },
        ),
    ];
    (honest, faults)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_zeroes_subnormals_only_keeping_the_sign() {
        let mut t = Tensor {
            shape: vec![4],
            data: Data::F32(vec![1e-40, -1e-40, f32::MIN_POSITIVE, 1.0]),
        };
        flush(&mut t);
        let Data::F32(v) = &t.data else {
            unreachable!()
        };
        assert_eq!(v[0].to_bits(), 0);
        assert_eq!(v[1].to_bits(), 0x8000_0000);
        assert_eq!(&v[2..], &[f32::MIN_POSITIVE, 1.0]);
        // bf16: 0x0001 is the smallest subnormal, 0x0080 the smallest normal.
        let mut t = Tensor {
            shape: vec![3],
            data: Data::BF16(vec![0x0001, 0x8041, 0x0080]),
        };
        flush(&mut t);
        assert_eq!(t.data, Data::BF16(vec![0x0000, 0x8000, 0x0080]));
    }
}
