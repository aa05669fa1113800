"""hvd.DistributedOptimizer: averages gradients across ranks while backward runs.

Each parameter's gradient is allreduced as soon as autograd has accumulated it (a hook on
its accumulator), so communication overlaps the rest of the backward pass; step() waits for
the last of them, then steps the wrapped optimizer.
"""

import contextlib
import warnings

import torch


class _DistributedOptimizer(torch.optim.Optimizer):
    def __init__(self, params, named_parameters, compression, backward_passes_per_step, op,
                 gradient_predivide_factor, sparse_as_dense):
        super(self.__class__, self).__init__(params)
        from kiln import hvd
        self._hvd = hvd
        self._compression = compression
        self._op = op
        self._sparse_as_dense = sparse_as_dense
        self._passes = int(backward_passes_per_step)
        if self._passes < 1:
            raise ValueError("kiln.hvd: backward_passes_per_step must be at least 1")
        # Passes accumulated locally are summed, not averaged, as in horovod.torch: a script
        # that accumulates scales its loss itself.
        self._prescale = 1.0 / gradient_predivide_factor
        self._postscale = gradient_predivide_factor
        all_params = [p for group in self.param_groups for p in group["params"]]
        if named_parameters is not None:
            named = list(named_parameters)
            names = [name for name, _ in named]
            if len(set(names)) != len(names):
                raise ValueError("kiln.hvd: named_parameters has duplicate names")
            known = {id(p) for _, p in named}
            unnamed = [p for p in all_params if id(p) not in known]
            if unnamed:
                raise ValueError(f"kiln.hvd: {len(unnamed)} parameters of the optimizer are not in "
                                 "named_parameters; pass model.named_parameters() of the model "
                                 "the optimizer trains")
        else:
            named = [(f"noname.{i}.{j}", p) for i, group in enumerate(self.param_groups)
                     for j, p in enumerate(group["params"])]
        self._names = {id(p): name for name, p in named}
        self._delay = {id(p): self._passes for p in all_params}
        self._handles = {}
        self._accumulators = []
        self._synchronized = False
        self._should_sync = True
        for p in all_params:
            if p.requires_grad:
                accumulator = p.expand_as(p).grad_fn.next_functions[0][0]
                accumulator.register_hook(self._make_hook(p))
                self._accumulators.append(accumulator)  # a hook lives as long as its node

    def _make_hook(self, p):
        def hook(*_):
            key = id(p)
            if key in self._handles and self._handles[key][1] is not None and self._delay[key] <= 0:
                raise AssertionError(
                    "kiln.hvd: gradients were computed more than backward_passes_per_step times "
                    "before optimizer.step(); raise backward_passes_per_step to accumulate more "
                    "passes locally")
            self._delay[key] -= 1
            handle = self._allreduce_async(p) if self._delay[key] == 0 else None
            self._handles[key] = (p, handle)
        return hook

    def set_backward_passes_per_step(self, passes):
        """Accumulates `passes` backward passes locally before each allreduce from now on."""
        if int(passes) < 1:
            raise ValueError("kiln.hvd: backward_passes_per_step must be at least 1")
        self._passes = int(passes)
        for key in self._delay:
            self._delay[key] = self._passes

    def _allreduce_async(self, p):
        if p.grad.is_sparse:
            if self._sparse_as_dense:
                p.grad = p.grad.to_dense()
            else:
                # Gathered indices and values; synchronize() puts the sparse result in place.
                handle = self._hvd.sparse_allreduce_async(
                    p.grad, name=f"sparse_allreduce.{self._names[id(p)]}", op=self._op)
                return handle, None, None
        compressed, context = self._compression.compress(p.grad)
        handle = self._hvd.allreduce_async_(
            compressed, name=f"allreduce.{self._names[id(p)]}", op=self._op, prescale_factor=self._prescale,
            postscale_factor=self._postscale)
        return handle, compressed, context

    def synchronize(self):
        """Waits for every gradient's allreduce (starting those that have not begun)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.requires_grad and id(p) not in self._handles:
                    if p.grad is None:  # unused in this pass: contribute zeros
                        p.grad = torch.zeros_like(p)
                    self._handles[id(p)] = (p, None)
        for key, (p, pending) in list(self._handles.items()):
            if pending is None:
                pending = self._allreduce_async(p)
            handle, compressed, context = pending
            output = self._hvd.synchronize(handle)
            if compressed is None:  # a sparse gradient
                p.grad = output
            elif compressed is not p.grad:
                p.grad.copy_(self._compression.decompress(output, context))
            self._delay[key] = self._passes
        self._handles.clear()
        self._synchronized = True

    @contextlib.contextmanager
    def skip_synchronize(self):
        """For a step() right after an explicit synchronize() (gradient clipping)."""
        self._should_sync = False
        try:
            yield
        finally:
            self._should_sync = True

    def step(self, closure=None):
        if self._should_sync:
            if self._synchronized:
                warnings.warn("kiln.hvd: optimizer.synchronize() was called before step(); wrap "
                              "step() in optimizer.skip_synchronize() to avoid a second one")
            self.synchronize()
        self._synchronized = False
        return super(self.__class__, self).step(closure)

    def zero_grad(self, *args, **kwargs):
        if self._handles:
            raise AssertionError("kiln.hvd: optimizer.zero_grad() after loss.backward() but "
                                 "before optimizer.step() or synchronize(); move it before the "
                                 "backward pass")
        return super(self.__class__, self).zero_grad(*args, **kwargs)


def DistributedOptimizer(optimizer, named_parameters=None, compression=None,
                         backward_passes_per_step=1, op=None, gradient_predivide_factor=1.0,
                         num_groups=0, groups=None, sparse_as_dense=False, process_set=None):
    """Wraps `optimizer` so that step() uses gradients averaged (op) over every rank.

    The result is an instance of the optimizer's own class, so learning-rate schedulers and
    state_dict() work as before."""
    from kiln import hvd
    op = hvd.Average if op is None else op
    compression = hvd.Compression.none if compression is None else compression
    if gradient_predivide_factor != 1.0 and op != hvd.Average:
        raise ValueError("kiln.hvd: gradient_predivide_factor needs op=Average")
    if op not in (hvd.Average, hvd.Sum):
        raise ValueError("kiln.hvd: DistributedOptimizer takes op=Average or op=Sum")
    cls = type(optimizer.__class__.__name__, (optimizer.__class__,),
               dict(_DistributedOptimizer.__dict__))
    return cls(optimizer.param_groups, named_parameters, compression, backward_passes_per_step,
               op, gradient_predivide_factor, sparse_as_dense)
