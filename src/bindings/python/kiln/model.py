"""kiln.Model: a registered model version (docs/models.md).

    from kiln import Model, Workspace
    model = run.register_model("fashion-mnist", "outputs/model.onnx")  # after the run
    model = Model(Workspace(), "fashion-mnist")            # the latest version
    model = Model(Workspace(), "fashion-mnist", version=2)
    path = model.download(target_dir=".")
"""

import os


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

    def __repr__(self):
        return f"Model(name={self.name!r}, version={self.version}, run_id={self.run_id!r})"
