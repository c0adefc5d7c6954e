//! Faults of the integer-quantized and last pooling ops: the reference's
//! own kernels (`reference-core`'s `ops::quant_int` and `ops::pool_more`)
//! on a rewritten call.

use xpucert_abi::BackendError;
use xpucert_reference_core::ops::{Args, pool_more, quant_int};
use xpucert_reference_core::support::Attrs;
use xpucert_reference_core::tensor::{Data, Tensor};

use super::io::Loaded;

/// The reference kernels' view of the loaded call.
fn args<'l>(l: &'l Loaded<'_>) -> Args<'l> {
    Args {
        op: l.op(),
        opset: l.call.opset,
        attrs: Attrs(&l.attrs),
        inputs: &l.inputs,
        outputs: l.call.output_specs.len(),
    }
}

/// A zero tensor like `t` (int8 or uint8).
fn zeros_like(t: &Tensor) -> Result<Tensor, BackendError> {
    let data = match &t.data {
        Data::I8(v) => Data::I8(vec![0; v.len()]),
        Data::U8(v) => Data::U8(vec![0; v.len()]),
        other => {
            return Err(BackendError::internal(format!(
                "zero point of dtype {}",
                other.dtype()
            )));
        }
    };
    Tensor::new(t.shape.clone(), data)
}

/// Fault: QLinearMatMul and QLinearConv that ignore the input zero points
/// (a's and b's, x's and w's: inputs 2 and 5), as a kernel written for
/// symmetric quantization does; y's zero point is still added.
pub fn qlinear_zero_point_ignored(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    for i in [2, 5] {
        if let Some(Some(z)) = l.inputs.get(i) {
            let zero = zeros_like(z)?;
            l.inputs[i] = Some(zero);
        }
    }
    let a = args(l);
    Ok(vec![if l.op() == "QLinearMatMul" {
        quant_int::qlinear_matmul(&a)?
    } else {
        quant_int::qlinear_conv(&a)?
    }])
}

/// Fault: LpPool that ignores its `p` attribute and always takes the
/// 2-norm (the default), as a kernel specialised for L2 pooling would.
pub fn lppool_p_ignored(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    l.check()?;
    l.attrs.retain(|a| a.name != "p");
    Ok(vec![pool_more::lp_pool(&args(l))?])
}
