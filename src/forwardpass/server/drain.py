"""A SIGTERM as a load balancer needs it: out of rotation first, then a graceful stop.

On the first SIGTERM, `/readyz` answers 503 at once while the server keeps serving for
`drain_seconds`, long enough for the load balancer (or Kubernetes' endpoints) to stop
sending it requests. Then uvicorn's own handler runs: it stops accepting, finishes every
request it accepted, and the app's shutdown flushes usage. A second SIGTERM stops at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from types import FrameType

log = logging.getLogger("forwardpass.server")


class Drain:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.draining = False

    def install(self) -> None:
        """Put the drain in front of the SIGTERM handler the server installed (call it
        from the app's startup, where uvicorn's handler is in place)."""
        if threading.current_thread() is not threading.main_thread() or self.seconds <= 0:
            return
        stop = signal.getsignal(signal.SIGTERM)
        if not callable(stop):
            return  # not under uvicorn's handler (an in-process test): nothing to delay
        loop = asyncio.get_running_loop()

        def on_term(sig: int, frame: FrameType | None) -> None:
            if self.draining:
                stop(sig, frame)
                return
            self.draining = True
            log.info(
                "SIGTERM: /readyz answers 503; serving on for %g s, then stopping", self.seconds
            )
            loop.call_soon_threadsafe(loop.call_later, self.seconds, stop, sig, None)

        signal.signal(signal.SIGTERM, on_term)
