"""The process's budget of decoded pixels: a share per deployment, a bounded wait, a 503."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from forwardpass.errors import Overloaded
from forwardpass.limits.pixels import PixelBudget


def test_one_deployment_holds_half_and_the_others_get_the_rest_at_once() -> None:
    budget = PixelBudget(100, wait=0.2)
    with budget.hold("hostile", 50):
        started = time.monotonic()
        with pytest.raises(Overloaded) as refused, budget.hold("hostile", 1):
            pass
        assert time.monotonic() - started >= 0.2  # it waited its bounded time
        assert refused.value.status == 503
        assert refused.value.headers["Retry-After"] == "1"
        with budget.hold("other", 50):  # no wait: the other half is theirs
            assert budget.held == 100
    assert budget.held == 0


def test_a_waiting_request_goes_in_when_room_is_made() -> None:
    budget = PixelBudget(100, wait=5)
    holding, got_in = threading.Event(), threading.Event()

    def first() -> None:
        with budget.hold("a", 40):
            holding.set()
            time.sleep(0.2)

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait()
    with budget.hold("a", 40):  # over a's share of 50 until the first one ends
        got_in.set()
    thread.join()
    assert got_in.is_set() and budget.held == 0


def test_an_image_larger_than_a_share_counts_as_one_share() -> None:
    budget = PixelBudget(100, wait=0.1)
    with budget.hold("a", 10_000), budget.hold("b", 10_000):
        assert budget.held == 100


def test_an_owners_calls_beyond_its_threads_wait_on_the_loop_and_others_go_in() -> None:
    """`run`: one call of a's at a time in the budget's threads (per_owner=1); a's second
    waits holding no thread, up to `wait`, then is refused; b's goes in at once."""
    budget = PixelBudget(100, wait=0.3, per_owner=1)
    release = threading.Event()
    ran: list[str] = []

    def work(name: str, block: bool = False) -> str:
        ran.append(name)
        if block:
            release.wait(5)
        return name

    async def scenario() -> None:
        first = asyncio.ensure_future(budget.run("a", lambda: work("a1", block=True)))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(budget.run("a", lambda: work("a2")))
        assert await budget.run("b", lambda: work("b")) == "b"  # not behind a's
        with pytest.raises(Overloaded) as refused:
            await second
        assert refused.value.status == 503
        release.set()
        assert await first == "a1"
        # a's thread is given back when its work ends: a's next call goes in.
        assert await budget.run("a", lambda: work("a3")) == "a3"

    asyncio.run(scenario())
    assert ran == ["a1", "b", "a3"]  # a2 was refused before it took a thread
