"""The HTTP floor below ASGI: an asyncio protocol on httptools answering a constant.

What the lane of `forwardpass serve` (server/lane.py) could at best cost for HTTP,
next to bench/floor.py, which is the same answer through uvicorn's ASGI machinery. Run
by bench/run.py as `python bench/protocol_floor.py PORT`; nothing of forwardpass is used.
"""

from __future__ import annotations

import asyncio
import sys

import httptools

_BODY = b'{"rows":[{"Weight":1.0}]}'
_ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(_BODY),
    _BODY,
)


class Floor(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_complete(self) -> None:  # the body is read (and dropped) by the parser
        self.transport.write(_ANSWER)
        if not self.parser.should_keep_alive():
            self.transport.close()


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Floor, "127.0.0.1", port)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
