"""`Deployment`: the synchronous client, with the sidekick client's names and more."""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable, Iterator, Sized
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from forwardpass.client import frames
from forwardpass.client.core import RETRY_STATUSES, Core, Described, Options
from forwardpass.client.errors import ConnectionFailed
from forwardpass.client.ordered import in_order
from forwardpass.client.progress import Bar


class Deployment(Described):
    """A deployment, called from Python.

    >>> deployment = Deployment(url, token)            # reads the deployment's spec
    >>> deployment.predict(Type="animal", Sound="woof", Size=0.9)
    {'Weight': 41.6...}
    >>> deployment.predict_many(rows)                  # batches of 128, in input order

    Keyword options are those of `forwardpass.client.Options` (`batch_size`, `max_workers`,
    `retries`, `backoff`, `max_backoff`, `timeout`, `validate`). Errors are the classes of
    `forwardpass.errors`, one per errorCode (`BadData`, `InvalidTokenError`, ...), each with
    `code`, `status` and `message`; `ConnectionFailed` when the server cannot be reached.
    """

    def __init__(self, url: str, token: str, **options: Any) -> None:
        self._core = Core(url, token, Options(**options))
        self._http = httpx.Client(headers=self._core.headers, timeout=self._core.options.timeout)
        # sidekick code never closes its client: free the connections when it is collected.
        self._closer = weakref.finalize(self, self._http.close)
        try:
            response = self._request("GET", self._core.spec_url)
            self._core.load_spec(response.status_code, response.content)
        except BaseException:
            self._closer()
            raise

    def predict(self, **features: Any) -> dict[str, Any]:
        """Predict one example given as keyword arguments."""
        return self._send(self._core.prepare([features], 0))[0]

    def predict_many(self, items: Iterable[Any], *, progress: bool = False) -> Any:
        """Predict every row (a dict per example, or a DataFrame); answers in input order.

        Every row is checked before the first request is sent. A DataFrame gives a DataFrame
        with the same index.
        """
        frame = items if frames.is_frame(items) else None
        rows = frames.rows_of(frame) if frame is not None else list(items)
        batches = list(self._core.batches(rows))
        results = list(self._run(batches, len(rows), progress))
        return frames.frame_of(results, frame) if frame is not None else results

    def predict_lazy(self, items: Iterable[Any], *, progress: bool = False) -> Iterator[Any]:
        """Predict rows as they come from `items`, yielding answers in input order."""
        rows = frames.rows_of(items) if frames.is_frame(items) else items
        total = len(rows) if isinstance(rows, Sized) else None
        yield from self._run(self._core.batches(rows), total, progress)

    def _run(
        self, batches: Iterable[list[dict[str, Any]]], total: int | None, progress: bool
    ) -> Iterator[dict[str, Any]]:
        workers = self._core.options.max_workers
        with Bar(progress, total) as bar:
            if workers == 1:
                for batch in batches:
                    answers = self._send(batch)
                    bar.advance(len(answers))
                    yield from answers
                return
            with ThreadPoolExecutor(workers, thread_name_prefix="forwardpass-client") as pool:
                yield from in_order(pool, self._send, batches, workers, bar.advance)

    def _send(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        response = self._request(
            "POST",
            self._core.url,
            content=self._core.body(rows),
            headers={"Content-Type": "application/json"},
        )
        return self._core.answer(response.status_code, response.content, len(rows))

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        retries = self._core.options.retries
        for attempt in range(retries + 1):
            try:
                response = self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt == retries:
                    raise ConnectionFailed(f"{url}: {exc!r}") from exc
                time.sleep(self._core.delay(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and attempt < retries:
                time.sleep(self._core.delay(attempt, response.headers.get("retry-after")))
                continue
            return response
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._closer()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()
