"""horovod.torch.mpi_ops: the ops and topology calls, from Kiln's runtime (kiln.hvd)."""

from kiln.hvd import *  # noqa: F401,F403
from kiln.hvd import HorovodInternalError  # noqa: F401
