"""A submitted run's lifecycle through the SDK, as AML v1 code reaches for it: tags, display
name and description changed after submit, archiving, children and the portal URL; against
real launchers and a SQLite store in a fresh KILN_HOME."""

import os
import unittest
import warnings

from kiln import Datastore
from kiln.core import Experiment, Run, ScriptRunConfig
from kiln.train.dnn import PyTorch
from kiln.train.hyperdrive import (GridParameterSampling, HyperDriveConfig, PrimaryMetricGoal,
                                   choice)
from kiln_test_support import KilnTestCase

TRAIN = """
    import argparse
    from kiln import Run
    p = argparse.ArgumentParser()
    p.add_argument("--quality", type=float, default=0.5)
    run = Run.get_context()
    run.tag("from_job", "yes")
    run.log("accuracy", p.parse_args().quality)
"""


class RunLifecycleTest(KilnTestCase):
    def submit(self, experiment="life", **kwargs):
        source = self.project("proj", {"train.py": TRAIN})
        run = Experiment(self.ws, experiment).submit(
            ScriptRunConfig(source_directory=source, script="train.py"), **kwargs)
        run.wait_for_completion()
        return run

    def test_tags_name_and_description_change_after_the_run(self):
        run = self.submit(tags={"owner": "ana"}, display_name="first")
        run.tag("reviewed")
        run.tag("score", 0.93)
        run.set_tags({"owner": "ben", "stage": None})
        run.remove_tags(["score"])
        run.remove_tags("not-there")  # removing a tag the run lacks is no error
        self.assertEqual(run.get_tags(),
                         {"owner": "ben", "reviewed": "", "stage": "", "from_job": "yes"})
        self.assertEqual(run.display_name, "first")
        run.display_name = "baseline, 5 epochs"
        run.description = "Adam, lr 1e-3.\n\tNo augmentation."
        again = Run(Experiment(self.ws, "life"), run.id)  # a fresh handle reads the store
        self.assertEqual(again.display_name, "baseline, 5 epochs")
        self.assertEqual(again.description, "Adam, lr 1e-3.\n\tNo augmentation.")
        self.assertEqual(again.get_tags()["owner"], "ben")

    def test_bad_edits_are_refused_and_change_nothing(self):
        run = self.submit()
        before = run.get_tags()
        for call, words in [
                (lambda: run.tag("bad key", 1), "keys must be 1 to 128 letters"),
                (lambda: run.tag("k", "two\nlines"), "newline"),
                (lambda: run.set_tags({"ok": "1", "k": b"\xe9".decode("latin-1") + "\x01"}),
                 "k: the value's"),
                (lambda: setattr(run, "display_name", "x" * 300), "at most 256"),
                (lambda: setattr(run, "description", "bell\x07"), "control character (0x07)")]:
            with self.assertRaises(ValueError) as raised:
                call()
            self.assertIn(words, str(raised.exception))
        self.assertEqual(run.get_tags(), before)
        self.assertEqual(Run(Experiment(self.ws, "life"), run.id).display_name, "")

    def test_archived_runs_are_hidden_until_asked_for_and_restorable(self):
        kept, archived = self.submit(), self.submit()
        archived.archive()
        self.assertTrue(archived.archived)
        experiment = Experiment(self.ws, "life")
        self.assertEqual([r.id for r in experiment.get_runs()], [kept.id])
        self.assertEqual([r.id for r in experiment.get_runs(view_type="ArchivedOnly")],
                         [archived.id])
        self.assertEqual(len(experiment.get_runs(view_type="All")), 2)
        archived.restore()
        self.assertEqual({r.id for r in experiment.get_runs()}, {kept.id, archived.id})
        self.assertEqual([e.name for e in Experiment.list(self.ws)], ["life"])

    def test_get_runs_where_finds_runs_by_metric_and_tag(self):
        source = self.project("q", {"train.py": TRAIN})
        experiment = Experiment(self.ws, "where")
        runs = {}
        for quality, owner in [(0.95, "ana"), (0.5, "ana"), (0.97, "ben")]:
            run = experiment.submit(ScriptRunConfig(
                source_directory=source, script="train.py",
                arguments=["--quality", quality]), tags={"owner": owner})
            run.wait_for_completion()
            runs[(quality, owner)] = run.id
        found = experiment.get_runs(where="metrics.accuracy > 0.9 and tags.owner = 'ana'")
        self.assertEqual([r.id for r in found], [runs[(0.95, "ana")]])
        with self.assertRaises(ValueError) as raised:
            experiment.get_runs(where="params.--quality > 0.9")
        self.assertIn("where: at 18 ('>'): params.--quality is text", str(raised.exception))

    def test_delete_removes_the_run_and_its_folder(self):
        run, kept = self.submit(), self.submit()
        folder = os.path.join(self.home, "runs", run.id)
        self.assertTrue(os.path.isdir(folder))
        self.assertEqual(run.delete(), [run.id])
        self.assertFalse(os.path.exists(folder))
        self.assertEqual([r.id for r in Experiment(self.ws, "life").get_runs(view_type="All")],
                         [kept.id])
        with self.assertRaises(LookupError):
            Run(Experiment(self.ws, "life"), run.id)

    def test_a_run_still_going_cannot_be_archived(self):
        source = self.project("slow", {"train.py": "import time\ntime.sleep(30)\n"})
        run = Experiment(self.ws, "slow").submit(
            ScriptRunConfig(source_directory=source, script="train.py"))
        try:
            with self.assertRaises(RuntimeError) as raised:
                run.archive()
            self.assertIn("only a run that has ended can be archived", str(raised.exception))
        finally:
            run.cancel()

    def test_children_of_a_sweep_filtered_and_recursive(self):
        source = self.project("proj", {"train.py": TRAIN})
        config = HyperDriveConfig(
            estimator=PyTorch(source_directory=source, entry_script="train.py"),
            hyperparameter_sampling=GridParameterSampling({"--quality": choice(0.2, 0.8)}),
            primary_metric_name="accuracy", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
            max_total_runs=2, max_concurrent_runs=2)
        sweep = Experiment(self.ws, "sw").submit(config)
        sweep.wait_for_completion()
        children = sweep.get_children()
        self.assertEqual(len(children), 2)
        self.assertEqual({c.parent.id for c in children}, {sweep.id})
        children[0].tag("pick")
        self.assertEqual([c.id for c in sweep.get_children(tags="pick")], [children[0].id])
        self.assertEqual([c.id for c in sweep.get_children(tags={"pick": ""})], [children[0].id])
        self.assertEqual(sweep.get_children(status="Failed"), [])
        plain = Run(Experiment(self.ws, "sw"), sweep.id)
        self.assertEqual({c.id for c in plain.get_children(recursive=True)},
                         {c.id for c in children})
        self.assertEqual(children[0].get_children(), [])
        # The experiment's runs leave trials out unless asked, as the SDK does.
        self.assertEqual([r.id for r in Experiment(self.ws, "sw").get_runs()], [sweep.id])
        self.assertEqual(len(Experiment(self.ws, "sw").get_runs(include_children=True)), 3)
        # Archiving the sweep takes its trials with it.
        sweep.archive()
        self.assertEqual(Experiment(self.ws, "sw").get_runs(include_children=True), [])
        # A trial is deleted only with its sweep; the sweep's own folder goes too.
        with self.assertRaises(RuntimeError) as raised:
            children[0].delete()
        self.assertIn("a trial goes with its sweep", str(raised.exception))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no folder is left behind to warn of
            deleted = sweep.delete()
        self.assertEqual(sorted(deleted), sorted([c.id for c in children] + [sweep.id]))
        for run_id in deleted:
            self.assertFalse(os.path.exists(os.path.join(self.home, "runs", run_id)))

    def test_portal_url_and_default_datastore(self):
        run = self.submit()
        self.assertIsNone(run.get_portal_url())  # a store of this machine: kiln ui opens it
        with self.assertRaises(ValueError) as raised:
            self.ws.get_default_datastore()
        self.assertIn("no default datastore", str(raised.exception))
        Datastore.register(self.ws, "data", self.root)
        self.assertEqual(self.ws.get_default_datastore().name, "data")

    def test_the_scripts_logs_folder_is_kept_with_the_runs_files(self):
        source = self.project("tb", {"train.py": """
            import os
            os.makedirs("logs/tb", exist_ok=True)
            open("logs/tb/events.out.tfevents.1.h", "wb").write(b"\\x00\\xff" * 8)
            print("wrote", flush=True)
        """})
        run = Experiment(self.ws, "tb").submit(
            ScriptRunConfig(source_directory=source, script="train.py"))
        run.wait_for_completion()
        names = run.get_file_names()
        self.assertIn("logs/tb/events.out.tfevents.1.h", names)
        self.assertIn("logs/rank-0.log", names)  # Kiln's own log of the rank, as before
        target = os.path.join(self.root, "down")
        run.download_files(prefix="logs/tb", output_directory=target)
        with open(os.path.join(target, "logs/tb/events.out.tfevents.1.h"), "rb") as f:
            self.assertEqual(f.read(), b"\x00\xff" * 8)

    def test_inside_a_job_only_tags_are_set(self):
        source = self.project("inside", {"train.py": """
            from kiln import Run
            run = Run.get_context()
            try:
                run.display_name = "x"
            except RuntimeError as e:
                print("refused:", e, flush=True)
        """})
        run = Experiment(self.ws, "inside").submit(
            ScriptRunConfig(source_directory=source, script="train.py"))
        run.wait_for_completion()
        with open(os.path.join(self.home, "runs", run.id, "logs", "rank-0.log")) as f:
            self.assertIn("refused: display_name of a run is changed from outside its job",
                          f.read())


if __name__ == "__main__":
    unittest.main()
