"""kiln.core: the SDK's azureml.core names, for ported scripts (docs/python-api.md).

    from kiln.core import ScriptRunConfig, Experiment, Workspace, Run
    from kiln.runconfig import MpiConfiguration
    src = ScriptRunConfig(source_directory=".", script="train.py",
                          arguments=["--epochs", 5, "--data", Datastore.get(ws, "fm")],
                          distributed_job_config=MpiConfiguration(process_count_per_node=2))
    run = Experiment(ws, "fashion").submit(src)
"""

import os

from kiln.compute import ComputeTarget
from kiln.environment import Environment
from kiln.model import InferenceConfig, Model
from kiln.run import ActivityFailedException, Run
from kiln.runconfig import DockerConfiguration, MpiConfiguration, PyTorchConfiguration
from kiln.workspace import DataReference, Datastore, Experiment, Workspace

# The SDK's default limit: 30 days.
_DEFAULT_MAX_RUN_DURATION_SECONDS = 2592000


def _is_value(token):
    """Whether an argument after a flag is the flag's value: anything but another flag (a
    negative number is a value)."""
    text = str(token)
    if not text.startswith("-"):
        return True
    try:
        float(text)
        return True
    except ValueError:
        return False


def _script_params(arguments):
    """The arguments, in order, as the job spec's script_params: "--flag value" pairs, and
    bare flags and positional arguments with no value."""
    params = {}
    tokens = list(arguments or [])
    i = 0
    while i < len(tokens):
        name = str(tokens[i])
        value = None
        if name.startswith("-") and not _is_value(name):
            if i + 1 < len(tokens) and _is_value(tokens[i + 1]):
                value = str(tokens[i + 1])
                i += 1
        if name in params:
            raise ValueError(f"ScriptRunConfig: arguments: {name!r} comes twice; Kiln passes each "
                             f"argument once (give it one value, or combine them)")
        params[name] = value
        i += 1
    return params


class ScriptRunConfig:
    """A script to run: azureml.core.ScriptRunConfig's parameters and meaning.

    `arguments` is the script's command line, in order: a Datastore or DataReference stands
    for its path. `environment` is a kiln.core.Environment, a registered environment's name
    (NAME or NAME:VERSION), or a definition as a dict (docs/environments.md). `distributed_job_config` is a PyTorchConfiguration or an
    MpiConfiguration. `docker_runtime_config` asking for Docker is refused: Kiln has no
    container engine.
    """

    _label = "ScriptRunConfig"  # what errors in the job it makes are named after

    def __init__(self, source_directory, script=None, arguments=None, run_config=None,
                 _telemetry_values=None, compute_target=None, environment=None,
                 distributed_job_config=None, resume_from=None,
                 max_run_duration_seconds=_DEFAULT_MAX_RUN_DURATION_SECONDS, command=None,
                 docker_runtime_config=None):
        if script is None:
            raise ValueError("ScriptRunConfig: script is required (Kiln runs a script, not a "
                             "command=)")
        if command is not None:
            raise NotImplementedError("ScriptRunConfig: command= is not supported by Kiln; "
                                      "give script= and arguments=")
        if run_config is not None:
            raise NotImplementedError("ScriptRunConfig: run_config= is not supported by Kiln; "
                                      "give compute_target=, environment= and "
                                      "distributed_job_config= directly")
        if resume_from is not None:
            raise NotImplementedError("ScriptRunConfig: resume_from= is not supported by Kiln")
        if docker_runtime_config is not None and docker_runtime_config.use_docker:
            raise ValueError("ScriptRunConfig: docker_runtime_config asks for Docker, but Kiln "
                             "runs jobs in Python environments on its compute targets, with no "
                             "container engine: leave docker_runtime_config out, and list the "
                             "packages in environment= (docs/environments.md)")
        if distributed_job_config is not None and not hasattr(distributed_job_config, "_layout"):
            raise TypeError("ScriptRunConfig: distributed_job_config must be a "
                            "PyTorchConfiguration or an MpiConfiguration, not "
                            f"{type(distributed_job_config).__name__}")
        self.source_directory = os.path.abspath(os.fspath(source_directory))
        self.script = script
        self.arguments = list(arguments or [])
        self.compute_target = getattr(compute_target, "name", compute_target) or "local"
        self.environment = environment
        self.distributed_job_config = distributed_job_config
        self.max_run_duration_seconds = max_run_duration_seconds
        self.docker_runtime_config = docker_runtime_config
        self._params = _script_params(self.arguments)

    def _job_spec(self):
        """The job spec as Kiln reads it (docs/job-spec.md), for Experiment.submit()."""
        job = {
            "version": 1,
            "source_directory": self.source_directory,
            "entry_script": self.script,
            "script_params": self._params,
            "compute_target": self.compute_target,
            "max_run_duration_seconds": self.max_run_duration_seconds,
        }
        if self.distributed_job_config is not None:
            job.update(self.distributed_job_config._layout())
        if self.environment is not None:
            job["environment"] = _environment_value(self.environment)
        return job


def _environment_value(environment):
    """A job spec's `environment` from an Environment (NAME:VERSION of a registered one, else
    its definition), a registered name, or a definition as a dict."""
    if isinstance(environment, Environment):
        return environment._job_value()
    return environment


__all__ = ["ActivityFailedException", "ComputeTarget", "DataReference", "Datastore",
           "DockerConfiguration", "Environment", "Experiment", "InferenceConfig", "Model",
           "MpiConfiguration", "PyTorchConfiguration", "Run", "ScriptRunConfig", "Workspace"]
