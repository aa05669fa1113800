#!/usr/bin/env bash
# The main job: builds Kiln if needed, registers the Fashion-MNIST data set as a datastore,
# submits examples/fashion-mnist/job.yaml to this machine through the embedded store,
# follows its log, and prints the test accuracy it reached.
#
# The store and runs live in $KILN_HOME (default ~/.kiln).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KILN_BUILD_TARGETS="kiln_cli" "$root/scripts/build.sh" >&2
kiln="$root/build/kiln"
data=/usr/share/datasets/fashion-mnist

if ! "$kiln" datastore list --json | grep -q '"name": "fashion_mnist"'; then
  "$kiln" datastore register fashion_mnist --path "$data" >&2
fi

run="$("$kiln" submit "$root/examples/fashion-mnist/job.yaml")"
"$kiln" logs "$run" --follow
status="$("$kiln" show "$run" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')"
if [[ "$status" != Completed ]]; then
  "$kiln" show "$run" >&2
  exit 1
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$kiln" download "$run" outputs/metrics.json -o "$out"
accuracy="$(python3 -c 'import json, sys; print("%.4f" % json.load(open(sys.argv[1]))["test_accuracy"])' "$out/metrics.json")"
echo
echo "Run $run: Completed"
echo "Test accuracy: $accuracy"
echo "Model: $("$kiln" show "$run" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_dir"])')/outputs/model.pt"
