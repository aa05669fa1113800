"""The SDK end to end: submit through the estimator API, wait, read metrics and files, each
against a real launcher, processes and SQLite store in a fresh KILN_HOME."""

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest
import warnings

from kiln import ActivityFailedException, ComputeTarget, Datastore, Experiment, Model, Run
from kiln.train.dnn import Mpi, PyTorch
from kiln_test_support import KilnTestCase

KILN = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "build", "kiln")

TRAIN = """
    import sys
    from kiln import Run
    run = Run.get_context()
    print("args", sys.argv[1:], flush=True)
    for i in range(200):
        run.log("loss", 1.0 / (i + 1))
    run.log("accuracy", 0.8, step=1)
    run.log("accuracy", 0.9, step=2)
    run.log_row("epoch", epoch=1, acc=0.8)
    run.tag("stage", "done")
    import os
    os.makedirs("outputs/ckpt", exist_ok=True)
    open("outputs/model.pt", "w").write("weights")
    open("outputs/ckpt/e1.pt", "w").write("e1")
"""


class SdkTest(KilnTestCase):
    def submit(self, files, **estimator):
        source = self.project("proj", files)
        estimator.setdefault("entry_script", "train.py")
        return Experiment(self.ws, "sdk").submit(PyTorch(source_directory=source, **estimator),
                                                 tags={"from": "test"})

    def test_pip_packages_build_an_environment_for_the_run(self):
        package = self.project("pkg", {
            "kiln_sdktest/__init__.py": "VALUE = 7\n",
            "setup.py": "from setuptools import setup\n"
                        "setup(name='kiln-sdktest', version='1.0', packages=['kiln_sdktest'])\n"})
        wheels = os.path.join(os.path.dirname(package), "wheels")
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "--no-index", "--disable-pip-version-check", "-q", "-w", wheels, "."],
                       cwd=package, check=True)
        run = self.submit({"train.py": "import kiln_sdktest\nprint('value', kiln_sdktest.VALUE)\n"},
                          pip_packages=["kiln-sdktest"],
                          environment={"name": "sdk-extras", "pip_find_links": [wheels]})
        self.assertEqual(run.wait_for_completion()["status"], "Completed")
        log = open(os.path.join(self.home, "runs", run.id, "logs", "rank-0.log")).read()
        self.assertIn("value 7", log)

    def test_submit_wait_and_read(self):
        data = self.project("data", {"a.txt": "alpha"})
        ds = Datastore.register(self.ws, "data", data)
        run = self.submit({"train.py": TRAIN},
                          script_params={"--data_dir": ds, "--copy": ds.path("a.txt").as_download(),
                                         "--epochs": 2, "--verbose": None})
        self.assertTrue(run.id.startswith("sdk_"))
        self.assertEqual(run.experiment_name, "sdk")
        details = run.wait_for_completion()
        self.assertEqual(details["status"], "Completed")
        self.assertEqual(run.get_status(), "Completed")
        metrics = run.get_metrics()
        self.assertEqual(len(metrics["loss"]), 200)
        self.assertEqual(metrics["loss"][0], 1.0)
        self.assertEqual(metrics["accuracy"], [0.8, 0.9])
        self.assertEqual(metrics["epoch"], {"acc": [0.8], "epoch": [1.0]})
        self.assertEqual(run.get_metrics("accuracy"), {"accuracy": [0.8, 0.9]})
        self.assertEqual(run.get_tags(), {"from": "test", "stage": "done"})
        self.assertEqual(run.get_file_names(),
                         ["logs/rank-0.log", "outputs/ckpt/e1.pt", "outputs/model.pt"])
        out = os.path.join(self.root, "out")
        run.download_files(prefix="outputs", output_directory=out)
        with open(os.path.join(out, "outputs/ckpt/e1.pt")) as f:
            self.assertEqual(f.read(), "e1")
        run.download_file("outputs/model.pt", os.path.join(self.root, "model.pt"))
        self.assertTrue(os.path.exists(os.path.join(self.root, "model.pt")))
        with open(details["logFiles"]["logs/rank-0.log"]) as f:
            log = f.read()
        copy = os.path.join(details["properties"]["run_dir"], "data/data/a.txt")
        self.assertIn(f"'--data_dir', '{data}', '--copy', '{copy}', '--epochs', '2', '--verbose'",
                      log)
        # The same run, found again by id and by the CLI.
        again = Run(Experiment(self.ws, "sdk"), run.id)
        self.assertEqual(again.get_status(), "Completed")
        shown = subprocess.run([KILN, "show", run.id, "--json"], capture_output=True, text=True,
                               env=os.environ)
        self.assertEqual(json.loads(shown.stdout)["status"], "Completed")
        self.assertEqual([r.id for r in Experiment(self.ws, "sdk").get_runs()], [run.id])

    def watch(self, run):
        """wait_for_completion(show_output=True) in another process; returns its stdout."""
        script = (f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r})\n"
                  f"from kiln import Workspace, Experiment, Run\n"
                  f"run = Run(Experiment(Workspace(), 'sdk'), {run.id!r})\n"
                  f"run.wait_for_completion(show_output=True)\n")
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                env=os.environ, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def test_register_a_model_and_read_it_back(self):
        run = self.submit({"train.py": """
            import os, torch, kiln.onnx
            from kiln import Run
            torch.manual_seed(0)
            model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1))
            kiln.onnx.export(model, torch.rand(2, 4), "outputs/model.onnx")
            Run.get_context().log("accuracy", 0.5)
            try:
                Run.get_context().register_model("m", "outputs/model.onnx")
            except RuntimeError as e:
                print("refused:", e)
        """})
        run.wait_for_completion()
        model = run.register_model("sdk-model", "outputs/model.onnx", tags={"k": "v"},
                                   description="four in, three out")
        self.assertEqual((model.name, model.version, model.run_id), ("sdk-model", 1, run.id))
        self.assertEqual(model.tags, {"k": "v"})
        self.assertEqual(model.metrics, {"accuracy": 0.5})
        self.assertLess(model.parity["max_abs_diff"], 1e-4)
        self.assertEqual(model.signature["inputs"][0]["shape"], [None, 4])
        self.assertEqual(run.register_model("sdk-model").version, 2)
        self.assertEqual(Model(self.ws, "sdk-model").version, 2)
        self.assertEqual(Model(self.ws, "sdk-model", version=1).description, "four in, three out")
        self.assertEqual([m.version for m in Model.list(self.ws)], [2, 1])
        path = Model(self.ws, "sdk-model", 1).download(self.root)
        self.assertEqual(os.path.basename(path), "model.onnx")
        Model(self.ws, "sdk-model", 1).delete()
        with self.assertRaisesRegex(LookupError, "model 'sdk-model' has no version 1"):
            Model(self.ws, "sdk-model", 1)
        with self.assertRaisesRegex(ValueError, "not valid"):
            run.register_model("no spaces allowed")

    def test_show_output_streams_the_log(self):
        run = self.submit({"train.py": "print('hello from the job')\n"})
        output = self.watch(run)
        self.assertIn("hello from the job", output)
        self.assertIn(f"RunId: {run.id}", output)
        self.assertIn("Status: Completed", output)

    def test_show_output_replaces_bytes_that_are_not_utf8(self):
        """A script printing latin-1: shown with U+FFFD, no UnicodeDecodeError."""
        run = self.submit({"train.py": "import sys\n"
                                       "sys.stdout.buffer.write(b'caf\\xe9\\n')\n"
                                       "sys.stdout.flush()\n"
                                       "print('after', flush=True)\n"})
        shown = io.StringIO()
        with contextlib.redirect_stdout(shown):
            details = run.wait_for_completion(show_output=True)
        self.assertEqual(details["status"], "Completed")
        self.assertIn("caf\ufffd\nafter\n", shown.getvalue())

    def test_failure_log_tail_that_is_not_utf8_is_replaced(self):
        run = self.submit({"train.py": "import sys\n"
                                       "sys.stdout.buffer.write(b'caf\\xe9\\n')\n"
                                       "sys.stdout.flush()\n"
                                       "sys.exit(3)\n"})
        shown = io.StringIO()
        with contextlib.redirect_stdout(shown), self.assertRaises(ActivityFailedException) as raised:
            run.wait_for_completion(show_output=True)
        self.assertIn("caf\ufffd\n", shown.getvalue())
        self.assertEqual(raised.exception.details["status"], "Failed")
        self.assertIn("caf\ufffd", raised.exception.details["error_log_tail"])

    def test_failure_raises_with_the_reason(self):
        run = self.submit({"train.py": "raise ValueError('bad learning rate')\n"})
        with self.assertRaises(ActivityFailedException) as raised:
            run.wait_for_completion()
        details = raised.exception.details
        self.assertEqual(details["status"], "Failed")
        self.assertEqual(details["error"], "rank 0 exited with code 1")
        self.assertEqual(details["error_log_tail"][-1], "ValueError: bad learning rate")
        self.assertEqual(run.wait_for_completion(raise_on_error=False)["status"], "Failed")

    def test_cancel(self):
        run = self.submit({"train.py": "import time\nprint('up', flush=True)\ntime.sleep(600)\n"})
        for _ in range(500):
            if run.get_status() == "Running":
                break
            time.sleep(0.02)
        run.cancel()
        self.assertEqual(run.get_status(), "Canceled")

    def test_estimator_errors_name_the_field(self):
        source = self.project("proj", {"train.py": "print(1)\n"})
        exp = Experiment(self.ws, "sdk")
        with self.assertRaises(ValueError) as raised:
            exp.submit(PyTorch(source_directory=source, entry_script="train.py", node_count=0))
        self.assertEqual(str(raised.exception),
                         "PyTorch estimator: node_count: must be >= 1, got 0")
        with self.assertRaises(ValueError) as raised:
            exp.submit(PyTorch(source_directory=source, entry_script="missing.py"))
        self.assertIn("entry_script: 'missing.py' not found", str(raised.exception))
        with self.assertRaises(ValueError) as raised:
            exp.submit(PyTorch(source_directory=source, entry_script="train.py",
                               script_params={"--d": "{datastore:none}"}))
        self.assertIn("datastore 'none' is not registered", str(raised.exception))
        with self.assertRaises(TypeError):
            PyTorch(source_directory=source, entry_script="train.py", learning_rate=1)
        with self.assertRaises(NotImplementedError):
            PyTorch(source_directory=source, entry_script="train.py", resume_from="x")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = PyTorch(source_directory=source, entry_script="train.py", vm_size="NC6",
                          distributed_training=Mpi(process_count_per_node=2))
        self.assertIn("vm_size", str(caught[0].message))
        self.assertEqual((est.distributed_backend, est.process_count_per_node), ("mpi", 2))
        with self.assertRaises(ValueError) as raised:
            exp.submit(PyTorch(source_directory=source, entry_script="train.py", node_count=2,
                               distributed_training=Mpi(process_count_per_node=2)))
        self.assertIn("compute target 'local' is one machine; node_count must be 1, got 2",
                      str(raised.exception))
        self.assertEqual(self.ws._core.runs(), [])

    def test_mpi_ranks_stream_their_output(self):
        run = self.submit({"train.py": "import os\nprint('hello from', os.environ['RANK'])\n"},
                          distributed_training=Mpi(process_count_per_node=2))
        output = self.watch(run)
        self.assertIn("[rank 0] hello from 0", output)
        self.assertIn("[rank 1] hello from 1", output)
        self.assertIn("Status: Completed", output)

    def test_datastores(self):
        with self.assertRaises(LookupError):
            Datastore.get(self.ws, "nope")
        data = self.project("d", {"x": "x"})
        Datastore.register(self.ws, "d1", data)
        self.assertEqual(Datastore.get(self.ws, "d1").path_on_disk, data)
        self.assertEqual(list(self.ws.datastores), ["d1"])
        self.assertEqual(str(Datastore.get(self.ws, "d1").path("sub/x").as_download()),
                         "{datastore:d1/sub/x:download}")
        with self.assertRaises(RuntimeError):
            Datastore.register(self.ws, "d1", data)

    def test_compute_targets(self):
        self.assertEqual(ComputeTarget.list(self.ws), [])
        with self.assertRaises(LookupError):
            ComputeTarget(self.ws, "cluster")
        with self.assertRaisesRegex(ValueError, "--runs-root: 'runs' must be an absolute path"):
            ComputeTarget.create(self.ws, "cluster", partition="debug", max_nodes=2,
                                 runs_root="runs")
        with self.assertRaisesRegex(ValueError, "--type: 'pbs' is not a target type"):
            ComputeTarget.create(self.ws, "cluster", type="pbs", partition="debug",
                                 max_nodes=2, runs_root="/tmp")
        with self.assertRaisesRegex(ValueError, "'local' is the built-in target"):
            ComputeTarget.create(self.ws, "local", partition="debug", max_nodes=2,
                                 runs_root="/tmp")

    def test_logged_points_survive_sigkill_of_the_rank(self):
        run = self.submit({"train.py": """
            import os, signal
            from kiln import Run
            run = Run.get_context()
            for i in range(50000):
                run.log("loss", i)
            print("logged", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        """})
        details = run.wait_for_completion(raise_on_error=False)
        self.assertEqual(details["error"], "rank 0 was killed by SIGKILL")
        loss = run.get_metrics()["loss"]
        self.assertEqual(len(loss), 50000)
        self.assertEqual(loss[-1], 49999)

    def test_log_from_a_submitted_run_is_refused(self):
        run = self.submit({"train.py": "print(1)\n"})
        with self.assertRaises(RuntimeError) as raised:
            run.log("x", 1)
        self.assertIn("call it in the training script", str(raised.exception))
        run.wait_for_completion()


if __name__ == "__main__":
    unittest.main()
