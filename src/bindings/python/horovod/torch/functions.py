"""horovod.torch.functions: broadcasting parameters, optimizer state and objects."""

from kiln.hvd import (allgather_object, broadcast_object,  # noqa: F401
                      broadcast_optimizer_state, broadcast_parameters)
