"""A future whose callbacks run as soon as it is set.

An asyncio Future schedules its callbacks for the next pass of the event loop, so a Task
awaiting it goes on one pass (and one select call) after the result is in: at one
connection, a cost on every prediction's path (bench/PROFILE.md). An `EagerFuture` is set
on the event loop and runs its callbacks right there: the Task awaiting it goes on in the
same pass. The batcher answers with one; the HTTP lane waits for a body with one.

asyncio takes it as a future by the protocol `asyncio.isfuture` documents
(`_asyncio_future_blocking`). It cannot be cancelled: a Task cancelled while awaiting one
sees the CancelledError once the result is in.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Generator
from typing import Generic, TypeVar

T = TypeVar("T")

Callback = Callable[["EagerFuture[T]"], object]


class EagerFuture(Generic[T]):
    __slots__ = ("_asyncio_future_blocking", "_callbacks", "_done", "_loop", "_outcome")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._asyncio_future_blocking = False
        self._callbacks: list[tuple[Callback[T], contextvars.Context | None]] = []
        self._done = False
        self._outcome: T | BaseException | None = None

    def __await__(self) -> Generator[EagerFuture[T], None, T]:
        if not self._done:
            self._asyncio_future_blocking = True
            yield self
        return self.result()

    __iter__ = __await__

    def set(self, outcome: T | BaseException) -> None:
        """Set the result (an exception: raised to the awaiter) and run the callbacks now.
        Call it on the event loop, outside any Task's step."""
        if self._done:
            return
        self._outcome, self._done = outcome, True
        callbacks, self._callbacks = self._callbacks, []
        for fn, context in callbacks:
            try:
                if context is None:
                    fn(self)
                else:
                    context.run(fn, self)
            except Exception as exc:  # as the event loop treats a failing callback
                self._loop.call_exception_handler(
                    {"message": "a callback of an EagerFuture failed", "exception": exc}
                )

    # -- what asyncio asks of a future

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def done(self) -> bool:
        return self._done

    def cancelled(self) -> bool:
        return False

    def cancel(self, msg: object = None) -> bool:
        return False

    def result(self) -> T:
        if not self._done:
            raise asyncio.InvalidStateError("the result is not set yet")
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        return self._outcome  # type: ignore[return-value]

    def exception(self) -> BaseException | None:
        if not self._done:
            raise asyncio.InvalidStateError("the result is not set yet")
        return self._outcome if isinstance(self._outcome, BaseException) else None

    def add_done_callback(
        self, fn: Callback[T], *, context: contextvars.Context | None = None
    ) -> None:
        if self._done:
            self._loop.call_soon(fn, self, context=context)
        else:
            self._callbacks.append((fn, context))

    def remove_done_callback(self, fn: Callback[T]) -> int:
        kept = [(f, c) for f, c in self._callbacks if f != fn]
        removed = len(self._callbacks) - len(kept)
        self._callbacks = kept
        return removed
