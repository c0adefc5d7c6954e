//! Asynchronous backends through the stream group: the harness syncs before
//! a call counts as finished, so the measured time includes the queued
//! device time, a failing sync is the case's error, and a backend with the
//! group still passes the core suite. The backend is the mutants library in
//! its `async_*` modes (see backends/mutants/src/stream.rs): `run_op` on a
//! stream returns at once and `sync` sleeps until the modelled device time
//! has passed, so a harness that forgot to sync would time it near zero.
//!
//! (A sync that hangs is in reliability.rs with the other hangs; a library
//! with an incomplete stream group in loader_errors.rs.)

use crate::common;

use std::time::Duration;

use common::{build_reference, results, run, xpucert};
use serde_json::Value;
use xpucert::backend::{self, DylibBackend};
use xpucert::perf::ThroughputSpec;
use xpucert::run::Status;

/// Modelled device time per call for the timing tests, microseconds. Far
/// above what the Add of 64 elements costs, so the median is set by it.
const DEVICE_US: u64 = 20_000;

const SUITE: &str = r#"
suite: st
seed: 7
throughput: {warmup: 1, min_iters: 5, min_time: 0.0, max_time: 20}
cases:
  - name: small
    op: Add
    dtypes: [f32]
    inputs:
      - {shape: [64]}
      - {shape: [64]}
  - name: r
    op: Relu
    dtypes: [f32]
    inputs:
      - {shape: [64]}
"#;

fn case<'a>(r: &'a Value, suffix: &str) -> &'a Value {
    r["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"].as_str().unwrap().ends_with(suffix))
        .unwrap_or_else(|| panic!("no case {suffix}"))
}

fn mutants(mode: &str, extra: &[(&str, &str)]) -> DylibBackend {
    build_reference();
    let lib = backend::resolve("mutants").unwrap();
    let mut options = vec![("mode".to_string(), mode.to_string())];
    options.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    DylibBackend::open(&lib, &options).unwrap()
}

#[test]
fn calls_go_onto_a_stream_only_when_the_group_is_there() {
    assert!(mutants("async_stream", &[]).uses_stream());
    assert!(mutants("honest", &[]).uses_stream());
    let reference = DylibBackend::open(&backend::resolve("reference").unwrap(), &[]).unwrap();
    assert!(!reference.uses_stream());
    assert!(reference.optional_groups().contains(&("streams", false)));
    assert!(
        mutants("honest", &[])
            .optional_groups()
            .contains(&("streams", true))
    );
}

#[test]
fn info_reports_the_stream_group() {
    build_reference();
    let line = |args: &[&str]| {
        let o = run(xpucert().arg("info").args(args));
        assert_eq!(o.code, 0, "{}", o.stderr);
        o.stdout
            .lines()
            .find(|l| l.starts_with("streams:"))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("no streams line: {}", o.stdout))
    };
    assert_eq!(
        line(&["--backend", "mutants", "--option", "mode=async_stream"]),
        "provided"
    );
    assert_eq!(line(&["--backend", "reference"]), "not provided");
}

#[test]
fn measured_time_includes_the_queued_device_time_in_both_executors() {
    build_reference();
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("st.yaml");
    std::fs::write(&suite, SUITE).unwrap();
    let floor = DEVICE_US as f64 * 1e-6;
    for isolation in ["process", "none"] {
        let out = dir.path().join(isolation);
        let o = run(xpucert()
            .args([
                "run",
                "--backend",
                "mutants",
                "--option",
                "mode=async_stream",
            ])
            .arg("--option")
            .arg(format!("device_us={DEVICE_US}"))
            .args(["--isolation", isolation, "--suite"])
            .arg(&suite)
            .arg("--out")
            .arg(&out));
        assert_eq!(o.code, 0, "{isolation}: {}", o.stderr);
        let r = results(&out);
        for id in ["add.f32.small", "relu.f32.r"] {
            let c = case(&r, id);
            assert_eq!(c["status"], "pass", "{isolation} {c}");
            let t = &c["throughput"];
            // Every timed call waited for its own device time at sync; with
            // the sync forgotten the p10 would be the microseconds of an
            // Add of 64 elements. A lower bound on a sleep, not a speed claim.
            for key in ["p10_s", "median_s"] {
                let s = t[key].as_f64().unwrap();
                assert!(s >= floor, "{isolation} {id} {key} {s} < {floor}: {t}");
            }
            eprintln!(
                "{isolation} {id}: median {:.6} s (device time {floor} s)",
                t["median_s"].as_f64().unwrap()
            );
        }
    }
}

#[test]
fn one_call_returns_only_after_its_device_time() {
    let b = mutants("async_stream", &[("device_us", "50000")]);
    let suite = xpucert::suite::parse_str("s.yaml", SUITE).unwrap();
    let mut b = b;
    let start = std::time::Instant::now();
    let r = xpucert::run::run_case(&mut b, &suite.cases[0], Duration::from_secs(30));
    assert_eq!(r.status, Status::Pass, "{:?}", r.message);
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert!(r.run_seconds >= 0.05, "run_seconds {}", r.run_seconds);
}

#[test]
fn a_failing_sync_is_an_error_with_the_backends_message() {
    build_reference();
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("st.yaml");
    std::fs::write(&suite, SUITE).unwrap();
    for isolation in ["process", "none"] {
        let out = dir.path().join(isolation);
        let o = run(xpucert()
            .args([
                "run",
                "--backend",
                "mutants",
                "--option",
                "mode=async_sync_fails",
                "--isolation",
                isolation,
                "--suite",
            ])
            .arg(&suite)
            .arg("--out")
            .arg(&out));
        assert_eq!(o.code, 1, "{isolation}: {}", o.stderr);
        let r = results(&out);
        let relu = case(&r, "relu.f32.r");
        assert_eq!(relu["status"], "error", "{isolation} {relu}");
        assert_eq!(
            relu["message"],
            "run_op failed: device_error: stream sync: \
             mutants: the queued Relu failed on the device (async_sync_fails)",
            "{isolation}"
        );
        // The op whose queued work succeeds is unaffected.
        assert_eq!(case(&r, "add.f32.small")["status"], "pass", "{isolation}");
    }
}

#[test]
fn a_failing_sync_during_measurement_fails_the_measurement() {
    let mut b = mutants("async_sync_fails", &[]);
    let suite = xpucert::suite::parse_str("s.yaml", SUITE).unwrap();
    let (add, relu) = (&suite.cases[0], &suite.cases[1]);
    // Start from a passing result (Add) and measure the Relu case, whose
    // every sync fails: the measurement must not report a figure.
    let mut r = xpucert::run::run_case(&mut b, add, Duration::from_secs(30));
    assert_eq!(r.status, Status::Pass, "{:?}", r.message);
    let spec = ThroughputSpec {
        warmup: Some(1),
        min_iters: Some(3),
        min_time: Some(0.0),
        ..Default::default()
    };
    xpucert::run::measure::measure_case(&mut b, relu, &spec, Duration::from_secs(30), None, &mut r);
    assert_eq!(r.status, Status::Error, "{:?}", r.message);
    let msg = r.message.unwrap();
    assert!(
        msg.starts_with("measurement failed: device_error: stream sync: mutants: the queued Relu"),
        "{msg}"
    );
    assert!(r.throughput.is_none());
}

#[test]
fn the_core_suite_passes_on_the_asynchronous_backend() {
    build_reference();
    let dir = tempfile::tempdir().unwrap();
    let o = run(xpucert()
        .args([
            "run",
            "--backend",
            "mutants",
            "--option",
            "mode=async_stream",
            "--option",
            "device_us=20",
            "--suite",
            "suites/ops/core.yaml",
            "--format",
            "json",
            "--out",
        ])
        .arg(dir.path()));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = results(dir.path());
    let cases = r["cases"].as_array().unwrap();
    let passed = cases.iter().filter(|c| c["status"] == "pass").count();
    assert!(passed > 100, "only {passed} of {} passed", cases.len());
    for c in cases {
        assert!(
            c["status"] == "pass" || c["status"] == "unsupported",
            "{} {} {}",
            c["id"],
            c["status"],
            c["message"]
        );
    }
}

#[test]
fn device_us_is_checked() {
    let lib = {
        build_reference();
        backend::resolve("mutants").unwrap()
    };
    let open = |opts: &[(&str, &str)]| {
        let o: Vec<(String, String)> = opts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DylibBackend::open(&lib, &o)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let e = open(&[("mode", "honest"), ("device_us", "10")]);
    assert!(e.contains("device_us applies to the async_* modes"), "{e}");
    let e = open(&[("mode", "async_stream"), ("device_us", "soon")]);
    assert!(e.contains("device_us must be a whole number"), "{e}");
}
