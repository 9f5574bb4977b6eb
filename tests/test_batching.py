"""The batcher, driven by hand around a real ONNX Runtime model (the demo forest).

A one-thread executor held busy makes the batch boundaries certain: requests submitted
while it is held queue up and then run as one merged model call.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from forwardpass.batching import Batcher, Feeds, Outputs
from forwardpass.errors import BadData, Overloaded
from forwardpass.runtime import Model
from forwardpass.timing import Timing


def feeds(size: float, dtype: type = np.float32) -> Feeds:
    return {
        "Type": np.array([["animal"]], dtype=object),
        "Sound": np.array([["woof"]], dtype=object),
        "Size": np.array([[size]], dtype=dtype),
    }


class Held:
    """The model behind a gate: calls wait until `release`; `calls` records rows per call."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.gate = threading.Event()
        self.calls: list[int] = []

    def run(self, given: Feeds) -> Outputs:
        self.gate.wait(timeout=30)
        self.calls.append(len(next(iter(given.values()))))
        return self.model.run(given)


@pytest.fixture(scope="module")
def model(model_files: dict[str, Path]) -> Model:
    return Model(model_files["demo"], threads=1)


def test_a_bad_request_in_a_merged_batch_fails_alone(model: Model) -> None:
    held = Held(model)
    observed: list[tuple[int, int]] = []

    async def scenario() -> list[Outputs | BaseException]:
        with ThreadPoolExecutor(max_workers=1) as executor:
            batcher = Batcher(held.run, executor, observe=lambda r, q: observed.append((r, q)))
            first = asyncio.ensure_future(batcher.submit(feeds(0.8), 1))
            await asyncio.sleep(0.05)  # the first runs alone and holds the model
            # float64 where the graph takes float32: ORT refuses the whole merged call
            rest = [
                asyncio.ensure_future(batcher.submit(feeds(size, dtype), 1))
                for size, dtype in ((0.5, np.float32), (1.0, np.float64), (4.0, np.float32))
            ]
            await asyncio.sleep(0.05)
            assert batcher.depth == 3
            held.gate.set()
            return await asyncio.gather(first, *rest, return_exceptions=True)

    results = asyncio.run(scenario())
    assert held.calls[:2] == [1, 3], "the three waiting requests ran as one merged call"
    assert observed[:2] == [(1, 0), (3, 0)]
    good, bad = [results[0], results[1], results[3]], results[2]
    assert isinstance(bad, BadData)
    for result, size in zip(good, (0.8, 0.5, 4.0), strict=True):
        assert not isinstance(result, BaseException), result
        alone = model.run(feeds(size))
        np.testing.assert_allclose(result["variable"], alone["variable"], rtol=1e-6)


def test_outputs_are_split_back_in_order_and_timed(model: Model) -> None:
    held = Held(model)
    sizes = [0.3, 0.9, 2.5, 40.0, 5.0]

    async def scenario() -> tuple[list[Outputs], list[Timing]]:
        with ThreadPoolExecutor(max_workers=1) as executor:
            # the only thread is taken until the gate opens: all five requests queue
            executor.submit(held.gate.wait, 30)
            batcher = Batcher(held.run, executor)
            timings = [Timing() for _ in sizes]
            jobs = [
                asyncio.ensure_future(batcher.submit(feeds(s), 1, t))
                for s, t in zip(sizes, timings, strict=True)
            ]
            await asyncio.sleep(0.05)
            held.gate.set()
            return list(await asyncio.gather(*jobs)), timings

    results, timings = asyncio.run(scenario())
    # all five queued while the model's thread was taken: one call
    assert held.calls == [5]
    for result, size in zip(results, sizes, strict=True):
        np.testing.assert_allclose(result["variable"], model.run(feeds(size))["variable"])
    assert [t.batch_rows for t in timings] == [5] * 5
    assert all(t.infer > 0 and t.queue >= 0 for t in timings)


def test_a_failing_metrics_hook_never_fails_a_prediction(
    model: Model, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_rows: int, _queued: int) -> None:
        raise RuntimeError("metrics are down")

    async def scenario() -> list[Outputs]:
        with ThreadPoolExecutor(max_workers=1) as executor:
            batcher = Batcher(model.run, executor, observe=broken)
            first = await batcher.submit(feeds(0.8), 1)
            second = await batcher.submit(feeds(0.5), 1)  # the batcher is not stuck
            return [first, second]

    results = asyncio.run(scenario())
    for result, size in zip(results, (0.8, 0.5), strict=True):
        np.testing.assert_allclose(result["variable"], model.run(feeds(size))["variable"])
    assert "the batch observer failed" in caplog.text


def test_a_full_queue_refuses_at_once_and_frees_as_it_drains() -> None:
    release = threading.Event()

    def run(feeds: Feeds) -> Outputs:
        release.wait(5)
        return {"y": feeds["x"] * 2}

    async def scenario() -> None:
        with ThreadPoolExecutor(1) as executor:
            batcher = Batcher(run, executor, max_rows=100, max_queue_rows=10)

            def submit(rows: int) -> asyncio.Task[Outputs]:
                feeds = {"x": np.ones((rows, 1), np.float32)}
                return asyncio.ensure_future(batcher.submit(feeds, rows))

            running = submit(50)  # more than the bound, but nothing waits: it runs
            await asyncio.sleep(0.05)
            waiting = [submit(4), submit(6)]  # 10 rows wait
            await asyncio.sleep(0)
            with pytest.raises(Overloaded) as refused:
                await batcher.submit({"x": np.ones((1, 1), np.float32)}, 1)
            assert refused.value.headers == {"Retry-After": "1"}
            release.set()
            assert (await running)["y"].shape == (50, 1)
            assert [len((await w)["y"]) for w in waiting] == [4, 6]
            assert (await submit(10))["y"].shape == (10, 1)  # drained: room again

    asyncio.run(scenario())
