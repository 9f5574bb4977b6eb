"""The pages' tests: a real headless Chromium (Debian's, driven by Playwright), one per module.

Chromium must be at /usr/bin/chromium (`.ci/run` installs it); without it these tests fail.
Each test saves a screenshot under test-results/screenshots/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROW = {"Type": "animal", "Sound": "woof", "Size": 0.9}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"Chromium is not at {CHROMIUM}: apt-get install -y chromium"
        if os.environ.get("FORWARDPASS_TEST_ALLOW_SKIP") == "1":
            pytest.skip(message)
        pytest.fail(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, managed: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Any]:
    """A logged-in page; its screenshot is saved when the test ends."""
    context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.goto(managed["server"].base + "/deployments")
    tab.fill("#token", managed["admin"])
    tab.click("button[type=submit]")
    tab.wait_for_url("**/deployments")
    yield tab
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()
