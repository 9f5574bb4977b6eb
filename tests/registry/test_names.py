"""One name rule for model, deployment and API names, on SQLite and PostgreSQL alike, and
the same answers through the management API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from forwardpass.errors import BadData, ResourceNotFound
from forwardpass.importers import onnx as importer
from tests import models
from tests.registry.conftest import add_scaled
from tests.support import bearer

# Each refused by every name: NUL reached PostgreSQL as a 500, 201 characters too.
REFUSED = ["", "   ", "a\x00b", "x" * 201, "..", ".", "two\nlines", "tab\there"]


@pytest.fixture
def registry(registry, tmp_path):
    add_scaled(registry, tmp_path, (1.0, 2))
    return registry


@pytest.fixture(scope="module")
def onnx_bytes(tmp_path_factory) -> bytes:
    path = models.scaled(tmp_path_factory.mktemp("n") / "s.onnx", 3.0, 2)
    return importer.import_bytes(path.read_bytes())


@pytest.mark.parametrize("name", REFUSED)
def test_every_name_follows_one_rule(registry, onnx_bytes, name):
    with pytest.raises(BadData):
        registry.add_model(onnx_bytes, name)
    with pytest.raises(BadData):
        registry.create_deployment("scaled", name)  # create as strict as rename
    d, _ = registry.create_deployment("scaled")
    with pytest.raises(BadData):
        registry.rename(d.id, name)
    with pytest.raises(BadData):
        registry.set_api_names(d.id, {"inputs": {"x": name}})
    assert registry.deployment(d.id).name == "scaled"


def test_names_are_trimmed_and_may_hold_dots_and_unicode(registry, onnx_bytes):
    assert registry.add_model(onnx_bytes, " churn.v2 ").name == "churn.v2"
    d, _ = registry.create_deployment("churn.v2", " Kundenabwanderung — ä ")
    assert d.name == "Kundenabwanderung — ä"
    with pytest.raises(BadData, match="':'"):
        registry.add_model(onnx_bytes, "a:b")


@pytest.mark.parametrize("ref", ["a:b:1", "scaled\x00:1", "scaled\x00"])
def test_a_name_no_model_can_have_is_not_found(registry, ref):
    with pytest.raises(ResourceNotFound):
        registry.model(ref)


def _api(managed: dict[str, Any], method: str, path: str, **kw: Any) -> httpx.Response:
    url = managed["server"].base + path
    return httpx.request(method, url, headers=bearer(managed["admin"]), timeout=30, **kw)


@pytest.mark.parametrize("name", ["", "  ", "..", "two\nlines", "a\x00b", "x" * 201])
def test_the_api_refuses_names_with_400(managed, onnx_bytes, name):
    r = _api(managed, "POST", "/api/v1/deployments", json={"model": "demo", "name": name})
    assert r.status_code == 400, r.text
    assert r.json()["errorCode"] == "BadData"
    if name.strip():  # a blank name in an upload means the file's own (documented)
        files = {"file": ("m.onnx", onnx_bytes)}
        r = _api(managed, "POST", "/api/v1/models", files=files, data={"name": name})
        assert r.status_code == 400, r.text


def test_a_model_name_with_a_colon_is_not_found(managed):
    for method in ("GET", "DELETE"):
        r = _api(managed, method, "/api/v1/models/demo:x/versions/1")
        assert r.status_code == 404, r.text
        assert r.json()["errorCode"] == "ResourceNotFound"
