"""horovod.torch.compression: gradient compression for allreduce."""

from kiln.hvd.compression import (Compression, Compressor, FP16Compressor,  # noqa: F401
                                  NoneCompressor)
