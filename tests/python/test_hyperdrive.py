"""HyperDrive code ported to Kiln by changing its imports: a sweep submitted through the
SDK, read back through HyperDriveRun, against a real driver, launchers and SQLite store."""

import time
import unittest

from kiln import Experiment, Run
from kiln.train.dnn import PyTorch
from kiln.train.hyperdrive import (BanditPolicy, BayesianParameterSampling,
                                   GridParameterSampling, HyperDriveConfig, HyperDriveRun,
                                   MedianStoppingPolicy, PrimaryMetricGoal,
                                   RandomParameterSampling, TruncationSelectionPolicy, choice,
                                   loguniform, quniform, uniform)
from kiln_test_support import KilnTestCase

# Logs `--quality` * i / 3 for i = 1..3, so every curve is known in advance.
TRAIN = """
    import argparse, time
    from kiln import Run
    p = argparse.ArgumentParser()
    p.add_argument("--quality", type=float)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--lr", type=float, default=0.1)
    a = p.parse_args()
    run = Run.get_context()
    for i in range(1, 4):
        run.log("accuracy", a.quality * i / 3)
        time.sleep(0.05)
"""


class HyperDriveTest(KilnTestCase):
    def estimator(self):
        return PyTorch(source_directory=self.project("proj", {"train.py": TRAIN}),
                       entry_script="train.py", script_params={"--batch": 8})

    def test_a_grid_sweep_through_the_estimator_api(self):
        config = HyperDriveConfig(
            estimator=self.estimator(),
            hyperparameter_sampling=GridParameterSampling({"--quality": choice(0.3, 0.9, 0.6)}),
            primary_metric_name="accuracy", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
            max_total_runs=10, max_concurrent_runs=2)
        run = Experiment(self.ws, "hd").submit(config)
        self.assertIsInstance(run, HyperDriveRun)
        details = run.wait_for_completion()
        self.assertEqual(details["status"], "Completed")

        ranked = run.get_children_sorted_by_primary_metric()
        self.assertEqual([r["hyperparameters"]["--quality"] for r in ranked], [0.9, 0.6, 0.3])
        self.assertAlmostEqual(ranked[0]["best_primary_metric"], 0.9)
        self.assertEqual({r["status"] for r in ranked}, {"Completed"})
        self.assertEqual(len(run.get_children_sorted_by_primary_metric(top=2)), 2)
        worst_first = run.get_children_sorted_by_primary_metric(reverse=True)
        self.assertEqual(worst_first[0]["hyperparameters"]["--quality"], 0.3)

        best = run.get_best_run_by_primary_metric()
        self.assertIsInstance(best, Run)
        self.assertEqual(best.id, ranked[0]["run_id"])
        self.assertAlmostEqual(best.get_metrics()["accuracy"][-1], 0.9)
        self.assertEqual(len(run.get_children()), 3)
        self.assertEqual(run.get_hyperparameters()[best.id], {"--quality": 0.9})
        self.assertEqual(set(run.get_metrics()), {c.id for c in run.get_children()})
        # The rehydrated run reads the same.
        again = HyperDriveRun(Experiment(self.ws, "hd"), run.id)
        self.assertEqual(again.get_best_run_by_primary_metric().id, best.id)

    def test_every_expression_and_policy_is_accepted_and_bad_ones_are_refused(self):
        sampling = BayesianParameterSampling({"--quality": uniform(0.1, 1.0),
                                              "--lr": loguniform(-6, -1),
                                              "--batch": quniform(8, 64, 8)}, seed=3)
        for policy in (BanditPolicy(slack_amount=0.5, delay_evaluation=1),
                       MedianStoppingPolicy(evaluation_interval=2),
                       TruncationSelectionPolicy(truncation_percentage=10)):
            config = HyperDriveConfig(estimator=self.estimator(),
                                      hyperparameter_sampling=sampling, policy=policy,
                                      primary_metric_name="accuracy",
                                      primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                                      max_total_runs=2, max_concurrent_runs=2)
            run = Experiment(self.ws, "hd").submit(config)
            self.assertEqual(run.wait_for_completion()["status"], "Completed")
            rows = run.get_children_sorted_by_primary_metric()
            self.assertEqual(len(rows), 2)
            for row in rows:
                # The two run side by side: the policy may stop the weaker, saying why.
                if row["status"] == "Canceled":
                    self.assertTrue(row["stop_reason"].startswith(
                        f"stopped early by {type(policy).__name__}"), row)
                else:
                    self.assertEqual(row["status"], "Completed")
                self.assertTrue(8 <= row["hyperparameters"]["--batch"] <= 64)
                self.assertEqual(row["hyperparameters"]["--batch"] % 8, 0)
        with self.assertRaisesRegex(Exception, r"search_space.--lr: uniform needs min_value < "
                                               r"max_value, got 1 and 0"):
            Experiment(self.ws, "hd").submit(HyperDriveConfig(
                estimator=self.estimator(),
                hyperparameter_sampling=RandomParameterSampling({"--lr": uniform(1, 0)}),
                primary_metric_name="accuracy", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                max_total_runs=2))
        with self.assertRaisesRegex(ValueError, "exactly one of estimator= and run_config="):
            HyperDriveConfig(hyperparameter_sampling=RandomParameterSampling(
                {"--lr": uniform(0, 1)}), primary_metric_name="a",
                primary_metric_goal=PrimaryMetricGoal.MINIMIZE, max_total_runs=1)

    def test_cancel_ends_every_trial(self):
        slow = PyTorch(source_directory=self.project("slow", {
            "train.py": "import time\nfrom kiln import Run\nRun.get_context().log('a', 1)\n"
                        "time.sleep(60)\n"}), entry_script="train.py")
        config = HyperDriveConfig(
            estimator=slow,
            hyperparameter_sampling=RandomParameterSampling({"--x": uniform(0, 1)}, seed=1),
            primary_metric_name="a", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
            max_total_runs=4, max_concurrent_runs=2)
        run = Experiment(self.ws, "hd").submit(config)
        # Two trials run and a third waits its turn (started warm).
        for _ in range(200):
            if len(run.get_children()) == 3:
                break
            time.sleep(0.05)
        self.assertTrue(run.cancel())
        self.assertEqual([c.get_status() for c in run.get_children()], ["Canceled"] * 3)


if __name__ == "__main__":
    unittest.main()
