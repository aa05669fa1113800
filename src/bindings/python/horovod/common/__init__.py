"""horovod.common, as far as scripts for horovod.torch import it."""
