//! Hostile or broken inputs at the command line: each one ends with a single
//! `xpucert: error: ...` line and exit code 2 (configuration) or 3 (backend),
//! never a panic or a backtrace.

use crate::common;

use std::path::{Path, PathBuf};

use common::{build_reference, run, xpucert};

/// Runs xpucert with `args` and checks the one-line error and exit code;
/// returns the line.
fn expect_error(args: &[&str], code: i32) -> String {
    let out = run(xpucert().args(args).env("RUST_BACKTRACE", "1"));
    assert_eq!(
        out.code, code,
        "exit code of {args:?}; stderr: {}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(!out.stderr.contains("backtrace"), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, got: {}", out.stderr);
    assert!(lines[0].starts_with("xpucert: error: "), "{}", lines[0]);
    lines[0].to_string()
}

/// Writes `text` as `name` in a fresh directory; returns (dir, path).
fn suite_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// `xpucert list --suite <file with text>` must fail with a message that
/// names the file, its position where given, and contains `needle`.
fn expect_suite_error(text: &str, needle: &str) {
    let (_dir, path) = suite_file("s.yaml", text);
    let p = path.to_str().unwrap();
    let line = expect_error(&["list", "--suite", p], 2);
    assert!(line.contains(p), "names the file: {line}");
    assert!(line.contains(needle), "expected `{needle}` in: {line}");
}

const HEAD: &str = "suite: h\nseed: 1\ndtypes: [f32]\ncases:\n";

#[test]
fn malformed_yaml() {
    expect_suite_error("suite: h\ncases: [\n  - {name: a\n", "s.yaml:");
    expect_suite_error("\t- :\n: : ]\n", "s.yaml");
}

#[test]
fn unknown_keys() {
    expect_suite_error(
        &format!("{HEAD}  - name: a\n    op: Relu\n    inptus: [{{shape: [2]}}]\n"),
        "inptus",
    );
    expect_suite_error("suite: h\ncolour: red\ncases: []\n", "colour");
}

#[test]
fn unknown_op() {
    expect_suite_error(
        &format!("{HEAD}  - name: a\n    op: Reluu\n    inputs: [{{shape: [2]}}]\n"),
        "Reluu",
    );
}

#[test]
fn shape_and_attribute_errors() {
    expect_suite_error(
        &format!("{HEAD}  - name: a\n    op: Relu\n    inputs: [{{shape: [2, -3]}}]\n"),
        "s.yaml:7:",
    );
    expect_suite_error(
        &format!(
            "{HEAD}  - name: a\n    op: Softmax\n    attributes: {{axis: wide}}\n    inputs: [{{shape: [2]}}]\n"
        ),
        "s.yaml:7:24: `wide` is not a number",
    );
    // An extra zero: far too big to allocate, refused before any allocation.
    expect_suite_error(
        &format!("{HEAD}  - name: a\n    op: Relu\n    inputs: [{{shape: [100000, 100000]}}]\n"),
        "s.yaml:7:",
    );
}

#[test]
fn a_suite_that_includes_itself() {
    let (_dir, path) = suite_file(
        "self.yaml",
        "suite: me\ninclude: [self.yaml]\ndtypes: [f32]\ncases:\n  - name: a\n    op: Relu\n    inputs: [{shape: [2]}]\n",
    );
    let line = expect_error(&["list", "--suite", path.to_str().unwrap()], 2);
    assert!(line.contains("include cycle"), "{line}");
}

#[test]
fn an_empty_suite() {
    expect_suite_error("", "s.yaml");
    expect_suite_error("suite: h\ncases: []\n", "no cases");
}

#[test]
fn a_missing_suite_file() {
    let line = expect_error(&["list", "--suite", "/nonexistent/suite.yaml"], 2);
    assert!(
        line.contains("/nonexistent/suite.yaml: cannot read suite"),
        "{line}"
    );
}

#[test]
fn a_suite_directory_without_yaml() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a suite").unwrap();
    let d = dir.path().to_str().unwrap();
    let line = expect_error(&["list", "--suite", d], 2);
    assert!(line.contains(d), "{line}");
    assert!(line.contains("no *.yaml suite"), "{line}");
}

#[test]
fn a_run_rejects_a_broken_suite_before_loading_the_backend() {
    let (_dir, path) = suite_file("s.yaml", "suite: [oops\n");
    // The backend does not exist: the suite error must come first (exit 2).
    expect_error(
        &[
            "run",
            "--backend",
            "/nonexistent/lib.so",
            "--suite",
            path.to_str().unwrap(),
        ],
        2,
    );
}

#[test]
fn resume_from_a_results_file_of_another_schema_version() {
    build_reference();
    let dir = tempfile::tempdir().unwrap();
    let header = serde_json::json!({
        "record": "header", "schema": "xpucert.results", "schema_version": 1,
        "suites": [], "backend_path": "", "backend_sha256": "", "filters": [],
        "settings": {}, "started_at": "2026-01-01T00:00:00Z"
    });
    std::fs::write(dir.path().join("results.jsonl"), format!("{header}\n")).unwrap();
    let out = dir.path().to_str().unwrap();
    let line = expect_error(
        &[
            "run",
            "--backend",
            "reference",
            "--isolation",
            "none",
            "--out",
            out,
            "--resume",
        ],
        2,
    );
    assert!(line.contains("results schema version 1"), "{line}");
    assert!(line.contains("results.jsonl"), "{line}");

    // And a file that is not a results file at all.
    std::fs::write(dir.path().join("results.jsonl"), "hello\n").unwrap();
    let line = expect_error(
        &[
            "run",
            "--backend",
            "reference",
            "--isolation",
            "none",
            "--out",
            out,
            "--resume",
        ],
        2,
    );
    assert!(line.contains("not an xpucert results header"), "{line}");
}

/// The reference library as built next to the binary under test.
fn reference_lib() -> PathBuf {
    build_reference();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_xpucert"));
    let lib = exe.parent().unwrap().join("libxpucert_reference.so");
    assert!(lib.exists(), "{} built", lib.display());
    lib
}

/// Copies an ELF shared library and sets its `e_machine` to `machine`.
fn with_machine(lib: &Path, machine: u16, to: &Path) {
    let mut bytes = std::fs::read(lib).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(bytes[5], 1, "little-endian ELF");
    // e_machine: 2 bytes at offset 18 in both ELF32 and ELF64 headers.
    bytes[18..20].copy_from_slice(&machine.to_le_bytes());
    std::fs::write(to, bytes).unwrap();
}

#[test]
fn a_library_built_for_another_architecture() {
    let lib = reference_lib();
    let dir = tempfile::tempdir().unwrap();
    let here = u16::from_le_bytes(std::fs::read(&lib).unwrap()[18..20].try_into().unwrap());
    // AArch64 on anything else, x86-64 on AArch64.
    let other = if here == 183 { 62 } else { 183 };
    let foreign = dir.path().join("libforeign.so");
    with_machine(&lib, other, &foreign);
    let f = foreign.to_str().unwrap();
    for isolation in ["none", "process"] {
        let line = expect_error(
            &[
                "run",
                "--backend",
                f,
                "--isolation",
                isolation,
                "--out",
                dir.path().join("out").to_str().unwrap(),
            ],
            3,
        );
        assert!(line.contains(f), "names the library: {line}");
        assert!(line.contains("cannot load backend"), "{line}");
    }
}
