"""kiln.core.ScriptRunConfig and kiln.runconfig against the SDK's meaning, end to end: real
launchers, ranks and a SQLite store in a fresh KILN_HOME; and their refusals."""

import os
import unittest

from kiln import Datastore
from kiln.core import Experiment, Run, ScriptRunConfig, Workspace
from kiln.runconfig import DockerConfiguration, MpiConfiguration, PyTorchConfiguration
from kiln_test_support import KilnTestCase

ARGV = """
    import json, os, sys
    print("argv", json.dumps(sys.argv[1:]), flush=True)
    print("rank", os.environ.get("RANK"), "of", os.environ.get("WORLD_SIZE"), flush=True)
"""


class ScriptRunConfigTest(KilnTestCase):
    def run_config(self, **config):
        source = self.project("proj", {"train.py": ARGV})
        run = Experiment(self.ws, "src").submit(ScriptRunConfig(source_directory=source,
                                                                script="train.py", **config))
        self.assertIsInstance(run, Run)
        details = run.wait_for_completion()
        self.assertEqual(details["status"], "Completed", details)
        return run

    def log_lines(self, run, prefix):
        with open(os.path.join(self.home, "runs", run.id, "logs", "rank-0.log")) as f:
            text = f.read()
        return [line for line in text.splitlines() if prefix in line]

    def test_arguments_reach_the_script_in_order(self):
        data = os.path.join(self.root, "data")
        os.makedirs(data)
        Datastore.register(self.ws, "fm", data)
        run = self.run_config(arguments=["--epochs", 3, "--lr", -0.5, "--verbose",
                                         "--data", Datastore.get(self.ws, "fm"), "extra"])
        argv = self.log_lines(run, "argv ")[0].split("argv ", 1)[1]
        self.assertEqual(argv, '["--epochs", "3", "--lr", "-0.5", "--verbose", "--data", "'
                         + data + '", "extra"]')

    def test_mpi_configuration_runs_its_ranks_under_mpirun(self):
        run = self.run_config(distributed_job_config=MpiConfiguration(process_count_per_node=2))
        definition = run.get_details()["runDefinition"]
        self.assertEqual((definition["communicator"], definition["nodeCount"], definition["mpi"]),
                         ("Mpi", 1, {"processCountPerNode": 2}))

    def test_pytorch_configuration_spreads_process_count_over_the_nodes(self):
        run = self.run_config(distributed_job_config=PyTorchConfiguration(
            communication_backend="Gloo", process_count=2))
        definition = run.get_details()["runDefinition"]
        self.assertEqual(definition["pyTorch"], {"communicationBackend": "Gloo", "processCount": 2})
        self.assertEqual([line.split(" out ", 1)[1] for line in self.log_lines(run, " out rank ")],
                         ["rank 0 of 2"])
        layout = PyTorchConfiguration(process_count=8, node_count=4)._layout()
        self.assertEqual(layout, {"distributed_backend": "nccl", "node_count": 4,
                                  "process_count_per_node": 2})

    def test_the_limits_and_target_are_the_jobs(self):
        run = self.run_config(max_run_duration_seconds=120, compute_target="local")
        definition = run.get_details()["runDefinition"]
        self.assertEqual(definition["maxRunDurationSeconds"], 120)
        self.assertEqual(definition["target"], "local")
        self.assertEqual(definition["script"], "train.py")
        self.assertEqual(ScriptRunConfig(".", script="a.py").max_run_duration_seconds, 2592000)


class RefusalTest(unittest.TestCase):
    def refused(self, error, text, make):
        with self.assertRaises(error) as caught:
            make()
        self.assertIn(text, str(caught.exception))

    def test_what_kiln_cannot_do_is_refused_with_the_way_out(self):
        self.refused(ValueError, "no container engine", lambda: ScriptRunConfig(
            ".", script="a.py", docker_runtime_config=DockerConfiguration(use_docker=True)))
        ScriptRunConfig(".", script="a.py", docker_runtime_config=DockerConfiguration(use_docker=False))
        self.refused(ValueError, "script is required", lambda: ScriptRunConfig("."))
        self.refused(NotImplementedError, "give script= and arguments=",
                     lambda: ScriptRunConfig(".", script="a.py", command=["python", "a.py"]))
        self.refused(ValueError, "'--x' comes twice",
                     lambda: ScriptRunConfig(".", script="a.py", arguments=["--x", 1, "--x", 2]))
        self.refused(TypeError, "PyTorchConfiguration or an MpiConfiguration",
                     lambda: ScriptRunConfig(".", script="a.py", distributed_job_config=object()))
        self.refused(ValueError, "must be 'Nccl' or 'Gloo', not 'mpi'",
                     lambda: PyTorchConfiguration(communication_backend="mpi"))
        self.refused(ValueError, "process_count (3) must be a multiple of node_count (2)",
                     lambda: PyTorchConfiguration(process_count=3, node_count=2))
        self.refused(ValueError, "process_count_per_node must be a whole number >= 1, not 0",
                     lambda: MpiConfiguration(process_count_per_node=0))

    def test_a_bad_job_is_refused_by_name_and_makes_no_run(self):
        import tempfile
        with tempfile.TemporaryDirectory() as home:
            os.environ["KILN_HOME"] = home
            ws = Workspace()
            src = ScriptRunConfig(home, script="missing.py")
            with self.assertRaises(Exception) as caught:
                Experiment(ws, "src").submit(src)
            self.assertIn("ScriptRunConfig", str(caught.exception))
            self.assertEqual(Experiment(ws, "src").get_runs(), [])


if __name__ == "__main__":
    unittest.main()
