"""EagerFuture: awaited like an asyncio Future, its awaiter goes on as soon as it is set."""

from __future__ import annotations

import asyncio

import pytest

from forwardpass.batching.future import EagerFuture


def test_a_task_awaiting_it_goes_on_before_the_setter_returns():
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        future: EagerFuture[str] = EagerFuture(loop)
        seen: list[str] = []

        async def waiter() -> None:
            seen.append(await future)

        task = loop.create_task(waiter())
        await asyncio.sleep(0)  # the task now waits for the future

        def setter() -> None:
            future.set("answer")
            seen.append("setter returned")

        loop.call_soon(setter)
        await task
        return seen

    assert asyncio.run(main()) == ["answer", "setter returned"]


def test_an_exception_set_is_raised_to_the_awaiter_and_a_second_set_is_ignored():
    async def main() -> None:
        future: EagerFuture[str] = EagerFuture(asyncio.get_running_loop())
        asyncio.get_running_loop().call_soon(future.set, ValueError("bad row"))
        with pytest.raises(ValueError, match="bad row"):
            await future
        future.set("late")
        assert isinstance(future.exception(), ValueError)

    asyncio.run(main())


def test_it_is_a_future_to_asyncio_and_a_set_one_is_awaited_at_once():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        future: EagerFuture[int] = EagerFuture(loop)
        assert asyncio.isfuture(future) and not future.done()
        with pytest.raises(asyncio.InvalidStateError):
            future.result()
        future.set(7)
        assert await future == 7
        # a callback added once it is set runs in the loop's next pass, as asyncio's do
        called: list[int] = []
        future.add_done_callback(lambda f: called.append(f.result()))
        assert called == []
        await asyncio.sleep(0)
        assert called == [7]
        assert await asyncio.gather(future) == [7]

    asyncio.run(main())


def test_a_failing_callback_goes_to_the_loops_exception_handler():
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        reported: list[str] = []
        loop.set_exception_handler(lambda _, context: reported.append(context["message"]))
        future: EagerFuture[int] = EagerFuture(loop)
        future.add_done_callback(lambda _: 1 / 0)
        after: list[int] = []
        future.add_done_callback(lambda f: after.append(f.result()))
        future.set(1)
        assert after == [1]  # the next callback still ran
        return reported

    assert asyncio.run(main()) == ["a callback of an EagerFuture failed"]


def test_a_task_cancelled_while_waiting_sees_the_cancellation_once_it_is_set():
    async def main() -> None:
        loop = asyncio.get_running_loop()
        future: EagerFuture[int] = EagerFuture(loop)
        task = loop.create_task(_await(future))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.sleep(0)
        assert not task.done()  # still waiting: the future cannot be cancelled
        loop.call_soon(future.set, 1)  # set on the loop, outside this task's step
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


async def _await(future: EagerFuture[int]) -> int:
    return await future
