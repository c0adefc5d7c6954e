//! End-to-end runs of the CLI against real backend libraries: the bundled
//! reference backend (Rust, through the C ABI), the example C backend, and a
//! deliberately wrong C backend.

use crate::common;

use common::{build_reference, make, repo, results, run, xpucert};
use std::collections::BTreeSet;

#[test]
fn reference_backend_passes_the_core_suite() {
    build_reference();
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(xpucert()
        .args([
            "run",
            "--backend",
            "reference",
            "--suite",
            "suites/ops/core.yaml",
            "--out",
        ])
        .arg(out_dir.path()));
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.contains("CONFORMANT"), "{}", out.stdout);

    let r = results(out_dir.path());
    assert_eq!(r["schema"], "xpucert.results");
    assert_eq!(r["schema_version"], 2);
    let cases = r["cases"].as_array().unwrap();
    assert!(cases.len() > 150, "core suite has {} cases", cases.len());
    let not_passing: Vec<String> = cases
        .iter()
        .filter(|c| c["status"] != "pass")
        .map(|c| format!("{} {} {}", c["id"], c["status"], c["message"]))
        .collect();
    assert!(
        not_passing.is_empty(),
        "not passing:\n{}",
        not_passing.join("\n")
    );
    // every op of the registry is exercised
    let ops: BTreeSet<&str> = cases.iter().map(|c| c["op"].as_str().unwrap()).collect();
    assert_eq!(
        ops.len(),
        xpucert::ops::Op::ALL.len(),
        "ops covered: {ops:?}"
    );
    // provenance names the library and its hash
    let p = &r["provenance"];
    assert!(
        p["backend_path"]
            .as_str()
            .unwrap()
            .ends_with("libxpucert_reference.so")
    );
    assert_eq!(p["backend_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(p["suites"][0]["name"], "core");
    assert_eq!(p["manifest"]["schema"], 1);
    // the streamed file has a header line, then the same cases, one per line
    let jsonl = std::fs::read_to_string(out_dir.path().join("results.jsonl")).unwrap();
    assert!(jsonl.starts_with("{\"record\":\"header\""));
    assert_eq!(jsonl.lines().count(), 1 + cases.len());
}

#[test]
fn example_c_backend_passes_its_four_ops_and_nothing_else_runs() {
    let lib = make("backends/example-c").join("libxpucert_example.so");
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(xpucert()
        .args(["run", "--backend"])
        .arg(&lib)
        .args(["--suite", "suites/ops/core.yaml", "--out"])
        .arg(out_dir.path()));
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let r = results(out_dir.path());
    let four = ["Add", "MatMul", "Softmax", "Relu"];
    let mut passed_ops = BTreeSet::new();
    for c in r["cases"].as_array().unwrap() {
        let op = c["op"].as_str().unwrap();
        let status = c["status"].as_str().unwrap();
        if four.contains(&op) && c["dtype"] == "f32" {
            assert_eq!(status, "pass", "{}: {}", c["id"], c["message"]);
            passed_ops.insert(op);
        } else {
            assert_eq!(status, "unsupported", "{} should be unsupported", c["id"]);
            assert_eq!(c["capability_mismatch"], false, "{}", c["id"]);
        }
    }
    assert_eq!(passed_ops.len(), 4, "{passed_ops:?}");
}

/// A backend that supports none of the selected cases failed nothing
/// because nothing ran: the verdict says UNTESTED, with its coverage, and
/// the exit code is not success.
#[test]
fn a_backend_that_supports_nothing_selected_is_untested_not_conformant() {
    let lib = make("backends/example-c").join("libxpucert_example.so");
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(xpucert()
        .args(["run", "--backend"])
        .arg(&lib)
        .args(["--filter", "core.erf.*", "--out"])
        .arg(out_dir.path()));
    assert_eq!(
        out.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.contains("ran 0 of"), "{}", out.stdout);
    assert!(out.stdout.contains("-> UNTESTED"), "{}", out.stdout);
    let r = results(out_dir.path());
    assert_eq!(r["summary"]["conformant"], false);
    assert_eq!(r["summary"]["ran"], 0);
}

#[test]
fn a_wrong_backend_fails_with_figures_and_a_rerun_command() {
    let lib = make("backends/testlibs").join("libwrong_add.so");
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(xpucert()
        .args(["run", "--backend"])
        .arg(&lib)
        .args(["--filter", "core.add.*", "--out"])
        .arg(out_dir.path()));
    assert_eq!(
        out.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.contains("NOT CONFORMANT"), "{}", out.stdout);
    assert!(out.stdout.contains("FAIL core.add.f32."), "{}", out.stdout);
    // The check, its meaning, and the first mismatching elements.
    assert!(out.stdout.contains("check allclose("), "{}", out.stdout);
    assert!(out.stdout.contains("per element"), "{}", out.stdout);
    assert!(out.stdout.contains("      at ["), "{}", out.stdout);
    assert!(out.stdout.contains(", allowed "), "{}", out.stdout);
    assert!(
        out.stdout.contains("debug: xpucert repro core.add.f32."),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("rerun: xpucert run --backend"),
        "{}",
        out.stdout
    );
    let r = results(out_dir.path());
    let failed = r["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .count();
    assert!(failed > 0);
    assert_eq!(r["summary"]["conformant"], false);
}

#[test]
fn suite_mistakes_are_exit_2_with_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.yaml");
    std::fs::write(
        &path,
        "suite: typo\ncases:\n  - name: a\n    op: Add\n    dtypes: [f32]\n    inptus:\n      - {shape: [2]}\n",
    )
    .unwrap();
    let out = run(xpucert().args(["list", "--suite"]).arg(&path));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let first = out.stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("xpucert: error: "), "{first}");
    assert!(first.contains("typo.yaml:6:5"), "{first}");
    assert!(first.contains("inptus"), "{first}");
    assert!(!out.stderr.contains("panicked"));
}

#[test]
fn list_prints_stable_ids_and_filters() {
    let out = run(xpucert().args(["list", "--filter", "core.matmul.*"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ids: Vec<&str> = out.stdout.lines().collect();
    assert!(ids.len() >= 5, "{ids:?}");
    assert!(ids.iter().all(|i| i.starts_with("core.matmul.")));
    let again = run(xpucert().args(["list", "--filter", "core.matmul.*"]));
    assert_eq!(out.stdout, again.stdout, "ids are stable");
}

#[test]
fn unknown_flags_and_empty_filters_are_usage_errors() {
    let out = run(xpucert().args(["run", "--backend", "reference", "--bogus"]));
    assert_eq!(out.code, 2);
    let out = run(xpucert().args(["list", "--filter", "no.such.case"]));
    assert_eq!(out.code, 0, "list of nothing is not an error");
    assert!(out.stdout.is_empty());
    let out = run(xpucert().args(["run", "--backend", "reference", "--filter", "no.such.case"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no case matches"));
    let _ = repo();
}
