"""Each reach of server/uvicorn_reach.py, checked on the installed uvicorn, and the
choice of protocol it makes at start; the lane turned off by its setting."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import httpx
import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from forwardpass.demos.tabular import EXAMPLE_ROWS
from forwardpass.server import uvicorn_reach
from forwardpass.server.lane import ServerProtocol
from tests.support import Server, bearer, cli_env, cli_json


@pytest.fixture(scope="module")
def seen() -> dict[str, Any]:
    """A real uvicorn protocol on a real connection, caught in the middle of a request:
    its attributes and those of its request cycle."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(3600)  # hold the request in flight while it is looked at

    async def scenario() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        config = uvicorn.Config(app=app, http="httptools", log_level="error")
        config.load()
        protocol = HttpToolsProtocol(
            config=config, server_state=ServerState(), app_state={}, _loop=loop
        )
        ours, theirs = socket.socketpair()
        await loop.connect_accepted_socket(lambda: protocol, ours)
        theirs.sendall(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        for _ in range(200):
            if protocol.cycle is not None:
                break
            await asyncio.sleep(0.01)
        found = {
            "protocol": {name: hasattr(protocol, name) for name in uvicorn_reach.ATTRIBUTES},
            "cycle": {
                name: hasattr(protocol.cycle, name) for name in uvicorn_reach.CYCLE_ATTRIBUTES
            },
        }
        protocol.transport.close()
        theirs.close()
        for task in list(protocol.tasks):
            task.cancel()
        await asyncio.sleep(0)
        return found

    return asyncio.run(scenario())


@pytest.mark.parametrize("name", list(uvicorn_reach.ATTRIBUTES))
def test_the_protocol_has_each_attribute_the_lane_reaches(seen, name):
    assert seen["protocol"][name], f"uvicorn's protocol has no {name!r} any more"


@pytest.mark.parametrize("name", list(uvicorn_reach.CYCLE_ATTRIBUTES))
def test_the_request_cycle_has_each_attribute_the_lane_reaches(seen, name):
    assert seen["cycle"][name], f"uvicorn's request cycle has no {name!r} any more"


@pytest.mark.parametrize("name", list(uvicorn_reach.METHODS))
def test_the_protocol_has_each_method_the_lane_overrides_or_calls(name):
    assert callable(getattr(HttpToolsProtocol, name, None))
    if name in vars(ServerProtocol):  # an override keeps uvicorn's signature's arity
        ours, theirs = getattr(ServerProtocol, name), getattr(HttpToolsProtocol, name)
        assert ours.__code__.co_argcount == theirs.__code__.co_argcount


def test_the_installed_uvicorn_runs_forwardpass_protocol():
    assert uvicorn_reach.unfit() is None
    assert uvicorn_reach.protocol() is ServerProtocol


def test_an_untested_uvicorn_falls_back_to_its_own_protocol(monkeypatch, caplog):
    monkeypatch.setattr(uvicorn_reach, "TESTED", ((0, 1), (0, 2)))
    with caplog.at_level(logging.WARNING, logger="forwardpass.server"):
        assert uvicorn_reach.protocol() == "httptools"
    assert "outside the releases" in caplog.text and "without the prediction lane" in caplog.text


@pytest.mark.slow
def test_with_the_lane_off_predictions_go_the_asgi_way_and_answer_alike(
    tmp_path, model_files, served
):
    cli_json(tmp_path, "model", "import", str(model_files["demo"]), "--name", "demo")
    d = cli_json(tmp_path, "deployment", "create", "demo")
    env = cli_env(tmp_path, FORWARDPASS_LANE="false")
    server = Server(tmp_path, env=env)
    try:
        body = {"rows": EXAMPLE_ROWS}
        answer = httpx.post(server.url(d["id"]), json=body, headers=bearer(d["token"]))
        assert answer.status_code == 200
        # The ASGI way answers as the lane does, with its timing and the edge's headers.
        on_lane = httpx.post(
            served["demo"]["url"], json=body, headers=bearer(served["demo"]["token"])
        )
        assert answer.json() == on_lane.json()
        assert "server-timing" in answer.headers
        assert answer.headers["x-content-type-options"] == "nosniff"
    finally:
        server.stop()
