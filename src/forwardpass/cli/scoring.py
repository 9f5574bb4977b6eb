"""The rows of `forwardpass predict`, scored in batches through the client, each bad row
singled out and named by its place in the file."""

from __future__ import annotations

import functools
import re
from collections.abc import Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from forwardpass.client import Deployment
from forwardpass.client.ordered import in_order
from forwardpass.client.progress import Bar
from forwardpass.errors import ForwardpassError

#: The statuses of an error that is one row's fault (its data, its size): other rows go on.
ROW_STATUSES = (400, 413)
_ROW = re.compile(r"^row (\d+)")


@dataclass
class Record:
    """One row of the file: where it is, its inputs, the columns kept beside its answer."""

    where: str  # "line 3", "item 2": as the file counts
    row: Any
    kept: dict[str, Any] = field(default_factory=dict)
    answer: dict[str, Any] | None = None
    error: ForwardpassError | None = None
    message: str = ""  # the error's, naming this row's place in the file, not its index

    def fail(self, error: ForwardpassError) -> None:
        self.error = error
        self.message = _ROW.sub(self.where, error.message, count=1)
        if self.message == error.message:
            joint = ", " if error.message.startswith("feature ") else ": "
            self.message = f"{self.where}{joint}{error.message}"


def scored(
    deployment: Deployment,
    records: Iterable[Record],
    *,
    batch_size: int,
    workers: int,
    bar: Bar,
) -> Generator[Record, None, None]:
    """Each record with its answer or its error, in file order; `workers` requests at once.

    An error that is not a row's (a wrong token, a server out of reach) is raised."""
    rest = iter(records)
    batches = iter(lambda: list(islice(rest, batch_size)), [])
    with ThreadPoolExecutor(workers, thread_name_prefix="forwardpass-predict") as pool:
        score = functools.partial(_score, deployment)
        yield from in_order(pool, score, batches, workers, bar.advance)


def _score(deployment: Deployment, batch: list[Record]) -> list[Record]:
    """Answer the batch's rows; a row at fault gets its error and the others are sent again
    without it (the error names it), or one by one when the error names no row."""
    waiting = [r for r in batch if r.error is None]
    while waiting:
        try:
            answers = deployment.predict_many([r.row for r in waiting])
        except ForwardpassError as exc:
            if exc.status not in ROW_STATUSES:
                raise
            named = _ROW.match(exc.message)
            if len(waiting) == 1:
                waiting.pop().fail(exc)
            elif named and int(named[1]) < len(waiting):
                waiting.pop(int(named[1])).fail(exc)
            else:
                for record in waiting:
                    _score(deployment, [record])
                return batch
            continue
        for record, answer in zip(waiting, answers, strict=True):
            record.answer = answer
        break
    return batch
