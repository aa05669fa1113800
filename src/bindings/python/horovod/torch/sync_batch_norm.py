"""horovod.torch.sync_batch_norm: SyncBatchNorm."""

from kiln.hvd.sync_batch_norm import SyncBatchNorm  # noqa: F401
