#!/usr/bin/env bash
# Installs xpucert so that it runs from any directory: the binary, the
# bundled backends, and its data (suites, profiles, CI templates, the C
# header, the scripts that fetch the model checkpoints and ONNX's node tests).
#
#   PREFIX/bin/xpucert
#   PREFIX/lib/xpucert/libxpucert_reference.so, libxpucert_mutants.so
#   PREFIX/share/xpucert/{suites,ci,fixtures,include}
#
# `xpucert` finds PREFIX/share/xpucert and PREFIX/lib/xpucert from its own
# location, so nothing needs setting (XPUCERT_HOME still overrides the data).
# The binary also carries the suites built in, so a `cargo install`ed
# xpucert runs `--suite core` too; what it lacks is the bundled backends.
#
# Usage: scripts/install.sh [--prefix DIR] [--profile release|debug] [--no-build]
#   --prefix DIR    where to install (default: ~/.local)
#   --profile P     the cargo profile to build and install (default: release)
#   --no-build      install what target/P already holds (the tests use this)
# Environment: CARGO (default: cargo), CARGO_TARGET_DIR (default: target).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix="${HOME:-/root}/.local"
profile=release
build=1
die() {
    echo "install: error: $*" >&2
    exit 2
}
while [[ $# -gt 0 ]]; do
    case "$1" in
    --prefix) [[ $# -ge 2 ]] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
    --profile) [[ $# -ge 2 ]] || die "--profile needs release or debug"; profile=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h | --help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
case "$profile" in
release | debug) ;;
*) die "--profile must be release or debug, not '$profile'" ;;
esac

target="${CARGO_TARGET_DIR:-$here/target}/$profile"
if [[ $build -eq 1 ]]; then
    flags=()
    [[ $profile == release ]] && flags=(--release)
    (cd "$here" && "${CARGO:-cargo}" build "${flags[@]}" --locked \
        -p xpucert -p xpucert-reference -p xpucert-mutants)
fi
for f in xpucert libxpucert_reference.so libxpucert_mutants.so; do
    [[ -f "$target/$f" ]] || die "$target/$f is missing (build first, or drop --no-build)"
done

mkdir -p "$prefix/bin" "$prefix/lib/xpucert" "$prefix/share/xpucert/fixtures" "$prefix/share/xpucert/include"
# Copy, then rename: a running xpucert keeps its old binary intact.
install -m 0755 "$target/xpucert" "$prefix/bin/.xpucert.new"
mv -f "$prefix/bin/.xpucert.new" "$prefix/bin/xpucert"
install -m 0755 "$target/libxpucert_reference.so" "$target/libxpucert_mutants.so" "$prefix/lib/xpucert/"
share="$prefix/share/xpucert"
rm -rf "$share/suites" "$share/ci"
cp -R "$here/suites" "$here/ci" "$share/"
install -m 0755 "$here/fixtures/fetch-models.sh" "$here/fixtures/fetch-onnx-tests.sh" "$share/fixtures/"
install -m 0644 "$here/fixtures/models.lock" "$here/fixtures/onnx-tests.lock" "$here/fixtures/README.md" "$share/fixtures/"
install -m 0644 "$here/backends/include/xpucert_backend.h" "$share/include/"

echo "installed $("$prefix/bin/xpucert" --version) into $prefix"
case ":${PATH:-}:" in
*":$prefix/bin:"*) ;;
*) echo "add $prefix/bin to PATH to run \`xpucert\` by name" ;;
esac
