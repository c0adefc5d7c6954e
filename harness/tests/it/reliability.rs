//! Fault survival: every reliability mode of the mutants backend, run through
//! the CLI with worker isolation. The faulty op's cases carry the right
//! status and message, every other case keeps passing, and xpucert itself
//! ends with exit code 1 (failures found), never a crash of its own.

use crate::common;

use common::{build_reference, results, run, xpucert};
use serde_json::Value;

/// A small slice of the core suite: the op the crash/ABI faults hit (Relu),
/// the op the memory faults hit (Add), and a bystander (Sigmoid).
/// (Empty tensors are left out: a fault on zero bytes cannot show.)
const FILTERS: [&str; 5] = [
    "core.relu.f32.basic.s17",
    "core.add.f32.same_shape.s?",
    "core.add.f32.same_shape.s3x5",
    "core.add.f32.outer",
    "core.sigmoid.f32.basic.s17",
];

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    cases: Vec<Value>,
}

fn run_mode(mode: &str, extra: &[&str]) -> Run {
    build_reference();
    let out_dir = tempfile::tempdir().unwrap();
    let mut cmd = xpucert();
    cmd.args(["run", "--backend", "mutants", "--option"])
        .arg(format!("mode={mode}"))
        .args(["--suite", "suites/ops/core.yaml", "--out"])
        .arg(out_dir.path())
        .args(extra);
    for f in FILTERS {
        cmd.args(["--filter", f]);
    }
    let out = run(&mut cmd);
    let cases = if out_dir.path().join("results.json").exists() {
        results(out_dir.path())["cases"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Run {
        code: out.code,
        stdout: out.stdout,
        stderr: out.stderr,
        cases,
    }
}

fn status(c: &Value) -> &str {
    c["status"].as_str().unwrap_or("?")
}

fn message(c: &Value) -> &str {
    c["message"].as_str().unwrap_or("")
}

/// Asserts the run ended normally with exit code `code`, that every case of
/// `op` satisfies `faulty`, and that every other case passes.
fn check(r: &Run, code: i32, op: &str, faulty: impl Fn(&Value) -> bool) {
    let ctx = format!("stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert_eq!(r.code, code, "{ctx}");
    assert!(
        !r.stderr.contains("panicked"),
        "xpucert panicked:\n{}",
        r.stderr
    );
    assert_eq!(r.cases.len(), 6, "cases run: {ctx}");
    let mut hit = 0;
    for c in &r.cases {
        if c["op"] == op {
            hit += 1;
            assert!(faulty(c), "{} {} {}", c["id"], status(c), message(c));
        } else {
            assert_eq!(status(c), "pass", "{} {}", c["id"], message(c));
        }
    }
    assert!(hit > 0, "no {op} case ran");
}

#[test]
fn segfault_is_a_crash_naming_the_signal() {
    let r = run_mode("segfault", &[]);
    // The worker's fault handler adds where the access was: here not in
    // a guard page (the mutant writes near address 0).
    check(&r, 1, "Relu", |c| {
        status(c) == "crash"
            && message(c).starts_with("worker killed by SIGSEGV during run_op: ")
            && message(c).ends_with(", in no output's guard page")
    });
}

#[test]
fn abort_is_a_crash_naming_the_signal() {
    let r = run_mode("abort", &[]);
    check(&r, 1, "Relu", |c| {
        status(c) == "crash" && message(c) == "worker killed by SIGABRT during run_op"
    });
}

#[test]
fn exit_in_the_middle_of_a_call_is_a_crash() {
    let r = run_mode("exit0", &[]);
    check(&r, 1, "Relu", |c| {
        status(c) == "crash" && message(c) == "worker exited with code 0 during run_op"
    });
}

#[test]
fn infinite_loop_times_out_and_the_run_goes_on() {
    let r = run_mode("infinite_loop", &["--timeout", "1"]);
    check(&r, 1, "Relu", |c| {
        status(c) == "timeout" && message(c) == "no answer from run_op after 1.0 s; worker killed"
    });
}

#[test]
fn sleeping_past_the_limit_times_out() {
    let r = run_mode("sleep", &["--timeout", "1.5"]);
    check(&r, 1, "Relu", |c| {
        status(c) == "timeout" && message(c).contains("after 1.5 s; worker killed")
    });
}

/// A sync that never returns is caught by the same watchdog as a run_op
/// that never returns: the harness syncs inside the worker's guarded call.
#[test]
fn a_hanging_stream_sync_times_out_like_a_hanging_run_op() {
    let r = run_mode("async_sync_hangs", &["--timeout", "1"]);
    check(&r, 1, "Relu", |c| {
        status(c) == "timeout" && message(c) == "no answer from run_op after 1.0 s; worker killed"
    });
}

#[test]
fn a_failing_stream_sync_is_an_error_with_its_message() {
    let r = run_mode("async_sync_fails", &[]);
    check(&r, 1, "Relu", |c| {
        status(c) == "error"
            && message(c)
                == "run_op failed: device_error: stream sync: \
                    mutants: the queued Relu failed on the device (async_sync_fails)"
    });
}

#[test]
fn a_suite_timeout_replaces_the_global_one() {
    build_reference();
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("t.yaml");
    std::fs::write(
        &suite,
        "suite: t\ntimeout: 0.5\ncases:\n  - name: a\n    op: Relu\n    dtypes: [f32]\n    inputs: [{shape: [3]}]\n  - name: b\n    op: Relu\n    timeout: 0.75\n    dtypes: [f32]\n    inputs: [{shape: [3]}]\n",
    )
    .unwrap();
    let out = run(xpucert()
        .args(["run", "--backend", "mutants", "--option", "mode=sleep"])
        .arg("--suite")
        .arg(&suite)
        .arg("--out")
        .arg(dir.path().join("out")));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let cases = results(&dir.path().join("out"))["cases"].clone();
    assert_eq!(cases[0]["status"], "timeout");
    assert!(message(&cases[0]).contains("after 0.5 s"), "{}", cases[0]);
    assert!(message(&cases[1]).contains("after 0.8 s"), "{}", cases[1]);
}

/// The three memory faults: the run survives and the case is not a pass.
/// (How each is classified is the memory-safety checks' business.)
fn memory_fault(mode: &str) {
    let r = run_mode(mode, &[]);
    check(&r, 1, "Add", |c| {
        ["crash", "fail", "error"].contains(&status(c)) && !message(c).is_empty()
    });
}

#[test]
fn writing_past_an_output_is_caught() {
    memory_fault("write_past_output");
}

/// An output of 64 bytes ends on its trailing guard page, so the stray
/// byte faults: the crash message says where, from the worker's handler.
#[test]
fn a_write_into_a_guard_page_names_the_output() {
    build_reference();
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("t.yaml");
    std::fs::write(
        &suite,
        "suite: t\ncases:\n  - name: a\n    op: Add\n    dtypes: [f32]\n    inputs: [{shape: [16]}, {shape: [16]}]\n",
    )
    .unwrap();
    let out = run(xpucert()
        .args([
            "run",
            "--backend",
            "mutants",
            "--option",
            "mode=write_past_output",
        ])
        .arg("--suite")
        .arg(&suite)
        .arg("--out")
        .arg(dir.path().join("out")));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let case = results(&dir.path().join("out"))["cases"][0].clone();
    assert_eq!(status(&case), "crash", "{case}");
    let m = message(&case);
    // Write or read is told by the x86-64 page-fault error code only.
    let access = if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        "write"
    } else {
        "access"
    };
    let expected = format!(
        "worker killed by SIGSEGV during run_op: {access} 1 byte past the end of output 0 \
         (byte 64 of a 64-byte output; guard page at 0x"
    );
    assert!(m.starts_with(&expected), "{m}");
    assert!(m.ends_with(')'), "{m}");
}

#[test]
fn writing_into_an_input_is_caught() {
    memory_fault("write_input");
}

#[test]
fn an_unwritten_output_is_caught() {
    memory_fault("unwritten_output");
}

#[test]
fn leaking_memory_does_not_change_results() {
    let r = run_mode("leak", &[]);
    check(&r, 0, "Add", |c| status(c) == "pass");
}

#[test]
fn unknown_status_code_is_an_error_naming_it() {
    let r = run_mode("unknown_status", &[]);
    check(&r, 1, "Relu", |c| {
        status(c) == "error" && message(c).contains("unknown status code 42")
    });
}

#[test]
fn error_message_without_nul_is_read_to_its_end() {
    let r = run_mode("no_nul_message", &[]);
    check(&r, 1, "Relu", |c| {
        status(c) == "error"
            && message(c).ends_with(&"x".repeat(1024))
            && !message(c).contains("x".repeat(1025).as_str())
    });
}

fn assert_one_line_startup_crash(out: &common::Output) {
    assert_eq!(
        out.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(lines[0].starts_with("xpucert: error: cannot load backend "));
    assert!(
        lines[0].contains(": the worker was killed by SIGSEGV (")
            && lines[0].ends_with(", in no output's guard page) during start-up"),
        "{}",
        lines[0]
    );
}

#[test]
fn crash_in_init_stops_the_run_once_with_exit_3() {
    build_reference();
    let dir = tempfile::tempdir().unwrap();
    let out = run(xpucert()
        .env("XPUCERT_MUTANT_INIT", "crash")
        .args(["run", "--backend", "mutants", "--option", "mode=honest"])
        .arg("--out")
        .arg(dir.path()));
    assert_one_line_startup_crash(&out);
}

#[test]
fn crash_in_create_context_stops_the_run_once_with_exit_3() {
    build_reference();
    let dir = tempfile::tempdir().unwrap();
    let out = run(xpucert()
        .args(["run", "--backend", "mutants", "--option", "mode=init_crash"])
        .arg("--out")
        .arg(dir.path()));
    assert_one_line_startup_crash(&out);
}

#[test]
fn isolation_none_runs_honest_and_abi_modes_in_process() {
    let r = run_mode("honest", &["--isolation", "none"]);
    check(&r, 0, "Relu", |c| status(c) == "pass");
    let r = run_mode("unknown_status", &["--isolation", "none"]);
    check(&r, 1, "Relu", |c| {
        status(c) == "error" && message(c).contains("unknown status code 42")
    });
}

#[test]
fn process_isolation_gives_the_same_results_as_in_process() {
    let a = run_mode("honest", &[]);
    let b = run_mode("honest", &["--isolation", "none"]);
    check(&a, 0, "Relu", |c| status(c) == "pass");
    let strip = |cases: &[Value]| -> Vec<Value> {
        cases
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c["run_seconds"] = Value::Null;
                c
            })
            .collect()
    };
    assert_eq!(strip(&a.cases), strip(&b.cases));
}

#[test]
fn bad_timeout_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(xpucert()
        .args(["run", "--backend", "reference", "--timeout", "0", "--out"])
        .arg(dir.path()));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("expected seconds"), "{}", out.stderr);
}

/// The children of `pid`, from /proc (Linux).
fn children(pid: u32) -> Vec<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn a_hung_worker_dies_with_a_killed_harness() {
    build_reference();
    let out_dir = tempfile::tempdir().unwrap();
    let mut child = xpucert()
        .args([
            "run",
            "--backend",
            "mutants",
            "--option",
            "mode=infinite_loop",
        ])
        .args([
            "--timeout",
            "600",
            "--filter",
            "core.relu.f32.basic.s17",
            "--out",
        ])
        .arg(out_dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the worker to appear (it then spins in Relu for 600 s).
    let mut worker = None;
    for _ in 0..200 {
        if let Some(&w) = children(child.id()).first() {
            worker = Some(w);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let worker = worker.expect("the worker process starts");
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let alive = |p: u32| {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
    };
    let mut gone = false;
    for _ in 0..200 {
        if !alive(worker) {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(gone, "worker {worker} outlived the SIGKILLed harness");
}
