#!/usr/bin/env bash
# Configures and builds Kiln. Usage: scripts/build.sh [BUILD_DIR [extra cmake args...]]
# The default build folder is build/; the kiln binary lands in BUILD_DIR/kiln. Set
# KILN_BUILD_TARGETS (space-separated) to build only those targets, KILN_CONFIGURE_ONLY=1 to
# stop after configuring. A build folder configured with other arguments is configured
# afresh, so an option given once (-DKILN_SANITIZE=ON) is never silently dropped or kept.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
shift || true

"$root/scripts/setup.sh"
# One compiler cache for every checkout of Kiln on the machine: paths are hashed relative to
# the checkout, so a fresh clone reuses what an earlier one compiled.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=true
# Line tables (-g1) are enough for backtraces and cost a third less compile time than -g.
configure=(cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" "$@")
stamp="$build/kiln-configure-args"
if [[ ! -f "$build/build.ninja" || "$(cat "$stamp" 2>/dev/null)" != "${configure[*]}" ]]; then
  if [[ -f "$build/CMakeCache.txt" ]]; then
    echo "build: $build was configured with other arguments; configuring it afresh" >&2
    rm -f "$build/CMakeCache.txt" "$stamp"
  fi
  "${configure[@]}"
  printf '%s' "${configure[*]}" >"$stamp"
fi
[[ "${KILN_CONFIGURE_ONLY:-}" == 1 ]] && exit 0
targets=()
for target in ${KILN_BUILD_TARGETS:-}; do targets+=(--target "$target"); done
cmake --build "$build" --parallel "$(nproc)" "${targets[@]}"
