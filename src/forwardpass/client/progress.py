"""An optional progress bar (rich, on stderr) for long runs."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)


class Bar:
    """Counts rows; does nothing when not shown."""

    def __init__(self, shown: bool, total: int | None) -> None:
        self._progress: Progress | None = None
        if shown:
            self._progress = Progress(
                TextColumn("predicting"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._task = self._progress.add_task("rows", total=total)

    def __enter__(self) -> Bar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, rows: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, rows)
