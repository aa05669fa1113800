"""Training throughput at 2 ranks: kiln.hvd's DistributedOptimizer against PyTorch's
DistributedDataParallel on gloo, and against the same ranks training without any
communication (the bound), measured in the same run.

    PYTHONPATH=build/python /usr/bin/python3 bench/python/hvd_training.py [--models cnn resnet18]

Synthetic data, in the manner of Horovod's pytorch_synthetic_benchmark: after warm-up
batches, --iters timings of --batches_per_iter batches each; img/s summed over the ranks,
mean and spread (1.96 standard deviations). Ranks start as Kiln's launcher starts them
(RANK, WORLD_SIZE, MASTER_ADDR/PORT), one CPU thread each. Targets: kiln / ddp >= 1.0 and
kiln / bound >= 0.9.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "fashion-mnist")


def resnet18(classes=1000):
    """ResNet-18 (He et al. 2015): 4 stages of 2 basic blocks, 11.7 M parameters."""
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.bn2(self.conv2(self.bn1(self.conv1(x)).relu()))
            return (out + (x if self.down is None else self.down(x))).relu()

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
              nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, classes)]
    return nn.Sequential(*layers)


def worker(mode, model_name, args, out_path):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if model_name == "cnn":
        sys.path.insert(0, EXAMPLE)
        from train import FashionCNN
        model, shape, classes = FashionCNN(), (1, 28, 28), 10
    else:
        model, shape, classes = resnet18(), (3, 224, 224), 1000
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    if mode == "kiln":
        import kiln.hvd as hvd
        hvd.init()
        hvd.broadcast_parameters(model.state_dict(), root_rank=0)
        optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters())
    elif mode == "ddp":
        import torch.distributed as dist
        dist.init_process_group("gloo", init_method="env://")
        model = torch.nn.parallel.DistributedDataParallel(model)
    data = torch.randn(args.batch_size, *shape)
    target = torch.randint(0, classes, (args.batch_size,))

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(data), target).backward()
        optimizer.step()

    for _ in range(args.warmup):
        step()
    rates = []
    for _ in range(args.iters):
        started = time.perf_counter()
        for _ in range(args.batches_per_iter):
            step()
        rates.append(args.batch_size * args.batches_per_iter / (time.perf_counter() - started))
    with open(f"{out_path}.{rank}", "w") as f:
        json.dump(rates, f)
    if mode == "kiln":
        hvd.shutdown()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(mode, model_name, args):
    out = tempfile.mktemp()
    port = free_port()
    passed = ["--batch_size", str(args.batch_size), "--warmup", str(args.warmup), "--iters",
              str(args.iters), "--batches_per_iter", str(args.batches_per_iter)]
    procs = [subprocess.Popen(["/usr/bin/python3", __file__, "--worker", mode, model_name, out]
                              + passed,
                              env=dict(os.environ, RANK=str(r), WORLD_SIZE=str(args.ranks),
                                       LOCAL_RANK=str(r), LOCAL_WORLD_SIZE=str(args.ranks),
                                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                                       OMP_NUM_THREADS="1"))
             for r in range(args.ranks)]
    if any(p.wait() for p in procs):
        sys.exit(f"hvd_training: a {mode} rank failed")
    per_rank = []
    for r in range(args.ranks):
        with open(f"{out}.{r}") as f:
            per_rank.append(json.load(f))
        os.unlink(f"{out}.{r}")
    totals = [sum(rates) for rates in zip(*per_rank)]
    spread = 1.96 * statistics.stdev(totals) if len(totals) > 1 else 0.0
    return statistics.mean(totals), spread


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["cnn", "resnet18"])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--batch_size", type=int, default=0, help="0: 64 for cnn, 16 resnet18")
    parser.add_argument("--warmup", type=int, default=0, help="0: 10 for cnn, 2 for resnet18")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--batches_per_iter", type=int, default=0, help="0: 20 cnn, 2 resnet18")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker[0], args.worker[1], args, args.worker[2])
    for model_name in args.models:
        cnn = model_name == "cnn"
        run = argparse.Namespace(**vars(args))
        run.batch_size = args.batch_size or (64 if cnn else 16)
        run.warmup = args.warmup or (10 if cnn else 2)
        run.batches_per_iter = args.batches_per_iter or (20 if cnn else 2)
        results = {mode: measure(mode, model_name, run) for mode in ("kiln", "ddp", "bound")}
        print(f"\n{model_name}, {args.ranks} ranks, batch {run.batch_size} a rank: img/s (mean +- spread)")
        for mode, label in (("kiln", "kiln.hvd"), ("ddp", "DDP gloo"), ("bound", "no communication")):
            mean, spread = results[mode]
            print(f"  {label:>17}: {mean:8.1f} +- {spread:.1f}")
        kiln = results["kiln"][0]
        print(f"  kiln / ddp = {kiln / results['ddp'][0]:.2f} (target >= 1.0), "
              f"kiln / bound = {kiln / results['bound'][0]:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
