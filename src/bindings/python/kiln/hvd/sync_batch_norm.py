"""hvd.SyncBatchNorm: batch normalization whose statistics are those of every rank's batch
together, as if one process saw the whole global batch.

In training, each rank sums its inputs and their squares per channel and allreduces the sums
(and the element count); the mean and the variance follow from them. The allreduces are
differentiable (their backward is an allreduce of the gradients), so autograd carries the
gradient through the global statistics to every rank's input. In evaluation, or on one rank,
it is torch's own batch norm.
"""

import torch
from torch.nn.modules.batchnorm import _BatchNorm


class SyncBatchNorm(_BatchNorm):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"kiln.hvd: SyncBatchNorm expects at least 2D input (got "
                             f"{input.dim()}D)")

    def forward(self, input):
        from kiln import hvd
        self._check_input_dim(input)
        if not self.training or hvd.size() == 1:
            return super().forward(input)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked += 1
            if self.momentum is None:  # a cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked)

        dims = [0] + list(range(2, input.dim()))  # every dimension but the channels
        local = torch.stack([input.sum(dims), (input * input).sum(dims)])
        count = torch.tensor([input.numel() / input.shape[1]], dtype=input.dtype)
        total = hvd.allreduce(local, op=hvd.Sum)
        n = hvd.allreduce(count, op=hvd.Sum)
        mean = total[0] / n
        var = total[1] / n - mean * mean  # biased, as batch norm normalizes with
        if n.item() <= 1:
            raise ValueError("kiln.hvd: SyncBatchNorm needs more than one value per channel "
                             "over all ranks in training")
        if self.track_running_stats:
            with torch.no_grad():
                unbiased = var * n / (n - 1)
                self.running_mean.mul_(1 - momentum).add_(mean.detach() * momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased.detach() * momentum)
        shape = [1, -1] + [1] * (input.dim() - 2)
        out = (input - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out
