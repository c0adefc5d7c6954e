//! A library that cannot be a backend gets one line on stderr naming the
//! library and what is wrong, and exit code 3; never a panic.

use crate::common;

use common::{make, run, xpucert};

fn expect_load_error(backend: &str, needle: &str) {
    let out = run(xpucert().args(["info", "--backend", backend]));
    assert_eq!(
        out.code, 3,
        "exit code for {backend}; stderr: {}",
        out.stderr
    );
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, got: {}", out.stderr);
    assert!(
        lines[0].starts_with("xpucert: error: cannot load backend"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains(backend),
        "names the library: {}",
        lines[0]
    );
    assert!(
        lines[0].contains(needle),
        "expected `{needle}` in: {}",
        lines[0]
    );
    assert!(!out.stderr.contains("panicked"));
}

#[test]
fn missing_file() {
    expect_load_error("/nonexistent/libnothing.so", "no such file");
}

#[test]
fn not_a_library() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("libfake.so");
    std::fs::write(&p, "this is not an ELF file\n").unwrap();
    expect_load_error(p.to_str().unwrap(), "the dynamic loader refused it");
}

/// The loader's own reason reaches the vendor: the missing dependency by
/// name, the undefined symbol by name.
#[test]
fn the_dynamic_loaders_reason_is_passed_through() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cc = |args: &[&str]| {
        let st = std::process::Command::new("cc")
            .current_dir(d)
            .args(args)
            .status()
            .expect("cc runs");
        assert!(st.success(), "cc {args:?}");
    };
    std::fs::write(d.join("dep.c"), "int dep_fn(void) { return 1; }\n").unwrap();
    std::fs::write(
        d.join("needs.c"),
        "extern int dep_fn(void);\nint use_dep(void) { return dep_fn(); }\n",
    )
    .unwrap();
    std::fs::write(
        d.join("undef.c"),
        "extern int acme_runtime_init(void);\nint use_rt(void) { return acme_runtime_init(); }\n",
    )
    .unwrap();
    cc(&["-shared", "-fPIC", "-o", "libacmedep.so", "dep.c"]);
    cc(&[
        "-shared",
        "-fPIC",
        "-o",
        "libneeds.so",
        "needs.c",
        "-L.",
        "-lacmedep",
    ]);
    std::fs::remove_file(d.join("libacmedep.so")).unwrap();
    cc(&[
        "-shared",
        "-fPIC",
        "-Wl,-z,now",
        "-o",
        "libundef.so",
        "undef.c",
    ]);
    expect_load_error(
        d.join("libneeds.so").to_str().unwrap(),
        "libacmedep.so: cannot open shared object file",
    );
    expect_load_error(
        d.join("libundef.so").to_str().unwrap(),
        "undefined symbol: acme_runtime_init",
    );
}

#[test]
fn broken_libraries() {
    let build = make("backends/testlibs");
    let lib = |name: &str| build.join(format!("lib{name}.so")).display().to_string();
    expect_load_error(&lib("no_symbol"), "does not export xpucert_backend_init_v1");
    expect_load_error(&lib("major2"), "ABI major 2; this xpucert supports major 1");
    expect_load_error(
        &lib("init_fails"),
        "device_error): no device found: /dev/acme0 missing",
    );
    expect_load_error(&lib("null_slots"), "required function run_op is NULL");
    expect_load_error(
        &lib("incomplete_streams"),
        "the stream group is incomplete: sync is NULL",
    );
}

#[test]
fn short_table_from_an_older_minor_loads() {
    let build = make("backends/testlibs");
    let lib = build.join("libshort_table.so");
    let out = run(xpucert().args(["info", "--backend"]).arg(&lib));
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert!(
        out.stdout.contains("device memory: not provided"),
        "{}",
        out.stdout
    );
}

#[test]
fn run_with_a_missing_backend_is_exit_3_too() {
    let out = run(xpucert().args([
        "run",
        "--backend",
        "/nonexistent/lib.so",
        "--filter",
        "core.add.*",
    ]));
    assert_eq!(out.code, 3, "{}", out.stderr);
}
