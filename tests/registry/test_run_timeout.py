"""A deployment's own run timeout in the registry (migration 0006), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from forwardpass.errors import BadData
from forwardpass.limits import Limits
from forwardpass.registry import Registry, migrate
from forwardpass.services.changes import apply_changes
from forwardpass.settings import Settings
from tests.registry.conftest import add_scaled


def test_a_run_timeout_is_stored_and_null_goes_back_to_the_plan(open_registry, tmp_path):
    registry = open_registry()
    add_scaled(registry, tmp_path, (1.0, 2))
    d, _ = registry.create_deployment("scaled:1")
    apply_changes(registry, d.id, {"limits": {"run_timeout": 1.5, "max_rows": 7}})
    again = open_registry(run_timeout=60.0).deployment(d.id)  # as another process reads it
    assert (again.limits.run_timeout, again.limits.max_rows) == (1.5, 7)
    assert Limits.of(again.limits, Settings(run_timeout=60.0)).run_timeout == 1.5
    # null: the plan's again, and the other limits stay.
    back = apply_changes(registry, d.id, {"limits": {"run_timeout": None}})
    assert (back.limits.run_timeout, back.limits.max_rows) == (None, 7)
    assert Limits.of(back.limits, Settings(run_timeout=60.0)).run_timeout == 60.0


@pytest.mark.parametrize("bad", [0, -1, 0.0, "2", True, float("inf"), float("nan"), [1]])
def test_a_nonsense_run_timeout_is_bad_data_and_writes_nothing(registry, tmp_path, bad):
    add_scaled(registry, tmp_path, (1.0, 2))
    d, _ = registry.create_deployment("scaled:1")
    with pytest.raises(BadData, match="run_timeout"):
        apply_changes(registry, d.id, {"limits": {"run_timeout": bad}, "name": "renamed"})
    assert registry.deployment(d.id).to_dict() == d.to_dict()


def test_an_older_registry_upgrades_to_the_plans_run_timeout(
    tmp_path: Path, model_files: dict[str, Path]
) -> None:
    registry = Registry.open(Settings(data_dir=tmp_path))
    registry.add_model(model_files["demo"].read_bytes(), "demo")
    d, _ = registry.create_deployment("demo")
    registry.set_limits(d.id, {"run_timeout": 2.0, "max_rows": 5})
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    with registry.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    with registry.engine.connect() as connection:
        columns = {c["name"] for c in sa.inspect(connection).get_columns("deployments")}
        assert "run_timeout" not in columns and "max_rows" in columns
    registry.close()

    upgraded = Registry.open(Settings(data_dir=tmp_path))
    limits = upgraded.deployment(d.id).limits
    assert (limits.run_timeout, limits.max_rows) == (None, 5)  # NULL: the plan's
    upgraded.close()
