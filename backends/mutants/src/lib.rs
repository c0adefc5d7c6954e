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
//! * asynchronous modes ([`stream`]): work queued on the ABI's stream group
//!   and finished only at `sync`, with a sync that fails or hangs.
//!   `device_us=N` sets their modelled device time per call.
//!
//! Hostile strings, for the harness's output escaping: `label=<text>` puts
//! `<text>` in the manifest's `vendor` and `device` fields, and the
//! environment variable `XPUCERT_MUTANT_NAME` replaces the name the library
//! reports at init.
//!
//! Every mode delegates to the reference backend except for the ops it
//! changes, so a fault's footprint is exactly the ops it names. The list of
//! modes with their expected verdicts is [`modes`]; the harness's detection
//! test runs every one and prints the matrix.

#![warn(missing_docs)]

pub mod cache;
pub mod faults;
pub mod numeric;
pub mod stream;

use std::ffi::CStr;
use std::time::Duration;

use xpucert_abi::{Backend, BackendError, OpCall, OpSupport, StreamBackend, TensorMut};
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

    /// Executes run_op on a stream; by default synchronously, as [`run`](Behaviour::run).
    fn run_on(
        &self,
        r: &ReferenceBackend,
        stream: &stream::MutantStream,
        call: &OpCall<'_>,
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), BackendError> {
        let _ = stream;
        self.run(r, call, outputs)
    }

    /// Waits for the work queued on `stream`; by default there is none.
    fn sync(&self, stream: &stream::MutantStream) -> Result<(), BackendError> {
        let _ = stream;
        Ok(())
    }

    /// The same behaviour with another modelled device time per call, for
    /// the modes that have one (`device_us=`); `None` for the others.
    fn with_device_time(&self, device: Duration) -> Option<Box<dyn Behaviour>> {
        let _ = device;
        None
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
    all.extend(stream::modes());
    all
}

/// The mutants backend: the reference plus one behaviour.
pub struct MutantBackend {
    reference: ReferenceBackend,
    mode: Mode,
    /// `label=`: the manifest's vendor and device.
    label: Option<String>,
}

/// `s` as a JSON string literal (quotes, backslashes and C0 controls
/// escaped; everything else, hostile or not, as is).
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Backend for MutantBackend {
    const NAME: &'static CStr = c"xpucert-mutants";

    fn create(options: &[(&str, &str)]) -> Result<Self, BackendError> {
        let mut chosen = None;
        let mut device_us = None;
        let mut label = None;
        for (k, v) in options {
            match *k {
                "mode" => chosen = Some(*v),
                "label" => label = Some(v.to_string()),
                "device_us" => {
                    device_us = Some(v.parse::<u64>().map_err(|_| {
                        BackendError::invalid(format!(
                            "device_us must be a whole number of microseconds, got `{v}`"
                        ))
                    })?);
                }
                other => {
                    return Err(BackendError::invalid(format!(
                        "unknown option `{other}` (the mutants backend takes mode=<name>, \
                         label=<text> and, for the async_* modes, device_us=<N>)"
                    )));
                }
            }
        }
        let name = chosen.ok_or_else(|| {
            BackendError::invalid(
                "the mutants backend needs --option mode=<name>; `honest` is the plain reference",
            )
        })?;
        let mut mode = modes()
            .into_iter()
            .find(|m| m.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = modes().iter().map(|m| m.name).collect();
                BackendError::invalid(format!(
                    "unknown mode `{name}`; modes: {}",
                    names.join(", ")
                ))
            })?;
        if let Some(us) = device_us {
            mode.behaviour = mode
                .behaviour
                .with_device_time(Duration::from_micros(us))
                .ok_or_else(|| {
                    BackendError::invalid(format!(
                        "device_us applies to the async_* modes, not to `{name}`"
                    ))
                })?;
        }
        Ok(MutantBackend {
            reference: ReferenceBackend,
            mode,
            label,
        })
    }

    fn manifest(&self) -> String {
        let m = self.reference.manifest();
        match &self.label {
            Some(label) => {
                let s = json_string(label);
                m.replacen("\"vendor\": \"xpucert\"", &format!("\"vendor\": {s}"), 1)
                    .replacen("\"device\": \"cpu\"", &format!("\"device\": {s}"), 1)
            }
            None => m,
        }
    }

    fn query_op(&self, call: &OpCall<'_>) -> Result<OpSupport, BackendError> {
        self.mode.behaviour.query(&self.reference, call)
    }

    fn run_op(&self, call: &OpCall<'_>, outputs: &mut [TensorMut<'_>]) -> Result<(), BackendError> {
        self.mode.behaviour.run(&self.reference, call, outputs)
    }
}

impl StreamBackend for MutantBackend {
    type Stream = stream::MutantStream;

    fn create_stream(&self) -> Result<Self::Stream, BackendError> {
        Ok(stream::MutantStream::default())
    }

    fn run_op_on(
        &self,
        stream: &Self::Stream,
        call: &OpCall<'_>,
        outputs: &mut [TensorMut<'_>],
    ) -> Result<(), BackendError> {
        self.mode
            .behaviour
            .run_on(&self.reference, stream, call, outputs)
    }

    fn sync(&self, stream: &Self::Stream) -> Result<(), BackendError> {
        self.mode.behaviour.sync(stream)
    }
}

// The entry point is hand-written in `faults::abi` (not `export_backend!`):
// the ABI-violation modes need their own `create_context` and `run_op` slots.
