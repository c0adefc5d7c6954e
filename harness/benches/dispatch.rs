//! Per-call dispatch overhead of one tiny op (Relu on 16 f32): a direct C
//! function call; the example C backend in process (`DylibBackend::run`:
//! the harness's raw structs, the C ABI call and the status, around a
//! backend that adds next to nothing, so this is the dispatch cost itself);
//! the reference library in process (the same plus the Rust ABI layer's
//! validation and the reference backend's own per-call work), with and
//! without the memory-safety verification; and the reference through the
//! worker process (frames over pipes).
//!
//! Needs the release libraries: `cargo build --release --workspace` and
//! `make -C backends/example-c`, then `cargo bench -p xpucert --bench dispatch`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use xpucert::backend::call::{Guard, PreparedCall, StoredTensor, contiguous_strides};
use xpucert::backend::{self, DylibBackend, Executor, WorkerBackend};
use xpucert::numerics::DType;
use xpucert::ops::Attributes;

unsafe extern "C" {
    fn xpucert_bench_relu(x: *const f32, y: *mut f32, n: usize);
}

const N: usize = 16;

fn call() -> PreparedCall {
    let x: Vec<f32> = (0..N).map(|i| i as f32 - 8.0).collect();
    let input = StoredTensor::new(
        DType::F32,
        &[N],
        contiguous_strides(&[N]),
        bytemuck::cast_slice(&x),
    );
    let out = StoredTensor::output_with(DType::F32, &[N], Guard::Canary);
    PreparedCall::new(
        "",
        "Relu",
        14,
        &Attributes::new(),
        vec![Some(input)],
        vec![out],
    )
}

fn dispatch(c: &mut Criterion) {
    let mut g = c.benchmark_group("dispatch_relu16");
    let x: Vec<f32> = (0..N).map(|i| i as f32 - 8.0).collect();
    let mut y = vec![0f32; N];
    g.bench_function("direct_c_call", |b| {
        b.iter(|| {
            // SAFETY: x and y hold N f32 each; the C function reads x[0..N]
            // and writes y[0..N] only.
            unsafe { xpucert_bench_relu(black_box(x.as_ptr()), y.as_mut_ptr(), N) };
            black_box(&y);
        })
    });

    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../backends/example-c/build/libxpucert_example.so");
    if example.is_file() {
        let c_backend = DylibBackend::open(&example, &[]).expect("example-c loads");
        let mut c0 = call();
        g.bench_function("in_process_abi_example_c", |b| {
            b.iter(|| c_backend.run(black_box(&mut c0)).expect("relu runs"))
        });
    } else {
        eprintln!(
            "skipping in_process_abi_example_c: {} is not built (make -C backends/example-c)",
            example.display()
        );
    }

    let lib = backend::resolve("reference").expect("reference library is built");
    let dylib = DylibBackend::open(&lib, &[]).expect("reference loads");
    let mut c1 = call();
    g.bench_function("in_process_abi", |b| {
        b.iter(|| dylib.run(black_box(&mut c1)).expect("relu runs"))
    });
    let mut c2 = call();
    let mut ex: Box<dyn Executor> = Box::new(dylib);
    g.bench_function("in_process_executor_with_verification", |b| {
        b.iter(|| {
            ex.run(black_box(&mut c2), Duration::from_secs(10))
                .expect("relu runs")
        })
    });

    // The worker is this harness's binary; a bench binary is not, so point
    // the worker launcher at it.
    // The library may be found in the profile directory or its deps/.
    let worker_exe = lib
        .ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join("xpucert"))
        .find(|p| p.is_file());
    if let Some(exe) = worker_exe {
        set_worker_exe(&exe);
        let mut w = WorkerBackend::open(&lib, &[], Duration::from_secs(30)).expect("worker starts");
        let mut c3 = call();
        g.bench_function("worker_process", |b| {
            b.iter(|| {
                w.run(black_box(&mut c3), Duration::from_secs(10))
                    .expect("relu runs")
            })
        });
    } else {
        eprintln!(
            "skipping worker_process: no xpucert binary next to {}",
            lib.display()
        );
    }
    g.finish();
}

fn set_worker_exe(exe: &std::path::Path) {
    // SAFETY: the bench is single-threaded at this point (criterion runs
    // benchmarks sequentially and no worker has been spawned yet).
    unsafe { std::env::set_var(xpucert::backend::worker::WORKER_EXE_ENV, exe) };
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
