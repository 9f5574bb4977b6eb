"""Make docs/deployment-page.png, the README's screenshot of the deployment page.

    python docs/screenshot.py [OUTPUT.png]

It starts `forwardpass serve` on a temporary registry with the tabular demo's model, makes a
deployment, rotates its token from the page (so the one-time notice is on it) and saves the
whole page as Chromium draws it (Playwright, /usr/bin/chromium). The last day of usage in
the charts is made up (a daily curve with a few errors, written to the registry as a server
would) so that the picture shows charts; everything else is the real page.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from forwardpass.demos import tabular
from forwardpass.registry import Registry
from forwardpass.registry.usage import Tally
from forwardpass.settings import Settings

ADMIN = "screenshot-admin-token-0123456789"
OUTPUT = Path(__file__).with_name("deployment-page.png")
CHROMIUM = "/usr/bin/chromium"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _history(registry: Registry, deployment_id: str) -> None:
    """A made-up last day: busier by day than by night, a few errors in the afternoon."""
    now = int(time.time())
    minutes = {}
    for ago in range(1, 24 * 60):
        start = now - now % 60 - ago * 60
        hour = (start // 3600) % 24
        busy = 40 + 30 * math.sin((hour - 9) / 24 * 2 * math.pi) + 6 * math.sin(ago / 7)
        requests = max(int(busy), 0)
        errors = 3 if 14 <= hour < 15 and ago % 5 == 0 else 0
        minutes[(deployment_id, start)] = Tally(
            requests, requests * 4, errors, requests * (0.0025 + 0.001 * math.cos(ago / 40))
        )
    totals = {
        "requests": sum(t.requests for t in minutes.values()),
        "rows": sum(t.rows for t in minutes.values()),
        "error:BadData": sum(t.errors for t in minutes.values()),
    }
    registry.add_usage({deployment_id: totals}, minutes)


def main(output: Path) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        registry = Registry.open(Settings(data_dir=data))
        registry.add_model(tabular.model().SerializeToString(), "weights")
        port = _port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FORWARDPASS_")}
        env |= {"FORWARDPASS_DATA_DIR": folder, "FORWARDPASS_ADMIN_TOKEN": ADMIN}
        server = subprocess.Popen(
            [sys.executable, "-m", "forwardpass", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            created = httpx.post(
                f"{base}/api/v1/deployments",
                json={"model": "weights", "name": "animal weights"},
                headers={"Authorization": f"Bearer {ADMIN}"},
            ).json()
            _history(registry, created["id"])
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM)
                page = browser.new_page(viewport={"width": 1100, "height": 900})
                page.goto(f"{base}/login")
                page.fill("#token", ADMIN)
                page.click("button[type=submit]")
                page.wait_for_url("**/deployments")
                page.goto(f"{base}/deployments/{created['id']}")
                page.click("#rotate")
                page.click("#confirm-dialog-yes")
                page.wait_for_selector("#new-token")
                page.screenshot(path=str(output), full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
            registry.close()
    print(output)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT)
