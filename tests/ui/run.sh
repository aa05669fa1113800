#!/usr/bin/env bash
# The browser tests of Kiln Studio (tests/ui/*.test.mjs): each file starts a real
# `kiln server` from BUILD_DIR in a temporary home, makes its runs with real jobs, and drives
# Debian's Chromium with playwright-core (from ui/node_modules).
#
#   tests/ui/run.sh BUILD_DIR [--ui-from-source | --ui-dir DIR] [--screenshots DIR] [-- NODE_TEST_ARGS...]
#   (test files among NODE_TEST_ARGS run alone: -- tests/ui/edit.test.mjs)
#
# --ui-from-source  serve ui/src as it is now (ui/build.mjs into a temporary folder,
#                   KILN_UI_DIR) instead of the UI compiled into BUILD_DIR/kiln
# --ui-dir DIR      serve this `ui/build.mjs --out` folder instead
# --screenshots DIR where the page screenshots go (default BUILD_DIR/ui-screenshots; "docs"
#                   for docs/ui, "0" for none)
# Exit status: node's (0 when every test passed); 2 on a usage error; 1 when something the
# tests need is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

usage() {
  sed -n '6,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[[ $# -ge 1 ]] || usage
build="$(cd "$1" && pwd)" || usage
shift
from_source=0
ui_dir=""
shots="$build/ui-screenshots"
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ui-from-source) from_source=1 ;;
    --ui-dir) [[ $# -ge 2 ]] || usage; ui_dir="$(cd "$2" && pwd)"; shift ;;
    --screenshots) [[ $# -ge 2 ]] || usage; shots="$2"; shift ;;
    --) shift; extra=("$@"); break ;;
    *) usage ;;
  esac
  shift
done
[[ $shots == docs ]] && shots="$root/docs/ui"

missing() {
  echo "tests/ui/run.sh: $1" >&2
  exit 1
}
[[ -x $build/kiln ]] || missing "no kiln binary at $build/kiln"
command -v node > /dev/null || missing "node is not installed (Debian: apt-get install nodejs)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[[ $node_major -ge 18 ]] || missing "node $node_major is too old: 18 or newer"
chromium="${KILN_UI_CHROMIUM:-/usr/bin/chromium}"
[[ -x $chromium ]] || missing "no Chromium at $chromium (Debian: apt-get install chromium; or set KILN_UI_CHROMIUM)"
for package in playwright-core axe-core pngjs; do
  [[ -d $root/ui/node_modules/$package ]] ||
    missing "ui/node_modules/$package is missing: (cd ui && npm ci --offline)"
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/kiln-ui-run.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
if [[ $from_source == 1 ]]; then
  node "$root/ui/build.mjs" --out "$tmp/ui" > /dev/null
  export KILN_UI_DIR="$tmp/ui"
elif [[ -n $ui_dir ]]; then
  export KILN_UI_DIR="$ui_dir"
else
  unset KILN_UI_DIR
fi

export KILN_BINARY="$build/kiln"
export KILN_UI_CHROMIUM="$chromium"
export KILN_UI_SCREENSHOTS="$shots"
# One test file at a time: each runs a server, jobs and a browser, and one of them times a
# live log to the millisecond (the files also take a lock, for node versions without the flag).
concurrency=()
if node --help 2> /dev/null | grep -q -- '--test-concurrency'; then
  concurrency=(--test-concurrency=1)
fi

cd "$root"
status=0
# Test files named after -- run alone; otherwise every file.
files=(tests/ui/*.test.mjs)
for arg in "${extra[@]}"; do
  [[ $arg == *.test.mjs ]] && files=()
done
node --test "${concurrency[@]}" "${extra[@]}" "${files[@]}" || status=$?
exit "$status"
