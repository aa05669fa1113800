"""Allreduce latency and bus bandwidth through Python: kiln.hvd against Open MPI's
MPI_Allreduce and torch.distributed's gloo all_reduce, measured in the same run.

    PYTHONPATH=build/python /usr/bin/python3 bench/python/hvd_allreduce.py [--ranks 2 4]

For each world size it starts the ranks twice: under mpirun (kiln.hvd on its Open MPI data
plane, and MPI_Allreduce in place called through ctypes from the same processes) and as
Kiln's launcher starts them (kiln.hvd on its TCP ring, and torch.distributed gloo in the
same processes). Ranks on one machine allreduce through Kiln's shared-memory plane
either way unless KILN_HVD_SHARED_MEMORY=0 is set. Figures are medians over repeated calls of float32 tensors; bus bandwidth
as NCCL-tests define it: bytes / time * 2(n-1)/n. The ratio is Kiln's best plane over the
best peer (latency: peer / kiln; bandwidth: kiln / peer), above 1.0 when Kiln is ahead.
"""

import argparse
import ctypes
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SIZES = [1 << 10, 16 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20]


def iterations(nbytes):
    return max(5, min(2000, (64 << 20) // max(nbytes, 1) // 4))


def timed(call, n):
    """Median seconds of one call, after warm-up; each sample times a batch of calls."""
    for _ in range(min(n, 20)):
        call()
    batch = max(1, n // 20)
    samples = []
    for _ in range(max(3, n // batch)):
        started = time.perf_counter()
        for _ in range(batch):
            call()
        samples.append((time.perf_counter() - started) / batch)
    return statistics.median(samples)


class RawMpi:
    """MPI_Allreduce on MPI_COMM_WORLD through ctypes: no Kiln code in the way."""

    def __init__(self):
        self.lib = ctypes.CDLL("libmpi.so.40", mode=ctypes.RTLD_GLOBAL)
        self.comm = ctypes.c_void_p(ctypes.addressof(ctypes.c_char.in_dll(self.lib, "ompi_mpi_comm_world")))
        self.float = ctypes.c_void_p(ctypes.addressof(ctypes.c_char.in_dll(self.lib, "ompi_mpi_float")))
        self.sum = ctypes.c_void_p(ctypes.addressof(ctypes.c_char.in_dll(self.lib, "ompi_mpi_op_sum")))
        self.lib.MPI_Allreduce.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                           ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]

    def allreduce(self, tensor):
        rc = self.lib.MPI_Allreduce(ctypes.c_void_p(1), ctypes.c_void_p(tensor.data_ptr()),
                                    tensor.numel(), self.float, self.sum, self.comm)
        assert rc == 0, rc


def worker(mode, out_path):
    import torch
    import kiln._hvd
    import kiln.hvd as hvd
    hvd.init()
    peer_name, peer = None, None
    if mode == "mpi":
        raw = RawMpi()
        peer_name, peer = "MPI_Allreduce", raw.allreduce
    else:
        import torch.distributed as dist
        os.environ["MASTER_PORT"] = os.environ["GLOO_PORT"]
        dist.init_process_group("gloo", init_method="env://")
        peer_name, peer = "torch gloo", dist.all_reduce
    rows = []
    for nbytes in SIZES:
        tensor = torch.ones(nbytes // 4)
        n = iterations(nbytes)
        kiln_s = timed(lambda: hvd.allreduce_(tensor, op=hvd.Sum, name="bench"), n)
        hvd.barrier()
        peer_s = timed(lambda: peer(tensor), n)
        hvd.barrier()
        # Every rank's median; the slowest rank's is the collective's.
        kiln_s = max(hvd.allgather_object(kiln_s))
        peer_s = max(hvd.allgather_object(peer_s))
        rows.append({"bytes": nbytes, "kiln": kiln_s, "peer": peer_s})
    if hvd.rank() == 0:
        with open(out_path, "w") as f:
            json.dump({"peer": peer_name, "plane": kiln._hvd.data_plane(),
                       "rows": rows}, f)
    hvd.shutdown()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(mode, ranks):
    out = tempfile.mktemp(suffix=".json")
    python, me = "/usr/bin/python3", os.path.abspath(__file__)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if mode == "mpi":
        subprocess.run(["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
                        "-np", str(ranks), "--mca", "btl", "self,vader", "--mca",
                        "oob_tcp_if_include", "lo", "-x", "PYTHONPATH", "-x", "OMP_NUM_THREADS",
                        python, me, "--worker", mode, out], env=env, check=True)
    else:
        port, gloo_port = free_port(), free_port()
        procs = [subprocess.Popen([python, me, "--worker", mode, out],
                                  env=dict(env, RANK=str(r), WORLD_SIZE=str(ranks),
                                           LOCAL_RANK=str(r), LOCAL_WORLD_SIZE=str(ranks),
                                           MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                                           GLOO_PORT=str(gloo_port)))
                 for r in range(ranks)]
        if any(p.wait() for p in procs):
            sys.exit(f"hvd_allreduce: a {mode} rank failed")
    with open(out) as f:
        result = json.load(f)
    os.unlink(out)
    return result


def human(nbytes):
    for unit, size in (("MB", 1 << 20), ("KB", 1 << 10)):
        if nbytes >= size:
            return f"{nbytes // size} {unit}"
    return f"{nbytes} B"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--worker", nargs=2, metavar=("MODE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(*args.worker)
    for ranks in args.ranks:
        mpi, tcp = launch("mpi", ranks), launch("tcp", ranks)
        factor = 2 * (ranks - 1) / ranks
        print(f"\n{ranks} ranks: latency in us (median), bus bandwidth in GB/s; Kiln's planes: "
              f"{mpi['plane']} under mpirun, {tcp['plane']} without")
        print(f"{'size':>7} | {'kiln mpi':>9} {'kiln tcp':>9} {'MPI_Allr':>9} {'gloo':>9} | "
              f"{'busbw kiln':>10} {'MPI':>6} {'gloo':>6} | ratio")
        for m, t in zip(mpi["rows"], tcp["rows"]):
            nbytes = m["bytes"]
            kiln = min(m["kiln"], t["kiln"])
            best_peer = min(m["peer"], t["peer"])
            busbw = lambda s: nbytes / s * factor / 1e9
            print(f"{human(nbytes):>7} | {m['kiln'] * 1e6:9.1f} {t['kiln'] * 1e6:9.1f} "
                  f"{m['peer'] * 1e6:9.1f} {t['peer'] * 1e6:9.1f} | {busbw(kiln):10.2f} "
                  f"{busbw(m['peer']):6.2f} {busbw(t['peer']):6.2f} | {best_peer / kiln:5.2f}")
        print("ratio: the best peer's time over Kiln's best (above 1.0: Kiln is faster). "
              "Targets: 1 KB in <= 10 us; from 256 KB up a ratio >= 1.0.")


if __name__ == "__main__":
    main()
