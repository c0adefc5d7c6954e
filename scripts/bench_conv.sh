#!/usr/bin/env bash
# Conv throughput of the reference backend against PyTorch CPU (f32) at
# ResNet-50 and PP-OCRv4 layer shapes (suites/perf/conv.yaml), quoted in
# docs/performance.md. Interleaved: xpucert, PyTorch, xpucert, PyTorch, ...
# ($XPUCERT_BENCH_ROUNDS rounds, default 2), at 1 thread and at all cores,
# and every ratio is between the two runs of one round. PyTorch comes from
# PyPI into $TORCH_VENV (default under the cargo target directory; several
# GB, because PyPI's Linux torch wheel depends on the CUDA libraries).
# Usage: scripts/bench_conv.sh   (env: CARGO_TARGET_DIR, TORCH_VENV,
#        XPUCERT_BENCH_ROUNDS, XPUCERT_BENCH_THREADS="1 2")
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=$TARGET/bench-conv
SUITE=suites/perf/conv.yaml
TORCH_VENV=${TORCH_VENV:-$TARGET/bench-torch-venv}
ROUNDS=${XPUCERT_BENCH_ROUNDS:-2}
THREADS=${XPUCERT_BENCH_THREADS:-"1 $(nproc)"}
rm -rf "$OUT"
mkdir -p "$OUT"

echo "== building (release)" >&2
cargo build --release -p xpucert -p xpucert-reference --quiet
XPU=$TARGET/release/xpucert

if ! "$TORCH_VENV/bin/python" -c "import torch, yaml" 2>/dev/null; then
  echo "== installing PyTorch and PyYAML into $TORCH_VENV (PyPI)" >&2
  python3 -m venv "$TORCH_VENV"
  "$TORCH_VENV/bin/pip" install --quiet torch pyyaml
fi

for t in $THREADS; do
  for r in $(seq 1 "$ROUNDS"); do
    echo "== round $r, $t thread(s): xpucert reference" >&2
    XPUCERT_REFERENCE_THREADS=$t "$XPU" run --backend reference --suite "$SUITE" \
      --out "$OUT/ref-t$t-r$r" --format json > /dev/null
    echo "== round $r, $t thread(s): PyTorch" >&2
    "$TORCH_VENV/bin/python" scripts/bench_torch_conv.py "$SUITE" "$t" > "$OUT/torch-t$t-r$r.json"
  done
done

python3 - "$OUT" "$ROUNDS" $THREADS <<'PY'
import json, os, sys
out, rounds, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def ref(t, r):
    res = json.load(open(os.path.join(out, f"ref-t{t}-r{r}", "results.json")))
    return {c["id"].rsplit(".", 1)[1]: c for c in res["cases"]}
def torch(t, r):
    return json.load(open(os.path.join(out, f"torch-t{t}-r{r}.json")))
first = torch(threads[0], 1)
print(f"host: {os.cpu_count()} cpus; PyTorch {first['torch']} (mkldnn {first['mkldnn']}); "
      f"{rounds} interleaved rounds per thread count")
for t in threads:
    print()
    print(f"{t} thread(s): GFLOP/s, reference / PyTorch per round")
    print()
    print("| layer | reference | PyTorch | ratio |")
    print("|---|---|---|---|")
    runs = [(ref(t, r), torch(t, r)) for r in range(1, rounds + 1)]
    for name in runs[0][1]["cases"]:
        g = [a[name]["throughput"]["gflops"] for a, _ in runs]
        p = [b["cases"][name]["gflops"] for _, b in runs]
        bad = [a[name]["status"] for a, _ in runs if a[name]["status"] != "pass"]
        fmt = lambda v: " / ".join(f"{x:.1f}" for x in v)
        ratio = " / ".join(f"{x / y:.2f}" for x, y in zip(g, p))
        print(f"| {name}{' (' + ','.join(bad) + ')' if bad else ''} | {fmt(g)} | {fmt(p)} | {ratio} |")
PY
