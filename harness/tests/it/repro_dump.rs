//! `xpucert repro --dump`: a failing case's arrays load in numpy, and the
//! dumped check.py recomputes exactly the figures `xpucert run` reported.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{build_reference, results, run, xpucert};

/// Runs the case with `run`, dumps it with `repro`, runs check.py, and
/// checks that check.py's figures equal results.json's.
fn dump_and_check(mode: &str, id: &str, dump: &Path) -> serde_json::Value {
    build_reference();
    let out_dir = tempfile::tempdir().unwrap();
    let r = run(xpucert()
        .args(["run", "--backend", "mutants", "--option"])
        .arg(format!("mode={mode}"))
        .args(["--filter", id, "--out"])
        .arg(out_dir.path()));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    // The failure message teaches: check, figures, elements, the repro line.
    assert!(r.stdout.contains("    output 0 ("), "{}", r.stdout);
    assert!(r.stdout.contains("      at ["), "{}", r.stdout);
    assert!(
        r.stdout
            .contains(&format!("debug: xpucert repro {id} --backend mutants")),
        "{}",
        r.stdout
    );
    let reported = results(out_dir.path())["cases"][0]["outputs"][0]["comparison"].clone();

    let rep = run(xpucert()
        .args(["repro", id, "--backend", "mutants", "--option"])
        .arg(format!("mode={mode}"))
        .arg("--dump")
        .arg(dump));
    assert_eq!(rep.code, 1, "{}{}", rep.stdout, rep.stderr);
    let case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dump.join("case.json")).unwrap()).unwrap();
    assert_eq!(case["status"], "fail");
    for k in ["mismatches", "max_abs_err", "max_rel_err", "headroom"] {
        assert_eq!(case["outputs"][0]["figures"][k], reported[k], "{k}");
    }

    let py = Command::new("python3")
        .arg(dump.join("check.py"))
        .output()
        .expect("python3 runs (numpy is installed by .ci/run)");
    let stdout = String::from_utf8_lossy(&py.stdout).into_owned();
    assert!(
        py.status.success(),
        "check.py:\n{stdout}\n{}",
        String::from_utf8_lossy(&py.stderr)
    );
    assert!(stdout.contains("figures match"), "{stdout}");
    // check.py's own numbers, parsed back, equal xpucert's to the last digit.
    for k in ["mismatches", "max_abs_err", "max_rel_err", "headroom"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(k) && l.contains("reported"))
            .unwrap_or_else(|| panic!("no {k} in {stdout}"));
        let mine: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let theirs = reported[k].as_f64().unwrap();
        assert!(
            mine == theirs || (mine - theirs).abs() <= 1e-12 * theirs.abs(),
            "{k}: check.py {mine}, xpucert {theirs}"
        );
    }
    assert!(reported["mismatches"].as_u64().unwrap() > 0);
    case
}

#[test]
fn f32_matmul_fault_dump_reproduces_the_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let dump = tmp.path().join("dump");
    let case = dump_and_check(
        "matmul_tail_short_k",
        "core.matmul.f32.small.m17k64n7",
        &dump,
    );
    assert_eq!(case["outputs"][0]["check"]["kind"], "bound");
    for f in [
        "input_0.npy",
        "input_1.npy",
        "expected_0.npy",
        "actual_0.npy",
        "error_0.npy",
        "magnitude_0.npy",
    ] {
        let bytes = std::fs::read(dump.join(f)).unwrap();
        assert!(bytes.starts_with(b"\x93NUMPY\x01\x00"), "{f}");
    }
    assert!(!dump.join("tensors.safetensors").exists());
}

#[test]
fn bf16_dump_has_raw_bits_and_safetensors() {
    let tmp = tempfile::tempdir().unwrap();
    let dump = tmp.path().join("dump");
    let case = dump_and_check("bf16_truncation", "core.add.bf16.same_shape.s3x5", &dump);
    assert!(
        case["inputs"][0]["storage"]
            .as_str()
            .unwrap()
            .starts_with("raw bits")
    );
    let st = std::fs::read(dump.join("tensors.safetensors")).unwrap();
    let n = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&st[8..8 + n]).unwrap();
    assert_eq!(header["actual_0"]["dtype"], "BF16");
    assert_eq!(header["actual_0"]["shape"], serde_json::json!([3, 5]));
    let [a, b] = [0, 1].map(|i| header["actual_0"]["data_offsets"][i].as_u64().unwrap());
    assert_eq!(b - a, 30);
    assert_eq!(st.len(), 8 + n + 3 * 30, "inputs 0, 1 and the output");
}

#[test]
fn unknown_case_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(xpucert()
        .args(["repro", "core.nope", "--backend", "reference", "--dump"])
        .arg(tmp.path()));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no case `core.nope`"), "{}", out.stderr);
}
