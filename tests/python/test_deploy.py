"""Deployment with a scoring script from the SDK, as Azure ML v1 code writes it:
InferenceConfig + Model.deploy record what `kiln model deploy` records, and `kiln serve`
answers a client that posts JSON as AML's samples do, with the scores PyTorch gives."""

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request

import kiln
from kiln import Experiment, Model
from kiln.core import InferenceConfig as CoreInferenceConfig
from kiln.core.model import InferenceConfig as AzuremlPathInferenceConfig
from kiln.model import Deployment, InferenceConfig
from kiln.train.dnn import PyTorch
from kiln_test_support import KilnTestCase

# The kiln binary beside this package (build/python/kiln -> build/kiln).
KILN = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(kiln.__file__))), "kiln")

TRAIN = """
    import json, os, torch, torch.nn as nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    sample = torch.rand(5, 4)
    os.makedirs("outputs", exist_ok=True)
    torch.save(model.state_dict(), "outputs/model_state.pt")
    with torch.no_grad():
        json.dump({"inputs": sample.tolist(), "outputs": model(sample).tolist()},
                  open("outputs/expected.json", "w"))
"""

# A score.py as Azure ML's documentation writes one.
SCORE = """
    import json
    import os

    import torch
    import torch.nn as nn


    def init():
        global model
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        model_path = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model_state.pt")
        model.load_state_dict(torch.load(model_path))
        model.eval()


    def run(raw_data):
        data = torch.tensor(json.loads(raw_data)["data"])
        with torch.no_grad():
            y_hat = model(data)
        return y_hat.tolist()
"""


class InferenceConfigTest(KilnTestCase):
    def test_the_core_module_has_it_and_container_parameters_are_refused(self):
        self.assertIs(CoreInferenceConfig, InferenceConfig)
        self.assertIs(AzuremlPathInferenceConfig, InferenceConfig)  # azureml.core.model's path
        config = InferenceConfig(entry_script="score.py", source_directory="serving",
                                 environment="torch-extras")
        self.assertEqual((config.entry_script, config.source_directory, config.environment_name),
                         ("score.py", "serving", "torch-extras"))
        with self.assertRaisesRegex(ValueError, "base_image describe a container image"):
            InferenceConfig(entry_script="score.py", base_image="mcr.microsoft.com/x")
        with self.assertRaisesRegex(ValueError, "entry_script is required"):
            InferenceConfig(source_directory=".")

        class Named:
            name = "registered-env"
            version = None
        self.assertEqual(InferenceConfig("score.py", environment=Named()).environment_name,
                         "registered-env")
        Named.version = 3  # registered: that version exactly
        self.assertEqual(InferenceConfig("score.py", environment=Named()).environment_name,
                         "registered-env:3")


class ModelDeployTest(KilnTestCase):
    def test_deploy_records_the_script_and_kiln_serve_scores_with_it(self):
        source = self.project("job", {"train.py": TRAIN})
        run = Experiment(self.ws, "deploy").submit(
            PyTorch(source_directory=source, entry_script="train.py"))
        run.wait_for_completion()
        model = run.register_model("mlp", "outputs/model_state.pt")
        self.assertEqual(model.format, "state_dict")
        self.assertIsNone(model.deployment)

        serving = self.project("serving", {"score.py": SCORE})
        config = InferenceConfig(entry_script="score.py", source_directory=serving)
        with self.assertRaisesRegex(ValueError, "deployment_config and deployment_target"):
            Model.deploy(self.ws, "mlp-service", [model], config, deployment_config={"cpu": 1})
        with self.assertRaisesRegex(ValueError, "2 models given"):
            Model.deploy(self.ws, "mlp-service", [model, model], config)
        with self.assertRaisesRegex(ValueError, "defines no run"):
            broken = self.project("broken", {"score.py": "def init():\n    pass\n"})
            Model.deploy(self.ws, "mlp-service", [model],
                         InferenceConfig(entry_script="score.py", source_directory=broken))
        self.assertIsNone(Model(self.ws, "mlp").deployment, "nothing recorded")

        service = Model.deploy(self.ws, "mlp-service", [model], config)
        self.assertIsInstance(service, Deployment)
        service.wait_for_deployment(show_output=False)
        self.assertEqual(service.serve_commands, ["kiln serve mlp:1"])
        deployed = Model(self.ws, "mlp")
        self.assertEqual(deployed.deployment["entry_script"], "score.py")
        self.assertIsNone(deployed.deployment["environment"])
        with self.assertRaisesRegex(ValueError, "has a deployment already"):
            Model.deploy(self.ws, "mlp-service", [deployed], config)
        Model.deploy(self.ws, "mlp-service", [deployed], config, overwrite=True)

        server = subprocess.Popen([KILN, "serve", "mlp", "--port", "0"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        try:
            line = server.stdout.readline()
            self.assertIn("listening on", line)
            scoring_uri = line.split()[-1] + "/score"
            expected_path = os.path.join(self.root, "expected.json")
            run.download_file("outputs/expected.json", output_file_path=expected_path)
            with open(expected_path) as f:
                expected = json.load(f)
            request = urllib.request.Request(
                scoring_uri, data=json.dumps({"data": expected["inputs"]}).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as reply:
                scores = json.load(reply)
            for got, want in zip(scores, expected["outputs"]):
                for a, b in zip(got, want):
                    self.assertAlmostEqual(a, b, places=5)
            bad = urllib.request.Request(scoring_uri, data=b'{"data": "seven"}')
            with self.assertRaises(urllib.error.HTTPError) as raised:
                urllib.request.urlopen(bad, timeout=60)
            self.assertEqual(raised.exception.code, 500)
            self.assertIn("run() raised", json.load(raised.exception)["error"]["message"])
        finally:
            server.send_signal(signal.SIGTERM)
            self.assertEqual(server.wait(timeout=30), 0)
            server.stdout.close()

        deployed.undeploy()
        self.assertIsNone(deployed.deployment)
        self.assertIsNone(Model(self.ws, "mlp").deployment)


if __name__ == "__main__":
    import unittest
    unittest.main()
