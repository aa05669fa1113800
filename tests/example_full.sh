#!/usr/bin/env bash
# Slow test: a Fashion-MNIST example job trained in full through Kiln must reach the data
# set's published bar for this model family (test accuracy >= 0.90).
#   tests/example_full.sh KILN [JOB]   (JOB: job.yaml, job-ddp.yaml or job-mpi.yaml)
set -euo pipefail
kiln="$1"
job="${2:-job.yaml}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export KILN_HOME="$(mktemp -d)"
trap 'rm -rf "$KILN_HOME"' EXIT
"$kiln" datastore register fashion_mnist --path /usr/share/datasets/fashion-mnist
run="$("$kiln" submit "$root/examples/fashion-mnist/$job")"
"$kiln" logs "$run" --follow
python3 - "$KILN_HOME/runs/$run/outputs/metrics.json" "$job" <<'PY'
import json, sys
accuracy = json.load(open(sys.argv[1]))["test_accuracy"]
print(f"{sys.argv[2]}: test accuracy {accuracy:.4f} (bar 0.90)")
sys.exit(0 if accuracy >= 0.90 else 1)
PY
