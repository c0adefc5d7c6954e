//! The capability table of `xpucert info`: for one representative case of
//! every op x dtype in the suites, what `query_op` answers (supported,
//! emulated, unsupported, and the compute precision), next to what the
//! manifest declares, with every disagreement flagged.

use std::collections::BTreeMap;
use std::time::Duration;

use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use xpucert_abi::Support;

use crate::backend::Executor;
use crate::backend::call::{PreparedCall, StoredTensor};
use crate::numerics::HostTensor;
use crate::ops::{self, Output, Value};
use crate::suite::{Case, InputSpec, TensorSpec};

/// A case made ready to call: its logical inputs, the oracle's outputs, and
/// the call with inputs stored in the case's layout and outputs allocated,
/// exactly as the runner builds them.
pub struct Prepared {
    /// Inputs as generated (logical, row-major), `None` for absent ones.
    pub inputs: Vec<Option<HostTensor>>,
    /// The oracle's outputs (f64 values, dtypes, magnitudes).
    pub expected: Vec<Output>,
    /// The call.
    pub call: PreparedCall,
}

/// Builds the call of `case` as `run::run_case` does.
pub fn prepare(case: &Case) -> Result<Prepared, String> {
    let inputs = crate::suite::generate_inputs(case);
    let values: Vec<Option<Value>> = inputs
        .iter()
        .map(|t| t.as_ref().map(|t| Value::new(t.dtype, t.to_f64())))
        .collect();
    let expected = ops::evaluate(case.op, &case.attributes, &values)
        .map_err(|e| format!("invalid case: {e}"))?;
    let stored: Vec<Option<StoredTensor>> = case
        .inputs
        .iter()
        .zip(&inputs)
        .map(|(spec, t)| match (spec, t) {
            (InputSpec::Tensor(TensorSpec { layout, .. }), Some(t)) => {
                let (bytes, strides) = layout.store(t);
                Some(StoredTensor::new(t.dtype, &t.shape, strides, &bytes))
            }
            _ => None,
        })
        .collect();
    let outputs: Vec<StoredTensor> = expected
        .iter()
        .map(|o| StoredTensor::output(o.value.dtype, o.value.shape()))
        .collect();
    let call = PreparedCall::new(
        case.op.domain,
        case.op.name,
        case.opset,
        &case.attributes,
        stored,
        outputs,
    );
    Ok(Prepared {
        inputs,
        expected,
        call,
    })
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Capability {
    /// ONNX op name.
    pub op: String,
    /// Case dtype.
    pub dtype: String,
    /// The case whose call was asked.
    pub probe: String,
    /// `native`, `emulated`, `none`, or `error: ...`.
    pub support: String,
    /// Declared compute precision (when supported).
    pub precision: Option<String>,
    /// Whether the manifest lists this op with this dtype and opset.
    pub declared: bool,
    /// The disagreement between manifest and query_op, if any.
    pub mismatch: Option<String>,
    /// The backend's note.
    pub note: String,
}

/// Whether `manifest` lists the case's op (domain, opset) with one of
/// `dtypes`: the case dtype or an input's (a manifest may list
/// DequantizeLinear by its quantized input dtypes, the case by its float one).
fn declares(manifest: &serde_json::Value, case: &Case, dtypes: &[&str]) -> bool {
    manifest
        .get("ops")
        .and_then(|o| o.as_array())
        .into_iter()
        .flatten()
        .any(|e| {
            let s = |k: &str| e.get(k).and_then(|x| x.as_str()).unwrap_or("");
            let has = |k: &str, f: &dyn Fn(&serde_json::Value) -> bool| {
                e.get(k)
                    .and_then(|x| x.as_array())
                    .is_some_and(|a| a.iter().any(f))
            };
            s("op") == case.op.name
                && s("domain") == case.op.domain
                && has("dtypes", &|d| {
                    d.as_str().is_some_and(|d| dtypes.contains(&d))
                })
                && (e.get("opsets").is_none() || has("opsets", &|o| o.as_i64() == Some(case.opset)))
        })
}

/// Asks `query_op` about the first case of every op x dtype in `cases` and
/// compares the answers with `manifest`.
pub fn probe(
    backend: &mut dyn Executor,
    cases: &[&Case],
    manifest: &serde_json::Value,
) -> Vec<Capability> {
    let mut first: BTreeMap<(usize, String), &Case> = BTreeMap::new();
    let order: Vec<&str> = crate::ops::names().collect();
    for c in cases {
        let pos = order
            .iter()
            .position(|o| *o == c.op.name)
            .unwrap_or(usize::MAX);
        first.entry((pos, c.dtype.name().to_string())).or_insert(c);
    }
    let mut rows = Vec::new();
    for case in first.into_values() {
        let prepared = prepare(case);
        let mut dtypes = vec![case.dtype.name()];
        if let Ok(p) = &prepared {
            dtypes.extend(p.inputs.iter().flatten().map(|t| t.dtype.name()));
        }
        let declared = declares(manifest, case, &dtypes);
        let mut row = Capability {
            op: case.op.name.to_string(),
            dtype: case.dtype.name().to_string(),
            probe: case.id.clone(),
            support: String::new(),
            precision: None,
            declared,
            mismatch: None,
            note: String::new(),
        };
        let answer = prepared.and_then(|mut p| {
            backend
                .query(&mut p.call, Duration::from_secs(30))
                .map_err(|e| e.to_string())
        });
        match answer {
            Ok(a) => {
                row.support = match a.support {
                    Support::None => "none",
                    Support::Native => "native",
                    Support::Emulated => "emulated",
                }
                .to_string();
                if a.support != Support::None {
                    row.precision = Some(a.precision.name().to_string());
                }
                row.note = a.note;
                let supported = a.support != Support::None;
                row.mismatch = match (declared, supported) {
                    (true, false) => Some("manifest declares it, query_op says unsupported".into()),
                    (false, true) => {
                        Some("query_op supports it, the manifest does not declare it".into())
                    }
                    _ => None,
                };
            }
            Err(e) => {
                row.support = format!("error: {e}");
                if declared {
                    row.mismatch = Some("manifest declares it, query_op failed".into());
                }
            }
        }
        rows.push(row);
    }
    rows
}

/// The table printed by `info`.
pub fn table(rows: &[Capability]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED).set_header([
        "op",
        "dtype",
        "query_op",
        "compute precision",
        "manifest",
        "check",
    ]);
    for r in rows {
        let support = match r.support.as_str() {
            "native" => "supported".to_string(),
            "emulated" => "emulated".to_string(),
            "none" => "unsupported".to_string(),
            other => other.to_string(),
        };
        t.add_row([
            r.op.clone(),
            r.dtype.clone(),
            support,
            r.precision.clone().unwrap_or_else(|| "-".into()),
            if r.declared { "declared" } else { "-" }.to_string(),
            match &r.mismatch {
                Some(m) => format!("MISMATCH: {m}"),
                None => "ok".into(),
            },
        ]);
    }
    t
}

/// Probes and prints the capability table and its summary line.
pub fn print(backend: &mut dyn Executor, cases: &[&Case], manifest_text: &str) {
    let manifest: serde_json::Value =
        serde_json::from_str(manifest_text).unwrap_or(serde_json::Value::Null);
    let rows = probe(backend, cases, &manifest);
    println!("capabilities (query_op on one case of each op x dtype of the suites):");
    println!("{}", table(&rows));
    let count = |s: &str| rows.iter().filter(|r| r.support == s).count();
    let mismatches = rows.iter().filter(|r| r.mismatch.is_some()).count();
    println!(
        "{} op x dtype: {} supported, {} emulated, {} unsupported, {} query errors; {} manifest mismatch{}",
        rows.len(),
        count("native"),
        count("emulated"),
        count("none"),
        rows.iter()
            .filter(|r| r.support.starts_with("error"))
            .count(),
        mismatches,
        if mismatches == 1 { "" } else { "es" }
    );
}
