"""Kiln's stand-in for the horovod package: `import horovod.torch as hvd` gets kiln.hvd.

A real Horovod anywhere else on sys.path wins: this module then loads it in its own place,
so jobs written for Horovod run with whichever is there.
"""

import importlib.machinery
import importlib.util
import os
import sys

_own_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _is_stand_in(spec):
    """Whether `spec` is another copy of this module (a build folder and the source folder
    both on sys.path): loading it would look for a real Horovod again, without end."""
    try:
        with open(spec.origin, encoding="utf-8") as f:
            return f.readline().startswith('"""Kiln\'s stand-in for the horovod package')
    except (OSError, TypeError, UnicodeDecodeError):
        return False


def _find_real_horovod():
    others = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != _own_root]
    while True:
        spec = importlib.machinery.PathFinder.find_spec("horovod", others)
        if spec is None or not _is_stand_in(spec):
            return spec
        root = os.path.dirname(os.path.dirname(os.path.abspath(spec.origin)))
        others = [p for p in others if os.path.abspath(p or os.getcwd()) != root]


_real = _find_real_horovod()
if _real is not None:
    _module = importlib.util.module_from_spec(_real)
    sys.modules["horovod"] = _module
    _real.loader.exec_module(_module)
else:
    __version__ = "0.28.1"
    kiln_runtime = True  # tells a script which Horovod it has
