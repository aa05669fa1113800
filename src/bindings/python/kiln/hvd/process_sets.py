"""Process sets: collectives over some of the job's ranks, as horovod.torch has them.

    evens = hvd.ProcessSet([0, 2])
    hvd.init(process_sets=[evens])            # static: every rank passes the same list
    if evens.included():
        hvd.allreduce(t, process_set=evens)   # ranks 0 and 2 alone

    hvd.init(process_sets="dynamic")          # or HOROVOD_DYNAMIC_PROCESS_SETS=1
    odds = hvd.add_process_set([1, 3])        # collective: every rank calls it, in one order
    hvd.remove_process_set(odds)

Adding and removing are collective over every rank; each checks that the ranks agree
(same ranks, same order of calls) and fails on every rank with ValueError when they do not.
The runtime runs a set's ops on a data plane of its ranks alone; ops of different sets are
released by the one coordinator, in one order.
"""

import os

from kiln import _hvd


class ProcessSet:
    """Ranks that run collectives together: a list of ranks of the job. Pass it to
    hvd.init(process_sets=[...]) or hvd.add_process_set(), then as process_set= to ops."""

    process_set_id = None
    ranks = None
    mpi_comm = None

    def __init__(self, ranks_or_comm):
        try:
            ranks = sorted(ranks_or_comm)
        except TypeError:
            raise ValueError("kiln.hvd: ProcessSet takes a list of ranks (an mpi4py communicator "
                             "is not supported: mpi4py is not installed here)") from None
        if any(not isinstance(r, int) or isinstance(r, bool) for r in ranks):
            raise ValueError(f"kiln.hvd: ProcessSet takes a list of int ranks, not "
                             f"{ranks_or_comm!r}")
        self.ranks = ranks

    def _registered(self):
        return self.process_set_id is not None and _hvd.is_initialized()

    def size(self):
        """How many ranks the set has; None before it is added."""
        return len(self.ranks) if self._registered() else None

    def rank(self):
        """This process's rank within the set; None when it is not in the set or the set is
        not added."""
        if not self._registered() or _hvd.rank() not in self.ranks:
            return None
        return self.ranks.index(_hvd.rank())

    def included(self):
        """Whether this process is one of the set's ranks; None before the set is added."""
        return _hvd.rank() in self.ranks if self._registered() else None

    def invalidate(self):
        self.process_set_id = None
        self.ranks = None

    def __str__(self):
        return (f"ProcessSet(process_set_id={self.process_set_id}, ranks={self.ranks}, "
                f"mpi_comm={self.mpi_comm})")

    __repr__ = __str__


global_process_set = ProcessSet([])
global_process_set.process_set_id = 0

_by_id = {0: [global_process_set]}  # id: the ProcessSet objects that stand for it
_next_id = 1
_dynamic = False
_changes = 0  # adds and removes agreed on so far: the same on every rank


def _env_dynamic():
    return os.environ.get("HOROVOD_DYNAMIC_PROCESS_SETS", "").lower() not in ("", "0", "false")


def _setup(process_sets):
    """From hvd.init(): the global set's ranks, then the static sets (or dynamic mode)."""
    global _dynamic, _next_id, _changes
    global_process_set.ranks = list(range(_hvd.size()))
    global_process_set.process_set_id = 0
    _by_id.clear()
    _by_id[0] = [global_process_set]
    _next_id = 1
    _changes = 0
    _dynamic = process_sets == "dynamic" or _env_dynamic()
    if process_sets is None or process_sets == "dynamic":
        return
    if isinstance(process_sets, str):
        raise ValueError(f"kiln.hvd: init(process_sets={process_sets!r}): give a list of "
                         "ProcessSet or 'dynamic'")
    for process_set in process_sets:
        _add(process_set if isinstance(process_set, ProcessSet) else ProcessSet(process_set))


def _forget():
    """From hvd.shutdown(): the runtime's sets are gone, so are their ids."""
    for set_id in [i for i in _by_id if i != 0]:
        for known in _by_id.pop(set_id):
            known.invalidate()


def _agree(what, mine):
    """Every rank's `mine` (a tuple) must be the same: ValueError on every rank otherwise.
    Named by a count of the changes, not by the set: a rank that refused one locally names
    it as the others do."""
    global _changes
    from kiln import hvd
    _changes += 1
    everyone = hvd.allgather_object(mine, name=f"process_sets.change.{_changes}")
    disagreeing = [r for r, theirs in enumerate(everyone) if theirs != mine]
    if disagreeing:
        raise ValueError(f"kiln.hvd: {what}: the ranks disagree (rank {_hvd.rank()} has {mine}, "
                         f"ranks {disagreeing} have {[everyone[r] for r in disagreeing]}); every "
                         "rank must add and remove the same process sets in the same order")


def _agreed(what, change, check):
    """Runs `check` (local refusals raise ValueError), then agrees on `change` with every
    rank. A rank that refused still takes part, with its refusal, so that no rank waits for
    it: every rank raises."""
    try:
        check()
    except ValueError as error:
        _agree(what, ("refused", str(error)))
        raise
    _agree(what, change)


def _add(process_set):
    global _next_id
    set_id = _next_id

    def check():
        if process_set.process_set_id is not None:
            raise ValueError(f"kiln.hvd: {process_set} is added already")
        for sets in _by_id.values():
            if sets[0].ranks == process_set.ranks and sets[0] is not global_process_set:
                raise ValueError(f"kiln.hvd: a process set with ranks {process_set.ranks} "
                                 f"exists already ({sets[0]})")
        _hvd.add_process_set(set_id, process_set.ranks)

    try:
        _agreed(f"add_process_set({process_set.ranks})", ("add", tuple(process_set.ranks)),
                check)
    except ValueError:
        if _hvd.process_set_ranks(set_id) is not None:
            _hvd.remove_process_set(set_id)
        raise
    _next_id += 1
    process_set.process_set_id = set_id
    _by_id[set_id] = [process_set]
    return process_set


def _require_dynamic(call):
    if not _dynamic:
        raise ValueError(f"kiln.hvd: {call}() needs dynamic process sets: "
                         "hvd.init(process_sets='dynamic') or HOROVOD_DYNAMIC_PROCESS_SETS=1")


def add_process_set(process_set):
    """Adds a ProcessSet (or a list of ranks) after init(); collective over every rank.
    Returns the ProcessSet, now usable as process_set=."""
    _require_dynamic("add_process_set")
    if not isinstance(process_set, ProcessSet):
        process_set = ProcessSet(process_set)
    return _add(process_set)


def remove_process_set(process_set):
    """Removes an added set; collective over every rank. False for the global set. Ops of
    the set still waiting for some of its ranks fail."""
    _require_dynamic("remove_process_set")
    set_id = process_set.process_set_id
    if set_id == 0:
        return False

    def check():
        if set_id is None or set_id not in _by_id:
            raise ValueError(f"kiln.hvd: {process_set} is not an added process set")

    _agreed(f"remove_process_set({process_set.ranks})", ("remove", set_id), check)
    _hvd.remove_process_set(set_id)
    for known in _by_id.pop(set_id):
        known.invalidate()
    process_set.invalidate()
    return True


def _id(process_set):
    """The runtime's id of `process_set` (None: the global set) for an op this rank calls."""
    if process_set is None or process_set is global_process_set:
        return 0
    if not isinstance(process_set, ProcessSet):
        raise ValueError(f"kiln.hvd: process_set= takes a ProcessSet, not {process_set!r}")
    if process_set.process_set_id is None or process_set.process_set_id not in _by_id:
        raise ValueError(f"kiln.hvd: {process_set} is not added; pass it to "
                         "hvd.init(process_sets=[...]) or hvd.add_process_set() first")
    if _hvd.rank() not in process_set.ranks:
        raise ValueError(f"kiln.hvd: rank {_hvd.rank()} is not in {process_set}; only its ranks "
                         "may call its ops")
    return process_set.process_set_id


def _size(process_set):
    return _hvd.size() if _id(process_set) == 0 else len(process_set.ranks)


def _rank(process_set):
    return _hvd.rank() if _id(process_set) == 0 else process_set.ranks.index(_hvd.rank())


__all__ = ["ProcessSet", "add_process_set", "global_process_set", "remove_process_set"]
