//! Throughput of xpucert's own machinery: output comparison per check kind
//! (elements/s), the f64 oracle, and suite expansion.
//! `cargo bench -p xpucert --bench harness`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ndarray::{ArrayD, IxDyn};
use xpucert::numerics::DType;
use xpucert::numerics::check::{CheckSpec, compare};
use xpucert::ops::{self as oracle, Value};

fn checks(c: &mut Criterion) {
    let n = 1 << 20;
    let expected =
        ArrayD::from_shape_fn(IxDyn(&[n]), |i| ((i[0] * 7919) % 1000) as f64 / 997.0 - 0.5);
    // f32-rounded, so every check passes and compares all elements.
    let actual = expected.mapv(|v| v as f32 as f64);
    let magnitude = expected.mapv(f64::abs);
    let mut g = c.benchmark_group("compare_1M_f32");
    g.throughput(Throughput::Elements(n as u64));
    let u = f64::from(f32::EPSILON) / 2.0;
    let kinds = [
        ("exact", CheckSpec::Exact),
        (
            "allclose",
            CheckSpec::Allclose {
                rtol: 1e-5,
                atol: 1e-6,
            },
        ),
        ("ulp", CheckSpec::Ulp { n: 1.0 }),
        ("bound", CheckSpec::Bound { c: 8.0 }),
    ];
    for (name, spec) in kinds {
        let mag = matches!(spec, CheckSpec::Bound { .. }).then_some(&magnitude);
        g.bench_function(name, |b| {
            b.iter(|| black_box(compare(spec, DType::F32, u, &expected, &actual, mag)))
        });
    }
    g.finish();
}

fn oracles(c: &mut Criterion) {
    let mut g = c.benchmark_group("oracle_f64");
    let mat = |n: usize, s: usize| {
        Value::new(
            DType::F32,
            ArrayD::from_shape_fn(IxDyn(&[n, n]), |i| {
                ((i[0] * 31 + i[1] * 17 + s) % 64) as f64 / 64.0
            }),
        )
    };
    for n in [64usize, 256] {
        let inputs = vec![Some(mat(n, 1)), Some(mat(n, 2))];
        let op = xpucert::ops::Op::MatMul;
        g.throughput(Throughput::Elements((2 * n * n * n) as u64));
        g.bench_function(format!("matmul_{n}_flops"), |b| {
            b.iter(|| black_box(oracle::evaluate(op, &Default::default(), &inputs).expect("valid")))
        });
    }
    let x = vec![Some(mat(512, 3))];
    let op = xpucert::ops::Op::Softmax;
    g.throughput(Throughput::Elements(512 * 512));
    g.bench_function("softmax_512x512_elements", |b| {
        b.iter(|| black_box(oracle::evaluate(op, &Default::default(), &x).expect("valid")))
    });
    g.finish();
}

fn expansion(c: &mut Criterion) {
    let core = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../suites/ops/core.yaml");
    let cases = xpucert::suite::load(&core)
        .expect("core suite loads")
        .cases
        .len();
    let mut g = c.benchmark_group("suite_expansion");
    g.throughput(Throughput::Elements(cases as u64));
    g.bench_function("core_yaml_cases", |b| {
        b.iter(|| black_box(xpucert::suite::load(&core).expect("loads")))
    });
    g.finish();
}

criterion_group!(benches, checks, oracles, expansion);
criterion_main!(benches);
