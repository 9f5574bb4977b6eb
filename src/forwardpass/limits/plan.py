"""The plan's per-deployment limits, and a deployment's own overrides of them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from forwardpass.errors import BadData
from forwardpass.settings import Settings


@dataclass(frozen=True)
class LimitOverrides:
    """A deployment's own limits; None means the plan's default (from the settings)."""

    max_body_bytes: int | None = None
    max_rows: int | None = None
    rate: float | None = None
    burst: int | None = None
    run_timeout: float | None = None  # seconds a model call may run

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_rows"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise BadData(f"{name} must be at least 1, got {value}")
        for name in ("rate", "burst"):
            value = getattr(self, name)
            if value is not None and (value < 0 or not math.isfinite(value)):
                raise BadData(f"{name} must be 0 (no limit) or more, got {value}")
        timeout = self.run_timeout
        if timeout is not None and not (timeout > 0 and math.isfinite(timeout)):
            raise BadData(f"run_timeout must be above 0 seconds, got {timeout}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


@dataclass(frozen=True)
class Limits:
    """The limits a deployment runs under: its overrides, else the plan's defaults."""

    max_body_bytes: int
    max_rows: int
    rate: float  # requests a second; 0 means no rate limit
    burst: int  # bucket size; at least 1 when there is a rate
    run_timeout: float  # seconds one model call may run

    @classmethod
    def of(cls, own: LimitOverrides, settings: Settings) -> Limits:
        rate = own.rate if own.rate is not None else settings.rate
        burst = own.burst if own.burst is not None else settings.burst
        return cls(
            max_body_bytes=own.max_body_bytes or settings.max_body_bytes,
            max_rows=own.max_rows or settings.max_rows,
            rate=rate,
            # A burst of 0 means one second's worth of requests, and never less than one.
            burst=max(1, burst or math.ceil(rate)),
            run_timeout=own.run_timeout or settings.run_timeout,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
