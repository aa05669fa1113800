"""Fashion-MNIST CNN trained on several ranks with DistributedDataParallel.

The same model, data and schedule as train.py, split over the job's ranks: each rank trains
on its share of every epoch (DistributedSampler) with batch_size / WORLD_SIZE images per
step, so the global batch and the learning-rate schedule match one process. Gradients are
averaged by torch.distributed (gloo on CPUs, nccl when every rank has a GPU), set up from
the environment Kiln gives each rank (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), under
Kiln's own launch (distributed_backend: gloo) or under mpirun (distributed_backend: mpi).
Rank 0 evaluates, logs the metrics and writes outputs/ (model.pt, metrics.json).
"""

import argparse
import copy
import json
import os
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from kiln import Run
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler

from train import FashionCNN, confusion_figure, evaluate, load_split


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", required=True, help="folder with the idx files")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=128, help="global, over all ranks")
    parser.add_argument("--lr", type=float, default=0.003, help="peak learning rate")
    parser.add_argument("--train_limit", type=int, default=0, help="use only N training images")
    parser.add_argument("--test_limit", type=int, default=0, help="use only N test images")
    parser.add_argument("--threads", type=int, default=0,
                        help="per rank; 0: the CPUs we may use shared by this node's ranks")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    use_cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if use_cuda else "gloo", init_method="env://")
    rank, world = dist.get_rank(), dist.get_world_size()
    local_ranks = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    device = torch.device("cuda", 0) if use_cuda else torch.device("cpu")  # one GPU per rank
    torch.manual_seed(args.seed)  # the same initial weights on every rank
    torch.set_num_threads(args.threads or max(1, len(os.sched_getaffinity(0)) // local_ranks))
    run = Run.get_context()
    print(f"rank {rank} of {world} on node {os.environ.get('NODE_RANK', '0')}", flush=True)

    train_x, train_y = load_split(args.data_dir, "train", args.train_limit)
    test_x, test_y = load_split(args.data_dir, "t10k", args.test_limit)
    mean, std = train_x.mean(), train_x.std()
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    if rank == 0:
        print(f"{world} ranks; train {len(train_x)} images, test {len(test_x)}, "
              f"{torch.get_num_threads()} threads per rank")

    model = DistributedDataParallel(FashionCNN().to(device))
    per_rank_batch = max(1, args.batch_size // world)
    sampler = DistributedSampler(range(len(train_x)), num_replicas=world, rank=rank,
                                 shuffle=True, seed=args.seed, drop_last=True)
    steps_per_epoch = (len(sampler) + per_rank_batch - 1) // per_rank_batch
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)

    first_loss, recent = None, []
    for epoch in range(1, args.epochs + 1):
        model.train()
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler))
        started = time.time()
        for step in range(steps_per_epoch):
            batch = order[step * per_rank_batch:(step + 1) * per_rank_batch]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(train_x[batch].to(device)), train_y[batch].to(device))
            loss.backward()
            optimizer.step()
            schedule.step()
            recent = (recent + [loss.item()])[-20:]
            if first_loss is None:
                first_loss = loss.item()
            if rank == 0:
                run.log("loss", loss.item())
                if (step + 1) % 100 == 0:
                    print(f"epoch {epoch} step {step + 1}/{steps_per_epoch} "
                          f"loss {sum(recent) / len(recent):.4f}")
        seconds = time.time() - started
        samples_per_second = steps_per_epoch * per_rank_batch * world / seconds
        if rank == 0:
            # A copy on the CPU, so the model DDP trains is left where it is.
            test_loss, test_accuracy, confusion = evaluate(
                copy.deepcopy(model.module).cpu(), test_x, test_y)
            run.log("test_accuracy", test_accuracy, step=epoch)
            run.log("test_loss", test_loss, step=epoch)
            run.log("samples_per_second", samples_per_second, step=epoch)
            print(f"epoch {epoch}/{args.epochs} train_loss {sum(recent) / len(recent):.4f} "
                  f"test_loss {test_loss:.4f} test_accuracy {test_accuracy:.4f} "
                  f"({seconds:.1f}s, {samples_per_second:.0f} samples/s)")
        dist.barrier()  # the next epoch starts together

    if rank == 0:
        run.log_image("confusion_matrix", plot=confusion_figure(confusion))
        os.makedirs("outputs", exist_ok=True)
        module = model.module.cpu().eval()
        torch.jit.script(module).save("outputs/model.pt")
        metrics = {"test_accuracy": test_accuracy, "test_loss": test_loss,
                   "first_train_loss": first_loss,
                   "last_train_loss": sum(recent) / len(recent),
                   "samples_per_second": samples_per_second, "ranks": world,
                   "epochs": args.epochs, "train_images": len(train_x),
                   "test_images": len(test_x)}
        with open("outputs/metrics.json", "w") as f:
            json.dump(metrics, f, indent=2)
        print(f"test_accuracy {test_accuracy:.4f}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
