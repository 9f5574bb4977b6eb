"""Images in the spec and through the client: PIL images, files and arrays as data URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import numpy as np
import pytest
from openapi_spec_validator import validate
from PIL import Image

from forwardpass.client import Deployment
from tests import models
from tests.support import Server, bearer, cli_json


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root: Path = tmp_path_factory.mktemp("client-images")
    data_dir = root / "data"
    cli_json(data_dir, "model", "import", str(models.image_echo(root / "e.onnx")), "--name", "echo")
    found = cli_json(data_dir, "deployment", "create", "echo")
    server = Server(data_dir)
    found["url"] = server.url(found["id"])
    yield found
    server.stop()


def test_image_spec_is_valid_with_data_uri_schemas(echo):
    answer = httpx.get(urljoin(echo["url"], "openapi.json"), headers=bearer(echo["token"]))
    spec = answer.json()
    validate(spec)
    image = spec["components"]["schemas"]["input-row"]["properties"]["image"]
    assert image["x-peltarion"] == {"type": "image", "shape": [6, 8, 3]}
    assert image["type"] == "string" and image["pattern"].startswith("^data:image/")
    out = spec["components"]["schemas"]["output-row-batch"]["properties"]["rows"]["properties"]
    assert out["picture"]["x-peltarion"] == {"type": "image", "shape": [6, 8, 3]}
    forward = spec["paths"]["/deployment/{deploymentId}/forward"]["post"]
    example = forward["requestBody"]["content"]["application/json"]["example"]
    assert httpx.post(echo["url"], json=example, headers=bearer(echo["token"])).status_code == 200


def test_client_sends_pil_images_files_and_arrays(echo, tmp_path):
    d = Deployment(echo["url"], echo["token"])
    assert [(f.name, f.dtype, f.shape) for f in d.feature_specs_in] == [
        ("image", "image", (6, 8, 3))
    ]
    red = Image.new("RGBA", (8, 6), (255, 0, 0, 255))
    red.save(tmp_path / "red.png")
    pixels = np.zeros((6, 8, 3), np.uint8)
    pixels[..., 2] = 255
    answers = d.predict_many([{"image": red}, {"image": tmp_path / "red.png"}, {"image": pixels}])
    colours = [a["pixels"].reshape(-1, 3)[0].tolist() for a in answers]
    assert colours[0] == colours[1] != colours[2]
    picture = answers[0]["picture"]
    assert picture.startswith("data:image/png;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(picture.split(",")[1]))).size == (8, 6)
