"""Servers that start together on one fresh PostgreSQL registry all come up: migrations run
under an advisory lock and the admin row is created once (one died on `admin_pkey` in 4 of
6 runs before)."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.support import bearer, cli_env, free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ADMIN = "start-admin-token-0123456789"


@pytest.mark.parametrize("admin_token", [ADMIN, ADMIN, ""], ids=["given-1", "given-2", "generated"])
def test_three_servers_start_together_on_a_fresh_database(tmp_path, postgres_url, admin_token):
    env = cli_env(
        tmp_path, FORWARDPASS_DATABASE_URL=postgres_url, FORWARDPASS_ADMIN_TOKEN=admin_token
    )
    ports = [free_port() for _ in range(3)]
    logs = [(tmp_path / f"start-{p}.log").open("w+") for p in ports]
    serve = [sys.executable, "-m", "forwardpass", "serve", "--port"]
    processes = [
        subprocess.Popen([*serve, str(p)], env=env, stdout=log, stderr=subprocess.STDOUT)
        for p, log in zip(ports, logs, strict=True)
    ]
    try:
        for port, process, log in zip(ports, processes, logs, strict=True):

            def ready(port: int = port, process: subprocess.Popen[bytes] = process) -> bool:
                assert process.poll() is None, "a server exited"
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
                except httpx.TransportError:
                    return False

            try:
                wait_for(ready, timeout=60, interval=0.2)
            except AssertionError:
                log.seek(0)
                raise AssertionError(log.read()) from None
        shown = []
        for log in logs:
            log.seek(0)
            shown += [line for line in log if "Admin token" in line]
        if admin_token:
            for port in ports:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/models", headers=bearer(ADMIN))
                assert r.status_code == 200, r.text
        else:
            assert len(shown) == 1, shown  # shown once, by the one that created it
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)
        for log in logs:
            log.close()
