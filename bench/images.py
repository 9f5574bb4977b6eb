"""Images per second for 224x224 JPEG inputs: forwardpass against a plain Pillow loop.

The floor is what any server must at least do per image: a loop that decodes each JPEG with
Pillow, converts it to RGB, resizes it to 224x224 and makes it a float array, in one thread.
forwardpass is measured end to end through a real server (HTTP, JSON, base64, decoding in
its pool, a model call) with a model whose own work is negligible (the mean of each channel).

    python -m bench.images [--images 512] [--batch 32] [--clients 2]

Each figure is the best of five rounds over the same files.

Run from the repository root with the dev extra installed.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from onnx import TensorProto, helper
from PIL import Image
from tests.support import Server, bearer, cli_json

from forwardpass.importers import onnx as onnx_importer
from forwardpass.model import signature as sig

SIZE = 224
#: Each figure is the best of this many rounds: the machine may be shared.
ROUNDS = 5


def photos(count: int) -> list[bytes]:
    """Smooth random pictures (like photos, unlike noise) as 224x224 JPEGs."""
    rng = np.random.default_rng(0)
    found = []
    for _ in range(count):
        small = Image.fromarray(rng.integers(0, 256, (14, 14, 3), dtype=np.uint8))
        buffer = io.BytesIO()
        small.resize((SIZE, SIZE), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
        found.append(buffer.getvalue())
    return found


def plain(files: list[bytes]) -> None:
    for data in files:
        image = Image.open(io.BytesIO(data)).convert("RGB").resize((SIZE, SIZE))
        np.asarray(image, dtype=np.float32) / 255


def floor(files: list[bytes], threads: int = 1) -> float:
    """The plain loop, in `threads` threads over equal shares of the files."""
    shares = [files[i::threads] for i in range(threads)]
    rates = []
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(ROUNDS):
            started = time.perf_counter()
            list(pool.map(plain, shares))
            rates.append(len(files) / (time.perf_counter() - started))
    return max(rates)


def model(path: Path) -> Path:
    settings = sig.ImageSettings(height=SIZE, width=SIZE, layout="NCHW")
    g = helper.make_graph(
        [helper.make_node("ReduceMean", ["image", "axes"], ["means"], keepdims=0)],
        "means",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("means", TensorProto.FLOAT, [None, 3])],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])],
    )
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    proto.ir_version = 8
    signature = sig.Signature(
        (sig.Feature("image", "image", settings.shape, "image", image=settings),),
        (sig.Feature("means", "numeric", (3,), "means"),),
    )
    path.write_bytes(onnx_importer.prepare(proto, signature).SerializeToString())
    return path


def served(files: list[bytes], batch: int, clients: int) -> float:
    uris = ["data:image/jpeg;base64," + base64.b64encode(f).decode() for f in files]
    bodies = [
        {"rows": [{"image": u} for u in uris[i : i + batch]]} for i in range(0, len(uris), batch)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        cli_json(data_dir, "model", "import", str(model(data_dir / "m.onnx")), "--name", "means")
        deployment = cli_json(data_dir, "deployment", "create", "means")
        server = Server(data_dir)
        try:
            url, headers = server.url(deployment["id"]), bearer(deployment["token"])
            with httpx.Client(timeout=60) as client:
                client.post(url, json=bodies[0], headers=headers).raise_for_status()  # warm up

                def send(body: dict[str, object]) -> None:
                    client.post(url, json=body, headers=headers).raise_for_status()

                rates = []
                for _ in range(ROUNDS):
                    started = time.perf_counter()
                    with ThreadPoolExecutor(clients) as pool:
                        list(pool.map(send, bodies))
                    rates.append(len(files) / (time.perf_counter() - started))
                return max(rates)
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    files = photos(args.images)
    print(
        f"cores: {os.cpu_count()}, images: {len(files)}, mean JPEG: "
        f"{sum(map(len, files)) // len(files)} bytes"
    )
    cores = os.cpu_count() or 1
    print(f"floor (Pillow decode + resize, 1 thread):  {floor(files):8.1f} images/s")
    print(f"floor (Pillow decode + resize, {cores} threads): {floor(files, cores):8.1f} images/s")
    rate = served(files, args.batch, args.clients)
    print(f"forwardpass (batches of {args.batch}, {args.clients} clients): {rate:8.1f} images/s")


if __name__ == "__main__":
    main()
