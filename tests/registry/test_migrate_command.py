"""`forwardpass migrate` and FORWARDPASS_MIGRATE_ON_START=false on PostgreSQL."""

from __future__ import annotations

import pytest

from forwardpass.errors import RegistryUnavailable
from forwardpass.registry import Registry, migrate
from forwardpass.settings import Settings
from tests.support import cli_env, cli_json

pytestmark = pytest.mark.postgres


def test_a_registry_not_migrated_is_refused_with_the_command_to_run(postgres_url, tmp_path):
    settings = Settings(data_dir=tmp_path, database_url=postgres_url, migrate_on_start=False)
    with pytest.raises(RegistryUnavailable, match="run `forwardpass migrate`"):
        Registry.open(settings)
    env = cli_env(tmp_path, FORWARDPASS_DATABASE_URL=postgres_url)
    assert cli_json(tmp_path, "migrate", env=env) == {"revision": migrate.head()}
    Registry.open(settings).close()  # now current: opens without migrating
