#!/usr/bin/env bash
# Checks that the C++ under src/, tests/, bench/ and examples/ is formatted as .clang-format
# says (clang-format from scripts/packages.txt). Fix with: scripts/format-check.sh --fix
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mapfile -t files < <(git ls-files -- 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h' \
  'bench/*.cc' 'bench/*.h' 'examples/*.cc' 'examples/*.cpp' 'examples/*.h')
if [[ "${1:-}" == --fix ]]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if ! clang-format --dry-run --Werror "${files[@]}" 2>"$root/.format-check.log"; then
  grep -E '^[^ ].*(warning|error):' "$root/.format-check.log" | cut -d: -f1 | sort | uniq -c \
    | sed 's/^/  /'
  rm -f "$root/.format-check.log"
  echo "format check: FAILED: the files above differ from .clang-format; run scripts/format-check.sh --fix"
  exit 1
fi
rm -f "$root/.format-check.log"
echo "format check: passed (${#files[@]} files)"
