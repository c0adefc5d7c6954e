//! The generated cases (`suites/ops/coverage.yaml`: every op's declared case
//! space, covered pairwise) against the reference backend: every case must
//! pass, and every op of the registry must have cases.

use crate::common;

use std::collections::BTreeSet;

use common::{build_reference, results, run, xpucert};

#[test]
fn reference_backend_passes_every_generated_case() {
    build_reference();
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(xpucert()
        .args([
            "run",
            "--backend",
            "reference",
            "--suite",
            "suites/ops/coverage.yaml",
            "--out",
        ])
        .arg(out_dir.path()));
    let r = results(out_dir.path());
    let cases = r["cases"].as_array().unwrap();
    let not_passing: Vec<String> = cases
        .iter()
        .filter(|c| c["status"] != "pass" && c["status"] != "warn")
        .map(|c| format!("{} {} {}", c["id"], c["status"], c["message"]))
        .collect();
    assert!(
        not_passing.is_empty(),
        "{} of {} generated cases do not pass:\n{}",
        not_passing.len(),
        cases.len(),
        not_passing.join("\n")
    );
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let ops: BTreeSet<&str> = cases.iter().map(|c| c["op"].as_str().unwrap()).collect();
    assert_eq!(
        ops.len(),
        xpucert::ops::Op::ALL.len(),
        "ops covered: {ops:?}"
    );
    // Ids are built from the classes, e.g. a KV-cache attention case.
    assert!(
        cases.iter().any(|c| {
            let id = c["id"].as_str().unwrap();
            id.starts_with("coverage.attention.") && id.contains("_kvcache_")
        }),
        "no KV-cache attention case"
    );
}
