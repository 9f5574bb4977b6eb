"""The batcher's queue bound, with a real Batcher around a deliberately slow model call."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from forwardpass.batching import Batcher, Feeds, Outputs
from forwardpass.errors import Overloaded


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
