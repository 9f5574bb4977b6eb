"""A PyTorch CNN through the importer and a real server answers as torch itself does."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from forwardpass.importers import torch as importer
from forwardpass.model import signature as sig
from tests.support import Server, bearer, cli_json

pytestmark = pytest.mark.slow

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SETTINGS = sig.ImageSettings(height=16, width=16, layout="NCHW", mean=MEAN, std=STD)
LABELS = [f"class{i}" for i in range(10)]


def cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 10),
        torch.nn.Softmax(dim=1),
    ).eval()


def test_a_cnn_answers_as_torch_does_on_batches_of_1_and_33(tmp_path: Path) -> None:
    module = cnn()
    model = importer.to_onnx(
        module, torch.zeros(2, 3, 16, 16), image=SETTINGS, output_name="label", labels=LABELS
    )
    signature = sig.read(model)
    assert signature is not None
    assert signature.inputs[0].image == SETTINGS
    assert signature.outputs[0].categories == tuple(LABELS)
    path = tmp_path / "cnn.onnx"
    path.write_bytes(model.SerializeToString())
    data_dir = tmp_path / "data"
    cli_json(data_dir, "model", "import", str(path), "--name", "cnn")
    deployment = cli_json(data_dir, "deployment", "create", "cnn")

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (33, 16, 16, 3), dtype=np.uint8)
    uris = []
    for one in pixels:
        buffer = io.BytesIO()
        Image.fromarray(one).save(buffer, format="PNG")
        uris.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())
    tensor = ((pixels / np.float32(255) - MEAN) / STD).astype(np.float32).transpose(0, 3, 1, 2)
    with torch.no_grad():
        want = module(torch.from_numpy(np.ascontiguousarray(tensor))).numpy()

    server = Server(data_dir)
    try:
        for count in (1, 33):
            answer = httpx.post(
                server.url(deployment["id"]),
                json={"rows": [{"image": u} for u in uris[:count]]},
                headers=bearer(deployment["token"]),
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            got = np.array([[row["label"][k] for k in LABELS] for row in answer.json()["rows"]])
            np.testing.assert_allclose(got, want[:count], atol=1e-4, rtol=0)
    finally:
        server.stop()


def test_an_image_output_and_a_numeric_input(tmp_path: Path) -> None:
    """A module mapping numbers to an image: the signature says so, the graph agrees."""
    out = sig.ImageSettings(height=4, width=4, mode="L", layout="NCHW")
    module = torch.nn.Sequential(
        torch.nn.Linear(3, 16), torch.nn.Sigmoid(), torch.nn.Unflatten(1, (1, 4, 4))
    )
    model = importer.to_onnx(
        module, torch.zeros(2, 3), input_name="code", output_name="mask", output_image=out
    )
    signature = sig.read(model)
    assert signature is not None
    assert signature.inputs[0].type == "numeric" and signature.inputs[0].shape == (3,)
    assert signature.outputs[0].image == out
