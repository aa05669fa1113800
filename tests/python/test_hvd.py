"""kiln.hvd across processes: ranks under mpirun (Open MPI data plane) and ranks started the
way Kiln's launcher starts them (RANK, WORLD_SIZE, MASTER_ADDR/PORT: the TCP ring), 1 to 4
ranks, through `import horovod.torch as hvd`."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "hvd_worker.py")
PYTHON = "/usr/bin/python3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(launch, size, scenario, env=None, timeout=240, expect_ok=True):
    """Runs hvd_worker.py `scenario` on `size` ranks; returns (results by rank, stderr).
    Never hangs: past `timeout` every rank is killed and the failure quotes the runtime's
    stall warnings, which name the ops still waiting and the ranks missing (they come after
    HOROVOD_STALL_CHECK_TIME_SECONDS, 10 here unless `env` says otherwise)."""
    results_dir = tempfile.mkdtemp(prefix="kiln-hvd-test-")
    env = dict({"HOROVOD_STALL_CHECK_TIME_SECONDS": "10"}, **(env or {}),
               HVD_TEST_RESULTS=results_dir)
    base = dict(os.environ, OMP_NUM_THREADS="1", **env)
    if launch == "mpirun":
        argv = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
                "-np", str(size), "--mca", "btl", "self,vader", "--mca", "oob_tcp_if_include",
                "lo", "-x", "PYTHONPATH", "-x", "OMP_NUM_THREADS"]
        for key in env:
            argv += ["-x", key]
        commands = [(argv + [PYTHON, WORKER, scenario], base)]
    else:
        port = free_port()
        commands = [([PYTHON, WORKER, scenario],
                     dict(base, RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(rank),
                          LOCAL_WORLD_SIZE=str(size), MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=str(port)))
                    for rank in range(size)]
    # Each in a session of its own, so that a kill reaches mpirun's ranks too.
    procs = [subprocess.Popen(argv, env=proc_env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
             for argv, proc_env in commands]
    deadline = time.monotonic() + timeout
    outputs, hung = [], False
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=max(1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            hung = True
            # mpirun ends the ranks it started when terminated; anything left is killed.
            for other in procs:
                other.terminate()
            time.sleep(5)
            for other in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(other.pid, signal.SIGKILL)
            outputs.append(proc.communicate())
    outputs += [p.communicate() for p in procs[len(outputs):]]
    stdout = "".join(o[0] for o in outputs)
    stderr = "".join(o[1] for o in outputs)
    codes = [p.returncode for p in procs]
    results = {}
    for name in os.listdir(results_dir):
        with open(os.path.join(results_dir, name)) as f:
            result = json.load(f)
        results[result["rank"]] = result
    shutil.rmtree(results_dir)
    if hung:
        stalls = [line for line in stderr.splitlines() if "has waited over" in line]
        raise AssertionError(f"{launch} {scenario} on {size} ranks hung for {timeout} s; the "
                             f"ops still waiting:\n" + "\n".join(stalls or ["(none reported)"])
                             + f"\n{stderr[-3000:]}")
    if expect_ok and any(codes):
        raise AssertionError(f"{launch} {scenario} on {size} ranks failed ({codes}):\n"
                             f"{stdout[-3000:]}\n{stderr[-6000:]}")
    return results, stderr


# The sizes of the scenario tests; the sanitizer build runs fewer (tests/CMakeLists.txt).
SIZES = [int(n) for n in os.environ.get("KILN_HVD_TEST_SIZES", "1,2,3").split(",")]


def assert_every_check(test, scenario, count):
    """Runs `scenario` at 1, 2 and 3 ranks (SIZES) under mpirun and the TCP ring; every rank
    must report `count` checks, all true."""
    for launch in ("mpirun", "tcp"):
        for size in SIZES:
            with test.subTest(launch=launch, size=size):
                results, _ = run_ranks(launch, size, scenario)
                test.assertEqual(sorted(results), list(range(size)))
                for rank, result in results.items():
                    failed = [what for what, right in result["checks"].items() if not right]
                    test.assertEqual(failed, [], f"rank {rank}")
                    test.assertEqual(len(result["checks"]), count)


class EveryOpTest(unittest.TestCase):
    def test_every_op_dtype_and_size_on_1_to_4_ranks(self):
        for launch in ("mpirun", "tcp"):
            for size in (1, 2, 3, 4):
                with self.subTest(launch=launch, size=size):
                    results, _ = run_ranks(launch, size, "ops")
                    self.assertEqual(sorted(results), list(range(size)))
                    for result in results.values():
                        self.assertEqual(result["mpi"], launch == "mpirun")
                        self.assertEqual(result["local_size"], size)
                        self.assertGreater(result["checked"], 200)
                        # Ranks on one machine allreduce through shared memory.
                        self.assertEqual(result["plane"].endswith("+shm"), size > 1)

    def test_every_op_on_the_planes_without_shared_memory(self):
        for launch in ("mpirun", "tcp"):
            for size in (2, 3):
                with self.subTest(launch=launch, size=size):
                    results, _ = run_ranks(launch, size, "ops",
                                           env={"KILN_HVD_SHARED_MEMORY": "0"})
                    for result in results.values():
                        self.assertEqual(result["plane"], "mpi" if launch == "mpirun" else "tcp")
                        self.assertGreater(result["checked"], 200)


class ErrorsTest(unittest.TestCase):
    def test_each_mismatch_raises_the_same_error_on_every_rank(self):
        for launch in ("mpirun", "tcp"):
            results, _ = run_ranks(launch, 2, "mismatch")
            errors = [results[r]["errors"] for r in range(2)]
            self.assertEqual(errors[0], errors[1])
            e = errors[0]
            self.assertIn("Mismatched allreduce tensor shapes on tensor 'm.shape': "
                          "rank 0 has [1], rank 1 has [2]", e["shape"])
            self.assertIn("rank 0 has float32, rank 1 has float64", e["dtype"])
            self.assertIn("rank 0 asked for allreduce, rank 1 for allgather", e["op"])
            self.assertIn("rank 0 has root 0, rank 1 has root 1", e["root"])
            self.assertIn("rank 0 uses sum, rank 1 uses max", e["reduce_op"])

    def test_a_stalled_tensor_is_reported_with_its_missing_ranks(self):
        _, stderr = run_ranks("tcp", 2, "stall", env={"HOROVOD_STALL_CHECK_TIME_SECONDS": "1"})
        self.assertIn("'slow.tensor' submitted by ranks [0], missing ranks [1]", stderr)

    def test_a_rank_that_dies_fails_the_others_ops_instead_of_hanging(self):
        for scenario in ("lost", "lost_after_submit"):
            with self.subTest(scenario=scenario):
                results, _ = run_ranks("tcp", 2, scenario, expect_ok=False)
                self.assertIn("rank 1", results[0]["error"])
                self.assertLess(results[0]["seconds"], 30)


class DuplicateNameTest(unittest.TestCase):
    def test_a_second_op_in_flight_under_a_name_raises_and_the_first_completes(self):
        for launch in ("mpirun", "tcp"):
            with self.subTest(launch=launch):
                results, _ = run_ranks(launch, 2, "duplicate", timeout=120)
                self.assertIn("a tensor named 'dup' is already pending on rank 0",
                              results[0]["second"])
                for result in results.values():
                    self.assertEqual(result["first"], [2.0] * 4)


class JoinTest(unittest.TestCase):
    def test_join_with_uneven_batches(self):
        for launch in ("mpirun", "tcp"):
            results, _ = run_ranks(launch, 3, "join")
            # Batch b runs on ranks with more than b batches; joined ranks add zeros.
            for rank, result in results.items():
                self.assertEqual(result["results"], [3.0, 3.0, 2.0, 1.0][:2 + rank])
                self.assertEqual(result["last_joined"], 2)


class TrainingParityTest(unittest.TestCase):
    def test_two_ranks_end_with_the_weights_of_one_on_the_doubled_batch(self):
        for launch in ("mpirun", "tcp"):
            results, _ = run_ranks(launch, 2, "parity")
            for result in results.values():
                self.assertLess(result["difference"], 1e-5)
                self.assertLess(result["ranks_differ_by"], 1e-6)


class ScenarioTest(unittest.TestCase):
    """Scenarios whose every rank reports named checks (assert_every_check: 1, 2 and 3
    ranks under mpirun and the TCP ring)."""

    def test_every_collective_has_a_backward(self):
        assert_every_check(self, "gradients", count=6)

    def test_grouped_ops_sparse_allreduce_and_sparse_gradients(self):
        assert_every_check(self, "grouped_and_sparse", count=9)

    def test_ops_autograd_and_optimizer_within_static_and_dynamic_process_sets(self):
        assert_every_check(self, "process_sets", count=10)

    def test_adasum_ops_and_optimizer_and_gradient_groups(self):
        assert_every_check(self, "adasum_and_groups", count=8)

    def test_sync_batch_norm_matches_batch_norm_on_the_whole_batch(self):
        assert_every_check(self, "sync_batch_norm", count=7)

    def test_the_rest_of_the_api_reference_by_value_and_error(self):
        assert_every_check(self, "reference", count=28)


class BoolTest(unittest.TestCase):
    def test_bool_tensors_on_3_ranks(self):
        for launch in ("mpirun", "tcp"):
            with self.subTest(launch=launch):
                results, _ = run_ranks(launch, 3, "bools")
                rows = [[r == 0, True, False, r % 2 == 1] for r in range(3)]
                for rank, result in results.items():
                    self.assertTrue(result["allreduce_right"])
                    self.assertEqual(result["gathered"], rows)
                    self.assertEqual(result["broadcast"], rows[2])
                    # Each rank sent its row to every rank: rank r receives every row.
                    self.assertEqual(result["received"], sum(rows, []))
                    self.assertEqual(result["dtypes"], ["torch.bool"] * 3)
                    self.assertIn("bool tensors have no average", result["average_error"])


class BroadcastParametersTest(unittest.TestCase):
    def test_a_list_of_bare_tensors_ends_equal_to_the_roots(self):
        for launch in ("mpirun", "tcp"):
            with self.subTest(launch=launch):
                results, _ = run_ranks(launch, 3, "parameters_list")
                self.assertEqual(sorted(results), [0, 1, 2])
                for result in results.values():
                    self.assertEqual(result["differ_by"], 0.0)


class RealHorovodWinsTest(unittest.TestCase):
    def test_an_installed_horovod_is_imported_instead(self):
        with tempfile.TemporaryDirectory() as site:
            os.makedirs(os.path.join(site, "horovod", "torch"))
            with open(os.path.join(site, "horovod", "__init__.py"), "w") as f:
                f.write("REAL = True\n")
            with open(os.path.join(site, "horovod", "torch", "__init__.py"), "w") as f:
                f.write("def init():\n    return 'real horovod'\n")
            code = "import horovod.torch as hvd, horovod; print(hvd.init(), horovod.REAL)"
            env = dict(os.environ, PYTHONPATH=os.environ["PYTHONPATH"] + os.pathsep + site)
            out = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True)
            self.assertEqual(out.stdout.strip(), "real horovod True", out.stderr)
            # Without it, Kiln's runtime answers.
            code = "import horovod.torch as hvd, horovod; print(horovod.kiln_runtime, hvd.Sum)"
            out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True)
            self.assertEqual(out.stdout.strip(), "True 1", out.stderr)


if __name__ == "__main__":
    unittest.main()
