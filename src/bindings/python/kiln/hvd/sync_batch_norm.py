"""hvd.SyncBatchNorm: batch normalization whose statistics are those of every rank's batch
together, as if one process saw the whole global batch.

In training, the ranks allreduce per-channel sums: of the inputs (and the element count) for
the mean, then of the squared deviations from it for the variance. The allreduces are
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

        # Statistics in float32 on the input's device, whatever the input's precision: in two
        # passes (the mean, then the squared deviations from it), so a large mean loses
        # nothing of a small variance.
        x = input.float()
        dims = [0] + list(range(2, input.dim()))  # every dimension but the channels
        count = torch.tensor([x.numel() / x.shape[1]], dtype=torch.float32, device=x.device)
        n = hvd.allreduce(count, op=hvd.Sum)
        if n.item() <= 1:
            raise ValueError("kiln.hvd: SyncBatchNorm needs more than one value per channel "
                             "over all ranks in training")
        mean = hvd.allreduce(x.sum(dims), op=hvd.Sum) / n
        shape = [1, -1] + [1] * (input.dim() - 2)
        centered = x - mean.view(shape)
        var = hvd.allreduce((centered * centered).sum(dims), op=hvd.Sum) / n  # biased
        if self.track_running_stats:
            with torch.no_grad():
                unbiased = var * n / (n - 1)
                self.running_mean.mul_(1 - momentum).add_(mean.detach() * momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased.detach() * momentum)
        out = centered / torch.sqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(input.dtype)
