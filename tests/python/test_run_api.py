"""The in-job Run API (kiln.Run.get_context()) outside and inside a job's environment."""

import io
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

from kiln import Run

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


def run_in_job(code, run_dir):
    """Runs `code` in a fresh interpreter with the environment a Kiln rank gets."""
    env = dict(os.environ, KILN_RUN_ID="r1", KILN_RUN_DIR=run_dir, KILN_RANK="0",
               KILN_EXPERIMENT="e")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=60)


class OfflineRunTest(unittest.TestCase):
    def test_offline_run_prints_what_it_would_log(self):
        result = subprocess.run(
            [sys.executable, "-c", "from kiln import Run\nr = Run.get_context()\n"
                                   "print(r.id.startswith('OfflineRun_'), r.experiment_name)\n"
                                   "r.log('loss', 0.5)\nr.log_list('l', [1, 2])\n"
                                   "r.tag('k', 'v')\nprint(r.get_metrics())"],
            capture_output=True, text=True, timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("KILN_RUN")})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.splitlines(), [
            "True offline",
            "[kiln offline] loss = 0.5",
            "[kiln offline] list l = [1.0,2.0]",
            "[kiln offline] tag k = v",
            "{}",
        ])

    def test_bad_input_raises(self):
        run = Run.get_context()
        cases = [
            (lambda: run.log("loss", float("nan")), ValueError, "finite"),
            (lambda: run.log("loss", float("inf")), ValueError, "finite"),
            (lambda: run.log("", 1), ValueError, "must not be empty"),
            (lambda: run.log("x" * 300, 1), ValueError, "the most is 255"),
            (lambda: run.log("loss", "0.5"), TypeError, "must be a number, got str"),
            (lambda: run.log("loss", [1]), TypeError, "must be a number, got list"),
            (lambda: run.log("loss", 1, step=1.5), TypeError, "step must be an int"),
            (lambda: run.log_list("l", "123"), TypeError, "list of numbers"),
            (lambda: run.log_list("l", [1, float("nan")]), ValueError, "finite"),
            (lambda: run.log_row("r", a="x"), TypeError, "must be a number"),
            (lambda: run.log_table("t", [1, 2]), TypeError, "dict of column"),
            (lambda: run.log_image("i"), ValueError, "exactly one of path= and plot="),
        ]
        for call, error, text in cases:
            with self.assertRaises(error) as raised:
                call()
            self.assertIn(text, str(raised.exception))

    def test_numpy_and_torch_scalars_are_numbers(self):
        import numpy
        import torch
        run = Run.get_context()
        run.log("a", numpy.float32(0.5))
        run.log("b", numpy.int64(3))
        run.log("c", torch.tensor(0.25))
        run.log("d", True)


class InJobRunTest(unittest.TestCase):
    def test_metrics_land_in_the_spool_and_read_back(self):
        with tempfile.TemporaryDirectory() as run_dir:
            png = os.path.join(run_dir, "in.png")
            with open(png, "wb") as f:
                f.write(PNG)
            result = run_in_job(f"""
                import io, json
                from kiln import Run
                run = Run.get_context()
                assert run.id == "r1" and run.experiment_name == "e", run
                for i in range(5):
                    run.log("loss", 1 / (i + 1))
                run.log("acc", 0.9, step=7, description="test accuracy")
                run.log_list("hist", [1, 2, 3])
                run.log_row("scores", epoch=1, acc=0.5)
                run.log_row("scores", epoch=2, acc=0.7)
                run.log_table("curve", {{"x": [1, 2], "y": [3, 4]}})
                run.log_image("file", path={png!r})
                import matplotlib
                matplotlib.use("Agg")
                import matplotlib.pyplot as plt
                plt.plot([1, 2, 3])
                run.log_image("plot", plot=plt)
                run.set_tags({{"a": 1, "b": "two"}})
                run.upload_file("notes/n.txt", io.StringIO("hello"))
                try:
                    run.log_image("bad", path={png!r} + "x")
                except ValueError as e:
                    print("refused:", e)
                try:
                    run.log_list("loss", [1])
                except ValueError as e:
                    print("refused:", e)
                print(json.dumps(run.get_metrics(), sort_keys=True))
            """, run_dir)
            self.assertEqual(result.returncode, 0, result.stderr)
            lines = result.stdout.splitlines()
            self.assertIn("cannot read", lines[0])
            self.assertIn("was logged as a scalar; it cannot also be a list", lines[1])
            metrics = json.loads(lines[2])
            self.assertEqual(len(metrics["loss"]), 5)
            self.assertEqual(metrics["acc"], 0.9)
            self.assertEqual(metrics["hist"], [1.0, 2.0, 3.0])
            self.assertEqual(metrics["scores"], {"acc": [0.5, 0.7], "epoch": [1.0, 2.0]})
            self.assertEqual(metrics["curve"], {"x": [1.0, 2.0], "y": [3.0, 4.0]})
            self.assertEqual(metrics["file"], "outputs/images/file.png")
            self.assertTrue(os.path.exists(os.path.join(run_dir, "outputs/images/plot.png")))
            with open(os.path.join(run_dir, "outputs/notes/n.txt")) as f:
                self.assertEqual(f.read(), "hello")
            self.assertTrue(os.path.exists(os.path.join(run_dir, "metrics/rank-0.spool")))

    def test_a_forked_child_cannot_log(self):
        with tempfile.TemporaryDirectory() as run_dir:
            result = run_in_job("""
                import os
                from kiln import Run
                run = Run.get_context()
                run.log("x", 1)
                pid = os.fork()
                if pid == 0:
                    try:
                        run.log("x", 2)
                        os._exit(1)
                    except RuntimeError as e:
                        print("child refused:", e, flush=True)
                        os._exit(0)
                _, status = os.waitpid(pid, 0)
                run.log("x", 3)
                print(os.waitstatus_to_exitcode(status), run.get_metrics()["x"])
            """, run_dir)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("child refused: metrics cannot be logged from a forked child",
                          result.stdout)
            self.assertTrue(result.stdout.endswith("0 [1.0, 3.0]\n"), result.stdout)


if __name__ == "__main__":
    unittest.main()
