"""kiln.core.model: the SDK's azureml.core.model names (docs/python-api.md).

    from kiln.core.model import InferenceConfig, Model
"""

from kiln.model import Deployment, InferenceConfig, Model

__all__ = ["Deployment", "InferenceConfig", "Model"]
