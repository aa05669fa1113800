#!/usr/bin/env bash
# Configures and builds Kiln. Usage: scripts/build.sh [BUILD_DIR [extra cmake args...]]
# The default build folder is build/; the kiln binary lands in BUILD_DIR/kiln. Set
# KILN_BUILD_TARGETS (space-separated) to build only those targets.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
shift || true

"$root/scripts/setup.sh"
export CCACHE_DIR="${CCACHE_DIR:-$root/.cache/ccache}"
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
fi
targets=()
for target in ${KILN_BUILD_TARGETS:-}; do targets+=(--target "$target"); done
cmake --build "$build" --parallel "$(nproc)" "${targets[@]}"
