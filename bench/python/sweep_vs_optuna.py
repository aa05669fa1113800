"""Kiln's Bayesian sampler with ASHA against Optuna 3.1's TPE with its HyperbandPruner, on the
same objective, space and budget, measured in one run:

    PYTHONPATH=build/python /usr/bin/python3 bench/python/sweep_vs_optuna.py \
        [--seeds 1 2 3] [--trials 12] [--epochs 3] [--train-limit 4000]

The objective is the Fashion-MNIST example's CNN (examples/fashion-mnist/train.py) on a
subset, with epochs as the resource: learning rate (loguniform), batch size (choice) and
dropout (uniform). Both run 2 trials at a time, one thread each:
- Optuna (Debian's python3-optuna) in one process: optimize(n_jobs=2), TPESampler(seed,
  n_startup_trials=4), HyperbandPruner(min_resource=1, max_resource=epochs,
  reduction_factor=3); each trial trains in that process on data loaded once, and reports
  the test accuracy after each epoch.
- Kiln: a sweep of train.py (a process per trial, torch imported each time), bayesian
  sampling (seed, startup_trials=4) with AshaPolicy(grace_period=1, reduction_factor=3,
  max_intervals=epochs), max_concurrent_trials 2.
Prints, per seed and on average, the best test accuracy found and the wall time of each;
target: Kiln at least as accurate in no more wall time. Asserts nothing.
"""

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "fashion-mnist")
DATA = "/usr/share/datasets/fashion-mnist"
LOG_LR = (-8.1, -3.9)
BATCHES = (32, 64, 128)
DROPOUT = (0.0, 0.5)


def load_example():
    spec = importlib.util.spec_from_file_location("fm_train", os.path.join(EXAMPLE, "train.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_optuna(seed, args, example):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    train_x, train_y = example.load_split(DATA, "train", args.train_limit)
    test_x, test_y = example.load_split(DATA, "t10k", args.test_limit)
    mean, std = train_x.mean(), train_x.std()
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std

    def objective(trial):
        lr = trial.suggest_float("lr", *[pow(2.718281828459045, v) for v in LOG_LR], log=True)
        batch = trial.suggest_categorical("batch_size", BATCHES)
        dropout = trial.suggest_float("dropout", *DROPOUT)
        generator = torch.Generator().manual_seed(trial.number)
        model = example.FashionCNN(dropout)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        steps = (len(train_x) + batch - 1) // batch
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr,
                                                       total_steps=args.epochs * steps)
        best = 0.0
        for epoch in range(1, args.epochs + 1):
            model.train()
            order = torch.randperm(len(train_x), generator=generator)
            for step in range(steps):
                index = order[step * batch:(step + 1) * batch]
                optimizer.zero_grad()
                F.cross_entropy(model(train_x[index]), train_y[index]).backward()
                optimizer.step()
                schedule.step()
            _, accuracy, _ = example.evaluate(model, test_x, test_y)
            best = max(best, accuracy)
            trial.report(accuracy, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return best

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=4),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=args.epochs,
                                              reduction_factor=3))
    started = time.time()
    study.optimize(objective, n_trials=args.trials, n_jobs=2)
    wall = time.time() - started
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    return study.best_value, wall, pruned


def run_kiln(seed, args):
    from kiln import Datastore, Experiment, Workspace
    from kiln.train.dnn import PyTorch
    from kiln.train.hyperdrive import (AshaPolicy, BayesianParameterSampling, HyperDriveConfig,
                                       PrimaryMetricGoal, choice, loguniform, uniform)
    ws = Workspace()
    try:
        data = Datastore.get(ws, "fashion_mnist")
    except LookupError:
        data = Datastore.register(ws, "fashion_mnist", DATA)
    est = PyTorch(source_directory=EXAMPLE, entry_script="train.py",
                  script_params={"--data_dir": data, "--epochs": args.epochs,
                                 "--train_limit": args.train_limit,
                                 "--test_limit": args.test_limit, "--threads": 1})
    sampling = BayesianParameterSampling(
        {"--lr": loguniform(*LOG_LR), "--batch_size": choice(*BATCHES),
         "--dropout": uniform(*DROPOUT)}, seed=seed, properties={"startup_trials": 4})
    config = HyperDriveConfig(
        estimator=est, hyperparameter_sampling=sampling,
        policy=AshaPolicy(grace_period=1, reduction_factor=3, max_intervals=args.epochs),
        primary_metric_name="test_accuracy", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=args.trials, max_concurrent_runs=2)
    started = time.time()
    run = Experiment(ws, f"bench-optuna-{seed}").submit(config)
    run.wait_for_completion()
    wall = time.time() - started
    rows = run.get_children_sorted_by_primary_metric(discard_no_metric=True)
    stopped = sum(1 for r in rows if r["stop_reason"])
    return rows[0]["best_primary_metric"], wall, stopped


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=4000)
    parser.add_argument("--test-limit", type=int, default=1000)
    args = parser.parse_args()
    if not os.path.isdir(DATA):
        sys.exit(f"{DATA} is missing: install dataset-fashion-mnist")
    example = load_example()
    results = {"optuna": [], "kiln": []}
    with tempfile.TemporaryDirectory() as root:
        os.environ["KILN_HOME"] = os.path.join(root, "home")
        print(f"{os.cpu_count()} cores; {args.trials} trials of up to {args.epochs} epochs on "
              f"{args.train_limit} images, 2 at a time", flush=True)
        for seed in args.seeds:
            best, wall, pruned = run_optuna(seed, args, example)
            results["optuna"].append((best, wall))
            print(f"seed {seed}: optuna TPE+Hyperband  best {best:.4f}  wall {wall:.1f} s  "
                  f"({pruned} pruned)", flush=True)
            best, wall, stopped = run_kiln(seed, args)
            results["kiln"].append((best, wall))
            print(f"seed {seed}: kiln bayesian+ASHA    best {best:.4f}  wall {wall:.1f} s  "
                  f"({stopped} stopped)", flush=True)
    optuna_best = statistics.mean(b for b, _ in results["optuna"])
    optuna_wall = statistics.mean(w for _, w in results["optuna"])
    kiln_best = statistics.mean(b for b, _ in results["kiln"])
    kiln_wall = statistics.mean(w for _, w in results["kiln"])
    print(f"mean over {len(args.seeds)} seeds: optuna best {optuna_best:.4f} in {optuna_wall:.1f} s;"
          f" kiln best {kiln_best:.4f} in {kiln_wall:.1f} s; accuracy difference "
          f"{kiln_best - optuna_best:+.4f}, wall ratio kiln/optuna {kiln_wall / optuna_wall:.2f} "
          f"(target: difference >= 0 and ratio <= 1)", flush=True)


if __name__ == "__main__":
    main()
