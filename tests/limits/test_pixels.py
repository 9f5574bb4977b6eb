"""The process's budget of decoded pixels: a share per deployment, a bounded wait, a 503."""

from __future__ import annotations

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
