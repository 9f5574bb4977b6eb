"""The management API end to end: every call, its auth and its errors, on a real server."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.model.test_signature_text import laughs
from tests.support import bearer, cli_env, cli_json, wait_for

ROW = {"x": {"shape": [2], "data": [1.0, 2.0]}}


def call(managed: dict[str, Any], method: str, path: str, token: str | None = "admin", **kw: Any):
    headers = kw.pop("headers", {})
    if token == "admin":
        headers.update(bearer(managed["admin"]))
    elif token is not None:
        headers.update(bearer(token))
    return httpx.request(method, managed["server"].base + path, headers=headers, timeout=30, **kw)


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"errorCode", "errorMessage"}, body
    return str(body["errorCode"])


def create(managed: dict[str, Any], model: str = "scaled:1", **extra: Any) -> dict[str, Any]:
    r = call(managed, "POST", "/api/v1/deployments", json={"model": model, **extra})
    assert r.status_code == 201, r.text
    return dict(r.json())


def predict(managed: dict[str, Any], d: dict[str, Any], row: dict[str, Any], token: str = ""):
    return httpx.post(
        d["url"], json={"rows": [row]}, headers=bearer(token or d["token"]), timeout=30
    )


@pytest.fixture(scope="module")
def target(managed: dict[str, Any]) -> dict[str, Any]:
    """A deployment that the auth matrix points at (nobody changes it)."""
    return create(managed, "demo", name="auth-target")


ROUTES = [
    ("GET", "/api/v1/openapi.json", None),
    ("GET", "/api/v1/models", None),
    ("POST", "/api/v1/models", None),
    ("GET", "/api/v1/models/demo", None),
    ("GET", "/api/v1/models/demo/versions/1", None),
    ("DELETE", "/api/v1/models/demo/versions/1", None),
    ("GET", "/api/v1/deployments", None),
    ("POST", "/api/v1/deployments", {"model": "demo"}),
    ("GET", "/api/v1/deployments/{id}", None),
    ("PATCH", "/api/v1/deployments/{id}", {"name": "x"}),
    ("DELETE", "/api/v1/deployments/{id}", None),
    ("POST", "/api/v1/deployments/{id}/token", None),
    ("GET", "/api/v1/deployments/{id}/openapi.json", None),
    ("GET", "/api/v1/deployments/{id}/usage", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_call_needs_the_admin_token(managed, target, method, path, body):
    path = path.format(id=target["id"])
    missing = call(managed, method, path, token=None, json=body)
    assert missing.status_code == 401 and error_of(missing) == "InvalidTokenError"
    wrong = call(managed, method, path, token="not-a-token", json=body)
    assert wrong.status_code == 401 and error_of(wrong) == "InvalidTokenError"
    scoped = call(managed, method, path, token=target["token"], json=body)
    assert scoped.status_code == 403 and error_of(scoped) == "InsufficientScopeTokenError"
    # Basic with the deployment token (curl -u "$TOKEN:") is refused the same way.
    basic = httpx.request(
        method, managed["server"].base + path, auth=(target["token"], ""), json=body
    )
    assert basic.status_code == 403


def test_a_deployment_token_is_refused_anywhere_under_api_v1(managed, target):
    for method, path in (
        ("GET", "/api/v1/"),
        ("GET", "/api/v1/nothing/here"),
        ("POST", "/api/v1/deployments/x/y"),
        ("PUT", f"/api/v1/deployments/{target['id']}"),
    ):
        r = call(managed, method, path, token=target["token"])
        assert r.status_code == 403 and error_of(r) == "InsufficientScopeTokenError"
        r = call(managed, method, path, token=None)
        assert r.status_code == 401 and error_of(r) == "InvalidTokenError"
    # the admin learns that there is no such call, in the contract's format
    r = call(managed, "GET", "/api/v1/nothing/here")
    assert r.status_code == 404 and error_of(r) == "ResourceNotFound"


def test_openapi_document_is_valid(managed):
    from openapi_spec_validator import validate

    r = call(managed, "GET", "/api/v1/openapi.json")
    assert r.status_code == 200
    validate(r.json())
    assert "/api/v1/deployments/{id}" in r.json()["paths"]


def test_models_upload_list_show_delete(managed, model_files, tmp_path):
    signature = {
        "inputs": [{"name": "pair", "type": "numeric", "shape": [2], "tensor": "x"}],
        "outputs": [
            {"name": "sum", "type": "numeric", "tensor": "sum"},
            {"name": "product", "type": "numeric", "tensor": "product"},
        ],
    }
    files = {
        "file": ("two.onnx", model_files["two"].read_bytes()),
        "signature": ("sig.json", json.dumps(signature).encode()),
    }
    r = call(managed, "POST", "/api/v1/models", files=files, data={"name": "pairs"})
    assert r.status_code == 201, r.text
    assert r.json()["ref"] == "pairs:1"
    assert [f["name"] for f in r.json()["signature"]["inputs"]] == ["pair"]

    listed = call(managed, "GET", "/api/v1/models").json()
    assert "pairs:1" in [m["ref"] for m in listed]
    assert call(managed, "GET", "/api/v1/models/pairs").json()[0]["version"] == 1
    shown = call(managed, "GET", "/api/v1/models/pairs/versions/1").json()
    assert shown["signature"]["outputs"][1]["name"] == "product"

    # in use: refused, and nothing lost
    d = create(managed, "pairs:1")
    r = call(managed, "DELETE", "/api/v1/models/pairs/versions/1")
    assert (
        r.status_code == 409 and error_of(r) == "Conflict" and d["id"] in r.json()["errorMessage"]
    )
    call(managed, "PATCH", f"/api/v1/deployments/{d['id']}", json={"status": "disabled"})
    assert call(managed, "DELETE", f"/api/v1/deployments/{d['id']}").status_code == 204
    assert call(managed, "DELETE", "/api/v1/models/pairs/versions/1").status_code == 204
    r = call(managed, "GET", "/api/v1/models/pairs/versions/1")
    assert r.status_code == 404 and error_of(r) == "ResourceNotFound"


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"files": {"file": ("bad.onnx", b"not onnx")}}, 400, "BadData"),
        ({"files": {"other": ("x.onnx", b"x")}}, 400, "BadData"),
        ({"json": {"file": "x"}}, 415, "UnsupportedContentType"),
        (
            {"files": {"file": ("x.onnx", b"x"), "signature": ("s.yaml", b"inputs: [")}},
            400,
            "BadData",
        ),
    ],
)
def test_model_upload_errors(managed, kwargs, status, code):
    r = call(managed, "POST", "/api/v1/models", **kwargs)
    assert r.status_code == status and error_of(r) == code, r.text


LAUGHING_SIGNATURE = (
    laughs(6)
    + 'inputs: [{"name": "pair", "type": "numeric", "shape": [2], "tensor": "x", "notes": *l5}]\n'
    + 'outputs: [{"name": "sum", "type": "numeric", "tensor": "sum"}]\n'
).encode()


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("s.yaml", b"[" * 50_000 + b"]" * 50_000, "not valid JSON or YAML"),  # was a 500
        ("s.json", b'{"a":' * 40_000 + b"1" + b"}" * 40_000, "deeper than 32"),
        ("s.yaml", b"".join(b"  " * i + b"- \n" for i in range(200)), "deeper than 32"),
        # 9**6 = 531,441 strings from 1 kB, in a feature's extra field: stored as 3.3 MB.
        ("s.yaml", LAUGHING_SIGNATURE, "YAML aliases"),
        ("s.yaml", b"x: " + b"a" * 300_000, "at most 262144"),
    ],
)
def test_hostile_signature_files_get_a_400_naming_the_problem(
    managed, model_files, name, text, reason
):
    files = {"file": ("two.onnx", model_files["two"].read_bytes()), "signature": (name, text)}
    r = call(managed, "POST", "/api/v1/models", files=files, data={"name": "hostile"})
    assert r.status_code == 400 and error_of(r) == "BadData", r.text[:300]
    assert reason in r.json()["errorMessage"]
    assert call(managed, "GET", "/api/v1/models/hostile").status_code == 404


def test_model_errors(managed):
    assert error_of(call(managed, "GET", "/api/v1/models/nope")) == "ResourceNotFound"
    assert call(managed, "GET", "/api/v1/models/demo/versions/99").status_code == 404
    assert call(managed, "GET", "/api/v1/models/demo/versions/one").status_code == 404
    assert call(managed, "DELETE", "/api/v1/models/demo/versions/99").status_code == 404
    # Past what the version column holds, and digits that int() refuses: 404, never 500.
    for version in ("9" * 30, "²"):
        for method in ("GET", "DELETE"):
            r = call(managed, method, f"/api/v1/models/demo/versions/{version}")
            assert r.status_code == 404 and error_of(r) == "ResourceNotFound", r.text


def test_deployment_lifecycle(managed):
    d = create(managed, "scaled:1", name="life")
    assert d["token"] and d["status"] == "enabled" and d["model"] == "scaled:1"
    assert [f["label"] for f in d["features"]["inputs"]] == ["numeric (2)"]
    r = wait_for(lambda: (p := predict(managed, d, ROW)).status_code == 200 and p)
    assert r.json()["rows"][0]["y"]["data"] == [1.0, 2.0]

    assert d["id"] in [x["id"] for x in call(managed, "GET", "/api/v1/deployments").json()]
    shown = call(managed, "GET", f"/api/v1/deployments/{d['id']}").json()
    assert "token" not in shown and "token_hash" not in shown

    renamed = call(managed, "PATCH", f"/api/v1/deployments/{d['id']}", json={"name": "renamed"})
    assert renamed.json()["name"] == "renamed"

    # disabled: predictions denied; enabled again: served
    call(managed, "PATCH", f"/api/v1/deployments/{d['id']}", json={"status": "disabled"})
    wait_for(lambda: predict(managed, d, ROW).status_code == 403)
    assert error_of(predict(managed, d, ROW)) == "DeploymentNotEnabled"
    call(managed, "PATCH", f"/api/v1/deployments/{d['id']}", json={"status": "enabled"})
    wait_for(lambda: predict(managed, d, ROW).status_code == 200)

    # rotation: the old token stops, the new one works, the URL stays
    rotated = call(managed, "POST", f"/api/v1/deployments/{d['id']}/token").json()
    assert rotated["token"] != d["token"] and rotated["url"] == d["url"]
    wait_for(lambda: predict(managed, d, ROW).status_code == 401)
    assert predict(managed, d, ROW, rotated["token"]).status_code == 200

    # delete: refused while enabled, then gone
    r = call(managed, "DELETE", f"/api/v1/deployments/{d['id']}")
    assert r.status_code == 409 and error_of(r) == "Conflict"
    call(managed, "PATCH", f"/api/v1/deployments/{d['id']}", json={"status": "disabled"})
    assert call(managed, "DELETE", f"/api/v1/deployments/{d['id']}").status_code == 204
    r = call(managed, "GET", f"/api/v1/deployments/{d['id']}")
    assert r.status_code == 404 and error_of(r) == "ResourceNotFound"
    wait_for(lambda: predict(managed, d, ROW, rotated["token"]).status_code == 404)


def test_api_names(managed):
    d = create(managed, "scaled:1")
    path = f"/api/v1/deployments/{d['id']}"
    r = call(managed, "PATCH", path, json={"api_names": {"inputs": {"x": "pair"}}})
    assert r.status_code == 200, r.text
    assert r.json()["features"]["inputs"][0]["api_name"] == "pair"
    answer = wait_for(
        lambda: (p := predict(managed, d, {"pair": ROW["x"]})).status_code == 200 and p
    )
    assert answer.json()["rows"][0]["y"]["data"] == [1.0, 2.0]
    assert error_of(predict(managed, d, ROW)) == "FeatureNotFound"
    for bad in (
        {"inputs": {"x": ""}},
        {"inputs": {"x": "   "}},
        {"inputs": {"nope": "a"}},
        {"outputs": {"y": 3}},
        {"sideways": {}},
        ["x"],
    ):
        r = call(managed, "PATCH", path, json={"api_names": bad})
        assert r.status_code == 400 and error_of(r) == "BadData", (bad, r.text)
    # nothing stored was lost by the refused requests
    assert call(managed, "GET", path).json()["api_names"] == {
        "inputs": {"x": "pair"},
        "outputs": {},
    }


def test_api_names_must_be_distinct(managed):
    d = create(managed, "demo")
    r = call(
        managed,
        "PATCH",
        f"/api/v1/deployments/{d['id']}",
        json={"api_names": {"inputs": {"Type": "Sound"}}},
    )
    assert r.status_code == 400 and "distinct" in r.json()["errorMessage"]


def test_version_switch_and_its_refusals(managed):
    d = create(managed, "scaled:1")
    path = f"/api/v1/deployments/{d['id']}"
    r = call(managed, "PATCH", path, json={"model": "scaled:3"})
    assert r.status_code == 409 and error_of(r) == "IncompatibleModel"
    assert "input 'x' changed shape from [2] to [3]" in r.json()["errorMessage"]
    # Another model is the same conflict, with the differences named too.
    r = call(managed, "PATCH", path, json={"model": "demo:1"})
    assert r.status_code == 409 and error_of(r) == "IncompatibleModel"
    message = r.json()["errorMessage"]
    assert "not of the deployment's model 'scaled'" in message and "input 'x' is gone" in message
    r = call(managed, "PATCH", path, json={"model": "scaled:9"})
    assert r.status_code == 404
    # a refused change in the same request as a good one changes nothing
    r = call(managed, "PATCH", path, json={"name": "never", "model": "scaled:3"})
    assert r.status_code == 409 and call(managed, "GET", path).json()["name"] != "never"

    r = call(managed, "PATCH", path, json={"model": "scaled:2"})
    assert r.status_code == 200 and r.json()["model"] == "scaled:2"
    assert r.json()["url"] == d["url"]
    wait_for(lambda: answer(predict(managed, d, ROW)) == [2.0, 4.0])


def answer(response: httpx.Response) -> Any:
    """The scaled model's answer, or None while the deployment is not served yet."""
    if response.status_code != 200:
        return None
    return response.json()["rows"][0]["y"]["data"]


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        (
            {"content": b"{", "headers": {"Content-Type": "application/json"}},
            400,
            "JsonParsingError",
        ),
        ({"json": {"model": "demo", "colour": "red"}}, 400, "BadData"),
        ({"json": {}}, 400, "BadData"),
        ({"json": {"model": "demo", "enabled": "yes"}}, 400, "BadData"),
        ({"json": {"model": "nope"}}, 404, "ResourceNotFound"),
        ({"json": {"model": "demo:" + "9" * 30}}, 404, "ResourceNotFound"),
        ({"json": {"model": "demo:²"}}, 400, "BadData"),
        (
            {"content": b"model=demo", "headers": {"Content-Type": "text/plain"}},
            415,
            "UnsupportedContentType",
        ),
    ],
)
def test_create_errors(managed, kwargs, status, code):
    r = call(managed, "POST", "/api/v1/deployments", **kwargs)
    assert r.status_code == status and error_of(r) == code, r.text


def test_update_errors(managed, target):
    path = f"/api/v1/deployments/{target['id']}"
    for body, status in (
        ({"status": "paused"}, 400),
        ({"name": ""}, 400),
        ({"limits": {"rows": 1}}, 400),
        ({"limits": {"rate": "fast"}}, 400),
        ({"limits": {"max_rows": True}}, 400),
        ({"limits": {"max_rows": 1.5}}, 400),
        ({"limits": {"max_rows": 2**40}}, 400),
        ({"limits": {"max_body_bytes": 2**70}}, 400),
        ({"what": 1}, 400),
    ):
        r = call(managed, "PATCH", path, json=body)
        assert r.status_code == status and error_of(r) == "BadData", (body, r.text)
    for missing in (
        "/api/v1/deployments/not-a-uuid",
        "/api/v1/deployments/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12,
    ):
        r = call(managed, "PATCH", missing, json={"name": "x"})
        assert r.status_code == 404 and error_of(r) == "ResourceNotFound"
    r = call(managed, "PUT", path, json={})
    assert r.status_code == 405 and error_of(r) == "MethodNotAllowed"


def test_admins_read_a_deployments_spec_through_the_management_api(managed, target):
    own = httpx.get(
        managed["server"].base + f"/deployment/{target['id']}/openapi.json",
        headers=bearer(target["token"]),
    )
    managed_spec = call(managed, "GET", f"/api/v1/deployments/{target['id']}/openapi.json")
    assert own.status_code == managed_spec.status_code == 200, managed_spec.text
    assert managed_spec.json() == own.json()
    missing = call(
        managed, "GET", "/api/v1/deployments/00000000-0000-4000-8000-000000000000/openapi.json"
    )
    assert missing.status_code == 404 and error_of(missing) == "ResourceNotFound"


def test_the_image_transformation_is_one_more_change(managed, target):
    path = f"/api/v1/deployments/{target['id']}"
    r = call(managed, "PATCH", path, json={"image_transformation": "pad_and_resize"})
    assert r.status_code == 200 and r.json()["image_transformation"] == "pad_and_resize", r.text
    refused = call(managed, "PATCH", path, json={"image_transformation": "zoom", "name": "z"})
    assert refused.status_code == 400 and "unknown image transformation" in refused.text
    shown = call(managed, "GET", path).json()
    assert shown["name"] != "z" and shown["image_transformation"] == "pad_and_resize"
    r = call(managed, "PATCH", path, json={"image_transformation": "default"})
    assert r.status_code == 200 and r.json()["image_transformation"] is None


def test_the_cli_and_the_api_describe_a_deployment_alike(managed):
    d = create(managed, "scaled:1", name="alike")
    env = cli_env(
        managed["data_dir"],
        FORWARDPASS_PUBLIC_URL=managed["server"].base,
        FORWARDPASS_ADMIN_TOKEN=managed["admin"],
    )
    from_cli = cli_json(managed["data_dir"], "deployment", "show", d["id"], env=env)
    from_api = call(managed, "GET", f"/api/v1/deployments/{d['id']}").json()
    assert set(from_cli) == set(from_api)
    assert {"features", "effective_limits", "usage", "spec_url"} <= set(from_api)
    assert from_cli == from_api


def test_usage_over_time_windows_and_refusals(managed, target):
    day = call(managed, "GET", f"/api/v1/deployments/{target['id']}/usage")
    assert day.status_code == 200 and day.json()["window"] == "day"
    assert len(day.json()["points"]) == 1440 and day.json()["step_seconds"] == 60
    month = call(managed, "GET", f"/api/v1/deployments/{target['id']}/usage?window=month")
    assert len(month.json()["points"]) == 720 and month.json()["step_seconds"] == 3600
    assert month.json()["end"] > day.json()["end"] >= day.json()["points"][-1]["start"]
    week = call(managed, "GET", f"/api/v1/deployments/{target['id']}/usage?window=week")
    assert week.status_code == 400 and error_of(week) == "BadData"
    assert "day, month" in week.json()["errorMessage"]
    missing = call(managed, "GET", "/api/v1/deployments/00000000-0000-0000-0000-000000000000/usage")
    assert missing.status_code == 404 and error_of(missing) == "ResourceNotFound"
    spec = call(managed, "GET", "/api/v1/openapi.json").json()
    assert "/api/v1/deployments/{id}/usage" in spec["paths"]
