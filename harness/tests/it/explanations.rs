//! Failure messages claim a lower precision only when it explains the
//! errors element by element (`run::explain`): a TF32 MatMul and a bf16
//! accumulator are named, an ignored Gemm beta and dropped K-tail terms are
//! said to be explained by no precision.

use crate::common;

use common::{build_reference, results, run, xpucert};

/// The explanations of every failed output of `mode` on the MatMul and
/// Gemm cases of the core suite.
fn explanations(mode: &str) -> Vec<String> {
    build_reference();
    let out = tempfile::tempdir().unwrap();
    let o = run(xpucert()
        .args(["run", "--backend", "mutants", "--option"])
        .arg(format!("mode={mode}"))
        .args(["--suite", "suites/ops/core.yaml"])
        .args([
            "--filter",
            "core.matmul.f32.*",
            "--filter",
            "core.gemm.f32.*",
        ])
        .args(["--format", "json", "--out"])
        .arg(out.path()));
    assert_eq!(o.code, 1, "{mode} must fail: {}", o.stderr);
    let v = results(out.path());
    let mut found = Vec::new();
    for c in v["cases"].as_array().unwrap() {
        for o in c["outputs"].as_array().into_iter().flatten() {
            if o["comparison"]["passed"] == false {
                let why = o["explanation"].as_str().unwrap_or("<none>").to_string();
                found.push(format!("{}: {why}", c["id"].as_str().unwrap()));
            }
        }
    }
    assert!(!found.is_empty(), "{mode}: no failed output");
    found
}

#[test]
fn tf32_products_are_named_as_tf32_inputs() {
    let all = explanations("tf32_undeclared");
    assert!(
        all.iter().any(|e| e.contains("inputs rounded to tf32")),
        "{all:#?}"
    );
    assert!(
        !all.iter().any(|e| e.contains("as if accumulated")),
        "{all:#?}"
    );
}

#[test]
fn a_bf16_accumulator_is_named_as_one() {
    let all = explanations("bf16_accumulator");
    assert!(
        all.iter().any(|e| e.contains("as if accumulated in bf16")),
        "{all:#?}"
    );
    // bf16 numbers are f16 numbers too: the coarser format is the claim.
    assert!(!all.iter().any(|e| e.contains("in f16")), "{all:#?}");
}

#[test]
fn logic_bugs_are_not_blamed_on_precision() {
    for mode in ["gemm_beta_ignored", "matmul_tail_short_k"] {
        for e in explanations(mode) {
            assert!(e.contains("no uniform lower precision"), "{mode}: {e}");
        }
    }
}
