"""Usage counts in the registry: added to by serving processes, read by the CLI."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from forwardpass.registry.schema import deployment_usage, deployments

REQUESTS, ROWS, UNCHECKED = "requests", "rows", "rate_limit_unchecked"
ERROR = "error:"  # metric prefix of errors counted by errorCode


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
