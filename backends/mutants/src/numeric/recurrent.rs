//! LSTM, GRU and RNN modes: the reference's own recurrence
//! (`reference-core`'s `ops::recurrent::run_with`) with another
//! [`Variant`]: a confused gate order (a fault) or every pre-activation
//! fused into one dot product summed in another order (honest).

use xpucert_abi::BackendError;
use xpucert_reference_core::ops::Args;
use xpucert_reference_core::ops::recurrent::{Cell, Variant, run_with};
use xpucert_reference_core::support::Attrs;
use xpucert_reference_core::tensor::Tensor;

use super::io::Loaded;

/// The recurrent ops.
pub const OPS: &[&str] = &["LSTM", "GRU", "RNN"];

/// Runs the loaded call's cell as `variant` says.
fn run(l: &mut Loaded<'_>, variant: Variant) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    let cell = match l.op() {
        "LSTM" => Cell::Lstm,
        "GRU" => Cell::Gru,
        _ => Cell::Rnn,
    };
    let args = Args {
        op: l.op(),
        opset: l.call.opset,
        attrs: Attrs(&l.attrs),
        inputs: &l.inputs,
        outputs: l.call.output_specs.len(),
    };
    run_with(&args, cell, &variant)
}

/// Honest: each gate's pre-activation as one dot product over the state,
/// the input and both biases, summed last to first (a fused-gate kernel
/// that never forms the input projection), in place of the input
/// projection GEMM plus the recurrent GEMM.
pub fn fused_reversed(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    run(
        l,
        Variant {
            fused_reversed: true,
            ..Variant::REFERENCE
        },
    )
}

/// Fault: LSTM's gate blocks (ONNX's iofc) read as ifco, the order of
/// PyTorch's and Keras' packed weights without the last three swapped: the
/// input gate is right, the forget gate reads the output gate's weights,
/// the cell candidate the forget gate's and the output gate the cell's.
pub fn lstm_gate_order_confused(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    run(
        l,
        Variant {
            lstm_blocks: [0, 3, 1, 2],
            ..Variant::REFERENCE
        },
    )
}
