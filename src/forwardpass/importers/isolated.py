"""Converting a file a remote caller sent, in a child process with limits.

XGBoost, LightGBM and CatBoost parse their files in native code; a hostile file could
crash or exhaust the process that parses it. The server never does: a child process
converts the file under an address-space limit and a time limit, and hands back the ONNX
bytes, or its error, which the caller gets as the same error (400).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import forwardpass
from forwardpass.errors import BadData, ForwardpassError
from forwardpass.importers import trees
from forwardpass.model import signature as sig

#: The child's address space (native libraries and their thread pools reserve much of it).
MEMORY_MB = 8192
#: How long a conversion may take.
SECONDS = 120.0

# Exit 3: the conversion refused the file; its error is in the file named by the last
# argument, as JSON (the frameworks write their own lines to stderr).
_CHILD = """
import resource, sys
sys.path.insert(0, sys.argv[1])
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from forwardpass.importers import isolated
sys.exit(isolated.child(sys.argv[3:]))
"""


def convert(data: bytes, suffix: str, options: trees.Options) -> bytes:
    """The forwardpass model of `data` (a model file of `suffix`), converted in a child."""
    root = str(Path(forwardpass.__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / f"model{suffix}"
        source.write_bytes(data)
        target = Path(folder) / "model.onnx"
        settings = Path(folder) / "options.json"
        error = Path(folder) / "error.json"
        settings.write_text(
            json.dumps(
                {
                    "labels": list(options.labels or ()),
                    "target": options.target,
                    "signature": options.signature.to_dict() if options.signature else None,
                }
            )
        )
        try:
            done = subprocess.run(
                [
                    *(sys.executable, "-I", "-c", _CHILD, root, str(MEMORY_MB * 1024 * 1024)),
                    *(str(source), str(settings), str(target), str(error)),
                ],
                capture_output=True,
                timeout=SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BadData(f"the model was not converted within {SECONDS:g} s") from None
        if done.returncode == 0:
            return target.read_bytes()
        if done.returncode == 3 and error.is_file():
            raise BadData(str(json.loads(error.read_text())["message"]))
        raise BadData(
            f"the model could not be converted (the converter exited with status {done.returncode})"
        )


def child(args: list[str]) -> int:
    """The child's work: convert args[0] with the options in args[1], write args[2] (or
    the error to args[3])."""
    from forwardpass.importers import sources

    source, settings, target, error = map(Path, args)
    given = json.loads(settings.read_text())
    options = trees.Options(
        labels=tuple(given["labels"]) or None,
        target=given["target"],
        signature=sig.Signature.from_dict(given["signature"]) if given["signature"] else None,
    )
    try:
        target.write_bytes(sources.import_path(source, options))
    except ForwardpassError as exc:
        error.write_text(json.dumps({"code": exc.code, "message": exc.message}))
        return 3
    return 0
