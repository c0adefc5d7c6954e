//! Every case judged at load by its operator's rules, before anything
//! runs: the type constraints and the shape rule (`ops::Op::output_shapes`),
//! which refuse exactly what the oracle would refuse mid-run (a test in
//! `ops::tests` holds them to that), with the case's place in the file. A
//! suite mistake is then exit 2 with `file:line:col`, never an `error`
//! result blamed on the backend. The output shapes the rule gives are
//! also what the case's memory estimate is made from.

use std::cell::Cell;

use serde_saphyr::Location;

use super::FileCtx;
use crate::ops::TypedShape;
use crate::suite::error::SuiteError;
use crate::suite::{Case, InputSpec, inputs, memory_estimate};

/// Most elements of an input whose values the rule reads at load
/// (indices, shapes, K, axes, scales): generating them costs up to
/// 2^24 * 8 bytes once per case.
pub(super) const VALUES_LIMIT: usize = 1 << 24;

impl FileCtx<'_> {
    /// Judges `case` (written at `loc`) and sets its memory estimate.
    pub(super) fn judge(&self, loc: Location, case: &mut Case) -> Result<(), SuiteError> {
        let shapes: Vec<Option<TypedShape>> = case
            .inputs
            .iter()
            .map(|i| match i {
                InputSpec::Tensor(t) => Some((t.dtype, t.shape.clone())),
                InputSpec::Absent => None,
            })
            .collect();
        let too_big = Cell::new(None);
        let mut values = |i: usize| {
            let n = match case.inputs.get(i) {
                Some(InputSpec::Tensor(t)) => t.numel(),
                _ => 0,
            };
            if n > VALUES_LIMIT {
                too_big.set(Some((i, n)));
                return Vec::new();
            }
            inputs::input_values(case, i)
        };
        let judged =
            case.def()
                .requested_shapes(&case.attributes, &shapes, &mut values, case.outputs);
        if let Some((i, n)) = too_big.get() {
            return Err(self.err(
                loc,
                format!(
                    "case `{}`: input {i} (`{}`) has {n} elements; the values of an input like this one (indices, shapes, K, axes, scales) are read at load to check the case, which allows at most {VALUES_LIMIT}",
                    case.id,
                    super::validate::input_name(&case.def().spec, i)
                ),
            ));
        }
        let outputs = judged.map_err(|m| self.err(loc, format!("case `{}`: {m}", case.id)))?;
        let dims: Vec<Option<&[usize]>> = shapes
            .iter()
            .map(|s| s.as_ref().map(|(_, d)| d.as_slice()))
            .collect();
        let scratch = case.def().work(&case.attributes, &dims).scratch;
        case.memory = memory_estimate(&case.inputs, &outputs, scratch);
        Ok(())
    }
}
