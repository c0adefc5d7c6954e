//! Expected failures (`--waivers FILE`): a waived failure is reported as
//! `waived` everywhere and exits 0; an unwaived one, one whose waiver
//! expects another status, or one whose waiver expired exits 1; unused
//! waivers are listed; a bad file is exit 2 at its line; a resume with
//! another file is refused; certificates list and bundle their waivers.
//! Each run is the mutants' `softmax_no_max` on the f32 Softmax cases of
//! the core suite, of which `large_logits` fails (under a second).

use std::path::{Path, PathBuf};

use crate::common;

use common::{Output, build_reference, results, run, xpucert};

const FAILING: &str = "core.softmax.f32.large_logits";

/// A waiver file with `entries` (YAML list items) in `dir`.
fn waivers(dir: &Path, name: &str, entries: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("waivers:\n{entries}")).unwrap();
    p
}

fn entry(case: &str, status: &str, expires: &str) -> String {
    format!(
        "  - case: \"{case}\"\n    status: {status}\n    reason: \"no max subtraction on rev A\"\n    link: https://tracker.example.com/XPU-1\n    expires: {expires}\n"
    )
}

/// `run` of the failing Softmax cases with `extra` arguments.
fn softmax_run(out: &Path, extra: &[&str]) -> Output {
    common::failing_softmax_run(out, extra)
}

fn case<'a>(r: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    r["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no case {id}"))
}

#[test]
fn a_waived_failure_is_reported_as_waived_everywhere_and_exits_0() {
    let t = tempfile::tempdir().unwrap();
    let w = waivers(
        t.path(),
        "w.yaml",
        &(entry("core.softmax.f32.large*", "fail", "2027-03-31")
            + &entry("core.relu.*", "crash", "2027-03-31")),
    );
    let out = t.path().join("out");
    let o = softmax_run(&out, &["--waivers", w.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    // The table has a waived column, the case is listed, the verdict says so.
    assert!(o.stdout.contains("┆ waived ┆"), "{}", o.stdout);
    assert!(o.stdout.contains("WAIVED  │"), "{}", o.stdout);
    assert!(
        o.stdout.contains(&format!(
            "WAIVED {FAILING}: waived fail: no max subtraction on rev A (https://tracker.example.com/XPU-1, expires 2027-03-31); output 0: "
        )),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("18 pass, 1 waived in ")
            && o.stdout.contains("-> CONFORMANT with 1 waived failure\n"),
        "{}",
        o.stdout
    );
    // The unused waiver is listed on stderr and kept in results.json.
    assert!(
        o.stderr.contains(
            "xpucert: warning: waiver `core.relu.*` (crash): matched no case of this run"
        ),
        "{}",
        o.stderr
    );
    let r = results(&out);
    let c = case(&r, FAILING);
    assert_eq!(c["status"], "waived");
    assert_eq!(c["waiver"]["status"], "fail");
    assert_eq!(c["waiver"]["case"], "core.softmax.f32.large*");
    assert_eq!(c["waiver"]["link"], "https://tracker.example.com/XPU-1");
    assert_eq!(c["waiver"]["expires"], "2027-03-31");
    assert!(c["message"].as_str().unwrap().starts_with("output 0: "));
    assert_eq!(r["summary"]["by_status"]["waived"], 1);
    assert_eq!(r["summary"]["conformant"], true);
    let pw = &r["provenance"]["waivers"];
    assert_eq!(
        pw["sha256"].as_str().unwrap(),
        xpucert::digest::sha256_hex(&std::fs::read(&w).unwrap())
    );
    assert_eq!(pw["judged_on"], "2026-12-06");
    assert_eq!(pw["entries"].as_array().unwrap().len(), 2);
    assert_eq!(pw["notes"][0]["kind"], "matched_nothing");
    assert_eq!(pw["notes"].as_array().unwrap().len(), 1);

    // Every report shows it as waived, never as a pass.
    let results_json = out.join("results.json");
    let report = |format: &str| {
        let o = run(xpucert()
            .args(["report", "--format", format])
            .arg(&results_json));
        assert_eq!(o.code, 0, "{}", o.stderr);
        o.stdout
    };
    let junit = report("junit");
    let at = junit.find(&format!("name=\"{FAILING}\"")).unwrap();
    let tc = &junit[at..at + junit[at..].find("</testcase>").unwrap()];
    assert!(
        tc.contains("<skipped message=\"waived fail: no max subtraction on rev A (https://tracker.example.com/XPU-1, expires 2027-03-31); output 0:"),
        "{tc}"
    );
    assert!(tc.contains("type=\"waived\""), "{tc}");
    let md = report("md");
    assert!(md.contains("— CONFORMANT with 1 waived failure"), "{md}");
    assert!(
        md.contains(&format!(
            "| `{FAILING}` | fail | no max subtraction on rev A | https://tracker.example.com/XPU-1 | 2027-03-31 |"
        )),
        "{md}"
    );
    assert!(md.contains("waived 1/19"), "{md}");
    let html = report("html");
    assert!(
        html.contains("<b>CONFORMANT with 1 waived failure</b>"),
        "{html}"
    );
    assert!(html.contains("data-status=\"waived\""), "{html}");
    let table = report("table");
    assert!(
        table.contains(&format!("WAIVED {FAILING}: waived fail")),
        "{table}"
    );
    assert!(
        table.contains("attention: waiver `core.relu.*` (crash): matched no case of this run"),
        "{table}"
    );
    let o = run(xpucert().arg("matrix").arg(&results_json));
    assert!(o.stdout.contains("waived 1/19"), "{}{}", o.stdout, o.stderr);
    let lines = softmax_run(
        &t.path().join("lines"),
        &["--waivers", w.to_str().unwrap(), "--format", "lines"],
    );
    assert_eq!(lines.code, 0, "{}", lines.stderr);
    assert!(
        lines
            .stdout
            .starts_with(&format!("WAIVED {FAILING} (suites/ops/core.yaml:")),
        "{}",
        lines.stdout
    );

    // gate: failing in the baseline, waived now: no regression; the other
    // way round neither (the same failure).
    let base = t.path().join("base");
    let o = softmax_run(&base, &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let gate = |b: &Path, c: &Path| {
        run(xpucert()
            .args(["gate", "--baseline"])
            .arg(b.join("results.json"))
            .arg("--current")
            .arg(c.join("results.json")))
    };
    let g = gate(&base, &out);
    assert_eq!(g.code, 0, "{}{}", g.stdout, g.stderr);
    let g = gate(&out, &base);
    assert_eq!(g.code, 0, "{}{}", g.stdout, g.stderr);
}

#[test]
fn a_waiver_of_another_status_does_not_waive_and_is_listed() {
    let t = tempfile::tempdir().unwrap();
    let w = waivers(t.path(), "w.yaml", &entry(FAILING, "error", "2027-03-31"));
    let out = t.path().join("out");
    let o = softmax_run(&out, &["--waivers", w.to_str().unwrap()]);
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("-> NOT CONFORMANT\n"), "{}", o.stdout);
    assert!(
        o.stderr.contains(&format!(
            "waiver `{FAILING}` (error): expects error, but its 1 matching case(s) were 1 fail: correct its status or remove it"
        )),
        "{}",
        o.stderr
    );
    let r = results(&out);
    assert_eq!(case(&r, FAILING)["status"], "fail");
    assert!(case(&r, FAILING).get("waiver").is_none());
    assert_eq!(
        r["provenance"]["waivers"]["notes"][0]["kind"],
        "status_differs"
    );

    // A waiver of passing cases: "unexpected pass".
    let w = waivers(
        t.path(),
        "pass.yaml",
        &entry("core.softmax.f32.vocab", "fail", "2027-03-31"),
    );
    let o = softmax_run(&t.path().join("p"), &["--waivers", w.to_str().unwrap()]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("were 1 pass: unexpected pass: remove the waiver"),
        "{}",
        o.stderr
    );
}

#[test]
fn an_expired_waiver_fails_with_its_date() {
    let t = tempfile::tempdir().unwrap();
    let w = waivers(t.path(), "w.yaml", &entry(FAILING, "fail", "2026-12-05"));
    let out = t.path().join("out");
    let o = softmax_run(&out, &["--waivers", w.to_str().unwrap()]);
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("-> NOT CONFORMANT\n"), "{}", o.stdout);
    assert!(
        o.stdout.contains(&format!(
            "the waiver of `{FAILING}` (fail) expired on 2026-12-05; no max subtraction on rev A: https://tracker.example.com/XPU-1; output 0:"
        )),
        "{}",
        o.stdout
    );
    assert!(
        o.stderr.contains(&format!(
            "waiver `{FAILING}` (fail): expired on 2026-12-05 (today is 2026-12-06); 1 fail case(s) it matched count as failures"
        )),
        "{}",
        o.stderr
    );
    let r = results(&out);
    assert_eq!(case(&r, FAILING)["status"], "fail");
    assert_eq!(case(&r, FAILING)["waiver"]["expires"], "2026-12-05");
    assert_eq!(r["provenance"]["waivers"]["notes"][0]["kind"], "expired");
    // Its last day still counts.
    let o = run(xpucert()
        .env("XPUCERT_TODAY", "2026-12-05")
        .args([
            "run",
            "--backend",
            "mutants",
            "--option",
            "mode=softmax_no_max",
            "--filter",
            FAILING,
            "--waivers",
        ])
        .arg(&w)
        .arg("--out")
        .arg(t.path().join("last-day")));
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    // A clock that is not a date is a usage error.
    let o = run(xpucert()
        .env("XPUCERT_TODAY", "yesterday")
        .args([
            "run",
            "--backend",
            "mutants",
            "--filter",
            FAILING,
            "--waivers",
        ])
        .arg(&w)
        .arg("--out")
        .arg(t.path().join("bad-clock")));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("xpucert: error: XPUCERT_TODAY=`yesterday` is not a date YYYY-MM-DD"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_malformed_waiver_file_is_exit_2_at_its_line() {
    let t = tempfile::tempdir().unwrap();
    let bad = [
        (
            entry(FAILING, "pass", "2027-03-31"),
            "w.yaml:3:13: status `pass` cannot be waived (one of fail, error, crash, timeout)",
        ),
        (
            entry(FAILING, "fail", "2027-13-01"),
            "w.yaml:6:14: `expires` `2027-13-01` is not a date YYYY-MM-DD",
        ),
        (
            entry(FAILING, "fail", "2027-03-31")
                .replace("https://tracker.example.com/XPU-1", "XPU-1"),
            "w.yaml:5:11: `link` `XPU-1` is not an http(s) URL",
        ),
        (
            entry(FAILING, "fail", "2027-03-31").replace("\"no max subtraction on rev A\"", "\"\""),
            "w.yaml:4:13: `reason` is empty",
        ),
        (
            entry(FAILING, "fail", "2027-03-31") + "    owner: me\n",
            "w.yaml:7:5: unknown field `owner`",
        ),
    ];
    for (text, want) in bad {
        let w = waivers(t.path(), "w.yaml", &text);
        let o = softmax_run(&t.path().join("out"), &["--waivers", w.to_str().unwrap()]);
        assert_eq!(o.code, 2, "{want}: {}", o.stderr);
        let line = o.stderr.trim_end();
        assert!(
            line.starts_with("xpucert: error: waiver file ") && line.contains(want),
            "{want}: {}",
            o.stderr
        );
        assert_eq!(line.lines().count(), 1, "{}", o.stderr);
    }
    let o = softmax_run(&t.path().join("out"), &["--waivers", "no-such-file.yaml"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("cannot read waiver file no-such-file.yaml"),
        "{}",
        o.stderr
    );
}

#[test]
fn a_resume_with_another_waiver_file_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let a = waivers(t.path(), "a.yaml", &entry(FAILING, "fail", "2027-03-31"));
    let b = waivers(t.path(), "b.yaml", &entry(FAILING, "fail", "2027-04-30"));
    let out = t.path().join("out");
    let o = softmax_run(&out, &["--waivers", a.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = softmax_run(&out, &["--waivers", b.to_str().unwrap(), "--resume"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("it is a different run: waivers.sha256 was `"),
        "{}",
        o.stderr
    );
    let o = softmax_run(&out, &["--resume"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("waivers.sha256 was `"), "{}", o.stderr);
    assert!(o.stderr.contains("now unset"), "{}", o.stderr);
    // The same file resumes.
    let o = softmax_run(&out, &["--waivers", a.to_str().unwrap(), "--resume"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
}

#[test]
fn certificates_list_and_bundle_their_waivers() {
    build_reference();
    let t = tempfile::tempdir().unwrap();
    let suite = t.path().join("tiny.yaml");
    std::fs::write(
        &suite,
        "suite: tiny\nseed: 7\ndtypes: [f32]\ncases:\n  - name: large_logits\n    op: Softmax\n    inputs:\n      - {shape: [8, 256], dist: {normal: {mean: 0, std: 30}}}\n  - name: small\n    op: Softmax\n    inputs:\n      - {shape: [4, 16], dist: {normal: {mean: 0, std: 1}}}\n",
    )
    .unwrap();
    let profile = t.path().join("tiny-profile.yaml");
    std::fs::write(
        &profile,
        format!(
            "profile: tiny\nsuites: [{}]\nrequired:\n  - {{op: Softmax, dtypes: [f32]}}\nthroughput:\n  min_iterations: 10\n",
            suite.display()
        ),
    )
    .unwrap();
    let w = waivers(
        t.path(),
        "w.yaml",
        &(entry("tiny.softmax.f32.large*", "fail", "2027-03-31")
            + &entry("tiny.softmax.f32.small", "crash", "2027-03-31")),
    );
    let bundle = t.path().join("bundle");
    let o = run(xpucert()
        .env("XPUCERT_TODAY", "2026-12-06")
        .args(["certify", "--profile"])
        .arg(&profile)
        .args([
            "--backend",
            "mutants",
            "--option",
            "mode=softmax_no_max",
            "--waivers",
        ])
        .arg(&w)
        .arg("--out")
        .arg(&bundle));
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("level L2 with 1 waived case -> "),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("  waiver: `tiny.softmax.f32.large*` (fail): no max subtraction on rev A (https://tracker.example.com/XPU-1, expires 2027-03-31)\n"),
        "{}",
        o.stdout
    );
    let cert: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("certificate.json")).unwrap())
            .unwrap();
    // Only the waiver that applied is listed; the file is bundled.
    assert_eq!(cert["waivers"].as_array().unwrap().len(), 1);
    assert_eq!(cert["waivers"][0]["case"], "tiny.softmax.f32.large*");
    assert_eq!(cert["level"]["waived"], 1);
    let file = cert["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["role"] == "waivers")
        .expect("the waiver file is bundled");
    assert_eq!(file["path"], "waivers.yaml");
    assert_eq!(
        file["sha256"].as_str().unwrap(),
        xpucert::digest::sha256_hex(&std::fs::read(&w).unwrap())
    );
    let o = run(xpucert().arg("verify").arg(&bundle));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("level L2 with 1 waived case"),
        "{}",
        o.stdout
    );

    // Without the waiver the same run is L1.
    let o = run(xpucert()
        .args(["certify", "--profile"])
        .arg(&profile)
        .args([
            "--backend",
            "mutants",
            "--option",
            "mode=softmax_no_max",
            "--out",
        ])
        .arg(t.path().join("unwaived")));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("level L1 -> "), "{}", o.stdout);

    // Tampering: a bundled waiver file changed (and rehashed in the
    // certificate) no longer waives what the results say it waived.
    let text = std::fs::read_to_string(bundle.join("waivers.yaml")).unwrap();
    let edited = text.replace("tiny.softmax.f32.large*", "tiny.softmax.f32.none*");
    std::fs::write(bundle.join("waivers.yaml"), &edited).unwrap();
    let mut cert = cert;
    for f in cert["files"].as_array_mut().unwrap() {
        if f["role"] == "waivers" {
            f["sha256"] = xpucert::digest::sha256_hex(edited.as_bytes()).into();
        }
    }
    std::fs::write(
        bundle.join("certificate.json"),
        serde_json::to_string_pretty(&cert).unwrap(),
    )
    .unwrap();
    let o = run(xpucert().arg("verify").arg(&bundle));
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("the bundled waiver file has sha256 "),
        "{}",
        o.stderr
    );
}
