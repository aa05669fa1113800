"""Starts a trial's script warm (docs/sweeps.md, "Warm start").

The launcher of a sweep trial that waits in the local queue starts its rank early as

    python .../kiln/_warm_start.py SCRIPT ARGS...

with the rank's whole environment, in the run's src/ folder, and a pipe in KILN_WARM_FD.
This file imports the script's heavy modules while the trial waits, then blocks on the
pipe. When the trial's turn comes the launcher writes b"1" and the script runs as
`python SCRIPT ARGS...` would run it: in the __main__ module, set up as Python sets it up
for a script, with sys.argv and sys.path[0] its own.
If the pipe closes without it (the trial was canceled), it exits without running the
script.

KILN_WARM_PRELOAD names the modules: "auto" (the default) is the modules the script's
leading imports name (the import statements before its first other statement), except
files and folders beside it; otherwise a comma-separated list. While they are imported,
sys.argv and sys.path[0] are already the script's.
"""

import sys

# Python put this file's folder (kiln/) first on the path: nothing of it may shadow a
# module the script imports. The script's own folder goes there before anything else.
sys.path[0] = ""

import os  # noqa: E402


def _top_level_imports(script):
    import ast
    try:
        with open(script, "rb") as f:
            tree = ast.parse(f.read(), filename=script)
    except (OSError, SyntaxError, ValueError):
        return []  # the script itself reports it, when it runs
    folder = os.path.dirname(os.path.abspath(script))
    names = []
    for i, node in enumerate(tree.body):
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                names.append(node.module.split(".")[0])
        elif not (i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            # Anything else (os.environ set for a library, sys.path changed) may change what
            # a later import does: it runs first, in the script.
            break
    local = lambda name: (os.path.exists(os.path.join(folder, name + ".py"))
                          or os.path.isdir(os.path.join(folder, name)))
    return [name for name in dict.fromkeys(names) if name != "__future__" and not local(name)]


def _preload(names):
    for name in names:
        try:
            __import__(name)
        except BaseException:  # the script meets the same when it imports it itself
            pass


def _wait_for_turn():
    fd = int(os.environ.pop("KILN_WARM_FD"))
    with os.fdopen(fd, "rb", buffering=0) as gate:
        go = gate.read(1)
    if go != b"1":
        sys.exit(0)


def _main():
    if len(sys.argv) < 2:
        sys.exit("usage: _warm_start.py SCRIPT [ARGS...]")
    script = sys.argv[1]
    path = os.path.abspath(script)
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(path)
    preload = os.environ.pop("KILN_WARM_PRELOAD", "auto")
    _preload(_top_level_imports(script) if preload == "auto"
             else [name for name in preload.split(",") if name])
    _wait_for_turn()
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec", dont_inherit=True)
    # The script runs in this module's namespace, emptied and set up as Python sets up a
    # script's __main__.
    import builtins
    import importlib.machinery
    namespace = sys.modules["__main__"].__dict__
    namespace.clear()
    namespace.update(__name__="__main__", __doc__=None, __package__=None, __spec__=None,
                     __annotations__={}, __builtins__=builtins, __file__=path, __cached__=None,
                     __loader__=importlib.machinery.SourceFileLoader("__main__", path))
    exec(code, namespace)


_main()
