#!/usr/bin/env bash
# Regenerates reports/: the compatibility matrix of the bundled backends
# (the reference backend, the C example backend, and the honest variants of
# the mutants backend: correct implementations that compute differently)
# over the core and deepseek suites.
#
#   bash reports/generate.sh            # release build
#   PROFILE=debug bash reports/generate.sh
#
# Writes reports/matrix.md, reports/matrix.html, reports/matrix.json and the
# per-backend results under reports/runs/ (results.json only). The matrix
# holds no timings, so it changes only when a verdict or figure changes.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${PROFILE:-release}"
target="${CARGO_TARGET_DIR:-target}"
if [ "$profile" = release ]; then
  cargo build --release -p xpucert -p xpucert-reference -p xpucert-mutants
else
  cargo build -p xpucert -p xpucert-reference -p xpucert-mutants
fi
make -s -C backends/example-c
x="$target/$profile/xpucert"
suites=(--suite suites/ops/core.yaml --suite suites/ops/deepseek.yaml)
runs=reports/runs
rm -rf "$runs"
mkdir -p "$runs"

# The honest variants of backends/mutants/src/numeric.rs (modes whose
# expectation is `pass`).
honest_modes="honest reversed_sum pairwise_sum fma_matmul blocked_matmul f64_accumulate online_softmax fast_exp tanh_expm1 div_reciprocal declared_tf32 declared_bf16_inputs flush_to_zero flash_attention2 tf32_attention_declared half_io_f32_accumulate flush_inputs_declared flush_both_declared"

run() { # name, then run arguments
  local name="$1"; shift
  # exit 1 (non-conformant) is a result to publish, not an error
  "$x" run "${suites[@]}" --out "$runs/$name" --format json "$@" > /dev/null || [ $? -eq 1 ]
  rm -f "$runs/$name/results.jsonl"
}

run reference --backend reference
run example-c --backend backends/example-c/build/libxpucert_example.so
files=("$runs/reference/results.json" "$runs/example-c/results.json")
for m in $honest_modes; do
  run "mutants-$m" --backend mutants --option "mode=$m"
  files+=("$runs/mutants-$m/results.json")
done

"$x" matrix "${files[@]}" --format md --out reports/matrix.md
"$x" matrix "${files[@]}" --format html --out reports/matrix.html
"$x" matrix "${files[@]}" --format json --out reports/matrix.json
echo "wrote reports/matrix.md, reports/matrix.html, reports/matrix.json"
