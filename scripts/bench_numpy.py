"""numpy (OpenBLAS) side of scripts/bench.sh: f32 matmul and add, timed like
xpucert times a case (warm-up, then calls until a minimum count and time,
median), with fresh inputs per variant so nothing is cached. Prints JSON."""
import json
import sys
import time

import numpy as np


def median_time(fn, variants, warmup, min_iters, min_time, max_time):
    start = time.perf_counter()
    samples = []
    i = 0
    while True:
        args = variants[i % len(variants)]
        t0 = time.perf_counter()
        fn(*args)
        dt = time.perf_counter() - t0
        i += 1
        if i > warmup:
            samples.append(dt)
        el = time.perf_counter() - start
        n = len(samples)
        if (n >= min_iters and el >= min_time) or (n >= 1 and el >= max_time):
            break
    samples.sort()
    return samples[len(samples) // 2], len(samples)


def main():
    rng = np.random.default_rng(6)
    out = {"numpy": np.__version__, "blas": None, "matmul": {}, "add": {}}
    try:
        cfg = np.show_config(mode="dicts")
        out["blas"] = cfg.get("Build Dependencies", {}).get("blas", {}).get("name")
    except Exception:  # older numpy: no dict mode
        pass
    for n in [int(x) for x in sys.argv[1:]] or [1024, 4096]:
        variants = [
            (rng.uniform(-1, 1, (n, n)).astype(np.float32),
             rng.uniform(-1, 1, (n, n)).astype(np.float32))
            for _ in range(2)
        ]
        warm, mi = (1, 5) if n >= 1024 else (2, 10)
        med, iters = median_time(np.matmul, variants, warm, mi, 1.0, 60.0)
        out["matmul"][str(n)] = {"median_s": med, "iterations": iters,
                                 "gflops": 2.0 * n ** 3 / med / 1e9}
    n = 16777216
    variants = [(rng.uniform(-1, 1, n).astype(np.float32),
                 rng.uniform(-1, 1, n).astype(np.float32)) for _ in range(2)]
    dst = np.empty(n, dtype=np.float32)
    med, iters = median_time(lambda a, b: np.add(a, b, out=dst), variants, 2, 10, 1.0, 60.0)
    out["add"] = {"median_s": med, "iterations": iters, "gbps": 12.0 * n / med / 1e9}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
