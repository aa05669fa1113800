"""kiln.train.hyperdrive: hyperparameter sweeps with the estimator API's HyperDrive classes.

    from kiln.train.hyperdrive import (HyperDriveConfig, RandomParameterSampling,
                                       BanditPolicy, PrimaryMetricGoal, choice, loguniform)
    sampling = RandomParameterSampling({"--lr": loguniform(-9, -2),
                                        "--batch-size": choice(32, 64, 128)})
    config = HyperDriveConfig(estimator=est, hyperparameter_sampling=sampling,
                              policy=BanditPolicy(slack_factor=0.1),
                              primary_metric_name="accuracy",
                              primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                              max_total_runs=20, max_concurrent_runs=2)
    run = Experiment(ws, "fm-sweep").submit(config)
    run.wait_for_completion()
    best = run.get_best_run_by_primary_metric()

Parameters, defaults and meanings are HyperDrive's (docs/sweeps.md), with two limits
lifted: Bayesian sampling takes every expression and any policy, and AshaPolicy is added.
A sweep is a Kiln run whose trials are child runs; `kiln sweep show` shows the same.
"""

import json
import os

from kiln.run import Run

__all__ = ["AshaPolicy", "BanditPolicy", "BayesianParameterSampling", "GridParameterSampling",
           "HyperDriveConfig", "HyperDriveRun", "MedianStoppingPolicy", "NoTerminationPolicy",
           "PrimaryMetricGoal", "RandomParameterSampling", "TruncationSelectionPolicy", "choice",
           "lognormal", "loguniform", "normal", "qlognormal", "qloguniform", "qnormal",
           "quniform", "randint", "uniform"]


# Parameter expressions: each returns the JSON form a sweep file uses.

def choice(*options):
    """One of the options: choice(16, 32, 64), choice([16, 32, 64]) or choice(range(4))."""
    if len(options) == 1 and isinstance(options[0], (list, tuple, range)):
        options = options[0]
    return {"type": "choice", "values": list(options)}


def randint(upper):
    """An integer in [0, upper)."""
    return {"type": "randint", "upper": upper}


def uniform(min_value, max_value):
    return {"type": "uniform", "min_value": min_value, "max_value": max_value}


def quniform(min_value, max_value, q):
    """round(uniform(min_value, max_value) / q) * q."""
    return {"type": "quniform", "min_value": min_value, "max_value": max_value, "q": q}


def loguniform(min_value, max_value):
    """exp(uniform(min_value, max_value)): the bounds are exponents."""
    return {"type": "loguniform", "min_value": min_value, "max_value": max_value}


def qloguniform(min_value, max_value, q):
    return {"type": "qloguniform", "min_value": min_value, "max_value": max_value, "q": q}


def normal(mu, sigma):
    return {"type": "normal", "mu": mu, "sigma": sigma}


def qnormal(mu, sigma, q):
    return {"type": "qnormal", "mu": mu, "sigma": sigma, "q": q}


def lognormal(mu, sigma):
    """exp(normal(mu, sigma))."""
    return {"type": "lognormal", "mu": mu, "sigma": sigma}


def qlognormal(mu, sigma, q):
    return {"type": "qlognormal", "mu": mu, "sigma": sigma, "q": q}


# Sampling.

class _Sampling:
    _type = None

    def __init__(self, parameter_space, properties=None, seed=None):
        if not isinstance(parameter_space, dict) or not parameter_space:
            raise ValueError("parameter_space must map each script argument to an expression, "
                             "e.g. {'--lr': uniform(0.01, 0.1)}")
        self.parameter_space = dict(parameter_space)
        self.properties = dict(properties or {})
        self.seed = seed if seed is not None else self.properties.get("seed")

    def _json(self):
        sampling = {"type": self._type}
        if self.seed is not None:
            sampling["seed"] = self.seed
        if self._type == "bayesian" and "startup_trials" in self.properties:
            sampling["startup_trials"] = self.properties["startup_trials"]
        return sampling


class RandomParameterSampling(_Sampling):
    """Draws each trial's values at random; the same seed draws the same trials."""

    _type = "random"


class GridParameterSampling(_Sampling):
    """Every point of a finite space once (choice, randint, bounded q forms)."""

    _type = "grid"

    def __init__(self, parameter_space):
        super().__init__(parameter_space)


class BayesianParameterSampling(_Sampling):
    """TPE on every expression kind; concurrent trials never share a point. The first
    properties["startup_trials"] (default 10) are random."""

    _type = "bayesian"


class PrimaryMetricGoal:
    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"


# Early termination.

class _Policy:
    def _json(self):
        raise NotImplementedError


class BanditPolicy(_Policy):
    """Stop a trial whose best is worse than the sweep's best at the same interval less the
    slack: best / (1 + slack_factor), or best - slack_amount."""

    def __init__(self, evaluation_interval=1, slack_factor=None, slack_amount=None,
                 delay_evaluation=0):
        self.evaluation_interval = evaluation_interval
        self.slack_factor = slack_factor
        self.slack_amount = slack_amount
        self.delay_evaluation = delay_evaluation

    def _json(self):
        policy = {"type": "bandit", "evaluation_interval": self.evaluation_interval,
                  "delay_evaluation": self.delay_evaluation}
        if self.slack_factor is not None:
            policy["slack_factor"] = self.slack_factor
        if self.slack_amount is not None:
            policy["slack_amount"] = self.slack_amount
        return policy


class MedianStoppingPolicy(_Policy):
    """Stop a trial whose best is worse than the median of the others' running averages."""

    def __init__(self, evaluation_interval=1, delay_evaluation=0):
        self.evaluation_interval = evaluation_interval
        self.delay_evaluation = delay_evaluation

    def _json(self):
        return {"type": "median_stopping", "evaluation_interval": self.evaluation_interval,
                "delay_evaluation": self.delay_evaluation}


class TruncationSelectionPolicy(_Policy):
    """Stop the worst truncation_percentage % of the trials at each evaluation."""

    def __init__(self, truncation_percentage, evaluation_interval=1, delay_evaluation=0):
        self.truncation_percentage = truncation_percentage
        self.evaluation_interval = evaluation_interval
        self.delay_evaluation = delay_evaluation

    def _json(self):
        return {"type": "truncation_selection",
                "truncation_percentage": self.truncation_percentage,
                "evaluation_interval": self.evaluation_interval,
                "delay_evaluation": self.delay_evaluation}


class AshaPolicy(_Policy):
    """Asynchronous successive halving: at intervals grace_period * reduction_factor^k, stop a
    trial below the top 1/reduction_factor of the others there. (Kiln's; not HyperDrive's.)"""

    def __init__(self, grace_period=1, reduction_factor=3, max_intervals=0):
        self.grace_period = grace_period
        self.reduction_factor = reduction_factor
        self.max_intervals = max_intervals

    def _json(self):
        return {"type": "asha", "grace_period": self.grace_period,
                "reduction_factor": self.reduction_factor,
                "max_intervals": self.max_intervals}


class NoTerminationPolicy(_Policy):
    def _json(self):
        return {"type": "none"}


def _check_whole(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")


def _plain(value):
    """numpy's numbers (choice(np.arange(...))) as Python's, for JSON."""
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{value!r} ({type(value).__name__}) is not a number, text or list")


# The configuration and its run.

class HyperDriveConfig:
    """A sweep: the trial job (an estimator, or a run configuration with _job_spec()), how to
    sample its script arguments, the metric to optimise, limits and an early-termination
    policy. Submit it with Experiment.submit()."""

    def __init__(self, hyperparameter_sampling, primary_metric_name, primary_metric_goal,
                 max_total_runs, max_concurrent_runs=None, max_duration_minutes=10080,
                 policy=None, estimator=None, run_config=None, resume_from=None,
                 resume_child_runs=None, pipeline=None, debug_flag=None, custom_run_id=None,
                 warm_start=True):
        del debug_flag
        if pipeline is not None:
            raise ValueError("HyperDriveConfig(pipeline=...): Kiln sweeps run jobs, not "
                             "pipelines; give estimator= or run_config=")
        if (estimator is None) == (run_config is None):
            raise ValueError("HyperDriveConfig needs exactly one of estimator= and run_config=")
        if resume_child_runs:
            raise ValueError("HyperDriveConfig(resume_child_runs=...) is not supported; "
                             "resume_from= warm-starts from earlier sweeps")
        if not isinstance(hyperparameter_sampling, _Sampling):
            raise TypeError("hyperparameter_sampling must be a RandomParameterSampling, "
                            "GridParameterSampling or BayesianParameterSampling")
        if policy is not None and not isinstance(policy, _Policy):
            raise TypeError("policy must be a BanditPolicy, MedianStoppingPolicy, "
                            "TruncationSelectionPolicy, AshaPolicy or NoTerminationPolicy")
        _check_whole("max_total_runs", max_total_runs, 1)
        if max_concurrent_runs is not None:
            _check_whole("max_concurrent_runs", max_concurrent_runs, 1)
        _check_whole("max_duration_minutes", max_duration_minutes, 1)
        if not isinstance(primary_metric_name, str) or not primary_metric_name:
            raise ValueError(f"primary_metric_name must be the name the script logs, got "
                             f"{primary_metric_name!r}")
        if str(primary_metric_goal).upper() not in ("MAXIMIZE", "MINIMIZE"):
            raise ValueError(f"primary_metric_goal must be PrimaryMetricGoal.MAXIMIZE or "
                             f"MINIMIZE, got {primary_metric_goal!r}")
        self.estimator = estimator if estimator is not None else run_config
        self.hyperparameter_sampling = hyperparameter_sampling
        self.primary_metric_name = primary_metric_name
        self.primary_metric_goal = primary_metric_goal
        self.max_total_runs = max_total_runs
        # None: every trial at once, as HyperDrive.
        self.max_concurrent_runs = max_concurrent_runs
        self.max_duration_minutes = max_duration_minutes
        self.policy = policy or NoTerminationPolicy()
        self.resume_from = list(resume_from or [])
        self.custom_run_id = custom_run_id
        # Kiln's own: True (the script's own top-level imports), False, or module names.
        if not (isinstance(warm_start, bool) or (isinstance(warm_start, (list, tuple)) and
                                                 all(isinstance(m, str) for m in warm_start))):
            raise TypeError(f"warm_start must be True, False or a list of module names, got "
                            f"{warm_start!r}")
        self.warm_start = warm_start

    def _sweep_json(self, experiment, display_name=None):
        limits = {"max_total_trials": self.max_total_runs,
                  "timeout_minutes": self.max_duration_minutes}
        if self.max_concurrent_runs is not None:
            limits["max_concurrent_trials"] = self.max_concurrent_runs
        sweep = {"version": 1, "experiment": experiment,
                 "search_space": self.hyperparameter_sampling.parameter_space,
                 "sampling": self.hyperparameter_sampling._json(),
                 "objective": {"primary_metric": self.primary_metric_name,
                               "goal": str(self.primary_metric_goal).lower()},
                 "limits": limits,
                 "early_termination": self.policy._json(),
                 "resume_from": [r.id if isinstance(r, Run) else str(r)
                                 for r in self.resume_from],
                 "warm_start": (self.warm_start if isinstance(self.warm_start, bool)
                                else {"preload": list(self.warm_start)})}
        if display_name or self.custom_run_id:
            sweep["display_name"] = display_name or self.custom_run_id
        return sweep

    def _submit(self, experiment, tags=None, display_name=None):
        job = self.estimator._job_spec()
        job["experiment"] = experiment.name
        job["tags"] = {**job.get("tags", {}), **{k: str(v) for k, v in (tags or {}).items()}}
        try:
            sweep = json.dumps(self._sweep_json(experiment.name, display_name),
                               allow_nan=False, default=_plain)
        except ValueError as error:
            raise ValueError(f"HyperDriveConfig: every number must be finite ({error})") from None
        record = experiment.workspace._core.submit_sweep(sweep, json.dumps(job),
                                                         "HyperDriveConfig", os.getcwd())
        return HyperDriveRun(experiment, _record=record)


class HyperDriveRun(Run):
    """A submitted sweep: a run whose children are its trials."""

    def __init__(self, experiment, run_id=None, hyperdrive_config=None, *, _record=None):
        del hyperdrive_config
        super().__init__(experiment, run_id, _record=_record)
        if self._record.get("kind") != "sweep":
            raise ValueError(f"run {self._id} is not a sweep")

    @property
    def _goal(self):
        return self._record["spec"]["objective"]["goal"]

    @property
    def _metric(self):
        return self._record["spec"]["objective"]["primary_metric"]

    def _trials(self, **kwargs):
        return self._workspace._core.trials(self._id, **kwargs)

    def get_children(self, recursive=False, tags=None, properties=None, type=None,
                     status=None, _rehydrate_runs=True):
        """The trials, in the order they were made, as Runs; filtered as Run.get_children."""
        order = {trial["run_id"]: index for index, trial in enumerate(self._trials())}
        children = super().get_children(recursive, tags, properties, type, status,
                                         _rehydrate_runs)
        return sorted(children, key=lambda child: order.get(child.id, len(order)))

    def get_hyperparameters(self):
        """{trial run id: {argument: value}}."""
        return {t["run_id"]: t["params"] for t in self._trials()}

    def get_metrics(self, name=None, rank=0):
        """{trial run id: that trial's metrics}."""
        return {child.id: child.get_metrics(name, rank) for child in self.get_children()}

    def get_children_sorted_by_primary_metric(self, top=0, reverse=False,
                                              discard_no_metric=False):
        """[{run_id, hyperparameters, best_primary_metric, status}], best first (worst first
        with reverse); trials that logged no value last. One read of the store, however many
        trials."""
        rows = [{"run_id": t["run_id"], "hyperparameters": t["params"],
                 "best_primary_metric": t["best"], "status": t["status"],
                 "stop_reason": t["stop_reason"]}
                for t in self._trials(ranked=True, discard_no_metric=discard_no_metric)]
        if reverse:
            with_value = [r for r in rows if r["best_primary_metric"] is not None][::-1]
            rows = with_value + [r for r in rows if r["best_primary_metric"] is None]
        return rows[:top] if top else rows

    def get_best_run_by_primary_metric(self, include_failed=True, include_canceled=True,
                                       include_resume_from_runs=True):
        """The trial with the best primary metric, as a Run; None when none logged it."""
        del include_resume_from_runs  # earlier sweeps' trials are theirs, not this sweep's
        trials = self._trials(ranked=True, include_failed=include_failed,
                              include_canceled=include_canceled, discard_no_metric=True)
        if not trials:
            return None
        return Run(self._experiment, _record=self._workspace._core.run(trials[0]["run_id"]))

    def cancel(self):
        """Cancel every running trial, then the sweep; True when it ended Canceled, False
        when it had ended already."""
        if self._refresh()["status"] in ("Completed", "Failed", "Canceled"):
            return False
        self._record = self._workspace._core.cancel_sweep(self._id)
        return self._record["status"] == "Canceled"

    def resume(self):
        """Continue the sweep where it stopped (its driver died, or it was canceled)."""
        self._record = self._workspace._core.resume_sweep(self._id)

    def get_diagnostics(self):
        raise NotImplementedError("a sweep's driver log is runs/<id>/driver.log")

    def fail(self, *args, **kwargs):
        raise NotImplementedError("a sweep fails only when none of its trials completes")
