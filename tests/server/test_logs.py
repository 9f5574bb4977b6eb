"""The server's log handler: lines leave in batches, warnings at once, nothing is lost."""

from __future__ import annotations

import io
import logging

from forwardpass.server.logs import BufferedHandler, Formatter
from tests.support import wait_for


class Stream(io.StringIO):
    """A stream that remembers each write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def logger_to(stream: Stream, interval: float) -> tuple[logging.Logger, BufferedHandler]:
    handler = BufferedHandler(interval)
    handler.setStream(stream)
    handler.setFormatter(Formatter())
    log = logging.Logger("forwardpass.test", logging.INFO)
    log.addHandler(handler)
    return log, handler


def test_info_lines_are_written_together_within_the_interval():
    stream = Stream()
    log, handler = logger_to(stream, interval=0.2)
    try:
        for n in range(50):
            log.info("forward deployment=d status=200 rows=%d", n)
        assert stream.getvalue() == ""  # not one write per line
        text = wait_for(stream.getvalue, timeout=2)
        assert len(stream.writes) == 1
        assert [line.rsplit("=", 1)[1] for line in text.splitlines()] == [str(n) for n in range(50)]
    finally:
        handler.close()


def test_a_warning_is_written_at_once_after_the_lines_before_it():
    stream = Stream()
    log, handler = logger_to(stream, interval=60)
    try:
        log.info("first")
        log.warning("Redis is unreachable")
        lines = stream.getvalue().splitlines()
        assert lines[0].endswith("INFO forwardpass.test first")
        assert lines[1].endswith("WARNING forwardpass.test Redis is unreachable")
    finally:
        handler.close()


def test_close_writes_what_is_buffered_and_the_handler_still_works_after():
    stream = Stream()
    log, handler = logger_to(stream, interval=0.2)
    log.info("last words")
    handler.close()
    assert stream.getvalue().endswith("INFO forwardpass.test last words\n")
    # dictConfig (uvicorn's logging set-up) closes the handlers it finds and keeps them.
    log.info("and after")
    assert wait_for(lambda: "and after" in stream.getvalue(), timeout=2)
