"""The batcher, driven by hand around a real ONNX Runtime model (the demo forest).

The model behind a gate makes the batch boundaries certain: a first request holds the
model thread; requests submitted meanwhile queue up and then run as one batch.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from forwardpass.batching.batcher import Batcher
from forwardpass.batching.run import Abandoned, Columns, Feeds, Outputs
from forwardpass.batching.timing import Timing
from forwardpass.codecs.rows import RowCodec
from forwardpass.codecs.tensors import InputTensor, TensorCodec
from forwardpass.errors import BadData, JsonPropertyTypeMismatch, Overloaded
from forwardpass.runtime import Model
from tests.support import wait_for


def row(size: Any) -> dict[str, Any]:
    return {"Type": "animal", "Sound": "woof", "Size": size}


class Held:
    """The model behind a gate: calls wait until `release`; `calls` records rows per call,
    `timeouts` the run timeout each call was given."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.gate = threading.Event()
        self.calls: list[int] = []
        self.timeouts: list[float | None] = []

    def run(self, given: Feeds, timeout: float | None = None) -> Outputs:
        self.gate.wait(timeout=30)
        self.calls.append(len(next(iter(given.values()))))
        self.timeouts.append(timeout)
        return self.model.run(given, timeout)


@pytest.fixture(scope="module")
def model(model_files: dict[str, Path]) -> Model:
    return Model(model_files["demo"], threads=1)


def interface(model: Model, api_names: dict[str, dict[str, str]] | None = None) -> RowCodec:
    return RowCodec(model.signature, model.inputs, model.outputs, api_names)


def alone(model: Model, api: RowCodec, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The answer rows of `rows` decoded, run and encoded on their own, without a batcher."""
    return api.encode(model.run(api.decode(rows)), len(rows))


def model_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"forwardpass-model-{name}"]


async def batched(held: Held, batcher: Batcher, jobs: list[Awaitable[Any]]) -> list[Any]:
    """Run `jobs` as one batch behind a first request that holds the model, then release."""
    api = interface(held.model)
    first = asyncio.ensure_future(batcher.submit(api, [row(0.8)]))
    await asyncio.sleep(0.05)  # the first runs alone and holds the model
    rest = [asyncio.ensure_future(job) for job in jobs]
    await asyncio.sleep(0.05)
    assert batcher.depth == len(jobs)
    held.gate.set()
    await first
    return await asyncio.gather(*rest, return_exceptions=True)


def test_a_bad_row_fails_only_its_request_with_its_own_row_index(model: Model) -> None:
    held = Held(model)
    api = interface(model)
    requests = [[row(0.1 * (i + 1)) for _ in range(1 + i % 3)] for i in range(24)]
    requests[13] = [row(1.0), row(2.0), row("big"), row(3.0)]

    async def scenario() -> list[Any]:
        batcher = Batcher(held.run)
        try:
            return await batched(held, batcher, [batcher.submit(api, r) for r in requests])
        finally:
            batcher.close()

    results = asyncio.run(scenario())
    assert held.calls == [1, sum(map(len, requests)) - 4], "one merged call for the good ones"
    bad = results[13]
    assert isinstance(bad, JsonPropertyTypeMismatch)
    # the index within its own request, not within the batch's 30-odd rows
    assert bad.message.startswith("row 2, feature 'Size':"), bad.message
    for i, (result, rows) in enumerate(zip(results, requests, strict=True)):
        if i != 13:
            assert result == alone(model, api, rows)


def test_a_request_the_model_refuses_fails_alone(model: Model) -> None:
    held = Held(model)
    api = interface(model)
    observed: list[tuple[int, int]] = []

    def given(size: float, dtype: type = np.float32) -> Feeds:
        feeds = api.decode([row(size)])
        feeds["Size"] = feeds["Size"].astype(dtype)
        return feeds

    async def scenario() -> list[Any]:
        batcher = Batcher(held.run, observe=lambda r, q: observed.append((r, q)))
        try:
            # float64 where the graph takes float32: ORT refuses the whole merged call
            jobs = [
                batcher.submit(api, [row(size)], feeds=given(size, dtype))
                for size, dtype in ((0.5, np.float32), (1.0, np.float64), (4.0, np.float32))
            ]
            return await batched(held, batcher, jobs)
        finally:
            batcher.close()

    results = asyncio.run(scenario())
    assert held.calls[:2] == [1, 3], "the three waiting requests ran as one merged call"
    assert observed[:2] == [(1, 0), (3, 0)]
    assert isinstance(results[1], BadData)
    assert results[0] == alone(model, api, [row(0.5)])
    assert results[2] == alone(model, api, [row(4.0)])


def test_deployments_sharing_a_batch_get_their_own_names(model: Model) -> None:
    held = Held(model)
    plain = interface(model)
    renamed = interface(
        model, {"inputs": {"Size": "size", "Type": "kind"}, "outputs": {"Weight": "kg"}}
    )

    def rename(r: dict[str, Any]) -> dict[str, Any]:
        return {"kind": r["Type"], "Sound": r["Sound"], "size": r["Size"]}

    requests = [
        (plain, [row(0.3 * i + 0.1)]) if i % 2 else (renamed, [rename(row(0.3 * i + 0.1))] * 2)
        for i in range(10)
    ]

    async def scenario() -> list[Any]:
        batcher = Batcher(held.run)
        try:
            return await batched(held, batcher, [batcher.submit(a, r) for a, r in requests])
        finally:
            batcher.close()

    results = asyncio.run(scenario())
    assert held.calls == [1, 15], "both deployments' requests ran in one model call"
    for result, (api, rows) in zip(results, requests, strict=True):
        assert result == alone(model, api, rows)
        assert set(result[0]) == ({"Weight"} if api is plain else {"kg"})


def test_answers_are_split_back_in_order_and_timed(model: Model) -> None:
    held = Held(model)
    api = interface(model)
    sizes = [0.3, 0.9, 2.5, 40.0, 5.0]

    async def scenario() -> tuple[list[Any], list[Timing]]:
        batcher = Batcher(held.run)
        timings = [Timing() for _ in sizes]
        try:
            jobs = [batcher.submit(api, [row(s)], t) for s, t in zip(sizes, timings, strict=True)]
            return await batched(held, batcher, jobs), timings
        finally:
            batcher.close()

    results, timings = asyncio.run(scenario())
    assert held.calls == [1, 5]
    for result, size in zip(results, sizes, strict=True):
        assert result == alone(model, api, [row(size)])
    assert [t.batch_rows for t in timings] == [5] * 5
    # the batch's one decode, model call and encode, counted for each of its requests
    assert len({(t.decode, t.infer, t.encode) for t in timings}) == 1
    assert all(t.decode > 0 and t.infer > 0 and t.encode > 0 for t in timings)
    assert all(t.queue > 0.04 for t in timings), "they waited behind the held request"


def test_a_request_whose_client_left_while_queued_is_not_run(model: Model) -> None:
    held = Held(model)
    api = interface(model)
    left = threading.Event()  # the client of the second queued request goes away

    async def scenario() -> list[Any]:
        batcher = Batcher(held.run)
        try:
            jobs = [
                batcher.submit(api, [row(0.3)], gone=lambda: False),
                batcher.submit(api, [row(0.6), row(0.7)], gone=left.is_set),
                batcher.submit(api, [row(0.9)]),
            ]
            first = asyncio.ensure_future(batcher.submit(api, [row(0.8)]))
            await asyncio.sleep(0.05)  # the first holds the model; the three queue behind it
            rest = [asyncio.ensure_future(job) for job in jobs]
            await asyncio.sleep(0.05)
            left.set()
            held.gate.set()
            await first
            return await asyncio.gather(*rest, return_exceptions=True)
        finally:
            batcher.close()

    kept, abandoned, unasked = asyncio.run(scenario())
    assert held.calls == [1, 2], "the model never saw the rows of the client that left"
    assert isinstance(abandoned, Abandoned)
    assert kept == alone(model, api, [row(0.3)])
    assert unasked == alone(model, api, [row(0.9)])


def test_a_batch_runs_under_the_longest_run_timeout_of_its_requests(model: Model) -> None:
    held = Held(model)
    api = interface(model)

    async def scenario() -> list[Any]:
        batcher = Batcher(held.run)
        try:
            jobs = [batcher.submit(api, [row(0.5)], timeout=t) for t in (1.0, 7.5, None)]
            return await batched(held, batcher, jobs)
        finally:
            batcher.close()

    results = asyncio.run(scenario())
    assert held.calls == [1, 3]
    # The first ran alone with none given (the model's own); no request of the batch is
    # stopped before its own limit.
    assert held.timeouts == [None, 7.5]
    assert results == [alone(model, api, [row(0.5)])] * 3


def test_a_failing_metrics_hook_never_fails_a_prediction(
    model: Model, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_rows: int, _queued: int) -> None:
        raise RuntimeError("metrics are down")

    api = interface(model)

    async def scenario() -> list[Any]:
        batcher = Batcher(model.run, observe=broken)
        try:
            first = await batcher.submit(api, [row(0.8)])
            second = await batcher.submit(api, [row(0.5)])  # the batcher is not stuck
            return [first, second]
        finally:
            batcher.close()

    results = asyncio.run(scenario())
    assert results == [alone(model, api, [row(0.8)]), alone(model, api, [row(0.5)])]
    assert "the batch observer failed" in caplog.text


def test_a_full_queue_refuses_at_once_and_frees_as_it_drains(model: Model) -> None:
    held = Held(model)
    api = interface(model)

    async def scenario() -> None:
        batcher = Batcher(held.run, max_rows=100, max_queue_rows=10)

        def submit(rows: int) -> asyncio.Future[list[dict[str, Any]]]:
            return asyncio.ensure_future(batcher.submit(api, [row(1.0)] * rows))

        try:
            running = submit(50)  # more than the bound, but nothing waits: it runs
            await asyncio.sleep(0.05)
            waiting = [submit(4), submit(6)]  # 10 rows wait
            await asyncio.sleep(0)
            with pytest.raises(Overloaded) as refused:
                await batcher.submit(api, [row(1.0)])
            assert refused.value.headers == {"Retry-After": "1"}
            held.gate.set()
            assert len(await running) == 50
            assert [len(await w) for w in waiting] == [4, 6]
            assert len(await submit(10)) == 10  # drained: room again
        finally:
            batcher.close()

    asyncio.run(scenario())


def test_the_model_thread_ends_on_close_and_a_late_request_still_runs(model: Model) -> None:
    api = interface(model)

    async def scenario() -> None:
        batcher = Batcher(model.run, name="closing")
        assert model_threads("closing") == [], "no thread before the first request"
        assert await batcher.submit(api, [row(0.8)]) == alone(model, api, [row(0.8)])
        assert len(model_threads("closing")) == 1
        batcher.close()
        await asyncio.to_thread(wait_for, lambda: model_threads("closing") == [])
        # a request that read its deployment before a model swap reaches the closed batcher
        assert await batcher.submit(api, [row(0.5)]) == alone(model, api, [row(0.5)])
        await asyncio.to_thread(wait_for, lambda: model_threads("closing") == [])

    asyncio.run(scenario())


def test_tensor_requests_and_rows_requests_share_a_model_call(model: Model) -> None:
    """A request decoded by its way in (tensors), or decoded by the call it brings in the
    model thread, joins rows decoded in the batch: one model call, each answered in its
    own form, the same numbers as alone; a bad row, or bad tensors, fail only their own
    request."""
    held = Held(model)
    api = interface(model)
    tensors = TensorCodec(api)

    def given(sizes: list[float], sound: bytes = b"woof") -> dict[str, InputTensor]:
        n = len(sizes)
        return {
            "Type": InputTensor("Type", "BYTES", (n, 1), [b"animal"] * n),
            "Sound": InputTensor("Sound", "BYTES", (n, 1), [sound] * n),
            "Size": InputTensor("Size", "FP32", (n, 1), np.array([sizes], np.float32).T),
        }

    first = Columns(2, feeds=tensors.decode(given([0.5, 3.0]), 2))
    second = Columns(1, decode=functools.partial(tensors.decode, given([7.0]), 1))
    bad = Columns(1, decode=functools.partial(tensors.decode, given([1.0], b"purr"), 1))

    async def scenario() -> list[Any]:
        batcher = Batcher(held.run)
        try:
            jobs = [
                batcher.submit(api, [row(1.5)]),
                batcher.submit(api, [], feeds=first.feeds, count=first.count, raw=True),
                batcher.submit(api, [row("heavy")]),
                batcher.submit(api, [], prepare=second.decode, count=second.count, raw=True),
                batcher.submit(api, [], prepare=bad.decode, count=bad.count, raw=True),
            ]
            return await batched(held, batcher, jobs)
        finally:
            batcher.close()

    results = asyncio.run(scenario())
    assert held.calls == [1, 4], "the bad row failed its decode; the rest shared one call"
    assert results[0] == alone(model, api, [row(1.5)])
    assert isinstance(results[2], JsonPropertyTypeMismatch)
    assert isinstance(results[4], BadData) and "unknown category 'purr'" in str(results[4])
    for result, sizes in ((results[1], [0.5, 3.0]), (results[3], [7.0])):
        weights = tensors.encode(result, len(sizes))["Weight"].data
        expected = [r["Weight"] for r in alone(model, api, [row(s) for s in sizes])]
        assert np.asarray(weights).reshape(-1).tolist() == pytest.approx(expected)
