"""Whether ONNX Runtime can load a model: tried once in a child process before it is stored.

A file can be valid ONNX and still not load: an operator of an unknown domain, a tensor
whose dimensions claim gigabytes its data lacks. Stored, such a model was deployed as
"enabled" and every prediction failed. The check creates the session the server would, in
a child process with an address-space limit and a time limit, so that a hostile file can
exhaust neither the server's memory nor its time. It costs a Python start and the import
of ONNX Runtime (about 0.3 s on an idle core) plus the session's own creation.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from forwardpass.errors import BadData

# Exit 3: ONNX Runtime refused the model, its reason on stderr. Any other failure (the
# memory limit, a crash of the runtime) is reported by its exit status.
_CHILD = """
import resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
data = sys.stdin.buffer.read()
import onnxruntime as ort
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
options.log_severity_level = 4
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
try:
    ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
except MemoryError:
    sys.stderr.write("it needs more memory than the limit")
    sys.exit(3)
except Exception as exc:
    sys.stderr.write(str(exc))
    sys.exit(3)
"""


def check(data: bytes, *, memory_mb: int, seconds: float) -> None:
    """Raise `BadData` with the runtime's reason unless ONNX Runtime loads `data` within
    `memory_mb` MiB of address space and `seconds`."""
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-c", _CHILD, str(memory_mb * 1024 * 1024)],
            input=data,
            capture_output=True,
            timeout=seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BadData(f"ONNX Runtime did not load the model within {seconds:g} s") from None
    if done.returncode == 0:
        return
    reason = done.stderr.decode(errors="replace").strip()
    if done.returncode == 3:
        # ORT prefixes its messages with the C++ source location, of no use to a client.
        reason = reason.split("] ", 1)[-1].split(" : ", 2)[-1]
        raise BadData(f"ONNX Runtime cannot load the model: {reason[:500]}")
    raise BadData(
        f"ONNX Runtime could not load the model within {memory_mb} MiB "
        f"(the loader exited with status {done.returncode})"
    )


def problem(path: Path, *, memory_mb: int, seconds: float) -> str | None:
    """Why ONNX Runtime cannot load the model file at `path`, or None if it can."""
    try:
        check(path.read_bytes(), memory_mb=memory_mb, seconds=seconds)
    except OSError as exc:
        return f"the model file cannot be read: {exc}"
    except BadData as exc:
        return exc.message
    return None
