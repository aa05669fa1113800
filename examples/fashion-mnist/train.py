"""Fashion-MNIST CNN, trained as a Kiln job.

Reads the idx files of Debian's dataset-fashion-mnist (through a datastore passed as
--data_dir), trains a small CNN (2 conv + batch norm + pooling, 2 linear), evaluates on the
test set after every epoch, and writes to outputs/:
  model.pt      the trained model as TorchScript (torch.jit.load works without this file)
  model_state.pt  the served model's state_dict (Normalized: the weights and the
                normalisation), for a scoring script that builds the model from this file's
                classes (scoring/score.py; docs/serving.md, "Scoring scripts")
  model.onnx    the model for serving, in ONNX: pixels in [0, 1] in (the normalisation is
                part of it), logits out; exported with kiln.onnx.export, which checked it
                against PyTorch on Kiln's engine (model.onnx.parity.json has the figures)
  metrics.json  test accuracy and loss, the training loss at the start and the end, and the
                normalisation model.pt expects (model.onnx has it built in)
It logs to its Kiln run: the loss of every step, the test accuracy, test loss and learning
rate of every epoch, and a confusion-matrix image. Run bare (PYTHONPATH=build/python), the
run is offline and prints what it would log.
"""

import argparse
import gzip
import json
import os
import struct
import time

import matplotlib
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import kiln.onnx
from kiln import Run

matplotlib.use("Agg")  # no display in a job
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049


def read_idx(path):
    """Reads an idx file (gzip or plain) into a numpy array."""
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path = path + ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == IDX_IMAGES_MAGIC:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(count, 1, rows, cols)
    if magic == IDX_LABELS_MAGIC:
        return np.frombuffer(data, np.uint8, offset=8)
    raise ValueError(f"{path}: not an idx file (magic {magic})")


def load_split(data_dir, prefix, limit):
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte"))
    if limit:
        images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


class FashionCNN(nn.Module):
    def __init__(self, dropout=0.25):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = self.dropout(F.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


class Normalized(nn.Module):
    """The model as it is served: raw pixels in [0, 1] in, logits out."""

    def __init__(self, model, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, x):
        return self.model((x - self.mean) / self.std)


def evaluate(model, x, y, batch_size=1000):
    """Test loss, accuracy and the confusion matrix (rows: true class, columns: predicted)."""
    model.eval()
    loss = 0.0
    confusion = torch.zeros(10, 10, dtype=torch.int64)
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            logits = model(x[i:i + batch_size])
            loss += F.cross_entropy(logits, y[i:i + batch_size], reduction="sum").item()
            predicted = logits.argmax(1)
            confusion += torch.bincount(y[i:i + batch_size] * 10 + predicted,
                                        minlength=100).reshape(10, 10)
    accuracy = confusion.diag().sum().item() / len(x)
    return loss / len(x), accuracy, confusion


def confusion_figure(confusion):
    figure, axes = plt.subplots(figsize=(7, 6))
    axes.imshow(confusion.numpy(), cmap="Blues")
    axes.set_xticks(range(10), CLASSES, rotation=45, ha="right")
    axes.set_yticks(range(10), CLASSES)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    threshold = confusion.max().item() / 2
    for row in range(10):
        for column in range(10):
            count = confusion[row, column].item()
            axes.text(column, row, count, ha="center", va="center", fontsize=7,
                      color="white" if count > threshold else "black")
    figure.tight_layout()
    return figure


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", required=True, help="folder with the idx files")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.003, help="peak learning rate")
    parser.add_argument("--train_limit", type=int, default=0, help="use only N training images")
    parser.add_argument("--test_limit", type=int, default=0, help="use only N test images")
    parser.add_argument("--threads", type=int, default=0, help="0: one per CPU we may use")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dropout", type=float, default=0.25, help="before the last layer")
    args = parser.parse_args()

    run = Run.get_context()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    train_x, train_y = load_split(args.data_dir, "train", args.train_limit)
    test_x, test_y = load_split(args.data_dir, "t10k", args.test_limit)
    mean, std = train_x.mean(), train_x.std()
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    print(f"train {len(train_x)} images, test {len(test_x)}, {torch.get_num_threads()} threads")

    model = FashionCNN(args.dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = (len(train_x) + args.batch_size - 1) // args.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)

    first_loss, recent = None, []
    for epoch in range(1, args.epochs + 1):
        model.train()
        started = time.time()
        order = torch.randperm(len(train_x))
        for step in range(steps_per_epoch):
            batch = order[step * args.batch_size:(step + 1) * args.batch_size]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(train_x[batch]), train_y[batch])
            loss.backward()
            optimizer.step()
            schedule.step()
            run.log("loss", loss.item())
            recent = (recent + [loss.item()])[-20:]
            if first_loss is None:
                first_loss = loss.item()
            if (step + 1) % 100 == 0:
                print(f"epoch {epoch} step {step + 1}/{steps_per_epoch} "
                      f"loss {sum(recent) / len(recent):.4f}")
        test_loss, test_accuracy, confusion = evaluate(model, test_x, test_y)
        run.log("test_accuracy", test_accuracy, step=epoch)
        run.log("test_loss", test_loss, step=epoch)
        run.log("lr", schedule.get_last_lr()[0], step=epoch)
        print(f"epoch {epoch}/{args.epochs} train_loss {sum(recent) / len(recent):.4f} "
              f"test_loss {test_loss:.4f} test_accuracy {test_accuracy:.4f} "
              f"({time.time() - started:.1f}s)")

    run.log_image("confusion_matrix", plot=confusion_figure(confusion))
    os.makedirs("outputs", exist_ok=True)
    model.eval()
    torch.jit.script(model).save("outputs/model.pt")
    torch.save(Normalized(model, mean, std).state_dict(), "outputs/model_state.pt")
    # strict: the example serves this model next, so Kiln's engine must be able to run it.
    parity = kiln.onnx.export(Normalized(model, mean, std), test_x[:64] * std + mean,
                              "outputs/model.onnx", strict=True)
    print(f"outputs/model.onnx: parity with PyTorch: max abs diff {parity.max_abs_diff:.2g}")
    metrics = {"test_accuracy": test_accuracy, "test_loss": test_loss,
               "first_train_loss": first_loss, "last_train_loss": sum(recent) / len(recent),
               "epochs": args.epochs, "train_images": len(train_x), "test_images": len(test_x),
               "input_mean": float(mean), "input_std": float(std),
               "classes": CLASSES}
    with open("outputs/metrics.json", "w") as f:
        json.dump(metrics, f, indent=2)
    print(f"test_accuracy {test_accuracy:.4f}")


if __name__ == "__main__":
    main()
