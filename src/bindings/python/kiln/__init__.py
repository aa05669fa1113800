"""Kiln's Python package: log from a training script, submit and watch jobs.

Inside a job (the launcher puts this package on PYTHONPATH):

    from kiln import Run
    run = Run.get_context()
    run.log("loss", loss.item())

From a script that submits jobs, as with the estimator API:

    from kiln import Workspace, Experiment, Datastore
    from kiln.train.dnn import PyTorch
    ws = Workspace()
    est = PyTorch(source_directory=".", entry_script="train.py",
                  script_params={"--data_dir": Datastore.get(ws, "fashion_mnist")})
    run = Experiment(ws, "fashion").submit(est)
    run.wait_for_completion(show_output=True)

docs/python-api.md describes every call.
"""

from kiln.compute import ComputeTarget
from kiln.environment import Environment
from kiln.model import Model
from kiln.run import ActivityFailedException, Run
from kiln.workspace import DataReference, Datastore, Experiment, Workspace

__all__ = ["ActivityFailedException", "ComputeTarget", "DataReference", "Datastore",
           "Environment", "Experiment", "Model", "Run", "Workspace"]
