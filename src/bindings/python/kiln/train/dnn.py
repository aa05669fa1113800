"""kiln.train.dnn.PyTorch: the PyTorch estimator, with the estimator API's parameters."""

import os
import warnings

# Parameters of the cloud estimator that pick cloud machines or containers. Kiln runs on
# its own compute targets in Python environments, so they have no meaning here; a value
# other than the default is reported and ignored.
_CLOUD_ONLY = {
    "vm_size": None, "vm_priority": None, "use_docker": True, "custom_docker_base_image": None,
    "custom_docker_image": None, "image_registry_details": None, "user_managed": False,
    "shm_size": None, "framework_version": None, "source_directory_data_store": None,
}
# Parameters whose meaning Kiln does not have yet: refused rather than dropped.
_NOT_SUPPORTED = ("pip_requirements_file_path", "environment_definition", "inputs",
                  "resume_from", "distributed_training_config")


class Mpi:
    """distributed_training=Mpi(process_count_per_node=N): ranks started by mpirun."""

    backend = "mpi"

    def __init__(self, process_count_per_node=1):
        self.process_count_per_node = process_count_per_node


class Gloo:
    """distributed_training=Gloo(): torch.distributed with the gloo backend."""

    backend = "gloo"
    process_count_per_node = None


class Nccl:
    """distributed_training=Nccl(): torch.distributed with the nccl backend."""

    backend = "nccl"
    process_count_per_node = None


class PyTorch:
    """A PyTorch training job.

    source_directory is snapshotted at submit; entry_script runs in it with script_params
    as arguments (a Datastore or DataReference value stands for its path). The remaining
    parameters are the job spec's fields (docs/job-spec.md).
    """

    def __init__(self, source_directory, *, compute_target=None, entry_script=None,
                 script_params=None, node_count=1, process_count_per_node=1,
                 distributed_backend=None, distributed_training=None, use_gpu=False,
                 conda_packages=None, pip_packages=None, max_run_duration_seconds=None,
                 environment_variables=None, python=None, environment=None, **kwargs):
        if entry_script is None:
            raise ValueError("PyTorch estimator: entry_script is required")
        for name in _NOT_SUPPORTED:
            if kwargs.get(name) is not None:
                raise NotImplementedError(f"PyTorch estimator: {name}= is not supported by Kiln")
        ignored = [name for name, default in _CLOUD_ONLY.items()
                   if name in kwargs and kwargs[name] != default]
        unknown = [name for name in kwargs if name not in _CLOUD_ONLY and name not in _NOT_SUPPORTED]
        if unknown:
            raise TypeError(f"PyTorch estimator: unknown parameter(s) {', '.join(unknown)}")
        if ignored:
            warnings.warn(f"PyTorch estimator: {', '.join(ignored)} choose cloud machines or "
                          f"containers and are ignored by Kiln", stacklevel=2)
        if distributed_training is not None:
            distributed_backend = distributed_training.backend
            if distributed_training.process_count_per_node:
                process_count_per_node = distributed_training.process_count_per_node
        self.source_directory = os.path.abspath(os.fspath(source_directory))
        self.compute_target = getattr(compute_target, "name", compute_target) or "local"
        self.entry_script = entry_script
        self.script_params = dict(script_params or {})
        self.node_count = node_count
        self.process_count_per_node = process_count_per_node
        self.distributed_backend = distributed_backend or "none"
        self.use_gpu = use_gpu
        self.conda_packages = list(conda_packages or [])
        self.pip_packages = list(pip_packages or [])
        self.max_run_duration_seconds = max_run_duration_seconds
        self.environment_variables = dict(environment_variables or {})
        self.python = python
        # A registered environment's name, or a dict of an environment's fields
        # (docs/environments.md); pip_packages and conda_packages are added to it.
        self.environment = environment

    def _job_spec(self):
        """The job spec as Kiln reads it (docs/job-spec.md), for Experiment.submit()."""
        params = {}
        for name, value in self.script_params.items():
            if value is None or value == "":
                params[str(name)] = None  # a bare flag
            elif isinstance(value, (bool, int, float, str)):
                params[str(name)] = str(value)
            else:
                params[str(name)] = str(value)  # a Datastore or DataReference
        job = {
            "version": 1,
            "source_directory": self.source_directory,
            "entry_script": self.entry_script,
            "script_params": params,
            "compute_target": self.compute_target,
            "conda_packages": self.conda_packages,
            "pip_packages": self.pip_packages,
            "use_gpu": self.use_gpu,
            "node_count": self.node_count,
            "process_count_per_node": self.process_count_per_node,
            "distributed_backend": self.distributed_backend,
            "max_run_duration_seconds": self.max_run_duration_seconds,
            "environment_variables": {k: str(v) for k, v in self.environment_variables.items()},
        }
        if self.python:
            job["python"] = self.python
        if self.environment is not None:
            from kiln.core import _environment_value
            job["environment"] = _environment_value(self.environment)
        return job
