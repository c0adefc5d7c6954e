//! # xpucert-mutants
//!
//! A backend for testing the harness, not for certifying anything. One
//! library, many behaviours, chosen by the context option `mode=<name>`
//! (`xpucert run --backend mutants --option mode=fma_matmul`):
//!
//! * honest variants ([`numeric`]): correct implementations that compute
//!   differently from the reference (other summation orders, FMA, online
//!   softmax, fast transcendental functions within their ulp budget, declared
//!   reduced precision). The harness must PASS them.
//! * numeric faults ([`numeric`]): small, realistic bugs (unbiased variance,
//!   tanh-Gelu for erf-Gelu, truncating bf16 rounding, strides ignored, ...).
//!   The harness must FAIL them.
//! * a throughput cheat ([`cache`]): correct outputs, remembered by input.
//! * reliability faults ([`faults`]): crashes, hangs, memory corruption, ABI
//!   violations. The harness must survive them and report each as a result.
//!
//! Every mode delegates to the reference backend except for the ops it
//! changes, so a fault's footprint is exactly the ops it names. The list of
//! modes with their expected verdicts is [`modes`]; the harness's detection
//! test runs every one and prints the matrix.

pub mod cache;
pub mod faults;
pub mod numeric;

use std::ffi::CStr;

use xpucert_abi::{Backend, BackendError, OpCall, OpSupport, TensorMut};
use xpucert_reference_core::ReferenceBackend;

/// What the harness must conclude about a mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Every case keeps the reference backend's verdict (pass).
    Pass,
    /// At least one case fails (status `fail`).
    Fail,
    /// The process dies in at least one case (status `crash`).
    Crash,
    /// At least one case exceeds its time limit (status `timeout`).
    Timeout,
    /// At least one case is an `error` (a failure status or an ABI violation).
    Error,
    /// The library cannot even be loaded (exit code 3).
    LoadFailure,
}

/// How a mode changes the reference backend. The defaults delegate.
pub trait Behaviour: Send + Sync {
    /// Answers query_op.
    fn query(&self, r: &ReferenceBackend, call: &OpCall<'_>) -> Result<OpSupport, BackendError> {
        r.query_op(call)
    }

    /// Executes run_op.
    fn run(
        &self,
        r: &ReferenceBackend,
        call: &OpCall<'_>,
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), BackendError> {
        r.run_op(call, outputs)
    }
}

/// One selectable behaviour.
pub struct Mode {
    /// The `mode=` value.
    pub name: &'static str,
    /// What the harness must conclude.
    pub expect: Expect,
    /// The ops it changes (empty = all or none), for the detection matrix.
    pub ops: &'static [&'static str],
    /// One line: what it does differently.
    pub description: &'static str,
    /// The behaviour itself.
    pub behaviour: Box<dyn Behaviour>,
}

/// Every mode: the numeric ones, then the reliability faults.
pub fn modes() -> Vec<Mode> {
    let mut all = numeric::modes();
    all.push(Mode {
        name: "cache_outputs",
        expect: Expect::Pass,
        ops: &[],
        description: "returns remembered outputs when the op and input bytes repeat (a throughput cheat; results stay correct)",
        behaviour: Box::new(cache::CacheOutputs::default()),
    });
    all.extend(faults::modes());
    all
}

/// The mutants backend: the reference plus one behaviour.
pub struct MutantBackend {
    reference: ReferenceBackend,
    mode: Mode,
}

impl Backend for MutantBackend {
    const NAME: &'static CStr = c"xpucert-mutants";

    fn create(options: &[(&str, &str)]) -> Result<Self, BackendError> {
        let mut chosen = None;
        for (k, v) in options {
            match *k {
                "mode" => chosen = Some(*v),
                other => {
                    return Err(BackendError::invalid(format!(
                        "unknown option `{other}` (the mutants backend takes mode=<name>)"
                    )));
                }
            }
        }
        let name = chosen.ok_or_else(|| {
            BackendError::invalid(
                "the mutants backend needs --option mode=<name>; `honest` is the plain reference",
            )
        })?;
        let mode = modes()
            .into_iter()
            .find(|m| m.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = modes().iter().map(|m| m.name).collect();
                BackendError::invalid(format!(
                    "unknown mode `{name}`; modes: {}",
                    names.join(", ")
                ))
            })?;
        Ok(MutantBackend {
            reference: ReferenceBackend,
            mode,
        })
    }

    fn manifest(&self) -> String {
        self.reference.manifest()
    }

    fn query_op(&self, call: &OpCall<'_>) -> Result<OpSupport, BackendError> {
        self.mode.behaviour.query(&self.reference, call)
    }

    fn run_op(&self, call: &OpCall<'_>, outputs: &mut [TensorMut<'_>]) -> Result<(), BackendError> {
        self.mode.behaviour.run(&self.reference, call, outputs)
    }
}

// The entry point is hand-written in `faults::abi` (not `export_backend!`):
// the ABI-violation modes need their own `create_context` and `run_op` slots.
