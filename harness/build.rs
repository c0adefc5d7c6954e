//! Records the git commit xpucert is built from, for results provenance.
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    let value = if commit.is_empty() {
        String::new()
    } else if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    };
    println!("cargo:rustc-env=XPUCERT_GIT_COMMIT={value}");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/index");
    bench_baseline();
}

/// The plain C function benches/dispatch.rs calls directly, linked into the
/// benches only (never into the library or the binary).
fn bench_baseline() {
    println!("cargo:rerun-if-changed=benches/tiny.c");
    let Some(out) = std::env::var_os("OUT_DIR") else {
        return;
    };
    cc::Build::new()
        .file("benches/tiny.c")
        .opt_level(2)
        .cargo_metadata(false)
        .compile("xpucert_bench_tiny");
    let lib = std::path::Path::new(&out).join("libxpucert_bench_tiny.a");
    println!("cargo:rustc-link-arg-benches={}", lib.display());
}
