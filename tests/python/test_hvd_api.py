"""horovod.torch's API as a script written for Horovod 0.28.1 meets it, on one rank (a
world of one: no launcher variables): the names, the exceptions and the semantics that do
not need other ranks. Across ranks: test_hvd.py."""

import os
import subprocess
import sys
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
SOURCE_PACKAGE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "src", "bindings", "python")


def run_python(code, pythonpath):
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")}
    env["PYTHONPATH"] = pythonpath
    return subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)


class BeforeInitTest(unittest.TestCase):
    def test_queries_before_init_raise_value_error_and_planes_are_off(self):
        code = ("import horovod.torch as hvd\n"
                "for query in (hvd.size, hvd.rank, hvd.local_size, hvd.local_rank,\n"
                "              hvd.cross_size, hvd.cross_rank, hvd.mpi_threads_supported):\n"
                "    try:\n"
                "        query()\n"
                "        print(query.__name__, 'answered')\n"
                "    except ValueError as e:\n"
                "        print(query.__name__, 'ValueError', 'hvd.init()' in str(e))\n"
                "print(hvd.mpi_enabled(), hvd.gloo_enabled(), hvd.is_initialized())\n")
        out = run_python(code, os.environ["PYTHONPATH"])
        self.assertEqual(out.returncode, 0, out.stderr)
        lines = out.stdout.splitlines()
        for name in ("size", "rank", "local_size", "local_rank", "cross_size", "cross_rank",
                     "mpi_threads_supported"):
            self.assertIn(f"{name} ValueError True", lines)
        self.assertEqual(lines[-1], "False False False")


class ImportTest(unittest.TestCase):
    def test_two_copies_of_the_stand_in_on_the_path_import_once(self):
        # A build folder and the source folder both on PYTHONPATH: each copy of Kiln's
        # horovod package must not take the other for a real Horovod.
        path = os.pathsep.join([os.environ["PYTHONPATH"], SOURCE_PACKAGE])
        out = run_python("import horovod, horovod.torch as hvd; print(horovod.kiln_runtime, "
                         "hvd.ddl_built(), hvd.ccl_built())", path)
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        self.assertEqual(out.stdout.strip(), "True False False")


class SubmodulesTest(unittest.TestCase):
    def test_the_submodules_scripts_import_from(self):
        code = ("import horovod.torch as hvd\n"
                "from horovod.torch.mpi_ops import allreduce_async, synchronize, Sum\n"
                "from horovod.torch.functions import broadcast_object, broadcast_parameters\n"
                "from horovod.torch.optimizer import DistributedOptimizer\n"
                "from horovod.torch.compression import Compression, FP16Compressor\n"
                "from horovod.torch.sync_batch_norm import SyncBatchNorm\n"
                "from horovod.common.exceptions import HorovodInternalError\n"
                "print(HorovodInternalError is hvd.HorovodInternalError,\n"
                "      DistributedOptimizer is hvd.DistributedOptimizer,\n"
                "      SyncBatchNorm is hvd.SyncBatchNorm, Compression is hvd.Compression)\n")
        out = run_python(code, os.environ["PYTHONPATH"])
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        self.assertEqual(out.stdout.strip(), "True True True True")


class OneRankTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
            os.environ.pop(name, None)
        import horovod.torch as hvd
        cls.hvd = hvd
        hvd.init()

    def test_topology_of_a_world_of_one(self):
        hvd = self.hvd
        self.assertEqual((hvd.size(), hvd.rank(), hvd.local_size(), hvd.local_rank()),
                         (1, 0, 1, 0))
        self.assertTrue(hvd.gloo_enabled())
        self.assertFalse(hvd.mpi_enabled())
        with self.assertRaises(ValueError):
            hvd.mpi_threads_supported()  # no MPI in use

    def test_synchronize_of_a_handle_not_in_flight_gives_none(self):
        hvd = self.hvd
        handle = hvd.allreduce_async(torch.ones(2), name="once")
        self.assertEqual(hvd.synchronize(handle).tolist(), [1.0, 1.0])
        self.assertIsNone(hvd.synchronize(handle))
        self.assertIsNone(hvd.synchronize(123456))

    def test_objects_may_be_lambdas_and_local_classes(self):
        hvd = self.hvd

        class Local:
            value = 7

        square = hvd.broadcast_object(lambda x: x * x, root_rank=0)
        self.assertEqual(square(3), 9)
        self.assertEqual(hvd.allgather_object(Local)[0].value, 7)

    def test_broadcast_parameters_takes_a_list_of_tensors(self):
        hvd = self.hvd
        model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
        before = [p.detach().clone() for p in model.parameters()]
        hvd.broadcast_parameters(list(model.parameters()), root_rank=0)
        hvd.broadcast_parameters(model.state_dict(), root_rank=0)
        hvd.broadcast_parameters(model.named_parameters(), root_rank=0)
        for p, q in zip(model.parameters(), before):
            self.assertTrue(torch.equal(p, q))

    def test_accumulated_passes_are_summed_as_in_horovod(self):
        hvd = self.hvd
        weight = torch.nn.Parameter(torch.ones(3))
        optimizer = hvd.DistributedOptimizer(torch.optim.SGD([weight], lr=0.0),
                                             named_parameters=[("w", weight)],
                                             backward_passes_per_step=2)
        optimizer.zero_grad()
        for _ in range(2):
            (weight * 2).sum().backward()
        optimizer.step()
        self.assertEqual(weight.grad.tolist(), [4.0, 4.0, 4.0])

    def test_the_errors_horovod_documents_have_its_exception_types(self):
        hvd = self.hvd
        self.assertTrue(issubclass(hvd.HorovodInternalError, RuntimeError))
        cases = {
            # Process sets: bad ranks, and changes without dynamic process sets.
            "ProcessSet of names": lambda: hvd.ProcessSet(["a"]),
            "add without dynamic sets": lambda: hvd.add_process_set([0]),
            "remove without dynamic sets": lambda: hvd.remove_process_set(hvd.ProcessSet([0])),
            "process_set= of a list": lambda: hvd.allreduce(torch.ones(1), process_set=[0]),
            # SyncBatchNorm: below 2-D, and one value per channel while training.
            "SyncBatchNorm on 1-D": lambda: hvd.SyncBatchNorm(3)(torch.ones(3)),
            "SyncBatchNorm of one value": lambda: hvd.SyncBatchNorm(3)(torch.ones(1, 3)),
            "broadcast_parameters of a number": lambda: hvd.broadcast_parameters(3, 0),
            "sparse_allreduce_async of a dense tensor":
                lambda: hvd.sparse_allreduce_async(torch.ones(2), "dense", hvd.Sum),
            "start_timeline without a path": lambda: hvd.start_timeline(""),
        }
        for case, call in cases.items():
            with self.subTest(case=case):
                with self.assertRaises(ValueError) as raised:
                    call()
                # Kiln's own words, or torch's where SyncBatchNorm leaves the check to it.
                self.assertRegex(str(raised.exception), "kiln.hvd|value per channel")
        # A set not added yet has no size or rank (Horovod's None).
        pending = hvd.ProcessSet([0])
        self.assertEqual((pending.size(), pending.rank(), pending.included()), (None, None, None))
        # DistributedOptimizer's misuse: AssertionError, as in Horovod.
        weight = torch.nn.Parameter(torch.ones(2))
        optimizer = hvd.DistributedOptimizer(torch.optim.SGD([weight], lr=0.1),
                                             named_parameters=[("misuse", weight)])
        weight.sum().backward()
        with self.assertRaises(AssertionError):
            weight.sum().backward()  # a second pass with backward_passes_per_step=1
        optimizer.synchronize()
        optimizer.zero_grad()
        weight.sum().backward()
        with self.assertRaises(AssertionError):
            optimizer.zero_grad()  # between backward() and step()
        optimizer.synchronize()
        with optimizer.skip_synchronize():
            optimizer.step()
        # Still usable after every refusal.
        self.assertEqual(hvd.allreduce(torch.ones(1), op=hvd.Sum).item(), 1.0)


if __name__ == "__main__":
    unittest.main()
