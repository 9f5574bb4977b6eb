"""The model store: ONNX files named by the sha256 of their bytes, written atomically."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.onnx"

    def put(self, data: bytes) -> str:
        """Store `data` (once, whatever the number of calls) and return its sha256."""
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if target.exists():
            return sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename: a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha256

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)
