"""Export a PyTorch model to ONNX, checked: kiln.onnx.export.

    import kiln.onnx
    report = kiln.onnx.export(model, sample_batch, "outputs/model.onnx")
    print(report.max_abs_diff)

export() runs torch.onnx.export and the ONNX checker, then loads the file in Kiln's ONNX
engine (the one `kiln serve` scores with) and compares the engine's outputs with PyTorch's
on the sample batch and a few random batches. Above the tolerance it removes the file and
raises ParityError. A model the engine cannot run is still exported: the report says why
and that parity was not checked (strict=True refuses it instead). The figures are written
next to the model (PATH.parity.json), where `kiln model register` finds them.
docs/models.md has the details.
"""

import json
import os
from dataclasses import asdict, dataclass, field

DEFAULT_TOLERANCE = 1e-4
DEFAULT_OPSET = 13


class ParityError(ValueError):
    """The exported model's outputs differ from PyTorch's by more than the tolerance."""

    def __init__(self, message, report):
        super().__init__(message)
        self.report = report


class _EngineCannotRun(Exception):
    """Kiln's engine refused to load or run the model (not a parity failure)."""


@dataclass
class ParityReport:
    path: str
    max_abs_diff: float  # None when parity was not checked
    max_rel_diff: float  # max |onnx - torch| / max |torch|, over every output; or None
    tolerance: float
    batches: list = field(default_factory=list)  # the batch sizes compared
    opset: int = DEFAULT_OPSET
    input_name: str = "input"
    input_shape: list = field(default_factory=list)  # -1 for a dynamic batch
    inputs: list = field(default_factory=list)  # [name, shape] of every input; -1: open
    output_names: list = field(default_factory=list)
    exported_with: str = ""
    # "kiln" when Kiln's engine ran it; else why not ("engine: ...; parity not checked").
    engine: str = "kiln"

    @property
    def parity_checked(self):
        return self.max_abs_diff is not None

    @property
    def passed(self):
        """Within the tolerance; None when parity was not checked."""
        return self.max_abs_diff <= self.tolerance if self.parity_checked else None

    def to_dict(self):
        d = asdict(self)
        d.pop("path")
        d["passed"] = self.passed
        d["parity_checked"] = self.parity_checked
        return d


def sidecar_path(path):
    """Where export() writes the parity figures for the model at `path`."""
    return str(path) + ".parity.json"


def _as_tuple(outputs):
    if isinstance(outputs, (list, tuple)):
        return tuple(outputs)
    return (outputs,)


def _random_like(sample, shape):
    """A random tensor of `shape` like `sample`: floats with its mean and spread, integers
    within its range (token ids stay inside the vocabulary, masks stay 0 and 1)."""
    import torch
    if not sample.is_floating_point():
        low, high = int(sample.min()), int(sample.max())
        return torch.randint(low, high + 1, tuple(shape), dtype=sample.dtype)
    spread = float(sample.float().std()) if sample.numel() > 1 else 1.0
    return torch.randn(tuple(shape)) * (spread or 1.0) + float(sample.float().mean())


def _random_batches(samples, names, open_axes, count, dynamic_batch):
    """`count` random batches like `samples` (a tuple): sizes 1, 5 and 32 in turn when the
    batch is dynamic, and every other open axis (open_axes: input name -> {axis: name}) at
    the sample's length and at another, alternately."""
    lengths = {}  # axis name -> the sample's length
    for sample, name in zip(samples, names):
        for axis, axis_name in open_axes.get(name, {}).items():
            lengths.setdefault(axis_name, int(sample.shape[axis]))
    other = {axis_name: (n // 2 if n > 1 else 2) for axis_name, n in lengths.items()}
    size = int(samples[0].shape[0])
    batches = []
    for i in range(count):
        batch = (1, 5, max(size, 32))[i % 3] if dynamic_batch else size
        tensors = []
        for sample, name in zip(samples, names):
            shape = list(sample.shape)
            if dynamic_batch:
                shape[0] = batch
            for axis, axis_name in open_axes.get(name, {}).items():
                shape[axis] = other[axis_name] if i % 2 == 0 else lengths[axis_name]
            tensors.append(_random_like(sample, shape))
        batches.append(tuple(tensors))
    return batches


def check_parity(model, onnx_path, batches, tolerance=DEFAULT_TOLERANCE, threads=0,
                 engine=None):
    """Runs `batches` (tensors, or tuples of them for a model of several inputs) through
    `model` and through Kiln's engine on `onnx_path`
    (`engine`, when loaded already); returns (max_abs_diff, max_rel_diff, engine)."""
    import numpy as np
    import torch
    from kiln import _onnx
    try:
        if engine is None:
            engine = _onnx.Engine(str(onnx_path), threads)
    except Exception as error:
        raise _EngineCannotRun(str(error)) from error
    max_abs, max_rel = 0.0, 0.0
    with torch.no_grad():
        for batch in batches:
            batch = batch if isinstance(batch, tuple) else (batch,)
            expected = [t.detach().float().numpy() for t in _as_tuple(model(*batch))]
            arrays = [np.ascontiguousarray(t.numpy() if not t.is_floating_point()
                                           else t.float().numpy()) for t in batch]
            try:
                got = engine.run(*arrays)
            except Exception as error:  # a batch size whose plan it cannot build, say
                raise _EngineCannotRun(str(error)) from error
            if len(got) != len(expected):
                raise ParityError(f"{onnx_path}: the ONNX model has {len(got)} outputs, the "
                                  f"PyTorch model {len(expected)}", None)
            for e, g in zip(expected, got):
                if e.shape != g.shape:
                    raise ParityError(f"{onnx_path}: an output has shape {list(g.shape)} in "
                                      f"ONNX and {list(e.shape)} in PyTorch", None)
                diff = float(np.max(np.abs(e - g))) if e.size else 0.0
                scale = float(np.max(np.abs(e))) if e.size else 0.0
                max_abs = max(max_abs, diff)
                max_rel = max(max_rel, diff / scale if scale > 0 else diff)
    return max_abs, max_rel, engine


def _output_batch_axes(model, samples, outputs):
    """Output index -> the axis that grows with the batch: found by running one sample
    more (a recurrent state is [directions, batch, hidden], not batch first). An output
    that does not change with the batch has none."""
    import torch
    more = tuple(torch.cat([t, t[:1]]) for t in samples)
    with torch.no_grad():
        grown = _as_tuple(model(*more))
    axes = {}
    for i, (a, b) in enumerate(zip(outputs, grown)):
        for axis, (x, y) in enumerate(zip(a.shape, b.shape)):
            if x != y:
                axes[i] = axis
                break
    return axes


def _engine_refusal(path, error):
    """The engine's reason, without the path it starts with."""
    why = str(error).splitlines()[0] if str(error) else type(error).__name__
    return why[len(path) + 2:] if why.startswith(path + ": ") else why


def export(model, sample_input, path, dynamic_batch=True, opset=DEFAULT_OPSET,
           input_name="input", output_names=None, tolerance=DEFAULT_TOLERANCE,
           random_batches=3, strict=False, input_names=None, dynamic_axes=None):
    """Exports `model` (an nn.Module or TorchScript module) to ONNX at `path` and checks it.

    sample_input: a tensor, batch first, or a tuple of them for a model of several inputs
    (float or integer: token ids, masks). dynamic_batch: the batch dimension stays open, so
    the model scores any batch size. input_names: one per input (default input_name for
    one input, input0, input1, ... for several). dynamic_axes: further open axes, {input or
    output name: {axis: axis name}}, e.g. {"ids": {1: "sequence"}}; the parity check then
    varies them too. Returns a ParityReport; raises ParityError (and removes the file) when
    an output differs by more than `tolerance` (absolute). A model that the ONNX checker
    passes but Kiln's engine cannot run is kept, with a report whose `engine` says why and
    whose figures are None; strict=True raises ValueError and removes the file instead."""
    import torch
    from kiln import _onnx
    samples = tuple(sample_input) if isinstance(sample_input, (tuple, list)) else (sample_input,)
    if not samples or not all(isinstance(t, torch.Tensor) for t in samples):
        raise TypeError("kiln.onnx.export: sample_input must be a torch.Tensor (one batch, "
                        "batch first) or a tuple of them")
    for t in samples:
        if t.dim() < 1 or t.shape[0] < 1:
            raise ValueError("kiln.onnx.export: each sample input needs a batch dimension of "
                             "at least 1")
    names_in = list(input_names) if input_names else (
        [input_name] if len(samples) == 1 else [f"input{i}" for i in range(len(samples))])
    if len(names_in) != len(samples):
        raise ValueError(f"kiln.onnx.export: {len(names_in)} input_names for {len(samples)} "
                         f"sample inputs")
    open_axes = {name: dict(axes) for name, axes in (dynamic_axes or {}).items()}
    path = str(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        with torch.no_grad():
            outputs = _as_tuple(model(*samples))
        names = list(output_names) if output_names else (
            ["output"] if len(outputs) == 1 else [f"output{i}" for i in range(len(outputs))])
        axes = None
        if dynamic_batch or open_axes:
            axes = {n: ({0: "batch"} if dynamic_batch else {}) for n in names_in}
            batch_axes = _output_batch_axes(model, samples, outputs) if dynamic_batch else {}
            for i, n in enumerate(names):
                axes[n] = {batch_axes[i]: "batch"} if i in batch_axes else {}
            for name, more in open_axes.items():
                axes.setdefault(name, {}).update(more)
        _remove(path)  # no figures of an earlier export may stand beside this one
        try:
            # torch writes the file, then runs its own checker on it.
            torch.onnx.export(model, samples, path, input_names=names_in,
                              output_names=names, dynamic_axes=axes, opset_version=opset,
                              do_constant_folding=True)
        except Exception:
            _remove(path)
            raise
        try:
            checked = _onnx.check(path)  # the ONNX checker: a file ONNX itself refuses goes
        except Exception:
            _remove(path)
            raise
        batches = [samples] + _random_batches(samples, names_in, open_axes, random_batches,
                                              dynamic_batch)
        refusal = None
        try:
            max_abs, max_rel, _ = check_parity(model, path, batches, tolerance)
        except _EngineCannotRun as error:  # ONNX accepts it all the same
            refusal = _engine_refusal(path, error)
        except Exception:  # a parity failure, or PyTorch itself failing on a batch
            _remove(path)
            raise
        if refusal is not None and strict:
            _remove(path)
            raise ValueError(f"kiln.onnx.export: {path}: Kiln's engine cannot run the model "
                             f"({refusal}); strict=True, so the file was removed")
    finally:
        model.train(was_training)

    first_input, input_shape = checked["inputs"][0] if checked["inputs"] else (input_name, [])
    report = ParityReport(path=path, max_abs_diff=None, max_rel_diff=None, tolerance=tolerance,
                          batches=[], opset=opset, input_name=first_input,
                          input_shape=list(input_shape),
                          inputs=[[name, list(shape)] for name, shape in checked["inputs"]],
                          output_names=[name for name, _ in checked["outputs"]],
                          exported_with=f"torch {torch.__version__}")
    if refusal is not None:
        report.engine = f"engine: {refusal}; parity not checked"
        with open(sidecar_path(path), "w") as f:
            json.dump(report.to_dict(), f, indent=2)
        return report
    report.max_abs_diff, report.max_rel_diff = max_abs, max_rel
    report.batches = [int(b[0].shape[0]) for b in batches]
    if not report.passed:
        _remove(path)
        raise ParityError(
            f"kiln.onnx.export: {path}: the ONNX model's outputs differ from PyTorch's by up to "
            f"{max_abs:.3g} (relative {max_rel:.3g}), above the tolerance {tolerance:g}; the "
            f"file was removed. Try another opset, or raise tolerance= if the difference is "
            f"expected", report)
    with open(sidecar_path(path), "w") as f:
        json.dump(report.to_dict(), f, indent=2)
    return report


def _remove(path):
    for p in (path, sidecar_path(path)):
        try:
            os.remove(p)
        except FileNotFoundError:
            pass


def _main(argv=None):
    """python -m kiln.onnx export-torchscript MODEL.pt OUT.onnx --input-shape 1,1,28,28
    (what `kiln model export` runs)."""
    import argparse
    import sys
    import warnings
    parser = argparse.ArgumentParser(prog="python -m kiln.onnx")
    commands = parser.add_subparsers(dest="command", required=True)
    ts = commands.add_parser("export-torchscript")
    ts.add_argument("model")
    ts.add_argument("output")
    ts.add_argument("--input-shape", required=True)
    ts.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    ts.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    ts.add_argument("--fixed-batch", action="store_true")
    ts.add_argument("--strict", action="store_true")
    args = parser.parse_args(argv)
    import torch
    warnings.filterwarnings("ignore")
    try:
        shape = [int(d) for d in args.input_shape.split(",")]
        if not shape or min(shape) < 1:
            raise ValueError
    except ValueError:
        sys.exit(f"--input-shape '{args.input_shape}': give positive sizes, batch first, e.g. "
                 f"1,1,28,28")
    try:
        model = torch.jit.load(args.model, map_location="cpu")
    except Exception as e:  # torch raises RuntimeError for a file that is not TorchScript
        sys.exit(f"{args.model} is not a TorchScript file torch.jit.load can read: "
                 f"{str(e).splitlines()[0]}")
    torch.manual_seed(0)
    try:
        report = export(model, torch.randn(shape), args.output, dynamic_batch=not args.fixed_batch,
                        opset=args.opset, tolerance=args.tolerance, strict=args.strict)
    except Exception as e:
        sys.exit(str(e).splitlines()[0] if str(e) else type(e).__name__)
    if not report.parity_checked:
        print(f"{args.output}: {report.engine}")
        return
    print(f"{args.output}: parity max abs diff {report.max_abs_diff:.3g}, max rel diff "
          f"{report.max_rel_diff:.3g} on batches {report.batches}")


if __name__ == "__main__":
    _main()
