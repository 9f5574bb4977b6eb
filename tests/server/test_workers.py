"""`forwardpass serve --workers N`: N processes on one port, metrics summed over them."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.server.test_metrics import ROW, sample
from tests.support import Server, bearer, cli_json, wait_for


def workers_of(pid: int) -> list[int]:
    """Child processes of `pid` started by multiprocessing's spawn (uvicorn's workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found


def test_two_workers_serve_one_port_and_share_metrics(
    tmp_path: Path, model_files: dict[str, Path]
) -> None:
    cli_json(tmp_path, "model", "import", str(model_files["demo"]), "--name", "demo")
    deployment = cli_json(tmp_path, "deployment", "create", "demo")
    server = Server(tmp_path, "--workers", "2")
    try:
        assert len(workers_of(server.process.pid)) == 2
        url, headers = server.url(deployment["id"]), bearer(deployment["token"])
        # new connections each time, so that both workers get some of them
        for _ in range(20):
            answer = httpx.post(url, json={"rows": [ROW]}, headers=headers)
            assert answer.status_code == 200, answer.text
            assert "infer;dur=" in answer.headers["server-timing"]
        labels = {"deployment": deployment["id"], "status": "200"}

        def requests_total() -> float:
            text = httpx.get(f"{server.base}/metrics").text
            return sample(text, "forwardpass_requests_total", **labels)

        # Each worker adds its requests to the shared series at least once a second.
        wait_for(lambda: requests_total() == 20)
        line = f"forward deployment={deployment['id']} status=200"
        wait_for(lambda: server.logs().count(line) == 20)  # the log is written in batches
    finally:
        server.stop()
    assert workers_of(server.process.pid) == []
