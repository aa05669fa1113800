"""Shared set-up for the Python tests: a fresh KILN_HOME and project folders per test."""

import os
import shutil
import tempfile
import textwrap
import unittest


class KilnTestCase(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="kiln-pytest-")
        self.home = os.path.join(self.root, "home")
        os.environ["KILN_HOME"] = self.home
        os.environ["KILN_KILL_GRACE_SECONDS"] = "2"
        from kiln import Workspace
        self.ws = Workspace()

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def project(self, name, files):
        folder = os.path.join(self.root, name)
        for path, text in files.items():
            full = os.path.join(folder, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(textwrap.dedent(text))
        return folder
