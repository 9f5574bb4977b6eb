"""The forwardpass app without HTTP: its own cost of a prediction, for profiling the hot path.

Builds the benchmark's model and deployment, starts the app's lifespan in this process and
runs CONNS coroutine clients that each send one request after another straight into the
ASGI app, for SECONDS. What it prints is the app's share of a request through its ASGI
route (Starlette's router, the forward route, the batcher, the model thread); `forwardpass
serve` takes predictions on its protocol's lane instead (server/lane.py), which skips
the router, and the socket comes on top.
Pin it to one core, as the servers are pinned in bench/run.py:

    taskset -c 0 python -m bench.inprocess --rows 1 --conns 64 --seconds 5
    taskset -c 0 py-spy record --format raw -o profile.txt -- python -m bench.inprocess
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from bench.run import build_workload, forwardpass_deployment


async def _load(app: Any, path: str, token: str, body: bytes, conns: int, seconds: float) -> int:
    headers = [
        (b"host", b"bench"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    done = 0
    stop = time.perf_counter() + seconds
    message = {"type": "http.request", "body": body, "more_body": False}

    async def client() -> None:
        nonlocal done
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return message

        async def send(event: dict[str, Any]) -> None:
            if event["type"] == "http.response.start":
                status.append(event["status"])

        while time.perf_counter() < stop:
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "root_path": "",
                "query_string": b"",
                "headers": headers,
                "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 80),
            }
            await app(scope, receive, send)
            if status.pop() != 200:
                raise RuntimeError("a request failed")
            done += 1

    await asyncio.gather(*(client() for _ in range(conns)))
    return done


async def _main(args: argparse.Namespace) -> None:
    from forwardpass.server.app import configure_logging, create_app
    from forwardpass.settings import Settings

    with tempfile.TemporaryDirectory(prefix="forwardpass-inprocess-") as tmp:
        work = build_workload(Path(tmp))
        data, deployment, token = forwardpass_deployment(work)
        settings = Settings.load(data_dir=data)
        configure_logging(settings)
        app = create_app(settings)
        body = orjson.dumps({"rows": work.rows_for(args.rows)})
        path = f"/deployment/{deployment}/forward"
        async with app.router.lifespan_context(app):
            await _load(app, path, token, body, args.conns, 1.0)  # warm-up
            started = time.perf_counter()
            count = await _load(app, path, token, body, args.conns, args.seconds)
            elapsed = time.perf_counter() - started
        print(
            f"{args.rows} rows, {args.conns} clients: {count / elapsed:,.0f} requests/s, "
            f"{elapsed / count * 1e6:.1f} us a request"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--conns", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
