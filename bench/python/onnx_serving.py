"""Kiln's ONNX engine and `kiln serve`, next to ONNX Runtime and PyTorch eager, in one run.

    /usr/bin/python3 bench/python/onnx_serving.py [--seconds 3] [--threads 2]

1. A Kiln job (onnx_models.py) exports the example CNN and an MLP with kiln.onnx.export;
   both are registered (a fresh KILN_HOME).
2. Engine: the median time of one inference at batch 1 and 64 for each model, on Kiln's
   engine (build/bench/onnx_engine_bench), ONNX Runtime (onnxruntime-node, CPU, installed
   here with `npm install --ignore-scripts` into build/bench-node) and PyTorch eager, all
   with --threads threads. Target: Kiln >= 1.0x ONNX Runtime at both batch sizes.
3. Server: `kiln serve` on the CNN, 8 concurrent clients (build/bench/serve_load) sending
   batch-1 requests (dynamic batching on; raw float32 and JSON) and batch-64 requests:
   requests/s, samples/s, p50 and p99 latency.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.path.join(ROOT, "build")
KILN = os.path.join(BUILD, "kiln")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(BUILD, "python"))  # the example's train.py imports kiln
import onnx_models  # noqa: E402


def kiln(env, *args):
    done = subprocess.run([KILN, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"kiln {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def onnxruntime_node():
    folder = os.path.join(BUILD, "bench-node")
    if not os.path.isdir(os.path.join(folder, "node_modules", "onnxruntime-node")):
        os.makedirs(folder, exist_ok=True)
        print("installing onnxruntime-node (benchmark peer only) into", folder, flush=True)
        subprocess.run(["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund",
                        "--prefix", folder, "onnxruntime-node"], check=True,
                       stdout=subprocess.DEVNULL)
    return os.path.join(folder, "node_modules")


def torch_eager(model, samples, batches, threads, seconds):
    """PyTorch eager's median ms for one call of `model` on `samples` (a tuple, batch first)
    at each batch size: rounds of ~1/6 of the warm-up's count, or single calls when one
    takes longer than the warm-up (matmuls on Debian's reference BLAS)."""
    import torch
    torch.set_num_threads(threads)
    out = {}
    with torch.no_grad():
        for batch in batches:
            x = tuple(t[:1].expand(batch, *t.shape[1:]).contiguous() for t in samples)
            warm_until, per_round = time.perf_counter() + 0.3, 0
            while time.perf_counter() < warm_until or per_round == 0:
                model(*x)
                per_round += 1
            per_round = max(1, per_round // 6)
            rounds, end = [], time.perf_counter() + seconds
            while time.perf_counter() < end or len(rounds) < (5 if per_round > 1 else 1):
                start = time.perf_counter()
                for _ in range(per_round):
                    model(*x)
                rounds.append((time.perf_counter() - start) * 1000 / per_round)
            rounds.sort()
            out[batch] = rounds[len(rounds) // 2]
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--load-seconds", type=float, default=5)
    args = parser.parse_args()
    batches = [1, 64]

    home = tempfile.mkdtemp(prefix="kiln-bench-onnx-")
    env = dict(os.environ, KILN_HOME=home)
    run = kiln(env, "submit", "--source-directory", HERE, "--entry-script", "onnx_models.py",
               "--wait", "--", "--example-dir", onnx_models.EXAMPLE).splitlines()[0].strip()
    run_dir = json.loads(kiln(env, "show", run, "--json"))["run_dir"]
    for name in onnx_models.MODELS:
        kiln(env, "model", "register", f"bench-{name}", "--run", run, "--path",
             f"outputs/{name}.onnx")

    node_modules = onnxruntime_node()
    print(f"\nEngine: median ms per inference, {args.threads} threads "
          f"(ratio: ONNX Runtime's time / Kiln's, > 1 is Kiln faster)")
    print(f"{'model':6} {'batch':>5} {'Kiln':>9} {'ORT':>9} {'PyTorch':>9} {'Kiln/s':>10} "
          f"{'vs ORT':>7} {'vs PyTorch':>10}")
    for name, make in onnx_models.MODELS.items():
        path = os.path.join(run_dir, "outputs", f"{name}.onnx")
        batch_list = ",".join(map(str, batches))
        ours = {r["batch"]: r["ms"] for r in json_lines(subprocess.run(
            [os.path.join(BUILD, "bench", "onnx_engine_bench"), path, "--threads",
             str(args.threads), "--batches", batch_list, "--seconds", str(args.seconds)],
            check=True, capture_output=True, text=True).stdout)}
        ort = {r["batch"]: r["ms"] for r in json_lines(subprocess.run(
            ["node", os.path.join(ROOT, "bench", "node", "ort_bench.js"), path,
             str(args.threads), batch_list, str(args.seconds)], check=True, capture_output=True,
            text=True, env=dict(os.environ, NODE_PATH=node_modules,
                                KILN_BENCH_SHAPE=json.dumps(onnx_models.SHAPE))).stdout)}
        import torch
        eager = torch_eager(make(), (torch.rand([1] + onnx_models.SHAPE[1:]),), batches,
                            args.threads, args.seconds)
        for b in batches:
            print(f"{name:6} {b:>5} {ours[b]:>9.4f} {ort[b]:>9.4f} {eager[b]:>9.4f} "
                  f"{b * 1000 / ours[b]:>10.0f} {ort[b] / ours[b]:>6.2f}x {eager[b] / ours[b]:>9.2f}x")

    print("\nServer: kiln serve bench-cnn, 8 concurrent clients, "
          f"{args.load_seconds:g} s each (dynamic batching, --max-batch 64)")
    server = subprocess.Popen([KILN, "serve", "bench-cnn", "--port", "0", "--threads",
                               str(args.threads)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        url = server.stdout.readline().strip().rsplit(" ", 1)[-1]
        print(f"{'requests':22} {'req/s':>9} {'samples/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'errors':>6}")
        for label, batch, extra in (("batch 1, raw float32", 1, []), ("batch 1, JSON", 1, ["--json"]),
                                    ("batch 64, raw float32", 64, [])):
            result = json_lines(subprocess.run(
                [os.path.join(BUILD, "bench", "serve_load"), url, "--clients", "8", "--batch",
                 str(batch), "--seconds", str(args.load_seconds), *extra], check=True,
                capture_output=True, text=True).stdout)[0]
            print(f"{label:22} {result['requests_per_s']:>9.0f} {result['samples_per_s']:>10.0f} "
                  f"{result['p50_ms']:>8.3f} {result['p99_ms']:>8.3f} {result['errors']:>6}")
        served = json.loads(subprocess.run(["curl", "-s", url + "/metadata"], capture_output=True,
                                           text=True).stdout or "{}").get("served", {})
        if served:
            print(f"(the server ran {served['batches']} engine batches for {served['requests']} "
                  f"requests: {served['samples'] / max(1, served['batches']):.1f} samples a batch)")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
