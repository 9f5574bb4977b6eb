"""The plan's quota of enabled deployments, in the registry and the CLI."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from forwardpass.errors import QuotaExceeded
from forwardpass.registry import Registry
from forwardpass.settings import Settings
from tests.support import cli_env, cli_json, run_cli


def open_registry(tmp_path: Path, model: Path, quota: int, url: str = "") -> Registry:
    registry = Registry.open(
        Settings(data_dir=tmp_path, database_url=url, max_enabled_deployments=quota)
    )
    registry.add_model(model.read_bytes(), "demo")
    return registry


def test_one_more_than_the_plan_is_refused_and_disabling_frees_a_slot(
    tmp_path: Path, model_files: dict[str, Path]
) -> None:
    registry = open_registry(tmp_path, model_files["demo"], quota=2)
    first, _ = registry.create_deployment("demo")
    registry.create_deployment("demo")
    with pytest.raises(QuotaExceeded, match="at most 2 enabled deployments"):
        registry.create_deployment("demo")
    spare, _ = registry.create_deployment("demo", enabled=False)  # disabled costs nothing
    with pytest.raises(QuotaExceeded):
        registry.set_enabled(spare.id, True)
    assert registry.set_enabled(first.id, True).enabled  # already enabled: not one more
    registry.set_enabled(first.id, False)
    assert registry.set_enabled(spare.id, True).enabled
    assert sum(d.enabled for d in registry.deployments()) == 2


def race(registry: Registry, rounds: int = 5) -> None:
    """Two threads enable two deployments at once, with room for one: one wins each time."""
    a, _ = registry.create_deployment("demo", enabled=False)
    b, _ = registry.create_deployment("demo", enabled=False)
    for _round in range(rounds):
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def enable(
            deployment_id: str, barrier: threading.Barrier = barrier, outcomes: list[str] = outcomes
        ) -> None:
            barrier.wait()
            try:
                registry.set_enabled(deployment_id, True)
                outcomes.append("enabled")
            except QuotaExceeded:
                outcomes.append("refused")

        threads = [threading.Thread(target=enable, args=(d.id,)) for d in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["enabled", "refused"]
        assert sum(d.enabled for d in registry.deployments()) == 1
        for d in (a, b):
            registry.set_enabled(d.id, False)


def test_racing_enables_cannot_both_pass_on_sqlite(
    tmp_path: Path, model_files: dict[str, Path]
) -> None:
    race(open_registry(tmp_path, model_files["demo"], quota=1))


@pytest.mark.postgres
def test_racing_enables_cannot_both_pass_on_postgresql(
    tmp_path: Path, model_files: dict[str, Path], postgres_url: str
) -> None:
    registry = open_registry(tmp_path, model_files["demo"], quota=1, url=postgres_url)
    try:
        race(registry)
    finally:
        registry.close()


def test_the_cli_refuses_with_a_clear_message(tmp_path: Path, model_files: dict[str, Path]) -> None:
    env = cli_env(tmp_path, FORWARDPASS_MAX_ENABLED_DEPLOYMENTS="1")
    cli_json(tmp_path, "model", "import", str(model_files["demo"]), "--name", "demo", env=env)
    first = cli_json(tmp_path, "deployment", "create", "demo", env=env)
    refused = run_cli(tmp_path, "deployment", "create", "demo", env=env, check=False)
    assert refused.returncode == 1
    assert "at most 1 enabled deployments" in refused.stderr
    assert "FORWARDPASS_MAX_ENABLED_DEPLOYMENTS" in refused.stderr
    spare = cli_json(tmp_path, "deployment", "create", "demo", "--disabled", env=env)
    as_json = run_cli(tmp_path, "deployment", "enable", spare["id"], "--json", env=env, check=False)
    assert as_json.returncode == 1 and '"errorCode": "QuotaExceeded"' in as_json.stderr
    cli_json(tmp_path, "deployment", "disable", first["id"], env=env)
    assert cli_json(tmp_path, "deployment", "enable", spare["id"], env=env)["status"] == "enabled"


def test_the_quota_over_http_through_the_management_api(
    tmp_path: Path, model_files: dict[str, Path]
) -> None:
    import httpx

    from tests.support import Server

    env = cli_env(
        tmp_path,
        FORWARDPASS_MAX_ENABLED_DEPLOYMENTS="1",
        FORWARDPASS_ADMIN_TOKEN="quota-admin-token-0123456789",
    )
    cli_json(tmp_path, "model", "import", str(model_files["demo"]), "--name", "demo", env=env)
    server = Server(tmp_path, env=env)
    try:
        with httpx.Client(
            base_url=server.base, headers={"Authorization": "Bearer quota-admin-token-0123456789"}
        ) as client:
            first = client.post("/api/v1/deployments", json={"model": "demo"})
            assert first.status_code == 201, first.text
            refused = client.post("/api/v1/deployments", json={"model": "demo"})
            assert refused.status_code == 409
            assert refused.json()["errorCode"] == "QuotaExceeded"
            assert "at most 1 enabled deployment" in refused.json()["errorMessage"]
            spare = client.post("/api/v1/deployments", json={"model": "demo", "enabled": False})
            assert spare.status_code == 201, spare.text
            path = f"/api/v1/deployments/{spare.json()['id']}"
            assert client.patch(path, json={"status": "enabled"}).json()["errorCode"] == (
                "QuotaExceeded"
            )
            # Disabling one frees its slot.
            freed = client.patch(
                f"/api/v1/deployments/{first.json()['id']}", json={"status": "disabled"}
            )
            assert freed.status_code == 200, freed.text
            assert client.patch(path, json={"status": "enabled"}).status_code == 200
    finally:
        server.stop()
