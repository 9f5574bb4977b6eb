"""Giving freed memory back to the system after a large image decode.

glibc keeps what a thread frees in that thread's arena for reuse instead of returning it:
after two requests of eight 7000x7000 PNGs the server still held 5 GiB ten seconds later,
with no request in flight. `malloc_trim` hands the free pages of every arena back. Fixing
the mmap threshold instead (so that large blocks are unmapped when freed) gave the memory
back as well, but made each large decode about 30% slower: every block then starts as
fresh pages to fault in and zero.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Callable

#: Trim after a request that decoded at least this many pixels at once (64 MiB as RGBA).
TRIM_PIXELS = 16_000_000

_lock = threading.Lock()


def _find_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return None
    return trim


_trim = _find_trim()


def give_back(pixels: int) -> None:
    """Return free heap memory to the system if `pixels` decoded pixels were just freed."""
    if _trim is None or pixels < TRIM_PIXELS:
        return
    # One trim at a time: a second one at once would find nothing left to return.
    if _lock.acquire(blocking=False):
        try:
            _trim(0)
        finally:
            _lock.release()
