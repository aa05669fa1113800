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
import contextlib
import io
import itertools
import pickle

import torch

from kiln import _hvd
from kiln.hvd.compression import Compression

__version__ = "0.28.1"  # the horovod.torch API this module follows


class HorovodInternalError(RuntimeError):
    """An op failed on this rank: a mismatch across ranks, or a rank that went away."""


# Reduce ops, with horovod.torch's values (Adasum is not provided).
Average = 0
Sum = 1
Adasum = 2
Min = 3
Max = 4
Product = 5
_KILN_OP = {Average: 0, Sum: 1, Min: 2, Max: 3, Product: 4}

_names = itertools.count()


def _name(prefix, name):
    """A given name is used as it is, so the same name under two ops is caught as a
    mismatch; unnamed ops are numbered in call order, which must then match across ranks."""
    return str(name) if name else f"{prefix}.noname.{next(_names)}"


def _op(op, average=None):
    if op is not None and average is not None:
        raise ValueError("kiln.hvd: give op or the deprecated average, not both")
    if op is None:
        op = Sum if average is False else Average
    if op == Adasum:
        raise NotImplementedError("kiln.hvd: op=Adasum is not supported; use Average or Sum")
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
    """Joins this process to the job's ranks; returns once every rank has called it."""
    if comm is not None or process_sets is not None:
        raise NotImplementedError("kiln.hvd: init() takes no communicator or process sets")
    _check(_hvd.init)
    atexit.register(shutdown)


def shutdown():
    """Leaves the job's runtime; collective. Ops still pending fail."""
    _hvd.shutdown()


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
    _check(_hvd.start_timeline, str(file_path))


def stop_timeline():
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

def allreduce_async(tensor, average=None, name=None, op=None, prescale_factor=1.0,
                    postscale_factor=1.0, process_set=None, _wake=True):
    output = torch.empty_like(tensor, memory_format=torch.contiguous_format)
    return _check(_hvd.allreduce_async, tensor, output, _name("allreduce", name),
                  _op(op, average), float(prescale_factor), float(postscale_factor), _wake)


def allreduce_async_(tensor, average=None, name=None, op=None, prescale_factor=1.0,
                     postscale_factor=1.0, process_set=None, _wake=True):
    return _check(_hvd.allreduce_async, tensor, tensor, _name("allreduce", name),
                  _op(op, average), float(prescale_factor), float(postscale_factor), _wake)


class _Allreduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, average, name, op, prescale_factor, postscale_factor):
        ctx.average, ctx.op = average, op
        ctx.prescale_factor, ctx.postscale_factor = prescale_factor, postscale_factor
        return synchronize(allreduce_async(tensor, average, name, op, prescale_factor,
                                           postscale_factor, _wake=False))

    @staticmethod
    def backward(ctx, grad_output):
        return (allreduce(grad_output, average=ctx.average, op=ctx.op,
                          prescale_factor=ctx.prescale_factor,
                          postscale_factor=ctx.postscale_factor),
                None, None, None, None, None)


def allreduce(tensor, average=None, name=None, compression=Compression.none, op=None,
              prescale_factor=1.0, postscale_factor=1.0, process_set=None):
    """The reduction of `tensor` over every rank (Average unless op says otherwise), as a
    new tensor; differentiable."""
    compressed, context = compression.compress(tensor)
    summed = _Allreduce.apply(compressed, average, name, op, prescale_factor,
                              postscale_factor)
    return compression.decompress(summed, context)


def allreduce_(tensor, average=None, name=None, op=None, prescale_factor=1.0,
               postscale_factor=1.0, process_set=None):
    return synchronize(allreduce_async_(tensor, average, name, op, prescale_factor,
                                        postscale_factor, _wake=False))


def grouped_allreduce_async(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                            postscale_factor=1.0, process_set=None):
    """One handle for the group; synchronize() returns the list of outputs."""
    base = _name("grouped_allreduce", name)
    return _GroupHandle([allreduce_async(t, average, f"{base}.{i}", op, prescale_factor,
                                         postscale_factor) for i, t in enumerate(tensors)], list)


def grouped_allreduce_async_(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                             postscale_factor=1.0, process_set=None):
    base = _name("grouped_allreduce", name)
    return _GroupHandle([allreduce_async_(t, average, f"{base}.{i}", op, prescale_factor,
                                          postscale_factor) for i, t in enumerate(tensors)], list)


class _GroupedAllreduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, average, name, op, prescale_factor, postscale_factor, *tensors):
        ctx.average, ctx.op = average, op
        ctx.prescale_factor, ctx.postscale_factor = prescale_factor, postscale_factor
        return tuple(synchronize(grouped_allreduce_async(tensors, average, name, op,
                                                         prescale_factor, postscale_factor)))

    @staticmethod
    def backward(ctx, *grad_outputs):
        grads = grouped_allreduce(list(grad_outputs), average=ctx.average, op=ctx.op,
                                  prescale_factor=ctx.prescale_factor,
                                  postscale_factor=ctx.postscale_factor)
        return (None, None, None, None, None, *grads)


def grouped_allreduce(tensors, average=None, name=None, compression=Compression.none, op=None,
                      prescale_factor=1.0, postscale_factor=1.0, process_set=None):
    """Allreduces a list of tensors together (they fuse into as few ops as fit);
    differentiable."""
    pairs = [compression.compress(t) for t in tensors]
    outputs = _GroupedAllreduce.apply(average, name, op, prescale_factor, postscale_factor,
                                      *[p[0] for p in pairs])
    return [compression.decompress(out, ctx) for out, (_, ctx) in zip(outputs, pairs)]


def grouped_allreduce_(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                       postscale_factor=1.0, process_set=None):
    return synchronize(grouped_allreduce_async_(tensors, average, name, op, prescale_factor,
                                                postscale_factor))


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
    base = _name("sparse_allreduce", name)
    indices = allgather_async(tensor.indices().t().contiguous(), name=f"{base}.indices")
    values = allgather_async(tensor.values().contiguous(), name=f"{base}.values")
    shape, count = tensor.shape, size()

    def finish(outputs):
        gathered_indices, gathered_values = outputs
        if op == Average:
            gathered_values = gathered_values / count
        return torch.sparse_coo_tensor(gathered_indices.t(), gathered_values, shape)

    return _GroupHandle([indices, values], finish)


# ---- allgather, broadcast, alltoall, reducescatter -------------------------------------

def allgather_async(tensor, name=None, process_set=None, _wake=True):
    return _check(_hvd.allgather_async, tensor, _name("allgather", name), _wake)


# The backward of each op below is the gradient of the sum of every rank's loss: what a rank
# received from rank r, its gradient goes back to rank r.

class _Allgather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, name):
        ctx.rows = tensor.shape[0]
        return synchronize(allgather_async(tensor, name, _wake=False))

    @staticmethod
    def backward(ctx, grad_output):
        summed = allreduce(grad_output, op=Sum)
        rows = allgather(torch.tensor([ctx.rows], dtype=torch.int64)).tolist()
        start = sum(rows[:rank()])
        return summed.narrow(0, start, ctx.rows), None


def allgather(tensor, name=None, process_set=None):
    """Every rank's `tensor` concatenated on the first dimension, which may differ;
    differentiable."""
    return _Allgather.apply(tensor, name)


def grouped_allgather_async(tensors, name=None, process_set=None):
    """One handle for the group; synchronize() returns the list of outputs."""
    base = _name("grouped_allgather", name)
    return _GroupHandle([allgather_async(t, f"{base}.{i}") for i, t in enumerate(tensors)],
                        list)


def grouped_allgather(tensors, name=None, process_set=None):
    """allgather of each tensor, as one group; differentiable."""
    base = _name("grouped_allgather", name)
    return [allgather(t, name=f"{base}.{i}") for i, t in enumerate(tensors)]


def broadcast_async(tensor, root_rank, name=None, process_set=None, _wake=True):
    output = torch.empty_like(tensor, memory_format=torch.contiguous_format)
    return _check(_hvd.broadcast_async, tensor, output, _name("broadcast", name), int(root_rank),
                  _wake)


def broadcast_async_(tensor, root_rank, name=None, process_set=None, _wake=True):
    return _check(_hvd.broadcast_async, tensor, tensor, _name("broadcast", name), int(root_rank),
                  _wake)


class _Broadcast(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, root_rank, name):
        ctx.root_rank = root_rank
        return synchronize(broadcast_async(tensor, root_rank, name, _wake=False))

    @staticmethod
    def backward(ctx, grad_output):
        summed = allreduce(grad_output, op=Sum)
        return (summed if rank() == ctx.root_rank else torch.zeros_like(summed)), None, None


def broadcast(tensor, root_rank, name=None, process_set=None):
    """Rank `root_rank`'s `tensor`, as a new tensor on every rank; differentiable (the
    gradient reaches the root's tensor only)."""
    return _Broadcast.apply(tensor, root_rank, name)


def broadcast_(tensor, root_rank, name=None, process_set=None):
    """Overwrites `tensor` with rank `root_rank`'s."""
    return synchronize(broadcast_async_(tensor, root_rank, name, _wake=False))


def _splits(tensor, splits):
    if splits is None:
        rows = tensor.shape[0] if tensor.dim() > 0 else 0
        if rows % size() != 0:
            raise ValueError(f"kiln.hvd: alltoall without splits needs a first dimension that "
                             f"divides by {size()} ranks; it is {rows}")
        return [rows // size()] * size()
    return [int(s) for s in (splits.tolist() if torch.is_tensor(splits) else splits)]


def alltoall_async(tensor, splits=None, name=None, process_set=None):
    return _check(_hvd.alltoall_async, tensor, _splits(tensor, splits), _name("alltoall", name))


class _Alltoall(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, splits, name):
        output, received = synchronize(alltoall_async(tensor, splits, name))
        ctx.received = received
        ctx.mark_non_differentiable(received)
        return output, received

    @staticmethod
    def backward(ctx, grad_output, _grad_received):
        # The rows go back the way they came: each rank returns what it received.
        grad, _ = alltoall(grad_output.contiguous(), splits=ctx.received)
        return grad, None, None


def alltoall(tensor, splits=None, name=None, process_set=None):
    """Rows of `tensor` scattered to the ranks by `splits` (even when None), and the rows
    received from each, concatenated in rank order. With splits given, returns the output
    and the splits received. Differentiable."""
    output, received = _Alltoall.apply(tensor, splits, name)
    return output if splits is None else (output, received)


def reducescatter_async(tensor, name=None, op=Average, process_set=None,
                        prescale_factor=1.0, postscale_factor=1.0):
    return _check(_hvd.reducescatter_async, tensor, _name("reducescatter", name), _op(op),
                  float(prescale_factor), float(postscale_factor))


class _Reducescatter(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, name, op, prescale_factor, postscale_factor):
        ctx.op, ctx.scale = op, prescale_factor * postscale_factor
        return synchronize(reducescatter_async(tensor, name, op, None, prescale_factor,
                                               postscale_factor))

    @staticmethod
    def backward(ctx, grad_output):
        if ctx.op not in (Average, Sum):
            raise NotImplementedError("kiln.hvd: reducescatter has a gradient for op=Sum and "
                                      "op=Average only")
        # Every rank's share of the reduction came from every rank's tensor.
        grad = allgather(grad_output.contiguous()) * ctx.scale
        return (grad / size() if ctx.op == Average else grad), None, None, None, None


def reducescatter(tensor, name=None, compression=Compression.none, op=Average,
                  process_set=None, prescale_factor=1.0, postscale_factor=1.0):
    """The reduction of `tensor` over every rank, split on the first dimension: this rank's
    share (the first ranks get one row more when it does not divide); differentiable for
    Sum and Average."""
    compressed, context = compression.compress(tensor)
    out = _Reducescatter.apply(compressed, name, op, float(prescale_factor),
                               float(postscale_factor))
    return compression.decompress(out, context)


def grouped_reducescatter_async(tensors, name=None, op=Average, process_set=None,
                                prescale_factor=1.0, postscale_factor=1.0):
    """One handle for the group; synchronize() returns the list of outputs."""
    base = _name("grouped_reducescatter", name)
    return _GroupHandle([reducescatter_async(t, f"{base}.{i}", op, None, prescale_factor,
                                             postscale_factor) for i, t in enumerate(tensors)],
                        list)


def grouped_reducescatter(tensors, name=None, compression=Compression.none, op=Average,
                          process_set=None, prescale_factor=1.0, postscale_factor=1.0):
    """reducescatter of each tensor, as one group; differentiable for Sum and Average."""
    base = _name("grouped_reducescatter", name)
    return [reducescatter(t, f"{base}.{i}", compression, op, None, prescale_factor,
                          postscale_factor) for i, t in enumerate(tensors)]


def barrier(process_set=None):
    """Returns once every rank has called barrier()."""
    synchronize(_hvd.barrier_async(_name("barrier", None), False))


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
    too), on every rank."""
    name = name or type(obj).__name__
    if rank() == root_rank:
        payload = torch.frombuffer(bytearray(_dumps(obj)), dtype=torch.uint8)
        length = torch.tensor([payload.numel()], dtype=torch.int64)
    else:
        length = torch.zeros(1, dtype=torch.int64)
    broadcast_(length, root_rank, name=f"{name}.size")
    if rank() != root_rank:
        payload = torch.zeros(int(length.item()), dtype=torch.uint8)
    broadcast_(payload, root_rank, name=f"{name}.data")
    return pickle.loads(payload.numpy().tobytes())


def allgather_object(obj, name=None, process_set=None):
    """Every rank's `obj` (anything cloudpickle serializes), as a list in rank order."""
    name = name or type(obj).__name__
    payload = torch.frombuffer(bytearray(_dumps(obj)), dtype=torch.uint8)
    sizes = allgather(torch.tensor([payload.numel()], dtype=torch.int64), name=f"{name}.sizes")
    data = allgather(payload, name=f"{name}.data").numpy().tobytes()
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
    else:
        items = [p if isinstance(p, tuple) else (f"unnamed.{i}", p) for i, p in enumerate(params)]
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
    "Min", "Product", "Sum", "SyncBatchNorm", "allgather", "allgather_async", "allgather_object", "allreduce",
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
