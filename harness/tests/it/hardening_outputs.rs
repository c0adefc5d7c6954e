//! Hardening of what xpucert prints and certifies (issue 15, outputs and
//! trust): bundles whose paths leave the bundle or pass through symlinks,
//! summaries that disagree with their cases, vendor strings carrying
//! terminal control codes, and where `certify` keeps its run.

use crate::common;

use std::path::{Path, PathBuf};

use common::{build_reference, run, xpucert};
use serde_json::{Value, json};

use crate::reports::tmp;

/// A profile of one tiny suite (Add and Relu in f32) in `dir`, so a
/// certification runs in well under a second.
fn tiny_profile(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("tiny.yaml"),
        "suite: tiny\nseed: 1\ndtypes: [f32]\ncases:\n  \
         - {name: small, op: Add, inputs: [{shape: [8]}, {shape: [8]}]}\n  \
         - {name: small, op: Relu, inputs: [{shape: [8]}]}\n",
    )
    .unwrap();
    let profile = dir.join("tiny-profile.yaml");
    std::fs::write(
        &profile,
        format!(
            "profile: tiny\ndescription: two ops\nsuites: [{}]\nrequired:\n  \
             - {{op: Add, dtypes: [f32]}}\nthroughput: {{min_iterations: 10}}\n",
            dir.join("tiny.yaml").display()
        ),
    )
    .unwrap();
    profile
}

fn certify(profile: &Path, out: &Path) -> common::Output {
    run(xpucert()
        .args(["certify", "--profile"])
        .arg(profile)
        .args(["--backend", "reference", "--out"])
        .arg(out))
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// A certified bundle of the tiny profile, made once per test binary.
fn bundle() -> &'static PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        build_reference();
        let dir = tempfile::tempdir().expect("tmp").keep();
        let profile = tiny_profile(&dir);
        let out = dir.join("bundle");
        let o = certify(&profile, &out);
        assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
        out
    })
}

#[test]
fn certify_keeps_each_run_inside_its_own_bundle() {
    build_reference();
    let t = tmp();
    let profile = tiny_profile(t.path());
    let (v1, v2) = (t.path().join("rel.v1"), t.path().join("rel.v2"));
    for out in [&v1, &v2] {
        let o = certify(&profile, out);
        assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    }
    // Each bundle holds its own run; nothing is written beside them.
    for out in [&v1, &v2] {
        let run_results = read_json(&out.join("run/results.json"));
        let command: Vec<String> =
            serde_json::from_value(run_results["provenance"]["command"].clone()).unwrap();
        let at = command.iter().position(|a| a == "--out").unwrap();
        assert_eq!(Path::new(&command[at + 1]), out.join("run"), "{command:?}");
        assert!(out.join("run/results.jsonl").is_file());
        let o = run(xpucert().arg("verify").arg(out));
        assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    }
    let mut names: Vec<String> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["rel.v1", "rel.v2", "tiny-profile.yaml", "tiny.yaml"],
        "certify wrote outside --out"
    );
}

/// A copy of the bundle with `edit` applied, then `verify` on it.
fn verify_edited(name: &str, edit: impl FnOnce(&Path)) -> common::Output {
    let t = tempfile::tempdir().unwrap().keep();
    let copy = t.join(name);
    copy_dir(bundle(), &copy);
    edit(&copy);
    run(xpucert().arg("verify").arg(&copy))
}

fn set_listed_path(bundle: &Path, role: &str, path: &str) {
    let cpath = bundle.join("certificate.json");
    let mut c = read_json(&cpath);
    for f in c["files"].as_array_mut().unwrap() {
        if f["role"] == role {
            f["path"] = json!(path);
        }
    }
    std::fs::write(cpath, c.to_string()).unwrap();
}

#[test]
fn verify_refuses_symlinks_and_paths_that_leave_the_bundle() {
    let o = run(xpucert().arg("verify").arg(bundle()));
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);

    // The results file replaced by a symlink to an identical file outside:
    // the hashes all match, so only the symlink rule can refuse it.
    let outside = tempfile::tempdir().unwrap().keep().join("results.json");
    std::fs::copy(bundle().join("results.json"), &outside).unwrap();
    let o = verify_edited("symlinked-results", |b| {
        std::fs::remove_file(b.join("results.json")).unwrap();
        std::os::unix::fs::symlink(&outside, b.join("results.json")).unwrap();
    });
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("REJECTED")
            && o.stderr.contains("results.json")
            && o.stderr.contains("symlink"),
        "{}",
        o.stderr
    );

    // A symlinked directory on the way to the library.
    let lib_dir = tempfile::tempdir().unwrap().keep();
    copy_dir(&bundle().join("backend"), &lib_dir);
    let o = verify_edited("symlinked-dir", |b| {
        std::fs::remove_dir_all(b.join("backend")).unwrap();
        std::os::unix::fs::symlink(&lib_dir, b.join("backend")).unwrap();
    });
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("backend") && o.stderr.contains("symlink"),
        "{}",
        o.stderr
    );

    // certificate.json itself.
    let o = verify_edited("symlinked-certificate", |b| {
        let real = b.join("real-certificate.json");
        std::fs::rename(b.join("certificate.json"), &real).unwrap();
        std::os::unix::fs::symlink(&real, b.join("certificate.json")).unwrap();
    });
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("certificate.json") && o.stderr.contains("symlink"),
        "{}",
        o.stderr
    );

    // Listed paths that leave the bundle, for every role that is read.
    for (i, (role, path, why)) in [
        ("results", outside.to_str().unwrap().to_string(), "absolute"),
        (
            "results",
            "../symlinked-results/results.json".to_string(),
            "`..`",
        ),
        ("profile", "./profile.yaml".to_string(), "`.`"),
        ("library", "backend//x.so".to_string(), "``"),
    ]
    .into_iter()
    .enumerate()
    {
        let o = verify_edited(&format!("path-{i}"), |b| set_listed_path(b, role, &path));
        assert_eq!(o.code, 1, "{role} {path}: {}", o.stderr);
        assert!(
            o.stderr.contains("leaves the bundle") && o.stderr.contains(why),
            "{role} {path}: {}",
            o.stderr
        );
    }
}

/// The bundle's results with every case turned into a `fail` and the
/// stored summary left saying all pass.
fn failing_cases_under_a_passing_summary(dir: &Path) -> PathBuf {
    let mut r = read_json(&bundle().join("results.json"));
    assert_eq!(r["summary"]["conformant"], true);
    for c in r["cases"].as_array_mut().unwrap() {
        c["status"] = json!("fail");
        c["message"] = json!("edited");
    }
    let p = dir.join("edited.json");
    std::fs::write(&p, r.to_string()).unwrap();
    p
}

#[test]
fn readers_recount_a_summary_that_disagrees_with_the_cases() {
    let t = tmp();
    let edited = failing_cases_under_a_passing_summary(t.path());
    let warning = "its summary says 2 cases (2 pass) -> CONFORMANT, but its cases say 2 cases (2 fail) -> NOT CONFORMANT";
    for format in ["table", "md", "html", "junit", "json"] {
        let o = run(xpucert().args(["report", "--format", format]).arg(&edited));
        assert_eq!(o.code, 0, "{format}: {}", o.stderr);
        assert!(o.stderr.contains(warning), "{format}: {}", o.stderr);
        assert!(
            !o.stdout.contains("CONFORMANT") || o.stdout.contains("NOT CONFORMANT"),
            "{format}: {}",
            o.stdout
        );
        assert!(!o.stdout.contains("2 pass"), "{format}: {}", o.stdout);
    }
    let o = run(xpucert().arg("report").arg(&edited));
    assert!(
        o.stdout.contains("2 cases: 2 fail") && o.stdout.contains("-> NOT CONFORMANT"),
        "{}",
        o.stdout
    );
    let o = run(xpucert().args(["report", "--format", "md"]).arg(&edited));
    assert!(o.stdout.contains("— NOT CONFORMANT"), "{}", o.stdout);

    // The other readers of results files warn the same way (merge then
    // refuses a file that is not a shard; it recounts what it merges).
    let merged = t.path().join("merged.json");
    for args in [
        vec!["matrix".to_string(), edited.display().to_string()],
        vec![
            "merge".into(),
            edited.display().to_string(),
            "--out".into(),
            merged.display().to_string(),
        ],
        vec![
            "gate".into(),
            "--baseline".into(),
            edited.display().to_string(),
            "--current".into(),
            edited.display().to_string(),
        ],
    ] {
        let o = run(xpucert().args(&args));
        assert!(o.stderr.contains(warning), "{args:?}: {}", o.stderr);
    }

    // certify --results refuses it; verify rejects a bundle whose results
    // and certificate hash were both edited this way.
    let profile = tiny_profile(t.path());
    let o = run(xpucert()
        .args(["certify", "--profile"])
        .arg(&profile)
        .arg("--results")
        .arg(&edited)
        .arg("--out")
        .arg(t.path().join("refused")));
    assert_eq!(o.code, 2, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stderr.contains(warning), "{}", o.stderr);
    let o = verify_edited("summary-edited", |b| {
        // Only the Relu case (not required by the profile) fails, so the
        // level still follows; the summary is what gives it away.
        let mut r = read_json(&b.join("results.json"));
        for c in r["cases"].as_array_mut().unwrap() {
            if c["op"] == "Relu" {
                c["status"] = json!("fail");
            }
        }
        let text = r.to_string();
        std::fs::write(b.join("results.json"), &text).unwrap();
        let cpath = b.join("certificate.json");
        let mut c = read_json(&cpath);
        for f in c["files"].as_array_mut().unwrap() {
            if f["role"] == "results" {
                f["sha256"] = json!(xpucert::digest::sha256_hex(text.as_bytes()));
            }
        }
        std::fs::write(cpath, c.to_string()).unwrap();
    });
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("REJECTED")
            && o.stderr.contains("its cases say 2 cases (1 fail, 1 pass)"),
        "{}",
        o.stderr
    );
}

/// Clears the screen, returns the carriage, rings the bell, reverses the
/// text that follows, then a C1 CSI and a DEL.
const HOSTILE: &str = "evil\x1b[2J\r\x07\u{202e}X\u{9b}\x7f";
/// How [`HOSTILE`] reads once escaped.
const ESCAPED: &str = "evil\\x1b[2J\\x0d\\x07\\u{202e}X\\x9b\\x7f";

/// Characters no output may carry raw: C0 controls but newline and tab,
/// DEL, C1 controls, bidi overrides and isolates.
fn assert_clean(what: &str, s: &str) {
    let bad: Vec<char> = s
        .chars()
        .filter(|&c| {
            (c < ' ' && c != '\n' && c != '\t')
                || ('\x7f'..='\u{9f}').contains(&c)
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
        })
        .collect();
    assert!(bad.is_empty(), "{what}: raw {bad:?} in\n{s}");
}

fn hostile_mutants() -> std::process::Command {
    build_reference();
    let mut c = xpucert();
    c.env("XPUCERT_MUTANT_NAME", HOSTILE);
    c
}

#[test]
fn vendor_strings_from_the_library_reach_no_output_raw() {
    // info: the name the library reports at init and its manifest fields.
    let o = run(hostile_mutants().args([
        "info",
        "--backend",
        "mutants",
        "--option",
        "mode=honest",
        "--option",
        &format!("label={HOSTILE}"),
        "--suite",
        "suites/ops/edge.yaml",
    ]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_clean("info stdout", &o.stdout);
    assert_clean("info stderr", &o.stderr);
    for line in [
        format!("backend:   {ESCAPED}"),
        format!("vendor:    {ESCAPED}"),
        format!("device:    {ESCAPED}"),
    ] {
        assert!(o.stdout.contains(&line), "{line}\n{}", o.stdout);
    }

    // An error message the library returns through the ABI (a load error).
    let o = run(hostile_mutants().args([
        "info",
        "--backend",
        "mutants",
        "--option",
        &format!("mode={HOSTILE}"),
    ]));
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert_clean("load error", &o.stderr);
    assert!(
        o.stderr.contains(&format!("unknown mode `{ESCAPED}`")),
        "{}",
        o.stderr
    );

    // run in every terminal format; results.json keeps the strings as they
    // were (escaped JSON reads back unchanged) without carrying them raw.
    let t = tmp();
    tiny_profile(t.path());
    for format in ["table", "lines", "md", "json", "junit", "html"] {
        let out = t.path().join(format!("run-{format}"));
        let o = run(hostile_mutants()
            .args(["run", "--backend", "mutants", "--option", "mode=honest"])
            .arg("--option")
            .arg(format!("label={HOSTILE}"))
            .arg("--suite")
            .arg(t.path().join("tiny.yaml"))
            .args(["--format", format, "--out"])
            .arg(&out));
        assert_eq!(o.code, 0, "{format}: {}", o.stderr);
        assert_clean(format, &o.stdout);
        assert_clean(format, &o.stderr);
        let text = std::fs::read_to_string(out.join("results.json")).unwrap();
        assert_clean("results.json", &text);
        let lines = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
        assert_clean("results.jsonl", &lines);
        assert!(lines.contains("evil\\u001b[2J"), "{lines}");
        let r: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(r["provenance"]["backend_name"], HOSTILE);
        assert_eq!(r["provenance"]["manifest"]["vendor"], HOSTILE);
        if format == "json" {
            let printed: Value = serde_json::from_str(&o.stdout).unwrap();
            assert_eq!(printed["provenance"]["backend_name"], HOSTILE);
        }
        // quick-junit drops what XML cannot hold (ESC, BEL, CR, C1) and
        // the escape takes the rest; md and html show the escapes.
        if matches!(format, "md" | "html") {
            assert!(o.stdout.contains("evil\\x1b[2J"), "{format}: {}", o.stdout);
        }
        if format == "junit" {
            assert!(o.stdout.contains("evil\\u{202e}X\\x7f"), "{}", o.stdout);
        }
    }
}

#[test]
fn vendor_strings_from_a_results_file_reach_no_output_raw() {
    let mut r = read_json(&bundle().join("results.json"));
    r["provenance"]["backend_name"] = json!(HOSTILE);
    r["provenance"]["manifest"]["device"] = json!(HOSTILE);
    r["cases"][0]["status"] = json!("error");
    r["cases"][0]["message"] = json!(format!("run_op: {HOSTILE}\nsecond line"));
    r["summary"] = json!({"total": 2, "by_status": {"error": 1, "pass": 1},
        "conformant": false, "wall_seconds": 0.1});
    let t = tmp();
    let edited = t.path().join("hostile.json");
    std::fs::write(&edited, r.to_string()).unwrap();
    for format in ["table", "md", "junit", "html", "json"] {
        let o = run(xpucert().args(["report", "--format", format]).arg(&edited));
        assert_eq!(o.code, 0, "{format}: {}", o.stderr);
        assert_clean(format, &o.stdout);
        assert!(o.stderr.is_empty(), "{format}: {}", o.stderr);
        if format == "json" {
            let back: Value = serde_json::from_str(&o.stdout).unwrap();
            assert_eq!(back["cases"][0]["message"], r["cases"][0]["message"]);
        } else if matches!(format, "md" | "html") {
            assert!(o.stdout.contains("evil\\x1b[2J"), "{format}: {}", o.stdout);
        }
        // --out files are escaped the same way.
        let file = t.path().join(format!("report.{format}"));
        let o = run(xpucert()
            .args(["report", "--format", format, "--out"])
            .arg(&file)
            .arg(&edited));
        assert_eq!(o.code, 0, "{format}: {}", o.stderr);
        assert_clean(format, &std::fs::read_to_string(&file).unwrap());
    }
    for format in ["table", "md", "html", "json"] {
        let o = run(xpucert().args(["matrix", "--format", format]).arg(&edited));
        assert_eq!(o.code, 0, "matrix {format}: {}", o.stderr);
        assert_clean(&format!("matrix {format}"), &o.stdout);
        if format != "json" {
            assert!(
                o.stdout.contains("evil\\x1b[2J"),
                "matrix {format}: {}",
                o.stdout
            );
        }
    }
    let o = run(xpucert()
        .args(["gate", "--baseline"])
        .arg(bundle().join("results.json"))
        .arg("--current")
        .arg(&edited));
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_clean("gate", &o.stdout);
}
