"""Usage in the registry: added to by serving processes, read by the CLI, the API and pages.

Two forms: totals per metric (`add`, `read`), and the same over time in buckets of a
minute and of an hour (`add_buckets`, `series`), kept as long as `WINDOWS` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from forwardpass.registry.schema import deployment_usage, deployments, usage_buckets

REQUESTS, ROWS, UNCHECKED = "requests", "rows", "rate_limit_unchecked"
ERROR = "error:"  # metric prefix of errors counted by errorCode

MINUTE, HOUR = 60, 3600
#: The windows of usage over time: name -> (bucket seconds, buckets shown). The buckets of
#: each size are kept as long as their window shows them, and pruned after.
WINDOWS = {"day": (MINUTE, 24 * 60), "month": (HOUR, 30 * 24)}
_KEPT = {step: step * count for step, count in WINDOWS.values()}


@dataclass(slots=True)
class Tally:
    """What a bucket of time holds for one deployment."""

    requests: int = 0
    rows: int = 0
    errors: int = 0
    seconds: float = 0.0  # latencies summed: the mean is seconds / requests

    def add(self, other: Tally) -> None:
        self.requests += other.requests
        self.rows += other.rows
        self.errors += other.errors
        self.seconds += other.seconds


#: (deployment id, start of its minute in Unix seconds) -> what that minute holds
Buckets = dict[tuple[str, int], Tally]


def add(connection: Connection, counts: dict[str, dict[str, int]]) -> None:
    """Add `counts` (deployment id -> metric -> n) to the stored counts, atomically."""
    # Counts of deployments deleted since they were made are dropped, not an error.
    existing = set(
        connection.execute(
            sa.select(deployments.c.id).where(deployments.c.id.in_(list(counts)))
        ).scalars()
    )
    rows = [
        {"deployment_id": d, "metric": metric, "count": n}
        for d, metrics in counts.items()
        if d in existing
        for metric, n in metrics.items()
        if n
    ]
    if not rows:
        return
    dialect = connection.dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(deployment_usage).values(rows)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["deployment_id", "metric"],
                set_={"count": deployment_usage.c.count + statement.excluded["count"]},
            )
        )
        return
    for row in rows:  # any other database: update, else insert
        updated = connection.execute(
            deployment_usage.update()
            .where(
                deployment_usage.c.deployment_id == row["deployment_id"],
                deployment_usage.c.metric == row["metric"],
            )
            .values(count=deployment_usage.c.count + row["count"])
        ).rowcount
        if not updated:
            connection.execute(deployment_usage.insert().values(**row))


def read(connection: Connection, deployment_id: str) -> dict[str, int]:
    found = connection.execute(
        sa.select(deployment_usage.c.metric, deployment_usage.c.count).where(
            deployment_usage.c.deployment_id == deployment_id
        )
    )
    return {metric: int(count) for metric, count in found}


def shown(stored: dict[str, int]) -> dict[str, object]:
    """Stored metrics as users see them: requests, rows, errors by errorCode."""
    errors = {k[len(ERROR) :]: v for k, v in sorted(stored.items()) if k.startswith(ERROR)}
    return {
        REQUESTS: stored.get(REQUESTS, 0),
        ROWS: stored.get(ROWS, 0),
        "errors": errors,
        UNCHECKED: stored.get(UNCHECKED, 0),
    }


def add_buckets(connection: Connection, minutes: Buckets, now: float) -> None:
    """Add per-minute tallies to the minute and hour buckets; prune buckets too old to show."""
    existing = set(
        connection.execute(
            sa.select(deployments.c.id).where(deployments.c.id.in_(list({d for d, _ in minutes})))
        ).scalars()
    )
    # One row per key: PostgreSQL refuses to upsert the same row twice in one statement.
    merged: dict[tuple[str, int, int], Tally] = {}
    for (deployment_id, start), tally in minutes.items():
        if deployment_id not in existing:
            continue
        for step in (MINUTE, HOUR):
            key = (deployment_id, step, start - start % step)
            merged.setdefault(key, Tally()).add(tally)
    rows = [
        {
            "deployment_id": d,
            "step": step,
            "start": start,
            "requests": t.requests,
            "rows": t.rows,
            "errors": t.errors,
            "seconds": t.seconds,
        }
        for (d, step, start), t in merged.items()
    ]
    if rows:
        _upsert(connection, rows)
    for step, kept in _KEPT.items():
        connection.execute(
            usage_buckets.delete().where(
                usage_buckets.c.step == step, usage_buckets.c.start <= now - kept - step
            )
        )


_SUMMED = ("requests", "rows", "errors", "seconds")


def _upsert(connection: Connection, rows: list[dict[str, Any]]) -> None:
    dialect = connection.dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(usage_buckets).values(rows)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["deployment_id", "step", "start"],
                set_={c: usage_buckets.c[c] + statement.excluded[c] for c in _SUMMED},
            )
        )
        return
    for row in rows:  # any other database: update, else insert
        updated = connection.execute(
            usage_buckets.update()
            .where(
                usage_buckets.c.deployment_id == row["deployment_id"],
                usage_buckets.c.step == row["step"],
                usage_buckets.c.start == row["start"],
            )
            .values({c: usage_buckets.c[c] + row[c] for c in _SUMMED})
        ).rowcount
        if not updated:
            connection.execute(usage_buckets.insert().values(**row))


def series(
    connection: Connection, deployment_id: str, window: str, now: float
) -> list[tuple[int, Tally]]:
    """The window's buckets, oldest first, ending with the one `now` falls in; a bucket
    without requests is there too, empty. `window` is a key of WINDOWS."""
    step, count = WINDOWS[window]
    last = int(now) - int(now) % step
    first = last - (count - 1) * step
    found = connection.execute(
        sa.select(usage_buckets.c.start, *(usage_buckets.c[c] for c in _SUMMED)).where(
            usage_buckets.c.deployment_id == deployment_id,
            usage_buckets.c.step == step,
            usage_buckets.c.start >= first,
            usage_buckets.c.start <= last,
        )
    )
    held = {
        int(start): Tally(int(requests), int(rows), int(errors), float(seconds))
        for start, requests, rows, errors, seconds in found
    }
    return [(start, held.get(start, Tally())) for start in range(first, last + 1, step)]
