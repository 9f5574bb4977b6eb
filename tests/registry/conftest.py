"""The registry of each test, on SQLite and on the real PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from forwardpass.importers import onnx as importer
from forwardpass.registry import Registry
from forwardpass.settings import Settings
from tests import models


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """The test's backend: "" for SQLite in its data dir, or a fresh PostgreSQL database."""
    return str(request.getfixturevalue("postgres_url")) if request.param == "postgres" else ""


@pytest.fixture
def open_registry(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Registry]]:
    """Open the test's registry with some settings (a plan, say); closed after the test."""
    opened: list[Registry] = []

    def open_(**settings: Any) -> Registry:
        found = Registry.open(Settings(data_dir=tmp_path, database_url=database_url, **settings))
        opened.append(found)
        return found

    yield open_
    for found in opened:
        found.close()


@pytest.fixture
def registry(open_registry: Callable[..., Registry]) -> Registry:
    return open_registry()


def add_scaled(registry: Registry, folder: Path, *versions: tuple[float, int]) -> None:
    """Versions of model "scaled" (y = factor * x, x of `width` numbers), in order."""
    for factor, width in versions:
        path = models.scaled(folder / f"scaled-{factor}-{width}.onnx", factor, width)
        registry.add_model(importer.import_bytes(path.read_bytes()), "scaled")
