//! `xpucert info`: the capability table from query_op, cross-checked with
//! the manifest.

use crate::common;

use std::process::Command;

use common::{build_reference, make, run, xpucert};

/// The table row of `op` x `dtype`, cells trimmed.
fn row(stdout: &str, op: &str, dtype: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| {
            l.split('┆')
                .map(|c| {
                    c.trim_matches(|ch: char| ch == '│' || ch.is_whitespace())
                        .to_string()
                })
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.len() == 6 && cells[0] == op && cells[1] == dtype)
        .unwrap_or_else(|| panic!("no row {op} {dtype} in:\n{stdout}"))
}

#[test]
fn example_backend_table_matches_its_manifest() {
    let lib = make("backends/example-c").join("libxpucert_example.so");
    let out = run(xpucert().args(["info", "--backend"]).arg(&lib));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        row(&out.stdout, "MatMul", "f32"),
        ["MatMul", "f32", "supported", "default", "declared", "ok"]
    );
    assert_eq!(
        row(&out.stdout, "MatMul", "f16"),
        ["MatMul", "f16", "unsupported", "-", "-", "ok"]
    );
    assert!(
        common::capabilities_line_says(&out.stdout, 4),
        "{}",
        out.stdout
    );
}

#[test]
fn declared_reduced_precision_is_shown() {
    build_reference();
    let out = run(xpucert().args([
        "info",
        "--backend",
        "mutants",
        "--option",
        "mode=declared_tf32",
    ]));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(row(&out.stdout, "MatMul", "f32")[3], "tf32");
    assert_eq!(row(&out.stdout, "MatMul", "f16")[3], "f32");
    assert!(
        out.stdout.contains("0 manifest mismatches"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_manifest_that_claims_more_than_query_op_is_flagged() {
    // The C++ skeleton with a manifest that declares Relu f32, which its
    // query_op (like every skeleton's) declines.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("liar");
    let o = run(xpucert()
        .args(["new-backend", "liar", "--lang", "cpp", "--dir"])
        .arg(&dir));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let src = dir.join("src/backend.cpp");
    let text = std::fs::read_to_string(&src).unwrap().replace(
        r#"\"ops\": []"#,
        r#"\"ops\": [{\"domain\": \"\", \"op\": \"Relu\", \"opsets\": [14], \"dtypes\": [\"f32\"]}]"#,
    );
    assert!(text.contains("Relu"));
    std::fs::write(&src, text).unwrap();
    let b = dir.join("build");
    for args in [
        vec![
            "-S".into(),
            dir.display().to_string(),
            "-B".into(),
            b.display().to_string(),
        ],
        vec!["--build".into(), b.display().to_string()],
    ] {
        let s = Command::new("cmake")
            .args(&args)
            .output()
            .expect("cmake runs");
        assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    }
    let out = run(xpucert()
        .args(["info", "--backend"])
        .arg(b.join("libxpucert_liar.so")));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        row(&out.stdout, "Relu", "f32")[5],
        "MISMATCH: manifest declares it, query_op says unsupported"
    );
    assert!(
        out.stdout.contains("; 1 manifest mismatch\n"),
        "{}",
        out.stdout
    );
}
