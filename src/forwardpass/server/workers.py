"""`forwardpass serve --workers N`: N server processes sharing one listening socket.

Each worker is a whole server (its own deployment cache, ONNX Runtime sessions and
batchers) built by `app_from_env` from FORWARDPASS_* variables that the parent sets from
its own settings. ONNX Runtime gets `ort_threads` intra-op threads per model in each
worker; by default the usable cores divided by the workers (so one each with one worker
per core), because more threads than cores make ORT's spinning pool compete with the
event loop. Metrics use prometheus-client's multiprocess mode (see server/metrics.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
from dataclasses import fields

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from forwardpass.server.app import configure_logging
from forwardpass.server.metrics import MULTIPROCESS_DIR
from forwardpass.settings import Settings, env_name

# The stdlib loop: uvloop has been seen serving connections unfairly at saturation (a long
# p99 tail) on the machines forwardpass is benchmarked on (the speed issue reports it).
LOOP = "asyncio"


class NoDelayProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol with Nagle's algorithm off on every connection.

    With workers, uvicorn binds the shared socket itself without naming the TCP protocol,
    and asyncio then leaves TCP_NODELAY off on the connections it accepts: an answer's
    headers and body go out as two writes, and the second waits for the client's delayed
    ACK (about 40 ms a request, measured by bench/run.py before this).
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def run(config: Settings, workers: int) -> None:
    """`workers` processes sharing one socket, each a full server with its own cache and
    models. They get their settings as FORWARDPASS_* variables and count metrics in
    prometheus-client's multiprocess mode, so that /metrics sums over all of them."""
    configure_logging(config)
    for f in fields(Settings):
        os.environ[env_name(f.name)] = str(getattr(config, f.name))
    os.environ[env_name("workers")] = str(workers)
    made = None
    if not os.environ.get(MULTIPROCESS_DIR):
        made = os.environ[MULTIPROCESS_DIR] = tempfile.mkdtemp(prefix="forwardpass-metrics-")
    try:
        uvicorn.run(
            "forwardpass.server.app:app_from_env",
            factory=True,
            workers=workers,
            host=config.host,
            port=config.port,
            log_level=config.log_level,
            access_log=False,
            lifespan="on",
            loop=LOOP,
            http=NoDelayProtocol,
        )
    finally:
        if made:
            shutil.rmtree(made, ignore_errors=True)
