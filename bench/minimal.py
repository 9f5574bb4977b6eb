"""A hand-written minimal prediction server: the bar forwardpass is measured against.

orjson, one numpy column per graph input, ONNX Runtime called on the event loop; no auth,
no validation, no batching, no logging. The model file comes from BENCH_MODEL; its string
inputs get object columns, the others float32. Answers {"rows": [{OUTPUT_NAME: value}]}
with BENCH_OUTPUT as the name (the forwardpass deployment's output feature).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson

_options = ort.SessionOptions()
_options.intra_op_num_threads = 1
_options.inter_op_num_threads = 1
_session = ort.InferenceSession(
    os.environ["BENCH_MODEL"], _options, providers=["CPUExecutionProvider"]
)
_INPUTS = [
    (i.name, object if i.type == "tensor(string)" else np.float32) for i in _session.get_inputs()
]
_OUTPUT = os.environ.get("BENCH_OUTPUT", "Weight")
_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json")],
}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    rows = orjson.loads(b"".join(chunks))["rows"]
    feeds = {
        name: np.array([row[name] for row in rows], dtype=dtype).reshape(-1, 1)
        for name, dtype in _INPUTS
    }
    result = _session.run(None, feeds)[0].ravel().tolist()
    body = orjson.dumps({"rows": [{_OUTPUT: value} for value in result]})
    await send(_START)
    await send({"type": "http.response.body", "body": body})
