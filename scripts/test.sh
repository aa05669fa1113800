#!/usr/bin/env bash
# The test suite: installs what is missing (scripts/setup.sh), checks the C++ formatting,
# checks the set-up on a fresh Debian 12 root (as root), builds Kiln, runs every test (unit,
# end-to-end, and the cluster tests on a 2-node Slurm cluster that ctest
# starts in network namespaces: root), then builds everything with AddressSanitizer and
# UndefinedBehaviorSanitizer and runs the unit and end-to-end tests again.
# A test that is skipped fails the suite unless tests/allowed-skips.txt names it with its
# reason (docs/testing.md).
# Slow tests (full training runs) are left out; run them with: ctest --test-dir build -L slow
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="$(nproc)"

# Runs ctest with the given arguments; fails on no tests and on a skip not allowed.
run_ctest() {
  local build="$1"
  shift
  local junit="$build/ctest-results.xml" tally="$build/fault-tally.tsv" status=0
  rm -f "$junit" "$tally"
  ctest --test-dir "$build" --output-on-failure --no-tests=error -j "$jobs" \
    --output-junit "$junit" "$@" || status=$?
  # The fault suite's figures (docs/testing.md), passed or not.
  if [[ -f "$tally" ]]; then
    echo "Fault suite:"
    "$build/tests/fault_tally_report" "$tally" || true
  fi
  [[ $status == 0 ]] || return "$status"
  /usr/bin/python3 "$root/scripts/check_skips.py" "$junit" "$root/tests/allowed-skips.txt"
}

"$root/scripts/setup.sh"
"$root/scripts/format-check.sh"
"$root/scripts/fresh-root-check.sh"

"$root/scripts/build.sh" "$root/build"
run_ctest "$root/build" -LE slow

"$root/scripts/build.sh" "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON \
  -DKILN_BUILD_BENCH=OFF
export UBSAN_OPTIONS=print_stacktrace=1
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp"
ASAN_OPTIONS=detect_leaks=1 run_ctest "$root/build-asan" -L unit
# The end-to-end tests run Python, which loads the instrumented kiln module only when the
# ASan runtime is loaded first, and libstdc++ with it (so ASan finds the C++ runtime that
# PyTorch throws through). CPython leaves memory to the OS at exit, so no leak checks, and
# ASan must not turn a rank's SIGSEGV, which the tests provoke, into an exit code.
LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)" \
  ASAN_OPTIONS=detect_leaks=0:handle_segv=0 \
  run_ctest "$root/build-asan" -L e2e -LE slow
