"""Forms as Starlette and python-multipart read them, their errors as ours: the one place
where those libraries' exceptions are translated (the rows API, the model upload, the
pages' posts)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from python_multipart.exceptions import FormParserError
from starlette.formparsers import MultiPartException

from forwardpass.errors import BadData


@contextmanager
def form_errors() -> Iterator[None]:
    """Turn a form that cannot be read (bad framing, too many parts, bad encoding) into
    BadData naming the problem; our own errors (a size limit) pass as they are."""
    try:
        yield
    except (MultiPartException, FormParserError, UnicodeDecodeError) as exc:
        raise BadData(f"the form could not be read: {exc}") from None
