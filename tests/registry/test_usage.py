"""Usage counts: counted in memory, added to the registry by each flush."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from forwardpass.registry import Registry
from forwardpass.registry.schema import deployment_usage, usage_buckets
from forwardpass.registry.usage import Tally, shown
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

    def broken(*_args: object) -> None:
        raise OSError("database gone")

    registry.add_usage = broken  # type: ignore[method-assign]
    asyncio.run(usage.flush())
    usage.record(d.id, 1, None)
    registry.add_usage = working  # type: ignore[method-assign]
    asyncio.run(usage.flush())
    assert shown(registry.usage(d.id))["requests"] == 2
    assert shown(registry.usage(d.id))["rows"] == 3
    assert sum(t.requests for _, t in registry.usage_series(d.id, "day")) == 2


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


NOW = 1_790_000_000 - 1_790_000_000 % 3600 + 30 * 60 + 15  # half past an hour, and 15 s


def test_usage_over_time_is_kept_per_minute_and_per_hour_then_pruned(
    registry: Registry, model_files: dict[str, Path]
) -> None:
    registry.add_model(model_files["demo"].read_bytes(), "demo")
    d, _ = registry.create_deployment("demo")
    minute = NOW - NOW % 60
    # two processes' tallies of this minute, one of the minute before, one of 25 h ago
    registry.add_usage({}, {(d.id, minute): Tally(3, 30, 1, 0.3)}, now=NOW)
    registry.add_usage({}, {(d.id, minute): Tally(1, 10, 0, 0.1)}, now=NOW)
    registry.add_usage({}, {(d.id, minute - 60): Tally(2, 20, 2, 0.2)}, now=NOW)
    registry.add_usage({}, {(d.id, minute - 25 * 3600): Tally(5, 0, 5, 1.0)}, now=NOW)
    registry.add_usage({}, {("not-a-deployment", minute): Tally(9, 9, 9, 9.0)}, now=NOW)

    day = registry.usage_series(d.id, "day", now=NOW)
    assert len(day) == 1440 and day[-1][0] == minute and day[0][0] == minute - 1439 * 60
    assert day[-1][1] == Tally(4, 40, 1, pytest.approx(0.4))
    assert day[-2][1] == Tally(2, 20, 2, pytest.approx(0.2))
    assert sum(t.requests for _, t in day) == 6  # 25 h ago is out of the window
    month = registry.usage_series(d.id, "month", now=NOW)
    assert len(month) == 720 and month[-1][0] == NOW - NOW % 3600
    assert month[-1][1].requests == 6 and month[-1][1].errors == 3
    assert month[-26][1].requests == 5  # the hour 25 hours before this one

    # a minute bucket older than a day is pruned; its hour stays for the month
    with registry.engine.connect() as connection:
        steps = connection.execute(
            sa.select(usage_buckets.c.step, usage_buckets.c.start).where(
                usage_buckets.c.deployment_id == d.id
            )
        ).all()
    assert (60, minute - 25 * 3600) not in steps and (60, minute) in steps
    later = NOW + 31 * 24 * 3600
    registry.add_usage({}, {(d.id, later - later % 60): Tally(1, 1, 0, 0.1)}, now=later)
    assert sum(t.requests for _, t in registry.usage_series(d.id, "month", now=later)) == 1
    with registry.engine.connect() as connection:
        kept = connection.execute(
            sa.select(sa.func.count()).select_from(usage_buckets)
        ).scalar_one()
    assert kept == 2  # the new minute and its hour


def test_migration_0008_makes_the_usage_buckets_of_the_schema(registry: Registry) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from forwardpass.registry.schema import metadata

    with registry.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    assert "usage_buckets" in sa.inspect(registry.engine).get_table_names()
