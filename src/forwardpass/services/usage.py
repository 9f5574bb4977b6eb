"""A deployment's usage over time, as the management API returns it and the pages draw it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from forwardpass.errors import BadData
from forwardpass.registry import Registry
from forwardpass.registry.usage import WINDOWS


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def usage_series(
    registry: Registry, deployment_id: str, window: str = "day", now: float | None = None
) -> dict[str, Any]:
    """Requests, rows, errors and mean latency per bucket of `window`: "day" (a point a
    minute, 1,440 of them) or "month" (a point an hour, 720), the oldest first and the
    current bucket last. A bucket without requests has a latency of None."""
    if window not in WINDOWS:
        raise BadData(f"window must be one of {', '.join(WINDOWS)}, got {window[:40]!r}")
    deployment = registry.deployment(deployment_id)
    buckets = registry.usage_series(deployment.id, window, now)
    step, _count = WINDOWS[window]
    return {
        "deployment_id": deployment.id,
        "window": window,
        "step_seconds": step,
        "start": _iso(buckets[0][0]),
        "end": _iso(buckets[-1][0] + step),
        "points": [
            {
                "start": _iso(start),
                "requests": t.requests,
                "rows": t.rows,
                "errors": t.errors,
                "latency_ms": round(t.seconds / t.requests * 1000, 3) if t.requests else None,
            }
            for start, t in buckets
        ],
    }
