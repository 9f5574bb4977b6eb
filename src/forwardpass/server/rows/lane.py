"""forwardpass's HTTP protocol: uvicorn's httptools protocol with a fast lane for predictions.

Under load, uvicorn's ASGI machinery around each request (a RequestResponseCycle with its
Event, the receive and send messages and their header checks, two socket writes, then
Starlette's router) cost more than the prediction: measured side by side on one core, a
bare ASGI app answering a constant under uvicorn did 37,000 requests/s, and the same answer
written by a plain asyncio protocol 160,000. So `POST /deployment/{id}/forward` takes a
lane of its own: the protocol collects the body, the forward route's `respond` (the same
checks, limits, metrics and log line as its ASGI endpoint) runs in a task, and the answer
leaves in one write. Every other request, and a prediction pipelined behind another request
on its connection, goes the ASGI way as before.

The lane uses uvicorn's protocol attributes (cycle, pipeline, flow, server_state, ...),
which is why pyproject.toml holds uvicorn to a range the tests have run against.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import ClientDisconnect, Request
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from forwardpass.batching.future import EagerFuture
from forwardpass.server.reply import Reply, reply_headers
from forwardpass.server.rows.route import (
    ForwardRoute,
    read_form,
    refuse_declared,
    too_large,
    wanted,
)

_PREFIX, _SUFFIX = b"/deployment/", b"/forward"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class ServerProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, TCP_NODELAY on, predictions on the lane."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.route = _forward_route(self.app)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # With workers, uvicorn binds the shared socket itself without naming the TCP
        # protocol, and asyncio then leaves Nagle's algorithm on for the connections it
        # accepts: an answer written in two parts waited for the client's delayed ACK
        # (about 40 ms a request, measured by bench/run.py).
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

    def on_headers_complete(self) -> None:
        deployment_id = self._lane()
        if deployment_id is None:
            super().on_headers_complete()
            return
        exchange = Exchange(self, deployment_id)
        self.cycle = exchange  # type: ignore[assignment]  # stands in the ASGI cycle's slot
        task = self.loop.create_task(exchange.run())
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def on_body(self, body: bytes) -> None:
        if isinstance(self.cycle, Exchange):
            self.cycle.feed(body)
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if isinstance(self.cycle, Exchange):
            self.cycle.complete()
        else:
            super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(self.cycle, Exchange):
            self.cycle.lost()
            self.cycle = None  # type: ignore[assignment]
        super().connection_lost(exc)

    def _lane(self) -> str | None:
        """The deployment id if this request takes the lane, else None."""
        if self.route is None or self.root_path or self.limit_concurrency is not None:
            return None
        if self.cycle is not None and not self.cycle.response_complete:
            return None  # pipelined behind a request in flight: uvicorn queues it
        if self.parser.get_method() != b"POST" or self.parser.should_upgrade():
            return None
        url: bytes = self.url
        if not (url.startswith(_PREFIX) and url.endswith(_SUFFIX)):
            return None  # a query string, among others, takes the ASGI way
        ident = url[len(_PREFIX) : -len(_SUFFIX)]
        if not ident.isascii():
            return None
        # the Starlette route's {deployment_id}: one path segment; escapes go the ASGI way.
        # Checked as str: `b"/" in ident` first tries the needle as an int and raises and
        # clears a TypeError inside, about 3,800 instructions each (bench/PROFILE.md).
        text = ident.decode("ascii")
        if not text or "/" in text or "%" in text:
            return None
        return text


class Exchange:
    """One prediction on the lane: its body as it arrives, then its answer.

    It stands in the protocol's `cycle` slot, so that uvicorn's own pipelining, keep-alive
    and shutdown see a request in flight; `response_complete`, `keep_alive` and
    `disconnected` are the attributes they read and write.
    """

    __slots__ = (
        "_chunks",
        "_complete",
        "_continue",
        "_limit",
        "_overflow",
        "_size",
        "_waiter",
        "deployment_id",
        "disconnected",
        "headers",
        "keep_alive",
        "protocol",
        "response_complete",
    )

    def __init__(self, protocol: ServerProtocol, deployment_id: str) -> None:
        self.protocol = protocol
        self.deployment_id = deployment_id
        self.headers: list[tuple[bytes, bytes]] = protocol.headers
        parser = protocol.parser
        self.keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
        self.response_complete = False
        self.disconnected = False
        self._continue = protocol.expect_100_continue
        self._chunks: list[bytes] = []
        self._size = 0
        self._complete = False
        self._overflow = False
        # Set when the body is in: the route goes on in the same pass of the event loop.
        self._waiter: EagerFuture[None] | None = None
        # What the body may hold before the route asks for it: the deployment's own limit.
        assert protocol.route is not None
        self._limit = protocol.route.body_limit(deployment_id)

    async def run(self) -> None:
        route = self.protocol.route
        assert route is not None
        self.answer(await route.respond(self.deployment_id, wanted(self.headers), self))

    # -- the body, as the route reads it (forward.Body)

    async def read(self, limit: int, declared: str | None) -> bytes:
        refuse_declared(declared, limit)
        if not self._complete and not self._overflow and not self.disconnected:
            if self._continue:
                self._continue = False
                self.protocol.transport.write(_CONTINUE)
            self._waiter = EagerFuture(self.protocol.loop)
            await self._waiter
        if self._overflow or self._size > limit:
            raise too_large(limit)
        if self.disconnected:
            raise ClientDisconnect()
        return self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)

    async def form(self, limit: int, declared: str | None) -> FormData:
        raw = await self.read(limit, declared)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": raw, "more_body": False}

        return await read_form(Request({"type": "http", "headers": self.headers}, receive))

    def gone(self) -> bool:
        return self.disconnected

    # -- what the protocol tells it

    def feed(self, chunk: bytes) -> None:
        if self.response_complete or self._overflow:
            return  # answered early (or refused): the rest of the body is skipped
        self._size += len(chunk)
        if self._size > self._limit:
            self._overflow = True
            self._chunks.clear()
            self._wake()
        else:
            self._chunks.append(chunk)

    def complete(self) -> None:
        self._complete = True
        self._wake()

    def lost(self) -> None:
        self.disconnected = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None:
            self._waiter.set(None)

    # -- the answer

    def answer(self, reply: Reply) -> None:
        """Write the answer in one write, then let the protocol go on with the connection."""
        protocol = self.protocol
        transport = protocol.transport
        self.response_complete = True
        if self.disconnected or transport.is_closing():
            return
        status, extra, body = reply
        closes = False
        head = [STATUS_LINE[status]]
        for name, value in (*protocol.server_state.default_headers, *reply_headers(extra, body)):
            if name == b"connection" and b"close" in value.lower():
                closes = True
            head += (name, b": ", value, b"\r\n")
        # A body cut off at its limit is not read to its end: the connection can't go on.
        keep_alive = self.keep_alive and not closes and not self._overflow
        if not keep_alive and not closes:
            head.append(b"connection: close\r\n")
        head += (b"\r\n", body)
        transport.write(b"".join(head))
        if not keep_alive:
            transport.close()
        protocol.on_response_complete()


def _forward_route(app: Any) -> ForwardRoute | None:
    """The forward route of the app uvicorn serves, under uvicorn's own middleware."""
    for _ in range(8):
        state = getattr(app, "state", None)
        route = getattr(state, "forward", None) if state is not None else None
        if isinstance(route, ForwardRoute):
            return route
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None
