//! The capability probe of `xpucert info`: for one representative case of
//! every op x dtype in the suites, what `query_op` answers (supported,
//! emulated, unsupported, and the compute precision), next to what the
//! manifest declares, with every disagreement flagged. The call is built by
//! [`super::prepare_call`], exactly as a run builds it; the table is drawn
//! by `report::capabilities`.

use std::collections::BTreeMap;
use std::time::Duration;

use xpucert_abi::Support;

use crate::backend::Executor;
use crate::suite::Case;

/// One row of the table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Capability {
    /// ONNX op name.
    pub op: String,
    /// Case dtype.
    pub dtype: String,
    /// The case whose call was asked.
    pub probe: String,
    /// `native`, `emulated`, `none`, or `error: ...`.
    pub support: String,
    /// Declared compute precision (when supported), with `daz`/`ftz` when
    /// query_op declares subnormal flushing.
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
        let inputs = crate::suite::generate_inputs(case);
        let prepared = super::prepare_call(case, &inputs);
        let mut dtypes = vec![case.dtype.name()];
        if prepared.is_ok() {
            dtypes.extend(inputs.iter().flatten().map(|t| t.dtype.name()));
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
        let answer = prepared.and_then(|(mut call, _)| {
            backend
                .query(&mut call, Duration::from_secs(30))
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
                    // Declared subnormal flushing goes with the precision:
                    // `default, ftz` (see report::declared).
                    let mut p = a.precision.name().to_string();
                    for (on, name) in [
                        (a.numeric.flush_subnormal_inputs, "daz"),
                        (a.numeric.flush_subnormal_outputs, "ftz"),
                    ] {
                        if on {
                            p.push_str(", ");
                            p.push_str(name);
                        }
                    }
                    row.precision = Some(p);
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
