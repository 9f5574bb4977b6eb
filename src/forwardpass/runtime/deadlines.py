"""Deadlines for model calls: ONNX Runtime ends a run whose time is up.

A graph can run for ever (a Loop whose condition stays true). ORT checks a run's
`RunOptions.terminate` between nodes and between a Loop's iterations; one watchdog thread
per process sets it on the runs past their deadline. A run only registers its options
under a lock (no thread, no wake-up per call: the watchdog looks every `tick` seconds), so
a run ends between its deadline and one tick later.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import onnxruntime as ort


class Deadlines:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, tuple[float, ort.RunOptions]] = {}
        self._tick = 1.0
        self._watchdog: threading.Thread | None = None

    @contextlib.contextmanager
    def run(self, seconds: float) -> Iterator[ort.RunOptions]:
        """The options of one run that must end within `seconds`; `terminate` is set on
        them once the time is up (or at `end_all`)."""
        options = ort.RunOptions()
        # The terminate flag makes ORT log an error of its own; the caller reports it.
        options.log_severity_level = 4
        key = id(options)
        with self._lock:
            self._running[key] = (time.monotonic() + seconds, options)
            # A tenth of the shortest timeout seen, so that a short one is kept well.
            self._tick = min(self._tick, max(0.01, seconds / 10))
            if self._watchdog is None:
                self._watchdog = threading.Thread(
                    target=self._watch, name="forwardpass-deadlines", daemon=True
                )
                self._watchdog.start()
        try:
            yield options
        finally:
            with self._lock:
                self._running.pop(key, None)

    def end_all(self) -> None:
        """End every run now (at shutdown: nothing waits for a model)."""
        with self._lock:
            for _, options in self._running.values():
                options.terminate = True

    def _watch(self) -> None:
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:
                for deadline, options in self._running.values():
                    if deadline <= now:
                        options.terminate = True


#: The one watchdog of this process.
DEADLINES = Deadlines()
