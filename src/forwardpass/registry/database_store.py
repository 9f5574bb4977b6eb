"""The database model store: model bytes in the registry itself, for nodes with empty disks.

A model's bytes go into `model_chunks` (`CHUNK_BYTES` each, so that models of hundreds of
MB pass any driver's limits) and its `model_blobs` row, in one transaction: a blob with a
row is whole. Each node fetches the bytes it loads once into a local cache folder, files
named by sha256 as in the folder store, checked against their sha256 before use: a cache
file that is missing or does not hold its bytes is fetched again.

Moving from the folder store is automatic: bytes the database lacks are taken from the
model folder (`FORWARDPASS_MODEL_DIR`) the first time a node needs them, checked, and stored.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from forwardpass.errors import RegistryUnavailable
from forwardpass.registry.records import utc_now
from forwardpass.registry.schema import model_blobs, model_chunks, models
from forwardpass.registry.store import ModelStore

log = logging.getLogger("forwardpass.registry")

CHUNK_BYTES = 4 * 1024 * 1024
#: A blob no model names is kept this long: the import that stored it may not have
#: committed its model row yet.
ORPHAN_GRACE = timedelta(hours=1)


class DatabaseStore:
    def __init__(self, engine: Engine, cache: ModelStore, folder: ModelStore | None = None) -> None:
        """`cache`: this node's copies; `folder`: a folder store to take missing bytes from."""
        self.engine = engine
        self.cache = cache
        self.folder = folder
        self._fetching = threading.Lock()

    def path(self, sha256: str) -> Path:
        """The cached file of `sha256`, fetched from the database if it is not there whole."""
        found = self.cache.verified(sha256)
        if found is not None:
            return found
        with self._fetching:  # one fetch of each model per process
            found = self.cache.verified(sha256)
            if found is not None:
                return found
            if not self.holds(sha256):
                self._adopt(sha256)
            log.info("fetching model %s from the registry database", sha256[:12])
            try:
                return self.cache.fill(sha256, self._chunks(sha256))
            except ValueError as exc:
                raise RegistryUnavailable(
                    f"the registry holds damaged model bytes: {exc}"
                ) from None
            except OSError as exc:
                raise RegistryUnavailable(
                    f"cannot write to the model cache {self.cache.root}: {exc.strerror or exc}"
                ) from None

    def holds(self, sha256: str) -> bool:
        with self.engine.connect() as connection:
            return (
                connection.execute(
                    sa.select(model_blobs.c.sha256).where(model_blobs.c.sha256 == sha256)
                ).first()
                is not None
            )

    def put(self, data: bytes) -> str:
        with self.adding(data) as sha256:
            return sha256

    @contextmanager
    def adding(self, data: bytes) -> Iterator[str]:
        """Store `data` (once, whatever the number of calls) and yield its sha256."""
        sha256 = hashlib.sha256(data).hexdigest()
        self._store(sha256, data)
        yield sha256

    def _store(self, sha256: str, data: bytes) -> None:
        count = max(1, -(-len(data) // CHUNK_BYTES))
        with self.engine.begin() as connection:
            # The row first: a second process storing the same bytes waits on it, then
            # finds it there and writes nothing.
            inserted = connection.execute(
                _insert(connection)
                .values(sha256=sha256, size_bytes=len(data), chunks=count, created_at=utc_now())
                .on_conflict_do_nothing()
                .returning(model_blobs.c.sha256)
            )
            if inserted.first() is None:
                return
            view = memoryview(data)
            for seq in range(count):
                piece = bytes(view[seq * CHUNK_BYTES : (seq + 1) * CHUNK_BYTES])
                connection.execute(model_chunks.insert().values(sha256=sha256, seq=seq, data=piece))

    def _chunks(self, sha256: str) -> Iterator[bytes]:
        with self.engine.connect() as connection:
            rows = connection.execution_options(yield_per=1).execute(
                sa.select(model_chunks.c.data)
                .where(model_chunks.c.sha256 == sha256)
                .order_by(model_chunks.c.seq)
            )
            for (data,) in rows:
                yield bytes(data)

    def _adopt(self, sha256: str) -> None:
        """Store bytes the database lacks from the model folder: the move from that store."""
        found = self.folder.verified(sha256) if self.folder is not None else None
        if found is None:
            where = f" nor in the model folder {self.folder.root}" if self.folder else ""
            raise RegistryUnavailable(
                f"the bytes of model {sha256[:12]} are neither in the registry database{where}"
            )
        log.info("storing model %s from %s in the registry database", sha256[:12], found)
        self._store(sha256, found.read_bytes())

    def clean(self, recorded: Callable[[], set[str]]) -> list[Path]:
        """Remove blobs no model names (left by imports that failed) and cached files of
        models that are gone."""
        with self.engine.begin() as connection:
            connection.execute(
                model_blobs.delete().where(
                    model_blobs.c.created_at < utc_now() - ORPHAN_GRACE,
                    model_blobs.c.sha256.not_in(sa.select(models.c.sha256)),
                )
            )
        return self.cache.clean(recorded)

    def delete(self, sha256: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                model_blobs.delete().where(
                    model_blobs.c.sha256 == sha256,
                    ~sa.exists().where(models.c.sha256 == sha256),
                )
            )
        self.cache.delete(sha256)


def _insert(connection: Connection) -> Any:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(model_blobs)
