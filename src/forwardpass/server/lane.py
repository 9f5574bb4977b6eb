"""forwardpass's HTTP protocol: uvicorn's httptools protocol with a fast lane for predictions.

Under load, uvicorn's ASGI machinery around each request (a RequestResponseCycle with its
Event, the receive and send messages and their header checks, two socket writes, then
Starlette's router) cost more than the prediction: measured side by side on one core, a
bare ASGI app answering a constant under uvicorn did 37,000 requests/s, and the same answer
written by a plain asyncio protocol 160,000. So the two prediction routes take a lane of
their own: the rows API's `POST /deployment/{id}/forward` and the Open Inference Protocol's
`POST /v2/models/{id}[/versions/{version}]/infer`. The protocol collects the body, the
route's `respond` (the same checks, limits, metrics and log line as its ASGI endpoint) runs
in a task, and the answer leaves in one write. Every other request, and a prediction
pipelined behind another request on its connection, goes the ASGI way as before.

The protocol uses uvicorn's internals (its parser callbacks, cycle, flow, server_state,
...): uvicorn_reach.py lists each one, and `forwardpass serve` runs this protocol only on a
uvicorn release the suite has passed on (else uvicorn's own). `FORWARDPASS_LANE=false` sends
predictions the ASGI way; the limits of server/edge.py stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import httptools
from starlette.datastructures import FormData
from starlette.requests import ClientDisconnect, Request
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from forwardpass.batching.future import EagerFuture
from forwardpass.errors import (
    BadData,
    ForwardpassError,
    HeadersTooLarge,
    Overloaded,
    RequestTimeout,
    UriTooLong,
)
from forwardpass.server.body import read_form, refuse_declared, too_large, wanted
from forwardpass.server.edge import LINGER_SECONDS, MAX_HEAD_BYTES, MAX_URL_BYTES, Edge
from forwardpass.server.oip.route import OipRoutes
from forwardpass.server.oip.route import error_reply as oip_error_reply
from forwardpass.server.reply import Reply, error_reply, reply_headers
from forwardpass.server.rows.route import ForwardRoute
from forwardpass.settings import Settings

_PREFIX, _SUFFIX = b"/deployment/", b"/forward"
_V2_PREFIX, _V2_SUFFIX, _VERSIONS = b"/v2/models/", b"/infer", "/versions/"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class ServerProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, TCP_NODELAY on, predictions on the lane, and the
    limits of server/edge.py on what a client may hold."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.route, self.oip = _routes(self.app)
        self.edge = Edge.of(self.route.settings if self.route else Settings())
        # With CORS on, a browser's request (it sends Origin) goes the ASGI way, where the
        # CORS middleware answers it (server/cors.py); the lane itself knows no CORS.
        self._cors = bool(self.route and self.route.settings.cors_origin_list)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._in_head = True  # a connection starts waiting for a request's head
        self._began = False  # some of that head has come
        self._fresh = False  # the head began in the data being parsed
        self._head_size = 0  # the head's URL and headers, as the parser hands them over
        self._head_raw = 0  # bytes received since, with what the parser still buffers
        self._in_body = False
        self._body_deadline = 0.0
        self._refusal: ForwardpassError | None = None
        self._skip_head = False  # parsing the stand-in head of an ignored Upgrade
        self._chunk_seen = False  # a chunk's size line was parsed in this data
        self._chunk_body = 0  # body bytes since that line, in this data

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
        if len(self.connections) > self.edge.max_connections:
            self.refuse(
                Overloaded(
                    "the server has too many open connections; try again later",
                    headers={"Retry-After": "1"},
                )
            )
            return
        self._head_timer = self.loop.call_later(self.edge.header_timeout, self._head_expired)

    def data_received(self, data: bytes) -> None:
        if self._linger is not None:
            return  # refused: what still comes is dropped
        self._unset_keepalive_if_required()
        self._chunk_seen = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            refusal, self._refusal = self._refusal, None
            if refusal is None:
                self.logger.warning("Invalid HTTP request received.")
                refusal = BadData(f"the request is not valid HTTP: {exc}")
            self.refuse(refusal)
            return
        except httptools.HttpParserUpgrade as exc:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._ignore_upgrade(data[exc.args[0] :])
            return
        self._watch(len(data), data)

    def _watch(self, size: int, data: bytes) -> None:
        """After parsing `data`: the head's size limit, and the timers of a request whose
        head or body is still to come. Armed only then: most requests arrive whole."""
        if self._in_head:
            if self._fresh:
                self._fresh = False  # part of this data may be the last request's body
            else:
                self._head_raw += size
                if self._head_raw > MAX_HEAD_BYTES + MAX_URL_BYTES:
                    self.refuse(_headers_too_large())
                    return
        elif self._in_body:
            if self._chunk_seen and isinstance(self.cycle, Exchange):
                self.cycle.expect(_chunk_size(data, len(data) - self._chunk_body), self._chunk_body)
            if self._body_timer is None:
                self._body_deadline = self.loop.time() + self.edge.body_timeout
                self._body_timer = self.loop.call_at(self._body_deadline, self._body_expired)
            return
        elif self.cycle is not None and not self.cycle.response_complete:
            return  # a request in flight: its answer, then keep-alive, time the connection
        if self._head_timer is None:
            # A head on its way, or bytes between requests that begin none (blank lines).
            self._head_timer = self.loop.call_later(self.edge.header_timeout, self._head_expired)

    def send_400_response(self, msg: str) -> None:
        self.refuse(BadData(f"the request is not valid HTTP: {msg}"))

    def refuse(self, error: ForwardpassError) -> None:
        """Answer `error` and end the connection: nothing more of it is read as a request.

        The connection lingers a moment, its input dropped, so that the answer is not lost
        to a reset when the client is still sending."""
        self._cancel_timers()
        transport = self.transport
        if transport.is_closing():
            return
        cycle = self.cycle
        if self._in_body and (cycle is None or cycle.response_complete):
            transport.close()  # answered already (early): only the rest of its body failed
            return
        # An inference request in flight is refused in its own protocol's error body
        # (asked before `lost()`, which may answer the request at once).
        infer = isinstance(cycle, Exchange) and cycle.infer and not cycle.response_complete
        if cycle is not None and not cycle.response_complete:
            # The request in flight can't get the rest of its body: it stops waiting, and
            # its answer, unless it has begun, goes nowhere; this one takes its place.
            if isinstance(cycle, Exchange):
                cycle.lost()
            else:
                cycle.disconnected = True
                cycle.message_event.set()
            if getattr(cycle, "response_started", False):  # half an ASGI answer is out
                transport.close()
                return
        status, extra, body = (oip_error_reply if infer else error_reply)(error)
        head = [STATUS_LINE[status]]
        for name, value in (
            *self.server_state.default_headers,
            *reply_headers(extra, body),
            (b"connection", b"close"),
        ):
            head += (name, b": ", value, b"\r\n")
        head += (b"\r\n", body)
        transport.write(b"".join(head))
        if transport.can_write_eof():
            transport.write_eof()
        self._linger = self.loop.call_later(LINGER_SECONDS, transport.close)

    # -- parser callbacks

    def on_message_begin(self) -> None:
        if self._skip_head:
            return
        super().on_message_begin()
        self._in_head = self._began = self._fresh = True
        self._head_size = self._head_raw = 0

    def on_url(self, url: bytes) -> None:
        if self._skip_head:
            return
        self.url += url
        if len(self.url) > MAX_URL_BYTES:
            self._refusal = UriTooLong(f"the request line is over {MAX_URL_BYTES} bytes")
            raise self._refusal

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._skip_head:
            return
        self._head_size += len(name) + len(value) + 4
        if self._head_size > MAX_HEAD_BYTES:
            self._refusal = _headers_too_large()
            raise self._refusal
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._skip_head:
            self._skip_head = False
            return
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._in_head = self._began = False
        way = self._lane()
        if way is None:
            super().on_headers_complete()  # raises for a URL it can't parse: no body then
            self._in_body = True
            return
        self._in_body = True
        exchange = Exchange(self, *way)
        self.cycle = exchange  # type: ignore[assignment]  # stands in the ASGI cycle's slot
        task = self.loop.create_task(exchange.run())
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def on_chunk_header(self) -> None:
        self._chunk_seen = True
        self._chunk_body = 0

    def on_chunk_complete(self) -> None:
        self._chunk_seen = False

    def on_body(self, body: bytes) -> None:
        self._chunk_body += len(body)
        if self._body_timer is not None:
            # Each byte buys 1/rate seconds, never more than a whole pause: a client can't
            # send fast first and then hold the connection on credit.
            now = self.loop.time()
            self._body_deadline = min(
                self._body_deadline + len(body) / (self.edge.body_min_rate or 1e-9),
                now + self.edge.body_timeout,
            )
        if isinstance(self.cycle, Exchange):
            self.cycle.feed(body)
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self.parser.should_upgrade() and not self._should_upgrade():
            return  # an Upgrade not taken: its body comes next (_ignore_upgrade)
        self._in_body = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        if isinstance(self.cycle, Exchange):
            self.cycle.complete()
        else:
            super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._linger is not None:
            self._linger.cancel()
        if isinstance(self.cycle, Exchange):
            self.cycle.lost()
            self.cycle = None  # type: ignore[assignment]
        super().connection_lost(exc)

    # -- the limits

    def _ignore_upgrade(self, rest: bytes) -> None:
        """Go on with a request whose Upgrade is not taken as if it had none.

        httptools tells its parser that an Upgrade request has no body and hands back the
        bytes after the head, so a prediction with an Upgrade header lost its body. A fresh
        parser is given a stand-in head with the request's own framing (Content-Length or
        Transfer-Encoding), then the rest: the body reaches the request as usual, and what
        follows it is parsed as the next request.
        """
        framing = [
            name + b": " + value
            for name, value in self.headers
            if name in (b"content-length", b"transfer-encoding")
        ]
        self.parser = httptools.HttpRequestParser(self)
        with contextlib.suppress(AttributeError):  # as uvicorn does, for pipelined requests
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self._skip_head = True
        self.data_received(b"\r\n".join([b"POST / HTTP/1.1", *framing, b"", b""]) + rest)

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # The next request's head waits behind an answer in progress.
            self._head_timer = self.loop.call_later(self.edge.header_timeout, self._head_expired)
        elif self._began:
            self.refuse(
                RequestTimeout(f"the request's headers took over {self.edge.header_timeout:g} s")
            )
        else:
            self.transport.close()  # a connection that never sent a request: nobody to tell

    def _body_expired(self) -> None:
        self._body_timer = None
        if not self._in_body or self.transport.is_closing():
            return
        now = self.loop.time()
        if self.flow.read_paused:
            # The app is not reading the body yet: the client can't be blamed for waiting.
            self._body_deadline = now + self.edge.body_timeout
        if now < self._body_deadline:
            self._body_timer = self.loop.call_at(self._body_deadline, self._body_expired)
            return
        self.refuse(
            RequestTimeout(
                f"the request body came too slowly: a pause over {self.edge.body_timeout:g} s "
                f"or under {self.edge.body_min_rate:g} bytes/s"
            )
        )

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None
        self._unset_keepalive_if_required()

    def _lane(self) -> tuple[str, bool, str | None] | None:
        """(deployment id, whether it is the protocol's infer, the version it names) if
        this request takes the lane, else None."""
        if self.route is None or self.root_path or self.limit_concurrency is not None:
            return None
        if not self.route.settings.lane:
            return None
        if self.cycle is not None and not self.cycle.response_complete:
            return None  # pipelined behind a request in flight: uvicorn queues it
        if self.parser.get_method() != b"POST" or self.parser.should_upgrade():
            return None
        url: bytes = self.url
        if url.startswith(_PREFIX) and url.endswith(_SUFFIX):
            ident, infer = url[len(_PREFIX) : -len(_SUFFIX)], False
        elif url.startswith(_V2_PREFIX) and url.endswith(_V2_SUFFIX) and self.oip is not None:
            ident, infer = url[len(_V2_PREFIX) : -len(_V2_SUFFIX)], True
        else:
            return None  # a query string, among others, takes the ASGI way
        if self._cors and any(name == b"origin" for name, _ in self.headers):
            return None
        if not ident.isascii():
            return None
        # The Starlette routes' {deployment_id} and {version}: one path segment each;
        # escapes go the ASGI way. Checked as str: `b"/" in ident` first tries the needle as
        # an int and raises and clears a TypeError inside, about 3,800 instructions each
        # (bench/PROFILE.md).
        text = ident.decode("ascii")
        if not text or "%" in text:
            return None
        version = None
        if infer and _VERSIONS in text:
            text, _, version = text.partition(_VERSIONS)
            if not text or not version or "/" in version:
                return None
        if "/" in text:
            return None
        return text, infer, version


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
        "infer",
        "keep_alive",
        "protocol",
        "response_complete",
        "version",
    )

    def __init__(
        self, protocol: ServerProtocol, deployment_id: str, infer: bool, version: str | None
    ) -> None:
        self.protocol = protocol
        self.deployment_id = deployment_id
        self.infer = infer
        self.version = version
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
        protocol, found = self.protocol, wanted(self.headers)
        if self.infer:
            assert protocol.oip is not None
            reply = await protocol.oip.respond(self.deployment_id, self.version, found, self)
        else:
            assert protocol.route is not None
            reply = await protocol.route.respond(self.deployment_id, found, self)
        self.answer(reply)

    # -- the body, as the route reads it (server/body.py's Body)

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

    def expect(self, chunk: int, arrived: int) -> None:
        """A chunk of `chunk` bytes has begun, `arrived` of them fed: a chunk past the
        limit is refused at once, not after the client has sent (or stalled) that much."""
        if not self._overflow and self._size - arrived + chunk > self._limit:
            self._overflow = True
            self._chunks.clear()
            self._wake()

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


def _headers_too_large() -> HeadersTooLarge:
    return HeadersTooLarge(f"the request's headers are over {MAX_HEAD_BYTES} bytes")


def _chunk_size(data: bytes, end: int) -> int:
    """The size on the chunk-size line that ends at `end` in `data`, which the parser has
    accepted (hex digits, then maybe ";extensions"); 0 if the line began in earlier data.

    httptools parses chunk sizes but does not tell them."""
    start = data.rfind(b"\n", 0, end - 2)
    if start < 0:
        return 0
    digits = data[start + 1 : end - 2].partition(b";")[0].strip()
    try:
        return int(digits, 16)
    except ValueError:
        return 0


def _routes(app: Any) -> tuple[ForwardRoute | None, OipRoutes | None]:
    """The prediction routes of the app uvicorn serves, under uvicorn's own middleware."""
    for _ in range(8):
        state = getattr(app, "state", None)
        route = getattr(state, "forward", None) if state is not None else None
        if isinstance(route, ForwardRoute):
            oip = getattr(state, "oip", None)
            return route, oip if isinstance(oip, OipRoutes) else None
        app = getattr(app, "app", None)
        if app is None:
            return None, None
    return None, None
