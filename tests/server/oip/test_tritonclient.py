"""The real tritonclient against a real server: what a Triton or KServe user's code does."""

from __future__ import annotations

import base64
import io
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from PIL import Image

from forwardpass.demos.tabular import EXAMPLE_ROWS
from tests.models import iris_rows
from tests.support import bearer


def client(deployment: dict[str, Any]) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(urlsplit(deployment["url"]).netloc)


def rows_api(deployment: dict[str, Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = httpx.post(deployment["url"], json={"rows": rows}, headers=bearer(deployment["token"]))
    assert answer.status_code == 200, answer.text
    rows_out: list[dict[str, Any]] = answer.json()["rows"]
    return rows_out


def tensor(name: str, array: np.ndarray, datatype: str, binary: bool) -> triton.InferInput:
    given = triton.InferInput(name, list(array.shape), datatype)
    given.set_data_from_numpy(array, binary_data=binary)
    return given


def demo_inputs(rows: list[dict[str, Any]], binary: bool) -> list[triton.InferInput]:
    return [
        tensor("Type", np.array([[r["Type"]] for r in rows], dtype=object), "BYTES", binary),
        tensor("Sound", np.array([[r["Sound"]] for r in rows], dtype=object), "BYTES", binary),
        tensor("Size", np.array([[r["Size"]] for r in rows], dtype=np.float32), "FP32", binary),
    ]


def test_health_server_and_model_metadata(oip):
    demo, iris = oip["demo"], oip["iris"]
    c = client(demo)
    assert c.is_server_live() and c.is_server_ready()
    assert set(c.get_server_metadata()["extensions"]) >= {"binary_tensor_data", "classification"}
    headers = bearer(demo["token"])
    assert c.is_model_ready(demo["id"], headers=headers)
    meta = c.get_model_metadata(demo["id"], headers=headers)
    assert meta["name"] == demo["id"] and meta["versions"] == ["1"]
    assert meta["inputs"] == [
        {"name": "Type", "datatype": "BYTES", "shape": [-1, 1]},
        {"name": "Sound", "datatype": "BYTES", "shape": [-1, 1]},
        {"name": "Size", "datatype": "FP32", "shape": [-1, 1]},
    ]
    assert meta["outputs"] == [{"name": "Weight", "datatype": "FP32", "shape": [-1, 1]}]
    assert c.get_model_metadata(demo["id"], "1", headers=headers) == meta
    with pytest.raises(triton.InferenceServerException, match="no version '2'"):
        c.get_model_metadata(demo["id"], "2", headers=headers)
    scores = client(iris).get_model_metadata(iris["id"], headers=bearer(iris["token"]))["outputs"]
    assert scores == [
        {
            "name": "output_probability",
            "datatype": "FP32",
            "shape": [-1, 3],
            "parameters": {"labels": ["setosa", "versicolor", "virginica"]},
        }
    ]


@pytest.mark.parametrize(("binary_in", "binary_out"), [(False, False), (True, True), (True, False)])
def test_tabular_answers_equal_the_rows_api(oip, binary_in, binary_out):
    demo = oip["demo"]
    rows = [dict(r) for r in EXAMPLE_ROWS] * 7
    answer = client(demo).infer(
        demo["id"],
        demo_inputs(rows, binary_in),
        outputs=[triton.InferRequestedOutput("Weight", binary_data=binary_out)],
        request_id="req-1",
        headers=bearer(demo["token"]),
    )
    response = answer.get_response()
    assert response["id"] == "req-1" and response["model_name"] == demo["id"]
    assert ("binary_data_size" in response["outputs"][0].get("parameters", {})) is binary_out
    weights = answer.as_numpy("Weight")
    assert weights.dtype == np.float32 and weights.shape == (len(rows), 1)
    expected = [r["Weight"] for r in rows_api(demo, rows)]
    assert weights.reshape(-1).tolist() == pytest.approx(expected, rel=1e-6)


def test_requested_outputs_are_the_ones_answered(oip):
    two = oip["two"]
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    answer = client(two).infer(
        two["id"],
        [tensor("x", x, "FP32", True)],
        outputs=[triton.InferRequestedOutput("product")],
        headers=bearer(two["token"]),
    )
    assert [o["name"] for o in answer.get_response()["outputs"]] == ["product"]
    assert answer.as_numpy("product").reshape(-1).tolist() == [2.0, 12.0]
    # A tensor feature keeps its shape, batch first.
    t = oip["tensor"]
    x = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    doubled = client(t).infer(t["id"], [tensor("x", x, "FP32", False)], headers=bearer(t["token"]))
    assert np.array_equal(doubled.as_numpy("y"), 2 * x)


@pytest.mark.parametrize("binary", [False, True])
def test_classification_answers_the_top_scores_with_their_labels(oip, binary):
    iris = oip["iris"]
    x = np.array(iris_rows(), dtype=np.float32)
    c, headers = client(iris), bearer(iris["token"])
    scores = c.infer(iris["id"], [tensor("X", x, "FP32", binary)], headers=headers)
    top = c.infer(
        iris["id"],
        [tensor("X", x, "FP32", binary)],
        outputs=[triton.InferRequestedOutput("output_probability", binary, class_count=2)],
        headers=headers,
    ).as_numpy("output_probability")
    expected = rows_api(iris, [{"X": row} for row in x.tolist()])
    labels = ["setosa", "versicolor", "virginica"]
    np.testing.assert_allclose(
        scores.as_numpy("output_probability"),
        [[r["output_probability"][label] for label in labels] for r in expected],
        rtol=1e-6,
    )
    assert top.shape == (len(x), 2)
    for classes, row in zip(top.tolist(), expected, strict=True):
        ranked = sorted(labels, key=lambda label: -row["output_probability"][label])[:2]
        parts = [text(item).split(":") for item in classes]
        assert [label for _, _, label in parts] == ranked
        assert [int(index) for _, index, _ in parts] == [labels.index(r) for r in ranked]
        assert float(parts[0][0]) == pytest.approx(row["output_probability"][ranked[0]], abs=1e-5)


def text(item: bytes | str) -> str:
    """A BYTES element as tritonclient gives it: bytes when binary, str from JSON."""
    return item.decode() if isinstance(item, bytes) else item


def digit(value: int) -> Image.Image:
    image = Image.new("L", (8, 8), 0)
    image.paste(value, (2, 1, 6, 7))
    return image


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("binary", [False, True])
def test_an_image_model_takes_files_and_pixels(oip, binary):
    digits = oip["digits"]
    c, headers = client(digits), bearer(digits["token"])
    images = [digit(255), digit(120), Image.new("L", (16, 16), 200)]
    uris = ["data:image/png;base64," + base64.b64encode(png(i)).decode() for i in images]
    expected = [r["digit"] for r in rows_api(digits, [{"image": uri} for uri in uris])]
    labels = [str(i) for i in range(10)]
    want = [[row[label] for label in labels] for row in expected]
    # binary: the files themselves; JSON: BYTES are text, so the data URIs the rows API takes.
    files = np.array([[png(i)] for i in images] if binary else [[u] for u in uris], dtype=object)
    by_file = c.infer(digits["id"], [tensor("image", files, "BYTES", binary)], headers=headers)
    np.testing.assert_allclose(by_file.as_numpy("digit"), want, rtol=1e-5)
    # Pixels of the model's size are fitted as the same image's file is.
    pixels = np.stack([np.asarray(i)[:, :, None] for i in images[:2]]).astype(np.uint8)
    top = c.infer(
        digits["id"],
        [tensor("image", pixels, "UINT8", binary)],
        outputs=[triton.InferRequestedOutput("digit", binary, class_count=1)],
        headers=headers,
    ).as_numpy("digit")
    best = [max(labels, key=lambda label, r=row: r[label]) for row in expected[:2]]
    assert [text(item).split(":")[2] for item in top.reshape(-1)] == best


def test_what_forwardpass_does_not_serve_is_a_clean_client_error(oip):
    """The model repository extension is not served: tritonclient raises its own
    exception with the server's message (a body in another shape made it fail with a
    KeyError)."""
    triton_client = client(oip["demo"])
    try:
        with pytest.raises(triton.InferenceServerException, match="Not Found"):
            triton_client.get_model_repository_index()
    finally:
        triton_client.close()
