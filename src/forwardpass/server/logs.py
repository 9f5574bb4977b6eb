"""The server's log: one line per prediction, so what each line costs is on the hot path.

The line's format is "<time> <level> <logger> <message>" on stderr. Three things the logging
module does on every record were a large part of a prediction's own work in profiles:
filling in record fields the format never shows (the calling frame, thread and process),
formatting the time with `time.strftime`, and writing each line to stderr at once (a system
call per request, during which the model thread takes the interpreter: a fifth of the app's
time at 64 connections on one core). The first is switched off with the switches the logging
HOWTO names for it ("Optimization"); the second is done once a second; lines are written in
one write per `FLUSH_SECONDS`, at once for a warning or worse.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# logging.Formatter's own defaults for the time: "2026-01-31 12:00:00,123"
_SECONDS, _MSECS = "%Y-%m-%d %H:%M:%S", "%s,%03d"


class Formatter(logging.Formatter):
    """logging.Formatter with the same default time format, its seconds part made once a
    second instead of once a record."""

    def __init__(self, fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        # (whole second, its text): one tuple, replaced at once, so that threads logging
        # together never see a second with another second's text.
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return self.stamp(record.created, record.msecs)

    def stamp(self, created: float, msecs: float) -> str:
        """The time as formatTime writes it by default."""
        whole = int(created)
        second, text = self._second
        if second != whole:
            text = time.strftime(_SECONDS, self.converter(created))
            self._second = (whole, text)
        return _MSECS % (text, msecs)


# A line waits at most this long in the buffer; a crash loses at most that much of the log.
FLUSH_SECONDS = 0.2
_FLUSH_BYTES = 64 * 1024


class BufferedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that writes its lines in one write every FLUSH_SECONDS.

    A record at WARNING or above, a buffer past 64 KiB, `flush()` and `close()` (which
    logging calls at exit) write everything at once. A daemon thread flushes on the timer
    for as long as the handler exists: like StreamHandler, it keeps working after `close()`,
    which `logging.config.dictConfig` (run by uvicorn at start) calls on handlers it keeps.
    """

    def __init__(self, interval: float = FLUSH_SECONDS) -> None:
        super().__init__()
        self._lines: list[str] = []
        self._size = 0
        threading.Thread(
            target=_flush_every,
            args=(weakref.ref(self), interval),
            name="forwardpass-log",
            daemon=True,
        ).start()

    def emit(self, record: logging.LogRecord) -> None:
        # Handler.handle holds self.lock around this call.
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._lines.append(line)
        self._size += len(line)
        if record.levelno >= logging.WARNING or self._size >= _FLUSH_BYTES:
            self._write()

    def append(self, line: str) -> None:
        """Lines formatted by the caller (RequestLog), below WARNING."""
        with self.lock:  # type: ignore[union-attr]
            self._lines.append(line)
            self._size += len(line)
            if self._size >= _FLUSH_BYTES:
                self._write()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write()

    def close(self) -> None:
        self.flush()
        super().close()

    def _write(self) -> None:
        if not self._lines:
            return
        text = "".join(self._lines)
        self._lines.clear()
        self._size = 0
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:
            pass  # as logging does with raiseExceptions off: a log write never fails a request


def _flush_every(handler: weakref.ref[BufferedHandler], interval: float) -> None:
    while True:
        time.sleep(interval)
        alive = handler()
        if alive is None:
            return
        alive.flush()
        del alive


class RequestLog:
    """A logger's INFO lines, one per prediction, written many at a time.

    Through the logging module a line costs a LogRecord, the dispatch to handlers and the
    formatting: several microseconds. When the lines would reach only the BufferedHandler
    that `configure` installed (no other handler or filter on their way, INFO enabled),
    they are formatted here, to the same text with the time each was made, and appended
    to that handler at once; otherwise each goes through `logger.info`.
    """

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)
        self._prefix = f" INFO {name} "

    def lines(self, made: list[tuple[float, str]]) -> None:
        """Log each (time.time() when it happened, message)."""
        handler = _installed
        if handler is None or not self._direct(handler):
            for _, message in made:
                self.logger.info("%s", message)
            return
        formatter = handler.formatter
        assert isinstance(formatter, Formatter)
        prefix, end = self._prefix, handler.terminator
        handler.append(
            "".join(
                formatter.stamp(created, int((created - int(created)) * 1000))
                + prefix
                + message
                + end
                for created, message in made
            )
        )

    def _direct(self, handler: BufferedHandler) -> bool:
        if not self.logger.isEnabledFor(logging.INFO) or handler.level > logging.INFO:
            return False
        if handler.filters or not isinstance(handler.formatter, Formatter):
            return False
        node: logging.Logger | None = self.logger
        while node is not None:
            if node.filters:
                return False
            if node is logging.root:
                return len(node.handlers) == 1 and node.handlers[0] is handler
            if node.handlers or not node.propagate:
                return False
            node = node.parent
        return False


_installed: BufferedHandler | None = None


def configure(level: str) -> None:
    """Log at `level` to stderr in FORMAT, without the record fields FORMAT never shows."""
    logging._srcfile = None  # no caller lookup: no frame walk per record
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    global _installed
    handler = BufferedHandler()
    handler.setFormatter(Formatter())
    logging.basicConfig(level=level.upper(), handlers=[handler])
    _installed = handler
