"""kiln.onnx.export and Kiln's ONNX engine (kiln._onnx): parity with PyTorch."""

import json
import os
import sys
import tempfile
import unittest
import warnings

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                                "fashion-mnist"))
import kiln.onnx  # noqa: E402
from kiln import _onnx  # noqa: E402
from train import FashionCNN  # noqa: E402

warnings.filterwarnings("ignore")


def trained_looking_cnn():
    """The example's CNN with batch-norm statistics away from their initial values, so folding
    them into the convolutions is exercised."""
    torch.manual_seed(0)
    model = FashionCNN()
    for bn in (model.bn1, model.bn2):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    return model


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(784, 256), nn.Linear(256, 64), nn.Linear(64, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        return torch.log_softmax(self.l3(torch.tanh(self.l2(torch.relu(self.l1(x))))), dim=1)


class ViewAndDepthwise(nn.Module):
    """x.view(x.size(0), -1) (shape arithmetic in the graph), a strided and a depthwise
    convolution, average pooling without the padding, softmax."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, stride=2)
        self.depthwise = nn.Conv2d(8, 8, 3, groups=8, padding=1)
        self.linear = nn.Linear(8 * 13 * 13, 5)

    def forward(self, x):
        x = torch.relu(self.depthwise(torch.relu(self.conv(x))))
        x = nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        return torch.softmax(self.linear(x.view(x.size(0), -1)), dim=1)


class BranchesOnBatchSize(nn.Module):
    """Tracing records one branch: the export is wrong for other batch sizes."""

    def forward(self, x):
        if x.shape[0] > 4:
            return x.flatten(1) * 2
        return x.flatten(1)


class CumulativeSum(nn.Module):
    def forward(self, x):
        return torch.cumsum(x.flatten(1), dim=1)


class ExportTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kiln-onnx-")
        self.path = os.path.join(self.dir, "outputs", "model.onnx")

    def check_engine_matches(self, model, batch_sizes):
        engine = _onnx.Engine(self.path, 2)
        model.eval()
        for b in batch_sizes:
            x = torch.randn(b, 1, 28, 28)
            with torch.no_grad():
                expected = model(x).numpy()
            (got,) = engine.run(x.numpy())
            self.assertEqual(got.shape, expected.shape)
            np.testing.assert_allclose(got, expected, atol=1e-4)

    def test_the_example_cnn_exports_with_a_dynamic_batch_and_matches_pytorch(self):
        model = trained_looking_cnn()
        model.train()
        report = kiln.onnx.export(model, torch.randn(8, 1, 28, 28), self.path)
        self.assertTrue(model.training, "export leaves the model in the mode it was in")
        self.assertTrue(report.passed)
        self.assertLess(report.max_abs_diff, 1e-5)
        self.assertEqual(report.batches, [8, 1, 5, 32])
        self.assertEqual(report.input_shape, [-1, 1, 28, 28])
        with open(kiln.onnx.sidecar_path(self.path)) as f:
            self.assertAlmostEqual(
                __import__("json").load(f)["max_abs_diff"], report.max_abs_diff)
        # Batch sizes without a plan of their own run as binary pieces (37 = 32 + 4 + 1).
        self.check_engine_matches(model, [1, 2, 37, 64])

    def test_an_mlp_exports_and_matches(self):
        model = MLP()
        report = kiln.onnx.export(model, torch.randn(4, 1, 28, 28), self.path, opset=11)
        self.assertLess(report.max_abs_diff, 1e-5)
        self.assertEqual(report.opset, 11)
        self.check_engine_matches(model, [1, 9])

    def test_shape_arithmetic_and_other_layers_match(self):
        model = ViewAndDepthwise()
        report = kiln.onnx.export(model, torch.randn(4, 1, 28, 28), self.path)
        self.assertLess(report.max_abs_diff, 1e-5)
        self.check_engine_matches(model, [1, 3, 64])

    def test_a_fixed_batch_export_takes_that_batch_only(self):
        kiln.onnx.export(MLP(), torch.randn(2, 1, 28, 28), self.path, dynamic_batch=False)
        engine = _onnx.Engine(self.path)
        self.assertFalse(engine.dynamic_batch)
        self.assertEqual(engine.run(np.zeros((2, 1, 28, 28), np.float32))[0].shape, (2, 10))
        with self.assertRaisesRegex(ValueError, "exported for batches of 2"):
            engine.run(np.zeros((3, 1, 28, 28), np.float32))

    def test_an_export_that_disagrees_with_pytorch_raises_and_leaves_no_file(self):
        with self.assertRaises(kiln.onnx.ParityError) as caught:
            kiln.onnx.export(BranchesOnBatchSize(), torch.ones(2, 1, 28, 28), self.path)
        self.assertIn("above the tolerance", str(caught.exception))
        self.assertGreater(caught.exception.report.max_abs_diff, 0.5)
        self.assertFalse(os.path.exists(self.path))
        self.assertFalse(os.path.exists(kiln.onnx.sidecar_path(self.path)))

    def test_a_model_the_engine_cannot_run_is_kept_with_parity_not_checked(self):
        # ONNX accepts it (the checker passes): the engine does not block the export.
        report = kiln.onnx.export(CumulativeSum(), torch.ones(2, 1, 28, 28), self.path)
        self.assertRegex(report.engine, r"^engine: node '.*' \(CumSum\): this operator is not "
                                        r"supported .*; parity not checked$")
        self.assertFalse(report.parity_checked)
        self.assertIsNone(report.passed)
        self.assertIsNone(report.max_abs_diff)
        self.assertEqual((report.input_name, report.input_shape), ("input", [-1, 1, 28, 28]))
        self.assertTrue(os.path.exists(self.path))
        with open(kiln.onnx.sidecar_path(self.path)) as f:
            sidecar = json.load(f)
        self.assertEqual((sidecar["parity_checked"], sidecar["passed"], sidecar["engine"]),
                         (False, None, report.engine))
        # Loading it in the engine names the operator and the node.
        with self.assertRaisesRegex(ValueError, r"node '.*' \(CumSum\): this operator is not"):
            _onnx.Engine(self.path)

    def test_a_strict_export_refuses_what_the_engine_cannot_run(self):
        with self.assertRaisesRegex(ValueError, r"\(CumSum\): this operator is not supported"
                                                r".*strict=True, so the file was removed"):
            kiln.onnx.export(CumulativeSum(), torch.ones(2, 1, 28, 28), self.path, strict=True)
        self.assertFalse(os.path.exists(self.path))
        self.assertFalse(os.path.exists(kiln.onnx.sidecar_path(self.path)))

    def test_a_file_that_is_not_onnx_is_refused(self):
        bad = os.path.join(self.dir, "bad.onnx")
        with open(bad, "wb") as f:
            f.write(b"\x00\x01 certainly not protobuf \xff" * 10)
        with self.assertRaisesRegex(ValueError, "not an ONNX model"):
            _onnx.Engine(bad)
        with self.assertRaisesRegex(LookupError, "cannot read"):
            _onnx.Engine(os.path.join(self.dir, "missing.onnx"))

    def test_wrong_input_sizes_are_refused(self):
        kiln.onnx.export(MLP(), torch.randn(2, 1, 28, 28), self.path)
        engine = _onnx.Engine(self.path)
        with self.assertRaisesRegex(ValueError, r"input 'input' has shape \[2, 1, 28, 27\]; "
                                                r"the model's is \[\?, 1, 28, 28\]"):
            engine.run(np.zeros((2, 1, 28, 27), np.float32))
        with self.assertRaisesRegex(ValueError, "the model takes 1 inputs; 2 were given"):
            engine.run(np.zeros((2, 1, 28, 28), np.float32), np.zeros((2, 1, 28, 28)))


if __name__ == "__main__":
    unittest.main()
