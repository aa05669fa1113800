"""One rank of a kiln.hvd test (test_hvd.py starts several): runs a scenario, writes what
the parent checks to $HVD_TEST_RESULTS/rank-N.json, and exits non-zero when an assertion
fails."""

import json
import os
import sys
import time

import torch

import horovod.torch as hvd
import kiln._hvd

DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16,
          torch.float32, torch.float64]
OPS = {"average": hvd.Average, "sum": hvd.Sum, "min": hvd.Min, "max": hvd.Max,
       "product": hvd.Product}


def value(rank, n):
    """Small values, so a product over four ranks fits int8."""
    return (torch.arange(n) % 2 + rank % 2 + 1).to(torch.float64)


def expected(op, dtype, size, n):
    values = torch.stack([value(r, n) for r in range(size)])
    out = {"average": values.sum(0) / size, "sum": values.sum(0), "min": values.min(0).values,
           "max": values.max(0).values, "product": values.prod(0)}[op]
    if op == "average" and not dtype.is_floating_point:
        out = out.trunc()
    return out


def close(got, want, dtype):
    tolerance = 1e-3 if dtype == torch.float16 else 1e-6
    return torch.allclose(got.to(torch.float64), want, rtol=tolerance, atol=0)


def ops(rank, size):
    checked = 0
    for dtype in DTYPES:
        for name, op in OPS.items():
            for n in (0, 1, 17):
                tensor = value(rank, n).to(dtype)
                got = hvd.allreduce(tensor, op=op, name=f"ar.{dtype}.{name}.{n}")
                assert got.dtype == dtype and close(got, expected(name, dtype, size, n), dtype), \
                    (dtype, name, n, got)
                inplace = tensor.clone()
                hvd.allreduce_(inplace, op=op, name=f"ar_.{dtype}.{name}.{n}")
                assert torch.equal(inplace, got)
                checked += 2
        for n in (0, 1, 3):
            # allgather: first dimensions differ by rank.
            mine = torch.full((rank + n, 2), rank, dtype=torch.float64).to(dtype)
            gathered = hvd.allgather(mine, name=f"ag.{dtype}.{n}")
            want = torch.cat([torch.full((r + n, 2), r, dtype=torch.float64)
                              for r in range(size)]).to(dtype)
            assert torch.equal(gathered, want), (dtype, n, gathered)
            # broadcast from the last rank.
            root = size - 1
            tensor = torch.full((n, 3), rank, dtype=torch.float64).to(dtype)
            out = hvd.broadcast(tensor, root, name=f"bc.{dtype}.{n}")
            assert torch.equal(out, torch.full((n, 3), root, dtype=torch.float64).to(dtype))
            assert torch.equal(tensor, torch.full((n, 3), rank, dtype=torch.float64).to(dtype))
            hvd.broadcast_(tensor, root, name=f"bc_.{dtype}.{n}")
            assert torch.equal(tensor, out)
            # alltoall: rank r sends (r + d + n) % 3 rows to rank d.
            splits = [(rank + d + n) % 3 for d in range(size)]
            send = torch.cat([torch.full((s, 2), rank * 10 + d, dtype=torch.float64)
                              for d, s in enumerate(splits)]).to(dtype)
            received, received_splits = hvd.alltoall(send, splits=torch.tensor(splits),
                                                     name=f"a2a.{dtype}.{n}")
            want = torch.cat([torch.full(((s + rank + n) % 3, 2), s * 10 + rank,
                                         dtype=torch.float64) for s in range(size)]).to(dtype)
            assert torch.equal(received, want), (dtype, n, received)
            assert received_splits.tolist() == [(s + rank + n) % 3 for s in range(size)]
            # reducescatter of an odd number of rows: the first ranks get one more.
            rows = 2 * size + n
            tensor = torch.arange(rows * 2, dtype=torch.float64).reshape(rows, 2).to(dtype)
            part = hvd.reducescatter(tensor, op=hvd.Sum, name=f"rs.{dtype}.{n}")
            share = [rows // size + (1 if r < rows % size else 0) for r in range(size)]
            start = sum(share[:rank])
            want = (torch.arange(rows * 2, dtype=torch.float64).reshape(rows, 2) * size)[
                start:start + share[rank]].to(dtype)
            assert torch.equal(part, want), (dtype, n, part, want)
            checked += 4
    # Async handles, submitted in a different order on every rank.
    tensors = [torch.full((5,), float(i + rank)) for i in range(6)]
    order = list(range(6)) if rank % 2 == 0 else list(reversed(range(6)))
    handles = {i: hvd.allreduce_async(tensors[i], name=f"async.{i}", op=hvd.Sum) for i in order}
    while not all(hvd.poll(h) for h in handles.values()):
        time.sleep(0.001)
    for i, handle in handles.items():
        want = sum(i + r for r in range(size))
        assert torch.equal(hvd.synchronize(handle), torch.full((5,), float(want)))
    grouped = hvd.grouped_allreduce([torch.ones(3) * rank, torch.ones(2)], op=hvd.Sum)
    assert grouped[0].tolist() == [sum(range(size))] * 3 and grouped[1].tolist() == [size] * 2
    assert hvd.broadcast_object({"from": rank}, root_rank=0) == {"from": 0}
    assert hvd.allgather_object(f"r{rank}") == [f"r{r}" for r in range(size)]
    fp16 = hvd.allreduce(torch.ones(4) * 0.5, compression=hvd.Compression.fp16, op=hvd.Sum)
    assert fp16.dtype == torch.float32 and fp16.tolist() == [0.5 * size] * 4
    scaled = hvd.allreduce(torch.ones(2), op=hvd.Sum, prescale_factor=2.0, postscale_factor=0.5)
    assert scaled.tolist() == [float(size)] * 2
    hvd.barrier()
    return {"checked": checked}


def mismatch(rank, size):
    errors = {}
    cases = {
        "shape": lambda: hvd.allreduce(torch.ones(rank + 1), name="m.shape"),
        "dtype": lambda: hvd.allreduce(torch.ones(2, dtype=torch.float32 if rank == 0
                                                  else torch.float64), name="m.dtype"),
        "op": lambda: (hvd.allreduce(torch.ones(2), name="m.op") if rank == 0
                       else hvd.allgather(torch.ones(2), name="m.op")),
        "root": lambda: hvd.broadcast(torch.ones(2), root_rank=rank, name="m.root"),
        "reduce_op": lambda: hvd.allreduce(torch.ones(2), name="m.reduce",
                                           op=hvd.Sum if rank == 0 else hvd.Max),
    }
    for case, call in cases.items():
        try:
            call()
            errors[case] = None
        except hvd.HorovodInternalError as error:
            errors[case] = str(error)
    # The runtime carries on after a mismatch.
    assert hvd.allreduce(torch.ones(1), op=hvd.Sum).item() == size
    return {"errors": errors}


def join(rank, size):
    batches = 2 + rank  # uneven: rank r has 2 + r batches
    results = []
    for b in range(batches):
        results.append(hvd.allreduce(torch.ones(3), op=hvd.Sum, name=f"grad.{b}")[0].item())
    last = hvd.join()
    return {"results": results, "last_joined": last}


def parity(rank, size):
    """2 ranks with DistributedOptimizer vs 1 process on the doubled batch."""
    def train(model, batches, optimizer):
        for x, y in batches:
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
        return model

    torch.manual_seed(7)
    data = [(torch.randn(16, 5), torch.randn(16, 1)) for _ in range(10)]
    torch.manual_seed(rank)  # different initial weights: broadcast_parameters fixes them
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    reference = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    reference.load_state_dict(model.state_dict())
    optimizer = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                                         named_parameters=model.named_parameters())
    share = 16 // size
    train(model, [(x[rank * share:(rank + 1) * share], y[rank * share:(rank + 1) * share])
                  for x, y in data], optimizer)
    train(reference, data, torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9))
    difference = max((a - b).abs().max().item()
                     for a, b in zip(model.parameters(), reference.parameters()))
    moved = max((a - b).abs().max().item() for a, b in
                zip(model.parameters(), hvd.broadcast_object(
                    [p.detach().clone() for p in model.parameters()], root_rank=0)))
    return {"difference": difference, "ranks_differ_by": moved}


def bools(rank, size):
    """bool tensors: or (Sum, Max) and and (Min, Product) in allreduce; moved as they are by
    allgather, broadcast and alltoall; no average."""
    mine = torch.tensor([rank == 0, True, False, rank % 2 == 1])
    want = {hvd.Sum: [True, True, False, size > 1], hvd.Max: [True, True, False, size > 1],
            hvd.Min: [size == 1, True, False, False],
            hvd.Product: [size == 1, True, False, False]}
    got = {op: hvd.allreduce(mine, op=op, name=f"bool.{op}").tolist() for op in want}
    gathered = hvd.allgather(mine.reshape(1, 4), name="bool.gather")
    broadcast = hvd.broadcast(mine, size - 1, name="bool.bcast")
    received = hvd.alltoall(mine.repeat(size), name="bool.a2a")
    try:
        hvd.allreduce(mine, op=hvd.Average, name="bool.mean")
        average = None
    except hvd.HorovodInternalError as error:
        average = str(error)
    return {"allreduce_right": all(got[op] == want[op] for op in want),
            "gathered": gathered.tolist(), "broadcast": broadcast.tolist(),
            "received": received.tolist(), "average_error": average,
            "dtypes": [str(t.dtype) for t in (gathered, broadcast, received)]}


def gradients(rank, size):
    """Each op's backward: the gradient of the sum of every rank's loss, where rank r's loss
    weighs what it received by r + 1."""
    weight = rank + 1
    total = size * (size + 1) / 2  # the sum of every rank's weight
    checks = {}

    x = torch.full((rank + 1, 2), 1.0, requires_grad=True)
    (hvd.allgather(x) * weight).sum().backward()
    checks["allgather"] = torch.equal(x.grad, torch.full_like(x, total))

    x = torch.ones(3, requires_grad=True)
    root = size - 1
    (hvd.broadcast(x, root) * weight).sum().backward()
    checks["broadcast"] = torch.equal(x.grad, torch.full_like(x, total if rank == root else 0.0))

    splits = [(rank + d) % 2 + 1 for d in range(size)]  # rows this rank sends to rank d
    x = torch.ones(sum(splits), 2, requires_grad=True)
    out, _ = hvd.alltoall(x, splits=torch.tensor(splits))
    (out * weight).sum().backward()
    want = torch.cat([torch.full((n, 2), float(d + 1)) for d, n in enumerate(splits)])
    checks["alltoall"] = torch.equal(x.grad, want)

    for op, scale in ((hvd.Sum, 1.0), (hvd.Average, 1.0 / size)):
        x = torch.ones(2 * size, 3, requires_grad=True)
        (hvd.reducescatter(x, op=op) * weight).sum().backward()
        want = torch.cat([torch.full((2, 3), (r + 1) * scale) for r in range(size)])
        checks[f"reducescatter.{op}"] = torch.allclose(x.grad, want)

    xs = [torch.ones(2, requires_grad=True), torch.ones(3, 1, requires_grad=True)]
    ys = hvd.grouped_allreduce(xs, op=hvd.Sum)
    sum((y * weight).sum() for y in ys).backward()
    checks["grouped_allreduce"] = all(torch.equal(x.grad, torch.full_like(x, total)) for x in xs)
    return {"checks": checks}


def duplicate(rank, size):
    """Rank 0 puts a second op in flight under the name of one still waiting for the other
    ranks (they come a second later): the second raises there, the first completes."""
    if rank != 0:
        time.sleep(1)
        return {"first": hvd.allreduce(torch.ones(4), name="dup", op=hvd.Sum).tolist()}
    first = hvd.allreduce_async(torch.ones(4), name="dup", op=hvd.Sum)
    second = hvd.allreduce_async(torch.ones(4), name="dup", op=hvd.Sum)
    try:
        hvd.synchronize(second)
        error = None
    except hvd.HorovodInternalError as raised:
        error = str(raised)
    return {"second": error, "first": hvd.synchronize(first).tolist()}


def grouped_and_sparse(rank, size):
    checks = {}
    # Grouped ops: one handle, a list back.
    handle = hvd.grouped_allreduce_async([torch.ones(2), torch.ones(3)], op=hvd.Sum)
    checks["grouped_allreduce_async"] = [t.tolist() for t in hvd.synchronize(handle)] == \
        [[float(size)] * 2, [float(size)] * 3]
    gathered = hvd.grouped_allgather([torch.full((rank + 1,), float(rank)),
                                      torch.full((1, 2), float(rank))])
    checks["grouped_allgather"] = (
        gathered[0].tolist() == [float(r) for r in range(size) for _ in range(r + 1)]
        and gathered[1].tolist() == [[float(r)] * 2 for r in range(size)])
    handle = hvd.grouped_allgather_async([torch.tensor([rank])])
    checks["grouped_allgather_async"] = hvd.synchronize(handle)[0].tolist() == list(range(size))
    scattered = hvd.grouped_reducescatter([torch.ones(size, 2), torch.ones(2 * size)],
                                          op=hvd.Sum)
    checks["grouped_reducescatter"] = (scattered[0].tolist() == [[float(size)] * 2]
                                       and scattered[1].tolist() == [float(size)] * 2)
    handle = hvd.grouped_reducescatter_async([torch.ones(size, 1)], op=hvd.Average)
    checks["grouped_reducescatter_async"] = hvd.synchronize(handle)[0].tolist() == [[1.0]]

    # Sparse allreduce: rank r contributes r + 1 at row r and 1 at row 0.
    def mine(r):
        return torch.sparse_coo_tensor(torch.tensor([[0, r]]), torch.tensor([1.0, r + 1.0]),
                                       (size, 2)[:1])
    want = sum(mine(r).to_dense() for r in range(size))
    for op, scale in ((hvd.Sum, 1.0), (hvd.Average, 1.0 / size)):
        handle = hvd.sparse_allreduce_async(mine(rank), name=f"sparse.{op}", op=op)
        out = hvd.synchronize(handle)
        checks[f"sparse_allreduce.{op}"] = out.is_sparse and torch.allclose(out.to_dense(),
                                                                            want * scale)

    # Embeddings with sparse gradients through DistributedOptimizer, sparse or as dense.
    for as_dense in (False, True):
        torch.manual_seed(3)
        embedding = torch.nn.Embedding(6, 2, sparse=True)
        start = embedding.weight.detach().clone()
        optimizer = hvd.DistributedOptimizer(torch.optim.SGD(embedding.parameters(), lr=0.5),
                                             named_parameters=embedding.named_parameters(),
                                             sparse_as_dense=as_dense)
        ids = torch.tensor([rank % 6, (rank + 2) % 6, 5])
        optimizer.zero_grad()
        embedding(ids).sum().backward()
        optimizer.step()
        counts = torch.zeros(6)
        for r in range(size):
            for i in (r % 6, (r + 2) % 6, 5):
                counts[i] += 1
        want_weight = start - 0.5 * (counts / size).unsqueeze(1).expand(6, 2)
        checks[f"sparse_optimizer.{as_dense}"] = torch.allclose(embedding.weight.detach(),
                                                                want_weight)
    return {"checks": checks}


def sync_batch_norm(rank, size):
    """SyncBatchNorm on each rank's part of one global batch against torch's BatchNorm2d on
    the whole batch: outputs, input gradients, parameter gradients and running statistics."""
    torch.manual_seed(11)
    batches = [torch.randn(r + 2, 3, 4, 4) * (r + 1) + r for r in range(size)]
    weights = [torch.randn(r + 2, 3, 4, 4) for r in range(size)]  # each rank's loss weights
    sync = hvd.SyncBatchNorm(3, momentum=0.3)
    reference = torch.nn.BatchNorm2d(3, momentum=0.3)
    with torch.no_grad():
        for module in (sync, reference):
            module.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
            module.bias.copy_(torch.tensor([0.0, -1.0, 3.0]))
    x = batches[rank].clone().requires_grad_()
    out = sync(x)
    (out * weights[rank]).sum().backward()
    whole = torch.cat(batches).requires_grad_()
    want = reference(whole)
    (want * torch.cat(weights)).sum().backward()
    start = sum(b.shape[0] for b in batches[:rank])
    mine = slice(start, start + batches[rank].shape[0])
    # The parameters' gradients are each rank's share: their sum is the reference's.
    weight_grad = hvd.allreduce(sync.weight.grad, op=hvd.Sum)
    bias_grad = hvd.allreduce(sync.bias.grad, op=hvd.Sum)
    sync.eval()
    evaluated = sync(batches[rank])
    reference.eval()
    return {"checks": {
        "output": torch.allclose(out, want[mine], atol=1e-5),
        "input_grad": torch.allclose(x.grad, whole.grad[mine], atol=1e-4),
        "weight_grad": torch.allclose(weight_grad, reference.weight.grad, atol=1e-3),
        "bias_grad": torch.allclose(bias_grad, reference.bias.grad, atol=1e-4),
        "running_mean": torch.allclose(sync.running_mean, reference.running_mean, atol=1e-5),
        "running_var": torch.allclose(sync.running_var, reference.running_var, atol=1e-4),
        "eval": torch.allclose(evaluated, reference(batches[rank]), atol=1e-5),
    }}


def parameters_list(rank, size):
    """broadcast_parameters of model.parameters(): bare tensors, no names."""
    torch.manual_seed(rank)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    root = size - 1
    hvd.broadcast_parameters(list(model.parameters()), root_rank=root)
    roots = hvd.broadcast_object([p.detach().clone() for p in model.parameters()], root_rank=root)
    return {"differ_by": max((a - b).abs().max().item()
                             for a, b in zip(model.parameters(), roots))}


def _raises(error, call):
    try:
        call()
    except error:
        return True
    return False


def process_sets(rank, size):
    """A static set (the even ranks, from init) and, at 3 ranks, a dynamic one ([1, 2]) that
    shares rank 2: every op, autograd and DistributedOptimizer within a set; the same name
    in flight in both; ranks outside a set refused; removal."""
    checks = {}
    evens = STATIC_SETS[0]
    checks["static"] = (evens.process_set_id == 1 and evens.ranks == list(range(0, size, 2))
                        and evens.size() == len(evens.ranks)
                        and evens.included() == (rank % 2 == 0)
                        and evens.rank() == (rank // 2 if rank % 2 == 0 else None))
    one = torch.tensor([rank + 1.0])
    if evens.included():
        summed = hvd.allreduce(one, op=hvd.Sum, process_set=evens)
        averaged = hvd.allreduce(one, process_set=evens)
        want = sum(r + 1.0 for r in evens.ranks)
        checks["allreduce_in_set"] = (summed.item() == want
                                      and averaged.item() == want / len(evens.ranks))
    else:
        checks["allreduce_in_set"] = _raises(ValueError,
                                             lambda: hvd.allreduce(one, process_set=evens))
    checks["duplicate_refused"] = _raises(ValueError, lambda: hvd.add_process_set(evens.ranks))
    # Ranks that name different sets: refused on every rank, and nothing added anywhere.
    checks["disagreement_refused"] = size == 1 or (
        _raises(ValueError, lambda: hvd.add_process_set([0] if rank == 0 else [0, 1]))
        and kiln._hvd.process_set_ranks(2) is None  # the id it would have had
        and hvd.allreduce(torch.ones(1), op=hvd.Sum, name="after.disagreement").item() == size)
    mine = hvd.add_process_set([1, 2]) if size == 3 else evens
    if size == 3:
        # The same name in flight in two sets; rank 2 is in both.
        handles = {}
        if evens.included():
            handles["evens"] = hvd.allreduce_async(one, name="x", op=hvd.Sum, process_set=evens)
        if mine.included():
            handles["mine"] = hvd.allreduce_async(one * 10, name="x", op=hvd.Sum,
                                                  process_set=mine)
        got = {key: hvd.synchronize(handle).item() for key, handle in handles.items()}
        want = {key: value for key, value in (("evens", 4.0), ("mine", 50.0)) if key in got}
        checks["same_name_in_two_sets"] = got == want
    else:
        checks["same_name_in_two_sets"] = True
    if mine.included():
        n, at = len(mine.ranks), mine.rank()
        gathered = hvd.allgather(torch.full((rank + 1,), float(rank)), process_set=mine)
        root = mine.ranks[-1]
        sent = hvd.broadcast(torch.tensor([float(rank)]), root_rank=root, process_set=mine)
        rows = hvd.alltoall(torch.arange(2.0 * n) + 100 * rank, process_set=mine)
        scattered = hvd.reducescatter(torch.ones(2 * n), op=hvd.Sum, process_set=mine)
        hvd.barrier(process_set=mine)
        objects = hvd.allgather_object({"rank": rank}, process_set=mine)
        checks["ops_in_set"] = (
            gathered.tolist() == [float(r) for r in mine.ranks for _ in range(r + 1)]
            and sent.item() == root
            and rows.tolist() == [100.0 * r + 2 * at + k for r in mine.ranks for k in (0, 1)]
            and scattered.tolist() == [float(n)] * 2
            and objects == [{"rank": r} for r in mine.ranks]
            and hvd.broadcast_object(rank, root_rank=root, process_set=mine) == root)
        x = torch.ones(3, requires_grad=True)
        hvd.allreduce(x, op=hvd.Sum, process_set=mine).sum().backward()
        checks["gradient_in_set"] = x.grad.tolist() == [float(n)] * 3
        # SGD from zeros with gradient (rank + 1): the weight ends at minus the set's mean.
        weight = torch.nn.Parameter(torch.zeros(2))
        optimizer = hvd.DistributedOptimizer(torch.optim.SGD([weight], lr=1.0),
                                             named_parameters=[("w", weight)], process_set=mine)
        (weight.sum() * (rank + 1)).backward()
        optimizer.step()
        mean = sum(r + 1.0 for r in mine.ranks) / n
        checks["optimizer_in_set"] = weight.detach().tolist() == [-mean] * 2
    else:
        checks["ops_in_set"] = _raises(ValueError, lambda: hvd.allgather(one, process_set=mine))
        checks["gradient_in_set"] = checks["optimizer_in_set"] = True
    removed = hvd.remove_process_set(mine)
    checks["removed"] = (removed and mine.process_set_id is None
                         and not hvd.remove_process_set(hvd.global_process_set)
                         and _raises(ValueError, lambda: hvd.allreduce(one, process_set=mine)))
    checks["global_after"] = hvd.allreduce(one, op=hvd.Sum).item() == size * (size + 1) / 2
    return {"checks": checks}


def adasum_and_groups(rank, size):
    """op=Adasum on vectors whose answer is known without the formula's tree (orthogonal
    ones add, equal ones stay), its optimizer, and DistributedOptimizer's groups."""
    checks = {}
    one_hot = torch.nn.functional.one_hot(torch.tensor(rank), size).double()
    checks["adasum_orthogonal"] = torch.allclose(hvd.allreduce(one_hot, op=hvd.Adasum),
                                                 torch.ones(size, dtype=torch.float64))
    same = torch.tensor([2.0, -1.0])
    checks["adasum_parallel"] = torch.allclose(hvd.allreduce(same, op=hvd.Adasum), same)
    inplace = one_hot.float().clone()
    handle = hvd.allreduce_async_(inplace, op=hvd.Adasum, name="adasum.inplace")
    checks["adasum_async_inplace"] = (hvd.synchronize(handle) is inplace
                                      and torch.allclose(inplace, torch.ones(size)))
    # SGD (lr 1) from zeros on gradient one_hot(rank): each rank's change is orthogonal to
    # the others', so Adasum adds them.
    weight = torch.nn.Parameter(torch.zeros(size))
    optimizer = hvd.DistributedOptimizer(torch.optim.SGD([weight], lr=1.0),
                                         named_parameters=[("w", weight)], op=hvd.Adasum)
    (weight * one_hot.float()).sum().backward()
    optimizer.step()
    checks["adasum_optimizer"] = torch.allclose(weight.detach(), -torch.ones(size))

    def grouped_step(**kwargs):
        """Three parameters, gradient (rank + 1) * (i + 1) on parameter i; `unused` skips
        the last in the forward pass. Returns the parameters after one SGD step."""
        unused = kwargs.pop("unused", False)
        params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(3)]
        if "groups" in kwargs and kwargs["groups"] == "lists":
            kwargs["groups"] = [[params[0], params[2]]]
        optimizer = hvd.DistributedOptimizer(
            torch.optim.SGD(params, lr=1.0),
            named_parameters=[(f"p{i}", p) for i, p in enumerate(params)], **kwargs)
        used = params[:2] if unused else params
        sum((p * (rank + 1) * (i + 1)).sum() for i, p in enumerate(used)).backward()
        optimizer.step()
        return [p.detach().tolist() for p in params]

    mean = sum(r + 1.0 for r in range(size)) / size
    want = [[-mean * (i + 1)] * 2 for i in range(3)]
    checks["groups_int"] = grouped_step(groups=2) == want
    checks["groups_lists_with_unused"] = (
        grouped_step(groups="lists", unused=True) == want[:2] + [[0.0, 0.0]])
    checks["num_groups"] = grouped_step(num_groups=1) == want
    try:
        hvd.reducescatter(torch.ones(size), op=hvd.Adasum)
        checks["reducescatter_adasum_refused"] = False
    except NotImplementedError:
        checks["reducescatter_adasum_refused"] = True
    return {"checks": checks}


def reference(rank, size):
    """The names of the API reference no other scenario reaches, each checked for its
    value and, where Horovod documents one, its error."""
    import warnings
    checks = {}
    checks["built"] = ([hvd.mpi_built(), hvd.gloo_built(), hvd.nccl_built(), hvd.cuda_built(),
                        hvd.rocm_built(), hvd.ddl_built(), hvd.ccl_built()]
                       == [True, True, False, False, False, False, False])
    checks["topology"] = (hvd.is_initialized() and hvd.cross_size() == 1
                          and hvd.cross_rank() == 0 and hvd.local_rank() == rank)
    checks["mpi_threads_supported"] = (hvd.mpi_threads_supported() if hvd.mpi_enabled()
                                       else _raises(ValueError, hvd.mpi_threads_supported))

    # The async forms and grouped_allreduce_, by value.
    mine = torch.full((2, 1), float(rank))
    gathered = hvd.synchronize(hvd.allgather_async(mine, name="ref.allgather"))
    checks["allgather_async"] = gathered.flatten().tolist() == [
        float(r) for r in range(size) for _ in range(2)]
    root = size - 1
    got = hvd.synchronize(hvd.broadcast_async(torch.tensor([rank]), root, name="ref.bcast"))
    inplace = torch.tensor([rank])
    hvd.synchronize(hvd.broadcast_async_(inplace, root, name="ref.bcast_"))
    checks["broadcast_async"] = got.item() == root and inplace.item() == root
    rows = torch.arange(size, dtype=torch.float32) + 10 * rank  # row r goes to rank r
    received, splits = hvd.synchronize(hvd.alltoall_async(rows, name="ref.alltoall"))
    checks["alltoall_async"] = (received.tolist() == [float(rank + 10 * r) for r in range(size)]
                                and splits.tolist() == [1] * size)
    scattered = hvd.synchronize(hvd.reducescatter_async(torch.ones(size, 2), op=hvd.Sum,
                                                        name="ref.reducescatter"))
    checks["reducescatter_async"] = scattered.tolist() == [[float(size)] * 2]
    group = [torch.ones(3), torch.full((2,), float(rank))]
    hvd.grouped_allreduce_(group, op=hvd.Sum)
    checks["grouped_allreduce_"] = (group[0].tolist() == [float(size)] * 3 and group[1].tolist()
                                    == [float(sum(range(size)))] * 2)

    # reducescatter's other ops forward; their backward is not defined (as in Horovod).
    values = torch.full((size, 1), float(rank + 1))
    checks["reducescatter_min_max"] = (hvd.reducescatter(values, op=hvd.Min).item() == 1.0
                                       and hvd.reducescatter(values, op=hvd.Max).item() == size)
    leaf = torch.ones(size, 1, requires_grad=True)
    checks["reducescatter_min_backward"] = _raises(
        NotImplementedError, lambda: hvd.reducescatter(leaf, op=hvd.Min).sum().backward())

    # Scale factors, and the deprecated average=.
    scaled = hvd.allreduce(torch.ones(2), op=hvd.Sum, prescale_factor=2.0,
                           postscale_factor=0.25)
    checks["scale_factors"] = scaled.tolist() == [size * 0.5] * 2
    checks["average_false_is_sum"] = hvd.allreduce(torch.ones(1), average=False).item() == size
    checks["op_and_average"] = _raises(
        ValueError, lambda: hvd.allreduce(torch.ones(1), average=True, op=hvd.Sum))

    # poll() is False while another rank has not asked yet; barrier() waits for it.
    if rank != 0:
        time.sleep(0.5)
    handle = hvd.allreduce_async(torch.ones(1), name="ref.late")
    early = hvd.poll(handle)
    while not hvd.poll(handle):
        time.sleep(0.01)
    # A handle synchronized is gone: ValueError, as in Horovod.
    checks["poll"] = ((not early or size == 1 or rank != 0)
                      and hvd.synchronize(handle).item() == 1.0
                      and _raises(ValueError, lambda: hvd.poll(handle)))
    if rank == size - 1:
        time.sleep(0.5)
    started = time.time()
    hvd.barrier()
    checks["barrier_waits"] = size == 1 or rank == size - 1 or time.time() - started > 0.3

    # Errors raised on every rank, never a hang.
    ragged = torch.ones(1, rank + 1)
    checks["allgather_trailing_dims"] = size == 1 or _raises(
        hvd.HorovodInternalError, lambda: hvd.allgather(ragged, name="ref.ragged"))
    checks["prescale_mismatch"] = size == 1 or _raises(
        hvd.HorovodInternalError,
        lambda: hvd.allreduce(torch.ones(1), prescale_factor=rank + 1.0, name="ref.scale"))
    checks["alltoall_splits_count"] = _raises(
        hvd.HorovodInternalError,
        lambda: hvd.alltoall(torch.ones(size + 1), splits=[1] * (size + 1), name="ref.splits"))
    checks["broadcast_root_range"] = _raises(
        hvd.HorovodInternalError, lambda: hvd.broadcast(torch.ones(1), root_rank=size))
    checks["reducescatter_shapes"] = size == 1 or _raises(
        hvd.HorovodInternalError,
        lambda: hvd.reducescatter(torch.ones(size * (rank + 1)), name="ref.rs.shape"))
    checks["alltoall_uneven_rows"] = size == 1 or _raises(
        ValueError, lambda: hvd.alltoall(torch.ones(size + 1), name="ref.uneven"))
    checks["runs_on"] = hvd.allreduce(torch.ones(1), op=hvd.Sum, name="ref.after").item() == size

    # broadcast_optimizer_state: rank-dependent learning rates and momentum become rank 0's.
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1 * (rank + 1), momentum=0.9)
    model(torch.full((1, 3), float(rank + 1))).sum().backward()
    optimizer.step()
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)
    momentum = optimizer.state[model.weight]["momentum_buffer"].reshape(1, -1)
    everyone = hvd.allgather(momentum, name="ref.momentum")
    checks["broadcast_optimizer_state"] = (optimizer.param_groups[0]["lr"] == 0.1
                                           and bool((everyone == everyone[0]).all()))

    # DistributedOptimizer: synchronize() then step() under skip_synchronize(), the warning
    # without it, set_backward_passes_per_step, and the errors Horovod raises.
    weight = torch.nn.Parameter(torch.zeros(2))
    optimizer = hvd.DistributedOptimizer(torch.optim.SGD([weight], lr=1.0),
                                         named_parameters=[("w", weight)])
    (weight * (rank + 1)).sum().backward()
    optimizer.synchronize()
    with optimizer.skip_synchronize():
        optimizer.step()
    mean = sum(range(1, size + 1)) / size
    stepped = weight.detach().tolist() == [-mean] * 2
    optimizer.zero_grad()
    (weight * 1.0).sum().backward()
    optimizer.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        optimizer.step()
    checks["optimizer_synchronize"] = stepped and any(
        "skip_synchronize" in str(w.message) for w in caught)
    optimizer.zero_grad()
    optimizer.set_backward_passes_per_step(2)
    for _ in range(2):
        (weight * 1.0).sum().backward()
    optimizer.step()  # two passes summed: 2 per element, averaged over ranks
    checks["set_backward_passes_per_step"] = weight.detach().tolist() == [-mean - 1.0 - 2.0] * 2
    sgd = torch.optim.SGD([weight], lr=1.0)
    checks["optimizer_errors"] = all(_raises(ValueError, call) for call in (
        lambda: hvd.DistributedOptimizer(sgd, named_parameters=[("w", weight), ("w", weight)]),
        lambda: hvd.DistributedOptimizer(sgd, named_parameters=[weight]),
        lambda: hvd.DistributedOptimizer(sgd, backward_passes_per_step=0),
        lambda: hvd.DistributedOptimizer(sgd, op=hvd.Sum, gradient_predivide_factor=2.0),
        lambda: hvd.DistributedOptimizer(sgd, op=hvd.Min)))

    # The timeline: rank 0 writes it; every rank may call start and stop.
    path = os.environ["HVD_TEST_RESULTS"] + ".timeline.json"  # beside the results, not in them
    hvd.start_timeline(path)
    hvd.allreduce(torch.ones(4), name="ref.timed")
    hvd.stop_timeline()
    if rank == 0:
        with open(path) as f:
            events = json.load(f)
        os.remove(path)
        checks["timeline"] = any("ref.timed" in json.dumps(e) for e in events)
    else:
        checks["timeline"] = True

    # After shutdown: not initialized, and ops refused.
    hvd.shutdown()
    checks["shutdown"] = (not hvd.is_initialized()) and _raises(
        (ValueError, hvd.HorovodInternalError), lambda: hvd.allreduce(torch.ones(1)))
    return {"checks": checks}


def stall(rank, size):
    if rank == 1:
        time.sleep(3)
    hvd.allreduce(torch.ones(1), name="slow.tensor")
    return {}


def _fails(call):
    """What rank 0 sees of its op once rank 1 is gone: the error and how long it took."""
    started = time.time()
    try:
        call()
        return {"error": None}
    except hvd.HorovodInternalError as error:
        return {"error": str(error), "seconds": time.time() - started}


def lost(rank, size):
    if rank == 1:
        os._exit(3)  # dies without shutdown
    return _fails(lambda: hvd.allreduce(torch.ones(1), name="never"))


def lost_after_submit(rank, size):
    """Rank 1 asks for a large allreduce and exits while rank 0 may already be moving it."""
    tensor = torch.ones(1 << 22)
    if rank == 1:
        hvd.allreduce_async_(tensor, name="half.done")
        os._exit(3)
    return _fails(lambda: hvd.allreduce_(tensor, name="half.done"))


STATIC_SETS = []


def main():
    scenario = sys.argv[1]
    if scenario == "process_sets":
        os.environ["HOROVOD_DYNAMIC_PROCESS_SETS"] = "1"
        size = int(os.environ.get("OMPI_COMM_WORLD_SIZE") or os.environ["WORLD_SIZE"])
        STATIC_SETS.append(hvd.ProcessSet(range(0, size, 2)))
    hvd.init(process_sets=STATIC_SETS or None)
    rank, size = hvd.rank(), hvd.size()
    # Before the scenario, which may end with shutdown().
    facts = dict(rank=rank, size=size, mpi=hvd.mpi_enabled(), plane=kiln._hvd.data_plane(),
                 local_rank=hvd.local_rank(), local_size=hvd.local_size())
    out = globals()[scenario](rank, size)
    out.update(facts)
    # A file per rank: lines of several ranks through mpirun may interleave.
    with open(os.path.join(os.environ["HVD_TEST_RESULTS"], f"rank-{rank}.json"), "w") as f:
        json.dump(out, f)
    hvd.shutdown()


if __name__ == "__main__":
    main()
