"""kiln.core.environment: the SDK's azureml.core.environment names."""

from kiln.environment import CondaDependencies, DockerSection, Environment, PythonSection

__all__ = ["CondaDependencies", "DockerSection", "Environment", "PythonSection"]
