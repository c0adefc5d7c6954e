//! Helpers shared by the integration tests that compile C: finding a compiler,
//! building a program or a shared library against the header, and loading a
//! backend library the way the harness does (never unloaded).

#![allow(dead_code)] // each test binary uses a different subset of these helpers.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `backends/` in the repository.
pub fn backends_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("backends/abi has a parent")
        .to_path_buf()
}

/// `backends/include`, where `xpucert_backend.h` lives.
pub fn include_dir() -> PathBuf {
    backends_dir().join("include")
}

/// A scratch directory for one test's build products, inside Cargo's target dir.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("xpucert-abi-tests")
        .join(name);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// `$CC` if set, else `cc`, else `gcc`: the same choice `make` makes, with a
/// fallback for machines where only `gcc` is installed.
fn compiler() -> String {
    if let Ok(cc) = std::env::var("CC")
        && !cc.trim().is_empty()
    {
        return cc;
    }
    let works = |name: &str| Command::new(name).arg("--version").output().is_ok();
    if works("cc") {
        "cc".into()
    } else {
        "gcc".into()
    }
}

/// Compiles C sources with the project's warning flags, treating warnings as
/// errors, so the test also proves the sources are warning-clean.
fn compile(sources: &[PathBuf], out: &Path, extra: &[&str], libs: &[&str]) {
    let cc = compiler();
    let mut cmd = Command::new(&cc);
    cmd.args([
        "-std=c99",
        "-Wall",
        "-Wextra",
        "-pedantic",
        "-Werror",
        "-O1",
        "-g",
    ])
    .arg("-I")
    .arg(include_dir())
    .args(extra)
    .arg("-o")
    .arg(out)
    .args(sources)
    .args(libs);
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("failed to run the C compiler `{cc}`: {e}"));
    assert!(
        output.status.success(),
        "C compilation failed: {cmd:?}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Builds an executable from C sources.
pub fn compile_program(sources: &[PathBuf], out: &Path) {
    compile(sources, out, &[], &[]);
}

/// Builds a shared library from C sources, exporting only XPU_EXPORT symbols.
pub fn compile_shared(sources: &[PathBuf], out: &Path) {
    compile(
        sources,
        out,
        &["-shared", "-fPIC", "-fvisibility=hidden"],
        &["-lm"],
    );
}

/// Loads a library and keeps it loaded for the rest of the process, as the
/// harness does (vendor code may keep threads alive, so it is never unloaded).
pub fn load(path: &Path) -> &'static libloading::Library {
    // SAFETY: the libraries loaded by these tests are built from this
    // repository's C sources; their initialisers do nothing.
    let lib = unsafe { libloading::Library::new(path) }
        .unwrap_or_else(|e| panic!("failed to load {}: {e}", path.display()));
    Box::leak(Box::new(lib))
}
