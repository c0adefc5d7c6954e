//! The CI templates of ci/: valid YAML, every `xpucert ...` line parses with
//! the real argument parser, and their commands run as scripts in a vendor's
//! repository: a temporary directory holding only an installed xpucert and
//! the example C backend's sources (as `backend/` and `include/`).
//!
//! A `run:` block or script item whose first line is `# ci-plumbing:` needs
//! the network or a CI API (installing xpucert, fetching the baseline): the
//! test supplies its effect (xpucert installed by scripts/install.sh; the
//! previous pipeline's `merged/` as `baseline/`). `uses:` steps (checkout,
//! cache, artifacts, the JUnit reporter) are skipped: every job runs in the
//! same directory, so artifacts are already where the next job reads them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use serde_json::Value;

use crate::common::{self, repo, run};

const PLUMBING: &str = "# ci-plumbing:";
const FILTERS: &str = "core.add.f32.* core.matmul.f32.*";
/// What the example backend implements: levels L2 (all pass) and L1 (broken).
const PROFILE: &str = "profile: acme\ndescription: the example backend's ops\nsuites:\n  - suites/ops/core.yaml\nrequired:\n  - {op: Add, dtypes: [f32]}\n  - {op: MatMul, dtypes: [f32]}\nmodels: []\nthroughput:\n  min_iterations: 10\n";

fn template(f: &str) -> (String, Value) {
    let text =
        std::fs::read_to_string(repo().join("ci").join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    let doc = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{f} is not YAML: {e}"));
    (text, doc)
}

/// The `name: value` pairs of a YAML map (GitHub `env:`, GitLab `variables:`)
/// or of a Kubernetes `env:` list.
fn vars(v: &Value) -> BTreeMap<String, String> {
    match v {
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                )
            })
            .collect(),
        Value::Array(a) => a
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    e["value"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Every `xpucert ...` command line in the CI templates parses with the
/// real command line parser (with the template's own variables filled in),
/// and every template is valid YAML.
#[test]
fn ci_templates_parse_and_call_real_commands() {
    let files = [
        "github/xpucert.yml",
        "gitlab/.gitlab-ci.yml",
        "kubernetes/indexed-job.yaml",
        "kubernetes/merge-job.yaml",
        "kubernetes/results-pvc.yaml",
    ];
    let mut checked = 0;
    for f in files {
        let (_, doc) = template(f);
        let mut known = vars(&doc["env"]);
        known.extend(vars(&doc["variables"]));
        if let Some(c) = doc["spec"]["template"]["spec"]["containers"].get(0) {
            known.extend(vars(&c["env"]));
        }
        let mut strings = Vec::new();
        collect_strings(&doc, &mut strings);
        for s in strings {
            // a bare `xpucert` is a name (workflow, container), not a command
            for cmd in xpucert_commands(&s, &known)
                .into_iter()
                .filter(|c| !c.is_empty())
            {
                let argv: Vec<String> = std::iter::once("xpucert".to_string())
                    .chain(cmd.clone())
                    .collect();
                if let Err(e) = xpucert::cli::Cli::try_parse_from(&argv)
                    && e.kind() != clap::error::ErrorKind::DisplayVersion
                {
                    panic!("{f}: `{}` does not parse:\n{e}", argv.join(" "));
                }
                checked += 1;
            }
        }
    }
    // GitHub: run, 3 reports, merge, gate, report --check, certify (and the
    // --version lines); GitLab the same; Kubernetes: run, merge, 3 reports, certify.
    assert!(checked >= 20, "found only {checked} xpucert command lines");

    let (gh_text, gh) = template(files[0]);
    assert!(gh_text.contains("--shard \"${{ matrix.shard }}/$SHARDS\""));
    let shards = gh["jobs"]["shard"]["strategy"]["matrix"]["shard"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        gh["env"]["SHARDS"],
        shards.to_string(),
        "SHARDS = the matrix's size"
    );
    assert!(gh_text.contains(
        "cargo install --locked --force --git \"$XPUCERT_GIT\" --tag \"$XPUCERT_VERSION\" xpucert"
    ));
    assert!(gh_text.contains("runs-on: [self-hosted, acme-npu]"));
    assert!(gh_text.contains("uses: actions/cache@"));
    assert!(gh_text.contains("mikepenz/action-junit-report"));
    let (gl_text, gl) = template(files[1]);
    assert_eq!(gl["conformance"]["parallel"], 4);
    assert_eq!(
        gl["report"]["artifacts"]["reports"]["junit"],
        "merged/junit.xml"
    );
    assert!(gl_text.contains("tags: [acme-npu]"));
    assert_eq!(gl[".xpucert"]["cache"]["key"], "xpucert-$XPUCERT_VERSION");
    let (_, k8s) = template(files[2]);
    let spec = &k8s["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["completions"], 4);
    assert!(
        spec["backoffLimitPerIndex"]
            .as_u64()
            .is_some_and(|n| n >= 1)
    );
    assert!(
        spec.get("backoffLimit").is_none(),
        "backoffLimit would fail the whole Job"
    );
    assert_eq!(spec["podFailurePolicy"]["rules"][0]["action"], "Ignore");
    assert_eq!(
        vars(&spec["template"]["spec"]["containers"][0]["env"])["XPUCERT_SHARD_TOTAL"],
        "4"
    );
    let (_, pvc) = template(files[4]);
    assert_eq!(pvc["kind"], "PersistentVolumeClaim");
    assert_eq!(pvc["spec"]["accessModes"][0], "ReadWriteMany");
    for job in [&k8s, &template(files[3]).1] {
        assert_eq!(
            job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            pvc["metadata"]["name"]
        );
    }
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// `$NAME` and `${NAME}` of `known` replaced by their values.
fn expand(s: &str, known: &BTreeMap<String, String>) -> String {
    let mut s = s.to_string();
    // longest names first: $XPUCERT_BACKEND before a hypothetical $XPUCERT
    let mut names: Vec<_> = known.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for n in names {
        s = s.replace(&format!("${{{n}}}"), &known[n]);
        s = s.replace(&format!("${n}"), &known[n]);
    }
    s
}

/// The argument lists of `xpucert` invocations in a shell snippet, with
/// known variables expanded, others left as placeholders, `"$@"` (the
/// arguments a script collected) dropped and globs left as one argument.
fn xpucert_commands(script: &str, known: &BTreeMap<String, String>) -> Vec<Vec<String>> {
    let script = expand(&script.replace("\\\n", " "), known);
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
                        !matches!(
                            t.as_str(),
                            "|" | "||" | "&&" | ";" | ">" | ">>" | "2>" | "2>&1"
                        )
                    })
                    .cloned()
                    .collect();
                i += args.len() + 1;
                out.push(args.into_iter().filter(|a| a != "$@").collect());
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
                // `2>/dev/null`: the descriptor belongs to the operator
                let fd = c == '>' && !cur.is_empty() && cur.bytes().all(|b| b.is_ascii_digit());
                let mut op = if fd {
                    std::mem::take(&mut cur)
                } else {
                    String::new()
                };
                flush(&mut cur, &mut words);
                op.push(c);
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

// ---- the templates run as scripts ---------------------------------------

/// The vendor's repository: an installed xpucert (PREFIX/bin on PATH) and
/// the example C backend's sources; nothing of the xpucert checkout.
struct Vendor {
    tmp: tempfile::TempDir,
    prefix: PathBuf,
    dir: PathBuf,
    /// GITHUB_STEP_SUMMARY
    summary: PathBuf,
}

impl Vendor {
    fn new() -> Vendor {
        common::build_reference();
        let tmp = tempfile::tempdir().unwrap();
        let prefix = tmp.path().join("prefix");
        let exe = PathBuf::from(env!("CARGO_BIN_EXE_xpucert"));
        let profile_dir = exe.parent().unwrap();
        let o = run(Command::new("bash")
            .arg(repo().join("scripts/install.sh"))
            .args(["--no-build", "--profile"])
            .arg(profile_dir.file_name().unwrap())
            .arg("--prefix")
            .arg(&prefix)
            .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap()));
        assert_eq!(o.code, 0, "install.sh: {}{}", o.stdout, o.stderr);
        let dir = tmp.path().join("vendor");
        std::fs::create_dir_all(dir.join("backend")).unwrap();
        std::fs::create_dir_all(dir.join("include")).unwrap();
        for f in ["Makefile", "example_backend.c", "README.md"] {
            std::fs::copy(
                repo().join("backends/example-c").join(f),
                dir.join("backend").join(f),
            )
            .unwrap();
        }
        std::fs::copy(
            repo().join("backends/include/xpucert_backend.h"),
            dir.join("include/xpucert_backend.h"),
        )
        .unwrap();
        std::fs::write(dir.join("acme-profile.yaml"), PROFILE).unwrap();
        let summary = tmp.path().join("step-summary.md");
        Vendor {
            tmp,
            prefix,
            dir,
            summary,
        }
    }

    /// A fresh checkout: what one pipeline wrote is gone, `baseline/` is
    /// the previous pipeline's `merged/` (the fetch step's effect).
    fn checkout(&self, baseline: Option<&Path>) {
        for d in ["out", "merged", "baseline", "backend/build"] {
            let _ = std::fs::remove_dir_all(self.dir.join(d));
        }
        if let Some(b) = baseline {
            copy_dir(b, &self.dir.join("baseline"));
        }
    }

    /// A script run as a CI runner would, in the vendor's directory, with
    /// the template's variables; no xpucert or CI variable leaks in.
    fn sh(&self, shell: &[&str], script: &str, env: &BTreeMap<String, String>) -> (bool, String) {
        let path = format!(
            "{}:{}",
            self.prefix.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new(shell[0]);
        cmd.args(&shell[1..])
            .arg(script)
            .current_dir(&self.dir)
            .env("PATH", path)
            .env("XDG_DATA_HOME", self.tmp.path().join("data"))
            .env("GITHUB_STEP_SUMMARY", &self.summary);
        for v in [
            "XPUCERT_HOME",
            "XPUCERT_REFERENCE_LIB",
            "XPUCERT_SHARD_TOTAL",
            "CI_NODE_INDEX",
            "CI_NODE_TOTAL",
            "JOB_COMPLETION_INDEX",
        ] {
            cmd.env_remove(v);
        }
        cmd.envs(env);
        let o = run(&mut cmd);
        (o.code == 0, format!("{}{}", o.stdout, o.stderr))
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// Breaks MatMul in the vendor's source: every product is off by 0.5.
fn break_matmul(dir: &Path) {
    let src = dir.join("backend/example_backend.c");
    let text = std::fs::read_to_string(&src).unwrap();
    assert_eq!(text.matches("float acc = 0.0f;").count(), 1);
    std::fs::write(&src, text.replace("float acc = 0.0f;", "float acc = 0.5f;")).unwrap();
}

/// The variables the test changes: two shards, a few ops, a profile of the
/// example backend's ops, and a minimum level.
fn overrides(env: &mut BTreeMap<String, String>) {
    for (k, v) in [
        ("XPUCERT_FILTERS", FILTERS),
        ("XPUCERT_PROFILE", "./acme-profile.yaml"),
        ("XPUCERT_MIN_LEVEL", "L1"),
        ("SHARDS", "2"),
    ] {
        assert!(
            env.contains_key(k) || k == "SHARDS",
            "the template has no {k}"
        );
        env.insert(k.into(), v.into());
    }
}

/// Runs the GitHub workflow's jobs in order (the shard job once per
/// shard); false and the log when a job failed.
fn github_pipeline(v: &Vendor) -> (bool, String) {
    let (_, wf) = template("github/xpucert.yml");
    let mut env = vars(&wf["env"]);
    overrides(&mut env);
    env.insert("GITHUB_REPOSITORY".into(), "acme/backend".into());
    let mut log = String::new();
    let mut ran = 0;
    for (job, shards) in [
        ("build", vec![0]),
        ("shard", vec![1, 2]),
        ("merge-and-gate", vec![0]),
    ] {
        for shard in shards {
            let mut failed = false;
            for step in wf["jobs"][job]["steps"].as_array().unwrap() {
                let Some(script) = step["run"].as_str() else {
                    continue; // `uses:` plumbing: checkout, cache, artifacts, JUnit reporter
                };
                if script.starts_with(PLUMBING) {
                    continue;
                }
                let always = step["if"].as_str().is_some_and(|c| c.contains("always()"));
                if failed && !always {
                    continue;
                }
                let script = script.replace("${{ matrix.shard }}", &shard.to_string());
                assert!(
                    !script.contains("${{"),
                    "{job}: unsubstituted expression in\n{script}"
                );
                // GitHub's `shell: bash`: bash --noprofile --norc -eo pipefail {0}
                let (ok, out) = v.sh(
                    &["bash", "--noprofile", "--norc", "-euo", "pipefail", "-c"],
                    &script,
                    &env,
                );
                log += &format!(
                    "== github {job} {shard}: {}\n{out}",
                    step["name"].as_str().unwrap_or("")
                );
                ran += 1;
                failed |= !ok;
            }
            if failed {
                return (false, log);
            }
        }
    }
    assert!(ran >= 5, "{ran} steps ran:\n{log}");
    let summary = std::fs::read_to_string(&v.summary).unwrap_or_default();
    assert!(
        summary.contains("core.matmul") || summary.contains("MatMul"),
        "step summary:\n{summary}"
    );
    (true, log)
}

/// Runs the GitLab pipeline's jobs in order (conformance once per
/// `parallel` node, with GitLab's CI_NODE_INDEX and CI_NODE_TOTAL).
fn gitlab_pipeline(v: &Vendor) -> (bool, String) {
    let (_, ci) = template("gitlab/.gitlab-ci.yml");
    let mut env = BTreeMap::new();
    env.insert("CI_PROJECT_DIR".to_string(), v.dir.display().to_string());
    env.insert("CI_DEFAULT_BRANCH".to_string(), "main".to_string());
    let declared = vars(&ci["variables"]);
    for (k, val) in &declared {
        let val = expand(val, &env);
        env.insert(k.clone(), val);
    }
    overrides(&mut env);
    env.remove("SHARDS");
    let mut log = String::new();
    for stage in ci["stages"].as_array().unwrap() {
        let jobs: Vec<(&String, &Value)> = ci
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, j)| j["stage"] == *stage)
            .collect();
        assert!(!jobs.is_empty(), "no job in stage {stage}");
        for (name, job) in jobs {
            let template = job["extends"].as_str().map(|t| &ci[t]);
            let before = job
                .get("before_script")
                .or_else(|| template.and_then(|t| t.get("before_script")));
            let mut items: Vec<&str> = Vec::new();
            for list in [before, job.get("script")].into_iter().flatten() {
                items.extend(list.as_array().unwrap().iter().map(|s| s.as_str().unwrap()));
            }
            let script: Vec<&str> = items
                .into_iter()
                .filter(|s| !s.starts_with(PLUMBING))
                .collect();
            let script = script.join("\n");
            let nodes = job["parallel"]
                .as_u64()
                .map_or(vec![None], |_| vec![Some(1), Some(2)]);
            for node in nodes {
                let mut env = env.clone();
                if let Some(k) = node {
                    env.insert("CI_NODE_INDEX".into(), k.to_string());
                    env.insert("CI_NODE_TOTAL".into(), "2".into());
                }
                let (ok, out) = v.sh(&["bash", "-euo", "pipefail", "-c"], &script, &env);
                log += &format!("== gitlab {name} {node:?}\n{out}");
                if !ok {
                    return (false, log);
                }
            }
        }
    }
    (true, log)
}

/// The three pipelines of one CI: the first, without a baseline, records
/// one; the second gates against it and passes; the third, with MatMul
/// broken, fails both the regression and the absolute gate.
fn three_pipelines(ci: &str, pipeline: fn(&Vendor) -> (bool, String)) {
    let v = Vendor::new();
    let store = v.tmp.path().join(format!("{ci}-published"));

    v.checkout(None);
    let (ok, log) = pipeline(&v);
    assert!(ok, "{ci}: the first pipeline failed:\n{log}");
    assert!(
        log.contains("no baseline yet: regression gate skipped"),
        "{log}"
    );
    assert!(log.contains("certificate level L2 (at least L1)"), "{log}");
    let merged = v.dir.join("merged");
    for f in [
        "results.json",
        "junit.xml",
        "report.md",
        "certificate/certificate.json",
    ] {
        assert!(merged.join(f).is_file(), "{ci}: merged/{f} missing:\n{log}");
    }
    let junit = std::fs::read_to_string(merged.join("junit.xml")).unwrap();
    assert!(
        junit.contains("<testcase") && junit.contains("core.matmul.f32"),
        "{junit}"
    );
    let r = common::results(&merged);
    assert_eq!(r["summary"]["conformant"], true);
    assert!(r["cases"].as_array().unwrap().len() > 20);
    copy_dir(&merged, &store);

    v.checkout(Some(&store));
    let (ok, log) = pipeline(&v);
    assert!(ok, "{ci}: the pipeline with a baseline failed:\n{log}");
    assert!(!log.contains("no baseline yet"), "{log}");
    assert!(v.dir.join("merged/gate.json").is_file(), "{log}");
    assert!(log.contains("certificate level L2 (at least L2)"), "{log}");

    v.checkout(Some(&store));
    break_matmul(&v.dir);
    let (ok, log) = pipeline(&v);
    assert!(!ok, "{ci}: a broken MatMul passed:\n{log}");
    let gate: Value =
        serde_json::from_str(&std::fs::read_to_string(v.dir.join("merged/gate.json")).unwrap())
            .unwrap();
    assert!(gate.to_string().contains("core.matmul.f32"), "{gate}");
    assert!(
        log.contains("status pass -> fail")
            && log.contains("regression gate: failed against the baseline"),
        "{log}"
    );
    assert!(
        log.contains("absolute gate: failures without a waiver"),
        "{log}"
    );
    assert!(
        log.contains("absolute gate: certificate level L1 is below L2"),
        "{log}"
    );
}

#[test]
fn ci_templates_github_runs_as_scripts_in_a_vendor_repository() {
    three_pipelines("github", github_pipeline);
}

#[test]
fn ci_templates_gitlab_runs_as_scripts_in_a_vendor_repository() {
    three_pipelines("gitlab", gitlab_pipeline);
}

/// The Kubernetes Jobs' scripts with the manifests' env (paths moved into
/// the temporary directory): two indexes, one retried (resumes), the
/// merge; then a broken library fails the merge job's verdict.
#[test]
fn ci_templates_kubernetes_runs_as_scripts() {
    let v = Vendor::new();
    let (_, shard) = template("kubernetes/indexed-job.yaml");
    let (_, merge) = template("kubernetes/merge-job.yaml");
    let results = v.tmp.path().join("results");
    let lib = v.dir.join("backend/build/libxpucert_example.so");
    let env_of = |job: &Value| {
        let c = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["command"][0], "/bin/sh");
        let mut env = vars(&c["env"]);
        for (k, val) in [
            ("XPUCERT_RESULTS", results.display().to_string()),
            ("XPUCERT_BACKEND", lib.display().to_string()),
            (
                "XPUCERT_PROFILE",
                v.dir.join("acme-profile.yaml").display().to_string(),
            ),
            ("XPUCERT_FILTERS", FILTERS.to_string()),
            ("XPUCERT_SHARD_TOTAL", "2".to_string()),
        ] {
            if env.contains_key(k) {
                env.insert(k.into(), val);
            }
        }
        (c["args"][0].as_str().unwrap().to_string(), env)
    };
    let (shard_script, shard_env) = env_of(&shard);
    let (merge_script, merge_env) = env_of(&merge);
    assert_eq!(shard_env["XPUCERT_SHARD_TOTAL"], "2");

    for broken in [false, true] {
        v.checkout(None);
        let _ = std::fs::remove_dir_all(&results);
        if broken {
            break_matmul(&v.dir);
        }
        let (ok, out) = v.sh(&["make", "-C"], "backend", &BTreeMap::new());
        assert!(ok, "{out}");
        // index 0 twice: a pod evicted and retried resumes its shard
        for index in [0, 1, 0] {
            let mut env = shard_env.clone();
            env.insert("JOB_COMPLETION_INDEX".into(), index.to_string());
            let (ok, out) = v.sh(&["/bin/sh", "-c"], &shard_script, &env);
            assert!(ok, "shard {index}: {out}");
        }
        let (ok, out) = v.sh(&["/bin/sh", "-c"], &merge_script, &merge_env);
        assert_eq!(ok, !broken, "merge (broken: {broken}): {out}");
        assert!(out.contains("merged 2 shards"), "{out}");
        let run = &merge_env["XPUCERT_RUN"];
        assert_eq!(&shard_env["XPUCERT_RUN"], run);
        assert!(
            results.join(run).join("merged/junit.xml").is_file(),
            "{out}"
        );
    }
}

/// `report --check`, the templates' absolute gate: the exit code `run`
/// gave, recomputed from a results.json: 1 with an unwaived failure, 0 when
/// the same failure is waived, and the report is still written.
#[test]
fn report_check_exits_with_the_results_verdict() {
    common::build_reference();
    let t = tempfile::tempdir().unwrap();
    let waivers = t.path().join("waivers.yaml");
    std::fs::write(
        &waivers,
        "waivers:\n  - case: \"core.softmax.f32.large_logits\"\n    status: fail\n    reason: \"no max subtraction\"\n    link: https://tracker.example.com/XPU-1\n    expires: 2099-01-01\n",
    )
    .unwrap();
    for (name, extra, want) in [
        ("unwaived", vec![], 1),
        ("waived", vec!["--waivers", waivers.to_str().unwrap()], 0),
    ] {
        let out = t.path().join(name);
        let o = common::failing_softmax_run(&out, &extra);
        assert_eq!(o.code, want, "run {name}: {}{}", o.stdout, o.stderr);
        let results = out.join("results.json");
        let junit = t.path().join(format!("{name}.xml"));
        let o = run(common::xpucert()
            .arg("report")
            .arg(&results)
            .args(["--check", "--format", "junit", "--out"])
            .arg(&junit));
        assert_eq!(o.code, want, "report --check {name}: {}", o.stderr);
        assert!(junit.is_file());
        // without --check, report succeeds whatever the verdict
        let o = run(common::xpucert().arg("report").arg(&results));
        assert_eq!(o.code, 0, "{}", o.stderr);
    }
}
