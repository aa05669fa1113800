"""kiln.runconfig: how a ScriptRunConfig's script is distributed, with the names and meaning
of the SDK's azureml.core.runconfig classes (docs/python-api.md).

PyTorchConfiguration(communication_backend="Nccl", process_count=None, node_count=1)
    torch.distributed ranks: process_count in all (default one a node), spread evenly over
    node_count nodes; "Nccl" or "Gloo".
MpiConfiguration(process_count_per_node=1, node_count=1)
    ranks started by mpirun.
DockerConfiguration(use_docker=...)
    Kiln runs jobs in Python environments on its targets, with no container engine: a
    configuration that asks for Docker is refused when the run is submitted.
"""


class PyTorchConfiguration:
    """torch.distributed: `process_count` ranks in all over `node_count` nodes."""

    _BACKENDS = {"nccl": "nccl", "gloo": "gloo"}

    def __init__(self, communication_backend="Nccl", process_count=None, node_count=1):
        backend = self._BACKENDS.get(str(communication_backend).lower())
        if backend is None:
            raise ValueError(f"PyTorchConfiguration: communication_backend must be 'Nccl' or "
                             f"'Gloo', not {communication_backend!r}")
        if not isinstance(node_count, int) or node_count < 1:
            raise ValueError(f"PyTorchConfiguration: node_count must be a whole number >= 1, "
                             f"not {node_count!r}")
        if process_count is None:
            process_count = node_count
        if not isinstance(process_count, int) or process_count < 1:
            raise ValueError(f"PyTorchConfiguration: process_count must be a whole number >= 1, "
                             f"not {process_count!r}")
        if process_count % node_count:
            raise ValueError(f"PyTorchConfiguration: process_count ({process_count}) must be a "
                             f"multiple of node_count ({node_count}): Kiln starts the same number "
                             f"of ranks on every node")
        self.communication_backend = communication_backend
        self.process_count = process_count
        self.node_count = node_count

    def _layout(self):
        return {"distributed_backend": self._BACKENDS[str(self.communication_backend).lower()],
                "node_count": self.node_count,
                "process_count_per_node": self.process_count // self.node_count}


class MpiConfiguration:
    """Ranks started by mpirun: `process_count_per_node` on each of `node_count` nodes."""

    def __init__(self, process_count_per_node=1, node_count=1):
        for name, value in (("process_count_per_node", process_count_per_node),
                            ("node_count", node_count)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"MpiConfiguration: {name} must be a whole number >= 1, "
                                 f"not {value!r}")
        self.process_count_per_node = process_count_per_node
        self.node_count = node_count

    def _layout(self):
        return {"distributed_backend": "mpi", "node_count": self.node_count,
                "process_count_per_node": self.process_count_per_node}


class DockerConfiguration:
    """Accepted so that ported code reads as it did; use_docker=True is refused at submit."""

    def __init__(self, use_docker=None, shm_size=None, shared_volumes=None, arguments=None):
        self.use_docker = use_docker
        self.shm_size = shm_size
        self.shared_volumes = shared_volumes
        self.arguments = arguments


__all__ = ["DockerConfiguration", "MpiConfiguration", "PyTorchConfiguration"]
