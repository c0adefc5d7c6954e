//! Shared helpers for the harness's integration tests: the xpucert binary,
//! and the backend libraries the tests load (built on demand, once).
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness/ has a parent")
        .to_path_buf()
}

/// The xpucert binary under test, run from the repository root.
pub fn xpucert() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xpucert"));
    c.current_dir(repo());
    c.env_remove("XPUCERT_REFERENCE_LIB");
    c
}

/// Builds the bundled backends (reference, mutants) into the same target
/// directory and profile as the xpucert binary under test, so
/// `--backend reference` and `--backend mutants` find them.
pub fn build_reference() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let exe = PathBuf::from(env!("CARGO_BIN_EXE_xpucert"));
        let profile_dir = exe.parent().expect("binary has a directory");
        let target = profile_dir.parent().expect("profile dir has a parent");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "-p",
            "xpucert-reference",
            "-p",
            "xpucert-mutants",
            "--target-dir",
        ])
        .arg(target)
        .current_dir(repo());
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "building the reference backend failed");
    });
}

/// Runs `make -C dir` once per directory and returns the directory's build/.
pub fn make(dir: &str) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let path = repo().join(dir);
    let out = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(&path)
        .output()
        .expect("make runs (gcc and make are installed by .ci/run)");
    assert!(
        out.status.success(),
        "make -C {dir} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path.join("build")
}

/// The output of a command with stdout and stderr as strings.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the command and captures everything.
pub fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().expect("command runs");
    Output {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `run` of the Softmax f32 cases of the core suite on the mutants backend
/// that skips the max subtraction (some of them fail), into `out`, with
/// `extra` arguments, judged on 2026-12-06 (for waiver expiry).
pub fn failing_softmax_run(out: &Path, extra: &[&str]) -> Output {
    build_reference();
    run(xpucert()
        .env("XPUCERT_TODAY", "2026-12-06")
        .args([
            "run",
            "--backend",
            "mutants",
            "--option",
            "mode=softmax_no_max",
            "--filter",
            "core.softmax.f32.*",
            "--out",
        ])
        .arg(out)
        .args(extra))
}

/// Reads results.json from a run's output directory.
pub fn results(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("results.json")).expect("results.json written");
    serde_json::from_str(&text).expect("results.json is JSON")
}

/// Fetches the real checkpoints (fixtures/fetch-models.sh: pip download,
/// sha256-checked; a no-op when they are present), once per test binary.
pub fn fetch_models() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo().join("fixtures/fetch-models.sh"))
            .current_dir(repo())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "fixtures/fetch-models.sh failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// Whether `info`'s text says that, of all the op x dtype pairs it probed,
/// exactly `supported` are supported and the rest unsupported, with no
/// query error or manifest mismatch. The total follows the suites, which
/// grow with every operator, so it is read from the line, not written here.
pub fn capabilities_line_says(text: &str, supported: usize) -> bool {
    text.lines().any(|line| {
        let Some((total, rest)) = line.split_once(" op x dtype: ") else {
            return false;
        };
        let Ok(total) = total.trim().parse::<usize>() else {
            return false;
        };
        rest.starts_with(&format!(
            "{supported} supported, 0 emulated, {} unsupported, 0 query errors; 0 manifest mismatches",
            total.saturating_sub(supported)
        ))
    })
}
