"""`apply_changes`, the one way the API, the pages and the CLI change a deployment, is all or
nothing: a change refused while it is written leaves the request's other changes unwritten."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forwardpass.errors import QuotaExceeded
from forwardpass.importers import onnx as importer
from forwardpass.registry import Registry
from forwardpass.services.changes import apply_changes
from forwardpass.settings import Settings
from tests import models


@pytest.fixture(params=["sqlite", "postgres"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    """A registry with room for one enabled deployment and models scaled:1 and scaled:2."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    opened = Registry.open(Settings(data_dir=tmp_path, database_url=url, max_enabled_deployments=1))
    for factor in (1.0, 2.0):
        path = models.scaled(tmp_path / f"scaled-{factor}.onnx", factor)
        opened.add_model(importer.import_bytes(path.read_bytes()), "scaled")
    yield opened
    opened.engine.dispose()


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
