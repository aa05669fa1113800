"""Submits the Fashion-MNIST example through Kiln's Python SDK, the estimator way.

    PYTHONPATH=build/python /usr/bin/python3 examples/fashion-mnist/submit.py [--epochs N]

Registers the data set as the datastore fashion_mnist when it is not registered yet,
submits train.py, follows its log, prints its metrics, and registers the ONNX model it
exported as the next version of the model fashion-mnist.
"""

import argparse
import os

from kiln import Datastore, Experiment, Workspace
from kiln.train.dnn import PyTorch

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = "/usr/share/datasets/fashion-mnist"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--run-id-file", help="write the run id here")
    args, extra = parser.parse_known_args()

    ws = Workspace()
    try:
        ds = Datastore.get(ws, "fashion_mnist")
    except LookupError:
        ds = Datastore.register(ws, "fashion_mnist", DATA)

    script_params = {"--data_dir": ds, "--epochs": args.epochs, "--batch_size": 128,
                     "--lr": 0.003}
    for name, value in zip(extra[::2], extra[1::2]):  # e.g. --train_limit 6000
        script_params[name] = value
    est = PyTorch(source_directory=HERE,
                  script_params=script_params,
                  compute_target="local",
                  entry_script="train.py",
                  use_gpu=False,
                  node_count=1,
                  process_count_per_node=1,
                  distributed_backend=None,
                  conda_packages=[],
                  pip_packages=[],
                  max_run_duration_seconds=3600)
    run = Experiment(ws, "fashion-mnist").submit(est, tags={"submitted_by": "submit.py"})
    if args.run_id_file:
        with open(args.run_id_file, "w") as f:
            f.write(run.id)
    run.wait_for_completion(show_output=True)

    metrics = run.get_metrics()
    print(f"\nTest accuracy by epoch: {metrics['test_accuracy']}")
    print(f"Final training loss: {metrics['loss'][-1]:.4f} after {len(metrics['loss'])} steps")
    print(f"Confusion matrix: {metrics['confusion_matrix']}")

    model = run.register_model("fashion-mnist", "outputs/model.onnx",
                               tags={"data": "fashion-mnist"},
                               description="2 conv + batch norm + 2 linear; pixels in [0, 1]")
    print(f"Registered {model.name}:{model.version} (sha256 {model.sha256[:12]}, parity max abs "
          f"diff {model.parity['max_abs_diff']:.2g})")


if __name__ == "__main__":
    main()
