"""The converters are optional extras: imported when an import needs them, never by serving."""

from __future__ import annotations

import importlib
from types import ModuleType

from forwardpass.errors import BadData


def need(module: str, extra: str, what: str) -> ModuleType:
    """Import `module`, or say which `pip install` line brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise BadData(
            f"importing {what} needs the {module} package: pip install 'forwardpass[{extra}]'"
        ) from None
