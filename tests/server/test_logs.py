"""The server's log handler: lines leave in batches, warnings at once, nothing is lost."""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Iterator

import pytest

from forwardpass.server import logs
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


@pytest.fixture
def configured() -> Iterator[Stream]:
    """The server's logging set up as `forwardpass serve` does, into a Stream."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers = []  # pytest's own handlers: basicConfig adds none while any is there
    logs.configure("info")
    stream = Stream()
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    try:
        yield stream
    finally:
        root.handlers[0].close()
        root.handlers[:], root.level = saved
        logs._installed = None


def only_ours() -> None:
    """Drop the handlers pytest adds to the root logger for each test's call."""
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if isinstance(h, BufferedHandler)]


def test_request_lines_read_as_the_logging_modules_lines(configured: Stream) -> None:
    only_ours()
    made = time.time() - 3600
    logs.RequestLog("forwardpass.requests").lines(
        [(made, "forward deployment=d status=200"), (time.time(), "forward deployment=e")]
    )
    logging.getLogger("forwardpass.requests").info("forward deployment=d status=200")
    logging.getLogger().handlers[0].flush()
    direct, second, through = configured.getvalue().splitlines()
    assert direct[:19] == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(made))
    assert second.endswith(" INFO forwardpass.requests forward deployment=e")
    # "2026-11-27 07:26:14,801 INFO forwardpass.requests forward ...": all but the time
    assert (
        direct[23:] == through[23:] == " INFO forwardpass.requests forward deployment=d status=200"
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", direct[:23])


def test_a_request_line_goes_through_logging_when_another_handler_listens(
    configured: Stream, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="forwardpass.requests"):
        logs.RequestLog("forwardpass.requests").lines([(time.time(), "forward deployment=e")])
    assert [r.getMessage() for r in caplog.records] == ["forward deployment=e"]


def test_no_request_line_below_the_level(configured: Stream) -> None:
    only_ours()
    logging.getLogger().setLevel(logging.WARNING)
    logs.RequestLog("forwardpass.requests").lines([(time.time(), "forward deployment=f")])
    logging.getLogger().handlers[0].flush()
    assert configured.getvalue() == ""
