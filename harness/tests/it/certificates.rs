//! Certificates and profiles: certify, verify and tampering, levels from
//! fixtures, the bundled profiles (the CI templates are in ci_templates.rs).

use crate::common;

use std::path::Path;

use common::{build_reference, results, run, xpucert};
use serde_json::{Value, json};

use crate::reports::{reference_slice, tmp, with_throughput};

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

pub(crate) fn copy_dir(from: &Path, to: &Path) {
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

/// A profile from its YAML text.
fn profile(yaml: &str) -> xpucert::cert::Profile {
    xpucert::cert::parse_profile(Path::new("p.yaml"), yaml).expect("profile parses")
}

/// The reference backend's slice of results, as JSON to edit.
fn slice() -> Value {
    serde_json::from_str(&std::fs::read_to_string(reference_slice()).unwrap()).unwrap()
}

/// The results file of edited JSON.
fn parse(v: &Value) -> xpucert::run::ResultsFile {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn levels_l3_and_l4_from_fixtures() {
    use xpucert::cert;
    let profile = profile(
        "profile: tiny\nsuites: [suites/ops/core.yaml]\nrequired:\n  - {op: Add, dtypes: [f32]}\nmodels:\n  - {name: tiny-llama, suite: suites/models/tiny.yaml}\nthroughput:\n  min_iterations: 10\n",
    );
    let mut v = slice();
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

/// L2 needs every required op x dtype pair covered: a pair whose cases all
/// came back unsupported, or that has no case, blocks it by name.
#[test]
fn a_level_names_the_required_pairs_that_no_case_covered() {
    use xpucert::cert;
    let profile = profile(
        "profile: tiny\nsuites: [suites/ops/core.yaml]\nrequired:\n  - {op: Add, dtypes: [f32, i64]}\nthroughput:\n  min_iterations: 10\n",
    );
    let mut v = slice();
    let l = cert::level(&profile, &parse(&v));
    assert_eq!(l.level, 1, "{:?}", l.blockers);
    assert_eq!(
        l.blockers[0],
        "L2: 1 of 2 required op x dtype pairs not covered: Add x i64 (no case)"
    );
    for c in v["cases"].as_array_mut().unwrap() {
        if c["op"] == "Add" {
            c["status"] = json!("unsupported");
        }
    }
    let l = cert::level(&profile, &parse(&v));
    assert!(
        l.blockers[0].starts_with("L2: 2 of 2 required op x dtype pairs not covered: Add x f32 ("),
        "{:?}",
        l.blockers
    );
    assert!(
        l.blockers[0].ends_with("cases, none ran), Add x i64 (no case)"),
        "{:?}",
        l.blockers
    );
}

#[test]
fn bundled_profiles_parse() {
    use xpucert::cert;
    for name in ["core", "deepseek"] {
        let p = cert::load_profile(&cert::profile_path(name).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.profile, name);
        assert!(!p.required.is_empty() && !p.models.is_empty());
    }
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
    assert_eq!(
        suites,
        [
            "core",
            "deepseek",
            "models.deepseek-tiny",
            "models.deepseek-tiny-absorbed"
        ]
    );
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
