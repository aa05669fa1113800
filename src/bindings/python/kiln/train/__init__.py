"""Estimators: describe a training job to submit with Experiment.submit()."""
