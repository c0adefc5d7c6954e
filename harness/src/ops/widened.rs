//! The versions of the structural ops that only widen their type list
//! (issue 17: int2). ONNX's opsets 21, 23, 24 and 25 re-released Reshape,
//! Transpose, Identity, Flatten, Squeeze, Unsqueeze, Shape, Size and Pad
//! (and 19 Identity, Shape and Size) for one reason each: the broad `T`
//! grew from `all_tensor_types_ir4` to the IR 9-13 lists, adding fp8 fnuz
//! (19), int4/uint4 (21), FLOAT4E2M1 (23), FLOAT8E8M0 (24) and int2/uint2
//! (25). Nothing else changed (the changelog's entries differ only in their
//! type constraints), so each version here is its op's newest semantic
//! definition (in `shape.rs` or `indexing.rs`) with the data type variable
//! `T` widened to the version's list ([`widened`]): the same oracle, shape
//! rule, check and cost, told apart only by which dtypes they admit.
//!
//! The values are moved, never computed, so the narrow types need nothing
//! new in the oracles: a code is read as its value, moved, and compared
//! exactly like any other element.

use super::spec::{
    CONVERTIBLE_19, CONVERTIBLE_21, CONVERTIBLE_23, CONVERTIBLE_24, CONVERTIBLE_25, TypeVar,
};
use super::{OpDef, OpSpec, indexing, shape};
use crate::numerics::DType;

/// `types` with every input bound to the data variable `T` widened to
/// `allowed`; the other variables (shapes, axes, pads: `Tind`,
/// `tensor(int64)`) are kept.
const fn widen<const N: usize>(types: &[TypeVar], allowed: &'static [DType]) -> [TypeVar; N] {
    let mut out = [TypeVar { name: "T", allowed }; N];
    let mut i = 0;
    while i < N {
        let t = types[i];
        // `T` is the only one-letter variable these ops use.
        if t.name.len() != 1 {
            out[i] = t;
        }
        i += 1;
    }
    out
}

/// `$base` at `$opset`, its data type variable admitting `$allowed`.
macro_rules! widened {
    ($base:expr, $opset:literal, $allowed:expr) => {{
        const TYPES: [TypeVar; $base.spec.input_types.len()] =
            widen($base.spec.input_types, $allowed);
        OpDef {
            spec: OpSpec {
                opset: $opset,
                input_types: &TYPES,
                ..$base.spec
            },
            ..$base
        }
    }};
}

/// Reshape-21: int4/uint4 (the one Reshape definition, `allowzero`
/// included, is in `shape.rs`).
pub(super) const RESHAPE_21: OpDef = widened!(shape::RESHAPE, 21, CONVERTIBLE_21);
/// Reshape-23: FLOAT4E2M1.
pub(super) const RESHAPE_23: OpDef = widened!(shape::RESHAPE, 23, CONVERTIBLE_23);
/// Reshape-24: FLOAT8E8M0.
pub(super) const RESHAPE_24: OpDef = widened!(shape::RESHAPE, 24, CONVERTIBLE_24);
/// Reshape-25: int2/uint2.
pub(super) const RESHAPE_25: OpDef = widened!(shape::RESHAPE, 25, CONVERTIBLE_25);

/// Transpose-21: int4/uint4.
pub(super) const TRANSPOSE_21: OpDef = widened!(shape::TRANSPOSE, 21, CONVERTIBLE_21);
/// Transpose-23: FLOAT4E2M1.
pub(super) const TRANSPOSE_23: OpDef = widened!(shape::TRANSPOSE, 23, CONVERTIBLE_23);
/// Transpose-24: FLOAT8E8M0.
pub(super) const TRANSPOSE_24: OpDef = widened!(shape::TRANSPOSE, 24, CONVERTIBLE_24);
/// Transpose-25: int2/uint2.
pub(super) const TRANSPOSE_25: OpDef = widened!(shape::TRANSPOSE, 25, CONVERTIBLE_25);

/// Identity-19: fp8 fnuz.
pub(super) const IDENTITY_19: OpDef = widened!(indexing::IDENTITY, 19, CONVERTIBLE_19);
/// Identity-21: int4/uint4.
pub(super) const IDENTITY_21: OpDef = widened!(indexing::IDENTITY, 21, CONVERTIBLE_21);
/// Identity-23: FLOAT4E2M1.
pub(super) const IDENTITY_23: OpDef = widened!(indexing::IDENTITY, 23, CONVERTIBLE_23);
/// Identity-24: FLOAT8E8M0.
pub(super) const IDENTITY_24: OpDef = widened!(indexing::IDENTITY, 24, CONVERTIBLE_24);
/// Identity-25: int2/uint2.
pub(super) const IDENTITY_25: OpDef = widened!(indexing::IDENTITY, 25, CONVERTIBLE_25);

/// Flatten-21: int4/uint4.
pub(super) const FLATTEN_21: OpDef = widened!(indexing::FLATTEN, 21, CONVERTIBLE_21);
/// Flatten-23: FLOAT4E2M1.
pub(super) const FLATTEN_23: OpDef = widened!(indexing::FLATTEN, 23, CONVERTIBLE_23);
/// Flatten-24: FLOAT8E8M0.
pub(super) const FLATTEN_24: OpDef = widened!(indexing::FLATTEN, 24, CONVERTIBLE_24);
/// Flatten-25: int2/uint2.
pub(super) const FLATTEN_25: OpDef = widened!(indexing::FLATTEN, 25, CONVERTIBLE_25);

/// Squeeze-21: int4/uint4 (axes an input, as from 13).
pub(super) const SQUEEZE_21: OpDef = widened!(indexing::SQUEEZE, 21, CONVERTIBLE_21);
/// Squeeze-23: FLOAT4E2M1.
pub(super) const SQUEEZE_23: OpDef = widened!(indexing::SQUEEZE, 23, CONVERTIBLE_23);
/// Squeeze-24: FLOAT8E8M0.
pub(super) const SQUEEZE_24: OpDef = widened!(indexing::SQUEEZE, 24, CONVERTIBLE_24);
/// Squeeze-25: int2/uint2.
pub(super) const SQUEEZE_25: OpDef = widened!(indexing::SQUEEZE, 25, CONVERTIBLE_25);

/// Unsqueeze-21: int4/uint4 (axes an input, as from 13).
pub(super) const UNSQUEEZE_21: OpDef = widened!(indexing::UNSQUEEZE, 21, CONVERTIBLE_21);
/// Unsqueeze-23: FLOAT4E2M1.
pub(super) const UNSQUEEZE_23: OpDef = widened!(indexing::UNSQUEEZE, 23, CONVERTIBLE_23);
/// Unsqueeze-24: FLOAT8E8M0.
pub(super) const UNSQUEEZE_24: OpDef = widened!(indexing::UNSQUEEZE, 24, CONVERTIBLE_24);
/// Unsqueeze-25: int2/uint2.
pub(super) const UNSQUEEZE_25: OpDef = widened!(indexing::UNSQUEEZE, 25, CONVERTIBLE_25);

/// Shape-19: fp8 fnuz (`start`/`end` as from 15).
pub(super) const SHAPE_19: OpDef = widened!(indexing::SHAPE, 19, CONVERTIBLE_19);
/// Shape-21: int4/uint4.
pub(super) const SHAPE_21: OpDef = widened!(indexing::SHAPE, 21, CONVERTIBLE_21);
/// Shape-23: FLOAT4E2M1.
pub(super) const SHAPE_23: OpDef = widened!(indexing::SHAPE, 23, CONVERTIBLE_23);
/// Shape-24: FLOAT8E8M0.
pub(super) const SHAPE_24: OpDef = widened!(indexing::SHAPE, 24, CONVERTIBLE_24);
/// Shape-25: int2/uint2.
pub(super) const SHAPE_25: OpDef = widened!(indexing::SHAPE, 25, CONVERTIBLE_25);

/// Size-19: fp8 fnuz.
pub(super) const SIZE_19: OpDef = widened!(indexing::SIZE, 19, CONVERTIBLE_19);
/// Size-21: int4/uint4.
pub(super) const SIZE_21: OpDef = widened!(indexing::SIZE, 21, CONVERTIBLE_21);
/// Size-23: FLOAT4E2M1.
pub(super) const SIZE_23: OpDef = widened!(indexing::SIZE, 23, CONVERTIBLE_23);
/// Size-24: FLOAT8E8M0.
pub(super) const SIZE_24: OpDef = widened!(indexing::SIZE, 24, CONVERTIBLE_24);
/// Size-25: int2/uint2.
pub(super) const SIZE_25: OpDef = widened!(indexing::SIZE, 25, CONVERTIBLE_25);

/// Pad-21: int4/uint4 (`axes`, `wrap` mode as from 19; the data and
/// `constant_value` share `T`).
pub(super) const PAD_21: OpDef = widened!(indexing::PAD, 21, CONVERTIBLE_21);
/// Pad-23: FLOAT4E2M1.
pub(super) const PAD_23: OpDef = widened!(indexing::PAD, 23, CONVERTIBLE_23);
/// Pad-24: FLOAT8E8M0.
pub(super) const PAD_24: OpDef = widened!(indexing::PAD, 24, CONVERTIBLE_24);
/// Pad-25: int2/uint2.
pub(super) const PAD_25: OpDef = widened!(indexing::PAD, 25, CONVERTIBLE_25);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::spec::STANDARD;

    /// Each version admits its own narrow types and no newer ones, and
    /// keeps the non-data variables (Reshape's `shape`, Pad's `pads`).
    #[test]
    fn each_version_admits_its_types_only() {
        let d = |t: DType| [Some(t)];
        for (def, newest, next) in [
            (&IDENTITY_19, DType::F8E5M2FNUZ, Some(DType::I4)),
            (&TRANSPOSE_21, DType::U4, Some(DType::F4E2M1)),
            (&FLATTEN_23, DType::F4E2M1, Some(DType::F8E8M0)),
            (&SIZE_24, DType::F8E8M0, Some(DType::I2)),
            (&SHAPE_25, DType::U2, None),
        ] {
            assert!(
                def.spec.check_inputs(&d(newest)).is_ok(),
                "{}",
                def.spec.opset
            );
            assert!(def.spec.check_inputs(&d(DType::F32)).is_ok());
            if let Some(n) = next {
                let e = def.spec.check_inputs(&d(n)).unwrap_err();
                assert!(e.contains("must be one of"), "{e}");
            }
        }
        // The semantic definitions themselves stay at the standard types.
        assert!(indexing::IDENTITY.spec.input_types[0].allowed == STANDARD);
        let reshape = RESHAPE_25.spec;
        assert!(
            reshape
                .check_inputs(&[Some(DType::I2), Some(DType::I64)])
                .is_ok()
        );
        assert!(
            reshape
                .check_inputs(&[Some(DType::I2), Some(DType::I2)])
                .is_err()
        );
        let pad = PAD_25.spec;
        let pads = Some(DType::I64);
        assert!(
            pad.check_inputs(&[Some(DType::U2), pads, Some(DType::U2)])
                .is_ok()
        );
        let e = pad
            .check_inputs(&[Some(DType::U2), pads, Some(DType::I2)])
            .unwrap_err();
        assert!(e.contains("same dtype"), "{e}");
        assert!(
            pad.check_inputs(&[Some(DType::U2), Some(DType::U2)])
                .is_err()
        );
    }
}
