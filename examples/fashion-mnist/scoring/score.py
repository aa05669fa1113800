"""The example's scoring script: serves outputs/model_state.pt, the state_dict train.py saves,
with `kiln serve` (docs/serving.md, "Scoring scripts").

    kiln model register fashion-mnist-weights --run RUN --path outputs/model_state.pt
    kiln model deploy fashion-mnist-weights --source-directory examples/fashion-mnist \
        --entry-script scoring/score.py
    kiln serve fashion-mnist-weights
    curl -d '{"inputs": [[0.0, 0.5, ... 784 pixels in [0, 1]]]}' http://127.0.0.1:8080/score

The folder snapshotted is the example's, so the model's classes come from train.py. A
request is the JSON the ONNX path takes for this model, {"inputs": [image, ...]} with each
image 784 pixels, flat or nested [1][28][28] (Azure ML's {"data": [...]} also works); the
reply has each image's logits, its class index and its class name.
"""

import json
import os

import torch

from train import CLASSES, FashionCNN, Normalized

model = None


def init():
    global model
    # The weights and the normalisation, as train.py saved them; mean and std are
    # placeholders that load_state_dict overwrites.
    model = Normalized(FashionCNN(), 0.0, 1.0)
    path = os.path.join(os.environ["KILN_MODEL_DIR"], "model_state.pt")
    model.load_state_dict(torch.load(path, map_location="cpu"))
    model.eval()


def run(raw_data):
    request = json.loads(raw_data)
    images = request.get("inputs", request.get("data"))
    x = torch.tensor(images, dtype=torch.float32).reshape(-1, 1, 28, 28)
    with torch.no_grad():
        logits = model(x)
    predicted = logits.argmax(1).tolist()
    return {"outputs": {"output": logits.tolist()}, "argmax": predicted,
            "labels": [CLASSES[i] for i in predicted]}
