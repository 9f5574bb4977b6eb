"""The one prediction function: every way in is a thin adapter over `Predictor.predict`.

A way in (the rows API's lane and ASGI route, the pages' Try it, another protocol) brings a
deployment id, the caller's credentials and a `Call`: how to read its body into rows within
the deployment's limits, whether its client is still there, and how to shape the answer.
`predict` does the rest in one order for all of them: find the deployment, check the token
and status, admit it under the rate limit (before any work), read the rows, run them through
the deployment's batcher, shape the answer, and record the outcome (usage, metrics, log)
once. Errors come out as `ForwardpassError` (or `Abandoned` when the client left); each way
in renders them in its own protocol's shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final, Protocol, TypeVar

from forwardpass.batching.run import Abandoned, Columns
from forwardpass.batching.timing import Timing
from forwardpass.errors import ForwardpassError
from forwardpass.serving.auth import authorize_header
from forwardpass.serving.guard import Guard
from forwardpass.serving.served import Live, ServedDeployments

T_co = TypeVar("T_co", covariant=True)

#: What `predict` records of each request: deployment id, HTTP status, rows, errorCode (None
#: on success), seconds, and seconds it waited for the model. 499 is a client that went
#: away, as nginx counts it.
Record = Callable[[str, int, int, str | None, float, float], None]


class _Admin:
    """Credentials checked by the caller: an admin's page session (Try it)."""

    def __repr__(self) -> str:
        return "ADMIN"


ADMIN: Final = _Admin()

#: The Authorization header's value (None when absent), or ADMIN.
Credentials = str | None | _Admin


class Call(Protocol[T_co]):
    """What a way in supplies for one prediction."""

    async def rows(self, live: Live) -> Any:
        """The request's rows (a list of objects as the contract has them, or `Columns` it
        decoded itself), read within `live.limits`; raises a ForwardpassError for a body it
        cannot take, `Abandoned` when the client has gone."""

    def gone(self) -> bool:
        """True once the client is known to have closed its connection."""

    def answer(self, rows: Any) -> T_co:
        """The answer in the way in's own shape (for example JSON bytes), timed as encode:
        from rows, or from the model's outputs for `Columns`."""


class Predictor:
    def __init__(self, served: ServedDeployments, guard: Guard, record: Record) -> None:
        self.served = served
        self.guard = guard
        self.record = record

    async def predict(
        self, deployment_id: str, credentials: Credentials, call: Call[T_co]
    ) -> tuple[T_co, Timing]:
        """The answer to one prediction request, and where its time went."""
        timing = Timing()
        status, count = 500, 0
        code: str | None = "InternalError"
        try:
            live = self._find(deployment_id, credentials)
            await self.guard.admit(live)
            rows = await call.rows(live)
            count = len(rows) if type(rows) is list else rows.count if type(rows) is Columns else 0
            answered = await live.predict(rows, timing, call.gone)
            encoding = time.perf_counter()
            answer = call.answer(answered)
            timing.encode += time.perf_counter() - encoding
            status, code = 200, None
            return answer, timing
        except ForwardpassError as exc:
            status, code = exc.status, exc.code
            raise
        except Abandoned:
            status, code = 499, "ClientDisconnect"
            raise
        finally:
            seconds = time.perf_counter() - timing.started
            self.record(deployment_id, status, count, code, seconds, timing.queue)

    def _find(self, deployment_id: str, credentials: Credentials) -> Live:
        if isinstance(credentials, _Admin):
            return authorize_header(self.served, None, deployment_id, token_checked=True)
        return authorize_header(self.served, credentials, deployment_id)
