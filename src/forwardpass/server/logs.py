"""The server's log: one line per prediction, so what each line costs is on the hot path.

The line's format is "<time> <level> <logger> <message>" on stderr. Two things the logging
module does on every record were a large part of a prediction's own work in a profile:
filling in record fields the format never shows (the calling frame, thread and process) and
formatting the time with `time.strftime`. The first is switched off with the switches the
logging HOWTO names for it ("Optimization"); the second is done once a second.
"""

from __future__ import annotations

import logging
import time

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
        whole = int(record.created)
        second, text = self._second
        if second != whole:
            text = time.strftime(_SECONDS, self.converter(record.created))
            self._second = (whole, text)
        return _MSECS % (text, record.msecs)


def configure(level: str) -> None:
    """Log at `level` to stderr in FORMAT, without the record fields FORMAT never shows."""
    logging._srcfile = None  # no caller lookup: no frame walk per record
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(Formatter())
    logging.basicConfig(level=level.upper(), handlers=[handler])
