"""horovod.torch.optimizer: DistributedOptimizer."""

from kiln.hvd.optimizer import DistributedOptimizer  # noqa: F401
