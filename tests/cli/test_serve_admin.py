"""`forwardpass serve` generates the admin token on the first start and prints it once."""

from __future__ import annotations

import re

import httpx

from tests.support import Server, bearer, wait_for


def test_generated_admin_token_is_printed_once(tmp_path):
    first = Server(tmp_path)
    try:
        found = wait_for(lambda: re.search(r"Admin token.*: (\S+)\s*$", first.logs(), re.M))
        token = found.group(1)
        r = httpx.get(f"{first.base}/api/v1/deployments", headers=bearer(token))
        assert r.status_code == 200, r.text
    finally:
        first.stop()
    second = Server(tmp_path)
    try:
        assert "Admin token" not in second.logs()
        assert token not in (tmp_path / "registry.sqlite3").read_bytes().decode("latin-1")
        r = httpx.get(f"{second.base}/api/v1/deployments", headers=bearer(token))
        assert r.status_code == 200
    finally:
        second.stop()
