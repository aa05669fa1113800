"""kiln.core.conda_dependencies: the SDK's azureml.core.conda_dependencies names."""

from kiln.environment import CondaDependencies

__all__ = ["CondaDependencies"]
