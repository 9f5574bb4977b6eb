"""Wrong admin tokens are throttled per client address and overall, with Retry-After.

Before: 670 wrong guesses a second from one client once the hash was cached. Now one
address gets `FORWARDPASS_ADMIN_FAILURES_PER_CLIENT` wrong tokens a minute (3 here), all
addresses together `..._TOTAL` (5 here), and then 429 for the right token too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Server, bearer, cli_env

ADMIN = "throttle-admin-token-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir: Path = tmp_path_factory.mktemp("throttle")
    env = cli_env(
        data_dir,
        FORWARDPASS_ADMIN_TOKEN=ADMIN,
        FORWARDPASS_ADMIN_FAILURES_PER_CLIENT="3",
        FORWARDPASS_ADMIN_FAILURES_TOTAL="5",
    )
    served = Server(data_dir, env=env)
    yield served
    served.stop()


def client(server: Server, address: str) -> httpx.Client:
    """A client whose connections come from `address` (any 127.x.y.z is loopback)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.base, transport=transport, timeout=30)


def test_wrong_admin_tokens_are_throttled_per_client_and_overall(server):
    models = "/api/v1/models"
    with client(server, "127.0.0.1") as first:
        assert first.get(models, headers=bearer(ADMIN)).status_code == 200  # hash now cached
        for _ in range(3):
            r = first.get(models, headers=bearer("guess"))
            assert r.status_code == 401 and r.json()["errorCode"] == "InvalidTokenError"
        r = first.get(models, headers=bearer("guess"))
        assert r.status_code == 429 and r.json()["errorCode"] == "RateLimited"
        assert 1 <= int(r.headers["retry-after"]) <= 20, r.headers  # one attempt per 20 s
        assert "from this address" in r.json()["errorMessage"]
        # The right token gets the same answer: the throttle tells nothing about a guess.
        assert first.get(models, headers=bearer(ADMIN)).status_code == 429
        # The login form and a deployment's spec are throttled alike.
        csrf = re.search(r'name="csrf" value="([^"]+)"', first.get("/login").text)
        assert csrf is not None
        r = first.post("/login", data={"csrf": csrf.group(1), "token": ADMIN})
        assert r.status_code == 429 and "too many wrong admin tokens" in r.text
        assert int(r.headers["retry-after"]) >= 1
        # No token at all is no guess: it still gets its 401.
        assert first.get(models).status_code == 401
    # Another address has its own allowance, until all of them together reach theirs.
    with client(server, "127.0.0.2") as second:
        assert second.get(models, headers=bearer(ADMIN)).status_code == 200
        answers = [second.get(models, headers=bearer("guess")) for _ in range(3)]
        assert [a.status_code for a in answers] == [401, 401, 429]
        assert "all addresses together" in answers[-1].json()["errorMessage"]
    with client(server, "127.0.0.3") as third:
        r = third.get(models, headers=bearer(ADMIN))
        assert r.status_code == 429 and "retry-after" in r.headers
