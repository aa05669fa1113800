"""Scores the Fashion-MNIST test set through a `kiln serve` endpoint and compares the
predictions with PyTorch's on the trained model (the run's outputs/model.pt).

    /usr/bin/python3 examples/fashion-mnist/score.py URL RUN_DIR [--limit N] [--batch 100] [--json]

URL serves the run's outputs/model.onnx (raw pixels in [0, 1]); requests carry raw float32
batches. With --json they carry {"inputs": [[784 pixels], ...]}, the body the example's
scoring script (scoring/score.py, serving outputs/model_state.pt) reads. Prints both accuracies and how many predictions agree; exits 1 when fewer than
99.9% do.
"""

import argparse
import json
import os
import sys
import urllib.request

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import load_split  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def score_json(url, images):
    """The body a scoring script reads: {"inputs": [784 pixels, ...]}, one list per image."""
    body = json.dumps({"inputs": images.reshape(len(images), -1).tolist()}).encode()
    request = urllib.request.Request(url + "/score", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.load(reply)["argmax"]


def score(url, images):
    request = urllib.request.Request(
        url + "/score", data=np.ascontiguousarray(images, np.float32).tobytes(),
        headers={"Content-Type": "application/octet-stream",
                 "X-Kiln-Shape": ",".join(map(str, images.shape))})
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.load(reply)["argmax"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("run_dir")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N images")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--json", action="store_true",
                        help="send JSON (as to a scoring script) instead of raw float32")
    args = parser.parse_args()

    x, y = load_split(DATA, "t10k", args.limit)
    served = []
    for i in range(0, len(x), args.batch):
        send = score_json if args.json else score
        served += send(args.url, x[i:i + args.batch].numpy())
    served = torch.tensor(served)

    with open(os.path.join(args.run_dir, "outputs", "metrics.json")) as f:
        metrics = json.load(f)
    model = torch.jit.load(os.path.join(args.run_dir, "outputs", "model.pt")).eval()
    with torch.no_grad():
        normalized = (x - metrics["input_mean"]) / metrics["input_std"]
        eager = torch.cat([model(normalized[i:i + 1000]).argmax(1)
                           for i in range(0, len(x), 1000)])
    same = int((served == eager).sum())
    print(f"Scored {len(x)} test images through {args.url}: accuracy "
          f"{(served == y).float().mean().item():.4f} (PyTorch {(eager == y).float().mean().item():.4f}); "
          f"the same prediction for {same}/{len(x)} ({100.0 * same / len(x):.2f}%)")
    if same < 0.999 * len(x):
        sys.exit("fewer than 99.9% of the predictions agree")


if __name__ == "__main__":
    main()
