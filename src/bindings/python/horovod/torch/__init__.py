"""horovod.torch, as provided by Kiln's collective runtime (kiln.hvd)."""

from kiln.hvd import *  # noqa: F401,F403
from kiln.hvd import __all__, __version__  # noqa: F401
