"""Kiln's ONNX engine next to ONNX Runtime and PyTorch eager on the model families people
train, in one run: median ms per inference at batch 1 and 32.

    /usr/bin/python3 bench/python/onnx_families.py [--seconds 3] [--threads 2]
        [--families resnet50,lstm2] [--opset 17] [--no-eager]

Each model (random weights; batch-norm statistics from a random batch) is exported with
kiln.onnx.export (parity checked), then timed on Kiln's engine
(build/bench/onnx_engine_bench), ONNX Runtime (onnxruntime-node, CPU, graph optimisation
'all', installed into build/bench-node as onnx_serving.py does) and PyTorch eager, all with
--threads threads. Families: ResNet-50, MobileNet v3 (large), EfficientNet-B0, ViT-B/16
(224x224 images), a 6-layer BERT-base-width encoder over token ids and a mask at sequence
128, a 2-layer LSTM (width 512) over 128 steps. Target: Kiln >= 1.0x ONNX Runtime on every
row.

PyTorch eager is Debian's python3-torch: its convolutions run on oneDNN, its matmuls on
whichever libblas.so.3 the system selects (Debian's reference BLAS unless OpenBLAS is
installed), so its figures for transformers are far below what a pip wheel gets.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.path.join(ROOT, "build")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(BUILD, "python"))
from onnx_serving import json_lines, onnxruntime_node, torch_eager  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402

SEQUENCE = 128


class BertLayer(nn.Module):
    """A BERT encoder layer as Hugging Face's BertModel writes it: query, key and value
    projections, scaled dot-product attention with the mask as an additive bias, output
    projection, LayerNorm, a GELU feed-forward, LayerNorm."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = (nn.Linear(width, width) for _ in range(3))
        self.output = nn.Linear(width, width)
        self.norm1 = nn.LayerNorm(width, eps=1e-12)
        self.up = nn.Linear(width, 4 * width)
        self.down = nn.Linear(4 * width, width)
        self.norm2 = nn.LayerNorm(width, eps=1e-12)

    def forward(self, x, bias):
        b, s, w = x.shape
        d = w // self.heads

        def split(t):
            return t.view(b, s, self.heads, d).permute(0, 2, 1, 3)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / (d ** 0.5) + bias
        context = torch.matmul(torch.softmax(scores, dim=-1), v)
        context = context.permute(0, 2, 1, 3).reshape(b, s, w)
        x = self.norm1(x + self.output(context))
        return self.norm2(x + self.down(nn.functional.gelu(self.up(x))))


class BertEncoder(nn.Module):
    """BERT-base width (768, 12 heads, feed-forward 3072), 6 layers, over token ids and an
    attention mask; the pooled first token out."""

    def __init__(self, vocab=30522, width=768, heads=12, layers=6):
        super().__init__()
        self.words = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(512, width)
        self.types = nn.Embedding(2, width)
        self.norm = nn.LayerNorm(width, eps=1e-12)
        self.layers = nn.ModuleList(BertLayer(width, heads) for _ in range(layers))
        self.pooler = nn.Linear(width, width)

    def forward(self, ids, mask):
        positions = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.norm(self.words(ids) + self.positions(positions) +
                      self.types(torch.zeros_like(ids)))
        bias = (1.0 - mask[:, None, None, :].float()) * -10000.0
        for layer in self.layers:
            x = layer(x, bias)
        return torch.tanh(self.pooler(x[:, 0]))


class Lstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(256, 512, num_layers=2, batch_first=True)
        self.head = nn.Linear(512, 10)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.head(y[:, -1])


def calibrated(model, sample):
    """Batch-norm statistics measured on a random batch, as training leaves them."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms:
        m.momentum = 1.0
    model.train()
    with torch.no_grad():
        model(*sample)
    for m in norms:
        m.momentum = 0.1
    return model.eval()


def image_model(name):
    import torchvision.models
    return lambda: (getattr(torchvision.models, name)(), (torch.rand(2, 3, 224, 224),), None)


FAMILIES = {
    "resnet50": image_model("resnet50"),
    "mobilenet_v3": image_model("mobilenet_v3_large"),
    "efficientnet_b0": image_model("efficientnet_b0"),
    "vit_b_16": image_model("vit_b_16"),
    "bert6": lambda: (BertEncoder(), (torch.randint(0, 30522, (2, SEQUENCE)),
                                      torch.ones(2, SEQUENCE, dtype=torch.int64)),
                      ["ids", "mask"]),
    "lstm2": lambda: (Lstm(), (torch.randn(2, SEQUENCE, 256),), None),
}


def main():
    import kiln.onnx
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--no-eager", action="store_true",
                        help="skip PyTorch eager (minutes a call for ViT at batch 32 here)")
    args = parser.parse_args()
    batches = [1, 32]
    node_modules = onnxruntime_node()
    directory = tempfile.mkdtemp(prefix="kiln-bench-families-")
    print(f"median ms per inference, {args.threads} threads, opset {args.opset} "
          f"(ratio: the peer's time / Kiln's, > 1 is Kiln faster)")
    print(f"{'model':16} {'batch':>5} {'Kiln':>10} {'ORT':>10} {'PyTorch':>10} {'vs ORT':>7} "
          f"{'vs PyTorch':>10}")
    for name in args.families.split(","):
        torch.manual_seed(0)
        model, samples, names = FAMILIES[name]()
        model = calibrated(model, samples)
        path = os.path.join(directory, f"{name}.onnx")
        open_axes = ({n: {1: "sequence"} for n in names} if names else
                     ({"input": {1: "sequence"}} if name == "lstm2" else None))
        with torch.no_grad():
            scale = float(model(*samples).abs().max())
        # Random weights through a deep network give large outputs: the tolerance is 1e-3
        # of their magnitude (float32 sums in another order).
        report = kiln.onnx.export(model, samples, path, opset=args.opset, input_names=names,
                                  dynamic_axes=open_axes, random_batches=1,
                                  tolerance=1e-3 * max(1.0, scale))
        if not report.parity_checked:
            print(f"{name:16} Kiln's engine cannot run it: {report.engine}")
            continue
        batch_list = ",".join(map(str, batches))
        done = subprocess.run(
            [os.path.join(BUILD, "bench", "onnx_engine_bench"), path, "--threads",
             str(args.threads), "--batches", batch_list, "--seconds", str(args.seconds),
             "--length", str(SEQUENCE)], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{name:16} onnx_engine_bench failed: {done.stderr.strip()}")
            continue
        ours = {r["batch"]: r["ms"] for r in json_lines(done.stdout)}
        specs = [{"name": n, "shape": [1] + [SEQUENCE if d == -1 else d for d in shape[1:]],
                  "type": "float32" if s.is_floating_point() else "int64"}
                 for (n, shape), s in zip(report.inputs, samples)]
        done = subprocess.run(
            ["node", os.path.join(ROOT, "bench", "node", "ort_bench.js"), path,
             str(args.threads), batch_list, str(args.seconds)], capture_output=True, text=True,
            env=dict(os.environ, NODE_PATH=node_modules, KILN_BENCH_INPUTS=json.dumps(specs)))
        if done.returncode != 0:
            print(f"{name:16} ONNX Runtime failed: {done.stderr.strip()}")
            continue
        ort = {r["batch"]: r["ms"] for r in json_lines(done.stdout)}
        eager = ({b: float("nan") for b in batches} if args.no_eager else
                 torch_eager(model, samples, batches, args.threads, args.seconds))
        for b in batches:
            print(f"{name:16} {b:>5} {ours[b]:>10.3f} {ort[b]:>10.3f} {eager[b]:>10.3f} "
                  f"{ort[b] / ours[b]:>6.2f}x {eager[b] / ours[b]:>9.2f}x", flush=True)
        os.remove(path)


if __name__ == "__main__":
    main()
