"""The Fashion-MNIST sweep through Kiln's Python SDK, written as HyperDrive code is.

    PYTHONPATH=build/python /usr/bin/python3 examples/fashion-mnist/sweep.py [--trials N]

Tunes learning rate, batch size and dropout of train.py's CNN on a subset, two trials at
a time, stops weak trials early, and prints the trials best first and the best run.
"""

import argparse
import os

from kiln import Datastore, Experiment, Workspace
from kiln.train.dnn import PyTorch
from kiln.train.hyperdrive import (BanditPolicy, BayesianParameterSampling, HyperDriveConfig,
                                   PrimaryMetricGoal, choice, loguniform, uniform)

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = "/usr/share/datasets/fashion-mnist"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=6000)
    args = parser.parse_args()

    ws = Workspace()
    try:
        ds = Datastore.get(ws, "fashion_mnist")
    except LookupError:
        ds = Datastore.register(ws, "fashion_mnist", DATA)

    est = PyTorch(source_directory=HERE, entry_script="train.py", compute_target="local",
                  script_params={"--data_dir": ds, "--epochs": args.epochs,
                                 "--train_limit": args.train_limit, "--test_limit": 2000,
                                 "--threads": 1})
    sampling = BayesianParameterSampling({
        "--lr": loguniform(-8.1, -3.9),
        "--batch_size": choice(32, 64, 128),
        "--dropout": uniform(0.0, 0.5),
    }, seed=1, properties={"startup_trials": 4})
    config = HyperDriveConfig(estimator=est, hyperparameter_sampling=sampling,
                              policy=BanditPolicy(slack_factor=0.1, delay_evaluation=1),
                              primary_metric_name="test_accuracy",
                              primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                              max_total_runs=args.trials, max_concurrent_runs=2,
                              max_duration_minutes=120)
    run = Experiment(ws, "fashion-mnist-sweep").submit(config)
    print(f"sweep {run.id}", flush=True)
    run.wait_for_completion()
    for row in run.get_children_sorted_by_primary_metric():
        best = row["best_primary_metric"]
        print(f"{row['run_id']}  {row['status']:<9}  "
              f"{'-' if best is None else f'{best:.4f}'}  {row['hyperparameters']}"
              f"{'  ' + row['stop_reason'] if row['stop_reason'] else ''}")
    best = run.get_best_run_by_primary_metric()
    accuracy = best.get_metrics("test_accuracy")["test_accuracy"]
    last = accuracy[-1] if isinstance(accuracy, list) else accuracy  # a number when logged once
    print(f"best run: {best.id} test_accuracy {last:.4f}")


if __name__ == "__main__":
    main()
