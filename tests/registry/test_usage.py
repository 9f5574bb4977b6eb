"""Usage counts: counted in memory, added to the registry by each flush."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from forwardpass.registry import Registry
from forwardpass.registry.schema import deployment_usage
from forwardpass.registry.usage import shown
from forwardpass.serving.usage import Usage
from forwardpass.settings import Settings


def test_counts_add_up_across_flushes_and_processes(
    tmp_path: Path, model_files: dict[str, Path]
) -> None:
    registry = Registry.open(Settings(data_dir=tmp_path))
    registry.add_model(model_files["demo"].read_bytes(), "demo")
    d, _ = registry.create_deployment("demo")
    gone, _ = registry.create_deployment("demo")
    known = {d.id, gone.id}
    first, second = Usage(registry, known.__contains__), Usage(registry, known.__contains__)
    first.record(d.id, 3, None)
    first.record(d.id, 0, "RateLimited")
    first.record("not-a-deployment", 1, None)  # unknown ids are not counted
    second.record(d.id, 5, None)
    second.unchecked(d.id)
    second.record(gone.id, 1, None)
    registry.set_enabled(gone.id, False)
    registry.delete_deployment(gone.id)  # its counts are dropped, not an error

    async def flush_all() -> None:
        for usage in (first, second, first):
            await usage.flush()

    asyncio.run(flush_all())
    assert shown(registry.usage(d.id)) == {
        "requests": 3,
        "rows": 8,
        "errors": {"RateLimited": 1},
        "rate_limit_unchecked": 1,
    }


def test_a_failed_write_keeps_the_counts(tmp_path: Path, model_files: dict[str, Path]) -> None:
    registry = Registry.open(Settings(data_dir=tmp_path))
    registry.add_model(model_files["demo"].read_bytes(), "demo")
    d, _ = registry.create_deployment("demo")
    usage = Usage(registry, lambda _id: True)
    usage.record(d.id, 2, None)
    working = registry.add_usage

    def broken(_counts: object) -> None:
        raise OSError("database gone")

    registry.add_usage = broken  # type: ignore[method-assign]
    asyncio.run(usage.flush())
    usage.record(d.id, 1, None)
    registry.add_usage = working  # type: ignore[method-assign]
    asyncio.run(usage.flush())
    assert shown(registry.usage(d.id))["requests"] == 2
    assert shown(registry.usage(d.id))["rows"] == 3


def add_twice_then_delete(registry: Registry, model: Path) -> None:
    registry.add_model(model.read_bytes(), "demo")
    d, _ = registry.create_deployment("demo")
    registry.add_usage({d.id: {"requests": 2, "error:BadData": 1}})
    registry.add_usage({d.id: {"requests": 3, "rows": 4}})
    assert registry.usage(d.id) == {"requests": 5, "rows": 4, "error:BadData": 1}
    registry.set_enabled(d.id, False)
    registry.delete_deployment(d.id)  # its usage goes with it
    with registry.engine.connect() as connection:
        assert usage_rows(connection) == 0


def usage_rows(connection: Connection) -> int:
    return int(
        connection.execute(sa.select(sa.func.count()).select_from(deployment_usage)).scalar_one()
    )


def test_stored_counts_add_up_on_sqlite(tmp_path: Path, model_files: dict[str, Path]) -> None:
    add_twice_then_delete(Registry.open(Settings(data_dir=tmp_path)), model_files["demo"])


@pytest.mark.postgres
def test_stored_counts_add_up_on_postgresql(
    tmp_path: Path, model_files: dict[str, Path], postgres_url: str
) -> None:
    registry = Registry.open(Settings(data_dir=tmp_path, database_url=postgres_url))
    try:
        add_twice_then_delete(registry, model_files["demo"])
    finally:
        registry.close()
