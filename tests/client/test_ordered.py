"""Batches worked on concurrently come back in their own order, and a caller that stops
early leaves no batch to start after it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from forwardpass.client.ordered import in_order


def test_answers_come_in_the_batches_order_whatever_finishes_first():
    def work(batch: list[int]) -> list[int]:
        time.sleep(0.02 * (5 - batch[0] % 5))  # later batches finish first
        return [n * 10 for n in batch]

    seen: list[int] = []
    batches = [[i, i + 100] for i in range(12)]
    with ThreadPoolExecutor(3) as pool:
        answers = list(in_order(pool, work, batches, 3, seen.append))
    assert answers == [n * 10 for batch in batches for n in batch]
    assert seen == [2] * 12


def test_a_caller_that_stops_early_cancels_what_has_not_begun():
    started: list[int] = []
    lock = threading.Lock()

    def work(batch: list[int]) -> list[int]:
        with lock:
            started.append(batch[0])
        time.sleep(0.05)
        return batch

    with ThreadPoolExecutor(1) as pool:
        answers = in_order(pool, work, ([i] for i in range(100)), 1, lambda n: None)
        assert next(answers) == 0
        answers.close()
    # one worker, two batches queued ahead at most: nothing past them ever ran
    assert len(started) <= 3, started
