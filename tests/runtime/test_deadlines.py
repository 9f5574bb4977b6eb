"""The run timeout (runtime/deadlines.py): a model that never ends is stopped, answers 504 and frees
its thread, and a shutdown does not wait for it."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from forwardpass.demos.tabular import EXAMPLE_ROWS
from tests import models
from tests.support import Server, bearer, cli_env, cli_json

pytestmark = pytest.mark.slow


def start(data_dir: Path) -> Server:
    return Server(data_dir, env=cli_env(data_dir, FORWARDPASS_RUN_TIMEOUT="1"))


@pytest.fixture(scope="module")
def endless(tmp_path_factory: pytest.TempPathFactory, model_files) -> Iterator[dict[str, Any]]:
    """A server with a run timeout of 1 s, a model that never ends and the demo model."""
    data_dir = tmp_path_factory.mktemp("endless")
    path = models.endless_loop(data_dir / "endless.onnx")
    cli_json(data_dir, "model", "import", str(path), "--name", "endless")
    cli_json(data_dir, "model", "import", str(model_files["demo"]), "--name", "demo")
    found = {key: cli_json(data_dir, "deployment", "create", key) for key in ("endless", "demo")}
    server = start(data_dir)
    yield {"server": server, "data_dir": data_dir, **found}
    server.stop()


def post(server: Server, deployment: dict[str, Any], rows: list[Any]) -> httpx.Response:
    return httpx.post(
        server.url(deployment["id"]),
        json={"rows": rows},
        headers=bearer(deployment["token"]),
        timeout=20,
    )


def test_a_model_that_never_ends_answers_504_and_frees_its_thread(endless):
    server = endless["server"]
    answers: list[httpx.Response] = []
    started = time.monotonic()
    # Three at once: the first runs, the others are batched behind it; none is run alone
    # again after its batch timed out (each would take the timeout once more).
    threads = [
        threading.Thread(
            target=lambda: answers.append(post(server, endless["endless"], [{"x": 1}]))
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [504] * 3
    assert {a.json()["errorCode"] for a in answers} == {"ModelTimeout"}
    assert "run timeout (1 s)" in answers[0].json()["errorMessage"]
    assert elapsed < 6, elapsed  # two batches of ~1 s each, on a busy machine
    # The model's thread is free: the next call times out again, not behind a stuck one.
    started = time.monotonic()
    assert post(server, endless["endless"], [{"x": 1}]).status_code == 504
    assert time.monotonic() - started < 4
    assert post(server, endless["demo"], EXAMPLE_ROWS[:1]).status_code == 200


@pytest.mark.parametrize(
    "settings",
    [
        {"FORWARDPASS_RUN_TIMEOUT": "1"},
        # A run timeout longer than the shutdown's: the shutdown timeout stops the call.
        {"FORWARDPASS_RUN_TIMEOUT": "600", "FORWARDPASS_SHUTDOWN_TIMEOUT": "2"},
    ],
)
def test_a_shutdown_does_not_wait_for_a_model_that_never_ends(endless, settings):
    data_dir = endless["data_dir"]
    server = Server(data_dir, env=cli_env(data_dir, **settings))

    def wait() -> None:
        # Answered 504 (run timeout) or cut off (shutdown timeout): either way it ends.
        with contextlib.suppress(httpx.TransportError):
            post(server, endless["endless"], [{"x": 1}])

    waiting = threading.Thread(target=wait, daemon=True)
    waiting.start()
    time.sleep(0.5)  # the request is in the model
    started = time.monotonic()
    server.process.terminate()
    try:
        code = server.process.wait(timeout=15)
    finally:
        server.stop()  # kills it if it is stuck (it was, spinning a core, before the fix)
    stopped = time.monotonic() - started
    # uvicorn shuts down, then raises the signal it caught again: -15 is a clean end.
    assert code in (0, -signal.SIGTERM) and stopped < 6, (code, stopped)
    assert "Finished server process" in server.logs()
