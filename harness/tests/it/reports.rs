//! Reports, sharding, the gate and the matrix, end to end through the
//! xpucert binary (certificates: `certificates.rs` and
//! `certificates_signed.rs`; CI templates: `ci_templates.rs`).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{build_reference, results, run, xpucert};
use serde_json::{Value, json};

pub(crate) fn tmp() -> tempfile::TempDir {
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
pub(crate) fn reference_slice() -> &'static PathBuf {
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
    let n = m["cases"].as_array().unwrap().len();
    assert_eq!(n, w["cases"].as_array().unwrap().len());
    assert!(n > 400, "{n} cases");
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
pub(crate) fn with_throughput(mut v: Value, median: impl Fn(&str) -> f64) -> Value {
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
            c["flushes"] = json!(["inputs", "outputs"]);
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
        o.stdout
            .contains("| MatMul | bf16 | emulated [f32, daz, ftz] h="),
        "{}",
        o.stdout
    );
    let o = run(xpucert().arg("report").arg(&f).args(["--format", "html"]));
    assert!(
        o.stdout.contains("smollm2-135m decode"),
        "model throughput bar"
    );
    assert!(
        o.stdout.contains("<td>f32, daz, ftz</td>"),
        "declared precision and flushing in the cases table"
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
