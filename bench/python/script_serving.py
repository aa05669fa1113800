"""`kiln serve` through a scoring script, next to the same model on Kiln's ONNX engine, in one
run (docs/serving.md, "Scoring scripts").

    /usr/bin/python3 bench/python/script_serving.py [--build build] [--seconds 5]
                                                    [--clients 8] [--workers 2] [--threads 2]

1. A Kiln job (onnx_models.py) exports the example CNN with kiln.onnx.export and saves its
   state_dict; both files are registered (a fresh KILN_HOME): bench-cnn (onnx) and
   bench-cnn-weights (state_dict), the same weights.
2. bench-cnn-weights is deployed with a scoring script that builds the CNN from the
   example's train.py, loads the state_dict and scores {"inputs": [[784 pixels], ...]} with
   PyTorch, answering what the ONNX path answers (outputs and argmax).
3. Each is served in turn (the peer first): `kiln serve bench-cnn --threads T` (dynamic
   batching) and `kiln serve bench-cnn-weights --workers W`, each worker's torch with T / W
   threads, so both use the same cores. `--clients` concurrent clients (build/bench/serve_load,
   keep-alive connections) send the same JSON batch-1 requests for --seconds, then batch-32
   ones: requests/s, p50 and p99 latency, and the ratio of the scoring script's figures to
   ONNX's.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
EXAMPLE = os.path.join(ROOT, "examples", "fashion-mnist")

SCORE = """
    import json
    import os

    import torch

    from train import FashionCNN

    model = None


    def init():
        global model
        torch.set_num_threads(int(os.environ["BENCH_TORCH_THREADS"]))
        model = FashionCNN()
        path = os.path.join(os.environ["KILN_MODEL_DIR"], "cnn_state.pt")
        model.load_state_dict(torch.load(path, map_location="cpu"))
        model.eval()


    def run(raw_data):
        x = torch.tensor(json.loads(raw_data)["inputs"], dtype=torch.float32)
        with torch.no_grad():
            logits = model(x.reshape(-1, 1, 28, 28))
        return {"outputs": {"output": logits.tolist()}, "argmax": logits.argmax(1).tolist()}
"""


def kiln(binary, env, *args):
    done = subprocess.run([binary, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"kiln {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def load(build, url, clients, batch, seconds):
    done = subprocess.run(
        [os.path.join(build, "bench", "serve_load"), url, "--clients", str(clients), "--batch",
         str(batch), "--seconds", str(seconds), "--json", "--shape", "1,28,28"],
        check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def serve(binary, env, args, build, clients, seconds, batches):
    server = subprocess.Popen([binary, "serve", *args, "--port", "0"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        if "listening on" not in line:
            sys.exit(f"kiln serve {' '.join(args)} did not start")
        url = line.strip().rsplit(" ", 1)[-1]
        load(build, url, clients, 1, 1)  # warm up: first requests, allocations
        return {b: load(build, url, clients, b, seconds) for b in batches}
    finally:
        server.terminate()
        server.wait(timeout=60)
        server.stdout.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    binary = os.path.join(os.path.abspath(args.build), "kiln")
    build = os.path.abspath(args.build)
    batches = [1, 32]

    home = tempfile.mkdtemp(prefix="kiln-bench-script-")
    env = dict(os.environ, KILN_HOME=home,
               BENCH_TORCH_THREADS=str(max(1, args.threads // args.workers)))
    run = kiln(binary, env, "submit", "--source-directory", HERE, "--entry-script",
               "onnx_models.py", "--wait", "--", "--example-dir", EXAMPLE).splitlines()[0].strip()
    kiln(binary, env, "model", "register", "bench-cnn", "--run", run, "--path",
         "outputs/cnn.onnx")
    kiln(binary, env, "model", "register", "bench-cnn-weights", "--run", run, "--path",
         "outputs/cnn_state.pt")
    # The scoring script's folder: the script and the example's train.py (the CNN's class).
    folder = os.path.join(home, "scoring")
    os.makedirs(folder)
    with open(os.path.join(folder, "score.py"), "w") as f:
        f.write(textwrap.dedent(SCORE))
    with open(os.path.join(EXAMPLE, "train.py")) as src, \
            open(os.path.join(folder, "train.py"), "w") as dst:
        dst.write(src.read())
    kiln(binary, env, "model", "deploy", "bench-cnn-weights", "--source-directory", folder,
         "--entry-script", "score.py")

    print(f"kiln serve of the example CNN, {args.clients} concurrent clients, JSON requests, "
          f"{args.seconds:g} s each")
    onnx = serve(binary, env, ["bench-cnn", "--threads", str(args.threads)], build,
                 args.clients, args.seconds, batches)
    script = serve(binary, env, ["bench-cnn-weights", "--workers", str(args.workers)], build,
                   args.clients, args.seconds, batches)
    print(f"{'server':44} {'batch':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    rows = ((f"ONNX, Kiln's engine ({args.threads} threads)", onnx),
            (f"scoring script ({args.workers} workers x "
             f"{max(1, args.threads // args.workers)} torch threads)", script))
    for label, results in rows:
        for b in batches:
            r = results[b]
            print(f"{label:44} {b:>5} {r['requests_per_s']:>9.1f} {r['p50_ms']:>8.2f} "
                  f"{r['p99_ms']:>8.2f} {r['errors']:>6}")
    for b in batches:
        rate = script[b]["requests_per_s"] / max(onnx[b]["requests_per_s"], 1e-9)
        tail = script[b]["p99_ms"] / max(onnx[b]["p99_ms"], 1e-9)
        print(f"batch {b}: scoring script / ONNX: {rate:.2f}x the requests/s, "
              f"{tail:.2f}x the p99 latency")


if __name__ == "__main__":
    main()
