//! The harness's two error rates, measured: every mode of the mutants
//! backend runs through the core, edge, precision and coverage suites (the
//! timeout modes skip the generated coverage suite), and the test
//! fails if a fault goes unnoticed (no case with its expected status) or an
//! honest variant is judged anything but `pass`/`unsupported` (or has a
//! capability mismatch).
//!
//! Each mode runs only the cases of the ops it changes (`--filter`), since
//! every other op is the reference backend, which the `honest` mode checks
//! on every case. Two modes run at a time.
//!
//! `XPUCERT_WRITE_MATRIX=1 cargo test -p xpucert --test it detection:: -- --nocapture`
//! also rewrites the generated part of `docs/detection-matrix.md`.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use common::{build_reference, repo, run, xpucert};
use xpucert_mutants::Expect;

/// The generated suite: every op's case space, covered pairwise.
const COVERAGE: &str = "suites/ops/coverage.yaml";

const SUITES: [&str; 4] = [
    "suites/ops/core.yaml",
    "suites/ops/edge.yaml",
    "suites/ops/precision.yaml",
    COVERAGE,
];

/// What one mode did.
struct Row {
    name: &'static str,
    expect: Expect,
    ops: Vec<&'static str>,
    exit_code: i32,
    counts: BTreeMap<String, usize>,
    /// First case with the expected status (faults) or first case that
    /// did not pass (honest variants).
    witness: Option<String>,
    /// Whether the harness concluded what the mode expects.
    ok: bool,
    seconds: f64,
}

fn expected_status(e: Expect) -> &'static str {
    match e {
        Expect::Pass => "pass",
        Expect::Fail => "fail",
        Expect::Crash => "crash",
        Expect::Timeout => "timeout",
        Expect::Error => "error",
        Expect::LoadFailure => "load failure",
    }
}

fn run_mode(name: &'static str, expect: Expect, ops: &[&'static str], out: &Path) -> Row {
    let start = Instant::now();
    let mut cmd = xpucert();
    cmd.args(["run", "--backend", "mutants", "--option"])
        .arg(format!("mode={name}"))
        .args(["--format", "json", "--out"])
        .arg(out);
    // A hang is what a timeout mode tests: a short base limit shows it
    // without waiting the default 30 s on every one of its cases.
    if expect == Expect::Timeout {
        cmd.args(["--timeout", "1"]);
    }
    for s in SUITES {
        // A hang does not depend on a case's classes, and each case of a
        // timeout mode waits out its limit: the generated suite would add
        // only waiting.
        if expect == Expect::Timeout && s == COVERAGE {
            continue;
        }
        cmd.args(["--suite", s]);
    }
    // One glob per suite and op, each naming its suite: the run then
    // expands only these ops' generated entries (computing every op's
    // covering would take most of the run).
    for s in SUITES {
        let suite = Path::new(s).file_stem().unwrap().to_string_lossy();
        for op in ops {
            cmd.arg("--filter")
                .arg(format!("{suite}.{}.*", op.to_lowercase()));
        }
    }
    let o = run(&mut cmd);
    let mut counts = BTreeMap::new();
    let mut witness = None;
    let text = std::fs::read_to_string(out.join("results.json")).ok();
    if let Some(v) = text.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()) {
        for c in v["cases"].as_array().into_iter().flatten() {
            let status = c["status"].as_str().unwrap_or("?").to_string();
            let id = c["id"].as_str().unwrap_or("?");
            let notable = match expect {
                // An honest variant may decline an op, but only honestly:
                // supported by query_op and then refused by run_op is a
                // capability mismatch, and counts against it.
                Expect::Pass => {
                    (status != "pass" && status != "unsupported")
                        || c["capability_mismatch"].as_bool().unwrap_or(false)
                }
                other => status == expected_status(other),
            };
            if notable && witness.is_none() {
                witness = Some(format!("{id} ({status})"));
            }
            *counts.entry(status).or_insert(0) += 1;
        }
    }
    let ok = match expect {
        Expect::Pass => witness.is_none() && !counts.is_empty(),
        Expect::LoadFailure => o.code == 3,
        _ => witness.is_some(),
    };
    Row {
        name,
        expect,
        ops: ops.to_vec(),
        exit_code: o.code,
        counts,
        witness,
        ok,
        seconds: start.elapsed().as_secs_f64(),
    }
}

fn markdown(rows: &[Row], seconds: f64) -> String {
    let mut s = String::new();
    let faults: Vec<&Row> = rows.iter().filter(|r| r.expect != Expect::Pass).collect();
    let honest: Vec<&Row> = rows.iter().filter(|r| r.expect == Expect::Pass).collect();
    let caught = faults.iter().filter(|r| r.ok).count();
    let passed = honest.iter().filter(|r| r.ok).count();
    s.push_str(&format!(
        "Faults caught: **{caught} / {}**. Honest variants passed: **{passed} / {}**. \
         Run time of the detection test: {seconds:.0} s.\n\n",
        faults.len(),
        honest.len()
    ));
    s.push_str("| mode | expected | verdict | ops | statuses | first witness |\n");
    s.push_str("|---|---|---|---|---|---|\n");
    for r in rows {
        let verdict = match (r.expect, r.ok) {
            (Expect::Pass, true) => "passed",
            (Expect::Pass, false) => "**FALSE FAILURE**",
            (_, true) => "caught",
            (_, false) => "**MISSED**",
        };
        let counts: Vec<String> = r.counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let ops = if r.ops.is_empty() {
            "all".to_string()
        } else {
            r.ops.join(", ")
        };
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            r.name,
            expected_status(r.expect),
            verdict,
            ops,
            counts.join(", "),
            r.witness
                .as_deref()
                .map_or("-".into(), |w| format!("`{w}`"))
        ));
    }
    s
}

const BEGIN: &str = "<!-- detection-matrix:begin (generated by harness/tests/detection.rs) -->";
const END: &str = "<!-- detection-matrix:end -->";

#[test]
fn every_fault_is_caught_and_every_honest_variant_passes() {
    build_reference();
    let modes: Vec<(&'static str, Expect, Vec<&'static str>)> = xpucert_mutants::modes()
        .into_iter()
        .map(|m| (m.name, m.expect, m.ops.to_vec()))
        .collect();
    assert!(
        modes.iter().filter(|m| m.1 == Expect::Pass).count() >= 8
            && modes.iter().filter(|m| m.1 == Expect::Fail).count() >= 24,
        "the mutants backend lists too few modes"
    );
    let tmp = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let rows: Mutex<Vec<Option<Row>>> = Mutex::new((0..modes.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((name, expect, ops)) = modes.get(i) else {
                        break;
                    };
                    let row = run_mode(name, *expect, ops, &tmp.path().join(name));
                    rows.lock().unwrap()[i] = Some(row);
                }
            });
        }
    });
    let rows: Vec<Row> = rows.into_inner().unwrap().into_iter().flatten().collect();
    let seconds = start.elapsed().as_secs_f64();
    let table = markdown(&rows, seconds);
    println!("{table}");
    for r in &rows {
        println!("{:32} {:6.1} s exit {}", r.name, r.seconds, r.exit_code);
    }

    if std::env::var("XPUCERT_WRITE_MATRIX").is_ok_and(|v| v == "1") {
        let path = repo().join("docs/detection-matrix.md");
        let doc = std::fs::read_to_string(&path).unwrap_or_default();
        let generated = format!("{BEGIN}\n{table}{END}");
        let doc = match (doc.find(BEGIN), doc.find(END)) {
            (Some(b), Some(e)) if b < e => {
                format!("{}{generated}{}", &doc[..b], &doc[e + END.len()..])
            }
            _ => format!("{doc}\n{generated}\n"),
        };
        std::fs::write(&path, doc).unwrap();
    }

    let wrong: Vec<String> = rows
        .iter()
        .filter(|r| !r.ok)
        .map(|r| match r.expect {
            Expect::Pass => format!(
                "honest variant `{}` was not passed: {} ({:?})",
                r.name,
                r.witness.as_deref().unwrap_or("no cases ran"),
                r.counts
            ),
            e => format!(
                "fault `{}` was not caught: no `{}` case ({:?}, exit code {})",
                r.name,
                expected_status(e),
                r.counts,
                r.exit_code
            ),
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
