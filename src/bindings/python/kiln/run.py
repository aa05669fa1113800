"""kiln.Run: the running job (Run.get_context()) and a handle on a submitted run."""

import io
import json
import os
import shutil
import tempfile
import warnings

from kiln import _core

TERMINAL = ("Completed", "Failed", "Canceled")


class ActivityFailedException(Exception):
    """Raised by wait_for_completion() when the run did not complete."""

    def __init__(self, details):
        self.details = details
        super().__init__(
            f"run {details['runId']} {details['status']}: {details.get('error') or 'no reason'}")


def _run_definition(spec):
    """The job as the SDK's get_details()["runDefinition"] shows it: its script, arguments,
    target, limits and rank layout (mpi, or pyTorch with its backend)."""
    arguments = []
    for param in spec.get("script_params", []):
        arguments.append(param["name"])
        if param.get("value") is not None:
            arguments.append(param["value"])
    backend = spec.get("distributed_backend", "none")
    nodes = spec.get("node_count", 1)
    per_node = spec.get("process_count_per_node", 1)
    definition = {
        "script": spec.get("entry_script"),
        "arguments": arguments,
        "target": spec.get("compute_target"),
        "framework": "Python",
        "communicator": {"mpi": "Mpi", "gloo": "PyTorch", "nccl": "PyTorch"}.get(backend, "None"),
        "nodeCount": nodes,
        "maxRunDurationSeconds": spec.get("max_run_duration_seconds"),
        "environment": spec.get("environment_name") or spec.get("environment"),
    }
    if backend == "mpi":
        definition["mpi"] = {"processCountPerNode": per_node}
    elif backend in ("gloo", "nccl"):
        definition["pyTorch"] = {"communicationBackend": backend.capitalize(),
                                 "processCount": nodes * per_node}
    return definition


class Run(_core.Run):
    """A Kiln run.

    Run.get_context() is the run of the current process: inside a Kiln job its metrics go to
    the job; elsewhere it is an offline run that prints what it would log. Experiment.submit()
    and Run(experiment, run_id) give a handle on a submitted run, to watch and read it.
    """

    _context = None

    def __init__(self, experiment=None, run_id=None, *, _context=False, _record=None):
        super().__init__(_context)
        self._experiment = experiment
        self._record = _record
        if not _context:
            if experiment is None or (run_id is None and _record is None):
                raise ValueError("Run(experiment, run_id) names a submitted run; "
                                 "use Run.get_context() inside a job")
            self._id = _record["id"] if _record else experiment.workspace._core.resolve(run_id)
            if self._record is None:
                self._record = self._workspace._core.run(self._id)

    @classmethod
    def get_context(cls, allow_offline=True):
        """The run of this process: the Kiln job it is part of, or an offline run."""
        if Run._context is None:
            Run._context = cls(_context=True)
        if Run._context._offline and not allow_offline:
            raise RuntimeError("this process is not running inside a Kiln job")
        return Run._context

    # Identity -----------------------------------------------------------------------------

    @property
    def id(self):
        return self._context_id if self._in_job else self._id

    @property
    def experiment(self):
        return self._experiment

    @property
    def experiment_name(self):
        if self._in_job:
            return self._context_experiment
        return self._record["experiment"]

    @property
    def _workspace(self):
        return self._experiment.workspace

    def __repr__(self):
        return f"Run(id={self.id!r}, experiment={self.experiment_name!r})"

    # Logging, inside the job (log() itself is in C++) ------------------------------------

    def log_list(self, name, value, description=""):
        """Log a list of numbers under `name`."""
        self._log_list(name, value, description)

    def log_row(self, name, description=None, **kwargs):
        """Log one row of a table: log_row("scores", epoch=1, accuracy=0.9)."""
        self._log_row(name, kwargs, description or "")

    def log_table(self, name, value, description=""):
        """Log a table: {column: [numbers]}."""
        if not isinstance(value, dict):
            raise TypeError(f"metric '{name}': a table is a dict of column -> list of numbers")
        self._log_table(name, value, description)

    def log_image(self, name, path=None, plot=None, description=""):
        """Log a PNG image, from a file (`path`) or a matplotlib figure (`plot`)."""
        if (path is None) == (plot is None):
            raise ValueError(f"image '{name}': give exactly one of path= and plot=")
        if plot is not None:
            figure = plot.gcf() if hasattr(plot, "gcf") else plot  # pyplot or a Figure
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png")
            self._log_image_bytes(name, buffer.getvalue(), description)
        else:
            self._log_image_file(name, os.fspath(path), description)

    def tag(self, key, value=None):
        """Set a tag: on the running job from inside it, or on a submitted run at any time."""
        self.set_tags({key: value})

    def set_tags(self, tags):
        """Set several tags: {key: value} (a value of None is an empty string)."""
        tags = {key: "" if value is None else str(value) for key, value in tags.items()}
        if self._in_job:
            for key, value in tags.items():
                self._tag(key, value)
        else:
            self._edit({"tags": tags})

    def remove_tags(self, tags):
        """Remove tags by key (a key or a list of keys) from a submitted run."""
        self._edit({"remove_tags": [tags] if isinstance(tags, str) else list(tags)})

    @property
    def display_name(self):
        return self._record["display_name"] if not self._in_job else None

    @display_name.setter
    def display_name(self, name):
        self._edit({"display_name": "" if name is None else str(name)})

    @property
    def description(self):
        return self._record.get("description", "") if not self._in_job else None

    @description.setter
    def description(self, text):
        self._edit({"description": "" if text is None else str(text)})

    def archive(self):
        """Hide the ended run from listings (Experiment.get_runs(view_type="All") shows it);
        a sweep's trials go with it."""
        self._edit({"archived": True})

    def restore(self):
        """List an archived run again."""
        self._edit({"archived": False})

    def delete(self):
        """Delete the ended run for good: its records, metrics, logs and folder (a sweep with
        its trials); returns the ids deleted. archive() hides a run and keeps it."""
        self._require_submitted("delete")
        deleted = self._workspace._core.delete(self._id)
        for one in deleted:
            if one["folder_kept"]:
                warnings.warn(one["folder_kept"], stacklevel=2)
        return [one["id"] for one in deleted]

    @property
    def archived(self):
        return bool(self._record.get("archived_at"))

    def upload_file(self, name, path_or_stream):
        """Copy a file (or a stream's bytes) into the run's outputs as `name`."""
        if hasattr(path_or_stream, "read"):
            with tempfile.NamedTemporaryFile(delete=False) as temp:
                data = path_or_stream.read()
                temp.write(data.encode() if isinstance(data, str) else data)
            try:
                self._upload_file(name, temp.name)
            finally:
                os.unlink(temp.name)
        else:
            self._upload_file(name, os.fspath(path_or_stream))

    # Reading --------------------------------------------------------------------------------

    def get_metrics(self, name=None, rank=0):
        """Metrics by name: a number when logged once, else a list (rows: column -> list).

        Inside the job: what this process logged. On a submitted run: what rank `rank`
        logged, as stored.
        """
        if self._in_job:
            metrics = {key: _shape(kind, values) for key, (kind, values)
                       in self._logged_metrics().items()}
        else:
            metrics = {}
            for summary in self._workspace._core.metrics(self._id):
                if summary["rank"] != rank or (name is not None and summary["name"] != name):
                    continue
                series = self._workspace._core.metric(self._id, summary["name"], rank)
                values = series["values"]
                if series["kind"] != "scalar":
                    values = [json.dumps(v) for v in values]
                metrics[summary["name"]] = _shape(series["kind"], values)
        if name is not None:
            return {name: metrics[name]} if name in metrics else {}
        return metrics

    def get_status(self):
        """Queued, Preparing, Running, Finalizing, Completed, Failed, CancelRequested or
        Canceled."""
        return self._refresh()["status"]

    def get_details(self):
        """The run's record, in the estimator API's shape."""
        record = self._refresh()
        details = {
            "runId": record["id"],
            "status": record["status"],
            "startTimeUtc": record["started_at"],
            "endTimeUtc": record["ended_at"],
            "target": record["compute_target"],
            "properties": {"snapshot_id": record["snapshot_id"], "run_dir": record["run_dir"]},
            "tags": record["tags"],
            "logFiles": {name: os.path.join(record["run_dir"], name)
                         for name in self._log_names(record)},
            "runDefinition": _run_definition(record.get("spec") or {}),
        }
        if record["failure_reason"]:
            details["error"] = record["failure_reason"]
            details["error_log_tail"] = record["failure_log_tail"]
        return details

    def get_tags(self):
        return dict(self._refresh()["tags"])

    @property
    def parent(self):
        """The sweep this run is a trial of, or None."""
        parent_id = self._record["parent_id"] if not self._in_job else None
        return Run(self._experiment, parent_id) if parent_id else None

    def get_children(self, recursive=False, tags=None, properties=None, type=None,
                     status=None, _rehydrate_runs=True):
        """The runs this one made (a sweep's trials), newest first; with recursive, theirs
        too. Only those with every tag of `tags` (a key, a list of keys or {key: value}),
        of `type` ("job" or "sweep") and in `status` when given. `properties` is accepted for
        the SDK's signature."""
        del properties, _rehydrate_runs
        self._require_submitted("get_children")
        children = []
        for record in self._workspace._core.runs(parent=self._id, archived="any"):
            child = Run(self._experiment, _record=record)
            if ((type is None or record["kind"] == type)
                    and (status is None or record["status"] == status)
                    and _tags_match(record["tags"], tags)):
                children.append(child)
            if recursive:
                children.extend(child.get_children(True, tags, None, type, status))
        return children

    def get_portal_url(self):
        """The run's page in Kiln Studio on the workspace's server; None for a workspace on
        this machine's store, whose Studio `kiln ui` opens."""
        self._require_submitted("get_portal_url")
        server = self._workspace._core.server_url
        if server is None:
            return None
        from urllib.parse import quote
        return f"{server}/runs/{quote(self._id, safe='')}"

    def wait_for_completion(self, show_output=False, wait_post_processing=False,
                            raise_on_error=True):
        """Wait for the run to end; with show_output, print its log as it comes.

        Raises ActivityFailedException when the run failed or was canceled and
        raise_on_error is true. Returns get_details().
        """
        del wait_post_processing  # the run is ended only after its outputs are in place
        self._require_submitted("wait_for_completion")
        if show_output:
            print(f"RunId: {self._id}", flush=True)
            print(f"Run directory: {self._record['run_dir']}\n", flush=True)
        self._record = self._workspace._core.wait(self._id, show_output)
        details = self.get_details()
        if show_output:
            print("\nExecution Summary\n=================")
            print(f"RunId: {self._id}\nStatus: {details['status']}", flush=True)
        if raise_on_error and details["status"] != "Completed":
            raise ActivityFailedException(details)
        return details

    def cancel(self):
        """Stop every process of the run; returns when it is Canceled (or 60 s passed)."""
        self._require_submitted("cancel")
        self._record = self._workspace._core.cancel(self._id)

    def get_file_names(self):
        """The run's files: its artifacts (outputs/...), what its script wrote under logs/
        (logs/...) and Kiln's logs of its ranks (logs/rank-N.log)."""
        self._require_submitted("get_file_names")
        names = [name for name, _ in self._workspace._core.artifacts(self._id)]
        return sorted(set(names + self._log_names(self._record)))

    def download_file(self, name, output_file_path=None):
        """Copy one of get_file_names() to `output_file_path` (a file or a folder)."""
        self._require_submitted("download_file")
        target = output_file_path or os.path.basename(name)
        if os.path.isdir(target):
            target = os.path.join(target, os.path.basename(name))
        if name.startswith("logs/") and name in self._log_names(self._record):
            shutil.copyfile(os.path.join(self._record["run_dir"], name), target)
            return
        with tempfile.TemporaryDirectory() as folder:
            self._workspace._core.download(self._id, name, folder)
            shutil.move(os.path.join(folder, os.path.basename(name)), target)

    def download_files(self, prefix=None, output_directory=None, output_paths=None,
                       batch_size=100, append_prefix=True):
        """Copy every file whose name starts with `prefix` under `output_directory`, keeping
        its path (without the prefix when append_prefix is false)."""
        del batch_size  # files are copied locally, not in batches
        output_directory = output_directory or os.getcwd()
        names = [n for n in self.get_file_names() if prefix is None or n.startswith(prefix)]
        for index, name in enumerate(names):
            if output_paths is not None:
                target = output_paths[index]
            else:
                relative = name
                if not append_prefix and prefix:
                    relative = name[len(prefix):].lstrip("/")
                target = os.path.join(output_directory, relative)
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            self.download_file(name, target)

    def register_model(self, model_name, model_path="outputs/model.onnx", tags=None,
                       description="", **kwargs):
        """Registers the run's artifact `model_path` as the next version of `model_name` and
        returns the kiln.Model. The run must have Completed: call it after
        wait_for_completion(), from the script that submitted the run."""
        del kwargs  # the estimator's properties= and the like have no counterpart yet
        self._require_submitted("register_model")
        from kiln.model import Model
        return Model.register(self._workspace, model_name, self._id, model_path, tags,
                              description)

    # Helpers ------------------------------------------------------------------------------

    def _require_submitted(self, verb):
        if self._in_job:
            raise RuntimeError(f"run.{verb}() is for a submitted run; inside the job, the run "
                               f"is still going")

    def _edit(self, edit):
        if self._in_job:
            raise RuntimeError(
                f"{', '.join(edit)} of a run is changed from outside its job (Run(experiment, "
                "run_id), kiln tag, kiln edit); inside the job, run.tag() sets tags")
        self._record = self._workspace._core.edit(self._id, json.dumps(edit))

    def _refresh(self):
        self._require_submitted("get_status")
        self._record = self._workspace._core.run(self._id)
        return self._record

    @staticmethod
    def _log_names(record):
        """Kiln's own logs of the run (a script's file of the same name is shadowed here;
        kiln download reaches it)."""
        logs = os.path.join(record["run_dir"], "logs")
        if not os.path.isdir(logs):
            return []
        return sorted("logs/" + name for name in os.listdir(logs)
                      if os.path.isfile(os.path.join(logs, name)))


def _tags_match(run_tags, wanted):
    """Whether a run's tags hold `wanted`: None, a key, a list of keys or {key: value}."""
    if wanted is None:
        return True
    if isinstance(wanted, str):
        return wanted in run_tags
    if isinstance(wanted, dict):
        return all(key in run_tags and (value is None or run_tags[key] == str(value))
                   for key, value in wanted.items())
    return all(key in run_tags for key in wanted)


def _shape(kind, values):
    """One logged value alone, several as a list; rows as columns of lists."""
    if kind != "scalar":
        values = [json.loads(v) for v in values]
    if kind == "row":
        columns = {}
        for row in values:
            for column, value in row.items():
                columns.setdefault(column, []).append(value)
        return columns
    if kind == "image":
        values = [value["path"] for value in values]
    return values[0] if len(values) == 1 else values
