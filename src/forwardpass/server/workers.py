"""`forwardpass serve --workers N`: N server processes sharing one listening socket.

Each worker is a whole server (its own deployment cache, ONNX Runtime sessions and
batchers) built by `app_from_env` from FORWARDPASS_* variables that the parent sets from
its own settings. ONNX Runtime gets `ort_threads` intra-op threads per model in each
worker; by default the usable cores divided by the workers (so one each with one worker
per core), because more threads than cores make ORT's spinning pool compete with the
event loop. Metrics use prometheus-client's multiprocess mode (see server/metrics.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import fields
from typing import Any

import uvicorn

from forwardpass.server import edge, uvicorn_reach
from forwardpass.server.app import configure_logging
from forwardpass.server.metrics import MULTIPROCESS_DIR
from forwardpass.settings import Settings, env_name

# The stdlib loop: uvloop has been seen serving connections unfairly at saturation (a long
# p99 tail) on the machines forwardpass is benchmarked on (the speed issue reports it).
LOOP = "asyncio"


def uvicorn_options(config: Settings) -> dict[str, Any]:
    """How uvicorn serves forwardpass, one process or several: the one place for it."""
    return {
        "host": config.host,
        "port": config.port,
        "log_level": config.log_level,
        "access_log": False,  # one line per prediction comes from forwardpass itself
        "lifespan": "on",
        "loop": LOOP,
        "http": uvicorn_reach.protocol(),
        # On every answer, the lane's and the refusals' included (they write these too).
        "headers": edge.RESPONSE_HEADERS,
        # uvicorn waits for requests in flight before the app's shutdown, which is what stops
        # model calls still running: without a bound, a long run timeout held a SIGTERM.
        "timeout_graceful_shutdown": config.shutdown_timeout,
    }


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
            **uvicorn_options(config),
        )
    finally:
        if made:
            shutil.rmtree(made, ignore_errors=True)
