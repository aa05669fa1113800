"""Fashion-MNIST CNN trained on several ranks the Horovod way.

A script written for Horovod, unchanged: `import horovod.torch as hvd` resolves to Kiln's
runtime in a Kiln job (or to a real Horovod where one is installed). Each rank trains on
its shard of the data with --batch_size images per step; the learning rate is scaled by the
number of ranks; rank 0's initial weights and optimizer state are broadcast to the others;
DistributedOptimizer averages gradients while backward runs; the test metrics are averaged
over the ranks' shards of the test set with allreduce. Rank 0 logs and writes outputs/.
"""

import argparse
import json
import os
import time

import horovod.torch as hvd
import torch
import torch.nn.functional as F
from kiln import Run

from train import FashionCNN, load_split


def metric_average(value, name):
    return hvd.allreduce(torch.tensor(value, dtype=torch.float64), name=name).item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", required=True, help="folder with the idx files")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=64, help="per rank")
    parser.add_argument("--base_lr", type=float, default=0.0015, help="peak rate for one rank")
    parser.add_argument("--train_limit", type=int, default=0, help="use only N training images")
    parser.add_argument("--test_limit", type=int, default=0, help="use only N test images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    hvd.init()
    rank, world = hvd.rank(), hvd.size()
    torch.manual_seed(args.seed + rank)  # different on purpose: broadcast makes them equal
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // hvd.local_size()))
    run = Run.get_context()
    print(f"rank {rank} of {world} on node {hvd.cross_rank()} "
          f"({'mpi' if hvd.mpi_enabled() else 'tcp'} data plane)", flush=True)

    train_x, train_y = load_split(args.data_dir, "train", args.train_limit)
    test_x, test_y = load_split(args.data_dir, "t10k", args.test_limit)
    mean, std = train_x.mean(), train_x.std()
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    test_x, test_y = test_x[rank::world], test_y[rank::world]  # this rank's share

    model = FashionCNN()
    steps_per_epoch = len(train_x) // (args.batch_size * world)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.base_lr * world)
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)
    optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters())
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.base_lr * world, total_steps=args.epochs * steps_per_epoch)

    first_loss, recent = None, []
    for epoch in range(1, args.epochs + 1):
        model.train()
        generator = torch.Generator().manual_seed(args.seed + epoch)
        order = torch.randperm(len(train_x), generator=generator)  # the same on every rank
        shard = order[rank::world]
        started = time.time()
        for step in range(steps_per_epoch):
            batch = shard[step * args.batch_size:(step + 1) * args.batch_size]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(train_x[batch]), train_y[batch])
            loss.backward()
            optimizer.step()
            schedule.step()
            recent = (recent + [loss.item()])[-20:]
            if first_loss is None:
                first_loss = metric_average(loss.item(), "first_loss")
            if rank == 0:
                run.log("loss", loss.item())
                if (step + 1) % 100 == 0:
                    print(f"epoch {epoch} step {step + 1}/{steps_per_epoch} "
                          f"loss {sum(recent) / len(recent):.4f}")
        seconds = time.time() - started
        samples_per_second = steps_per_epoch * args.batch_size * world / seconds

        model.eval()
        with torch.no_grad():
            logits = model(test_x)
            test_loss = metric_average(F.cross_entropy(logits, test_y).item(), "test_loss")
            test_accuracy = metric_average(
                (logits.argmax(1) == test_y).double().mean().item(), "test_accuracy")
        train_loss = metric_average(sum(recent) / len(recent), "train_loss")
        if rank == 0:
            run.log("test_accuracy", test_accuracy, step=epoch)
            run.log("test_loss", test_loss, step=epoch)
            run.log("samples_per_second", samples_per_second, step=epoch)
            print(f"epoch {epoch}/{args.epochs} train_loss {train_loss:.4f} "
                  f"test_loss {test_loss:.4f} test_accuracy {test_accuracy:.4f} "
                  f"({seconds:.1f}s, {samples_per_second:.0f} samples/s)")

    if rank == 0:
        os.makedirs("outputs", exist_ok=True)
        torch.jit.script(model.eval()).save("outputs/model.pt")
        metrics = {"test_accuracy": test_accuracy, "test_loss": test_loss,
                   "first_train_loss": first_loss, "last_train_loss": train_loss,
                   "samples_per_second": samples_per_second, "ranks": world,
                   "epochs": args.epochs, "train_images": len(train_x)}
        with open("outputs/metrics.json", "w") as f:
            json.dump(metrics, f, indent=2)
        print(f"test_accuracy {test_accuracy:.4f}")
    hvd.shutdown()


if __name__ == "__main__":
    main()
