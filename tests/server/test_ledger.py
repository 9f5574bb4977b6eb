"""The ledger counts predictions in bulk: soon after many, at once for /metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import REGISTRY

from forwardpass.registry import Registry
from forwardpass.server.ledger import FLUSH_ENTRIES, Ledger
from forwardpass.serving.guard import Guard
from forwardpass.serving.served import ServedDeployments
from forwardpass.settings import Settings


def counted(deployment: str) -> float:
    value = REGISTRY.get_sample_value(
        "forwardpass_requests_total", {"deployment": deployment, "status": "200"}
    )
    return value or 0.0


def test_a_full_ledger_is_counted_after_the_request_that_filled_it(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path)
    registry = Registry.open(settings)
    ledger = Ledger(Guard(settings, registry, ServedDeployments(registry, settings)))

    async def requests() -> list[float]:
        seen = []
        for _ in range(FLUSH_ENTRIES - 1):
            ledger.add("ledger-full", 200, 1, None, 0.001)
        await asyncio.sleep(0)
        seen.append(counted("ledger-full"))  # below the mark: waits for the timer
        ledger.add("ledger-full", 200, 1, None, 0.001)
        seen.append(counted("ledger-full"))  # not in the request that filled it...
        await asyncio.sleep(0)
        seen.append(counted("ledger-full"))  # ...but right after it
        return seen

    try:
        assert asyncio.run(requests()) == [0.0, 0.0, float(FLUSH_ENTRIES)]
    finally:
        registry.close()


def test_flush_counts_what_is_waiting(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path)
    registry = Registry.open(settings)
    ledger = Ledger(Guard(settings, registry, ServedDeployments(registry, settings)))
    try:
        ledger.add("ledger-flush", 200, 3, None, 0.002)
        assert counted("ledger-flush") == 0.0
        ledger.flush()  # as /metrics does before it answers
        assert counted("ledger-flush") == 1.0
    finally:
        registry.close()
