"""Inference on the HTTP protocol's lane (server/lane.py) answers as the ASGI route does.

A request sent twice in one write takes the lane first; the second waits behind it on the
connection and goes the ASGI way. Both must give the same status, headers and body, for
answers and refusals alike, in JSON and binary tensors.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import httpx
import numpy as np
import pytest

from tests.server.oip.test_refusals import good_inputs
from tests.server.raw_http import Answer, connect
from tests.support import bearer

#: Headers whose values differ between two answers to the same request.
VARYING = {"date", "server-timing"}


def infer_path(d: dict[str, Any], version: str | None = None) -> str:
    middle = d["id"] if version is None else f"{d['id']}/versions/{version}"
    return f"/v2/models/{middle}/infer"


def post(path: str, body: bytes, token: str, *headers: str) -> bytes:
    head = [
        f"POST {path} HTTP/1.1",
        "Host: test",
        f"Authorization: Bearer {token}",
        f"Content-Length: {len(body)}",
        *headers,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def json_tensors(outputs: list[dict[str, Any]] | None = None) -> bytes:
    body: dict[str, Any] = {"id": "r-1", "inputs": good_inputs()}
    if outputs is not None:
        body["outputs"] = outputs
    return json.dumps(body).encode()


def binary_tensors() -> tuple[bytes, str]:
    """The demo's inputs as tritonclient sends them: a JSON header, then the raw tensors."""
    raw = {
        "Type": b"".join(struct.pack("<I", len(v)) + v for v in (b"animal", b"vehicle")),
        "Sound": b"".join(struct.pack("<I", len(v)) + v for v in (b"woof", b"honk")),
        "Size": np.array([0.5, 3.0], "<f4").tobytes(),
    }
    header = {
        "inputs": [
            {
                "name": item["name"],
                "datatype": item["datatype"],
                "shape": item["shape"],
                "parameters": {"binary_data_size": len(raw[item["name"]])},
            }
            for item in good_inputs()
        ],
        "parameters": {"binary_data_output": True},
    }
    text = json.dumps(header).encode()
    return text + b"".join(raw.values()), f"Inference-Header-Content-Length: {len(text)}"


def lane_then_asgi(d: dict[str, Any], request: bytes) -> tuple[Answer, Answer]:
    sock, reader = connect(d)
    with sock:
        sock.sendall(request + request)
        return reader.answer(), reader.answer()


def steady(answer: Answer) -> dict[str, str]:
    return {k: v for k, v in answer[1].items() if k not in VARYING}


def cases(d: dict[str, Any]) -> dict[str, tuple[bytes, int]]:
    token, path = d["token"], infer_path(d)
    binary, length = binary_tensors()
    json_type = "Content-Type: application/json"
    return {
        "json tensors": (post(path, json_tensors(), token, json_type), 200),
        "binary tensors": (
            post(path, binary, token, "Content-Type: application/octet-stream", length),
            200,
        ),
        "no content type": (post(path, json_tensors(), token), 200),
        "its version": (post(infer_path(d, "1"), json_tensors(), token, json_type), 200),
        "one output, binary": (
            post(
                path,
                json_tensors([{"name": "Weight", "parameters": {"binary_data": True}}]),
                token,
                json_type,
            ),
            200,
        ),
        "another version": (post(infer_path(d, "9"), json_tensors(), token, json_type), 404),
        "not JSON": (post(path, b'{"inputs": [', token, json_type), 400),
        "a header length beyond the body": (
            post(path, binary, token, "Inference-Header-Content-Length: 99999"),
            400,
        ),
        "an unknown output": (
            post(path, json_tensors([{"name": "nope"}]), token, json_type),
            400,
        ),
        "a wrong token": (post(path, json_tensors(), "wrong", json_type), 401),
    }


@pytest.mark.parametrize(
    "case",
    [
        "json tensors",
        "binary tensors",
        "no content type",
        "its version",
        "one output, binary",
        "another version",
        "not JSON",
        "a header length beyond the body",
        "an unknown output",
        "a wrong token",
    ],
)
def test_the_lane_and_the_asgi_route_answer_inference_alike(oip, case):
    d = oip["demo"]
    request, status = cases(d)[case]
    lane, asgi = lane_then_asgi(d, request)
    assert lane[0] == asgi[0] == status, (lane, asgi)
    assert lane[2] == asgi[2]
    assert steady(lane) == steady(asgi)
    if status == 200:
        assert "server-timing" in lane[1] and "server-timing" in asgi[1]
    else:
        assert set(json.loads(lane[2])) == {"error"}, lane


def test_a_binary_answer_says_its_type_and_where_its_tensors_begin(oip):
    d = oip["demo"]
    binary, length = binary_tensors()
    sock, reader = connect(d)
    with sock:
        sock.sendall(post(infer_path(d), binary, d["token"], length))
        status, headers, body = reader.answer()
    assert status == 200
    assert headers["content-type"] == "application/octet-stream"
    split = int(headers["inference-header-content-length"])
    header = json.loads(body[:split])
    [output] = header["outputs"]
    assert output["parameters"]["binary_data_size"] == len(body) - split == 2 * 4
    weights = np.frombuffer(body[split:], "<f4")
    rows = [
        {"Type": "animal", "Sound": "woof", "Size": 0.5},
        {"Type": "vehicle", "Sound": "honk", "Size": 3.0},
    ]
    through_rows = httpx.post(d["url"], json={"rows": rows}, headers=bearer(d["token"]))
    assert weights.tolist() == pytest.approx([r["Weight"] for r in through_rows.json()["rows"]])


def test_inference_paths_the_lane_leaves_are_answered_as_the_asgi_route_would(oip):
    """An escaped id is the same deployment; an extra segment, or an empty version, names
    no route. The lane takes none of them."""
    d = oip["demo"]
    ident = d["id"]
    escaped = ident.replace("-", "%2D", 1)
    expected = {
        f"/v2/models/{escaped}/infer": 200,
        f"/v2/models/{ident}/versions/1%2F/infer": 404,
        f"/v2/models/{ident}/x/infer": 404,
        f"/v2/models/{ident}/versions//infer": 404,
        f"/v2/models/{ident}/versions/1/x/infer": 404,
        f"/v2/models/{ident}/infer?x=1": 200,
    }
    for path, status in expected.items():
        sock, reader = connect(d)
        with sock:
            sock.sendall(post(path, json_tensors(), d["token"]))
            answer = reader.answer()
        assert answer[0] == status, (path, answer)
