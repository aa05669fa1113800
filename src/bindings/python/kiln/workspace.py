"""kiln.Workspace, Experiment, Datastore: the SDK's view of a Kiln installation."""

import json
import os

from kiln import _core


class Workspace:
    """One Kiln installation: the embedded store and run folders under `home` ($KILN_HOME,
    default ~/.kiln), or a Kiln server: `server` ($KILN_SERVER) with the API token `token`
    ($KILN_TOKEN). Every call below works the same on both."""

    def __init__(self, home=None, server=None, token=None):
        self._core = _core.Workspace(home, server, token)

    @classmethod
    def from_config(cls, path=None, **kwargs):
        """The default workspace. (A cloud workspace reads a config file; Kiln's lives in
        $KILN_HOME, so `path` and the other arguments are accepted and not needed.)"""
        del path, kwargs
        return cls()

    @property
    def home(self):
        return self._core.home

    @property
    def datastores(self):
        return {d["name"]: Datastore(self, d["name"]) for d in self._core.datastores()}

    @property
    def experiments(self):
        return {experiment.name: experiment for experiment in Experiment.list(self)}

    def get_default_datastore(self):
        """The datastore named `workspaceblobstore` when one is registered, else the only
        one; a workspace with several and none of that name has no default."""
        names = sorted(self.datastores)
        if "workspaceblobstore" in names:
            return Datastore(self, "workspaceblobstore")
        if len(names) == 1:
            return Datastore(self, names[0])
        raise ValueError(
            "this workspace has no default datastore: register one named workspaceblobstore "
            f"(kiln datastore register workspaceblobstore PATH); registered: {names or 'none'}")

    @property
    def server_url(self):
        """The Kiln server's URL, or None for the store of this machine."""
        return self._core.server_url

    def __repr__(self):
        return f"Workspace(home={self.home!r})"


class Experiment:
    """A named group of runs; submit() starts one."""

    def __init__(self, workspace, name):
        self.workspace = workspace
        self.name = name

    def submit(self, config, tags=None, **kwargs):
        """Submit an estimator (kiln.train.dnn.PyTorch) or a kiln.core.ScriptRunConfig,
        returning its Run, or a sweep (kiln.train.hyperdrive.HyperDriveConfig), returning its
        HyperDriveRun."""
        from kiln.run import Run  # late: kiln.run imports this module's users
        if hasattr(config, "_sweep_json"):
            return config._submit(self, tags, kwargs.get("display_name"))
        job = config._job_spec()
        job["experiment"] = self.name
        job["tags"] = {**job.get("tags", {}), **{k: str(v) for k, v in (tags or {}).items()}}
        if kwargs.get("display_name"):
            job["display_name"] = kwargs["display_name"]
        label = getattr(config, "_label", type(config).__name__ + " estimator")
        record = self.workspace._core.submit(json.dumps(job), label, os.getcwd())
        return Run(self, _record=record)

    @staticmethod
    def list(workspace, experiment_name=None, view_type="ActiveOnly", tags=None):
        """Every experiment with at least one run, by name (`experiment_name`: that one only).
        view_type "ActiveOnly" counts runs that are not archived, "ArchivedOnly" archived ones,
        "All" both. `tags` is accepted for the SDK's signature; experiments have none."""
        del tags
        archived = _archived_word(view_type)
        names = sorted({run["experiment"] for run in workspace._core.runs(archived=archived)})
        return [Experiment(workspace, name) for name in names
                if experiment_name is None or name == experiment_name]

    def get_runs(self, type=None, tags=None, properties=None, include_children=False,
                 view_type="ActiveOnly", where=None):
        """This experiment's runs, newest first: without sweeps' trials unless
        include_children; only those of `type` ("job" or "sweep") and with every tag of `tags`
        (a key, a list of keys, or {key: value}) when given, and matching `where`, a query
        as `kiln runs --where` takes ("metrics.acc > 0.9 and tags.owner = 'ana'",
        docs/runs.md). Archived runs only with view_type "ArchivedOnly" or "All".
        `properties` is accepted for the SDK's signature."""
        del properties
        from kiln.run import Run, _tags_match
        records = self.workspace._core.runs(self.name, archived=_archived_word(view_type),
                                            where=where or "")
        return [Run(self, _record=record) for record in records
                if (include_children or not record["parent_id"])
                and (type is None or record["kind"] == type)
                and _tags_match(record["tags"], tags)]

    @property
    def id(self):
        return self.name

    def __repr__(self):
        return f"Experiment(name={self.name!r})"


def _archived_word(view_type):
    words = {"ActiveOnly": "false", "ArchivedOnly": "true", "All": "any"}
    if view_type not in words:
        raise ValueError(f"view_type {view_type!r}: expected one of {sorted(words)}")
    return words[view_type]


class DataReference:
    """A path on a datastore as a script parameter: mounted in place or downloaded."""

    def __init__(self, datastore, path_on_datastore="", mode="mount"):
        self.datastore = datastore
        self.path_on_datastore = path_on_datastore.strip("/")
        self.mode = mode

    def as_mount(self):
        return DataReference(self.datastore, self.path_on_datastore, "mount")

    def as_download(self, path_on_compute=None):
        del path_on_compute  # downloads land in the run directory (docs/datastores.md)
        return DataReference(self.datastore, self.path_on_datastore, "download")

    def __str__(self):
        path = f"/{self.path_on_datastore}" if self.path_on_datastore else ""
        mode = ":download" if self.mode == "download" else ""
        return f"{{datastore:{self.datastore.name}{path}{mode}}}"


class Datastore(DataReference):
    """A registered folder; in script_params it stands for its path."""

    def __init__(self, workspace, name):
        self.workspace = workspace
        self.name = name
        super().__init__(self, "", "mount")

    @staticmethod
    def get(workspace, datastore_name):
        """The datastore registered as `datastore_name` (LookupError when there is none)."""
        workspace._core.datastore(datastore_name)
        return Datastore(workspace, datastore_name)

    @staticmethod
    def register(workspace, datastore_name, path):
        """Register a local folder as a datastore."""
        workspace._core.register_datastore(datastore_name, os.fspath(path))
        return Datastore(workspace, datastore_name)

    @property
    def path_on_disk(self):
        return self.workspace._core.datastore(self.name)["path"]

    def path(self, path_on_datastore):
        """A reference to a path inside the datastore."""
        return DataReference(self, path_on_datastore, "mount")

    def __repr__(self):
        return f"Datastore(name={self.name!r})"
