"""The forward route against a real server: the contract's bodies, answers and errors."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import orjson
import pytest

from forwardpass.demos.tabular import EXAMPLE_ROWS
from tests.models import iris_rows
from tests.server.test_protocol import connect, request
from tests.support import bearer, wait_for


def post(deployment: dict[str, Any], body: Any, **headers: str) -> httpx.Response:
    return httpx.post(
        deployment["url"], json=body, headers={**bearer(deployment["token"]), **headers}
    )


def ort_run(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return ort.InferenceSession(str(path)).run(None, feeds)


def demo_feeds(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {
        "Type": np.array([[r["Type"]] for r in rows], dtype=object),
        "Sound": np.array([[r["Sound"]] for r in rows], dtype=object),
        "Size": np.array([[r["Size"]] for r in rows], dtype=np.float32),
    }


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"errorCode", "errorMessage"}
    assert body["errorCode"] == code
    assert body["errorMessage"]
    return body


def test_contract_example_answers_the_models_own_predictions(served, model_files):
    response = post(served["demo"], {"rows": EXAMPLE_ROWS})
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    expected = ort_run(model_files["demo"], demo_feeds(EXAMPLE_ROWS))[0].reshape(-1)
    assert [set(r) for r in rows] == [{"Weight"}] * 4
    np.testing.assert_allclose([r["Weight"] for r in rows], expected, rtol=1e-5)
    # A cat weighs less than a dog, a dog less than a car, a car less than a train.
    weights = [r["Weight"] for r in rows]
    assert weights[0] < weights[1] < weights[3] < weights[2]


def test_many_rows_come_back_in_order(served, model_files):
    rng = np.random.default_rng(1)
    sounds = ["miaow", "woof", "moo", "tchoo", "vroom", "honk"]
    rows = [
        {
            "Type": "animal" if s in ("miaow", "woof", "moo") else "vehicle",
            "Sound": s,
            "Size": float(np.round(rng.uniform(0.1, 60), 3)),
        }
        for s in rng.choice(sounds, 500)
    ]
    response = post(served["demo"], {"rows": rows})
    assert response.status_code == 200, response.text
    expected = ort_run(model_files["demo"], demo_feeds(rows))[0].reshape(-1)
    np.testing.assert_allclose([r["Weight"] for r in response.json()["rows"]], expected, rtol=1e-5)


def test_basic_auth_as_curl_sends_it(served):
    d = served["demo"]
    response = httpx.post(d["url"], json={"rows": EXAMPLE_ROWS[:1]}, auth=(d["token"], ""))
    assert response.status_code == 200, response.text


def test_multipart_and_form_answer_one_row_object(served):
    d = served["demo"]
    fields = {"Type": "animal", "Sound": "woof", "Size": "0.9"}
    as_form = httpx.post(d["url"], data=fields, auth=(d["token"], ""))
    as_multipart = httpx.post(
        d["url"], files={k: (None, v) for k, v in fields.items()}, auth=(d["token"], "")
    )
    as_json = post(d, {"rows": [{"Type": "animal", "Sound": "woof", "Size": 0.9}]})
    assert as_form.status_code == as_multipart.status_code == 200, as_form.text
    assert as_form.json() == as_multipart.json() == as_json.json()["rows"][0]


def test_classifier_answers_label_to_score_objects(served, model_files):
    rows = iris_rows()
    response = post(served["iris"], {"rows": [{"X": r} for r in rows]})
    assert response.status_code == 200, response.text
    answers = [r["output_probability"] for r in response.json()["rows"]]
    session = ort.InferenceSession(str(model_files["iris"]))
    labels, _ = session.run(None, {"X": np.array(rows, dtype=np.float32)})
    for answer, label in zip(answers, labels, strict=True):
        assert set(answer) == {"setosa", "versicolor", "virginica"}
        assert sum(answer.values()) == pytest.approx(1.0, abs=1e-5)
        assert max(answer, key=answer.get) == label


def test_two_outputs_answer_both_keys_in_every_row(served):
    response = post(served["two"], {"rows": [{"x": [2, 3]}, {"x": [-1.5, 4]}]})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "rows": [{"sum": 5.0, "product": 6.0}, {"sum": 2.5, "product": -6.0}]
    }


def npy_uri(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return "data:application/x.peltarion.npy;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_tensor_inputs_in_every_form_and_tensor_json_out(served):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    forms = [
        {"shape": [2, 3], "data": x.reshape(-1).tolist()},
        x.tolist(),
        npy_uri(x),
    ]
    response = post(served["tensor"], {"rows": [{"x": f} for f in forms]})
    assert response.status_code == 200, response.text
    for row in response.json()["rows"]:
        assert row == {"y": {"shape": [2, 3], "data": (2 * x).reshape(-1).tolist()}}


# -- every errorCode of the contract's table ----------------------------------------------


def test_invalid_token(served):
    d = served["demo"]
    body = {"rows": EXAMPLE_ROWS}
    assert_error(httpx.post(d["url"], json=body), 401, "InvalidTokenError")
    assert_error(httpx.post(d["url"], json=body, headers=bearer("wrong")), 401, "InvalidTokenError")
    other = served["iris"]["token"]  # a real token, of another deployment
    assert_error(httpx.post(d["url"], json=body, headers=bearer(other)), 401, "InvalidTokenError")
    assert_error(httpx.post(d["url"], json=body, auth=("wrong", "")), 401, "InvalidTokenError")


def test_resource_not_found(served):
    base, token = served["server"].base, served["demo"]["token"]
    for deployment_id in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        response = httpx.post(
            f"{base}/deployment/{deployment_id}/forward", json={"rows": []}, headers=bearer(token)
        )
        assert_error(response, 404, "ResourceNotFound")


def test_unsupported_content_type(served):
    d = served["demo"]
    for content_type in ("text/plain", "application/xml"):
        headers = {**bearer(d["token"]), "content-type": content_type}
        response = httpx.post(d["url"], content=b'{"rows": []}', headers=headers)
        assert_error(response, 415, "UnsupportedContentType")
        assert "Content-Type: application/json" in response.json()["errorMessage"]


@pytest.mark.parametrize("way", ["lane", "asgi"])
@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", None])
def test_a_json_body_sent_as_curl_d_sends_it_is_read_as_json(served, way, content_type):
    # `curl -d '{"rows": ...}'` without -H 'Content-Type: application/json' sends a
    # urlencoded form; some clients send no Content-Type at all.
    d = served["demo"]
    headers = bearer(d["token"])
    if content_type:
        headers["content-type"] = content_type
    url = d["url"] + ("?via=asgi" if way == "asgi" else "")  # a query string skips the lane
    body = json.dumps({"rows": EXAMPLE_ROWS[:2]}).encode()
    response = httpx.post(url, content=body, headers=headers)
    assert response.status_code == 200, response.text
    expected = post(d, {"rows": EXAMPLE_ROWS[:2]}).json()
    assert response.json() == expected
    # A real urlencoded form still answers one row object.
    if content_type:
        form = b"Type=animal&Sound=woof&Size=0.9"
        answer = httpx.post(url, content=form, headers=headers)
        assert answer.status_code == 200 and set(answer.json()) == {"Weight"}


def test_json_parsing_error(served):
    d = served["demo"]
    for raw in (b"{", b"", b"rows", b'{"rows": [NaN]}', b'{"rows": [{"Size": 1e400}]}'):
        response = httpx.post(
            d["url"],
            content=raw,
            headers={**bearer(d["token"]), "content-type": "application/json"},
        )
        assert_error(response, 400, "JsonParsingError")


def test_bad_data_names_row_feature_and_allowed_categories(served):
    rows = [dict(r) for r in EXAMPLE_ROWS]
    rows[2]["Sound"] = "roar"
    body = assert_error(post(served["demo"], {"rows": rows}), 400, "BadData")
    assert "row 2" in body["errorMessage"] and "'Sound'" in body["errorMessage"]
    assert "'miaow'" in body["errorMessage"] and "'roar'" in body["errorMessage"]


def test_feature_not_found_missing_and_unknown(served):
    missing = [{"Type": "animal", "Size": 1.0}]
    body = assert_error(post(served["demo"], {"rows": missing}), 400, "FeatureNotFound")
    assert "row 0" in body["errorMessage"] and "'Sound'" in body["errorMessage"]
    extra = [*EXAMPLE_ROWS, {**EXAMPLE_ROWS[0], "Colour": "red"}]
    body = assert_error(post(served["demo"], {"rows": extra}), 400, "FeatureNotFound")
    assert "row 4" in body["errorMessage"] and "'Colour'" in body["errorMessage"]


def test_a_row_that_is_not_an_object_is_named_even_with_as_many_items(served):
    # The demo has three inputs: a list or string of three items must not pass for a row.
    for rows in ([[1, 2, 3]], ["abc"], [*EXAMPLE_ROWS, 7]):
        body = assert_error(post(served["demo"], {"rows": rows}), 400, "JsonPropertyTypeMismatch")
        assert f"row {len(rows) - 1}: a row must be an object" in body["errorMessage"]


def test_a_misspelt_feature_is_named_rather_than_the_one_it_stands_for(served):
    rows = [*EXAMPLE_ROWS, {"Type": "animal", "Sound": "woof", "Sise": 1.0}]
    body = assert_error(post(served["demo"], {"rows": rows}), 400, "FeatureNotFound")
    assert "row 4, feature 'Sise': not an input" in body["errorMessage"]


def test_json_property_type_mismatch(served):
    rows = [dict(r) for r in EXAMPLE_ROWS]
    rows[1]["Size"] = "big"
    body = assert_error(post(served["demo"], {"rows": rows}), 400, "JsonPropertyTypeMismatch")
    assert "row 1" in body["errorMessage"] and "'Size'" in body["errorMessage"]


def test_data_uri_error(served):
    for uri in (
        "data:application/x.peltarion.npy;base64,!!!not base64!!!",
        "data:application/x.peltarion.npy;base64," + base64.b64encode(b"not npy").decode(),
        "data:image/png;base64,AAAA",
    ):
        body = assert_error(post(served["tensor"], {"rows": [{"x": uri}]}), 400, "DataUriError")
        assert "row 0" in body["errorMessage"] and "'x'" in body["errorMessage"]


def npy_with_header(header: str) -> str:
    """A data URI of a .npy file with `header` as given, and no data behind it."""
    text = header + " " * (63 - (len(header) + 10) % 64) + "\n"
    raw = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode()
    return "data:application/x.peltarion.npy;base64," + base64.b64encode(raw).decode()


def test_hostile_npy_headers_get_a_400_on_the_lane_and_the_asgi_route(served):
    """A header claiming 2**40 elements was allocated (MemoryError), a malformed one raised
    SyntaxError: both gave a 500. The second copy of each request, pipelined behind the
    first, is answered by the ASGI route."""
    d = served["tensor"]
    cases = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }": "BadData",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }": "DataUriError",  # no data
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,3": "DataUriError",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } +": "DataUriError",
        "{'descr': 'O', 'fortran_order': False, 'shape': (2, 3), }": "DataUriError",
    }
    for header, code in cases.items():
        body = orjson.dumps({"rows": [{"x": npy_with_header(header)}]})
        sock, reader = connect(d)
        with sock:
            sock.sendall(request(d, body) * 2)
            answers = [reader.answer(), reader.answer()]
        for status, _, content in answers:
            assert status == 400, (header, content)
            assert orjson.loads(content)["errorCode"] == code, (header, content)
            assert "row 0, feature 'x'" in orjson.loads(content)["errorMessage"]


def test_a_faulty_row_fails_the_whole_request(served):
    rows = [*EXAMPLE_ROWS, {"Type": "animal", "Sound": "woof", "Size": None}]
    body = assert_error(post(served["demo"], {"rows": rows}), 400, "JsonPropertyTypeMismatch")
    assert "row 4" in body["errorMessage"]


BAD_BODIES = [
    {},
    {"rows": None},
    {"rows": {"Type": "animal"}},
    {"rows": [None]},
    {"rows": [[1, 2, 3]]},
    {"rows": ["animal"]},
    {"rows": [{}]},
    {"rows": [{"Type": 1, "Sound": "woof", "Size": 1}]},
    {"rows": [{"Type": True, "Sound": "woof", "Size": 1}]},
    {"rows": [{"Type": ["animal"], "Sound": "woof", "Size": 1}]},
    {"rows": [{"Type": {"a": 1}, "Sound": "woof", "Size": 1}]},
    {"rows": [{"Type": "animal", "Sound": "woof", "Size": True}]},
    {"rows": [{"Type": "animal", "Sound": "woof", "Size": [1, 2]}]},
    {"rows": [{"Type": "animal", "Sound": "woof", "Size": {"shape": [2], "data": [1, 2]}}]},
    {"rows": [{"Type": "animal", "Sound": "woof", "Size": 1e300}]},
    {"rows": [{"Type": "animal", "Sound": "woof", "Size": 10**40}]},
    {"rows": [{"Type": "animal", "Sound": "woof", "Size": 1, "": 2}]},
    [{"Type": "animal", "Sound": "woof", "Size": 1}],
    "rows",
    42,
]


@pytest.mark.parametrize("body", BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_bad_input_is_a_4xx_in_the_contract_format(served, body):
    response = post(served["demo"], body)
    assert 400 <= response.status_code < 500, response.text
    assert set(response.json()) == {"errorCode", "errorMessage"}


@pytest.mark.parametrize(
    "body",
    [
        {"rows": [{"x": {"shape": [3, 2], "data": [1, 2, 3, 4, 5, 6]}}]},
        {"rows": [{"x": {"shape": [2, 3], "data": [1, 2, 3]}}]},
        {"rows": [{"x": {"shape": [2, 3], "data": ["a"] * 6}}]},
        {"rows": [{"x": {"shape": [2, 3]}}]},
        {"rows": [{"x": [[1, 2], [3, 4, 5]]}]},
        {"rows": [{"x": [[1, 2, 3]]}]},
        {"rows": [{"x": 1.0}]},
        {"rows": [{"x": "data:application/x.peltarion.npy;base64,"}]},
    ],
)
def test_bad_tensors_are_4xx(served, body):
    response = post(served["tensor"], body)
    assert 400 <= response.status_code < 500, response.text
    assert set(response.json()) == {"errorCode", "errorMessage"}


def test_a_scalar_may_come_as_a_one_element_tensor(served):
    # sidekick sends a numpy array as tensor JSON, also for a scalar feature.
    plain = post(served["demo"], {"rows": [{"Type": "animal", "Sound": "woof", "Size": 0.9}]})
    for size in ([0.9], {"shape": [1], "data": [0.9]}):
        row = {"Type": "animal", "Sound": "woof", "Size": size}
        assert post(served["demo"], {"rows": [row]}).json() == plain.json()


def test_empty_rows_answer_empty_rows(served):
    response = post(served["demo"], {"rows": []})
    assert response.status_code == 200
    assert response.json() == {"rows": []}


def test_broken_forms_are_4xx(served):
    d = served["demo"]
    auth = (d["token"], "")
    cases = [
        httpx.post(d["url"], data={"Type": "animal", "Sound": "woof"}, auth=auth),
        httpx.post(d["url"], data={"Type": "animal", "Sound": "woof", "Size": "x"}, auth=auth),
        httpx.post(d["url"], data={"Type": "animal", "Sound": "woof", "Size": "nan"}, auth=auth),
        httpx.post(d["url"], data={"Type": "a", "Sound": "woof", "Size": "1", "Z": "1"}, auth=auth),
        httpx.post(
            d["url"],
            content=b"Type=animal&Type=vehicle&Sound=woof&Size=1",
            headers={"content-type": "application/x-www-form-urlencoded"},
            auth=auth,
        ),
        httpx.post(
            d["url"],
            content=b"--x\r\nbroken",
            headers={"content-type": "multipart/form-data; boundary=x"},
            auth=auth,
        ),
    ]
    for response in cases:
        assert 400 <= response.status_code < 500, response.text
        assert set(response.json()) == {"errorCode", "errorMessage"}


def test_wrong_method_and_unknown_path_are_json(served):
    d = served["demo"]
    assert_error(httpx.get(d["url"], headers=bearer(d["token"])), 405, "MethodNotAllowed")
    assert_error(httpx.get(served["server"].base + "/nowhere"), 404, "ResourceNotFound")


def test_the_log_has_a_line_per_request_and_never_a_token_or_payload(served):
    d = served["demo"]
    marker = "woof"
    post(d, {"rows": [{"Type": "animal", "Sound": marker, "Size": 0.123456}]})
    post(d, {"rows": []}, Authorization="Bearer not-the-token")
    # The log is written in batches (server/logs.py): wait for this test's last line.
    status_401 = f"deployment={d['id']} status=401"
    logs = wait_for(lambda: (text := served["server"].logs()) and status_401 in text and text)
    for deployment in ("demo", "iris", "two", "tensor"):
        assert served[deployment]["token"] not in logs
    assert "not-the-token" not in logs
    assert "0.123456" not in logs
    assert f"deployment={d['id']} status=200 rows=1" in logs
