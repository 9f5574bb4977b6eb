"""A registry database that is stopped or frozen: the management API answers 503 with
Retry-After, the pages a message, the CLI a clean error, all within the timeouts; the
predictions go on. PostgreSQL sits behind a proxy the test controls (db_proxy.py).

Measured on the 2-core test machine, with both timeouts at 2 s: a frozen database gives the
API's 503 in 5.0 to 6.1 s (a pooled connection's ping, statement + 1 s, then a new
connection's timeout) and the CLI's error in 3.4 to 5.1 s (interpreter start included); a
stopped one gives the API's 503 in 0.04 to 0.1 s and the CLI's error in 1.4 to 3.8 s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests import models
from tests.registry.db_proxy import Proxy
from tests.support import Server, bearer, cli_env, cli_json, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ADMIN = "outage-admin-token-0123456789"
TIMEOUTS = {
    "FORWARDPASS_DATABASE_CONNECT_TIMEOUT": "2",
    "FORWARDPASS_DATABASE_STATEMENT_TIMEOUT": "2",
}
#: a stalled ping (statement + 1 s), a new connection's timeout, and room for a loaded machine
BOUND = 3 + 2 + 3


@pytest.fixture
def setup(tmp_path, postgres_url) -> Iterator[dict[str, Any]]:
    env = cli_env(tmp_path, FORWARDPASS_DATABASE_URL=postgres_url)
    model = models.scaled(tmp_path / "s.onnx", 2.0, 2)
    cli_json(tmp_path, "model", "import", str(model), "--name", "scaled", env=env)
    deployment = cli_json(tmp_path, "deployment", "create", "scaled", env=env)
    proxy = Proxy(("127.0.0.1", 5432))
    through = proxy.url(postgres_url)
    env = cli_env(
        tmp_path, FORWARDPASS_DATABASE_URL=through, FORWARDPASS_ADMIN_TOKEN=ADMIN, **TIMEOUTS
    )
    server = Server(tmp_path, env=env)
    yield {"server": server, "proxy": proxy, "env": env, "deployment": deployment}
    server.stop()
    proxy.close()


def _check_outage(setup: dict[str, Any]) -> None:
    server, env, tmp = setup["server"], setup["env"], setup["server"].data_dir
    started = time.monotonic()
    r = httpx.get(f"{server.base}/api/v1/models", headers=bearer(ADMIN), timeout=30)
    api_seconds = time.monotonic() - started
    assert r.status_code == 503, r.text
    assert r.json()["errorCode"] == "RegistryUnavailable"
    assert r.headers["retry-after"] == "5"
    assert api_seconds < BOUND

    page = httpx.get(f"{server.base}/deployments", timeout=30)
    assert page.status_code == 503
    assert "text/html" in page.headers["content-type"]
    assert "registry is unavailable" in page.text and "Traceback" not in page.text

    started = time.monotonic()
    done = run_cli(tmp, "model", "list", "--json", env=env, check=False)
    cli_seconds = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stderr)["errorCode"] == "RegistryUnavailable"
    assert "Traceback" not in done.stderr
    assert cli_seconds < BOUND + 3  # and the interpreter's start-up

    d = setup["deployment"]
    # The spec read with the admin's token checks it against the registry: a 503, not a 500.
    spec = httpx.get(
        f"{server.base}/deployment/{d['id']}/openapi.json", headers=bearer(ADMIN), timeout=30
    )
    assert spec.status_code in (200, 503), spec.text
    if spec.status_code == 503:
        assert spec.json()["errorCode"] == "RegistryUnavailable"
    rows = {"rows": [{"x": {"shape": [2], "data": [1.0, 2.0]}}]}
    answer = httpx.post(server.url(d["id"]), json=rows, headers=bearer(d["token"]), timeout=30)
    assert answer.status_code == 200, answer.text
    print(f"API 503 in {api_seconds:.2f}s, CLI error in {cli_seconds:.2f}s")


def _recovered(setup: dict[str, Any]) -> None:
    setup["proxy"].resume()
    server = setup["server"]
    deadline = time.monotonic() + 10
    while True:
        r = httpx.get(f"{server.base}/api/v1/models", headers=bearer(ADMIN), timeout=30)
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 200, r.text


def test_a_stopped_database(setup):
    assert httpx.get(f"{setup['server'].base}/api/v1/models", headers=bearer(ADMIN)).is_success
    setup["proxy"].refuse()
    _check_outage(setup)
    _recovered(setup)


def test_a_frozen_database(setup):
    assert httpx.get(f"{setup['server'].base}/api/v1/models", headers=bearer(ADMIN)).is_success
    setup["proxy"].stall()
    _check_outage(setup)
    _recovered(setup)
