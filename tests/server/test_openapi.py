"""The OpenAPI document of a deployment, read from a real server."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from openapi_spec_validator import validate

from forwardpass.registry import Registry
from forwardpass.settings import Settings
from tests.support import bearer, cli_json, wait_for

KINDS = ("demo", "iris", "two", "tensor")


def spec_of(deployment: dict[str, Any]) -> dict[str, Any]:
    # Where the sidekick client looks: next to the forward URL, with the same header.
    answer = httpx.get(
        urljoin(deployment["url"], "openapi.json"), headers=bearer(deployment["token"])
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def signature_of(served: dict[str, Any], kind: str) -> Any:
    registry = Registry.open(Settings.load(data_dir=served["data_dir"]))
    try:
        return registry.deployment(served[kind]["id"]).model.signature
    finally:
        registry.close()


@pytest.mark.parametrize("kind", KINDS)
def test_spec_is_valid_openapi_with_peltarion_entries(served, kind):
    spec = spec_of(served[kind])
    validate(spec)
    signature = signature_of(served, kind)
    assert spec["paths"]["/deployment/{deploymentId}/forward"]["x-peltarion-tensorjson"] is True
    inputs = spec["components"]["schemas"]["input-row"]["properties"]
    outputs = spec["components"]["schemas"]["output-row-batch"]["properties"]["rows"]["properties"]
    for features, found in ((signature.inputs, inputs), (signature.outputs, outputs)):
        assert list(found) == [f.name for f in features]
        for f in features:
            assert found[f.name]["x-peltarion"] == {"type": f.type, "shape": list(f.shape)}
    for f in signature.inputs:
        if f.type == "categorical":
            assert inputs[f.name]["enum"] == list(f.categories)


def sidekick_features(spec: dict[str, Any]) -> tuple[bool, dict[str, Any], dict[str, Any]]:
    """Read the spec exactly where the sidekick client does."""
    tensor_json = spec["paths"]["/deployment/{deploymentId}/forward"]["x-peltarion-tensorjson"]
    ins = spec["components"]["schemas"]["input-row"]["properties"]
    outs = spec["components"]["schemas"]["output-row-batch"]["properties"]["rows"]["properties"]
    read = lambda props: {  # noqa: E731
        name: (p["x-peltarion"]["type"], tuple(p["x-peltarion"]["shape"]), p.get("enum"))
        for name, p in props.items()
    }
    return tensor_json, read(ins), read(outs)


def test_sidekick_reads_names_types_and_shapes(served):
    tensor_json, ins, outs = sidekick_features(spec_of(served["demo"]))
    assert tensor_json is True
    assert ins["Size"][:2] == ("numeric", (1,))
    assert ins["Type"] == ("categorical", (1,), ["animal", "vehicle"])
    assert outs == {"Weight": ("numeric", (1,), None)}
    _, ins, outs = sidekick_features(spec_of(served["iris"]))
    assert ins == {"X": ("numeric", (4,), None)}
    assert outs == {"output_probability": ("categorical", (3,), None)}
    _, ins, outs = sidekick_features(spec_of(served["two"]))
    assert outs == {"sum": ("numeric", (1,), None), "product": ("numeric", (1,), None)}
    _, ins, outs = sidekick_features(spec_of(served["tensor"]))
    assert ins == {"x": ("numeric", (2, 3), None)}
    assert outs == {"y": ("numeric", (2, 3), None)}


def test_examples_are_accepted_and_answered_as_documented(served):
    for kind in KINDS:
        d = served[kind]
        spec = spec_of(d)
        forward = spec["paths"]["/deployment/{deploymentId}/forward"]["post"]
        example = forward["requestBody"]["content"]["application/json"]["example"]
        answer = httpx.post(d["url"], json=example, headers=bearer(d["token"]))
        assert answer.status_code == 200, answer.text
        documented = forward["responses"]["200"]["content"]["application/json"]["example"]
        assert answer.json()["rows"][0].keys() == documented["rows"][0].keys()


def test_spec_takes_basic_auth_and_refuses_others(served):
    d = served["demo"]
    url = urljoin(d["url"], "openapi.json")
    basic = base64.b64encode(f"{d['token']}:".encode()).decode()
    assert httpx.get(url, headers={"Authorization": f"Basic {basic}"}).status_code == 200
    wrong = httpx.get(url, headers=bearer("nope"))
    assert wrong.status_code == 401 and wrong.json()["errorCode"] == "InvalidTokenError"
    assert httpx.get(url).status_code == 401
    other = url.replace(d["id"], "00000000-0000-0000-0000-000000000000")
    assert httpx.get(other, headers=bearer(d["token"])).json()["errorCode"] == "ResourceNotFound"


def test_disabled_deployment_still_serves_its_spec(served):
    created = cli_json(served["data_dir"], "deployment", "create", "demo", "--disabled")
    d = {**created, "url": served["server"].url(created["id"])}
    url = urljoin(d["url"], "openapi.json")
    # The server picks up the new deployment within a refresh.
    spec = wait_for(
        lambda: (r := httpx.get(url, headers=bearer(d["token"]))).status_code != 404 and r
    )
    assert spec.status_code == 200, spec.text
    validate(spec.json())
    refused = httpx.post(d["url"], json={"rows": []}, headers=bearer(d["token"]))
    assert refused.json()["errorCode"] == "DeploymentNotEnabled"


def test_an_admin_reads_any_deployments_spec(managed):
    base = managed["server"].base
    created = httpx.post(
        f"{base}/api/v1/deployments", json={"model": "demo"}, headers=bearer(managed["admin"])
    )
    assert created.status_code in (200, 201), created.text
    url = f"{base}/deployment/{created.json()['id']}/openapi.json"
    answer = wait_for(
        lambda: (r := httpx.get(url, headers=bearer(managed["admin"]))).status_code != 404 and r
    )
    assert answer.status_code == 200, answer.text
    validate(answer.json())
    assert httpx.get(url, headers=bearer("not-the-admin")).status_code == 401
