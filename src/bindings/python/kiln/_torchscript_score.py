"""The built-in scoring script of a TorchScript model (`kiln serve` of a "torchscript"
version without a deployment; docs/serving.md, "TorchScript models").

A scoring script like any other, run by kiln/_score_worker.py: init() loads KILN_MODEL_PATH
with torch.jit.load on the CPU, in eval mode; run() takes the JSON body of the ONNX path,
    {"inputs": [sample, ...]}                      a model of one input
    {"inputs": {"name": [sample, ...], ...}}       every argument of forward() by name
makes each input torch.tensor(value) (numbers written as integers make an int64 tensor, any
other float32; a model that refuses the int64 ones gets them once more as float32), calls the
model under torch.no_grad(), and answers
    {"model", "version", "outputs": {"output": [...]}, "argmax": [...]}
with a tuple's outputs named output0, output1, ..., a dict's by its keys, and argmax where
the first output is [batch, classes]. A TorchScript file carries no input shapes: a request
the model cannot take is refused with the model's own error (400).
"""

import json
import os

import torch

MODEL = None
ARGUMENTS = []  # forward()'s argument names, self left out


class BadRequest(ValueError):
    """Answered as a 400 by the worker host."""
    http_status = 400


def init():
    global MODEL, ARGUMENTS
    threads = int(os.environ.get("KILN_SERVE_THREADS", "0"))
    if threads > 0:
        torch.set_num_threads(threads)
    MODEL = torch.jit.load(os.environ["KILN_MODEL_PATH"], map_location="cpu")
    MODEL.eval()
    ARGUMENTS = [a.name for a in MODEL.forward.schema.arguments][1:]


def _tensor(value, where):
    try:
        tensor = torch.tensor(value)
    except (TypeError, ValueError, RuntimeError) as e:
        raise BadRequest(f"{where}: {e}") from None
    if tensor.dtype == torch.float64:
        tensor = tensor.float()
    return tensor


def _inputs(request):
    inputs = request.get("inputs") if isinstance(request, dict) else None
    if isinstance(inputs, list):
        return [_tensor(inputs, "inputs")]
    if not isinstance(inputs, dict):
        raise BadRequest('the body must be a JSON object {"inputs": [sample, ...]} or, by '
                         'name, {"inputs": {"name": [sample, ...], ...}}; the model takes '
                         + ", ".join(ARGUMENTS))
    unknown = [name for name in inputs if name not in ARGUMENTS]
    if unknown:
        raise BadRequest(f"inputs.{unknown[0]}: the model has no input '{unknown[0]}'; "
                         f"it takes {', '.join(ARGUMENTS)}")
    args = []
    for name in ARGUMENTS:
        if name not in inputs:
            break  # the rest take their defaults
        args.append(_tensor(inputs[name], f"inputs.{name}"))
    return args


def _outputs(result):
    if isinstance(result, torch.Tensor):
        return {"output": result}
    if isinstance(result, (tuple, list)):
        return {f"output{i}": r for i, r in enumerate(result)}
    if isinstance(result, dict):
        return {str(k): v for k, v in result.items()}
    raise TypeError(f"the model returned a {type(result).__name__}; served models return "
                    f"tensors, or a tuple or dict of them")


def _refused(error):
    # TorchScript's own traceback comes first; the error is its last line.
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return BadRequest(f"the model refused the inputs: {lines[-1] if lines else error}")


def _again_as_floats(args, error):
    """A model that refused integer inputs (pixels written 0 and 1) is given them as float32
    once; its first error is the answer when that fails too."""
    integers = [not t.is_floating_point() and t.dtype != torch.bool for t in args]
    if not any(integers):
        raise _refused(error) from None
    try:
        return MODEL(*[t.float() if i else t for t, i in zip(args, integers)])
    except RuntimeError:
        raise _refused(error) from None


def run(raw_data):
    try:
        request = json.loads(raw_data)
    except ValueError as e:
        raise BadRequest(f"the body is not JSON: {e}") from None
    args = _inputs(request)
    with torch.no_grad():
        try:
            result = MODEL(*args)
        except RuntimeError as e:
            result = _again_as_floats(args, e)
    outputs = _outputs(result)
    reply = {"model": os.environ.get("KILN_MODEL_NAME", ""),
             "version": int(os.environ.get("KILN_MODEL_VERSION", "0")),
             "outputs": {k: v.tolist() if isinstance(v, torch.Tensor) else v
                         for k, v in outputs.items()}}
    first = next(iter(outputs.values()), None)
    if isinstance(first, torch.Tensor) and first.dim() == 2:
        reply["argmax"] = first.argmax(1).tolist()
    return reply
