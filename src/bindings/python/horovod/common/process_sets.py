"""horovod.common.process_sets: ProcessSet and its calls (the same objects as
horovod.torch's)."""

from kiln.hvd.process_sets import (ProcessSet, add_process_set, global_process_set,  # noqa: F401
                                   remove_process_set)
