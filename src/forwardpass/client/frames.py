"""pandas in and out, when pandas is installed: a DataFrame of inputs gives one of outputs."""

from __future__ import annotations

from typing import Any


def is_frame(items: Any) -> bool:
    return type(items).__name__ == "DataFrame" and hasattr(items, "to_dict")


def rows_of(frame: Any) -> list[dict[str, Any]]:
    return list(frame.to_dict("records"))


def frame_of(rows: list[dict[str, Any]], like: Any) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, index=like.index)
