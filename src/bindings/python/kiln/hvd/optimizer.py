"""hvd.DistributedOptimizer: averages gradients across ranks while backward runs.

Each parameter's gradient is allreduced as soon as autograd has accumulated it (a hook on
its accumulator), so communication overlaps the rest of the backward pass; step() waits for
the last of them, then steps the wrapped optimizer. With `groups`, the gradients of a group
go as one grouped allreduce once the last of them is ready.

With op=Adasum the gradients stay local: step() steps the wrapped optimizer on them, then
combines every rank's change of each parameter with Adasum (adasum.py) and applies that.
"""

import contextlib
import warnings

import torch


class _DistributedOptimizer(torch.optim.Optimizer):
    def __init__(self, params, named_parameters, compression, backward_passes_per_step, op,
                 gradient_predivide_factor, sparse_as_dense, process_set, groups):
        super(self.__class__, self).__init__(params)
        from kiln import hvd
        self._hvd = hvd
        self._process_set = process_set
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
            if any(not isinstance(pair, tuple) or len(pair) != 2 for pair in named):
                raise ValueError("kiln.hvd: named_parameters must be (name, parameter) pairs, "
                                 "as model.named_parameters() gives them")
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
        self._adasum = op == hvd.Adasum
        self._groups = self._make_groups(groups, [p for p in all_params if p.requires_grad])
        self._group_of = {id(p): g for g, members in enumerate(self._groups) for p in members}
        self._ready = {}  # group: its parameters whose gradients are ready this step
        if self._adasum:
            return  # no gradient allreduce: step() combines the parameters' changes
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
            handle = None
            if self._delay[key] == 0:
                group = self._group_of.get(key)
                handle = self._allreduce_async(p) if group is None else self._group_ready(group, p)
            self._handles[key] = (p, handle)
        return hook

    def _group_ready(self, group, p):
        """`p`'s gradient is ready; once its group's all are, they go as one grouped
        allreduce (each parameter's entry in _handles then gets the shared handle)."""
        ready = self._ready.setdefault(group, [])
        ready.append(p)
        if len(ready) < len(self._groups[group]):
            return None
        del self._ready[group]
        self._allreduce_group(group)
        return self._handles[id(p)][1]

    def _allreduce_group(self, group):
        members = self._groups[group]
        for p in members:
            if p.grad is None:  # unused in this pass: contribute zeros
                p.grad = torch.zeros_like(p)
            elif p.grad.is_sparse:
                p.grad = p.grad.to_dense()
        pairs = [self._compression.compress(p.grad) for p in members]
        handle = self._hvd.grouped_allreduce_async_(
            [c for c, _ in pairs], name=f"allreduce.group.{self._names[id(members[0])]}",
            op=self._op,
            prescale_factor=self._prescale, postscale_factor=self._postscale,
            process_set=self._process_set)
        for p, (compressed, context) in zip(members, pairs):
            self._handles[id(p)] = (p, (handle, compressed, context))

    @staticmethod
    def _make_groups(groups, params):
        """Lists of parameters whose gradients go together: `groups` an int (that many
        groups of consecutive parameters) or lists of parameters (the others go alone)."""
        if not groups:
            return []
        if isinstance(groups, int):
            if groups < 0:
                raise ValueError("kiln.hvd: groups must be a non-negative int or lists of "
                                 "parameters")
            count = min(groups, len(params))
            size, extra = divmod(len(params), count) if count else (0, 0)
            out, start = [], 0
            for g in range(count):  # as even as possible, the first ones one longer
                end = start + size + (1 if g < extra else 0)
                out.append(params[start:end])
                start = end
            return out
        known = {id(p) for p in params}
        out, seen = [], set()
        for group in groups:
            members = list(group)
            if any(not torch.is_tensor(p) or id(p) not in known for p in members):
                raise ValueError("kiln.hvd: groups holds a tensor that is not a parameter of "
                                 "the optimizer")
            if any(id(p) in seen for p in members):
                raise ValueError("kiln.hvd: a parameter is in two groups")
            seen.update(id(p) for p in members)
            out.append(members)
        return out

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
                    p.grad, name=f"sparse_allreduce.{self._names[id(p)]}", op=self._op,
                    process_set=self._process_set)
                return handle, None, None
        compressed, context = self._compression.compress(p.grad)
        handle = self._hvd.allreduce_async_(
            compressed, name=f"allreduce.{self._names[id(p)]}", op=self._op,
            prescale_factor=self._prescale, postscale_factor=self._postscale,
            process_set=self._process_set)
        return handle, compressed, context

    def synchronize(self):
        """Waits for every gradient's allreduce (starting those that have not begun)."""
        if self._adasum:
            self._synchronized = True
            return
        for group in self.param_groups:
            for p in group["params"]:
                if p.requires_grad and id(p) not in self._handles:
                    if p.grad is None:  # unused in this pass: contribute zeros
                        p.grad = torch.zeros_like(p)
                    self._handles[id(p)] = (p, None)
        # Groups some of whose gradients never came (unused parameters) go now.
        for group, members in enumerate(self._groups):
            if any(self._handles[id(p)][1] is None for p in members if id(p) in self._handles):
                self._ready.pop(group, None)
                self._allreduce_group(group)
        outputs = {}  # a group's handle is synchronized once, for all its parameters
        for key, (p, pending) in list(self._handles.items()):
            if pending is None:
                pending = self._allreduce_async(p)
            handle, compressed, context = pending
            if id(handle) not in outputs:
                outputs[id(handle)] = self._hvd.synchronize(handle)
            if compressed is None:  # a sparse gradient: a new tensor
                p.grad = outputs[id(handle)]
            elif compressed is not p.grad:  # reduced in place into the compressed copy
                p.grad.copy_(self._compression.decompress(compressed, context))
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
        if self._adasum:
            return self._adasum_step(closure)
        return super(self.__class__, self).step(closure)

    def _adasum_step(self, closure):
        params = [p for group in self.param_groups for p in group["params"] if p.requires_grad]
        starts = [p.detach().clone() for p in params]
        loss = super(self.__class__, self).step(closure)
        handles = [self._hvd.allreduce_async_(p.detach() - start, op=self._hvd.Adasum,
                                              name=f"adasum.{self._names[id(p)]}",
                                              process_set=self._process_set)
                   for p, start in zip(params, starts)]
        with torch.no_grad():
            for p, start, handle in zip(params, starts, handles):
                p.copy_(start + self._hvd.synchronize(handle))
        return loss

    def zero_grad(self, *args, **kwargs):
        if self._handles:
            raise AssertionError("kiln.hvd: optimizer.zero_grad() after loss.backward() but "
                                 "before optimizer.step() or synchronize(); move it before the "
                                 "backward pass")
        return super(self.__class__, self).zero_grad(*args, **kwargs)


def DistributedOptimizer(optimizer, named_parameters=None, compression=None,
                         backward_passes_per_step=1, op=None, gradient_predivide_factor=1.0,
                         num_groups=0, groups=None, sparse_as_dense=False, process_set=None):
    """Wraps `optimizer` so that step() uses gradients averaged (op) over every rank (of
    `process_set`: only its ranks may step).

    The result is an instance of the optimizer's own class, so learning-rate schedulers and
    state_dict() work as before."""
    from kiln import hvd
    op = hvd.Average if op is None else op
    compression = hvd.Compression.none if compression is None else compression
    if gradient_predivide_factor != 1.0 and op != hvd.Average:
        raise ValueError("kiln.hvd: gradient_predivide_factor needs op=Average")
    if op not in (hvd.Average, hvd.Sum, hvd.Adasum):
        raise ValueError("kiln.hvd: DistributedOptimizer takes op=Average, Sum or Adasum")
    if num_groups and groups is None:  # Horovod's older spelling of groups=int
        groups = num_groups
    cls = type(optimizer.__class__.__name__, (optimizer.__class__,),
               dict(_DistributedOptimizer.__dict__))
    return cls(optimizer.param_groups, named_parameters, compression, backward_passes_per_step,
               op, gradient_predivide_factor, sparse_as_dense, process_set, groups)
