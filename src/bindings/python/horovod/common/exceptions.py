"""horovod.common.exceptions: the error an op raises (the same class as
horovod.torch.HorovodInternalError)."""

from kiln.hvd import HorovodInternalError  # noqa: F401
