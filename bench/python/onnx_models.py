"""The models bench/python/onnx_serving.py measures, and the job that exports them.

As a Kiln job (the benchmark submits this file), it writes outputs/cnn.onnx and
outputs/mlp.onnx with kiln.onnx.export, so they can be registered and served with lineage.
"""

import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


def cnn():
    """The Fashion-MNIST example's CNN (2 conv + batch norm + pooling, 2 linear)."""
    sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "fashion-mnist"))
    try:
        from train import FashionCNN
    except ImportError:  # in the job, the example is not in the snapshot: the same layers
        FashionCNN = _FashionCNN
    torch.manual_seed(0)
    return FashionCNN().eval()


class _FashionCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.dropout = nn.Dropout(0.25)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        f = nn.functional
        x = f.max_pool2d(f.relu(self.bn1(self.conv1(x))), 2)
        x = f.max_pool2d(f.relu(self.bn2(self.conv2(x))), 2)
        x = self.dropout(f.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


def mlp():
    """An MLP over the same images: 784-256-128-10."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                         nn.ReLU(), nn.Linear(128, 10)).eval()


MODELS = {"cnn": cnn, "mlp": mlp}
SHAPE = [1, 1, 28, 28]

if __name__ == "__main__":
    import kiln.onnx
    os.makedirs("outputs", exist_ok=True)
    for name, make in MODELS.items():
        report = kiln.onnx.export(make(), torch.rand([8] + SHAPE[1:]), f"outputs/{name}.onnx")
        print(f"{name}: parity max abs diff {report.max_abs_diff:.2g}")
