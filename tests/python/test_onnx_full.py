"""The full-size torchvision classifiers at 224x224 (Inception v3 at 299), exported with
kiln.onnx.export and checked against PyTorch at batches 3, 1, 5 and 32: minutes, so in the
slow label (ctest -L slow). test_onnx_models runs every family at small sizes."""

import tempfile
import unittest

from test_onnx_models import export_family

FULL_SIZE = {
    "resnet50": 224, "mobilenet_v3_large": 224, "efficientnet_b0": 224,
    "shufflenet_v2_x1_0": 224, "squeezenet1_0": 224, "densenet121": 224,
    "regnet_y_400mf": 224, "convnext_tiny": 224, "googlenet": 224, "inception_v3": 299,
    "vgg11": 224, "vit_b_16": 224, "swin_t": 224,
}


class FullSizeTest(unittest.TestCase):
    def test_every_full_size_family_matches_pytorch(self):
        directory = tempfile.mkdtemp(prefix="kiln-onnx-full-")
        for name, side in FULL_SIZE.items():
            with self.subTest(model=name):
                kwargs = ({"aux_logits": False, "init_weights": True}
                          if name in ("googlenet", "inception_v3") else {})
                report = export_family(name, directory, side=side,
                                       build=lambda m: getattr(m, name)(**kwargs))
                self.assertEqual(report.engine, "kiln")
                self.assertTrue(report.passed, report.max_abs_diff)


if __name__ == "__main__":
    unittest.main()
