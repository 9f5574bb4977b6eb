"""Where one prediction's time went, for its `Server-Timing` header and the metrics.

The route starts a `Timing` when the request arrives; the deployment and the batcher write
the phases into it as they pass: decode (body and JSON in the route, then the decode call
of the batch it ran in: rows to columns), queue (waiting for the model thread), infer (the
ONNX Runtime call of its batch) and encode (the encode call of its batch, then the answer's
JSON in the route). A batch's calls count in full for each request in it. A plain object
with slots: one per request, no dict, no lock; the model thread writes it only while the
request waits for its answer.
"""

from __future__ import annotations

import time


class Timing:
    __slots__ = ("batch_rows", "decode", "encode", "infer", "queue", "started")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.decode = self.queue = self.infer = self.encode = 0.0
        self.batch_rows = 0  # rows in the model call this request was part of

    def header(self) -> str:
        """The `Server-Timing` value, durations in milliseconds."""
        return (
            f"decode;dur={self.decode * 1e3:.3f}, queue;dur={self.queue * 1e3:.3f}, "
            f"infer;dur={self.infer * 1e3:.3f}, encode;dur={self.encode * 1e3:.3f}"
        )
