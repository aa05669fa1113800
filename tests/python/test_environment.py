"""kiln.core.Environment against the SDK's meaning: definitions from a requirements file and
a conda specification, versions kept on register, get and list, and jobs that run in a
chosen version; with real launchers and a SQLite store in a fresh KILN_HOME."""

import os
import unittest

from kiln.core import Environment, Experiment, ScriptRunConfig
from kiln.core.conda_dependencies import CondaDependencies
from kiln_test_support import KilnTestCase

SHOW = """
    import os
    print("mode", os.environ.get("MODE"), flush=True)
"""


class EnvironmentTest(KilnTestCase):
    def write(self, name, text):
        path = os.path.join(self.root, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_definitions_from_requirements_and_conda_files(self):
        env = Environment.from_pip_requirements("req", self.write(
            "requirements.txt", "# pinned\ntqdm==4.66.1\n\nrich>=13  # for logs\n"))
        self.assertEqual(list(env.python.conda_dependencies.pip_packages),
                         ["tqdm==4.66.1", "rich>=13"])
        with self.assertRaises(ValueError) as raised:
            Environment.from_pip_requirements("bad", self.write("r2.txt", "-r other.txt\n"))
        self.assertIn("r2.txt:1: '-r other.txt' is a pip option", str(raised.exception))

        env = Environment.from_conda_specification("conda", self.write("env.yml", """
name: project_environment
channels: [conda-forge]
dependencies:
  - python=3.11
  - numpy=1.26
  - pip
  - pip:
    - tqdm==4.66.1
"""))
        deps = env.python.conda_dependencies
        self.assertEqual(list(deps.conda_packages), ["numpy=1.26"])
        self.assertEqual(list(deps.pip_packages), ["tqdm==4.66.1"])
        self.assertEqual(deps.get_python_version(), "3.11")
        self.assertIn("- pip:\n  - tqdm==4.66.1", deps.serialize_to_string())
        with self.assertRaises(ValueError):
            Environment.from_conda_specification("bad", self.write("bad.yml", "dependencies: 3\n"))

        created = CondaDependencies.create(pip_packages=["a==1"], conda_packages=["b"])
        created.add_pip_package("a==1")  # once
        created.remove_conda_package("b")
        self.assertEqual((list(created.pip_packages), list(created.conda_packages)), (["a==1"], []))

    def test_register_keeps_versions_and_jobs_run_in_the_one_chosen(self):
        env = Environment("modes")
        env.environment_variables["MODE"] = "one"
        first = env.register(self.ws)
        self.assertEqual(first.version, 1)
        self.assertEqual(env.register(self.ws).version, 1)  # the same definition: no version
        env.environment_variables["MODE"] = "two"
        self.assertEqual(env.register(self.ws).version, 2)
        self.assertEqual(Environment.get(self.ws, "modes").version, 2)
        self.assertEqual(Environment.get(self.ws, "modes", 1).environment_variables,
                         {"MODE": "one"})
        self.assertEqual(list(Environment.list(self.ws)), ["modes"])
        self.assertEqual([e.version for e in env.get_versions(self.ws)], [2, 1])
        with self.assertRaises(LookupError) as raised:
            Environment.get(self.ws, "modes", 7)
        self.assertIn("has no version 7; it has versions 1 to 2", str(raised.exception))

        source = self.project("proj", {"train.py": SHOW})
        experiment = Experiment(self.ws, "envs")
        for chosen, mode in [(Environment.get(self.ws, "modes", 1), "one"), ("modes", "two")]:
            run = experiment.submit(ScriptRunConfig(source_directory=source, script="train.py",
                                                    environment=chosen))
            run.wait_for_completion()
            with open(os.path.join(self.home, "runs", run.id, "logs", "rank-0.log")) as f:
                self.assertIn(f"mode {mode}", f.read())
        # An unregistered change travels as the definition itself.
        changed = Environment.get(self.ws, "modes", 1)
        changed.environment_variables["MODE"] = "three"
        self.assertEqual(changed._job_value()["environment_variables"], {"MODE": "three"})

    def test_refusals_name_what_is_wrong(self):
        env = Environment("docker")
        env.docker.enabled = True
        with self.assertRaises(ValueError) as raised:
            env.register(self.ws)
        self.assertIn("Kiln has no container engine", str(raised.exception))
        with self.assertRaises(ValueError) as raised:
            Environment("bad name").register(self.ws)
        self.assertIn("is not an environment name", str(raised.exception))
        with self.assertRaises(ValueError):
            Environment("v").python.conda_dependencies.add_pip_package("")
        # conda packages need conda: the submit says so and makes no run.
        conda = Environment("needs-conda")
        conda.python.conda_dependencies.add_conda_package("numpy")
        source = self.project("proj", {"train.py": SHOW})
        with self.assertRaises(Exception) as raised:
            Experiment(self.ws, "envs").submit(ScriptRunConfig(
                source_directory=source, script="train.py", environment=conda))
        self.assertIn("need conda, mamba or micromamba", str(raised.exception))
        self.assertEqual(Experiment(self.ws, "envs").get_runs(), [])


if __name__ == "__main__":
    unittest.main()
