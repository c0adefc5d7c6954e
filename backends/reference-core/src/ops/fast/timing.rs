//! Figures, not assertions (machines are noisy):
//! `cargo test --release -p xpucert-reference-core --lib fast::timing -- --ignored --nocapture`

use super::*;
use std::time::Instant;
use xpucert_abi::TensorRef;

fn median_ms(mut f: impl FnMut(), iters: usize) -> f64 {
    f();
    let mut t: Vec<f64> = (0..iters)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[iters / 2]
}

fn add_call(n: usize, dtype: DType, threads: usize, iters: usize) -> f64 {
    op_call("Add", 2, n, dtype, threads, iters)
}

fn op_call(op: &str, inputs: usize, n: usize, dtype: DType, threads: usize, iters: usize) -> f64 {
    let shape = [n as i64];
    let st = [1i64];
    let a: Vec<u8> = (0..n * dtype.size()).map(|i| (i % 61) as u8).collect();
    let b = a.clone();
    let call = OpCall {
        domain: "",
        op_type: crate::support::find(op).unwrap().name,
        opset: *crate::support::find(op).unwrap().opsets.last().unwrap(),
        attributes: vec![],
        inputs: [&a, &b][..inputs]
            .iter()
            .map(|x| Some(TensorRef::host(dtype, &shape, &st, x).unwrap()))
            .collect(),
        output_specs: vec![(dtype, &shape)],
        output_bounded: vec![false],
    };
    let mut buf = vec![0u8; n * dtype.size()];
    median_ms(
        || {
            let mut outs = [TensorMut::host(dtype, &shape, &mut buf).unwrap()];
            let par = Par {
                threads,
                min_work: PARALLEL_MIN_WORK,
            };
            try_run_with(&call, &mut outs, par).unwrap();
        },
        iters,
    )
}

#[test]
#[ignore = "prints timings"]
fn add_throughput_and_spawn_cost() {
    for dtype in [DType::F32, DType::BF16, DType::F16] {
        for threads in [1, 2] {
            let n = 1 << 24;
            let ms = add_call(n, dtype, threads, 15);
            let gbps = 3.0 * (n * dtype.size()) as f64 / ms / 1e6;
            println!("Add {dtype} 16M, {threads} thread(s): {ms:.2} ms, {gbps:.1} GB/s");
        }
    }
    for op in ["Gelu", "Exp", "Erf", "Tanh"] {
        for threads in [1, 2] {
            let ms = op_call(op, 1, 1 << 22, DType::F32, threads, 5);
            println!(
                "{op} f32 4M, {threads} thread(s): {ms:.2} ms, {:.1} ns/element",
                ms * 1e6 / f64::from(1 << 22)
            );
        }
    }
    // Where two threads start to pay off (the split itself decides
    // by work, so this times the kernel below and above it).
    for n in [1usize << 14, 1 << 16, 1 << 17, 1 << 18, 1 << 20] {
        let one = add_call(n, DType::F32, 1, 200);
        let two = {
            let t0 = Instant::now();
            for _ in 0..200 {
                std::thread::scope(|s| {
                    s.spawn(|| {});
                });
            }
            t0.elapsed().as_secs_f64() * 1e3 / 200.0
        };
        println!("Add f32 n={n}: 1 thread {one:.4} ms; one scoped spawn+join {two:.4} ms");
    }
}
