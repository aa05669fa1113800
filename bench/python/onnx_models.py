"""The models bench/python/onnx_serving.py measures, and the job that exports them.

As a Kiln job (the benchmark submits this file with --example-dir, as the example is not
in the job's snapshot), it writes outputs/cnn.onnx and outputs/mlp.onnx with
kiln.onnx.export, so they can be registered and served with lineage, and each model's
state_dict beside them (outputs/cnn_state.pt, outputs/mlp_state.pt) for
bench/python/script_serving.py.
"""

import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "fashion-mnist")


def cnn(example_dir=EXAMPLE):
    """The Fashion-MNIST example's CNN (2 conv + batch norm + pooling, 2 linear)."""
    sys.path.insert(0, example_dir)
    from train import FashionCNN
    torch.manual_seed(0)
    return FashionCNN().eval()


def mlp():
    """An MLP over the same images: 784-256-128-10."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                         nn.ReLU(), nn.Linear(128, 10)).eval()


MODELS = {"cnn": cnn, "mlp": mlp}
SHAPE = [1, 1, 28, 28]

if __name__ == "__main__":
    import argparse
    import kiln.onnx
    parser = argparse.ArgumentParser()
    parser.add_argument("--example-dir", default=EXAMPLE)
    args = parser.parse_args()
    os.makedirs("outputs", exist_ok=True)
    models = {"cnn": lambda: cnn(args.example_dir), "mlp": mlp}
    for name, make in models.items():
        model = make()
        report = kiln.onnx.export(model, torch.rand([8] + SHAPE[1:]), f"outputs/{name}.onnx",
                                  strict=True)
        print(f"{name}: parity max abs diff {report.max_abs_diff:.2g}")
        # The same weights for a scoring script (script_serving.py).
        torch.save(model.state_dict(), f"outputs/{name}_state.pt")
