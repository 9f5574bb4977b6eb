"""Migration 0002 on a registry made by 0001: deployments keep working, on the plan's limits."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from forwardpass.limits import LimitOverrides
from forwardpass.registry import Registry, migrate
from forwardpass.settings import Settings


def test_an_old_registry_upgrades_with_plan_limits(
    tmp_path: Path, model_files: dict[str, Path]
) -> None:
    registry = Registry.open(Settings(data_dir=tmp_path))
    registry.add_model(model_files["demo"].read_bytes(), "demo")
    d, _ = registry.create_deployment("demo")
    registry.set_limits(d.id, {"max_rows": 5})
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    with registry.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    with registry.engine.connect() as connection:
        assert "deployment_usage" not in sa.inspect(connection).get_table_names()
    registry.close()

    upgraded = Registry.open(Settings(data_dir=tmp_path))
    assert upgraded.deployment(d.id).limits == LimitOverrides()  # NULL: the plan's
    upgraded.add_usage({d.id: {"requests": 1}})
    assert upgraded.usage(d.id) == {"requests": 1}
    upgraded.close()
