"""A tiny real HTTP server in front of a deployment that misbehaves on cue.

It serves the real deployment's spec, answers the first POSTs with what it is told
(429 with Retry-After, a dropped connection, ...), then passes POSTs to the real server.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.support import free_port


class Flaky:
    def __init__(self, forward_url: str, script: list[Any]) -> None:
        """`script`: one entry per POST to answer before passing on: (status, headers, body)
        or "drop" to close the connection without an answer."""
        self.forward_url = forward_url
        self.script = list(script)
        self.posts: list[float] = []  # monotonic times of every POST received
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/deployment/{forward_url.split('/')[-2]}/forward"
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                real = httpx.get(
                    flaky.forward_url.replace("/forward", "/openapi.json"),
                    headers={"Authorization": self.headers.get("Authorization", "")},
                )
                self._reply(real.status_code, {"Content-Type": "application/json"}, real.content)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                flaky.posts.append(time.monotonic())
                if flaky.script:
                    step = flaky.script.pop(0)
                    if step == "drop":
                        self.close_connection = True
                        self.connection.close()
                        return
                    status, headers, content = step
                    self._reply(status, {"Content-Type": "application/json", **headers}, content)
                    return
                real = httpx.post(
                    flaky.forward_url,
                    content=body,
                    headers={
                        "Authorization": self.headers.get("Authorization", ""),
                        "Content-Type": self.headers.get("Content-Type", ""),
                    },
                )
                self._reply(real.status_code, {"Content-Type": "application/json"}, real.content)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Flaky:
        self.thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
