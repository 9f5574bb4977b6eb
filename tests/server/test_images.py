"""Images through a real server: classification, the four transformations, image outputs,
multipart file parts, the deployment's choice of transformation, and bad images as 4xx."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from forwardpass.codecs.imaging import TRANSFORMS
from forwardpass.demos import digits as demo_image
from tests import models
from tests.codecs.test_imaging import noise, reference
from tests.support import Server, bearer, cli_env, cli_json, run_cli, wait_for

LIMITS = {"FORWARDPASS_MAX_IMAGE_PIXELS": "1000000", "FORWARDPASS_MAX_REQUEST_PIXELS": "3000000"}


def encoded(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def uri(data: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


def pixels_of(data_uri: str) -> np.ndarray:
    head, _, payload = data_uri.partition(",")
    assert head == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(payload))))


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server with the digits classifier and the echo model under every transformation."""
    root: Path = tmp_path_factory.mktemp("images")
    data_dir = root / "data"
    cli_json(
        data_dir,
        "model",
        "import",
        str(models.digits_classifier(root / "d.onnx")),
        "--name",
        "digits",
    )
    cli_json(data_dir, "model", "import", str(models.image_echo(root / "e.onnx")), "--name", "echo")
    found: dict[str, Any] = {
        "data_dir": data_dir,
        "digits": cli_json(data_dir, "deployment", "create", "digits"),
    }
    for name in TRANSFORMS:
        found[name] = cli_json(
            data_dir, "deployment", "create", "echo", "--name", name, "--image-transformation", name
        )
    found["default"] = cli_json(data_dir, "deployment", "create", "echo", "--name", "default")
    server = Server(data_dir, env=cli_env(data_dir, **LIMITS))
    for value in found.values():
        if isinstance(value, dict):
            value["url"] = server.url(value["id"])
    found["server"] = server
    found["digits_file"] = root / "d.onnx"
    yield found
    server.stop()


def post(deployment: dict[str, Any], rows: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(
        deployment["url"], json={"rows": rows}, headers=bearer(deployment["token"]), timeout=30
    )


def test_digits_as_png_jpeg_and_rgba_are_read_alike(images: dict[str, Any]) -> None:
    labels = [str(d) for d in range(10)]
    rows = []
    for d in range(10):
        gray = demo_image.photo_of(d, 64).convert("L")
        rgba = Image.new("RGBA", gray.size, (0, 0, 0, 0))
        rgba.putalpha(Image.eval(gray, lambda p: 255 - p))  # ink as opacity over nothing
        rows += [
            {"image": uri(encoded(gray.convert("RGB")))},
            {"image": uri(encoded(gray.convert("RGB"), "JPEG", quality=90), "image/jpeg")},
            {"image": uri(encoded(rgba))},
        ]
    answer = post(images["digits"], rows)
    assert answer.status_code == 200, answer.text
    got = answer.json()["rows"]
    read = []
    for n in range(10):
        tops = [max(row["digit"], key=row["digit"].get) for row in got[3 * n : 3 * n + 3]]
        assert all(list(row["digit"]) == labels for row in got[3 * n : 3 * n + 3])
        assert len(set(tops)) == 1, (n, tops)  # the file's format does not change the answer
        read.append(tops[0])
    assert sum(top == str(d) for d, top in enumerate(read)) >= 9, read


def test_a_file_part_in_a_multipart_form(images: dict[str, Any]) -> None:
    data = encoded(demo_image.photo_of(3, 40))
    d = images["digits"]
    answer = httpx.post(
        d["url"], files={"image": ("three.png", data, "image/png")}, headers=bearer(d["token"])
    )
    assert answer.status_code == 200, answer.text
    scores = answer.json()["digit"]
    assert max(scores, key=scores.get) == "3"


@pytest.mark.parametrize("transformation", sorted(TRANSFORMS))
def test_each_transformation_gives_the_reference_tensor(
    images: dict[str, Any], transformation: str
) -> None:
    pictures = [noise(20, 10, seed=1), noise(7, 30, seed=2), noise(8, 6, seed=3)]
    answer = post(images[transformation], [{"image": uri(encoded(p))} for p in pictures])
    assert answer.status_code == 200, answer.text
    for picture, row in zip(pictures, answer.json()["rows"], strict=True):
        want = reference(picture, transformation)
        assert row["pixels"]["shape"] == [6, 8, 3]
        got = np.array(row["pixels"]["data"], dtype=np.float32).reshape(6, 8, 3)
        np.testing.assert_allclose(got, want / np.float32(255), atol=1e-6)
        # The image output: a PNG data URI of exactly these pixels.
        np.testing.assert_array_equal(pixels_of(row["picture"]), want)


def test_a_deployment_can_change_its_transformation(images: dict[str, Any]) -> None:
    d = images["default"]
    picture = noise(20, 10, seed=4)
    rows = [{"image": uri(encoded(picture))}]

    def pixels() -> np.ndarray:
        return pixels_of(post(d, rows).json()["rows"][0]["picture"])

    np.testing.assert_array_equal(pixels(), reference(picture, "resize"))
    shown = cli_json(
        images["data_dir"],
        "deployment",
        "update",
        d["id"],
        "--image-transformation",
        "pad_and_resize",
    )
    assert shown["image_transformation"] == "pad_and_resize"
    want = reference(picture, "pad_and_resize")
    wait_for(lambda: np.array_equal(pixels(), want), timeout=5)


def bomb() -> bytes:
    return encoded(Image.new("1", (2000, 2000)))  # 4 MP from a tiny file


@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        (uri(bomb()), "BadData", "over the limit of 1000000 pixels"),
        (uri(encoded(noise(60, 40))[:300]), "DataUriError", "could not be decoded"),
        (uri(encoded(noise(8, 6)), "application/pdf"), "DataUriError", "media type"),
        (uri(b"%PDF-1.4 definitely no image"), "DataUriError", "not a PNG"),
        ("data:image/png;base64,###", "DataUriError", "base64"),
        (12, "JsonPropertyTypeMismatch", "expected an image"),
    ],
)
def test_bad_images_get_a_400_naming_row_and_feature(
    images: dict[str, Any], value: Any, code: str, message: str
) -> None:
    good = {"image": uri(encoded(noise(8, 6)))}
    answer = post(images["default"], [good, {"image": value}])
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["errorCode"] == code
    assert body["errorMessage"].startswith("row 1, feature 'image': ")
    assert message in body["errorMessage"]


def test_too_many_pixels_in_one_request_is_413(images: dict[str, Any]) -> None:
    rows = [{"image": uri(encoded(Image.new("RGB", (1000, 1000))))}] * 4
    answer = post(images["default"], rows)
    assert answer.status_code == 413, answer.text
    assert answer.json()["errorCode"] == "PayloadTooLarge"


def test_a_file_part_that_is_no_image(images: dict[str, Any]) -> None:
    d = images["default"]
    answer = httpx.post(
        d["url"],
        files={"image": ("x.png", b"\x00\x01nope", "image/png")},
        headers=bearer(d["token"]),
    )
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "DataUriError"
    assert "feature 'image'" in answer.json()["errorMessage"]
    assert images["server"].process.poll() is None  # still serving


def test_an_unknown_transformation_is_refused(images: dict[str, Any]) -> None:
    done = run_cli(
        images["data_dir"],
        "deployment",
        "create",
        "echo",
        "--image-transformation",
        "zoom",
        "--json",
        check=False,
    )
    assert done.returncode == 1
    assert json.loads(done.stderr)["errorCode"] == "BadData"
