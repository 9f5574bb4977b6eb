"""The registry's management rules: API names, version fit, model deletion, admin token."""

from __future__ import annotations

import pytest

from forwardpass.errors import BadData, Conflict, IncompatibleModel
from forwardpass.registry.admin import hash_secret, verify_secret
from tests.registry.conftest import add_scaled


@pytest.fixture
def registry(registry, tmp_path):
    add_scaled(registry, tmp_path, (1.0, 2), (2.0, 2), (1.0, 3))
    return registry


def test_api_names_are_checked(registry):
    d, _ = registry.create_deployment("scaled:1")
    assert registry.set_api_names(d.id, {"inputs": {"x": " pair "}}).api_names == {
        "inputs": {"x": "pair"},
        "outputs": {},
    }
    with pytest.raises(BadData, match="1 to 200"):
        registry.set_api_names(d.id, {"inputs": {"x": ""}})
    with pytest.raises(BadData, match="no such feature"):
        registry.set_api_names(d.id, {"outputs": {"z": "a"}})
    # a name back to the feature's own is stored as no rename at all
    assert registry.set_api_names(d.id, {"inputs": {"x": "x"}}).api_names["inputs"] == {}


def test_switch_names_every_difference(registry):
    d, _ = registry.create_deployment("scaled:1")
    with pytest.raises(IncompatibleModel) as refused:
        registry.switch_model(d.id, "scaled:3")
    assert "input 'x' changed shape from [2] to [3]" in refused.value.message
    assert "output 'y' changed shape from [2] to [3]" in refused.value.message
    before = registry.deployment(d.id)
    switched = registry.switch_model(d.id, "scaled:2")
    assert switched.model.version == 2 and switched.token_hash == before.token_hash
    assert switched.revision > before.revision


def test_a_used_version_is_not_deleted(registry):
    registry.create_deployment("scaled:1")
    with pytest.raises(Conflict):
        registry.delete_model("scaled:1")
    with pytest.raises(BadData):
        registry.delete_model("scaled")
    path = registry.store.path(registry.model("scaled:3").sha256)
    registry.delete_model("scaled:3")
    assert not path.exists()
    assert [m.version for m in registry.models()] == [1, 2]


def test_admin_token_is_stored_hashed(registry):
    generated = registry.admin.ensure(None)
    assert generated and registry.admin.matches(generated)
    assert registry.admin.ensure(None) is None  # shown once
    key = registry.admin.session_key()
    assert registry.admin.ensure("chosen") is None
    assert registry.admin.matches("chosen") and not registry.admin.matches(generated)
    assert registry.admin.session_key() != key  # a new credential ends old sessions
    stored = hash_secret("chosen")
    assert "chosen" not in stored and verify_secret("chosen", stored)
    assert not verify_secret("chosen", "garbage")
