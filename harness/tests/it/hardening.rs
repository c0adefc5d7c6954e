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

/// A case whose operands the operator cannot take is the suite's mistake:
/// refused at load by the operator's own rules (exit 2, `file:line:col`,
/// the case named), never run and blamed on the backend.
#[test]
fn operand_mistakes_are_refused_at_load_by_the_operators_rules() {
    let case = |body: &str| format!("{HEAD}  - name: a\n{body}");
    for (body, needle) in [
        (
            "    op: MatMul\n    inputs: [{shape: [3, 4]}, {shape: [5, 6]}]\n",
            "inner dimensions differ",
        ),
        (
            "    op: Gather\n    inputs: [{shape: [4, 2]}, {dtype: i64, values: [0, 4]}]\n",
            "index 4 is out of bounds for axis 0 of length 4",
        ),
        (
            "    op: Gather\n    inputs: [{shape: [4, 2]}, {dtype: i64, shape: [8], dist: {int: {low: -9, high: 9}}}]\n",
            "out of bounds",
        ),
        (
            "    op: Transpose\n    attributes: {perm: [0, 0]}\n    inputs: [{shape: [2, 3]}]\n",
            "not a permutation",
        ),
        (
            "    op: Softmax\n    attributes: {axis: 2}\n    inputs: [{shape: [2, 3]}]\n",
            "axis 2 is out of range for rank 2 (accepted: -2 to 1)",
        ),
        (
            "    op: Softmax\n    inputs: [{shape: []}]\n",
            "the input is a scalar (rank 0), which has no axes",
        ),
        (
            "    op: TopK\n    inputs: [{shape: [2, 3]}, {dtype: i64, values: [4]}]\n",
            "K = 4 is outside [0, 3]",
        ),
        (
            "    op: Gather\n    inputs: [{shape: [4]}, {dtype: i64, values: [-9223372036854775808]}]\n",
            "index -9223372036854775808 is out of bounds",
        ),
        (
            "    op: Add\n    inputs: [{shape: [2]}, {dtype: f16, shape: [2]}]\n",
            "must have the same dtype",
        ),
        (
            "    op: Exp\n    inputs: [{dtype: i32, shape: [2]}]\n",
            "must be a float tensor",
        ),
        (
            "    op: Cast\n    attributes: {to: 12345}\n    inputs: [{shape: [2]}]\n",
            "12345",
        ),
        (
            "    op: Reshape\n    inputs: [{shape: [2, 3]}, {dtype: i64, values: [4, -1]}]\n",
            "cannot infer the -1",
        ),
    ] {
        let (_dir, path) = suite_file("s.yaml", &case(body));
        let p = path.to_str().unwrap();
        let line = expect_error(&["list", "--suite", p], 2);
        assert!(line.contains(&format!("{p}:5:5: case `h.")), "{line}");
        assert!(line.contains(needle), "expected `{needle}` in: {line}");
    }
}

/// Integers the f64 pipeline cannot carry exactly are refused where they
/// are written, not silently rounded.
#[test]
fn integers_beyond_f64_are_refused() {
    expect_suite_error(
        &format!(
            "{HEAD}  - name: a\n    op: Gather\n    inputs: [{{shape: [4]}}, {{dtype: i64, values: [9007199254740993]}}]\n"
        ),
        "9007199254740993 cannot be carried exactly",
    );
}

/// A sweep's size is counted before it is expanded: 10 variables of 20
/// values (10^13 cases) is refused at once, not built in memory.
#[test]
fn a_huge_sweep_is_refused_before_it_is_built() {
    let vars: Vec<String> = (0..10)
        .map(|i| {
            let vals: Vec<String> = (1..=20).map(|v| v.to_string()).collect();
            format!("      v{i}: [{}]\n", vals.join(", "))
        })
        .collect();
    let dims: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    let text = format!(
        "{HEAD}  - name: a\n    op: Relu\n    sweep:\n{}    inputs: [{{shape: [{}]}}]\n",
        vars.concat(),
        dims.join(", ")
    );
    expect_suite_error(&text, "more cases than a suite may hold (100000 in all)");
}

/// Cases too large for the memory budget are refused before anything is
/// allocated (exit 2, naming the case and the flag); the budget is a flag.
#[test]
fn cases_over_the_memory_budget_are_refused_before_the_run() {
    let big = format!(
        "{HEAD}  - name: outer\n    op: MatMul\n    inputs: [{{shape: [40000, 1]}}, {{shape: [1, 40000]}}]\n"
    );
    let (dir, path) = suite_file("s.yaml", &big);
    let out = dir.path().join("out");
    let args = |budget: Option<&str>| {
        let mut a = vec![
            "run".to_string(),
            "--backend".into(),
            reference_lib().to_str().unwrap().into(),
            "--suite".into(),
            path.to_str().unwrap().into(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ];
        if let Some(b) = budget {
            a.extend(["--memory-budget".into(), b.into()]);
        }
        a
    };
    let a = args(None);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let line = expect_error(&a, 2);
    assert!(line.contains("h.matmul.f32.outer"), "{line}");
    assert!(line.contains("--memory-budget"), "{line}");
    assert!(!out.join("results.jsonl").exists(), "nothing ran");
    // A tiny budget refuses a tiny case too: the flag is honoured.
    let small = format!("{HEAD}  - name: a\n    op: Relu\n    inputs: [{{shape: [64]}}]\n");
    std::fs::write(&path, small).unwrap();
    let a = args(Some("1K"));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let line = expect_error(&a, 2);
    assert!(line.contains("h.relu.f32.a"), "{line}");
    let a = args(Some("1G"));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let ok = run(xpucert().args(&a));
    assert_eq!(ok.code, 0, "{}", ok.stderr);
}

/// Only regular files are read, and only up to a size: a device, a FIFO or
/// an oversized file is one clear error, never a read without end.
#[test]
fn devices_fifos_and_huge_files_are_not_suites() {
    let line = expect_error(&["list", "--suite", "/dev/zero"], 2);
    assert!(
        line.contains("not a regular file (a character device)"),
        "{line}"
    );
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.yaml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let line = expect_error(&["list", "--suite", fifo.to_str().unwrap()], 2);
    assert!(line.contains("a FIFO"), "{line}");
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, vec![b'#'; 17 << 20]).unwrap();
    let line = expect_error(&["list", "--suite", big.to_str().unwrap()], 2);
    assert!(line.contains("bytes is more than the"), "{line}");
    let (_d, path) = suite_file("s.yaml", "suite: h\ninclude: [/dev/zero]\ncases: []\n");
    let line = expect_error(&["list", "--suite", path.to_str().unwrap()], 2);
    assert!(line.contains("outside the suite's directory"), "{line}");
}

/// Includes stay inside the root suite's directory, and a file that is not
/// a suite is never echoed beyond a short escaped excerpt.
#[test]
fn includes_are_confined_and_foreign_files_not_echoed() {
    let root = tempfile::tempdir().unwrap();
    let tree = root.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    let secret = "root:$6$abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789:19000:0:99999:7:::\n";
    std::fs::write(root.path().join("shadow"), secret).unwrap();
    for target in ["../shadow", root.path().join("shadow").to_str().unwrap()] {
        let main = tree.join("main.yaml");
        std::fs::write(
            &main,
            format!("suite: h\ninclude: [\"{target}\"]\ncases: []\n"),
        )
        .unwrap();
        let line = expect_error(&["list", "--suite", main.to_str().unwrap()], 2);
        assert!(line.contains("outside the suite's directory"), "{line}");
        assert!(!line.contains("abcdefghij"), "{line}");
    }
    // Named directly, the file is read, and the error quotes little of it.
    let out = run(xpucert().args([
        "list",
        "--suite",
        root.path().join("shadow").to_str().unwrap(),
    ]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(!out.stderr.contains(&secret[..60]), "{}", out.stderr);
    // Control characters in a broken file never reach the terminal raw.
    let (_d, path) = suite_file("esc.yaml", "suite: h\ncases: [\x1b[2J\x07\n");
    let out = run(xpucert().args(["list", "--suite", path.to_str().unwrap()]));
    assert_eq!(out.code, 2);
    assert!(
        !out.stderr.contains('\x1b') && !out.stderr.contains('\x07'),
        "{:?}",
        out.stderr
    );
}

/// A reader that stops early (`xpucert list | head -1`) ends the command
/// quietly with 141, as SIGPIPE ends `cat`: no panic, no backtrace.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    use std::io::{BufRead, BufReader};
    let mut child = xpucert()
        .args(["list", "--suite", "suites/ops"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("core."), "{first}");
    // The reader is dropped here: the rest of the list meets a closed pipe.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

/// `--help` lists the exit codes, and the same codes as the README's table.
#[test]
fn help_lists_the_exit_codes_the_readme_documents() {
    let out = run(xpucert().arg("--help"));
    assert_eq!(out.code, 0);
    let help: Vec<String> = out
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Exit codes:"))
        .filter_map(|l| l.split_whitespace().next()?.parse::<u32>().ok())
        .map(|c| c.to_string())
        .collect();
    let readme = std::fs::read_to_string(common::repo().join("README.md")).unwrap();
    let documented: Vec<String> = readme
        .lines()
        .skip_while(|l| !l.starts_with("## Exit codes"))
        .filter_map(|l| l.strip_prefix("| ")?.split(' ').next()?.parse::<u32>().ok())
        .map(|c| c.to_string())
        .collect();
    assert!(!help.is_empty(), "{}", out.stdout);
    assert_eq!(help, documented);
}

/// `list --format json` is the same cases as the text list, with what a
/// script needs to pick them (op, dtype, location, memory estimate).
#[test]
fn list_as_json_matches_the_text_list() {
    let text = run(xpucert().args(["list", "--filter", "core.gather.*"]));
    let json = run(xpucert().args(["list", "--filter", "core.gather.*", "--format", "json"]));
    assert_eq!(json.code, 0, "{}", json.stderr);
    let rows: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let ids: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, text.stdout.lines().collect::<Vec<_>>());
    assert!(!ids.is_empty());
    for r in rows.as_array().unwrap() {
        assert_eq!(r["op"], "Gather");
        assert!(r["memory_bytes"].as_u64().unwrap() > 0, "{r}");
        assert!(
            r["location"].as_str().unwrap().contains("core.yaml:"),
            "{r}"
        );
    }
}

/// A budget that is not a size is a usage error naming the accepted forms.
#[test]
fn a_memory_budget_that_is_not_a_size_is_refused() {
    for bad in ["lots", "0", "-5G", "12Q"] {
        let flag = format!("--memory-budget={bad}");
        let out = run(xpucert().args(["run", "--backend", "reference", &flag]));
        assert_eq!(out.code, 2, "{bad}: {}", out.stderr);
        assert!(out.stderr.contains(bad), "{bad}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
}

/// `run --help` names the bundled backends and every mode of the mutants
/// backend, exactly the mutants' own list.
#[test]
fn run_help_lists_the_bundled_backends_and_every_mutant_mode() {
    let out = run(xpucert().args(["run", "--help"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("  reference  "), "{}", out.stdout);
    let listed: Vec<String> = out
        .stdout
        .split("NAME one of:")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_else(|| panic!("no mode list in:\n{}", out.stdout))
        .split(',')
        .map(|m| m.trim().to_string())
        .collect();
    let modes: Vec<String> = xpucert_mutants::modes()
        .iter()
        .map(|m| m.name.to_string())
        .collect();
    assert_eq!(
        listed, modes,
        "run --help lists other modes than the mutants have"
    );
}

/// `info --format json` says what the text does: identity, groups,
/// manifest, one capability row per op x dtype of the suite.
#[test]
fn info_as_json() {
    common::build_reference();
    let out = run(xpucert().args(["info", "--backend", "reference", "--format", "json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["backend"], "xpucert-reference");
    assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(v["groups"]["streams"], false);
    assert!(v["manifest"]["ops"].is_array(), "{}", v["manifest"]);
    let rows = v["capabilities"].as_array().unwrap();
    assert!(rows.len() > 100, "{}", rows.len());
    assert!(rows.iter().all(|r| r["support"] == "native"), "{rows:?}");
    assert!(v["capability_error"].is_null());
}
