"""`AsyncDeployment`: the client for asyncio programs, the same names awaited."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sized
from typing import Any

import httpx

from forwardpass.client import frames
from forwardpass.client.core import RETRY_STATUSES, Core, Described, Options
from forwardpass.client.errors import ConnectionFailed
from forwardpass.client.progress import Bar


class AsyncDeployment(Described):
    """A deployment, called from asyncio code.

    >>> async with AsyncDeployment(url, token) as deployment:   # reads the spec
    ...     answer = await deployment.predict(Type="animal", Sound="woof", Size=0.9)
    ...     answers = await deployment.predict_many(rows)
    ...     async for answer in deployment.predict_lazy(rows): ...

    Options and errors are those of `Deployment`; `max_workers` requests run at once.
    """

    def __init__(self, url: str, token: str, **options: Any) -> None:
        self._core = Core(url, token, Options(**options))
        self._http = httpx.AsyncClient(
            headers=self._core.headers, timeout=self._core.options.timeout
        )

    async def load(self) -> AsyncDeployment:
        """Read the deployment's spec (`async with` does it)."""
        response = await self._request("GET", self._core.spec_url)
        self._core.load_spec(response.status_code, response.content)
        return self

    async def predict(self, **features: Any) -> dict[str, Any]:
        return (await self._send(self._core.prepare([features], 0)))[0]

    async def predict_many(self, items: Iterable[Any], *, progress: bool = False) -> Any:
        frame = items if frames.is_frame(items) else None
        rows = frames.rows_of(frame) if frame is not None else list(items)
        batches = list(self._core.batches(rows))
        results = [answer async for answer in self._run(batches, len(rows), progress)]
        return frames.frame_of(results, frame) if frame is not None else results

    async def predict_lazy(
        self, items: Iterable[Any], *, progress: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
        rows = frames.rows_of(items) if frames.is_frame(items) else items
        total = len(rows) if isinstance(rows, Sized) else None
        async for answer in self._run(self._core.batches(rows), total, progress):
            yield answer

    async def _run(
        self, batches: Iterable[list[dict[str, Any]]], total: int | None, progress: bool
    ) -> AsyncIterator[dict[str, Any]]:
        workers = self._core.options.max_workers
        pending: deque[asyncio.Task[list[dict[str, Any]]]] = deque()
        with Bar(progress, total) as bar:
            try:
                for batch in batches:
                    pending.append(asyncio.create_task(self._send(batch)))
                    while len(pending) >= workers:
                        answers = await pending.popleft()
                        bar.advance(len(answers))
                        for answer in answers:
                            yield answer
                while pending:
                    answers = await pending.popleft()
                    bar.advance(len(answers))
                    for answer in answers:
                        yield answer
            finally:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    async def _send(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        response = await self._request(
            "POST",
            self._core.url,
            content=self._core.body(rows),
            headers={"Content-Type": "application/json"},
        )
        return self._core.answer(response.status_code, response.content, len(rows))

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        retries = self._core.options.retries
        for attempt in range(retries + 1):
            try:
                response = await self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt == retries:
                    raise ConnectionFailed(f"{url}: {exc!r}") from exc
                await asyncio.sleep(self._core.delay(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and attempt < retries:
                await asyncio.sleep(self._core.delay(attempt, response.headers.get("retry-after")))
                continue
            return response
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncDeployment:
        try:
            return await self.load()
        except BaseException:
            await self.aclose()
            raise

    async def __aexit__(self, *_exc: Any) -> None:
        await self.aclose()
