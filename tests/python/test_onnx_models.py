"""The models people train, exported with kiln.onnx.export and run by Kiln's engine: every
torchvision classification family (Debian's python3-torchvision), at small input sizes, with
random weights and trained-looking batch-norm statistics. Each export checks parity with
PyTorch at batches 3 (the sample), 1, 5 and 32 within the export tolerance."""

import os
import tempfile
import unittest

import torch
from torch import nn

import kiln.onnx


def trained_looking(model, side):
    """Batch-norm statistics as training leaves them (measured on a random batch, so values
    stay in range through a deep network), random affine parameters, and no all-zero
    weights (torchvision zero-initialises some heads, which would hide the layers before)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.abs().max() == 0:
                p.normal_(0, 0.05)
            elif name.endswith("layer_scale"):  # ConvNeXt starts its blocks near zero
                p.uniform_(0.5, 1.0)
        norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        for m in norms:
            m.momentum = 1.0  # the running statistics become this batch's
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
        model.train()
        model(torch.randn(8, 3, side, side))
        for m in norms:
            m.momentum = 0.1
    return model.eval()


RELATIVE_TOLERANCE = 1e-3

def _small(name):
    """The transformer families at a small width: torchvision's own classes, fewer and
    narrower layers (the full-size models run in test_onnx_full, the slow label)."""
    from torchvision.models import convnext, swin_transformer, vision_transformer
    if name == "convnext":
        return convnext.ConvNeXt([convnext.CNBlockConfig(32, 64, 2),
                                  convnext.CNBlockConfig(64, None, 2)], num_classes=10)
    if name == "vit":
        return vision_transformer.VisionTransformer(image_size=32, patch_size=8, num_layers=2,
                                                    num_heads=4, hidden_dim=64, mlp_dim=128,
                                                    num_classes=10)
    return swin_transformer.SwinTransformer(patch_size=[4, 4], embed_dim=32, depths=[2, 2],
                                            num_heads=[2, 4], window_size=[4, 4],
                                            num_classes=10)


# name: (builder, input side). The stock models at a small input, and the transformer
# families at a small width.
FAMILIES = {
    "resnet18": (lambda m: m.resnet18(), 32),
    "mobilenet_v2": (lambda m: m.mobilenet_v2(), 32),
    "mobilenet_v3_small": (lambda m: m.mobilenet_v3_small(), 32),
    "efficientnet_b0": (lambda m: m.efficientnet_b0(), 32),
    "shufflenet_v2_x0_5": (lambda m: m.shufflenet_v2_x0_5(), 32),
    "squeezenet1_1": (lambda m: m.squeezenet1_1(), 32),
    "densenet121": (lambda m: m.densenet121(), 32),
    "regnet_x_400mf": (lambda m: m.regnet_x_400mf(), 32),
    "googlenet": (lambda m: m.googlenet(aux_logits=False, init_weights=True), 32),
    "inception_v3": (lambda m: m.inception_v3(aux_logits=False, init_weights=True), 75),
    "convnext_small_width": (lambda m: _small("convnext"), 32),
    "vit_small_width": (lambda m: _small("vit"), 32),
    "swin_small_width": (lambda m: _small("swin"), 32),
}


def export_family(name, directory, opset=kiln.onnx.DEFAULT_OPSET, side=None, build=None):
    import torchvision.models
    default_build, default_side = FAMILIES.get(name, (None, 224))
    side = side or default_side
    torch.manual_seed(0)
    model = trained_looking((build or default_build)(torchvision.models), side)
    sample = torch.randn(3, 3, side, side)
    with torch.no_grad():  # the outputs' magnitude over batches like those compared
        scale = float(model(torch.randn(32, 3, side, side)).abs().max())
    # Float32 sums in another order differ in the last digits: through a deep network, by
    # up to about 1e-4 of the output's magnitude (PyTorch's own float32 result differs from
    # its float64 one by as much). The tolerance is relative to that magnitude.
    return kiln.onnx.export(model, sample, os.path.join(directory, f"{name}.onnx"),
                            opset=opset, tolerance=RELATIVE_TOLERANCE * max(1.0, scale))


class TorchvisionTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kiln-onnx-tv-")

    def test_every_family_matches_pytorch(self):
        for name in FAMILIES:
            with self.subTest(model=name):
                report = export_family(name, self.dir)
                self.assertEqual(report.engine, "kiln")
                self.assertEqual(report.batches, [3, 1, 5, 32])
                self.assertTrue(report.passed, report.max_abs_diff)
                os.remove(report.path)

    def test_the_opsets_torch_writes_run_the_same(self):
        # Opset 17 writes LayerNormalization as one operator, 11 and 13 as its arithmetic.
        for opset in (11, 17):
            for name in ("convnext_small_width", "vit_small_width", "mobilenet_v3_small"):
                with self.subTest(model=name, opset=opset):
                    report = export_family(name, self.dir, opset=opset)
                    self.assertEqual(report.engine, "kiln")
                    self.assertTrue(report.passed, report.max_abs_diff)


class Lambda(nn.Module):
    def __init__(self, f, *modules):
        super().__init__()
        self.f = f
        self.layers = nn.ModuleList(modules)

    def forward(self, x):
        return self.f(x, *self.layers)


# name: (module, sample shape after the batch). Each exercises operators on computed data,
# checked against PyTorch through export at batches 3, 1, 5 and 32.
OPERATORS = {
    "hardsigmoid_hardswish": (Lambda(lambda x: nn.functional.hardsigmoid(x) *
                                     nn.functional.hardswish(x)), [4, 5, 5]),
    "silu_gelu_softplus": (Lambda(lambda x: nn.functional.silu(x) + nn.functional.gelu(x) +
                                  nn.functional.softplus(x)), [6, 7]),
    "exp_log_abs_sqrt_neg_reciprocal_pow": (
        Lambda(lambda x: torch.exp(-x.abs()) + torch.log(x.abs() + 1) - torch.sqrt(x.abs()) +
               1.0 / (x.abs() + 1) + x.pow(3)), [5, 3]),
    "broadcasting_either_side": (
        Lambda(lambda x: (x.mean(1, keepdim=True) - x) / (x.amax(2, keepdim=True).abs() + 1) +
               (2.0 - x) * (3.0 / (x.abs() + 1))), [4, 6]),
    "transpose_concat_split_slice": (
        Lambda(lambda x: torch.cat([x.transpose(1, 2), x[:, :, ::2].transpose(1, 2).flip(0)
                                    if False else x[:, ::2, :].transpose(1, 2)], dim=2)
               + torch.cat(torch.chunk(x.transpose(1, 2), 2, dim=2)[::-1], dim=2)[..., :1]),
        [4, 6]),
    "pad_gather_reductions": (
        Lambda(lambda x: nn.functional.pad(x, (1, 2, 0, 1)).sum(dim=(2,)) + x[:, 1].amin(1, True)
               + x.mean(dim=(1, 2)).unsqueeze(1)), [3, 5]),
    "layer_norm_and_attention": (
        Lambda(lambda x, ln, q: torch.softmax(q(ln(x)) @ ln(x).transpose(1, 2) / 8 +
                                              torch.triu(torch.full((6, 6), -1e4), 1), -1)
               @ x, nn.LayerNorm(8), nn.Linear(8, 8)), [6, 8]),
    "masks_built_from_shapes": (
        Lambda(lambda x: x.masked_fill(torch.arange(x.shape[1]).unsqueeze(1) >
                                       torch.arange(x.shape[2]).unsqueeze(0), 0.0)), [5, 5]),
}


class OperatorTest(unittest.TestCase):
    def test_each_operator_group_matches_pytorch(self):
        directory = tempfile.mkdtemp(prefix="kiln-onnx-ops-")
        for name, (module, shape) in OPERATORS.items():
            for opset in (11, 13, 17):
                with self.subTest(case=name, opset=opset):
                    torch.manual_seed(0)
                    report = kiln.onnx.export(module.eval(), torch.randn(3, *shape),
                                              os.path.join(directory, f"{name}.onnx"),
                                              opset=opset)
                    self.assertEqual(report.engine, "kiln")
                    self.assertEqual(report.batches, [3, 1, 5, 32])
                    self.assertTrue(report.passed, report.max_abs_diff)


class UnsupportedModelTest(unittest.TestCase):
    def test_a_model_with_an_operator_the_engine_lacks_is_kept_with_its_reason(self):
        class Determinant(nn.Module):
            def forward(self, x):
                return torch.linalg.det(x.view(x.shape[0], 2, 2))

        path = os.path.join(tempfile.mkdtemp(prefix="kiln-onnx-det-"), "det.onnx")
        report = kiln.onnx.export(Determinant(), torch.randn(3, 4), path)
        self.assertFalse(report.parity_checked)
        self.assertRegex(report.engine,
                         r"^engine: node '.*' \(Det\): this operator is not supported .*; "
                         r"parity not checked$")
        self.assertTrue(os.path.exists(path))


if __name__ == "__main__":
    unittest.main()
