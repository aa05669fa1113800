#!/usr/bin/env bash
# The main job: builds Kiln if needed, submits the Fashion-MNIST example to this machine
# through the Python SDK (examples/fashion-mnist/submit.py, which registers the data set as
# a datastore first and the exported ONNX model as the next version of fashion-mnist),
# follows its log, then prints its metric summary, the path of a plot of its curves, and the
# test accuracy it reached; finally it serves the model (kiln serve) and scores the whole
# test set through the endpoint against PyTorch (examples/fashion-mnist/score.py), and says
# how to see the run in Kiln Studio, the web UI (kiln ui).
#
# The store and runs live in $KILN_HOME (default ~/.kiln).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KILN_BUILD_TARGETS="kiln_cli kiln_python" "$root/scripts/build.sh" >&2
kiln="$root/build/kiln"
home="${KILN_HOME:-$HOME/.kiln}"

id_file="$(mktemp)"
trap 'rm -f "$id_file"' EXIT
PYTHONPATH="$root/build/python" /usr/bin/python3 "$root/examples/fashion-mnist/submit.py" \
  --run-id-file "$id_file"
run="$(cat "$id_file")"

echo
"$kiln" metrics "$run"
mkdir -p "$home/plots"
plot="$home/plots/$run.png"
"$kiln" plot "$run" loss test_accuracy -o "$plot" 2>/dev/null
run_dir="$("$kiln" show "$run" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["run_dir"])')"
accuracy="$(python3 -c 'import json, sys; print("%.4f" % json.load(open(sys.argv[1]))["test_accuracy"])' "$run_dir/outputs/metrics.json")"
echo
echo "Run $run: Completed"
echo "Plot of loss and test accuracy: $plot"
echo "Model: $run_dir/outputs/model.pt"
echo "Test accuracy: $accuracy"

echo
"$kiln" model show fashion-mnist
serve_out="$(mktemp)"
"$kiln" serve fashion-mnist --port 0 >"$serve_out" 2>/dev/null &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$id_file" "$serve_out"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$serve_out" && break; sleep 0.1; done
url="$(sed -n 's/.* listening on //p' "$serve_out")"
[ -n "$url" ] || { echo "kiln serve did not start" >&2; exit 1; }
PYTHONPATH="$root/build/python" /usr/bin/python3 "$root/examples/fashion-mnist/score.py" "$url" "$run_dir"

echo
echo "See run $run in Kiln Studio, the web UI: $kiln ui"
echo "(it prints the address to open and the token to sign in with; Ctrl-C stops it)"
