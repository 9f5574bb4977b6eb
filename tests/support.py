"""Running the real thing in tests: the CLI as a subprocess and servers on loopback ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORWARDPASS_")}
    env["FORWARDPASS_DATA_DIR"] = str(data_dir)
    # No load balancer to drain from: a stopping test server stops at once.
    env["FORWARDPASS_DRAIN_SECONDS"] = "0"
    env.update(extra)
    return env


def run_cli(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `forwardpass ARGS` against the registry in `data_dir`."""
    done = subprocess.run(
        [sys.executable, "-m", "forwardpass", *args],
        env=env or cli_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"forwardpass {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        )
    return done


def cli_json(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return json.loads(run_cli(data_dir, *args, "--json", env=env).stdout)


class Server:
    """A real `forwardpass serve` process on a loopback port."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / f"server-{self.port}.log"
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "forwardpass", "serve", "--port", str(self.port), *args],
            env=env or cli_env(data_dir),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"the server did not become ready:\n{self.log.read_text()}")

    def url(self, deployment_id: str) -> str:
        return f"{self.base}/deployment/{deployment_id}/forward"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_file.close()

    def logs(self) -> str:
        return self.log.read_text()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_for(condition: Any, timeout: float = 5.0, interval: float = 0.05) -> Any:
    """Poll `condition()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: last value {value!r}")
        time.sleep(interval)
