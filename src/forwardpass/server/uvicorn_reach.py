"""Everything forwardpass's HTTP protocol (lane.py) reaches of uvicorn's internals, in one
place, and the check made at start that the installed uvicorn still has it.

`ServerProtocol` subclasses uvicorn's httptools protocol: it overrides its parser callbacks
and reads and writes its attributes, none of which uvicorn documents. Each reach is listed
here with why; `tests/server/test_uvicorn_reach.py` checks each one on the installed uvicorn.
`protocol()` picks the class `forwardpass serve` runs with: ServerProtocol when uvicorn's
version is one the suite has passed on and every reach is there, else uvicorn's own
httptools protocol (no lane, and uvicorn's own limits in place of server/edge.py's),
with a warning. `FORWARDPASS_LANE=false` keeps ServerProtocol's limits but sends every
prediction the ASGI way.
"""

from __future__ import annotations

import logging
from importlib.metadata import version

from uvicorn.protocols.http import httptools_impl

log = logging.getLogger("forwardpass.server")

#: uvicorn releases the whole suite has passed on: (major, minor) from, and before.
TESTED = ((0, 52), (0, 55))

#: Attributes of a HttpToolsProtocol instance that lane.py reads or writes.
ATTRIBUTES: dict[str, str] = {
    "app": "the ASGI app, to find the forward route under uvicorn's middleware",
    "cycle": "the request in flight; an Exchange stands in its slot on the lane",
    "loop": "the event loop, for the lane's task and the edge's timers",
    "parser": "the httptools parser: method, upgrade, keep-alive, and a fresh one after "
    "an ignored Upgrade",
    "transport": "the connection, written to in one write per answer",
    "tasks": "the protocol's running tasks, which a shutdown waits for",
    "url": "the request target as the parser gave it",
    "headers": "the request headers as a list of (name, value)",
    "root_path": "a root path sends predictions the ASGI way",
    "limit_concurrency": "uvicorn's own concurrency limit sends predictions the ASGI way",
    "flow": "flow control: a paused read does not count against a slow body",
    "server_state": "default headers (date, server, nosniff) and open connections",
    "connections": "the open connections, against the cap of server/edge.py",
    "logger": "uvicorn's error logger, for invalid HTTP",
    "expect_100_continue": "whether a 100 Continue is owed before the body",
}

#: Methods of HttpToolsProtocol that lane.py overrides (and calls through super()) or calls.
METHODS: dict[str, str] = {
    "connection_made": "overridden: TCP_NODELAY, the connection cap, the header timer",
    "data_received": "overridden: parse errors and ignored Upgrades answered here",
    "connection_lost": "overridden: the lane's request learns its client left",
    "on_message_begin": "overridden: a request's head begins",
    "on_url": "overridden: the request line's size limit",
    "on_header": "overridden: the headers' size limit",
    "on_headers_complete": "overridden: the lane takes a prediction here",
    "on_body": "overridden: the body's minimum rate; the lane's body",
    "on_message_complete": "overridden: the lane's body is complete",
    "send_400_response": "overridden: invalid HTTP answered in the contract's shape",
    "on_response_complete": "called: the lane's answer is out, keep-alive goes on",
    "handle_websocket_upgrade": "called: an Upgrade uvicorn would take",
    "_should_upgrade": "called: whether uvicorn would take an Upgrade",
    "_unset_keepalive_if_required": "called: the keep-alive timer, as uvicorn stops it",
}

#: Attributes of uvicorn's RequestResponseCycle that lane.py reads or writes.
CYCLE_ATTRIBUTES: dict[str, str] = {
    "response_complete": "whether the request in flight has its answer",
    "disconnected": "set when a refusal ends the connection under a request in flight",
    "message_event": "set then, so that the request stops waiting for its body",
    "response_started": "half an ASGI answer out: the connection can only be closed",
    "keep_alive": "whether the connection goes on after the answer",
}


def uvicorn_version() -> tuple[int, int]:
    major, minor = version("uvicorn").split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def missing() -> list[str]:
    """The reaches the installed uvicorn does not have (instance attributes are checked by
    the test suite on a real protocol; here, what the classes show)."""
    protocol = httptools_impl.HttpToolsProtocol
    found = [f"HttpToolsProtocol.{name}" for name in METHODS if not hasattr(protocol, name)]
    if not isinstance(getattr(httptools_impl, "STATUS_LINE", None), dict):
        found.append("httptools_impl.STATUS_LINE")
    return found


def unfit() -> str | None:
    """Why forwardpass's protocol cannot run on the installed uvicorn, or None."""
    low, high = TESTED
    found = uvicorn_version()
    if not low <= found < high:
        shown = ".".join(map(str, found))
        return (
            f"uvicorn {shown} is outside the releases forwardpass's HTTP protocol was tested "
            f"on ({low[0]}.{low[1]} to before {high[0]}.{high[1]})"
        )
    gone = missing()
    if gone:
        return f"the installed uvicorn lacks {', '.join(gone)}"
    return None


def protocol() -> type[httptools_impl.HttpToolsProtocol] | str:
    """The HTTP protocol `forwardpass serve` runs: forwardpass's own, or uvicorn's."""
    reason = unfit()
    if reason is not None:
        log.warning(
            "%s: serving with uvicorn's own HTTP protocol, without the prediction lane "
            "and the limits of server/edge.py (uvicorn's timeouts apply)",
            reason,
        )
        return "httptools"
    from forwardpass.server.lane import ServerProtocol

    return ServerProtocol
