"""The host of a scoring script: one `kiln serve` worker (docs/serving.md, "Scoring scripts").

    <python> .../kiln/_score_worker.py            (started by kiln serve, never by hand)
    <python> .../kiln/_score_worker.py --check score.py

Imports the script named by KILN_SCORE_SCRIPT, calls its init() once, then answers
requests on the socket KILN_WORKER_FD with run(raw_data), in the framing of
src/serve/worker_protocol.h (protocol 1):
  a frame is one kind byte, the payload's length (4 bytes, little-endian), the payload;
  worker -> kiln  R {"protocol", "pid", "python"} after init(), or F {"type", "message"}
                  when the import or init() failed (the worker then exits with code 3);
  kiln -> worker  Q the request's body;
  worker -> kiln  A run()'s result as JSON text, or E {"type", "message", "status"}.
kiln serve closing the socket ends the worker.

run() gets the body as text (UTF-8) and returns anything json.dumps takes; an exception is a
500 with its type and message (the traceback goes to the log), or a 400 when its class has
`http_status = 400`. The script's print() goes to kiln serve's log (stderr).

`--check FILE` parses the script without running it and says whether it defines init and
run at its top level: what `kiln model deploy` checks before it records anything.

Only the standard library is imported here: the worker may run in an environment of another
Python than Kiln's own modules were built for.
"""

import os
import sys

# Run as a file, Python put this folder first on sys.path: kiln's own modules (model.py,
# run.py, ...) would shadow the script's. Take it off before anything else is imported.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import ast  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import struct  # noqa: E402
import traceback  # noqa: E402

PROTOCOL = 1
HEADER = struct.Struct("<cI")
BAD_REQUEST = 400
SCRIPT_ERROR = 500
INIT_FAILED_EXIT = 3


class Channel:
    """One end of the socketpair kiln serve made, as frames."""

    def __init__(self, fd):
        self.fd = fd

    def send(self, kind, payload):
        data = HEADER.pack(kind, len(payload)) + payload
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def _read(self, size):
        chunks, left = [], size
        while left:
            chunk = os.read(self.fd, min(left, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def receive(self):
        """(kind, payload), or None once kiln serve closed its end."""
        header = self._read(HEADER.size)
        if header is None:
            return None
        kind, size = HEADER.unpack(header)
        payload = self._read(size) if size else b""
        return None if payload is None else (kind, payload)


def _error(kind, message, status):
    return json.dumps({"type": kind, "message": message, "status": status}).encode()


def _describe(exc):
    return {"type": type(exc).__name__, "message": str(exc)}


def _defined_names(tree):
    """Names bound at the top level of a module: functions, assignments, imports."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.If, ast.Try)):
            names.update(_defined_names(ast.Module(body=node.body, type_ignores=[])))
    return names


def check(path):
    """None when `path` defines init and run at its top level, else what is wrong."""
    name = os.path.basename(path)
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), filename=name)
    except SyntaxError as e:
        return f"{name}: line {e.lineno}: {e.msg} (a syntax error)"
    except (OSError, ValueError) as e:
        return f"{name}: {e}"
    defined = _defined_names(tree)
    missing = [f for f in ("init", "run") if f not in defined]
    if missing:
        return (f"{name} defines no {' and no '.join(f + '()' for f in missing)}: a scoring "
                f"script defines init() (load the model from KILN_MODEL_DIR) and "
                f"run(raw_data) (score one request's body, return JSON) at its top level")
    return None


def load(path):
    """Imports the script as a module named after its file (its folder on sys.path)."""
    folder = os.path.dirname(os.path.abspath(path))
    for entry in (folder, os.getcwd()):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    for function in ("init", "run"):
        if not callable(getattr(module, function, None)):
            raise AttributeError(f"{os.path.basename(path)} defines no {function}(): a scoring "
                                 f"script defines init() and run(raw_data) at its top level")
    return module


def answer(run, body):
    """The frame that answers one request."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        return b"E", _error("UnicodeDecodeError",
                            f"the body is not UTF-8 text ({e}); run() takes the request's "
                            f"body as text, e.g. JSON", BAD_REQUEST)
    try:
        result = run(text)
    except Exception as e:  # noqa: BLE001 (every failure of the script is the reply's)
        status = getattr(type(e), "http_status", SCRIPT_ERROR)
        if status != BAD_REQUEST:
            status = SCRIPT_ERROR
            traceback.print_exc()
        return b"E", _error(type(e).__name__, str(e), status)
    try:
        return b"A", json.dumps(result, allow_nan=False).encode()
    except (TypeError, ValueError) as e:
        return b"E", _error(type(e).__name__,
                            f"run() returned a value that is not JSON: {e} (return dicts, "
                            f"lists, strings and numbers: a tensor's .tolist())", SCRIPT_ERROR)


def serve():
    channel = Channel(int(os.environ["KILN_WORKER_FD"]))
    script = os.environ["KILN_SCORE_SCRIPT"]
    try:
        module = load(script)
        module.init()
    except BaseException as e:  # noqa: BLE001 (SystemExit in init() fails it too)
        traceback.print_exc()
        channel.send(b"F", json.dumps(_describe(e)).encode())
        return INIT_FAILED_EXIT
    channel.send(b"R", json.dumps({"protocol": PROTOCOL, "pid": os.getpid(),
                                   "python": platform.python_version()}).encode())
    while True:
        frame = channel.receive()
        if frame is None:
            return 0
        kind, payload = frame
        if kind != b"Q":
            sys.stderr.write(f"kiln worker: unexpected frame {kind!r}; stopping\n")
            return 2
        channel.send(*answer(module.run, payload))


def main(argv):
    if len(argv) == 3 and argv[1] == "--check":
        problem = check(argv[2])
        print(json.dumps({"ok": problem is None, "problem": problem}))
        return 0
    return serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
