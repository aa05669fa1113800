"""kiln.Model: a registered model version (docs/models.md), and its deployment with a scoring
script (docs/serving.md, "Scoring scripts").

    from kiln import Model, Workspace
    model = run.register_model("fashion-mnist", "outputs/model.onnx")  # after the run
    model = Model(Workspace(), "fashion-mnist")            # the latest version
    model = Model(Workspace(), "fashion-mnist", version=2)
    path = model.download(target_dir=".")

    from kiln.model import InferenceConfig
    config = InferenceConfig(entry_script="score.py", source_directory="serving")
    Model.deploy(ws, "fashion", [model], config)           # then: kiln serve fashion-mnist:2
"""

import os


class InferenceConfig:
    """How a model is scored: azureml.core.model.InferenceConfig's parameters that Kiln
    uses. `entry_script` defines init() and run(raw_data); it is relative to
    `source_directory` (default: the script's own folder), which is snapshotted with it.
    `environment` is a registered environment's name (NAME or NAME:VERSION), or an
    Environment registered first (its name and version); None runs the workers in the
    default python. The
    container parameters (runtime, conda_file, base_image, ...) have no meaning without a
    container engine and raise ValueError when given."""

    _CONTAINER_PARAMETERS = ("runtime", "conda_file", "extra_docker_file_steps", "enable_gpu",
                             "base_image", "base_image_registry", "cuda_version")

    def __init__(self, entry_script=None, runtime=None, conda_file=None,
                 extra_docker_file_steps=None, source_directory=None, enable_gpu=None,
                 description=None, base_image=None, base_image_registry=None,
                 cuda_version=None, environment=None):
        given = {"runtime": runtime, "conda_file": conda_file,
                 "extra_docker_file_steps": extra_docker_file_steps, "enable_gpu": enable_gpu,
                 "base_image": base_image, "base_image_registry": base_image_registry,
                 "cuda_version": cuda_version}
        refused = [k for k in self._CONTAINER_PARAMETERS if given[k] is not None]
        if refused:
            raise ValueError(f"InferenceConfig: {', '.join(refused)} describe a container "
                             f"image; Kiln has none: give environment= (a registered "
                             f"environment, docs/environments.md)")
        if not entry_script:
            raise ValueError("InferenceConfig: entry_script is required (a score.py defining "
                             "init() and run(raw_data))")
        self.entry_script = str(entry_script)
        self.source_directory = None if source_directory is None else str(source_directory)
        self.description = description
        self.environment = environment

    @property
    def environment_name(self):
        if self.environment is None:
            return ""
        if isinstance(self.environment, str):
            return self.environment
        name = getattr(self.environment, "name", None)
        if not name:
            raise ValueError("InferenceConfig: environment must be a registered environment's "
                             "name, or an Environment with a name")
        version = getattr(self.environment, "version", None)  # set once registered
        return f"{name}:{version}" if version else name

    def __repr__(self):
        return (f"InferenceConfig(entry_script={self.entry_script!r}, "
                f"source_directory={self.source_directory!r}, "
                f"environment={self.environment_name or None!r})")


class Deployment:
    """What Model.deploy recorded: `name` (the name given), `models` (each with its
    deployment), and the command that serves each. Nothing runs until `kiln serve`."""

    def __init__(self, name, models):
        self.name = name
        self.models = models
        self.state = "Recorded"

    @property
    def serve_commands(self):
        return [f"kiln serve {m.name}:{m.version}" for m in self.models]

    def wait_for_deployment(self, show_output=False):
        """Returns at once: the deployment was recorded when Model.deploy returned."""
        if show_output:
            for command in self.serve_commands:
                print(f"{self.name}: recorded; serve it with {command}")

    def __repr__(self):
        return f"Deployment(name={self.name!r}, models={self.models!r})"


class Model:
    """One version of a registered model, with its lineage (run, experiment, snapshot,
    metrics) and its file's SHA-256. version=None is the latest."""

    def __init__(self, workspace, name, version=None, *, _record=None):
        self.workspace = workspace
        self._record = _record or workspace._core.model(name, int(version or 0))

    @staticmethod
    def register(workspace, model_name, run_id, model_path="outputs/model.onnx", tags=None,
                 description=""):
        """Registers a Completed run's artifact as the next version of `model_name`."""
        record = workspace._core.register_model(model_name, run_id, model_path,
                                                description or "",
                                                {str(k): str(v) for k, v in (tags or {}).items()})
        return Model(workspace, model_name, _record=record)

    @staticmethod
    def list(workspace, name=None):
        """Every registered version (of `name` only when given), newest version first."""
        return [Model(workspace, r["name"], _record=r) for r in workspace._core.models(name or "")]

    @staticmethod
    def deploy(workspace, name, models, inference_config=None, deployment_config=None,
               deployment_target=None, overwrite=False, show_output=False):
        """Records how `models` are served with `inference_config`'s scoring script, as
        `kiln model deploy` does (azureml.core.Model.deploy's parameters); returns a
        Deployment. Kiln serves one model version per `kiln serve`: give one model.
        A version that has a deployment already raises ValueError unless `overwrite`.
        `deployment_config` and `deployment_target` (ACI, AKS, local containers) have no
        Kiln counterpart: `kiln serve`'s flags say where and how it serves."""
        if inference_config is None:
            raise ValueError("Model.deploy: inference_config is required "
                             "(InferenceConfig(entry_script='score.py', ...))")
        if deployment_config is not None or deployment_target is not None:
            raise ValueError("Model.deploy: deployment_config and deployment_target describe "
                             "Azure's compute; Kiln records the deployment and `kiln serve "
                             "NAME --port P --workers N` serves it")
        models = list(models) if isinstance(models, (list, tuple)) else [models]
        if len(models) != 1:
            raise ValueError(f"Model.deploy: {len(models)} models given; Kiln serves one model "
                             f"version per kiln serve: deploy each")
        model = models[0]
        if model.deployment is not None and not overwrite:
            raise ValueError(f"Model.deploy: {model.name}:{model.version} has a deployment "
                             f"already ({model.deployment['entry_script']}); pass "
                             f"overwrite=True to replace it")
        record = workspace._core.deploy_model(
            model.name, int(model.version), inference_config.entry_script,
            inference_config.source_directory or "", inference_config.environment_name)
        deployed = Model(workspace, model.name, _record=record)
        deployment = Deployment(name, [deployed])
        if show_output:
            deployment.wait_for_deployment(show_output=True)
        return deployment

    def undeploy(self):
        """Forgets this version's deployment (kiln model undeploy)."""
        self._record = self.workspace._core.undeploy_model(self.name, int(self.version))

    def download(self, target_dir=".", exist_ok=False):
        """Writes the model's file into `target_dir` (checked against its SHA-256); returns
        its path."""
        target = os.path.join(target_dir, os.path.basename(self.path))
        if exist_ok and os.path.exists(target):
            os.remove(target)
        return self.workspace._core.download_model(self.name, self.version, target_dir)

    def delete(self):
        """Removes this version from the registry."""
        self.workspace._core.remove_model(self.name, self.version)

    name = property(lambda self: self._record["name"])
    version = property(lambda self: self._record["version"])
    run_id = property(lambda self: self._record["run"])
    experiment_name = property(lambda self: self._record["experiment"])
    snapshot = property(lambda self: self._record["snapshot"])
    path = property(lambda self: self._record["path"])
    format = property(lambda self: self._record["format"])
    sha256 = property(lambda self: self._record["sha256"])
    size_bytes = property(lambda self: self._record["size_bytes"])
    description = property(lambda self: self._record["description"])
    tags = property(lambda self: dict(self._record["tags"]))
    metrics = property(lambda self: dict(self._record["metrics"]))
    parity = property(lambda self: dict(self._record["parity"]))
    signature = property(lambda self: dict(self._record["signature"]))
    created_time = property(lambda self: self._record["created_at"])
    # {"entry_script", "snapshot", "environment", "environment_definition", "deployed_at"},
    # or None.
    deployment = property(lambda self: self._record.get("deployment"))

    def __repr__(self):
        return f"Model(name={self.name!r}, version={self.version}, run_id={self.run_id!r})"
