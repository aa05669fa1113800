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


class HandWrittenLayerNorm(nn.Module):
    """LayerNorm as BERT implementations wrote it by hand: the scale first in the product.
    `reuse`: the centred value is also read outside the normalisation, so the engine must
    not take the arithmetic as one layer normalisation."""

    def __init__(self, width, reuse=False):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(width) + 0.5)
        self.bias = nn.Parameter(torch.randn(width))
        self.reuse = reuse

    def forward(self, x):
        centred = x - x.mean(-1, keepdim=True)
        normal = centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + 1e-12)
        return self.weight * normal + self.bias + (centred if self.reuse else 0)


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
    "views_of_views_of_the_input": (
        Lambda(lambda x, norm: norm(x.unsqueeze(1)[:, :, 1:]) +
               x.reshape(x.shape[0], 30).reshape(x.shape[0], 1, 6, 5)[:, :, 1:],
               nn.LayerNorm(5)), [6, 5]),
    "flatten_then_arithmetic": (
        Lambda(lambda x, conv: torch.flatten(conv(x), 1) * 2.0 + torch.flatten(conv(x), 1).abs(),
               nn.Conv2d(3, 16, 3)), [3, 6, 6]),
    "hand_written_layer_norms": (
        Lambda(lambda x, a, b: a(x) + b(x.transpose(1, 2)).transpose(1, 2),
               HandWrittenLayerNorm(7), HandWrittenLayerNorm(4, reuse=True)), [4, 7]),
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


class BertStyleEncoder(nn.Module):
    """Token ids and an attention mask in (integers), a BERT-style encoder: word, position
    and token-type embeddings, LayerNorm, self-attention with the padding mask as an
    additive bias, GELU feed-forward; the pooled first token and per-token logits out."""

    def __init__(self, vocab=100, width=32, heads=4, layers=2):
        super().__init__()
        self.heads = heads
        self.words = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(64, width)
        self.types = nn.Embedding(2, width)
        self.norm = nn.LayerNorm(width)
        self.qkv = nn.ModuleList(nn.Linear(width, 3 * width) for _ in range(layers))
        self.out = nn.ModuleList(nn.Linear(width, width) for _ in range(layers))
        self.norm1 = nn.ModuleList(nn.LayerNorm(width) for _ in range(layers))
        self.ff = nn.ModuleList(nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(),
                                              nn.Linear(4 * width, width))
                                for _ in range(layers))
        self.norm2 = nn.ModuleList(nn.LayerNorm(width) for _ in range(layers))
        self.pooler = nn.Linear(width, width)
        self.tokens = nn.Linear(width, 5)

    def forward(self, ids, mask):
        b, s = ids.shape
        positions = torch.arange(s).unsqueeze(0)
        x = self.norm(self.words(ids) + self.positions(positions) +
                      self.types(torch.zeros_like(ids)))
        bias = (1.0 - mask[:, None, None, :].float()) * -10000.0
        d = x.shape[-1] // self.heads
        for qkv, out, norm1, ff, norm2 in zip(self.qkv, self.out, self.norm1, self.ff,
                                              self.norm2):
            q, k, v = qkv(x).split(x.shape[-1], dim=-1)
            q, k, v = (t.view(b, s, self.heads, d).transpose(1, 2) for t in (q, k, v))
            attention = torch.softmax(q @ k.transpose(-1, -2) / d ** 0.5 + bias, dim=-1)
            context = (attention @ v).transpose(1, 2).reshape(b, s, -1)
            x = norm1(x + out(context))
            x = norm2(x + ff(x))
        return torch.tanh(self.pooler(x[:, 0])), self.tokens(x)


class GptStyleDecoder(nn.Module):
    """Token ids in, next-token logits out: causal self-attention (the mask built from the
    sequence length), pre-norm blocks, tied input and output embeddings."""

    def __init__(self, vocab=100, width=32, heads=4, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.positions = nn.Parameter(torch.randn(64, width) * 0.1)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True,
                                       norm_first=True, activation="gelu")
            for _ in range(layers))
        self.norm = nn.LayerNorm(width)

    def forward(self, ids):
        s = ids.shape[1]
        x = self.embed(ids) + self.positions[:s]
        causal = torch.triu(torch.full((s, s), float("-inf")), diagonal=1)
        for block in self.blocks:
            x = block(x, src_mask=causal)
        return self.norm(x) @ self.embed.weight.t()


class TwoInputsTwoOutputs(nn.Module):
    """An image and a feature vector in; a class score and a regression out."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.features = nn.Linear(6, 8)
        self.classes = nn.Linear(16, 4)
        self.value = nn.Linear(16, 1)

    def forward(self, image, features):
        x = torch.cat([self.conv(image), torch.relu(self.features(features))], dim=1)
        return torch.log_softmax(self.classes(x), dim=1), self.value(x)


class SequenceModelTest(unittest.TestCase):
    """Models over token ids and several inputs: checked at batches 3, 1, 5 and 32 and at two
    sequence lengths (the export's random batches alternate them)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kiln-onnx-seq-")
        torch.manual_seed(0)

    def export(self, model, samples, names, dynamic_axes, opset):
        return kiln.onnx.export(model.eval(), samples, os.path.join(self.dir, "m.onnx"),
                                input_names=names, dynamic_axes=dynamic_axes, opset=opset)

    def test_a_bert_style_encoder_over_token_ids_and_a_mask(self):
        ids = torch.randint(0, 100, (3, 12))
        mask = torch.ones(3, 12, dtype=torch.int64)
        mask[1, 8:] = 0
        for opset in (13, 17):
            with self.subTest(opset=opset):
                report = self.export(BertStyleEncoder(), (ids, mask), ["ids", "mask"],
                                     {"ids": {1: "sequence"}, "mask": {1: "sequence"},
                                      "output1": {1: "sequence"}}, opset)
                self.assertEqual(report.engine, "kiln")
                self.assertEqual(report.batches, [3, 1, 5, 32])
                self.assertTrue(report.passed, report.max_abs_diff)
                self.assertEqual([name for name, _ in report.inputs], ["ids", "mask"])
                self.assertEqual(report.inputs[0][1], [-1, -1])

    def test_a_gpt_style_decoder_built_from_torch_transformer_layers(self):
        for opset in (14, 17):  # torch.triu exports from opset 14
            with self.subTest(opset=opset):
                report = self.export(GptStyleDecoder(), (torch.randint(0, 100, (3, 10)),),
                                     ["ids"], {"ids": {1: "sequence"}, "output": {1: "sequence"}},
                                     opset)
                self.assertEqual(report.engine, "kiln")
                self.assertTrue(report.passed, report.max_abs_diff)

    def test_torch_transformer_encoder_and_decoder(self):
        encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True), 2)
        report = self.export(encoder, (torch.randn(3, 7, 16),), ["x"],
                             {"x": {1: "sequence"}, "output": {1: "sequence"}}, 14)
        self.assertEqual(report.engine, "kiln")
        self.assertTrue(report.passed, report.max_abs_diff)

        class Decoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.decoder = nn.TransformerDecoder(
                    nn.TransformerDecoderLayer(16, 2, 32, dropout=0.0, batch_first=True), 2)

            def forward(self, target, memory):
                s = target.shape[1]
                causal = torch.triu(torch.full((s, s), float("-inf")), diagonal=1)
                return self.decoder(target, memory, tgt_mask=causal)

        report = self.export(Decoder(), (torch.randn(3, 5, 16), torch.randn(3, 7, 16)),
                             ["target", "memory"],
                             {"target": {1: "target_length"}, "memory": {1: "memory_length"},
                              "output": {1: "target_length"}}, 14)
        self.assertEqual(report.engine, "kiln")
        self.assertTrue(report.passed, report.max_abs_diff)

    def test_an_integer_input_read_only_for_its_shape(self):
        class Scaled(nn.Module):
            def forward(self, x, ids):
                return x * 2 + ids.shape[1]

        report = self.export(Scaled(), (torch.randn(3, 4), torch.randint(0, 9, (3, 7))),
                             ["x", "ids"], {"ids": {1: "sequence"}}, 13)
        self.assertEqual(report.engine, "kiln")
        self.assertTrue(report.passed, report.max_abs_diff)

    def test_several_inputs_and_outputs(self):
        report = self.export(TwoInputsTwoOutputs(), (torch.randn(3, 3, 8, 8), torch.randn(3, 6)),
                             ["image", "features"], None, 13)
        self.assertEqual(report.engine, "kiln")
        self.assertEqual(report.output_names, ["output0", "output1"])
        self.assertTrue(report.passed, report.max_abs_diff)


class Recurrent(nn.Module):
    """A torch recurrent layer over [batch, sequence, features], batch first, its outputs at
    every step and its last hidden state both returned."""

    def __init__(self, kind, **kwargs):
        super().__init__()
        self.rnn = getattr(nn, kind)(6, 8, batch_first=True, **kwargs)

    def forward(self, x):
        y, state = self.rnn(x)
        return y, (state[0] if isinstance(state, tuple) else state)


class RecurrentTest(unittest.TestCase):
    """nn.LSTM, nn.GRU and nn.RNN: one and two layers, one and two directions, at batches
    3, 1, 5 and 32 and two sequence lengths."""

    def test_lstm_gru_and_rnn_match_pytorch(self):
        directory = tempfile.mkdtemp(prefix="kiln-onnx-rnn-")
        cases = [("LSTM", {}), ("LSTM", {"num_layers": 2, "bidirectional": True}),
                 ("GRU", {}), ("GRU", {"num_layers": 2, "bidirectional": True}),
                 ("RNN", {}), ("RNN", {"nonlinearity": "relu", "bidirectional": True})]
        for kind, kwargs in cases:
            with self.subTest(kind=kind, **kwargs):
                torch.manual_seed(0)
                report = kiln.onnx.export(
                    Recurrent(kind, **kwargs).eval(), torch.randn(3, 9, 6),
                    os.path.join(directory, f"{kind}.onnx"), input_names=["x"],
                    dynamic_axes={"x": {1: "sequence"}, "output0": {1: "sequence"}})
                self.assertEqual(report.engine, "kiln")
                self.assertEqual(report.batches, [3, 1, 5, 32])
                self.assertTrue(report.passed, report.max_abs_diff)


    def test_an_output_declared_batch_first_that_is_not_runs_as_one_piece(self):
        # torch.onnx.export as a user calls it, every output marked batch first: the LSTM's
        # state is [directions, batch, hidden], so the engine cannot split the batch.
        import numpy as np
        from kiln import _onnx
        model = Recurrent("LSTM").eval()
        path = os.path.join(tempfile.mkdtemp(prefix="kiln-onnx-rnn-"), "lstm.onnx")
        torch.onnx.export(model, (torch.randn(2, 9, 6),), path, input_names=["x"],
                          output_names=["y", "h"], opset_version=13,
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"},
                                        "h": {0: "batch"}})
        engine = _onnx.Engine(path, 2)
        x = torch.randn(37, 9, 6)
        y, h = engine.run(x.numpy())
        with torch.no_grad():
            expected_y, expected_h = model(x)
        np.testing.assert_allclose(y, expected_y.numpy(), atol=1e-5)
        np.testing.assert_allclose(h, expected_h.numpy(), atol=1e-5)


    def test_a_sequence_first_model_is_never_split_along_its_sequence(self):
        # nn.LSTM without batch_first: [sequence, batch, features], the sequence open as
        # "seq". A run of 70 steps must stay whole (the engine splits only a batch).
        import numpy as np
        from kiln import _onnx
        torch.manual_seed(0)
        model = nn.LSTM(6, 8).eval()
        path = os.path.join(tempfile.mkdtemp(prefix="kiln-onnx-rnn-"), "seq-first.onnx")
        torch.onnx.export(model, (torch.randn(9, 2, 6),), path, input_names=["x"],
                          output_names=["y", "h", "c"], opset_version=13,
                          dynamic_axes={"x": {0: "seq", 1: "batch"}, "y": {0: "seq", 1: "batch"}})
        engine = _onnx.Engine(path, 2)
        x = torch.randn(70, 3, 6)
        y = engine.run(x.numpy())[0]
        with torch.no_grad():
            expected, _ = model(x)
        np.testing.assert_allclose(y, expected.numpy(), atol=1e-5)


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
