"""A gigabyte streamed at a deployment is cut off at its limit; the server stays small."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Server, bearer, cli_env, cli_json

GIGABYTE = 1024**3
CHUNK = b" " * (1024 * 1024)  # JSON whitespace: the body would be valid up to the end


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_a_gigabyte_stream_is_refused_at_the_limit(
    tmp_path: Path, model_files: dict[str, Path]
) -> None:
    limit = 8 * 1024 * 1024
    cli_json(tmp_path, "model", "import", str(model_files["demo"]), "--name", "demo")
    d = cli_json(tmp_path, "deployment", "create", "demo")
    cli_json(tmp_path, "deployment", "update", d["id"], "--max-body-bytes", str(limit))
    # Usage is written only when the server stops, to show that stopping loses no counts.
    server = Server(tmp_path, env=cli_env(tmp_path, FORWARDPASS_USAGE_FLUSH_SECONDS="3600"))
    try:
        pid = server.process.pid
        baseline = rss_bytes(pid)
        peak = [baseline]
        sent = [0]
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_bytes(pid))
                time.sleep(0.01)

        def gigabyte() -> Iterator[bytes]:
            yield b'{"rows": ['
            while sent[0] < GIGABYTE:
                sent[0] += len(CHUNK)
                yield CHUNK

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            headers = {**bearer(d["token"]), "Content-Type": "application/json"}
            r = httpx.post(server.url(d["id"]), content=gigabyte(), headers=headers, timeout=120)
        finally:
            done.set()
            watcher.join()
        assert r.status_code == 413, r.text
        assert r.json()["errorCode"] == "PayloadTooLarge"
        assert f"{limit} bytes" in r.json()["errorMessage"]
        # The server held at most the limit (plus what it reads at a time), never the stream.
        grown = peak[0] - baseline
        assert grown < limit + 32 * 1024 * 1024, (baseline, peak[0])
        # The server closed the connection: the client could not send the rest.
        assert sent[0] < GIGABYTE // 4, sent
        # ...and it still serves.
        ok = httpx.post(
            server.url(d["id"]),
            json={"rows": [{"Type": "animal", "Sound": "woof", "Size": 0.8}]},
            headers=bearer(d["token"]),
        )
        assert ok.status_code == 200, ok.text
        print(f"sent {sent[0] >> 20} MiB; server RSS {baseline >> 20} -> {peak[0] >> 20} MiB")
    finally:
        server.stop()
    usage = cli_json(tmp_path, "deployment", "show", d["id"])["usage"]
    assert usage["requests"] == 2 and usage["rows"] == 1, usage
    assert usage["errors"] == {"PayloadTooLarge": 1}, usage
