"""The model store: ONNX files named by the sha256 of their bytes, written atomically.

A file is written as `<sha256>.part` beside its target and renamed. The writer holds an
exclusive `flock` on it from creation until its registry row is committed, so that `clean`
(run when a server starts) can tell the leftovers of a crashed import (unlocked `.part`
files, and model files no row names) from an import under way in another process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from forwardpass.errors import RegistryUnavailable

log = logging.getLogger("forwardpass.registry")


class Store(Protocol):
    """Where model bytes live: a folder (`ModelStore`) or the registry database
    (`registry.database_store.DatabaseStore`)."""

    def path(self, sha256: str) -> Path:
        """A local file holding the bytes of `sha256`."""
        ...

    def put(self, data: bytes) -> str: ...

    def adding(self, data: bytes) -> AbstractContextManager[str]: ...

    def clean(self, recorded: Callable[[], set[str]]) -> list[Path]: ...

    def delete(self, sha256: str) -> None: ...


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        # (inode, size, mtime) of the files whose bytes were checked: hashed once each.
        self._checked: dict[str, tuple[int, int, int]] = {}
        self._checking = threading.Lock()

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.onnx"

    def put(self, data: bytes) -> str:
        """Store `data` (once, whatever the number of calls) and return its sha256."""
        with self.adding(data) as sha256:
            return sha256

    @contextmanager
    def adding(self, data: bytes) -> Iterator[str]:
        """Store `data` and yield its sha256; record it in the registry inside the block,
        where `clean` cannot take the file for an orphan."""
        sha256 = hashlib.sha256(data).hexdigest()
        try:
            fd = self._write_locked(self.path(sha256), data)
        except OSError as exc:
            raise RegistryUnavailable(
                f"cannot write to the model folder {self.root}: {exc.strerror or exc}"
            ) from None
        try:
            yield sha256
        finally:
            os.close(fd)  # and with it the lock

    def _write_locked(self, target: Path, data: bytes) -> int:
        """An open descriptor of `target`, locked, with `data` in it."""
        target.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                fd = os.open(target, os.O_RDONLY)
            except FileNotFoundError:
                break
            _lock(fd, fcntl.LOCK_SH)
            try:
                if os.fstat(fd).st_ino == os.stat(target).st_ino:
                    return fd  # already stored, and not removed while we waited
            except FileNotFoundError:
                pass
            os.close(fd)  # `clean` removed it while we waited: look again
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        try:
            _lock(fd, fcntl.LOCK_EX)
            with os.fdopen(os.dup(fd), "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            # Renamed while locked: a reader never sees half a file, `clean` never a live one.
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            os.close(fd)
            raise
        return fd

    def verified(self, sha256: str) -> Path | None:
        """The file of `sha256` if it is there and holds those bytes, else None."""
        target = self.path(sha256)
        try:
            stat = target.stat()
        except FileNotFoundError:
            return None
        seen = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._checking:
            if self._checked.get(sha256) == seen:
                return target
        digest = hashlib.sha256()
        try:
            with target.open("rb") as file:
                while block := file.read(1 << 20):
                    digest.update(block)
        except FileNotFoundError:
            return None
        if digest.hexdigest() != sha256:
            log.warning(
                "the cached model file %s does not hold its bytes; fetching it again", target
            )
            return None
        with self._checking:
            self._checked[sha256] = seen
        return target

    def fill(self, sha256: str, chunks: Iterable[bytes]) -> Path:
        """Write what `chunks` yields as the file of `sha256`, in place of what is there;
        nothing is written if the bytes do not hash to `sha256` (ValueError)."""
        target = self.path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        try:
            _lock(fd, fcntl.LOCK_EX)
            digest = hashlib.sha256()
            with os.fdopen(os.dup(fd), "wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha256:
                raise ValueError(f"the bytes of model {sha256[:12]} hash to {digest.hexdigest()}")
            os.replace(tmp, target)
            stat = os.fstat(fd)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        with self._checking:  # hashed while written: not again
            self._checked[sha256] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        return target

    def clean(self, recorded: Callable[[], set[str]]) -> list[Path]:
        """Remove what crashed imports left: `.part` files and model files that no row in
        `recorded()` (the sha256 of every model version) names. Returns what it removed."""
        removed: list[Path] = []
        known: set[str] | None = None
        for path in sorted(self.root.glob("??/*")):
            if path.suffix not in (".part", ".onnx"):
                continue
            if path.suffix == ".onnx":
                known = recorded() if known is None else known
                if path.stem in known:
                    continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue  # an import under way holds it
            try:
                # Asked again under the lock: an import may have committed since the first ask.
                if path.suffix == ".part" or path.stem not in recorded():
                    path.unlink(missing_ok=True)
                    removed.append(path)
            except OSError as exc:
                log.warning("could not remove %s: %s", path, exc)
            finally:
                os.close(fd)
        if removed:
            log.warning(
                "removed %d file(s) left by interrupted imports: %s",
                len(removed),
                ", ".join(p.name for p in removed),
            )
        return removed

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)


def _lock(fd: int, operation: int) -> None:
    # A folder without locks (some network filesystems) still takes imports: `clean`,
    # which cannot lock there either, then leaves every file alone.
    with contextlib.suppress(OSError):
        fcntl.flock(fd, operation)
