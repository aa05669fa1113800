"""Submits the Fashion-MNIST example on 2 ranks under mpirun the way later Azure ML v1 code
does it: ScriptRunConfig with an MpiConfiguration, in a registered Environment.

    PYTHONPATH=build/python /usr/bin/python3 examples/fashion-mnist/submit_src.py [--epochs N]

Registers the data set as the datastore fashion_mnist when it is not registered yet, and the
environment fashion-mnist-env (no packages beyond the system's PyTorch; a variable only), then
submits train_ddp.py (DistributedDataParallel over the ranks mpirun starts), follows its log
and prints its metrics. Arguments after the known ones go to the script (--train_limit 6000).
"""

import argparse
import os

from kiln.core import Datastore, Environment, Experiment, ScriptRunConfig, Workspace
from kiln.runconfig import MpiConfiguration

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = "/usr/share/datasets/fashion-mnist"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--run-id-file", help="write the run id here")
    args, extra = parser.parse_known_args()

    ws = Workspace.from_config()
    try:
        ds = Datastore.get(ws, "fashion_mnist")
    except LookupError:
        ds = Datastore.register(ws, "fashion_mnist", DATA)

    env = Environment("fashion-mnist-env")
    env.environment_variables["OMP_NUM_THREADS"] = "1"
    env = env.register(ws)

    params = {"--data_dir": ds, "--epochs": args.epochs, "--batch_size": 128, "--lr": 0.003}
    for name, value in zip(extra[::2], extra[1::2]):  # e.g. --train_limit 6000
        params[name] = value
    src = ScriptRunConfig(source_directory=HERE,
                          script="train_ddp.py",
                          arguments=[item for pair in params.items() for item in pair],
                          compute_target="local",
                          environment=env,
                          distributed_job_config=MpiConfiguration(
                              process_count_per_node=args.ranks),
                          max_run_duration_seconds=3600)
    run = Experiment(ws, "fashion-mnist").submit(src, tags={"submitted_by": "submit_src.py"})
    if args.run_id_file:
        with open(args.run_id_file, "w") as f:
            f.write(run.id)
    run.wait_for_completion(show_output=True)

    details = run.get_details()["runDefinition"]
    print(f"\nRan {details['script']} on {details['mpi']['processCountPerNode']} ranks "
          f"({details['communicator']}) in environment {env.name}:{env.version}")
    metrics = run.get_metrics()
    print(f"Test accuracy by epoch: {metrics['test_accuracy']}")


if __name__ == "__main__":
    main()
