//! Throughput measurement end to end: figures in results.json from both
//! executors, requirements that fail with their figures, and a backend
//! that caches outputs gaining nothing over the honest reference.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{build_reference, xpucert};
use serde_json::Value;
use xpucert::backend::{self, DylibBackend};
use xpucert::perf::ThroughputSpec;
use xpucert::run::Status;

const SUITE: &str = r#"
suite: tp
seed: 7
throughput: {warmup: 1, min_iters: 5, min_time: 0.0, max_time: 20}
cases:
  - name: square
    op: MatMul
    dtypes: [f32]
    inputs:
      - {shape: [96, 96]}
      - {shape: [96, 96]}
  - name: fast
    op: Relu
    dtypes: [f32]
    throughput: {min_gflops: 1.0e9}
    inputs:
      - {shape: [64]}
"#;

fn results(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap()
}

fn case<'a>(r: &'a Value, suffix: &str) -> &'a Value {
    r["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"].as_str().unwrap().ends_with(suffix))
        .unwrap()
}

#[test]
fn suite_throughput_section_measures_in_both_executors() {
    build_reference();
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("tp.yaml");
    std::fs::write(&suite, SUITE).unwrap();
    for isolation in ["process", "none"] {
        let out = dir.path().join(isolation);
        let o = xpucert()
            .args([
                "run",
                "--backend",
                "reference",
                "--format",
                "json",
                "--isolation",
                isolation,
            ])
            .arg("--suite")
            .arg(&suite)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        // The impossible min_gflops makes the run non-conformant (exit 1).
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let r = results(&out);
        let mm = case(&r, "matmul.f32.square");
        assert_eq!(mm["status"], "pass", "{mm}");
        let t = &mm["throughput"];
        let n = t["iterations"].as_u64().unwrap();
        assert!(n >= 5, "{t}");
        assert_eq!(t["samples_s"].as_array().unwrap().len() as u64, n);
        assert_eq!(t["flops"].as_f64().unwrap(), 2.0 * 96f64.powi(3));
        let (p10, med, p90) = (
            t["p10_s"].as_f64().unwrap(),
            t["median_s"].as_f64().unwrap(),
            t["p90_s"].as_f64().unwrap(),
        );
        assert!(0.0 < p10 && p10 <= med && med <= p90, "{t}");
        let gflops = t["gflops"].as_f64().unwrap();
        assert!((gflops - 2.0 * 96f64.powi(3) / med / 1e9).abs() < 1e-9 * gflops.max(1.0));

        let relu = case(&r, "relu.f32.fast");
        assert_eq!(relu["status"], "fail", "{relu}");
        let msg = relu["message"].as_str().unwrap();
        assert!(msg.contains("below the required min_gflops"), "{msg}");
        assert!(relu["throughput"]["median_s"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn default_runs_do_not_measure_and_bad_sections_are_rejected() {
    build_reference();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let o = xpucert()
        .args([
            "run",
            "--backend",
            "reference",
            "--filter",
            "core.relu.f32.*",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let r = results(&out);
    for c in r["cases"].as_array().unwrap() {
        assert!(c.get("throughput").is_none_or(Value::is_null), "{c}");
    }
    let suite = dir.path().join("bad.yaml");
    std::fs::write(
        &suite,
        "suite: bad\nthroughput: {max_slowdown: 0.5}\ncases:\n  - name: a\n    op: Relu\n    dtypes: [f32]\n    inputs: [{shape: [4]}]\n",
    )
    .unwrap();
    let o = xpucert()
        .arg("list")
        .arg("--suite")
        .arg(&suite)
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("max_slowdown must be a factor >= 1"), "{err}");
}

#[test]
fn baseline_slowdown_is_judged_per_case() {
    build_reference();
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("tp.yaml");
    std::fs::write(
        &suite,
        SUITE.replace("max_time: 20}", "max_time: 20, max_slowdown: 1.0}"),
    )
    .unwrap();
    let base = dir.path().join("base");
    let run = |out: &Path, baseline: Option<&Path>| {
        let mut c = xpucert();
        c.args(["run", "--backend", "reference", "--filter", "*matmul*"])
            .arg("--suite")
            .arg(&suite)
            .arg("--out")
            .arg(out);
        if let Some(b) = baseline {
            c.arg("--baseline").arg(b);
        }
        c.output().unwrap()
    };
    assert_eq!(run(&base, None).status.code(), Some(0));
    // Make the baseline 1000x faster than anything measurable.
    let mut r = results(&base);
    for c in r["cases"].as_array_mut().unwrap() {
        let t = &mut c["throughput"];
        t["median_s"] = (t["median_s"].as_f64().unwrap() / 1000.0).into();
        t["mad_s"] = 0.0.into();
    }
    let fake = dir.path().join("fast.json");
    std::fs::write(&fake, serde_json::to_string(&r).unwrap()).unwrap();
    let out = dir.path().join("slow");
    let o = run(&out, Some(&fake));
    assert_eq!(o.status.code(), Some(1));
    let c = &results(&out)["cases"][0];
    assert_eq!(c["status"], "fail");
    let msg = c["message"].as_str().unwrap();
    assert!(msg.contains("slower than the baseline"), "{msg}");
    // A baseline that is not a results file is a configuration error.
    let o = run(&dir.path().join("bad"), Some(&suite));
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The MatMul call of `case`, with its generated inputs.
fn matmul_call(case: &xpucert::suite::Case) -> xpucert::backend::call::PreparedCall {
    let inputs = xpucert::suite::generate_inputs(case);
    let stored: Vec<_> = inputs
        .iter()
        .map(|t| {
            t.as_ref().map(|t| {
                xpucert::backend::call::StoredTensor::new(
                    t.dtype,
                    &t.shape,
                    xpucert::backend::call::contiguous_strides(&t.shape),
                    &t.data,
                )
            })
        })
        .collect();
    let n = case_dim(case);
    let out = xpucert::backend::call::StoredTensor::output(xpucert::numerics::DType::F32, &[n, n]);
    xpucert::backend::call::PreparedCall::new(
        "",
        "MatMul",
        case.opset,
        &case.attributes,
        stored,
        vec![out],
    )
}

/// Median seconds of `calls` identical calls of `case` through `b`.
fn repeated_median(b: &mut DylibBackend, case: &xpucert::suite::Case, calls: usize) -> f64 {
    let mut call = matmul_call(case);
    let mut t: Vec<f64> = (0..calls)
        .map(|_| {
            let s = Instant::now();
            DylibBackend::run(b, &mut call).unwrap();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

/// How many calls `mutants mode=cache_outputs` has served from its cache so
/// far (it says so in every query_op note).
fn cache_hits(b: &DylibBackend, case: &xpucert::suite::Case) -> u64 {
    let note = b.query(&mut matmul_call(case)).unwrap().note;
    note.strip_prefix("cache_outputs: ")
        .and_then(|n| n.strip_suffix(" hits"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no hit count in the note {note:?}"))
}

fn case_dim(case: &xpucert::suite::Case) -> usize {
    match &case.inputs[0] {
        xpucert::suite::InputSpec::Tensor(t) => t.shape[0],
        xpucert::suite::InputSpec::Absent => unreachable!("MatMul has A"),
    }
}

#[test]
fn a_backend_caching_outputs_gains_nothing_under_measurement() {
    build_reference();
    let lib = backend::resolve("mutants").unwrap();
    let suite = xpucert::suite::parse_str(
        "c.yaml",
        "suite: c\ncases:\n  - name: m\n    op: MatMul\n    dtypes: [f32]\n    inputs: [{shape: [512, 512]}, {shape: [512, 512]}]\n",
    )
    .unwrap();
    let case = &suite.cases[0];
    let open = |mode: &str| DylibBackend::open(&lib, &[("mode".into(), mode.into())]).unwrap();
    let (mut honest, mut cache) = (open("honest"), open("cache_outputs"));

    // Control: with repeated inputs the cheat is real (a hash instead of a
    // MatMul): 14 of 15 identical calls are served from the cache.
    let before = cache_hits(&cache, case);
    let naive_honest = repeated_median(&mut honest, case, 15);
    let naive_cache = repeated_median(&mut cache, case, 15);
    let naive_hits = cache_hits(&cache, case) - before;
    eprintln!(
        "repeated inputs: honest {naive_honest:.3e} s, cache {naive_cache:.3e} s, {naive_hits} hits"
    );
    assert!(naive_hits >= 14, "{naive_hits} hits");

    // Under xpucert's measurement the cache never hits while the clock runs:
    // counted, not timed (timings on a shared machine prove nothing). Only
    // the final, untimed, unperturbed call of each input variant may repeat
    // bytes the backend saw before, so at most that many hits, out of the
    // 17+ calls a measurement makes; and the results are verified.
    let spec = ThroughputSpec {
        warmup: Some(2),
        min_iters: Some(15),
        min_time: Some(0.0),
        ..Default::default()
    };
    let measured = |b: &mut DylibBackend| {
        let mut r = xpucert::run::run_case(b, case, Duration::from_secs(60));
        assert_eq!(r.status, Status::Pass, "{:?}", r.message);
        xpucert::run::measure::measure_case(b, case, &spec, Duration::from_secs(60), None, &mut r);
        assert_eq!(r.status, Status::Pass, "{:?}", r.message);
        r.throughput.unwrap()
    };
    let honest_t = measured(&mut honest);
    let before = cache_hits(&cache, case);
    let cache_t = measured(&mut cache);
    // The correctness run of run_case repeats nothing; measure_case's
    // warm-up and timed calls are all perturbed.
    let hits = cache_hits(&cache, case) - before;
    eprintln!(
        "measured: honest {:.3e} s, cache {:.3e} s; {hits} cache hits over {} timed calls",
        honest_t.median_s, cache_t.median_s, cache_t.iterations
    );
    assert!(cache_t.iterations >= 15, "{}", cache_t.iterations);
    assert!(
        hits <= xpucert::run::measure::VARIANTS as u64,
        "{hits} cache hits: timed calls repeated inputs"
    );
}
