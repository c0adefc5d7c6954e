//! `xpucert repro CASE --backend X --dump DIR`: reruns one case and writes
//! everything needed to debug it without reading Rust: the inputs, the
//! oracle's output (f64), the backend's output and the per-element error as
//! `.npy`, bf16/fp8 tensors also in `tensors.safetensors` (numpy has no such
//! dtypes: their `.npy` holds the raw bits), `case.json` with the check and
//! the figures, and `check.py`, which loads the arrays with numpy and
//! recomputes the figures.
//!
//! The figures in `case.json` come from the same `run_case` a `run` uses;
//! the arrays come from a second call of the same case (inputs are seeded by
//! the case id, so they are identical). The comparison of the dumped arrays
//! is recomputed here too, and a difference between the two (a
//! nondeterministic backend) is reported.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::backend::Executor;
use crate::numerics::check::{self, CheckSpec, Comparison, Flush};
use crate::numerics::{DType, HostTensor, npy, round_to};
use crate::run::{CaseResult, prepare_call, run_case};
use crate::suite::Case;

/// Why a dump could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReproError {
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// the file
        path: PathBuf,
        /// the cause
        source: std::io::Error,
    },
}

/// What `repro` found.
pub struct Repro {
    /// The result as `run` would record it.
    pub result: CaseResult,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Set when the second call's outputs give other figures than the first.
    pub unstable: Option<String>,
}

/// numpy's descr for a dtype it has, or for the raw bits of one it lacks.
fn descr(d: DType) -> (&'static str, bool) {
    match d {
        DType::F64 => ("<f8", true),
        DType::F32 => ("<f4", true),
        DType::F16 => ("<f2", true),
        DType::BF16 => ("<u2", false),
        DType::F8E4M3FN | DType::F8E5M2 | DType::F8E4M3FNUZ | DType::F8E5M2FNUZ | DType::F8E8M0 => {
            ("|u1", false)
        }
        // One 4- or 2-bit code per byte, unpacked (see `Dump::tensor`).
        DType::F4E2M1 | DType::I4 | DType::U4 | DType::I2 | DType::U2 => ("|u1", false),
        DType::I8 => ("|i1", true),
        DType::U8 => ("|u1", true),
        DType::I16 => ("<i2", true),
        DType::U16 => ("<u2", true),
        DType::I32 => ("<i4", true),
        DType::U32 => ("<u4", true),
        DType::I64 => ("<i8", true),
        DType::U64 => ("<u8", true),
        DType::Bool => ("|b1", true),
    }
}

/// The smallest |x| that rounds to infinity in `d` (ties to even at the
/// largest finite value, whose last bit is odd), or None without infinities.
fn overflow_threshold(d: DType) -> Option<f64> {
    let max = match d {
        DType::F32 => f32::MAX as f64,
        DType::F16 => half::f16::MAX.to_f64(),
        DType::BF16 => half::bf16::MAX.to_f64(),
        DType::F8E5M2 => 57344.0,
        _ => return None,
    };
    let t = max + check::ulp(d, max) / 2.0;
    round_to(d, t).is_infinite().then_some(t)
}

/// The check with every constant `check.py` needs to apply it.
fn check_json(spec: CheckSpec, out: DType, u: check::Roundoff) -> serde_json::Value {
    let compute_u = u.compute;
    let mut v = match spec {
        CheckSpec::Exact => json!({"kind": "exact"}),
        CheckSpec::Allclose { rtol, atol } => {
            json!({"kind": "allclose", "rtol": rtol, "atol": atol})
        }
        CheckSpec::Ulp { n } => {
            json!({"kind": "ulp", "n": n, "floor": check::subnormal_floor(out, n.max(2.0))})
        }
        CheckSpec::Bound { c } => json!({
            "kind": "bound", "c": c, "compute_u": compute_u,
            "io_u": check::unit_roundoff(out).max(compute_u),
            "products_u": u.products,
            "output_u": check::unit_roundoff(out), "floor": check::subnormal_floor(out, 2.0),
        }),
    };
    if matches!(spec, CheckSpec::Ulp { .. } | CheckSpec::Allclose { .. }) {
        v["coarsening"] = json!(check::coarsening(out, compute_u));
    }
    v["text"] = json!(spec.to_string());
    v["meaning"] = json!(crate::report::check_meaning(&spec));
    if let Some((p, emin)) = check::float_format(out) {
        v["precision_bits"] = json!(p);
        v["emin"] = json!(emin);
    }
    v["overflow_threshold"] = json!(overflow_threshold(out));
    v
}

fn safetensors_name(d: DType) -> Option<&'static str> {
    match d {
        DType::BF16 => Some("BF16"),
        DType::F8E4M3FN => Some("F8_E4M3"),
        DType::F8E5M2 => Some("F8_E5M2"),
        _ => None,
    }
}

struct Dump {
    dir: PathBuf,
    files: Vec<PathBuf>,
    /// (name, dtype, shape, bytes) for tensors numpy cannot hold.
    st: Vec<(String, DType, Vec<usize>, Vec<u8>)>,
}

impl Dump {
    fn write(&mut self, name: &str, bytes: &[u8]) -> Result<(), ReproError> {
        let path = self.dir.join(name);
        std::fs::write(&path, bytes).map_err(|source| ReproError::Io {
            path: path.clone(),
            source,
        })?;
        self.files.push(path);
        Ok(())
    }

    /// `<stem>.npy` in the tensor's dtype (raw bits for bf16/fp8) and
    /// `<stem>.f64.npy`, its exact values.
    fn tensor(&mut self, stem: &str, t: &HostTensor) -> Result<serde_json::Value, ReproError> {
        let (d, native) = descr(t.dtype);
        // numpy has no packed arrays: a 4-bit tensor is written one code
        // per byte, so the file's shape and its element count agree.
        self.write(
            &format!("{stem}.npy"),
            &npy::bytes(d, &t.shape, &t.unpacked_codes()),
        )?;
        self.write(
            &format!("{stem}.f64.npy"),
            &npy::bytes("<f8", &t.shape, &npy::f64_data(&t.to_f64())),
        )?;
        if safetensors_name(t.dtype).is_some() {
            self.st
                .push((stem.to_string(), t.dtype, t.shape.clone(), t.data.clone()));
        }
        Ok(json!({
            "file": format!("{stem}.npy"), "f64_file": format!("{stem}.f64.npy"),
            "dtype": t.dtype.name(), "shape": t.shape,
            "storage": if native { "native" } else if t.dtype.is_packed() { "4- or 2-bit codes, one per byte, in the low bits (numpy has no such dtype)" } else { "raw bits (numpy has no such dtype; see tensors.safetensors)" },
        }))
    }

    fn safetensors(&mut self) -> Result<(), ReproError> {
        if self.st.is_empty() {
            return Ok(());
        }
        let mut header = serde_json::Map::new();
        let mut offset = 0usize;
        for (name, d, shape, data) in &self.st {
            header.insert(
                name.clone(),
                json!({"dtype": safetensors_name(*d), "shape": shape,
                       "data_offsets": [offset, offset + data.len()]}),
            );
            offset += data.len();
        }
        let mut text = serde_json::Value::Object(header).to_string();
        while !text.len().is_multiple_of(8) {
            text.push(' ');
        }
        let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(text.as_bytes());
        for (_, _, _, data) in &self.st {
            bytes.extend_from_slice(data);
        }
        self.write("tensors.safetensors", &bytes)
    }
}

fn figures(c: &Comparison) -> serde_json::Value {
    json!({
        "elements": c.elements, "mismatches": c.mismatches,
        "special_mismatches": c.special_mismatches,
        "max_abs_err": c.max_abs_err, "max_rel_err": c.max_rel_err, "headroom": c.headroom,
        "passed": c.passed,
    })
}

/// Reruns `case` on `backend` and writes the dump into `dir` (created).
/// `command` is the repro command line, recorded in case.json.
pub fn repro(
    backend: &mut dyn Executor,
    case: &Case,
    limit: Duration,
    dir: &Path,
    command: &str,
) -> Result<Repro, ReproError> {
    std::fs::create_dir_all(dir).map_err(|source| ReproError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let result = run_case(backend, case, limit);
    let mut dump = Dump {
        dir: dir.to_path_buf(),
        files: Vec::new(),
        st: Vec::new(),
    };
    let mut case_json = json!({
        "id": case.id, "op": case.op.name, "opset": case.opset, "dtype": case.dtype.name(),
        "location": case.location, "status": result.status.name(), "message": result.message,
        "support": result.support, "compute_precision": result.compute_precision,
        "flushes": result.flushes,
        "command": command,
        "attributes": format!("{:?}", case.attributes),
    });
    let mut unstable = None;
    let mut inputs_json = Vec::new();
    let mut outputs_json = Vec::new();
    let inputs = crate::suite::generate_inputs(case);
    if let Ok((mut call, expected)) = prepare_call(case, &inputs) {
        for (i, t) in inputs.iter().enumerate() {
            inputs_json.push(match t {
                Some(t) => dump.tensor(&format!("input_{i}"), t)?,
                None => json!(null),
            });
        }
        // The arrays of the outputs: only when the case ran in `run` too.
        let ran = !result.outputs.is_empty();
        let answer = if ran {
            backend.query(&mut call, limit).ok()
        } else {
            None
        };
        let second = match &answer {
            Some(_) => backend.run(&mut call, limit).map_err(|e| e.to_string()),
            None => Err("not run".into()),
        };
        let flush = answer
            .as_ref()
            .map_or(Flush::NONE, |a| Flush::from(a.numeric));
        let flushed = if flush.inputs {
            crate::run::flushed_oracle(case, &inputs)
        } else {
            None
        };
        for (j, (exp, first)) in expected.iter().zip(&result.outputs).enumerate() {
            let dtype = exp.value.dtype;
            let spec = first.comparison.check;
            let precision = answer
                .as_ref()
                .map_or(xpucert_abi::Precision::Default, |a| a.precision);
            let u = case.def().check.roundoff(precision, dtype);
            let shape = exp.value.shape().to_vec();
            dump.write(
                &format!("expected_{j}.npy"),
                &npy::bytes("<f8", &shape, &npy::f64_data(&exp.value.data)),
            )?;
            let mut out = json!({
                "index": j, "dtype": dtype.name(), "shape": shape,
                "expected_file": format!("expected_{j}.npy"),
                "check": check_json(spec, dtype, u),
                "figures": figures(&first.comparison),
            });
            if let Some(m) = &exp.magnitude {
                dump.write(
                    &format!("magnitude_{j}.npy"),
                    &npy::bytes("<f8", &shape, &npy::f64_data(m)),
                )?;
                out["magnitude_file"] = json!(format!("magnitude_{j}.npy"));
            }
            if let Some(m) = &exp.io_magnitude {
                dump.write(
                    &format!("io_magnitude_{j}.npy"),
                    &npy::bytes("<f8", &shape, &npy::f64_data(m)),
                )?;
                out["io_magnitude_file"] = json!(format!("io_magnitude_{j}.npy"));
            }
            if let Some(m) = &exp.product_magnitude {
                dump.write(
                    &format!("product_magnitude_{j}.npy"),
                    &npy::bytes("<f8", &shape, &npy::f64_data(m)),
                )?;
                out["product_magnitude_file"] = json!(format!("product_magnitude_{j}.npy"));
            }
            // Declared input flushing: check.py also needs the oracle on
            // the flushed inputs.
            if let Some(f) = flushed.as_ref().and_then(|f| f.get(j)) {
                dump.write(
                    &format!("expected_flushed_{j}.npy"),
                    &npy::bytes("<f8", &shape, &npy::f64_data(&f.value.data)),
                )?;
                out["expected_flushed_file"] = json!(format!("expected_flushed_{j}.npy"));
                if let Some(m) = &f.magnitude {
                    dump.write(
                        &format!("magnitude_flushed_{j}.npy"),
                        &npy::bytes("<f8", &shape, &npy::f64_data(m)),
                    )?;
                    out["magnitude_flushed_file"] = json!(format!("magnitude_flushed_{j}.npy"));
                }
                if let Some(m) = &f.io_magnitude {
                    dump.write(
                        &format!("io_magnitude_flushed_{j}.npy"),
                        &npy::bytes("<f8", &shape, &npy::f64_data(m)),
                    )?;
                    out["io_magnitude_flushed_file"] =
                        json!(format!("io_magnitude_flushed_{j}.npy"));
                }
            }
            if second.is_ok() {
                let actual = call.outputs[j].to_host();
                out["actual"] = dump.tensor(&format!("actual_{j}"), &actual)?;
                let a = actual.to_f64();
                let err = ndarray::Zip::from(&a)
                    .and(&exp.value.data)
                    .map_collect(|x, y| (x - y).abs());
                dump.write(
                    &format!("error_{j}.npy"),
                    &npy::bytes("<f8", &shape, &npy::f64_data(&err)),
                )?;
                out["error_file"] = json!(format!("error_{j}.npy"));
                let again = check::compare_declared(
                    spec,
                    dtype,
                    u,
                    exp.expected(),
                    &a,
                    flush,
                    flushed
                        .as_ref()
                        .and_then(|f| f.get(j))
                        .map(crate::ops::Output::expected),
                );
                if figures(&again) != figures(&first.comparison) {
                    unstable = Some(format!(
                        "output {j}: the dumped call gave other figures than the first ({} vs {} mismatches): the backend is not deterministic",
                        again.mismatches, first.comparison.mismatches
                    ));
                    out["figures"] = figures(&again);
                    out["figures_first_call"] = figures(&first.comparison);
                }
            }
            outputs_json.push(out);
        }
        if let Err(e) = second
            && ran
        {
            case_json["dump_note"] = json!(format!("the second call failed: {e}"));
        }
    }
    case_json["inputs"] = json!(inputs_json);
    case_json["outputs"] = json!(outputs_json);
    if let Some(u) = &unstable {
        case_json["unstable"] = json!(u);
    }
    dump.safetensors()?;
    let text = serde_json::to_string_pretty(&case_json).unwrap_or_default();
    dump.write("case.json", text.as_bytes())?;
    dump.write(
        "check.py",
        include_str!("../templates/repro/check.py").as_bytes(),
    )?;
    Ok(Repro {
        result,
        files: dump.files,
        unstable,
    })
}
