"""`apply_changes`, the one way the API, the pages and the CLI change a deployment, is all or
nothing: a change refused while it is written leaves the request's other changes unwritten."""

from __future__ import annotations

from typing import Any

import pytest

from forwardpass.errors import QuotaExceeded
from forwardpass.registry import Registry
from forwardpass.services.changes import apply_changes
from tests.registry.conftest import add_scaled


@pytest.fixture
def registry(open_registry, tmp_path):
    """A registry with room for one enabled deployment and models scaled:1 and scaled:2."""
    opened = open_registry(max_enabled_deployments=1)
    add_scaled(opened, tmp_path, (1.0, 2), (2.0, 2))
    return opened


# Each change a request can carry beside "status": "enabled".
CHANGES: dict[str, Any] = {
    "name": "renamed",
    "model": "scaled:2",
    "api_names": {"inputs": {"x": "pair"}, "outputs": {"y": "scaled"}},
    "limits": {"max_rows": 5, "rate": 2.5},
    "image_transformation": "pad_and_resize",
}


def snapshot(registry: Registry, deployment_id: str) -> dict[str, Any]:
    return registry.deployment(deployment_id).to_dict()


@pytest.mark.parametrize("field", list(CHANGES))
def test_a_refused_enable_writes_none_of_the_other_changes(registry, field):
    registry.create_deployment("scaled:1")  # takes the plan's only slot
    spare, _ = registry.create_deployment("scaled:1", "spare", enabled=False)
    before = snapshot(registry, spare.id)
    with pytest.raises(QuotaExceeded):
        apply_changes(registry, spare.id, {field: CHANGES[field], "status": "enabled"})
    assert snapshot(registry, spare.id) == before


def test_every_change_of_an_accepted_request_is_written(registry):
    spare, _ = registry.create_deployment("scaled:1", "spare", enabled=False)
    changed = apply_changes(registry, spare.id, {**CHANGES, "status": "enabled"})
    assert changed.name == "renamed" and changed.model.ref == "scaled:2" and changed.enabled
    assert changed.api_names == CHANGES["api_names"]
    assert (changed.limits.max_rows, changed.limits.rate) == (5, 2.5)
    assert changed.image_transformation == "pad_and_resize"
    assert changed.deployed_at is not None
    assert changed.revision == spare.revision + 1  # one write, not one per field


def test_a_request_with_nothing_to_change_writes_nothing(registry):
    d, _ = registry.create_deployment("scaled:1")
    assert apply_changes(registry, d.id, {}).revision == d.revision
