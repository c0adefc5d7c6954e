//! `xpucert new-backend`: each skeleton (C with make and with CMake, C++ with
//! CMake, Rust with cargo) is generated in a temporary directory, built with
//! its own build files, loaded by `xpucert info`, and run through the core
//! suite, where every case must be `unsupported` and the run conformant.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{results, run, xpucert};

fn generate(name: &str, lang: &str, dir: &Path) {
    let out = run(xpucert()
        .args(["new-backend", name, "--lang", lang, "--dir"])
        .arg(dir));
    assert_eq!(
        out.code, 0,
        "new-backend failed:\n{}{}",
        out.stdout, out.stderr
    );
    assert!(out.stdout.contains("next: "), "{}", out.stdout);
}

fn build(cmd: &mut Command, what: &str) {
    let o = cmd.output().unwrap_or_else(|e| {
        panic!("{what}: cannot start ({e}); .ci/run installs gcc, g++, make and cmake")
    });
    assert!(
        o.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Loads `lib` with `info`, runs the core suite, and checks that every case
/// is unsupported (declared by query_op, with a note) and the run exits 0.
fn loads_and_declines_everything(lib: &Path, name: &str) {
    assert!(lib.is_file(), "{} was not built", lib.display());
    let info = run(xpucert().args(["info", "--backend"]).arg(lib));
    assert_eq!(info.code, 0, "info:\n{}{}", info.stdout, info.stderr);
    assert!(
        info.stdout.contains(&format!("backend:   {name}")),
        "{}",
        info.stdout
    );
    assert!(
        info.stdout.contains(&format!("vendor:    {name}")),
        "{}",
        info.stdout
    );

    let out_dir = tempfile::tempdir().unwrap();
    let out = run(xpucert()
        .args(["run", "--backend"])
        .arg(lib)
        .args(["--suite", "suites/ops/core.yaml", "--out"])
        .arg(out_dir.path()));
    // Declining everything is not a failure, but nothing ran: UNTESTED, exit 1.
    assert_eq!(out.code, 1, "run:\n{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("-> UNTESTED"), "{}", out.stdout);
    let r = results(out_dir.path());
    let cases = r["cases"].as_array().unwrap();
    assert!(cases.len() > 400, "{} cases", cases.len());
    for c in cases {
        assert_eq!(c["status"], "unsupported", "{c}");
        assert_eq!(c["support"], "none", "{c}");
        assert_eq!(c["capability_mismatch"], false, "{c}");
        assert!(
            c["message"]
                .as_str()
                .unwrap()
                .contains("not implemented by"),
            "{c}"
        );
    }
    assert_eq!(r["summary"]["conformant"], false);
    assert_eq!(r["summary"]["ran"], 0);
}

fn target_root() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_xpucert"));
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

#[test]
fn c_skeleton_builds_with_make_and_cmake_and_declines_every_op() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("acme-npu");
    generate("acme-npu", "c", &dir);
    assert!(dir.join("include/xpucert_backend.h").is_file());
    build(Command::new("make").arg("-s").arg("-C").arg(&dir), "make");
    loads_and_declines_everything(&dir.join("build/libxpucert_acme_npu.so"), "acme-npu");

    let cm = dir.join("build-cmake");
    build(
        Command::new("cmake").arg("-S").arg(&dir).arg("-B").arg(&cm),
        "cmake configure",
    );
    build(Command::new("cmake").arg("--build").arg(&cm), "cmake build");
    let lib = cm.join("libxpucert_acme_npu.so");
    let info = run(xpucert().args(["info", "--backend"]).arg(&lib));
    assert_eq!(info.code, 0, "info:\n{}{}", info.stdout, info.stderr);
}

#[test]
fn cpp_skeleton_builds_with_cmake_and_declines_every_op() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("acme");
    generate("acme", "cpp", &dir);
    let b = dir.join("build");
    build(
        Command::new("cmake").arg("-S").arg(&dir).arg("-B").arg(&b),
        "cmake configure",
    );
    build(Command::new("cmake").arg("--build").arg(&b), "cmake build");
    loads_and_declines_everything(&b.join("libxpucert_acme.so"), "acme");
}

#[test]
fn rust_skeleton_builds_with_cargo_and_declines_every_op() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("acme-rs");
    generate("acme-rs", "rust", &dir);
    // One target directory for every run of this test, so only the first
    // compiles xpucert-abi.
    let target = target_root().join("skeletons");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    build(
        Command::new(cargo)
            .args(["build", "--quiet", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target),
        "cargo build",
    );
    loads_and_declines_everything(&target.join("debug/libxpucert_acme_rs.so"), "acme-rs");
}

#[test]
fn refuses_a_non_empty_directory_and_a_bad_name() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("keep"), "x").unwrap();
    let out = run(xpucert()
        .args(["new-backend", "acme", "--lang", "c", "--dir"])
        .arg(tmp.path()));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("not empty"), "{}", out.stderr);
    let out = run(xpucert().args(["new-backend", "Acme NPU", "--lang", "c"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("must start with a lowercase letter"),
        "{}",
        out.stderr
    );
}
