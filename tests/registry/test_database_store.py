"""The database model store: bytes in the registry, a checked cache on each node."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from forwardpass.errors import RegistryUnavailable
from forwardpass.registry import Registry, database_store
from forwardpass.registry.database_store import DatabaseStore
from forwardpass.registry.schema import model_chunks
from forwardpass.registry.store import ModelStore
from forwardpass.settings import Settings


@pytest.fixture(scope="module")
def demo_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from tests.models import demo_model

    return demo_model(tmp_path_factory.mktemp("m") / "weight.onnx").read_bytes()


@pytest.fixture
def node(database_url: str, tmp_path: Path):
    """Open the registry as a node with its own data dir, model bytes in the database."""
    opened: list[Registry] = []

    def open_(name: str) -> Registry:
        settings = Settings(
            data_dir=tmp_path / name, database_url=database_url, model_store="database"
        )
        if not database_url:  # one SQLite registry shared by the "nodes"
            settings = Settings(
                data_dir=tmp_path / name,
                database_url=f"sqlite:///{tmp_path / 'shared.sqlite3'}",
                model_store="database",
            )
        found = Registry.open(settings)
        opened.append(found)
        return found

    yield open_
    for found in opened:
        found.close()


def test_a_model_added_on_one_node_loads_on_another_in_chunks(node, demo_bytes, monkeypatch):
    monkeypatch.setattr(database_store, "CHUNK_BYTES", 1 << 20)
    first, second = node("one"), node("two")
    version = first.add_model(demo_bytes, "weight")
    with second.engine.connect() as connection:
        chunks = connection.execute(
            sa.select(sa.func.count()).where(model_chunks.c.sha256 == version.sha256)
        ).scalar_one()
    assert chunks == -(-len(demo_bytes) // (1 << 20)) > 1
    path = second.store.path(version.sha256)
    assert path.read_bytes() == demo_bytes
    assert path.is_relative_to(second.store.cache.root)
    # The same bytes again store nothing twice.
    assert first.add_model(demo_bytes, "weight").id == version.id


def test_a_damaged_or_missing_cache_file_is_fetched_again(node, demo_bytes):
    registry = node("one")
    sha = registry.add_model(demo_bytes, "weight").sha256
    path = registry.store.path(sha)
    path.write_bytes(b"\x00" * len(demo_bytes))  # same size, other bytes
    assert registry.store.path(sha).read_bytes() == demo_bytes
    path.unlink()
    assert registry.store.path(sha).read_bytes() == demo_bytes


def test_bytes_only_in_the_model_folder_move_to_the_database(database_url, tmp_path, demo_bytes):
    folder = ModelStore(tmp_path / "models")
    sha = folder.put(demo_bytes)
    registry = Registry.open(Settings(data_dir=tmp_path, database_url=database_url))
    try:
        store = DatabaseStore(registry.engine, ModelStore(tmp_path / "cache"), folder)
        assert not store.holds(sha)
        assert store.path(sha).read_bytes() == demo_bytes
        assert store.holds(sha)
        with pytest.raises(RegistryUnavailable, match="neither in the registry database"):
            store.path("0" * 64)
    finally:
        registry.close()


def test_deleting_the_last_model_of_some_bytes_removes_them(node, demo_bytes):
    registry = node("one")
    version = registry.add_model(demo_bytes, "weight")
    registry.add_model(demo_bytes, "copy")
    registry.delete_model("weight:1")
    assert registry.store.holds(version.sha256)  # "copy:1" still names them
    registry.delete_model("copy:1")
    assert not registry.store.holds(version.sha256)
