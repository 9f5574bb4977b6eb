"""The HTTP floor: a bare ASGI app that answers every request with the same small JSON.

Run by bench/run.py under uvicorn; nothing of forwardpass is imported.
"""

from __future__ import annotations

from typing import Any

_BODY = b'{"rows":[{"Weight":1.0}]}'
_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json")],
}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:  # read the body, as a real server must
        more = (await receive()).get("more_body", False)
    await send(_START)
    await send({"type": "http.response.body", "body": _BODY})
