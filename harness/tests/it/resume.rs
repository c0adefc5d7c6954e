//! `--resume` and clean interruption, end to end: a run killed with SIGKILL
//! at a random point, or stopped with SIGINT, and then resumed, ends with the
//! same cases and statuses as a run that was never interrupted.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{build_reference, results, run, xpucert};

/// The run every test here makes: the core suite on the reference backend,
/// in-process so that killing xpucert leaves no worker behind.
const RUN: [&str; 6] = [
    "run",
    "--backend",
    "reference",
    "--isolation",
    "none",
    "--format",
];

fn run_args(out: &Path) -> Vec<String> {
    let mut v: Vec<String> = RUN.iter().map(|s| s.to_string()).collect();
    v.push("json".into());
    v.push("--out".into());
    v.push(out.display().to_string());
    v
}

/// (id, status) of every case in results.json, in file order.
fn statuses(dir: &Path) -> Vec<(String, String)> {
    let r = results(dir);
    r["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// An uninterrupted run's statuses, computed once per test binary.
fn baseline() -> &'static Vec<(String, String)> {
    static B: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    B.get_or_init(|| {
        build_reference();
        let dir = tempfile::tempdir().unwrap();
        let out = run(xpucert().args(run_args(dir.path())));
        assert_eq!(out.code, 0, "baseline run: {}", out.stderr);
        let s = statuses(dir.path());
        assert!(s.len() > 100, "the core suite has hundreds of cases");
        s
    })
}

fn lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

/// Starts a run and returns once its results.jsonl has at least `n` lines.
fn start_until(out: &Path, n: usize) -> Child {
    let mut child = xpucert()
        .args(run_args(out))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xpucert starts");
    let jsonl = out.join("results.jsonl");
    let t0 = Instant::now();
    while lines(&jsonl) < n {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("run ended ({st}) before {n} lines were written");
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(1));
    }
    child
}

fn resume(out: &Path) -> common::Output {
    let mut args = run_args(out);
    args.push("--resume".into());
    run(xpucert().args(args))
}

fn assert_same_as_baseline(out: &Path) {
    let got = statuses(out);
    assert_eq!(&got, baseline(), "same cases, statuses and order");
    // Every case exactly once in the stream, after its header.
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let mut ids = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).expect("whole lines only");
        if i == 0 {
            assert_eq!(v["record"], "header");
        } else {
            assert!(ids.insert(v["id"].as_str().unwrap().to_string()), "{line}");
        }
    }
    assert_eq!(ids.len(), baseline().len());
}

#[test]
fn sigkill_at_a_random_point_then_resume_matches_an_uninterrupted_run() {
    let total = baseline().len();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    // Somewhere between early and late in the run; printed for reruns.
    let n = 2 + nanos % (total * 3 / 4);
    eprintln!("killing after {n} lines");
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_until(dir.path(), n);
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    assert!(
        !dir.path().join("results.json").exists(),
        "killed before the end"
    );
    let kept = lines(&dir.path().join("results.jsonl"));
    assert!(kept >= n && kept <= total, "{kept} lines after the kill");

    let out = resume(dir.path());
    assert_eq!(out.code, 0, "resume: {}", out.stderr);
    assert_same_as_baseline(dir.path());
}

#[test]
fn a_torn_last_line_is_dropped_and_its_case_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(xpucert().args(run_args(dir.path())));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let jsonl = dir.path().join("results.jsonl");
    let text = std::fs::read_to_string(&jsonl).unwrap();
    // Header + 40 cases, then half of the 41st line, as a kill mid-write
    // leaves it.
    let keep: Vec<&str> = text.lines().take(42).collect();
    let torn = &keep[41][..keep[41].len() / 2];
    std::fs::write(&jsonl, format!("{}\n{torn}", keep[..41].join("\n"))).unwrap();
    std::fs::remove_file(dir.path().join("results.json")).unwrap();

    let out = resume(dir.path());
    assert_eq!(out.code, 0, "resume: {}", out.stderr);
    assert_same_as_baseline(dir.path());
}

#[test]
fn sigint_stops_cleanly_with_a_partial_result_and_exit_130() {
    let total = baseline().len();
    let dir = tempfile::tempdir().unwrap();
    let child = start_until(dir.path(), 30);
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let r = results(dir.path());
    assert_eq!(r["summary"]["interrupted"], true);
    assert_eq!(r["summary"]["conformant"], false);
    let cases = r["cases"].as_array().unwrap();
    assert_eq!(cases.len(), total, "every case listed, unrun ones as skip");
    let skipped = cases
        .iter()
        .filter(|c| c["message"] == "not run: interrupted")
        .count();
    assert!(skipped > 0 && skipped < total - 29, "{skipped} not run");

    let out = resume(dir.path());
    assert_eq!(out.code, 0, "resume: {}", out.stderr);
    assert_same_as_baseline(dir.path());
    assert_eq!(results(dir.path())["summary"]["interrupted"], false);
}

#[test]
fn resume_of_another_run_is_refused_with_exit_2() {
    baseline();
    let dir = tempfile::tempdir().unwrap();
    let mut args = run_args(dir.path());
    args.extend(["--filter".into(), "core.add.*".into()]);
    let out = run(xpucert().args(&args));
    assert_eq!(out.code, 0, "{}", out.stderr);

    // Without the filter it would be a different case set.
    let out = resume(dir.path());
    assert_eq!(out.code, 2);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("it is a different run: filters were [\"core.add.*\"], now []"),
        "{}",
        out.stderr
    );

    // Another time limit: a different run too (it decides timeouts).
    let mut other = args.clone();
    other.extend(["--timeout".into(), "31".into(), "--resume".into()]);
    let out = run(xpucert().args(&other));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("timeout was `30`, now `31`"),
        "{}",
        out.stderr
    );

    // The same arguments resume (nothing left to run) and succeed.
    args.push("--resume".into());
    let out = run(xpucert().args(&args));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn resume_without_a_previous_run_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    build_reference();
    let out = resume(dir.path());
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with("xpucert: error: cannot resume from")
            && out.stderr.contains("results.jsonl"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1);
}
