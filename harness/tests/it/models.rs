//! End-to-end model suites against real backends: the reference passes every
//! model in f32 and bf16; a backend with one faulty op fails, and the report
//! names the first divergent layer and the op kind whose swap to the
//! reference restores conformance.

use crate::common;

use std::path::Path;

use common::{build_reference, fetch_models, results, run, xpucert};

/// Runs `suite` on `backend` (extra args after), returns the model cases of
/// results.json and the exit code.
fn run_model(
    suite: &str,
    backend: &str,
    extra: &[&str],
    out: &Path,
) -> (i32, Vec<serde_json::Value>) {
    let mut cmd = xpucert();
    cmd.args(["run", "--backend", backend, "--suite", suite, "--out"])
        .arg(out)
        .args(extra);
    let o = run(&mut cmd);
    assert!(
        o.code == 0 || o.code == 1,
        "xpucert exited {}:\n{}\n{}",
        o.code,
        o.stdout,
        o.stderr
    );
    let r = results(out);
    let cases = r["cases"].as_array().expect("cases").clone();
    (o.code, cases)
}

fn field<'a>(c: &'a serde_json::Value, path: &[&str]) -> &'a serde_json::Value {
    path.iter().fold(c, |v, k| &v[*k])
}

fn assert_passes_with_throughput(cases: &[serde_json::Value], decoder: bool) {
    for c in cases {
        assert_eq!(c["status"], "pass", "{}: {}", c["id"], c["message"]);
        let m = &c["model"];
        assert!(m["prefill_tokens_per_s"].as_f64().unwrap() > 0.0, "{c}");
        if decoder {
            assert!(m["decode_tokens_per_s"].as_f64().unwrap() > 0.0, "{c}");
            assert!(m["ttft_s"].as_f64().unwrap() > 0.0, "{c}");
            assert_eq!(m["metrics"]["top1_agreement"], 1.0, "{c}");
        }
        assert!(m["first_divergent_layer"].is_null(), "{c}");
    }
}

/// A faulty op: the case fails, the profile names `layer`, and swapping
/// `op` alone to the reference restores conformance.
fn assert_localized(cases: &[serde_json::Value], layer: &str, op: &str) {
    assert_eq!(cases.len(), 1);
    let c = &cases[0];
    assert_eq!(c["status"], "fail", "{c}");
    assert_eq!(field(c, &["model", "first_divergent_layer"]), layer, "{c}");
    assert_eq!(field(c, &["model", "blamed_op"]), op, "{c}");
    let msg = c["message"].as_str().unwrap();
    assert!(msg.contains(&format!("first divergent: {layer}")), "{msg}");
    assert!(
        msg.contains(&format!("swapping {op} to the reference restores")),
        "{msg}"
    );
    assert!(msg.contains("layer profile"), "{msg}");
}

#[test]
fn deepseek_tiny_reference_passes_in_f32_bf16_and_f16() {
    build_reference();
    let out = tempfile::tempdir().unwrap();
    let (code, cases) = run_model(
        "suites/models/deepseek-tiny.yaml",
        "reference",
        &[],
        out.path(),
    );
    assert_eq!(code, 0);
    assert_eq!(cases.len(), 3);
    assert_passes_with_throughput(&cases, true);
    // Both paths' outputs are written for outside comparison.
    let d = out.path().join("models/models.deepseek-tiny.f32");
    assert!(d.join("oracle.npy").exists() && d.join("backend.npy").exists());
}

#[test]
fn deepseek_tiny_rope_pairing_fault_is_localized() {
    build_reference();
    let out = tempfile::tempdir().unwrap();
    let (code, cases) = run_model(
        "suites/models/deepseek-tiny.yaml",
        "mutants",
        &["--option", "mode=rope_pairing_swapped", "--filter", "*.f32"],
        out.path(),
    );
    assert_eq!(code, 1);
    assert_localized(&cases, "layer 0", "RotaryEmbedding");
}

/// DeepSeek-V3's routing and YaRN faults (issue 18): each fails at the
/// first layer that uses what it breaks (layer 0 is dense, layer 1 the
/// first MoE layer), with the op kind named; a router that ignores the
/// groups is also named in the routing note, since its choice is far from
/// any near-tie.
#[test]
fn deepseek_tiny_routing_and_yarn_faults_are_localized() {
    build_reference();
    for (mode, layer, op, note) in [
        (
            "moe_groups_ignored",
            "layer 1",
            "MoeGatingTopK",
            Some("groups, 2 are kept"),
        ),
        ("moe_bias_in_weights", "layer 1", "MoeGatingTopK", None),
        ("attention_scale_ignored", "layer 0", "Attention", None),
    ] {
        let out = tempfile::tempdir().unwrap();
        let (code, cases) = run_model(
            "suites/models/deepseek-tiny.yaml",
            "mutants",
            &["--option", &format!("mode={mode}"), "--filter", "*.f32"],
            out.path(),
        );
        assert_eq!(code, 1, "{mode}");
        assert_localized(&cases, layer, op);
        if let Some(note) = note {
            let msg = cases[0]["message"].as_str().unwrap();
            assert!(msg.contains("routing differs from the oracle's"), "{msg}");
            assert!(msg.contains(note), "{mode}: {msg}");
        }
    }
}

/// bf16 near-ties in the group-limited routing are followed, not failed:
/// the reference passes and says how many tokens took the oracle's experts.
#[test]
fn deepseek_tiny_bf16_routing_near_ties_are_counted() {
    build_reference();
    let out = tempfile::tempdir().unwrap();
    let (code, cases) = run_model(
        "suites/models/deepseek-tiny.yaml",
        "reference",
        &["--filter", "*.bf16"],
        out.path(),
    );
    assert_eq!(code, 0);
    let m = &cases[0]["model"]["metrics"];
    assert!(m["rerouted_tokens"].as_f64().unwrap() >= 1.0, "{m}");
}

#[test]
fn deepseek_tiny_causal_mask_fault_blames_attention() {
    build_reference();
    let out = tempfile::tempdir().unwrap();
    let (_, cases) = run_model(
        "suites/models/deepseek-tiny.yaml",
        "mutants",
        &["--option", "mode=causal_off_by_one", "--filter", "*.f32"],
        out.path(),
    );
    assert_localized(&cases, "layer 0", "Attention");
}

#[test]
fn deepseek_tiny_bf16_accumulator_blames_matmul_in_process_too() {
    build_reference();
    let out = tempfile::tempdir().unwrap();
    let (_, cases) = run_model(
        "suites/models/deepseek-tiny.yaml",
        "mutants",
        &[
            "--option",
            "mode=bf16_accumulator",
            "--filter",
            "*.f32",
            "--isolation",
            "none",
        ],
        out.path(),
    );
    assert_localized(&cases, "layer 0", "MatMul");
}

#[test]
fn memory_contract_breaches_inside_a_model_fail_it() {
    build_reference();
    for (mode, needle) in [
        ("write_input", "wrote"),
        ("unwritten_output", "never written"),
    ] {
        let out = tempfile::tempdir().unwrap();
        let (code, cases) = run_model(
            "suites/models/deepseek-tiny.yaml",
            "mutants",
            &["--option", &format!("mode={mode}"), "--filter", "*.f32"],
            out.path(),
        );
        assert_eq!(code, 1, "{mode}");
        assert_eq!(cases[0]["status"], "fail", "{mode}: {}", cases[0]);
        let msg = cases[0]["message"].as_str().unwrap();
        assert!(
            msg.starts_with("Add: ") && msg.contains(needle),
            "{mode}: {msg}"
        );
    }
}

#[test]
fn minilm_reference_passes_and_unbiased_layernorm_is_localized() {
    build_reference();
    fetch_models();
    let out = tempfile::tempdir().unwrap();
    let (code, cases) = run_model("suites/models/minilm.yaml", "reference", &[], out.path());
    assert_eq!(code, 0);
    assert_eq!(cases.len(), 2);
    assert_passes_with_throughput(&cases, false);

    let out = tempfile::tempdir().unwrap();
    let (_, cases) = run_model(
        "suites/models/minilm.yaml",
        "mutants",
        &["--option", "mode=layernorm_unbiased", "--filter", "*.f32"],
        out.path(),
    );
    // The embedding LayerNorm runs before layer 0, so layer 0 is the first
    // hidden state that carries the fault.
    assert_localized(&cases, "layer 0", "LayerNormalization");
}

#[test]
fn smollm2_reference_passes_and_rope_fault_is_localized() {
    build_reference();
    fetch_models();
    let out = tempfile::tempdir().unwrap();
    let (code, cases) = run_model("suites/models/smollm2.yaml", "reference", &[], out.path());
    assert_eq!(code, 0);
    assert_eq!(cases.len(), 2);
    assert_passes_with_throughput(&cases, true);
    // The oracle's greedy continuation of "The capital of France is".
    let paths: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.path().join("models/models.smollm2-135m.f32/paths.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(paths["oracle_tokens"][0], 7042, "` Paris`");

    let out = tempfile::tempdir().unwrap();
    let (_, cases) = run_model(
        "suites/models/smollm2.yaml",
        "mutants",
        &["--option", "mode=rope_pairing_swapped", "--filter", "*.f32"],
        out.path(),
    );
    assert_localized(&cases, "layer 0", "RotaryEmbedding");
}

#[test]
fn a_broken_model_suite_is_a_usage_error_and_missing_weights_say_how_to_fetch() {
    build_reference();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "model: x\nfamily: llama\nweights: { format: gguf, path: nowhere.gguf }\n\
         inputs: { prompt: [1], decode: 2 }\ndtypes: [f32]\n\
         thresholds:\n  f32: { logits_cosine_min: 0.9, layer_rel_l2_max: 1.0 }\n",
    )
    .unwrap();
    let o = run(xpucert()
        .args(["run", "--backend", "reference", "--suite"])
        .arg(&bad));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("thresholds.f32.top1_min"), "{}", o.stderr);

    let fixed = std::fs::read_to_string(&bad)
        .unwrap()
        .replace("0.9, layer", "0.9, top1_min: 1.0, layer");
    std::fs::write(&bad, fixed).unwrap();
    let out = dir.path().join("out");
    let (code, cases) = run_model(bad.to_str().unwrap(), "reference", &[], &out);
    assert_eq!(code, 1);
    assert_eq!(cases[0]["status"], "error", "{}", cases[0]);
    let msg = cases[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("nowhere.gguf not found") && msg.contains("fetch-models.sh"),
        "{msg}"
    );
}

// issue 18: mla

/// deepseek-tiny with absorbed MLA (MlaAttention over the latent cache):
/// the reference passes in every dtype; the honest fused-kernel order
/// (`mla_absorbed_reordered`: latent and rope dot products apart, keys in
/// blocks with an online softmax, io-dtype probabilities) passes; the rope
/// key cached before its rotation fails at layer 0, blamed on the
/// single-head RotaryEmbedding whose output went into the cache.
#[test]
fn deepseek_tiny_absorbed_mla_passes_and_its_rope_fault_is_localized() {
    build_reference();
    let suite = "suites/models/deepseek-tiny-absorbed.yaml";
    let out = tempfile::tempdir().unwrap();
    let (code, cases) = run_model(suite, "reference", &[], out.path());
    assert_eq!(code, 0);
    assert_eq!(cases.len(), 3);
    assert_passes_with_throughput(&cases, true);
    let out = tempfile::tempdir().unwrap();
    let (code, cases) = run_model(
        suite,
        "mutants",
        &["--option", "mode=mla_absorbed_reordered"],
        out.path(),
    );
    assert_eq!(code, 0);
    assert_passes_with_throughput(&cases, true);
    let out = tempfile::tempdir().unwrap();
    let (code, cases) = run_model(
        suite,
        "mutants",
        &[
            "--option",
            "mode=mla_rope_before_rotation",
            "--filter",
            "*.f32",
        ],
        out.path(),
    );
    assert_eq!(code, 1);
    assert_localized(&cases, "layer 0", "RotaryEmbedding");
}
