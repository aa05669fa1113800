#!/usr/bin/env bash
# The test suite: builds Kiln, runs every test (unit, end-to-end, and the cluster tests on a
# 2-node Slurm cluster that ctest starts in network namespaces: root), then builds everything
# with AddressSanitizer and UndefinedBehaviorSanitizer and runs the unit and end-to-end
# tests again.
# Slow tests (full training runs) are left out; run them with: ctest --test-dir build -L slow
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="$(nproc)"

"$root/scripts/build.sh" "$root/build"
ctest --test-dir "$root/build" --output-on-failure -j "$jobs" -LE slow

"$root/scripts/build.sh" "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON \
  -DKILN_BUILD_BENCH=OFF
export UBSAN_OPTIONS=print_stacktrace=1
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp"
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir "$root/build-asan" --output-on-failure -j "$jobs" -L unit
# The end-to-end tests run Python, which loads the instrumented kiln module only when the
# ASan runtime is loaded first, and libstdc++ with it (so ASan finds the C++ runtime that
# PyTorch throws through). CPython leaves memory to the OS at exit, so no leak checks, and
# ASan must not turn a rank's SIGSEGV, which the tests provoke, into an exit code.
LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)" \
  ASAN_OPTIONS=detect_leaks=0:handle_segv=0 \
  ctest --test-dir "$root/build-asan" --output-on-failure -j "$jobs" -L e2e -LE slow
