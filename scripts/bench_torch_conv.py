"""PyTorch CPU f32 Conv timings for the cases of suites/perf/conv.yaml, for
comparison with xpucert's reference backend (scripts/bench_conv.sh).

Each case is timed as xpucert times a throughput case (docs/suite-format.md,
"Throughput"): the suite's warm-up calls, then calls until both its minimum
count and minimum time are reached (or the maximum time); the figure is the
median call. FLOPs are counted as xpucert counts Conv's: 2 per
multiply-accumulate, plus one per output element when there is a bias.
Prints one JSON object. Usage: python bench_torch_conv.py SUITE THREADS
"""
import json, statistics, sys, time

import torch
import yaml

suite_path, threads = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(threads)
suite = yaml.safe_load(open(suite_path))
rule = suite["throughput"]
torch.manual_seed(0)
out = {"torch": torch.__version__, "threads": threads,
       "mkldnn": torch.backends.mkldnn.is_available(), "cases": {}}
with torch.inference_mode():
    for case in suite["cases"]:
        shapes = [i["shape"] for i in case["inputs"]]
        attrs = case.get("attributes", {})
        pads = attrs.get("pads", [0, 0, 0, 0])
        if pads[:2] != pads[2:]:
            sys.exit(f"{case['name']}: asymmetric pads are not expressible in conv2d")
        x, w = torch.randn(*shapes[0]), torch.randn(*shapes[1])
        b = torch.randn(*shapes[2]) if len(shapes) > 2 else None
        args = dict(stride=tuple(attrs.get("strides", [1, 1])), padding=tuple(pads[:2]),
                    groups=attrs.get("group", 1))
        call = lambda: torch.nn.functional.conv2d(x, w, b, **args)
        for _ in range(rule["warmup"]):
            y = call()
        times, start = [], time.perf_counter()
        while True:
            t0 = time.perf_counter()
            y = call()
            times.append(time.perf_counter() - t0)
            spent = time.perf_counter() - start
            if (len(times) >= rule["min_iters"] and spent >= rule["min_time"]) or spent >= rule["max_time"]:
                break
        n, co, ho, wo = y.shape
        macs = n * co * ho * wo * w.shape[1] * w.shape[2] * w.shape[3]
        flops = 2 * macs + (y.numel() if b is not None else 0)
        med = statistics.median(times)
        out["cases"][case["name"]] = {"median_s": med, "gflops": flops / med / 1e9, "iters": len(times)}
print(json.dumps(out))
