//! Hostile backends against the xpucert process itself (issue 15, the
//! process side): each probe ends with a clear message and a documented exit
//! code, leaves no process behind, and `--resume` gets past the case that
//! did the damage. The backend is `backends/testlibs/hostile.c`: a correct
//! f32 Relu that attacks its process when a call's input has `numel=N`
//! elements (here 7: case `b` of the suite below), and whose constructor
//! can fork a child or a daemon.

use crate::common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{make, results, run, xpucert};

/// Three Relu cases: `a` (4 elements), `b` (7: the one attacked), `c` (5).
const SUITE: &str = "suite: h\ndtypes: [f32]\ncases:\n\
  - {name: a, op: Relu, inputs: [{shape: [4]}]}\n\
  - {name: b, op: Relu, inputs: [{shape: [7]}]}\n\
  - {name: c, op: Relu, inputs: [{shape: [5]}]}\n";

fn hostile() -> PathBuf {
    make("backends/testlibs").join("libhostile.so")
}

/// A fresh directory with the suite in it; the run writes into `out/`.
struct Probe {
    dir: tempfile::TempDir,
}

impl Probe {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("h.yaml"), SUITE).unwrap();
        Probe { dir }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// `xpucert run` of the suite on the hostile library with `args`.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = xpucert();
        c.args(["run", "--backend"])
            .arg(hostile())
            .arg("--suite")
            .arg(self.dir.path().join("h.yaml"))
            .arg("--out")
            .arg(self.out())
            .args(args);
        c
    }

    fn jsonl(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.out().join("results.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn marker(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.out().join("results.inflight"))
            .expect("an in-flight marker");
        serde_json::from_str(&text).unwrap()
    }
}

/// The cases of a results.json as (id suffix, status, message).
fn cases(out: &Path) -> Vec<(String, String, String)> {
    results(out)["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let id = c["id"].as_str().unwrap();
            (
                id.rsplit('.').next().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
                c["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn status_of(cases: &[(String, String, String)], name: &str) -> (String, String) {
    let c = cases.iter().find(|c| c.0 == name).expect("case present");
    (c.1.clone(), c.2.clone())
}

/// Whether `pid` is a process that is still running (a zombie is not).
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat[stat.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .next()
                .unwrap_or("");
            state != "Z" && state != "X"
        }
    }
}

/// Waits (up to 10 s) for every pid in `pids` to be gone; returns the ones
/// still running. Not a timing assertion: a contained child is gone when
/// xpucert exits, an escaped one lives 30 s.
fn still_running_after_wait(pids: &[i32]) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive: Vec<i32> = pids.iter().copied().filter(|&p| running(p)).collect();
        if alive.is_empty() || Instant::now() > deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pids_in(file: &Path) -> Vec<i32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

// ---------------------------------------------------------------- item 3

#[test]
fn exit_in_process_is_never_success_and_resume_records_it() {
    let p = Probe::new();
    let args = [
        "--isolation",
        "none",
        "--option",
        "mode=exit0",
        "--option",
        "numel=7",
    ];
    let out = run(&mut p.command(&args));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("exit() called by the backend"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("during case h.relu.f32.b"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(!p.out().join("results.json").exists());
    // The header and case a are on disk; b is the case in flight.
    assert_eq!(p.jsonl().len(), 2);
    let marker = p.marker();
    assert_eq!(marker["case"], "h.relu.f32.b");
    assert_eq!(marker["ended"]["status"], "crash");

    let out = run(&mut p.command(&[&args[..], &["--resume"]].concat()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let cases = cases(&p.out());
    assert_eq!(status_of(&cases, "a").0, "pass");
    let (status, message) = status_of(&cases, "b");
    assert_eq!(status, "crash");
    assert!(message.contains("the harness itself"), "{message}");
    assert!(
        message.contains("exit() called by the backend"),
        "{message}"
    );
    assert_eq!(status_of(&cases, "c").0, "pass");
    assert!(!p.out().join("results.inflight").exists());
}

#[test]
fn a_hang_in_process_is_ended_by_the_watchdog_and_resumed_as_a_timeout() {
    let p = Probe::new();
    let args = [
        "--isolation",
        "none",
        "--option",
        "mode=hang",
        "--option",
        "numel=7",
        "--timeout",
        "1",
    ];
    let out = run(&mut p.command(&args));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("no answer from run_op after 1.0 s"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("as timeout"), "{}", out.stderr);
    assert_eq!(p.marker()["ended"]["status"], "timeout");

    let out = run(&mut p.command(&[&args[..], &["--resume"]].concat()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let cases = cases(&p.out());
    let (status, message) = status_of(&cases, "b");
    assert_eq!(status, "timeout");
    assert!(
        message.contains("no answer from run_op after 1.0 s"),
        "{message}"
    );
    assert_eq!(status_of(&cases, "c").0, "pass");
}

#[test]
fn in_process_prints_stay_off_stdout_and_the_mode_says_what_it_gives_up() {
    let p = Probe::new();
    let out = run(&mut p.command(&[
        "--isolation",
        "none",
        "--option",
        "mode=print",
        "--format",
        "json",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("stdout is JSON");
    assert_eq!(doc["summary"]["total"], 3);
    assert!(
        out.stderr.contains("vendor noise on stdout"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("warning: --isolation none: the backend runs inside xpucert"),
        "{}",
        out.stderr
    );
    let warning = doc["provenance"]["isolation_warning"].as_str().unwrap();
    assert!(warning.contains("nothing contains it"), "{warning}");
    assert_eq!(p.jsonl()[0]["isolation_warning"], warning);

    // Process isolation gives none of that up: no warning recorded.
    let p = Probe::new();
    let out = run(&mut p.command(&["--option", "mode=print", "--format", "json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("stdout is JSON");
    assert!(doc["provenance"].get("isolation_warning").is_none());
}

// ---------------------------------------------------------------- item 4

#[test]
fn a_backend_that_kills_the_harness_is_recorded_as_a_crash_on_resume() {
    let p = Probe::new();
    let args = ["--option", "mode=kill_parent", "--option", "numel=7"];
    let killed = |args: &[&str]| {
        let status = p
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    };
    killed(&args);
    let marker = p.marker();
    assert_eq!(marker["case"], "h.relu.f32.b");
    assert_eq!(marker["earlier_deaths"], 0);
    assert!(marker.get("ended").is_none());
    // One unexplained death may be an outside kill: the case runs again,
    // and the harness dies in it again.
    let resume = [&args[..], &["--resume"]].concat();
    killed(&resume);
    assert_eq!(p.marker()["earlier_deaths"], 1);

    let out = run(&mut p.command(&resume));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let cases = cases(&p.out());
    assert_eq!(status_of(&cases, "a").0, "pass");
    let (status, message) = status_of(&cases, "b");
    assert_eq!(status, "crash");
    assert!(message.contains("the harness itself"), "{message}");
    assert!(message.contains("in 2 invocations in a row"), "{message}");
    assert!(message.contains("SIGKILL"), "{message}");
    assert_eq!(status_of(&cases, "c").0, "pass");
    assert!(!p.out().join("results.inflight").exists());
}

#[test]
fn a_backend_that_signals_its_process_group_kills_only_its_worker() {
    let p = Probe::new();
    let out = run(&mut p.command(&["--option", "mode=kill_group", "--option", "numel=7"]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let cases = cases(&p.out());
    let (status, message) = status_of(&cases, "b");
    assert_eq!(status, "crash");
    assert!(
        message.contains("worker killed by SIGKILL during run_op"),
        "{message}"
    );
    assert_eq!(status_of(&cases, "a").0, "pass");
    assert_eq!(status_of(&cases, "c").0, "pass");
}

// ---------------------------------------------------------------- item 5

/// Runs the suite with the library's constructor starting `what` (`fork`
/// or `daemon`) and checks that xpucert ends it.
fn children_end_with_the_run(what: &str, isolation: &str) {
    let p = Probe::new();
    let pidfile = p.dir.path().join("pids");
    let out = run(p
        .command(&["--isolation", isolation])
        .env("XPUCERT_HOSTILE_CTOR", what)
        .env("XPUCERT_HOSTILE_PIDFILE", &pidfile));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let pids = pids_in(&pidfile);
    assert!(!pids.is_empty(), "the library started no {what}");
    assert_eq!(still_running_after_wait(&pids), Vec::<i32>::new(), "{what}");
    // Nothing the children printed reached stdout.
    assert!(!out.stdout.contains("hostile child"), "{}", out.stdout);
}

#[test]
fn a_child_forked_in_the_worker_ends_with_the_worker() {
    children_end_with_the_run("fork", "process");
}

#[test]
fn a_daemon_that_left_the_workers_session_is_found_and_ended() {
    children_end_with_the_run("daemon", "process");
}

#[test]
fn children_of_an_in_process_backend_end_when_xpucert_exits() {
    children_end_with_the_run("fork", "none");
    children_end_with_the_run("daemon", "none");
}

// ---------------------------------------------------------------- item 6

#[test]
fn a_second_run_into_the_same_folder_is_refused_with_the_first_runs_pid() {
    let p = Probe::new();
    // The first run hangs in case b (its worker is killed after 60 s, long
    // after this test is done with it).
    let mut first = p
        .command(&[
            "--option",
            "mode=hang",
            "--option",
            "numel=7",
            "--timeout",
            "60",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let marker = p.out().join("results.inflight");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&marker).is_ok_and(|m| m.contains("h.relu.f32.b")) {
        assert!(
            Instant::now() < deadline,
            "the first run never reached case b"
        );
        assert!(first.try_wait().unwrap().is_none(), "the first run ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    let jsonl_before = std::fs::read(p.out().join("results.jsonl")).unwrap();

    let second = run(&mut p.command(&["--option", "mode=print"]));
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(second.code, 2, "{}", second.stderr);
    let line = second.stderr.lines().last().unwrap();
    assert!(
        line.contains(&format!("another xpucert run (pid {})", first.id())),
        "{line}"
    );
    assert!(line.contains(&p.out().display().to_string()), "{line}");
    // The second run wrote nothing into the first one's results.
    assert_eq!(
        std::fs::read(p.out().join("results.jsonl")).unwrap(),
        jsonl_before
    );

    // Once the first run is gone, the folder is free again.
    let out = run(&mut p.command(&["--option", "mode=print"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

// ---------------------------------------------------------------- item 8

#[test]
fn results_file_errors_say_what_was_being_done_and_never_resume() {
    // --out is an existing file.
    let p = Probe::new();
    std::fs::write(p.out(), b"not a directory").unwrap();
    let out = run(&mut p.command(&[]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let line = out.stderr.lines().last().unwrap();
    assert!(
        line.starts_with(&format!(
            "xpucert: error: cannot create the output directory {}",
            p.out().display()
        )),
        "{line}"
    );
    assert!(!line.contains("resume"), "{line}");

    // A full disk: results.jsonl leads to /dev/full.
    let p = Probe::new();
    std::fs::create_dir(p.out()).unwrap();
    std::os::unix::fs::symlink("/dev/full", p.out().join("results.jsonl")).unwrap();
    let out = run(&mut p.command(&[]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let line = out.stderr.lines().last().unwrap();
    let jsonl = p.out().join("results.jsonl");
    assert!(
        line.starts_with(&format!("xpucert: error: cannot write {}", jsonl.display())),
        "{line}"
    );
    assert!(line.contains("No space left on device"), "{line}");
    assert!(!line.contains("resume"), "{line}");
}
