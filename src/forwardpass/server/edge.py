"""What a client may hold of a server before its request reaches the app.

A red team held 1,124 idle or trickling connections, sent a 26 MB URL and a 64 MB header
block: each cost the server memory, a file descriptor or log space without a token. The
HTTP protocol (server/lane.py) enforces these limits as the bytes arrive:

- a request's line and headers must arrive within `header_timeout` seconds, and a new
  connection must start one within that time (408, or a plain close if nothing came);
- a body may pause at most `body_timeout` seconds and must average `body_min_rate` bytes a
  second after its first `body_timeout` seconds (408);
- a request line over MAX_URL_BYTES gets 414, headers over MAX_HEAD_BYTES 431;
- beyond `max_connections` open connections, new ones get 503.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

from forwardpass.settings import Settings

# Common servers allow 8 KiB (nginx's large_client_header_buffers, Apache's
# LimitRequestLine): browsers and clients stay far below it.
MAX_URL_BYTES = 8 * 1024
# All the headers of a request: long cookies and tokens fit many times over.
MAX_HEAD_BYTES = 64 * 1024
# File descriptors a worker keeps for itself beyond connections: models, the registry,
# logs, Redis, the listening socket.
FD_RESERVE = 128
# After a refusal, how long the rest of what the client sends is read and dropped, so that
# closing does not reset the connection before the client reads the answer.
LINGER_SECONDS = 2.0
# Headers on every answer, the prediction lane's included (uvicorn's `headers` option).
RESPONSE_HEADERS = [("X-Content-Type-Options", "nosniff")]


@dataclass(frozen=True)
class Edge:
    header_timeout: float
    body_timeout: float
    body_min_rate: float
    max_connections: int

    @classmethod
    def of(cls, settings: Settings) -> Edge:
        return cls(
            header_timeout=settings.header_timeout,
            body_timeout=settings.body_timeout,
            body_min_rate=float(settings.body_min_rate),
            max_connections=connection_cap(settings.max_connections),
        )


def connection_cap(setting: int) -> int:
    """The connections a process may hold: the setting, within the open-file limit.

    Past that limit accept() fails and the event loop stops accepting for a second at a
    time, health checks included; refusing with 503 first keeps the server answering.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    by_files = 1_000_000 if soft == resource.RLIM_INFINITY else soft - FD_RESERVE
    return max(1, min(setting, by_files) if setting else by_files)
