//! Reports, sharding, the gate, the matrix, certificates and the CI
//! templates, end to end through the xpucert binary.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use clap::Parser;
use common::{build_reference, results, run, xpucert};
use serde_json::{Value, json};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// A small slice of the core suite that covers several ops and dtypes.
const FILTERS: [&str; 4] = [
    "core.matmul.*",
    "core.softmax.*",
    "core.add.*",
    "core.layernormalization.*",
];

fn run_to(dir: &Path, backend: &str, extra: &[&str]) -> common::Output {
    let mut c = xpucert();
    c.args(["run", "--backend", backend, "--format", "json", "--out"])
        .arg(dir)
        .args(extra);
    run(&mut c)
}

fn filtered(mode: Option<&str>) -> Vec<String> {
    let mut v = Vec::new();
    for f in FILTERS {
        v.push("--filter".to_string());
        v.push(f.to_string());
    }
    if let Some(m) = mode {
        v.push("--option".into());
        v.push(format!("mode={m}"));
    }
    v
}

/// The reference backend's results on the filtered slice, made once.
fn reference_slice() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        build_reference();
        let dir = tempfile::tempdir().expect("tmp").keep();
        let args = filtered(None);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run_to(&dir, "reference", &args);
        assert_eq!(o.code, 0, "{}", o.stderr);
        dir.join("results.json")
    })
}

/// Drops what differs between two runs of the same cases: timings,
/// throughput, dates, the command line.
fn content(mut v: Value) -> Value {
    if let Some(cases) = v["cases"].as_array_mut() {
        for c in cases {
            let o = c.as_object_mut().expect("case object");
            o.remove("run_seconds");
            o.remove("throughput");
        }
    }
    let o = v.as_object_mut().expect("object");
    o["summary"]
        .as_object_mut()
        .expect("summary")
        .remove("wall_seconds");
    let p = o["provenance"].as_object_mut().expect("provenance");
    for k in ["started_at", "finished_at", "command"] {
        p.remove(k);
    }
    v
}

#[test]
fn four_shards_merge_to_the_unsharded_run() {
    build_reference();
    let t = tmp();
    let whole = t.path().join("whole");
    let o = run_to(&whole, "reference", &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let mut shard_files = Vec::new();
    let mut sizes = Vec::new();
    // out of order on purpose: merge must not depend on argument order
    for k in [3, 1, 4, 2] {
        let d = t.path().join(format!("s{k}"));
        let o = run_to(&d, "reference", &["--shard", &format!("{k}/4")]);
        assert_eq!(o.code, 0, "shard {k}: {}", o.stderr);
        let r = results(&d);
        assert_eq!(r["shard"]["index"], k);
        sizes.push(r["cases"].as_array().unwrap().len());
        shard_files.push(d.join("results.json"));
    }
    let merged = t.path().join("merged.json");
    let o = run(xpucert()
        .arg("merge")
        .args(&shard_files)
        .arg("--out")
        .arg(&merged));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let m: Value = serde_json::from_str(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    let w = results(&whole);
    assert_eq!(m["cases"].as_array().unwrap().len(), 452);
    assert!(m.get("shard").is_none());
    let (mc, wc) = (content(m), content(w));
    // case for case, in the same order
    for (a, b) in mc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .zip(wc["cases"].as_array().unwrap())
    {
        assert_eq!(a, b);
    }
    assert_eq!(mc, wc);
    // every shard got a real share (balanced by cost, not one giant shard)
    assert!(sizes.iter().all(|n| *n >= 30), "shard sizes {sizes:?}");
    eprintln!("shard sizes (cases): {sizes:?}");

    // missing, duplicated, and foreign shards are refused
    let o = run(xpucert()
        .arg("merge")
        .args(&shard_files[..3])
        .arg("--out")
        .arg(t.path().join("x.json")));
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("missing shard(s) [2] of 4"),
        "{}",
        o.stderr
    );
    let o = run(xpucert()
        .arg("merge")
        .args([
            &shard_files[0],
            &shard_files[0],
            &shard_files[1],
            &shard_files[2],
        ])
        .arg("--out")
        .arg(t.path().join("x.json")));
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("given twice"), "{}", o.stderr);
    let o = run(xpucert()
        .arg("merge")
        .arg(whole.join("results.json"))
        .arg("--out")
        .arg(t.path().join("x.json")));
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("is not a shard"), "{}", o.stderr);
    // a shard of another backend
    let other = t.path().join("other");
    let o = run_to(
        &other,
        "mutants",
        &["--shard", "2/4", "--option", "mode=honest"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = run(xpucert()
        .arg("merge")
        .args([&shard_files[0], &other.join("results.json")])
        .arg("--out")
        .arg(t.path().join("x.json")));
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("backend libraries (sha256) differ"),
        "{}",
        o.stderr
    );
}

#[test]
fn shard_auto_reads_ci_variables() {
    build_reference();
    let t = tmp();
    let d = t.path().join("k8s");
    let mut c = xpucert();
    c.args([
        "run",
        "--backend",
        "reference",
        "--format",
        "json",
        "--shard",
        "auto",
        "--out",
    ])
    .arg(&d)
    .env("JOB_COMPLETION_INDEX", "2")
    .env("XPUCERT_SHARD_TOTAL", "8")
    .env_remove("CI_NODE_INDEX")
    .env_remove("XPUCERT_SHARD");
    let o = run(&mut c);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = results(&d);
    assert_eq!(
        (r["shard"]["index"].as_u64(), r["shard"]["total"].as_u64()),
        (Some(3), Some(8))
    );
    let mut c = xpucert();
    c.args(["run", "--backend", "reference", "--shard", "auto", "--out"])
        .arg(t.path().join("none"))
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("CI_NODE_INDEX")
        .env_remove("XPUCERT_SHARD");
    let o = run(&mut c);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("CI_NODE_INDEX"), "{}", o.stderr);
}

#[test]
fn gate_names_the_broken_op_and_passes_a_rerun() {
    let baseline = reference_slice();
    let t = tmp();
    // one broken op: Softmax without the max subtraction
    let broken = t.path().join("broken");
    let args = filtered(Some("softmax_no_max"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run_to(&broken, "mutants", &args);
    assert_eq!(o.code, 1, "the mutant fails its own run: {}", o.stderr);
    let o = run(xpucert()
        .args(["gate", "--baseline"])
        .arg(baseline)
        .arg("--current")
        .arg(broken.join("results.json")));
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    let verdict = o.stdout.lines().last().unwrap_or_default();
    assert!(verdict.contains("GATE FAILED"), "{}", o.stdout);
    assert!(verdict.contains("in Softmax"), "the op is named: {verdict}");
    assert!(!verdict.contains("MatMul"), "only the broken op: {verdict}");
    assert!(o.stdout.contains("status pass -> fail"), "{}", o.stdout);

    // the unchanged backend rerun (an honest variant of the same maths)
    let rerun = t.path().join("rerun");
    let args = filtered(Some("honest"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run_to(&rerun, "mutants", &args);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = run(xpucert()
        .args(["gate", "--baseline"])
        .arg(baseline)
        .arg("--current")
        .arg(rerun.join("results.json")));
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("0 regression(s)"), "{}", o.stdout);

    // different schema version / different suites: exit 2 with the reason
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(baseline).unwrap()).unwrap();
    v["schema_version"] = json!(1);
    let old = t.path().join("old.json");
    std::fs::write(&old, v.to_string()).unwrap();
    let o = run(xpucert()
        .args(["gate", "--baseline"])
        .arg(&old)
        .arg("--current")
        .arg(rerun.join("results.json")));
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("schema version 1"), "{}", o.stderr);
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(baseline).unwrap()).unwrap();
    v["provenance"]["suites"][0]["name"] = json!("edge");
    let other = t.path().join("other.json");
    std::fs::write(&other, v.to_string()).unwrap();
    let o = run(xpucert()
        .args(["gate", "--baseline"])
        .arg(&other)
        .arg("--current")
        .arg(rerun.join("results.json")));
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("same suites"), "{}", o.stderr);
}

/// Fills `throughput` of every case from `median` seconds with a little
/// deterministic jitter, as the measurement work will.
fn with_throughput(mut v: Value, median: impl Fn(&str) -> f64) -> Value {
    for c in v["cases"].as_array_mut().unwrap() {
        let m = median(c["id"].as_str().unwrap());
        let samples: Vec<f64> = (0..20)
            .map(|i| m * (1.0 + 0.02 * ((i * 7 % 11) as f64 - 5.0) / 5.0))
            .collect();
        let mut s = samples.clone();
        s.sort_by(f64::total_cmp);
        c["throughput"] = json!({
            "iterations": 20, "samples_s": samples, "median_s": s[10], "p10_s": s[2],
            "p90_s": s[18], "mad_s": m * 0.01, "flops": 1e6, "gflops": 1e6 / s[10] / 1e9
        });
    }
    v
}

#[test]
fn gate_throughput_slowdown_beyond_noise() {
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(reference_slice()).unwrap()).unwrap();
    let t = tmp();
    let b = t.path().join("b.json");
    std::fs::write(&b, with_throughput(base.clone(), |_| 1e-3).to_string()).unwrap();
    // one MatMul case 30% slower, everything else within 2% noise
    let target = base["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["op"] == "MatMul")
        .expect("a MatMul case")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let slow = with_throughput(
        base.clone(),
        |id| if id == target { 1.3e-3 } else { 1.01e-3 },
    );
    let c = t.path().join("c.json");
    std::fs::write(&c, slow.to_string()).unwrap();
    let o = run(xpucert()
        .args(["gate", "--baseline"])
        .arg(&b)
        .arg("--current")
        .arg(&c));
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stdout.contains(&target), "{}", o.stdout);
    assert!(o.stdout.contains("% slower"), "{}", o.stdout);
    assert!(
        o.stdout.contains("1 regression(s) in MatMul"),
        "{}",
        o.stdout
    );
    // with a 50% allowance it passes
    let o = run(xpucert()
        .args(["gate", "--max-slowdown", "50", "--baseline"])
        .arg(&b)
        .arg("--current")
        .arg(&c));
    assert_eq!(o.code, 0, "{}", o.stdout);
}

#[test]
fn junit_markdown_html_and_matrix_from_one_run() {
    let r = reference_slice();
    let t = tmp();
    let fmt = |f: &str| {
        let o = run(xpucert().arg("report").arg(r).args(["--format", f]));
        assert_eq!(o.code, 0, "{f}: {}", o.stderr);
        o.stdout
    };
    let n = results(r.parent().unwrap())["cases"]
        .as_array()
        .unwrap()
        .len();
    let junit = fmt("junit");
    assert!(
        junit.starts_with("<?xml"),
        "{}",
        &junit[..100.min(junit.len())]
    );
    assert_eq!(junit.matches("<testcase ").count(), n);
    let md = fmt("md");
    assert!(
        md.len() < 60_000 && md.contains("CONFORMANT") && md.contains("| MatMul | f32 |"),
        "{md}"
    );
    let html = fmt("html");
    assert!(html.contains("id=\"matrix\"") && html.contains("headroom-histogram"));
    assert!(
        !html.contains("http://") || !html.contains("src=\"http"),
        "no external resources"
    );

    // a failing run: JUnit failure text carries the figures
    let broken = t.path().join("broken");
    let args = filtered(Some("softmax_no_max"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_to(&broken, "mutants", &args);
    let o = run(xpucert()
        .arg("report")
        .arg(broken.join("results.json"))
        .args(["--format", "junit"]));
    assert!(o.stdout.contains("<failure"), "{}", o.stdout);
    assert!(
        o.stdout.contains("max abs err"),
        "figures in the failure text"
    );
    let o = run(xpucert()
        .arg("report")
        .arg(broken.join("results.json"))
        .args(["--format", "md", "--max-chars", "3000"]));
    assert!(o.stdout.len() <= 3000 + 1, "bounded: {}", o.stdout.len());
    assert!(o.stdout.contains("### Failures"), "{}", o.stdout);

    // the matrix across backends
    let o = run(xpucert()
        .arg("matrix")
        .arg(r)
        .arg(broken.join("results.json"))
        .args(["--format", "json"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let m: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(
        m["columns"][1]["label"],
        "xpucert-mutants (mode=softmax_no_max)"
    );
    let row = m["rows"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| r["name"] == "Softmax" && r["dtype"] == "f32")
        .expect("Softmax f32 row");
    assert_eq!(m["cells"][row][0]["verdict"], "pass");
    assert_eq!(m["cells"][row][1]["verdict"], "fail");
    let o = run(xpucert().arg("matrix").arg(r).args(["--format", "md"]));
    assert!(
        o.stdout.contains("| Softmax | f32 | pass h="),
        "{}",
        o.stdout
    );
    // run --format junit prints the same kind of document
    let o = run(xpucert()
        .args([
            "run",
            "--backend",
            "reference",
            "--filter",
            "core.add.*",
            "--format",
            "junit",
            "--out",
        ])
        .arg(t.path().join("j")));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("<testsuites") || o.stdout.contains("<testsuite"),
        "{}",
        o.stdout
    );
}

#[test]
fn matrix_shows_models_emulation_and_precision() {
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(reference_slice()).unwrap()).unwrap();
    let first = v["cases"][0].clone();
    let mut model = first.clone();
    model["id"] = json!("models.smollm2-135m.f32");
    model["op"] = json!("model");
    model["dtype"] = json!("f32");
    model["status"] = json!("pass");
    model["outputs"] = json!([]);
    model["model"] = json!({"name": "smollm2-135m", "family": "llama", "metrics": {"cosine": 0.9999},
        "prefill_tokens_per_s": 812.0, "decode_tokens_per_s": 41.5});
    v["cases"].as_array_mut().unwrap().push(model);
    for c in v["cases"].as_array_mut().unwrap() {
        if c["op"] == "MatMul" && c["dtype"] == "bf16" {
            c["support"] = json!("emulated");
            c["compute_precision"] = json!("f32");
        }
    }
    let t = tmp();
    let f = t.path().join("r.json");
    std::fs::write(&f, v.to_string()).unwrap();
    let o = run(xpucert().arg("matrix").arg(&f).args(["--format", "md"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("| model smollm2-135m | f32 | pass |"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("| MatMul | bf16 | emulated [f32] h="),
        "{}",
        o.stdout
    );
    let o = run(xpucert().arg("report").arg(&f).args(["--format", "html"]));
    assert!(
        o.stdout.contains("smollm2-135m decode"),
        "model throughput bar"
    );
}

fn chromium() -> Option<PathBuf> {
    for c in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if Path::new(c).exists() {
            return Some(PathBuf::from(c));
        }
    }
    None
}

/// Runs chromium headless with a deadline; returns stdout.
fn headless(bin: &Path, args: &[String]) -> String {
    let profile = tmp();
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(args)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("chromium starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut out = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).ok();
        s
    });
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    reader.join().expect("reader")
}

#[test]
fn html_report_renders_in_headless_chromium_and_shows_script_as_text() {
    let Some(bin) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is required under CI (.ci/run installs it)"
        );
        eprintln!(
            "!!! SKIPPED: chromium not found; install it with `apt-get install -y chromium` !!!"
        );
        return;
    };
    let evil = "<script>alert(1)</script><script>document.documentElement.setAttribute('data-pwned','1')</script>";
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(reference_slice()).unwrap()).unwrap();
    v["provenance"]["backend_name"] = json!(format!("evil {evil}"));
    v["provenance"]["manifest"] =
        json!({"vendor": evil, "driver_version": "1.2.3\"><img src=x onerror=alert(2)>"});
    v["cases"][0]["message"] = json!(evil);
    v["cases"][0]["status"] = json!("fail");
    v["summary"]["by_status"]["fail"] = json!(1);
    let t = tmp();
    let f = t.path().join("r.json");
    std::fs::write(&f, v.to_string()).unwrap();
    let page = t.path().join("report.html");
    let o = run(xpucert()
        .arg("report")
        .arg(&f)
        .args(["--format", "html", "--out"])
        .arg(&page));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("<script>alert(1)"),
        "vendor markup escaped in the file"
    );
    assert!(
        !html.contains("<img src=x"),
        "attribute-breaking text escaped"
    );

    let url = format!("file://{}", page.display());
    let dom = headless(
        &bin,
        &[
            "--dump-dom".into(),
            "--virtual-time-budget=3000".into(),
            url.clone(),
        ],
    );
    assert!(
        dom.contains("id=\"matrix\""),
        "matrix rendered: {}",
        &dom[..dom.len().min(500)]
    );
    assert!(dom.contains("Softmax"), "matrix rows present");
    assert!(
        !dom.contains("data-pwned=\"1\""),
        "the vendor script did not run"
    );
    assert!(!dom.contains("<img src=\"x\""), "no injected element");
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the script text is shown as text"
    );
    // the page's own script ran (the filters counted the rows)
    let n = v["cases"].as_array().unwrap().len();
    assert!(dom.contains(&format!("{n} shown")), "filters initialised");

    let png = t.path().join("shot.png");
    headless(
        &bin,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,1600".into(),
            "--hide-scrollbars".into(),
            url,
        ],
    );
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    // A blank 1280x1600 page compresses to a few KB; tables, colour and
    // charts do not.
    assert!(
        bytes.len() > 40_000,
        "screenshot too small to show the report: {} bytes",
        bytes.len()
    );
    eprintln!("screenshot: {} bytes", bytes.len());
    if let Ok(keep) = std::env::var("XPUCERT_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).ok();
    }
}

/// Certificate bundle: made from a run, verified, and rejected after any
/// byte of the results or the library changes.
/// A backend name and an error message (both come from the backend) that
/// carry a script element and an attribute break-out come out as text in
/// the HTML report and in the HTML matrix: no raw `<script>` of theirs, no
/// unescaped `"onmouseover=`, and the escaped forms present.
#[test]
fn vendor_markup_is_inert_in_the_html_report_and_matrix() {
    let script = "<script>alert('xss')</script>";
    let attr = "\"onmouseover=alert(1) x=\"";
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(reference_slice()).unwrap()).unwrap();
    v["provenance"]["backend_name"] = json!(format!("evil{script}{attr}"));
    v["cases"][0]["message"] = json!(format!("failed: {script} {attr}"));
    v["cases"][0]["status"] = json!("fail");
    v["summary"]["by_status"]["fail"] = json!(1);
    let t = tmp();
    let f = t.path().join("r.json");
    std::fs::write(&f, v.to_string()).unwrap();

    let report = run(xpucert().arg("report").arg(&f).args(["--format", "html"]));
    assert_eq!(report.code, 0, "{}", report.stderr);
    let matrix = run(xpucert().arg("matrix").arg(&f).args(["--format", "html"]));
    assert_eq!(matrix.code, 0, "{}", matrix.stderr);
    for (what, page) in [("report", &report.stdout), ("matrix", &matrix.stdout)] {
        assert!(!page.contains("<script>alert"), "{what}: raw vendor script");
        assert!(
            !page.contains("\"onmouseover="),
            "{what}: attribute break-out"
        );
        assert!(
            page.contains("&lt;script&gt;alert("),
            "{what}: the script shown as text"
        );
        assert!(
            page.contains("&quot;onmouseover=alert(1) x=&quot;"),
            "{what}: the quote shown as text"
        );
    }
    assert!(
        !matrix.stdout.contains("<script"),
        "the matrix has no script"
    );
    // the name in the matrix's column head, the message in the cases table
    assert!(matrix.stdout.contains("<th title=\"sha256 "));
    assert!(matrix.stdout.contains(">evil&lt;script&gt;alert("));
    assert!(report.stdout.contains("<td>failed: &lt;script&gt;alert("));
    assert!(
        report
            .stdout
            .contains("<span id=\"backend-name\">evil&lt;script&gt;alert(")
    );
}

#[test]
fn certify_verify_and_reject_tampering() {
    build_reference();
    let t = tmp();
    let bundle = t.path().join("bundle");
    // The core profile without its two real models (they are certified in
    // tests/it/models.rs; here the subject is the bundle, not the models).
    let core = std::fs::read_to_string(common::repo().join("suites/profiles/core.yaml")).unwrap();
    let ops_only: String = core
        .lines()
        .filter(|l| !l.starts_with("models:") && !l.starts_with("  - {name:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let profile = t.path().join("core-ops.yaml");
    std::fs::write(&profile, ops_only).unwrap();
    let o = run(xpucert()
        .args(["certify", "--profile"])
        .arg(&profile)
        .args(["--backend", "reference", "--out"])
        .arg(&bundle));
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("level L2"), "{}", o.stdout);
    let cert: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("certificate.json")).unwrap())
            .unwrap();
    assert_eq!(cert["level"]["level"], 2);
    let o = run(xpucert().arg("verify").arg(&bundle));
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("verified"), "{}", o.stdout);

    let lib = cert["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["role"] == "library")
        .unwrap()["path"]
        .as_str()
        .unwrap()
        .to_string();
    for (what, rel, offset) in [
        ("results", "results.json", 200usize),
        ("library", lib.as_str(), 4096),
        ("suite", "suites/suites/ops/core.yaml", 10),
        ("profile", "profile.yaml", 30),
    ] {
        let copy = t.path().join(format!("tampered-{what}"));
        copy_dir(&bundle, &copy);
        let p = copy.join(rel);
        let mut bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        bytes[offset] ^= 0x01;
        std::fs::write(&p, bytes).unwrap();
        let o = run(xpucert().arg("verify").arg(&copy));
        assert_eq!(o.code, 1, "{what}: {}\n{}", o.stdout, o.stderr);
        assert!(
            o.stderr.contains("REJECTED") && o.stderr.contains(rel),
            "{what}: {}",
            o.stderr
        );
    }
    // a consistent edit of results + certificate hash is still caught: the
    // claimed level no longer follows from the results
    let copy = t.path().join("relabelled");
    copy_dir(&bundle, &copy);
    let mut r: Value =
        serde_json::from_str(&std::fs::read_to_string(copy.join("results.json")).unwrap()).unwrap();
    let i = r["cases"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["op"] == "Softmax")
        .unwrap();
    r["cases"][i]["status"] = json!("fail");
    let text = serde_json::to_string_pretty(&r).unwrap();
    std::fs::write(copy.join("results.json"), &text).unwrap();
    let mut c = cert.clone();
    for f in c["files"].as_array_mut().unwrap() {
        if f["role"] == "results" {
            f["sha256"] = json!(xpucert::digest::sha256_hex(text.as_bytes()));
        }
    }
    std::fs::write(copy.join("certificate.json"), c.to_string()).unwrap();
    let o = run(xpucert().arg("verify").arg(&copy));
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("claims L2"), "{}", o.stderr);
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

#[test]
fn levels_l3_and_l4_from_fixtures() {
    use xpucert::cert;
    let profile = cert::parse_profile(
        Path::new("p.yaml"),
        "profile: tiny\nsuites: [suites/ops/core.yaml]\nrequired:\n  - {op: Add, dtypes: [f32]}\nmodels:\n  - {name: tiny-llama, suite: suites/models/tiny.yaml}\nthroughput:\n  min_iterations: 10\n",
    )
    .expect("profile parses");
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(reference_slice()).unwrap()).unwrap();
    let parse =
        |v: &Value| -> xpucert::run::ResultsFile { serde_json::from_value(v.clone()).unwrap() };
    let l = cert::level(&profile, &parse(&v));
    assert_eq!(l.level, 2, "{:?}", l.blockers);
    assert!(
        l.blockers
            .iter()
            .any(|b| b.contains("no result for model tiny-llama"))
    );
    let mut model = v["cases"][0].clone();
    model["id"] = json!("models.tiny-llama.f32");
    model["op"] = json!("model");
    model["status"] = json!("pass");
    model["model"] = json!({"name": "tiny-llama", "family": "llama", "metrics": {}});
    v["cases"].as_array_mut().unwrap().push(model);
    assert_eq!(cert::level(&profile, &parse(&v)).level, 3);
    let v4 = with_throughput(v.clone(), |_| 1e-4);
    let mut v4m = v4.clone();
    let last = v4m["cases"].as_array().unwrap().len() - 1;
    v4m["cases"][last]["model"]["prefill_tokens_per_s"] = json!(100.0);
    v4m["cases"][last]["model"]["decode_tokens_per_s"] = json!(10.0);
    let l = cert::level(&profile, &parse(&v4));
    assert_eq!(l.level, 3, "no tokens/s yet: {:?}", l.blockers);
    assert_eq!(cert::level(&profile, &parse(&v4m)).level, 4);
    // too few iterations is not L4
    let mut few = v4m.clone();
    for c in few["cases"].as_array_mut().unwrap() {
        if c["op"] == "Add" {
            c["throughput"]["iterations"] = json!(3);
        }
    }
    assert_eq!(cert::level(&profile, &parse(&few)).level, 3);
    // a failing required case is not L2
    let mut bad = v.clone();
    for c in bad["cases"].as_array_mut().unwrap() {
        if c["op"] == "Add" {
            c["status"] = json!("fail");
        }
    }
    assert_eq!(cert::level(&profile, &parse(&bad)).level, 1);
}

#[test]
fn bundled_profiles_parse() {
    use xpucert::cert;
    for name in ["core", "deepseek"] {
        let p = cert::load_profile(&common::repo().join(cert::profile_path(name)))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.profile, name);
        assert!(!p.required.is_empty() && !p.models.is_empty());
    }
}

/// Every `xpucert ...` command line in the CI templates parses with the
/// real command line parser, and every template is valid YAML.
#[test]
fn ci_templates_parse_and_call_real_commands() {
    let root = common::repo().join("ci");
    let files = [
        "github/xpucert.yml",
        "gitlab/.gitlab-ci.yml",
        "kubernetes/indexed-job.yaml",
        "kubernetes/merge-job.yaml",
    ];
    let mut checked = 0;
    for f in files {
        let text = std::fs::read_to_string(root.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        let doc: Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{f} is not YAML: {e}"));
        let mut strings = Vec::new();
        collect_strings(&doc, &mut strings);
        for s in strings {
            // a bare `xpucert` is a name (workflow, container), not a command
            for cmd in xpucert_commands(&s).into_iter().filter(|c| !c.is_empty()) {
                let argv: Vec<String> = std::iter::once("xpucert".to_string())
                    .chain(cmd.clone())
                    .collect();
                if let Err(e) = xpucert::cli::Cli::try_parse_from(&argv) {
                    panic!("{f}: `{}` does not parse:\n{e}", argv.join(" "));
                }
                checked += 1;
            }
        }
    }
    // 1 run + 7 report commands (GitHub), 1 + 6 (GitLab), 1 + 3 (Kubernetes)
    assert!(checked >= 19, "found only {checked} xpucert command lines");
    // the GitHub workflow shards by matrix, GitLab by parallel, Kubernetes by index
    let gh = std::fs::read_to_string(root.join(files[0])).unwrap();
    assert!(gh.contains("--shard ${{ matrix.shard }}/4"));
    let gl: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(root.join(files[1])).unwrap()).unwrap();
    assert_eq!(gl["conformance"]["parallel"], 4);
    let k8s: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(root.join(files[2])).unwrap()).unwrap();
    assert_eq!(k8s["spec"]["completionMode"], "Indexed");
    assert_eq!(k8s["spec"]["completions"], 4);
    assert_eq!(
        k8s["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        "4"
    );
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// The argument lists of `xpucert` invocations in a shell snippet, with
/// variables replaced by placeholders and globs left as one argument.
fn xpucert_commands(script: &str) -> Vec<Vec<String>> {
    let script = script.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in script.lines() {
        let tokens = shell_words(line);
        let mut i = 0;
        while i < tokens.len() {
            // only in command position: first word, or after an operator
            let command_position = i == 0
                || matches!(
                    tokens[i - 1].as_str(),
                    "|" | "||" | "&&" | ";" | "then" | "do"
                );
            if command_position && (tokens[i] == "xpucert" || tokens[i].ends_with("/xpucert")) {
                let args: Vec<String> = tokens[i + 1..]
                    .iter()
                    .take_while(|t| {
                        !matches!(t.as_str(), "|" | "||" | "&&" | ";" | ">" | ">>" | "2>&1")
                    })
                    .cloned()
                    .collect();
                i += args.len() + 1;
                out.push(args);
            } else {
                i += 1;
            }
        }
    }
    out
}

/// Minimal shell splitting: quotes, `${{ ... }}` and `$VAR` placeholders,
/// operators as their own tokens.
fn shell_words(line: &str) -> Vec<String> {
    let line = {
        let mut s = line.to_string();
        while let Some(a) = s.find("${{") {
            let b = s[a..].find("}}").map_or(s.len(), |b| a + b + 2);
            s.replace_range(a..b, "1");
        }
        s
    };
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    let flush = |cur: &mut String, words: &mut Vec<String>| {
        if !cur.is_empty() {
            words.push(std::mem::take(cur));
        }
    };
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, ' ' | '\t') => flush(&mut cur, &mut words),
            (None, '|' | '&' | ';' | '>') => {
                flush(&mut cur, &mut words);
                let mut op = c.to_string();
                while let Some(&n) = chars.peek() {
                    if matches!(n, '|' | '&' | '>') {
                        op.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                words.push(op);
            }
            (None, '#') if cur.is_empty() => break,
            (None, c) => cur.push(c),
        }
    }
    flush(&mut cur, &mut words);
    words
}

/// The DeepSeek profile: `run --profile` runs its suites (core + deepseek),
/// the reference backend reaches L2 on its op x dtype set (bf16, fp8
/// dequantize paths), and a backend with a broken op on that set does not.
#[test]
fn deepseek_profile_levels_reference_and_a_broken_backend() {
    build_reference();
    let t = tmp();
    let run_dir = t.path().join("run");
    let o = run(xpucert()
        .args([
            "run",
            "--backend",
            "reference",
            "--profile",
            "deepseek",
            "--format",
            "json",
            "--out",
        ])
        .arg(&run_dir));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = results(&run_dir);
    let suites: Vec<&str> = r["provenance"]["suites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(suites, ["core", "deepseek", "models.deepseek-tiny"]);
    let bundle = t.path().join("bundle");
    let o = run(xpucert()
        .args(["certify", "--profile", "deepseek", "--results"])
        .arg(run_dir.join("results.json"))
        .arg("--out")
        .arg(&bundle));
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    // The ops pass (L2) and the seeded DeepSeek-style model passes (L3);
    // nothing was measured, so not L4.
    assert!(o.stdout.contains("level L3"), "{}", o.stdout);
    assert!(o.stdout.contains("L4:"), "{}", o.stdout);
    let o = run(xpucert().arg("verify").arg(&bundle));
    assert_eq!(o.code, 0, "{}", o.stderr);

    // Softmax broken: L1 only, and the certificate says why
    let bad = t.path().join("bad");
    let o = run(xpucert()
        .args([
            "certify",
            "--profile",
            "deepseek",
            "--backend",
            "mutants",
            "--option",
            "mode=softmax_no_max",
            "--out",
        ])
        .arg(&bad));
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("level L1"), "{}", o.stdout);
    assert!(o.stdout.contains("L2: Softmax x"), "{}", o.stdout);
}
