"""kiln.Environment and CondaDependencies: the SDK's azureml.core.Environment for Kiln's job
environments (docs/environments.md), registered with versions in the workspace's store."""

import json
import os


class CondaDependencies:
    """Package lists, as the SDK's CondaDependencies: conda packages and pip packages."""

    def __init__(self, conda_dependencies_file_path=None, _underlying_structure=None):
        self._conda = []
        self._pip = []
        self._python_version = None
        self._channels = []
        if conda_dependencies_file_path is not None:
            _underlying_structure = _read_conda_file(conda_dependencies_file_path)
        if _underlying_structure is not None:
            self._load(_underlying_structure, conda_dependencies_file_path or "conda spec")

    @staticmethod
    def create(pip_packages=None, conda_packages=None, python_version=None,
               pin_sdk_version=True, pip_indexurl=None):
        """Lists of pip and conda packages. `python_version` is the conda package python=X;
        Kiln builds on the job's interpreter, so asking for another version is refused at
        submit when it differs. `pin_sdk_version` has no counterpart (Kiln's SDK is in every
        job); `pip_indexurl` becomes the environment's pip index."""
        del pin_sdk_version
        dependencies = CondaDependencies()
        for package in pip_packages or []:
            dependencies.add_pip_package(package)
        for package in conda_packages or []:
            dependencies.add_conda_package(package)
        dependencies._python_version = python_version
        dependencies._index_url = pip_indexurl
        return dependencies

    def add_pip_package(self, pip_package):
        _check_package(pip_package, "pip")
        if pip_package not in self._pip:
            self._pip.append(pip_package)

    def add_conda_package(self, conda_package):
        _check_package(conda_package, "conda")
        if conda_package not in self._conda:
            self._conda.append(conda_package)

    def remove_pip_package(self, pip_package):
        self._pip = [p for p in self._pip if _package_name(p) != _package_name(pip_package)]

    def remove_conda_package(self, conda_package):
        self._conda = [p for p in self._conda
                       if _package_name(p) != _package_name(conda_package)]

    def add_channel(self, channel):
        if channel not in self._channels:
            self._channels.append(channel)

    @property
    def pip_packages(self):
        return iter(list(self._pip))

    @property
    def conda_packages(self):
        return iter(list(self._conda))

    def get_python_version(self):
        return self._python_version

    def serialize_to_string(self):
        """The conda environment file's YAML."""
        import yaml
        dependencies = list(self._conda)
        if self._python_version:
            dependencies.insert(0, f"python={self._python_version}")
        if self._pip:
            dependencies.append({"pip": list(self._pip)})
        document = {"name": "project_environment", "dependencies": dependencies}
        if self._channels:
            document["channels"] = list(self._channels)
        return yaml.safe_dump(document, sort_keys=False)

    def _load(self, document, where):
        if not isinstance(document, dict):
            raise ValueError(f"{where}: a conda specification is a mapping with 'dependencies'")
        channels = document.get("channels") or []
        if not isinstance(channels, list):
            raise ValueError(f"{where}: channels: expected a list")
        self._channels = [str(c) for c in channels]
        dependencies = document.get("dependencies") or []
        if not isinstance(dependencies, list):
            raise ValueError(f"{where}: dependencies: expected a list")
        for item in dependencies:
            if isinstance(item, dict) and set(item) == {"pip"}:
                if not isinstance(item["pip"], list):
                    raise ValueError(f"{where}: dependencies: pip: expected a list")
                for package in item["pip"]:
                    self.add_pip_package(str(package))
            elif isinstance(item, str):
                name = _package_name(item)
                if name == "python":
                    self._python_version = item[len("python"):].lstrip("=<>! ") or None
                elif name == "pip":
                    continue  # conda's pip itself: the environment has one
                else:
                    self.add_conda_package(item)
            else:
                raise ValueError(f"{where}: dependencies: {item!r} is neither a package nor "
                                 "a 'pip:' list")


class PythonSection:
    """Environment.python: the package lists, or an interpreter managed by the user."""

    def __init__(self):
        self.conda_dependencies = CondaDependencies()
        self.user_managed_dependencies = False
        self.interpreter_path = "python"


class DockerSection:
    """Environment.docker: Kiln runs no containers, so `enabled` must stay False."""

    def __init__(self):
        self.enabled = False
        self.base_image = None


class Environment:
    """A job environment: packages to install over the base interpreter, and variables.

        env = Environment.from_pip_requirements("tb", "requirements.txt")
        env.environment_variables["MODE"] = "fast"
        env = env.register(ws)          # version 1, then 2 when the definition changes
        run = exp.submit(ScriptRunConfig(..., environment=env))
    """

    def __init__(self, name, _version=None):
        if not name or not isinstance(name, str):
            raise ValueError("an environment needs a name")
        self.name = name
        self.version = _version
        self.python = PythonSection()
        self.docker = DockerSection()
        self.environment_variables = {}
        self.pip_index_url = None
        self.pip_find_links = []
        self.system_site_packages = True
        self._registered = None  # the definition as registered, for _job_value

    @staticmethod
    def from_pip_requirements(name, file_path, pip_version=None):
        """An environment whose pip packages are the requirements file's lines (comments and
        blank lines left out; options such as -r or --index-url are refused by name)."""
        del pip_version
        env = Environment(name)
        with open(os.fspath(file_path), encoding="utf-8") as f:
            for number, raw in enumerate(f, 1):
                line = raw.split(" #", 1)[0].strip()
                if not line or line.startswith("#"):
                    continue
                if line.startswith("-"):
                    raise ValueError(
                        f"{file_path}:{number}: '{line}' is a pip option; Kiln takes "
                        "requirement lines only (set pip_index_url or pip_find_links on the "
                        "Environment instead)")
                env.python.conda_dependencies.add_pip_package(line)
        return env

    @staticmethod
    def from_conda_specification(name, file_path):
        """An environment from a conda environment file: its conda packages and its 'pip:'
        list (python=X is kept as the version asked for)."""
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies(file_path)
        return env

    def register(self, workspace):
        """Stores this definition as the next version of its name (or finds it unchanged)
        and returns the registered Environment, with its version."""
        self._check()
        stored = workspace._core.register_environment(json.dumps(self._definition()))
        return Environment._from_record(stored)

    @staticmethod
    def get(workspace, name, version=None):
        """A registered environment: its latest version, or `version`."""
        reference = name if version is None else f"{name}:{version}"
        return Environment._from_record(workspace._core.environment(reference))

    @staticmethod
    def list(workspace):
        """{name: the latest version} of every registered environment."""
        return {record["name"]: Environment._from_record(record)
                for record in workspace._core.environments("")}

    def get_versions(self, workspace):
        """Every registered version of this name, newest first."""
        return [Environment._from_record(r) for r in workspace._core.environments(self.name)]

    def __repr__(self):
        return f"Environment(name={self.name!r}, version={self.version!r})"

    # What a job carries -------------------------------------------------------------------

    def _job_value(self):
        """The job spec's `environment`: NAME:VERSION of a registered version that nobody
        changed since, else the definition itself."""
        self._check()
        if self.version is not None and self._definition() == self._registered:
            return f"{self.name}:{self.version}"
        return self._definition()

    def _check(self):
        if self.docker.enabled:
            raise ValueError(f"environment {self.name}: docker.enabled is True, and Kiln has no "
                             "container engine; it runs jobs in Python environments "
                             "(docs/environments.md)")

    def _definition(self):
        deps = self.python.conda_dependencies
        definition = {
            "name": self.name,
            "pip_packages": list(deps._pip),
            "conda_packages": list(deps._conda),
            "environment_variables": {str(k): str(v)
                                      for k, v in self.environment_variables.items()},
            "system_site_packages": self.system_site_packages,
            "pip_find_links": list(self.pip_find_links),
        }
        index = self.pip_index_url or getattr(deps, "_index_url", None)
        if index:
            definition["pip_index_url"] = index
        if self.python.user_managed_dependencies and self.python.interpreter_path != "python":
            definition["python"] = self.python.interpreter_path
        return definition

    @staticmethod
    def _from_record(record):
        definition = record["definition"]
        env = Environment(record["name"], _version=record["version"])
        deps = env.python.conda_dependencies
        deps._pip = list(definition.get("pip_packages", []))
        deps._conda = list(definition.get("conda_packages", []))
        env.environment_variables = dict(definition.get("environment_variables", []))
        env.system_site_packages = definition.get("system_site_packages", True)
        env.pip_find_links = list(definition.get("pip_find_links", []))
        env.pip_index_url = definition.get("pip_index_url") or None
        if definition.get("python") and definition["python"] != "/usr/bin/python3":
            env.python.user_managed_dependencies = True
            env.python.interpreter_path = definition["python"]
        env._registered = env._definition()
        return env


def _package_name(spec):
    for separator in ("==", ">=", "<=", "~=", "!=", "=", ">", "<", "[", " ", ";"):
        spec = spec.split(separator, 1)[0]
    return spec.strip().lower()


def _check_package(package, kind):
    if not isinstance(package, str) or not package.strip():
        raise ValueError(f"a {kind} package is a non-empty requirement string, got {package!r}")


def _read_conda_file(path):
    import yaml
    with open(os.fspath(path), encoding="utf-8") as f:
        try:
            return yaml.safe_load(f)
        except yaml.YAMLError as error:
            raise ValueError(f"{path}: not YAML: {error}") from None
