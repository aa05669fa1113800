"""kiln.hvd: Horovod's PyTorch API (horovod.torch) on Kiln's collective runtime.

    import kiln.hvd as hvd          # or, in a Kiln job: import horovod.torch as hvd
    hvd.init()
    torch.manual_seed(1)
    optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters())
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)

The runtime is C++ (src/collective): a background thread negotiates tensors by name with
rank 0, fuses small allreduces and moves data with Open MPI under mpirun or a TCP ring
otherwise. docs/hvd.md lists every call and the HOROVOD_* variables it reads.
"""

import atexit
import collections
import collections.abc
import contextlib
import io
import itertools
import pickle

import torch

from kiln import _hvd
from kiln.hvd import adasum
from kiln.hvd import process_sets as _sets
from kiln.hvd.compression import Compression
from kiln.hvd.process_sets import (ProcessSet, add_process_set, global_process_set,
                                   remove_process_set)

__version__ = "0.28.1"  # the horovod.torch API this module follows


class HorovodInternalError(RuntimeError):
    """An op failed on this rank: a mismatch across ranks, or a rank that went away."""


# Reduce ops, with horovod.torch's values. Adasum runs in Python over an allgather
# (adasum.py); the others in the runtime.
Average = 0
Sum = 1
Adasum = 2
Min = 3
Max = 4
Product = 5
_KILN_OP = {Average: 0, Sum: 1, Min: 2, Max: 3, Product: 4}

_names = collections.defaultdict(itertools.count)  # per process set


def _name(prefix, name, process_set=None):
    """A given name is used as it is, so the same name under two ops is caught as a
    mismatch; unnamed ops are numbered in call order within their process set, which must
    then match across that set's ranks."""
    return str(name) if name else f"{prefix}.noname.{next(_names[_sets._id(process_set)])}"


def _op(op, average=None):
    if op is not None and average is not None:
        raise ValueError("kiln.hvd: give op or the deprecated average, not both")
    if op is None:
        op = Sum if average is False else Average
    if op == Adasum:
        raise NotImplementedError("kiln.hvd: op=Adasum is for allreduce and "
                                  "DistributedOptimizer; use Average or Sum here")
    if op not in _KILN_OP:
        raise ValueError(f"kiln.hvd: op={op!r} is not one of Average, Sum, Min, Max, Product")
    return _KILN_OP[op]


def _check(call, *args):
    try:
        return call(*args)
    except RuntimeError as error:
        raise HorovodInternalError(str(error)) from None


# ---- life cycle and topology ---------------------------------------------------------

def init(comm=None, process_sets=None):
    """Joins this process to the job's ranks; returns once every rank has called it.
    process_sets: ProcessSets every rank adds now, in this order, or "dynamic" to allow
    add_process_set() and remove_process_set() later (process_sets.py)."""
    if comm is not None:
        raise NotImplementedError("kiln.hvd: init() takes no communicator (mpi4py is not "
                                  "installed here); use process_sets= for subsets of ranks")
    if _hvd.is_initialized():
        return  # as in Horovod, a second init() changes nothing
    _check(_hvd.init)
    atexit.register(shutdown)
    _sets._setup(process_sets)


def shutdown():
    """Leaves the job's runtime; collective. Ops still pending fail; added process sets are
    gone (a later init() starts without them)."""
    _hvd.shutdown()
    _sets._forget()


is_initialized = _hvd.is_initialized


def _initialized():
    # ValueError, as horovod.torch raises for a query before init().
    if not _hvd.is_initialized():
        raise ValueError("kiln.hvd has not been initialized; call hvd.init() first")


def _topology(query):
    """`query` of the runtime's topology, refused before init() as Horovod refuses it."""
    def answer():
        _initialized()
        return query()
    answer.__name__ = query.__name__
    return answer


size = _topology(_hvd.size)
rank = _topology(_hvd.rank)
local_size = _topology(_hvd.local_size)
local_rank = _topology(_hvd.local_rank)
cross_size = _topology(_hvd.cross_size)
cross_rank = _topology(_hvd.cross_rank)


def mpi_enabled():
    """True when Open MPI moves the data (the ranks run under mpirun; ranks on one machine
    allreduce through shared memory all the same). False before init()."""
    return _hvd.is_initialized() and _hvd.data_plane().split("+")[0] == "mpi"


def gloo_enabled():
    """True when the TCP ring moves the data (ranks started without mpirun). False before
    init()."""
    return _hvd.is_initialized() and _hvd.data_plane().split("+")[0] == "tcp"


def mpi_built():
    return True


def gloo_built():
    return True


def nccl_built():
    return False


def cuda_built():
    return False


def rocm_built():
    return False


def ddl_built():
    return False


def ccl_built():
    return False


def mpi_threads_supported():
    """Whether MPI may be called from several threads: True under mpirun (the runtime asks
    Open MPI for MPI_THREAD_MULTIPLE). ValueError before init() and without MPI."""
    _initialized()
    if not mpi_enabled():
        raise ValueError("kiln.hvd: MPI is not in use (the ranks were not started by mpirun)")
    return True


def start_timeline(file_path, mark_cycles=False):
    """Rank 0 writes a Chrome trace of every op to `file_path` until stop_timeline();
    ValueError, as in Horovod, for an empty path or before init()."""
    if not str(file_path):
        raise ValueError("kiln.hvd: start_timeline() needs a file path")
    _initialized()
    _check(_hvd.start_timeline, str(file_path))


def stop_timeline():
    _initialized()
    _hvd.stop_timeline()


# ---- async handles -------------------------------------------------------------------

class _GroupHandle:
    """One handle for several of the runtime's ops (a grouped op, a sparse allreduce):
    synchronize() waits for all of them and returns `finish` of their outputs."""

    def __init__(self, handles, finish):
        self._handles = handles
        self._finish = finish
        self._done = False

    def poll(self):
        return all(poll(h) for h in self._handles)

    def synchronize(self):
        if self._done:  # as for a single handle: synchronized already gives None
            return None
        self._done = True
        outputs = []
        error = None
        for handle in self._handles:  # every part is waited for, even after one failed
            try:
                outputs.append(synchronize(handle))
            except HorovodInternalError as failed:
                error = error or failed
        if error is not None:
            raise error
        return self._finish(outputs)


def poll(handle):
    """True once the op of `handle` is done, so synchronize() will not block."""
    if isinstance(handle, _GroupHandle):
        return handle.poll()
    return _hvd.poll(handle)


def synchronize(handle):
    """Waits for the op of `handle` and returns its output."""
    if isinstance(handle, _GroupHandle):
        return handle.synchronize()
    return _check(_hvd.synchronize, handle)


# ---- allreduce ----------------------------------------------------------------------

# The *_async calls wake the background thread to start the op at once; the blocking
# calls (_wake=False) leave it to synchronize(), which runs it on the calling thread.

def _adasum_async(tensor, output, name, average, prescale_factor, postscale_factor,
                  process_set):
    """op=Adasum: every rank's tensor gathered, then combined by adasum.combine; the
    handle's output is a new tensor (`output` None) or `output`, overwritten."""
    if average is not None:
        raise ValueError("kiln.hvd: give op or the deprecated average, not both")
    if not tensor.dtype.is_floating_point:
        raise ValueError(f"kiln.hvd: op=Adasum takes floating-point tensors, not {tensor.dtype}")
    row = tensor.detach().reshape(1, -1) * prescale_factor
    gathered = allgather_async(row.contiguous(), _name("allreduce", name, process_set),
                               process_set)

    def finish(outputs):
        combined = adasum.combine(list(outputs[0])).reshape(tensor.shape) * postscale_factor
        if output is None:
            return combined.to(tensor.dtype)
        output.copy_(combined)
        return output

    return _GroupHandle([gathered], finish)


def allreduce_async(tensor, average=None, name=None, op=None, prescale_factor=1.0,
                    postscale_factor=1.0, process_set=None, _wake=True):
    if op == Adasum:
        return _adasum_async(tensor, None, name, average, prescale_factor, postscale_factor,
                             process_set)
    output = torch.empty_like(tensor, memory_format=torch.contiguous_format)
    return _check(_hvd.allreduce_async, tensor, output, _name("allreduce", name, process_set),
                  _op(op, average), float(prescale_factor), float(postscale_factor), _wake,
                  _sets._id(process_set))


def allreduce_async_(tensor, average=None, name=None, op=None, prescale_factor=1.0,
                     postscale_factor=1.0, process_set=None, _wake=True):
    if op == Adasum:
        return _adasum_async(tensor, tensor, name, average, prescale_factor, postscale_factor,
                             process_set)
    return _check(_hvd.allreduce_async, tensor, tensor, _name("allreduce", name, process_set),
                  _op(op, average), float(prescale_factor), float(postscale_factor), _wake,
                  _sets._id(process_set))


class _Allreduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, average, name, op, prescale_factor, postscale_factor, process_set):
        ctx.average, ctx.op, ctx.process_set = average, op, process_set
        ctx.prescale_factor, ctx.postscale_factor = prescale_factor, postscale_factor
        return synchronize(allreduce_async(tensor, average, name, op, prescale_factor,
                                           postscale_factor, process_set, _wake=False))

    @staticmethod
    def backward(ctx, grad_output):
        return (allreduce(grad_output, average=ctx.average, op=ctx.op,
                          prescale_factor=ctx.prescale_factor,
                          postscale_factor=ctx.postscale_factor, process_set=ctx.process_set),
                None, None, None, None, None, None)


def allreduce(tensor, average=None, name=None, compression=Compression.none, op=None,
              prescale_factor=1.0, postscale_factor=1.0, process_set=None):
    """The reduction of `tensor` over every rank of `process_set` (all by default; Average
    unless op says otherwise), as a new tensor; differentiable."""
    compressed, context = compression.compress(tensor)
    summed = _Allreduce.apply(compressed, average, name, op, prescale_factor,
                              postscale_factor, process_set)
    return compression.decompress(summed, context)


def allreduce_(tensor, average=None, name=None, op=None, prescale_factor=1.0,
               postscale_factor=1.0, process_set=None):
    return synchronize(allreduce_async_(tensor, average, name, op, prescale_factor,
                                        postscale_factor, process_set, _wake=False))


def grouped_allreduce_async(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                            postscale_factor=1.0, process_set=None):
    """One handle for the group; synchronize() returns the list of outputs."""
    base = _name("grouped_allreduce", name, process_set)
    return _GroupHandle([allreduce_async(t, average, f"{base}.{i}", op, prescale_factor,
                                         postscale_factor, process_set)
                         for i, t in enumerate(tensors)], list)


def grouped_allreduce_async_(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                             postscale_factor=1.0, process_set=None):
    base = _name("grouped_allreduce", name, process_set)
    return _GroupHandle([allreduce_async_(t, average, f"{base}.{i}", op, prescale_factor,
                                          postscale_factor, process_set)
                         for i, t in enumerate(tensors)], list)


class _GroupedAllreduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, average, name, op, prescale_factor, postscale_factor, process_set, *tensors):
        ctx.average, ctx.op, ctx.process_set = average, op, process_set
        ctx.prescale_factor, ctx.postscale_factor = prescale_factor, postscale_factor
        return tuple(synchronize(grouped_allreduce_async(tensors, average, name, op,
                                                         prescale_factor, postscale_factor,
                                                         process_set)))

    @staticmethod
    def backward(ctx, *grad_outputs):
        grads = grouped_allreduce(list(grad_outputs), average=ctx.average, op=ctx.op,
                                  prescale_factor=ctx.prescale_factor,
                                  postscale_factor=ctx.postscale_factor,
                                  process_set=ctx.process_set)
        return (None, None, None, None, None, None, *grads)


def grouped_allreduce(tensors, average=None, name=None, compression=Compression.none, op=None,
                      prescale_factor=1.0, postscale_factor=1.0, process_set=None):
    """Allreduces a list of tensors together (they fuse into as few ops as fit);
    differentiable."""
    pairs = [compression.compress(t) for t in tensors]
    outputs = _GroupedAllreduce.apply(average, name, op, prescale_factor, postscale_factor,
                                      process_set, *[p[0] for p in pairs])
    return [compression.decompress(out, ctx) for out, (_, ctx) in zip(outputs, pairs)]


def grouped_allreduce_(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                       postscale_factor=1.0, process_set=None):
    return synchronize(grouped_allreduce_async_(tensors, average, name, op, prescale_factor,
                                                postscale_factor, process_set))


def sparse_allreduce_async(tensor, name, op, process_set=None):
    """The reduction of a sparse COO tensor over every rank, as a handle whose synchronize()
    returns a sparse tensor: every rank's indices and values gathered (duplicates are summed
    when the result is coalesced). op: Average or Sum."""
    if op not in (Average, Sum):
        raise ValueError("kiln.hvd: sparse_allreduce_async takes op=Average or op=Sum")
    if not tensor.is_sparse:
        raise ValueError("kiln.hvd: sparse_allreduce_async takes a sparse COO tensor; use "
                         "allreduce_async for a dense one")
    tensor = tensor.coalesce()
    base = _name("sparse_allreduce", name, process_set)
    indices = allgather_async(tensor.indices().t().contiguous(), name=f"{base}.indices",
                              process_set=process_set)
    values = allgather_async(tensor.values().contiguous(), name=f"{base}.values",
                             process_set=process_set)
    shape, count = tensor.shape, _sets._size(process_set)

    def finish(outputs):
        gathered_indices, gathered_values = outputs
        if op == Average:
            gathered_values = gathered_values / count
        return torch.sparse_coo_tensor(gathered_indices.t(), gathered_values, shape)

    return _GroupHandle([indices, values], finish)


# ---- allgather, broadcast, alltoall, reducescatter -------------------------------------

def allgather_async(tensor, name=None, process_set=None, _wake=True):
    return _check(_hvd.allgather_async, tensor, _name("allgather", name, process_set), _wake,
                  _sets._id(process_set))


# The backward of each op below is the gradient of the sum of every rank's loss: what a rank
# received from rank r, its gradient goes back to rank r.

class _Allgather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, name, process_set):
        ctx.rows, ctx.process_set = tensor.shape[0], process_set
        return synchronize(allgather_async(tensor, name, process_set, _wake=False))

    @staticmethod
    def backward(ctx, grad_output):
        summed = allreduce(grad_output, op=Sum, process_set=ctx.process_set)
        rows = allgather(torch.tensor([ctx.rows], dtype=torch.int64),
                         process_set=ctx.process_set).tolist()
        start = sum(rows[:_sets._rank(ctx.process_set)])
        return summed.narrow(0, start, ctx.rows), None, None


def allgather(tensor, name=None, process_set=None):
    """Every rank's `tensor` concatenated on the first dimension, which may differ, in rank
    order (of `process_set` when given); differentiable."""
    return _Allgather.apply(tensor, name, process_set)


def grouped_allgather_async(tensors, name=None, process_set=None):
    """One handle for the group; synchronize() returns the list of outputs."""
    base = _name("grouped_allgather", name, process_set)
    return _GroupHandle([allgather_async(t, f"{base}.{i}", process_set)
                         for i, t in enumerate(tensors)], list)


def grouped_allgather(tensors, name=None, process_set=None):
    """allgather of each tensor, as one group; differentiable."""
    base = _name("grouped_allgather", name, process_set)
    return [allgather(t, name=f"{base}.{i}", process_set=process_set)
            for i, t in enumerate(tensors)]


def broadcast_async(tensor, root_rank, name=None, process_set=None, _wake=True):
    output = torch.empty_like(tensor, memory_format=torch.contiguous_format)
    return _check(_hvd.broadcast_async, tensor, output, _name("broadcast", name, process_set),
                  int(root_rank), _wake, _sets._id(process_set))


def broadcast_async_(tensor, root_rank, name=None, process_set=None, _wake=True):
    return _check(_hvd.broadcast_async, tensor, tensor, _name("broadcast", name, process_set),
                  int(root_rank), _wake, _sets._id(process_set))


class _Broadcast(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, root_rank, name, process_set):
        ctx.root_rank, ctx.process_set = root_rank, process_set
        return synchronize(broadcast_async(tensor, root_rank, name, process_set, _wake=False))

    @staticmethod
    def backward(ctx, grad_output):
        summed = allreduce(grad_output, op=Sum, process_set=ctx.process_set)
        grad = summed if rank() == ctx.root_rank else torch.zeros_like(summed)
        return grad, None, None, None


def broadcast(tensor, root_rank, name=None, process_set=None):
    """Rank `root_rank`'s `tensor`, as a new tensor on every rank (of `process_set`, which
    root_rank, a rank of the job, must be in); differentiable (the gradient reaches the
    root's tensor only)."""
    return _Broadcast.apply(tensor, root_rank, name, process_set)


def broadcast_(tensor, root_rank, name=None, process_set=None):
    """Overwrites `tensor` with rank `root_rank`'s."""
    return synchronize(broadcast_async_(tensor, root_rank, name, process_set, _wake=False))


def _splits(tensor, splits, process_set):
    if splits is None:
        ranks = _sets._size(process_set)
        rows = tensor.shape[0] if tensor.dim() > 0 else 0
        if rows % ranks != 0:
            raise ValueError(f"kiln.hvd: alltoall without splits needs a first dimension that "
                             f"divides by {ranks} ranks; it is {rows}")
        return [rows // ranks] * ranks
    return [int(s) for s in (splits.tolist() if torch.is_tensor(splits) else splits)]


def alltoall_async(tensor, splits=None, name=None, process_set=None):
    return _check(_hvd.alltoall_async, tensor, _splits(tensor, splits, process_set),
                  _name("alltoall", name, process_set), True, _sets._id(process_set))


class _Alltoall(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, splits, name, process_set):
        output, received = synchronize(alltoall_async(tensor, splits, name, process_set))
        ctx.received, ctx.process_set = received, process_set
        ctx.mark_non_differentiable(received)
        return output, received

    @staticmethod
    def backward(ctx, grad_output, _grad_received):
        # The rows go back the way they came: each rank returns what it received.
        grad, _ = alltoall(grad_output.contiguous(), splits=ctx.received,
                           process_set=ctx.process_set)
        return grad, None, None, None


def alltoall(tensor, splits=None, name=None, process_set=None):
    """Rows of `tensor` scattered to the ranks by `splits` (even when None), and the rows
    received from each, concatenated in rank order. With splits given, returns the output
    and the splits received. Differentiable."""
    output, received = _Alltoall.apply(tensor, splits, name, process_set)
    return output if splits is None else (output, received)


def reducescatter_async(tensor, name=None, op=Average, process_set=None,
                        prescale_factor=1.0, postscale_factor=1.0):
    return _check(_hvd.reducescatter_async, tensor, _name("reducescatter", name, process_set),
                  _op(op), float(prescale_factor), float(postscale_factor), True,
                  _sets._id(process_set))


class _Reducescatter(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, name, op, prescale_factor, postscale_factor, process_set):
        ctx.op, ctx.scale = op, prescale_factor * postscale_factor
        ctx.process_set = process_set
        return synchronize(reducescatter_async(tensor, name, op, process_set, prescale_factor,
                                               postscale_factor))

    @staticmethod
    def backward(ctx, grad_output):
        if ctx.op not in (Average, Sum):
            raise NotImplementedError("kiln.hvd: reducescatter has a gradient for op=Sum and "
                                      "op=Average only")
        # Every rank's share of the reduction came from every rank's tensor.
        grad = allgather(grad_output.contiguous(), process_set=ctx.process_set) * ctx.scale
        if ctx.op == Average:
            grad = grad / _sets._size(ctx.process_set)
        return grad, None, None, None, None, None


def reducescatter(tensor, name=None, compression=Compression.none, op=Average,
                  process_set=None, prescale_factor=1.0, postscale_factor=1.0):
    """The reduction of `tensor` over every rank, split on the first dimension: this rank's
    share (the first ranks get one row more when it does not divide); differentiable for
    Sum and Average."""
    compressed, context = compression.compress(tensor)
    out = _Reducescatter.apply(compressed, name, op, float(prescale_factor),
                               float(postscale_factor), process_set)
    return compression.decompress(out, context)


def grouped_reducescatter_async(tensors, name=None, op=Average, process_set=None,
                                prescale_factor=1.0, postscale_factor=1.0):
    """One handle for the group; synchronize() returns the list of outputs."""
    base = _name("grouped_reducescatter", name, process_set)
    return _GroupHandle([reducescatter_async(t, f"{base}.{i}", op, process_set, prescale_factor,
                                             postscale_factor) for i, t in enumerate(tensors)],
                        list)


def grouped_reducescatter(tensors, name=None, compression=Compression.none, op=Average,
                          process_set=None, prescale_factor=1.0, postscale_factor=1.0):
    """reducescatter of each tensor, as one group; differentiable for Sum and Average."""
    base = _name("grouped_reducescatter", name, process_set)
    return [reducescatter(t, f"{base}.{i}", compression, op, process_set, prescale_factor,
                          postscale_factor) for i, t in enumerate(tensors)]


def barrier(process_set=None):
    """Returns once every rank (of `process_set`) has called barrier()."""
    synchronize(_hvd.barrier_async(_name("barrier", None, process_set), False,
                                   _sets._id(process_set)))


def join(device=-1):
    """Marks this rank done with its data: until every rank has joined, it contributes
    zeros to the other ranks' allreduces. Returns the rank that joined last."""
    return synchronize(_hvd.join_async(False))


# ---- objects and model state -----------------------------------------------------------

def _dumps(obj):
    """cloudpickle, as Horovod serializes objects (lambdas and local classes too), where the
    job's interpreter has it (python3-cloudpickle; a job environment may lack it); else
    pickle."""
    try:
        import cloudpickle
    except ImportError:
        return pickle.dumps(obj)
    return cloudpickle.dumps(obj)


def broadcast_object(obj, root_rank=0, name=None, process_set=None):
    """Rank `root_rank`'s `obj` (anything cloudpickle serializes: lambdas and local classes
    too), on every rank (of `process_set`)."""
    name = name or type(obj).__name__
    if rank() == root_rank:
        payload = torch.frombuffer(bytearray(_dumps(obj)), dtype=torch.uint8)
        length = torch.tensor([payload.numel()], dtype=torch.int64)
    else:
        length = torch.zeros(1, dtype=torch.int64)
    broadcast_(length, root_rank, name=f"{name}.size", process_set=process_set)
    if rank() != root_rank:
        payload = torch.zeros(int(length.item()), dtype=torch.uint8)
    broadcast_(payload, root_rank, name=f"{name}.data", process_set=process_set)
    return pickle.loads(payload.numpy().tobytes())


def allgather_object(obj, name=None, process_set=None):
    """Every rank's `obj` (anything cloudpickle serializes), as a list in rank order (of
    `process_set`)."""
    name = name or type(obj).__name__
    payload = torch.frombuffer(bytearray(_dumps(obj)), dtype=torch.uint8)
    sizes = allgather(torch.tensor([payload.numel()], dtype=torch.int64), name=f"{name}.sizes",
                      process_set=process_set)
    data = allgather(payload, name=f"{name}.data", process_set=process_set).numpy().tobytes()
    out, start = [], 0
    for n in sizes.tolist():
        out.append(pickle.loads(data[start:start + n]))
        start += n
    return out


def broadcast_parameters(params, root_rank):
    """Overwrites parameters with root_rank's: a state_dict, (name, tensor) pairs
    (model.named_parameters()) or tensors (model.parameters()), in the same order on every
    rank."""
    if isinstance(params, dict):
        items = sorted(params.items())
    elif isinstance(params, collections.abc.Iterable) and not torch.is_tensor(params):
        items = [p if isinstance(p, tuple) else (f"unnamed.{i}", p) for i, p in enumerate(params)]
    else:
        raise ValueError(f"kiln.hvd: broadcast_parameters takes a state_dict, named_parameters() "
                         f"or parameters(), not a {type(params).__name__}")
    handles = []
    for name, p in items:
        if p is None:
            continue
        tensor = p.data if isinstance(p, torch.nn.Parameter) else p
        if not torch.is_tensor(tensor):
            raise ValueError(f"kiln.hvd: parameter {name!r} is a {type(p).__name__}, not a tensor")
        handles.append(broadcast_async_(tensor, root_rank, name=f"parameter.{name}"))
    for handle in handles:
        synchronize(handle)


def broadcast_optimizer_state(optimizer, root_rank):
    """Makes the optimizer's state (hyperparameters and per-parameter buffers) root_rank's."""
    state = broadcast_object(optimizer.state_dict(), root_rank, name="optimizer_state")
    if rank() != root_rank:
        optimizer.load_state_dict(state)


from kiln.hvd.optimizer import DistributedOptimizer  # noqa: E402 (it uses the calls above)
from kiln.hvd.sync_batch_norm import SyncBatchNorm  # noqa: E402

__all__ = [
    "Adasum", "Average", "Compression", "DistributedOptimizer", "HorovodInternalError", "Max",
    "Min", "ProcessSet", "Product", "Sum", "SyncBatchNorm", "add_process_set",
    "global_process_set", "remove_process_set", "allgather", "allgather_async", "allgather_object", "allreduce",
    "allreduce_", "allreduce_async", "allreduce_async_", "alltoall", "alltoall_async",
    "barrier", "broadcast", "broadcast_", "broadcast_async", "broadcast_async_",
    "broadcast_object", "broadcast_optimizer_state", "broadcast_parameters", "cross_rank",
    "cross_size", "ccl_built", "cuda_built", "ddl_built", "gloo_built", "gloo_enabled", "grouped_allreduce",
    "grouped_allgather", "grouped_allgather_async", "grouped_allreduce_",
    "grouped_allreduce_async", "grouped_allreduce_async_", "grouped_reducescatter",
    "grouped_reducescatter_async", "init",
    "is_initialized", "join", "local_rank", "local_size", "mpi_built", "mpi_enabled",
    "mpi_threads_supported", "nccl_built", "poll", "rank", "reducescatter",
    "reducescatter_async", "rocm_built", "shutdown", "size", "sparse_allreduce_async",
    "start_timeline", "stop_timeline",
    "synchronize",
]
