"""Bad tensors and bad credentials: a 4xx in the protocol's error body, never a 500, and
the server goes on answering."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import httpx
import pytest

from tests.support import bearer


def infer_url(deployment: dict[str, Any]) -> str:
    base = deployment["url"].rsplit("/deployment/", 1)[0]
    return f"{base}/v2/models/{deployment['id']}/infer"


def good_inputs() -> list[dict[str, Any]]:
    return [
        {"name": "Type", "datatype": "BYTES", "shape": [2, 1], "data": ["animal", "vehicle"]},
        {"name": "Sound", "datatype": "BYTES", "shape": [2, 1], "data": ["woof", "honk"]},
        {"name": "Size", "datatype": "FP32", "shape": [2, 1], "data": [0.5, 3.0]},
    ]


def replaced(index: int, **changes: Any) -> dict[str, Any]:
    inputs = good_inputs()
    inputs[index] = {**inputs[index], **changes}
    return {"inputs": inputs}


def binary(header: dict[str, Any], raw: bytes, claimed: int | None = None) -> tuple[bytes, int]:
    text = json.dumps(header).encode()
    return text + raw, len(text) if claimed is None else claimed


SIZE_AS_BINARY = {
    "inputs": [
        *good_inputs()[:2],
        {
            "name": "Size",
            "datatype": "FP32",
            "shape": [2, 1],
            "parameters": {"binary_data_size": 8},
        },
    ]
}


def sound_as_binary(*sounds: bytes) -> tuple[bytes, int]:
    """The demo's inputs with Sound as binary BYTES, each element after its length."""
    raw = b"".join(struct.pack("<I", len(s)) + s for s in sounds)
    sound = {
        "name": "Sound",
        "datatype": "BYTES",
        "shape": [len(sounds), 1],
        "parameters": {"binary_data_size": len(raw)},
    }
    inputs = good_inputs()
    return binary({"inputs": [inputs[0], sound, inputs[2]]}, raw)


BAD = {
    "wrong datatype": (replaced(2, datatype="BYTES", data=["0.5", "3"]), 400, "expected FP32"),
    "unknown datatype": (replaced(2, datatype="FP8"), 400, "datatype must be one of"),
    "categorical as a number": (replaced(0, datatype="FP32", data=[1.0, 2.0]), 400, "expected"),
    "wrong shape": (replaced(2, shape=[1, 2], data=[0.5, 3.0]), 400, "batch"),
    "wrong item shape": (replaced(2, shape=[2, 2], data=[0.5, 3.0, 1, 2]), 400, "expected shape"),
    "shape against data": (replaced(2, shape=[2, 1], data=[0.5]), 400, "its data 1"),
    "a string among numbers": (replaced(2, data=[0.5, "x"]), 400, "must hold numbers"),
    "unknown category": (replaced(1, data=["woof", "purr"]), 400, "unknown category"),
    "missing input": ({"inputs": good_inputs()[:2]}, 400, "'Size': missing"),
    "unknown input": (
        {"inputs": [*good_inputs(), {**good_inputs()[2], "name": "Colour"}]},
        400,
        "not an input",
    ),
    "unknown output": (
        {"inputs": good_inputs(), "outputs": [{"name": "Height"}]},
        400,
        "not an output",
    ),
    "bad classification": (
        {
            "inputs": good_inputs(),
            "outputs": [{"name": "Weight", "parameters": {"classification": 0}}],
        },
        400,
        "classification",
    ),
    "not JSON": (b"{inputs", 400, "not valid JSON"),
    "not an object": ([1, 2], 400, "JSON object"),
    "rows over the limit": (replaced(2, shape=[20_000, 1], data=[]), 413, "over the limit"),
    "header length beyond the body": (
        binary(SIZE_AS_BINARY, struct.pack("<2f", 0.5, 3), 10_000),
        400,
        "beyond the body",
    ),
    "binary size beyond the body": (
        binary(SIZE_AS_BINARY, struct.pack("<f", 0.5)),
        400,
        "beyond the end",
    ),
    "binary size against the shape": (
        binary(
            {"inputs": [*good_inputs()[:2], {**SIZE_AS_BINARY["inputs"][2], "shape": [3, 1]}]},
            struct.pack("<2f", 0.5, 3),
        ),
        400,
        "its data is 8 bytes",
    ),
    "an unknown category as binary BYTES": (
        sound_as_binary(b"woof", b"purr"),
        400,
        "row 1, feature 'Sound': unknown category 'purr'",
    ),
    "a binary BYTES element that is not UTF-8": (
        sound_as_binary(b"woof", b"\xff\xfe"),
        400,
        "UTF-8",
    ),
    "a header length of zero": (binary(SIZE_AS_BINARY, b"", 0), 400, "not valid JSON"),
    "a header length that is no number": ((b"{}", "ten"), 400, "must be a number"),
}


def send(deployment: dict[str, Any], body: Any, **headers: str) -> httpx.Response:
    headers = {**bearer(deployment["token"]), **headers}
    if isinstance(body, tuple):  # a binary request: (body, JSON header length)
        raw, length = body
        headers["Inference-Header-Content-Length"] = str(length)
        return httpx.post(infer_url(deployment), content=raw, headers=headers)
    if isinstance(body, bytes):
        return httpx.post(infer_url(deployment), content=body, headers=headers)
    return httpx.post(infer_url(deployment), json=body, headers=headers)


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_tensor_request_is_a_4xx_in_the_protocols_error_body(oip, case):
    demo = oip["demo"]
    body, status, message = BAD[case]
    answer = send(demo, body)
    assert answer.status_code == status, answer.text
    assert list(answer.json()) == ["error"] and message in answer.json()["error"]


def image(datatype: str, shape: list[int], data: list[Any]) -> dict[str, Any]:
    return {"inputs": [{"name": "image", "datatype": datatype, "shape": shape, "data": data}]}


BAD_IMAGES = {
    "no pixels": (image("UINT8", [2, 0, 0, 3], []), "0x0"),
    "two channels": (image("UINT8", [1, 8, 8, 2], [0] * 128), "1, 3 or 4 channels"),
    "pixels without channels": (image("UINT8", [1, 8, 8], [0] * 64), "UINT8 pixels [N, H, W, C]"),
    "not an image": (image("BYTES", [1, 1], ["data:image/png;base64,AAAA"]), "not a PNG"),
    "numbers for an image": (image("FP32", [1, 1], [1.0]), "holding image files"),
}


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_a_bad_image_tensor_is_a_400(oip, case):
    body, message = BAD_IMAGES[case]
    answer = send(oip["digits"], body)
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]


@pytest.mark.slow
def test_the_server_answers_after_the_bad_requests(oip):
    demo = oip["demo"]
    for body, _, _ in BAD.values():
        assert send(demo, body).status_code < 500
    answer = send(demo, {"inputs": good_inputs()})
    assert answer.status_code == 200
    assert answer.json()["outputs"][0]["shape"] == [2, 1]
    base = infer_url(demo).split("/v2/")[0]
    assert httpx.get(f"{base}/v2/health/ready").status_code == 200


def test_an_empty_batch_is_answered_with_empty_tensors(oip):
    demo, iris = oip["demo"], oip["iris"]
    inputs = [{**t, "shape": [0, 1], "data": []} for t in good_inputs()]
    answer = send(demo, {"inputs": inputs})
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0] == {
        "name": "Weight",
        "datatype": "FP32",
        "shape": [0, 1],
        "data": [],
    }
    top = send(
        iris,
        {
            "inputs": [{"name": "X", "datatype": "FP32", "shape": [0, 4], "data": []}],
            "outputs": [{"name": "output_probability", "parameters": {"classification": 2}}],
        },
    )
    assert top.status_code == 200, top.text
    assert top.json()["outputs"][0]["shape"] == [0, 2]


def test_a_binary_request_with_text_tensors(oip):
    demo = oip["demo"]
    strings = b"".join(struct.pack("<I", len(s)) + s for s in (b"woof", b"honk"))
    header = {
        "inputs": [
            good_inputs()[0],
            {
                "name": "Sound",
                "datatype": "BYTES",
                "shape": [2, 1],
                "parameters": {"binary_data_size": len(strings)},
            },
            {
                "name": "Size",
                "datatype": "FP32",
                "shape": [2, 1],
                "parameters": {"binary_data_size": 8},
            },
        ],
        "parameters": {"binary_data_output": True},
    }
    answer = send(demo, binary(header, strings + struct.pack("<2f", 0.5, 3.0)))
    assert answer.status_code == 200, answer.text
    length = int(answer.headers["inference-header-content-length"])
    described = json.loads(answer.content[:length])["outputs"][0]
    assert described["parameters"] == {"binary_data_size": 8}
    weights = struct.unpack("<2f", answer.content[length:])
    as_json = send(demo, {"inputs": good_inputs()}).json()["outputs"][0]["data"]
    assert list(weights) == pytest.approx(as_json)


def test_the_deployments_limits_apply(oip):
    """Rows (the first dimension), body size and rate, as on the rows API; each refused
    request counts against the rate, as there."""
    limited = oip["limited"]
    four = [{**t, "shape": [4, 1], "data": t["data"] * 2} for t in good_inputs()]
    too_many = send(limited, {"inputs": four})
    assert too_many.status_code == 413 and "4 rows" in too_many.json()["error"]
    big = send(limited, {"inputs": good_inputs(), "id": "x" * 3000})
    assert big.status_code == 413 and "2000 bytes" in big.json()["error"]
    throttled = send(limited, {"inputs": good_inputs()})
    assert throttled.status_code == 429 and list(throttled.json()) == ["error"]
    assert int(throttled.headers["retry-after"]) > 0


def test_tokens(oip):
    demo, iris, disabled = oip["demo"], oip["iris"], oip["disabled"]
    body = {"inputs": good_inputs()}
    url = infer_url(demo)
    metadata = url.removesuffix("/infer")
    basic = base64.b64encode(f"{demo['token']}:".encode()).decode()
    assert (
        httpx.post(url, json=body, headers={"Authorization": f"Basic {basic}"}).status_code == 200
    )
    for headers in ({}, bearer("not-the-token"), bearer(iris["token"])):
        for answer in (
            httpx.post(url, json=body, headers=headers),
            httpx.get(metadata, headers=headers),
        ):
            assert answer.status_code == 401, answer.text
            assert "token" in answer.json()["error"]
            assert answer.headers["www-authenticate"].startswith("Bearer")
    refused = send(disabled, body)
    assert refused.status_code == 403 and "disabled" in refused.json()["error"]
    assert (
        httpx.get(
            infer_url(disabled).removesuffix("/infer") + "/ready", headers=bearer(disabled["token"])
        ).status_code
        == 403
    )
    nobody = httpx.post(
        url.replace(demo["id"], "no-such-deployment"), json=body, headers=bearer(demo["token"])
    )
    assert nobody.status_code == 404 and "error" in nobody.json()


def test_a_path_or_method_the_protocol_has_not_answers_in_its_error_body(oip):
    """Under /v2 even the router's own 404 and 405 are `{"error": ...}`: tritonclient reads
    that key from any error it gets."""
    demo = oip["demo"]
    base = infer_url(demo).split("/v2/", 1)[0]
    for method, path, status in (
        ("GET", "/v2/repository/index", 404),
        ("POST", "/v2/repository/index", 404),
        ("GET", f"/v2/models/{demo['id']}/infer", 405),
        ("POST", "/v2/health/live", 405),
    ):
        answer = httpx.request(method, base + path, headers=bearer(demo["token"]))
        assert answer.status_code == status, (path, answer.text)
        assert list(answer.json()) == ["error"], answer.text
    # the rows API's paths keep the contract's body
    rows = httpx.get(demo["url"], headers=bearer(demo["token"]))
    assert rows.status_code == 405 and rows.json()["errorCode"] == "MethodNotAllowed"
