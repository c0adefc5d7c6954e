//! Installed anywhere: `scripts/install.sh` lays out PREFIX/{bin,lib,share};
//! the binary then runs from an empty directory with no XPUCERT_HOME, finds
//! named suites and profiles, the bundled backends, and records suites by
//! their path inside the data root. A binary alone (as `cargo install`
//! leaves it) uses the suites built into it; XPUCERT_HOME overrides both.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, Output, repo, run};

/// The target directory and profile of the binary under test.
fn target() -> (PathBuf, String) {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_xpucert"));
    let profile = exe.parent().unwrap();
    (
        profile.parent().unwrap().to_path_buf(),
        profile.file_name().unwrap().to_string_lossy().into_owned(),
    )
}

/// Installs the built binary and backends into `prefix` with the script.
fn install(prefix: &Path) {
    common::build_reference();
    let (target, profile) = target();
    let o = run(Command::new("bash")
        .arg(repo().join("scripts/install.sh"))
        .args(["--no-build", "--profile", &profile, "--prefix"])
        .arg(prefix)
        .env("CARGO_TARGET_DIR", target));
    assert_eq!(o.code, 0, "install.sh: {}{}", o.stdout, o.stderr);
}

/// `bin` run in `cwd` with a clean environment of xpucert variables.
fn in_dir(bin: &Path, cwd: &Path, data: &Path, args: &[&str]) -> Output {
    run(Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .env_remove("XPUCERT_HOME")
        .env_remove("XPUCERT_REFERENCE_LIB")
        .env("XDG_DATA_HOME", data))
}

#[test]
fn an_installed_harness_runs_named_suites_and_profiles_from_an_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");
    install(&prefix);
    for f in [
        "bin/xpucert",
        "lib/xpucert/libxpucert_reference.so",
        "share/xpucert/suites/ops/core.yaml",
        "share/xpucert/suites/profiles/core.yaml",
        "share/xpucert/ci/github/xpucert.yml",
        "share/xpucert/fixtures/fetch-models.sh",
        "share/xpucert/fixtures/fetch-onnx-tests.sh",
        "share/xpucert/fixtures/onnx-tests.lock",
        "share/xpucert/include/xpucert_backend.h",
    ] {
        assert!(prefix.join(f).is_file(), "{f} not installed");
    }
    let bin = prefix.join("bin/xpucert");
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let data = tmp.path().join("data");

    // `--suite core` and the long path both work from here.
    let o = in_dir(&bin, &work, &data, &["list", "--suite", "core"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let core = o.stdout.lines().count();
    assert!(core > 1000, "{core} core cases");
    let o = in_dir(
        &bin,
        &work,
        &data,
        &["list", "--suite", "suites/ops/core.yaml"],
    );
    assert_eq!(o.stdout.lines().count(), core, "{}", o.stderr);
    // The installed data was used: nothing was written out of the binary.
    assert!(!data.join("xpucert").exists());

    let o = in_dir(
        &bin,
        &work,
        &data,
        &[
            "run",
            "--backend",
            "reference",
            "--suite",
            "core",
            "--filter",
            "core.add.f32.*",
            "--out",
            "r",
            "--format",
            "lines",
        ],
    );
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let r = common::results(&work.join("r"));
    assert_eq!(r["provenance"]["suites"][0]["path"], "suites/ops/core.yaml");
    assert!(
        r["provenance"]["backend_path"]
            .as_str()
            .unwrap()
            .ends_with("lib/xpucert/libxpucert_reference.so"),
        "{}",
        r["provenance"]["backend_path"]
    );
    // The rerun line of a result names the suite as it was found.
    let o = in_dir(
        &bin,
        &work,
        &data,
        &[
            "run",
            "--backend",
            "reference",
            "--profile",
            "core",
            "--filter",
            "core.relu.*",
            "--out",
            "p",
            "--format",
            "lines",
        ],
    );
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);

    // The profile's coverage is in the verdict and results.json.
    assert!(
        o.stdout
            .contains("required by profile core: 3 of 83 op x dtype pairs covered (missing: Add x bf16 (no case)"),
        "{}",
        o.stdout
    );
    let p = common::results(&work.join("p"));
    assert_eq!(p["required"]["covered"], 3, "{}", p["required"]);
    assert_eq!(p["provenance"]["profile"]["name"], "core");

    // Certify the core profile, signed, and verify it, from here.
    let o = in_dir(&bin, &work, &data, &["keygen", "--out", "key"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = in_dir(
        &bin,
        &work,
        &data,
        &[
            "certify",
            "--profile",
            "core",
            "--backend",
            "reference",
            "--out",
            "cert",
            "--sign",
            "key",
        ],
    );
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("level L2"), "{}", o.stdout);
    // The model suites' weights are not fetched here: the message says how.
    let c = common::results(&work.join("cert/run"));
    let model = c["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"].is_object())
        .expect("a model case");
    assert!(
        model["message"]
            .as_str()
            .unwrap()
            .contains("share/xpucert/fixtures/fetch-models.sh"),
        "{model}"
    );
    let o = in_dir(
        &bin,
        &work,
        &data,
        &["verify", "cert", "--pubkey", "key.pub"],
    );
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("signature: verified"), "{}", o.stdout);

    // Unknown names say where xpucert looked and which names exist.
    let o = in_dir(&bin, &work, &data, &["list", "--suite", "cor"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("cannot find suite `cor`")
            && o.stderr.contains("the installed data in")
            && o.stderr.contains("core, coverage"),
        "{}",
        o.stderr
    );
    let o = in_dir(
        &bin,
        &work,
        &data,
        &["run", "--backend", "reference", "--profile", "cor"],
    );
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("bundled profiles: core, deepseek"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_lone_binary_uses_its_built_in_suites_and_xpucert_home_overrides_them() {
    let tmp = tempfile::tempdir().unwrap();
    let bin_dir = tmp.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    let bin = bin_dir.join("xpucert");
    std::fs::copy(env!("CARGO_BIN_EXE_xpucert"), &bin).unwrap();
    let data = tmp.path().join("data");
    let work = tmp.path().to_path_buf();

    let o = in_dir(&bin, &work, &data, &["list", "--suite", "edge"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let written: Vec<_> = std::fs::read_dir(data.join("xpucert")).unwrap().collect();
    assert_eq!(written.len(), 1, "one versioned copy of the built-in data");
    let root = written[0].as_ref().unwrap().path();
    assert_eq!(
        std::fs::read(root.join("suites/ops/edge.yaml")).unwrap(),
        std::fs::read(repo().join("suites/ops/edge.yaml")).unwrap()
    );
    // A damaged copy is rewritten on the next use.
    std::fs::write(root.join("suites/ops/edge.yaml"), "garbage").unwrap();
    let again = in_dir(&bin, &work, &data, &["list", "--suite", "edge"]);
    assert_eq!(again.stdout, o.stdout, "{}", again.stderr);
    // Model suites find the fetch script of their own data root.
    let o = in_dir(&bin, &work, &data, &["list", "--suite", "models"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("models.smollm2-135m.f32"), "{}", o.stdout);

    // XPUCERT_HOME comes first, for every command that finds suites.
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("suites/ops")).unwrap();
    std::fs::write(
        home.join("suites/ops/core.yaml"),
        "suite: mine\ncases:\n  - name: one\n    op: Relu\n    dtypes: [f32]\n    inputs:\n      - {shape: [4]}\n",
    )
    .unwrap();
    let o = run(Command::new(&bin)
        .args(["list", "--suite", "core"])
        .current_dir(&work)
        .env("XPUCERT_HOME", &home)
        .env("XDG_DATA_HOME", &data));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout.trim(), "mine.relu.f32.one", "{}", o.stderr);
}

#[test]
fn install_sh_refuses_bad_arguments_with_exit_2() {
    let script = repo().join("scripts/install.sh");
    for (args, says) in [
        (vec!["--bogus"], "unknown argument '--bogus'"),
        (vec!["--prefix"], "--prefix needs a directory"),
        (
            vec!["--profile", "fast"],
            "--profile must be release or debug, not 'fast'",
        ),
    ] {
        let o = run(Command::new("bash").arg(&script).args(&args));
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(says), "{args:?}: {}", o.stderr);
    }
    // --no-build with nothing built names the missing file.
    let tmp = tempfile::tempdir().unwrap();
    let o = run(Command::new("bash")
        .arg(&script)
        .args(["--no-build", "--profile", "release", "--prefix"])
        .arg(tmp.path().join("p"))
        .env("CARGO_TARGET_DIR", tmp.path()));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("is missing (build first"), "{}", o.stderr);
}
