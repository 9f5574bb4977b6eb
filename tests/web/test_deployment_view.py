"""The deployment view's flow in real Chromium: post/redirect/get, the one-time token at the
top, confirmations (with and without JavaScript), notices, images, the phone, usage charts."""

from __future__ import annotations

import io
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests import models
from tests.support import bearer, wait_for
from tests.web.conftest import ROW, SHOTS


def predict(url: str, token: str, row: dict[str, Any]) -> httpx.Response:
    return httpx.post(url, json={"rows": [row]}, headers=bearer(token), timeout=30)


def api(managed: dict[str, Any], method: str, path: str, **kw: Any) -> httpx.Response:
    url = managed["server"].base + "/api/v1" + path
    return httpx.request(method, url, headers=bearer(managed["admin"]), timeout=30, **kw)


def create(managed: dict[str, Any], model: str = "demo", **body: Any) -> dict[str, Any]:
    r = api(managed, "POST", "/deployments", json={"model": model, **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


def ids(managed: dict[str, Any]) -> set[str]:
    return {d["id"] for d in api(managed, "GET", "/deployments").json()}


def test_create_redirects_and_shows_the_token_once_at_the_top(page, managed):
    page.select_option("#new-model", "demo:1")
    page.fill("#new-name", "prg create")
    before = ids(managed)
    page.click("#create button[type=submit]")
    page.wait_for_selector("#new-token")
    assert re.fullmatch(r".*/deployments/[0-9a-f-]{36}", page.url)  # redirected, no token
    created = ids(managed) - before
    assert len(created) == 1
    # the notice is the first thing on the page, in view without scrolling
    box = page.locator("#flash").bounding_box()
    assert box is not None and box["y"] < 120
    assert page.get_attribute("#flash", "role") == "alert"
    token = page.input_value("#new-token")
    assert token not in page.url
    url = page.input_value("#url")
    wait_for(lambda: predict(url, token, ROW).status_code == 200, 10)
    # a reload makes no second deployment and shows the token no more
    page.reload()
    page.wait_for_selector("#deployment-id")
    assert page.locator("#flash").count() == 0
    assert token not in page.content()
    assert ids(managed) - before == created


def test_rotate_asks_first_and_a_reload_does_not_rotate_again(page, managed):
    d = create(managed, name="prg rotate")
    page.goto(f"{managed['server'].base}/deployments/{d['id']}")
    page.click("#rotate")
    dialog = page.locator("#confirm-dialog")
    assert dialog.is_visible() and "stops working" in dialog.inner_text()
    page.click("#confirm-dialog-cancel")
    assert not dialog.is_visible()
    assert predict(d["url"], d["token"], ROW).status_code == 200  # not rotated
    page.click("#rotate")
    page.click("#confirm-dialog-yes")
    page.wait_for_selector("#new-token")
    assert "rotated" in page.inner_text("#flash-notice")
    new = page.input_value("#new-token")
    assert new != d["token"]
    wait_for(lambda: predict(d["url"], new, ROW).status_code == 200, 10)
    assert predict(d["url"], d["token"], ROW).status_code == 401
    page.reload()
    page.wait_for_selector("#deployment-id")
    assert page.locator("#new-token").count() == 0
    assert predict(d["url"], new, ROW).status_code == 200  # still the one shown


@pytest.mark.slow
def test_disable_from_the_list_asks_first_and_says_it_is_done(page, managed):
    d = create(managed, name="prg pill")
    page.goto(managed["server"].base + "/deployments")
    pill = page.get_by_role("switch", name="Enable prg pill")
    pill.click()
    assert "DeploymentNotEnabled" in page.inner_text("#confirm-dialog")
    page.keyboard.press("Escape")  # the dialog's own way out: nothing done
    assert api(managed, "GET", f"/deployments/{d['id']}").json()["status"] == "enabled"
    pill.click()
    page.click("#confirm-dialog-yes")
    page.wait_for_selector("#flash")
    assert page.url.endswith("/deployments")
    assert "disabled" in page.inner_text("#flash-notice")
    assert api(managed, "GET", f"/deployments/{d['id']}").json()["status"] == "disabled"
    # enabling breaks nobody: no question
    page.get_by_role("switch", name="Enable prg pill").click()
    page.wait_for_selector("#flash-notice:has-text('enabled')")
    assert api(managed, "GET", f"/deployments/{d['id']}").json()["status"] == "enabled"


@pytest.fixture
def no_script(browser: Any, managed: dict[str, Any]) -> Iterator[Any]:
    """A logged-in page of a browser with JavaScript off."""
    context = browser.new_context(java_script_enabled=False)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.goto(managed["server"].base + "/login")
    tab.fill("#token", managed["admin"])
    tab.click("button[type=submit]")
    tab.wait_for_url("**/deployments")
    yield tab
    context.close()


@pytest.mark.slow
def test_without_javascript_a_page_asks_before_rotate_disable_and_delete(no_script, managed):
    page = no_script
    d = create(managed, name="prg no script")
    view = f"{managed['server'].base}/deployments/{d['id']}"
    page.goto(view)
    page.click("#rotate")
    assert "stops working" in page.inner_text("#confirm-question")
    page.click("#confirm-cancel")
    assert page.url == view
    assert predict(d["url"], d["token"], ROW).status_code == 200
    page.click("#rotate")
    page.click("#confirm-yes")
    page.wait_for_selector("#new-token")
    assert page.url == view
    new = page.input_value("#new-token")
    wait_for(lambda: predict(d["url"], new, ROW).status_code == 200, 10)
    page.click("#enable-toggle")
    page.click("#confirm-yes")
    page.wait_for_selector("#status-badge.disabled")
    page.click("#delete")
    assert "cannot be undone" in page.inner_text("#confirm-question")
    page.click("#confirm-yes")
    page.wait_for_selector("#flash")
    assert page.url.endswith("/deployments") and "deleted" in page.inner_text("#flash-notice")
    assert d["id"] not in ids(managed)


@pytest.mark.slow
def test_notices_after_each_change(page, managed):
    d = create(managed, "scaled:1", name="prg notices")
    page.goto(f"{managed['server'].base}/deployments/{d['id']}")
    page.fill("#rename", "prg renamed")
    page.click("text=Rename")
    assert "Renamed to 'prg renamed'" in page.inner_text("#flash-notice")
    page.fill("#limit-max_rows", "7")
    page.click("text=Set limits")
    assert "Limits set" in page.inner_text("#flash-notice")
    page.select_option("#switch-model", "scaled:2")
    page.click("text=Switch version")
    assert "Now serving scaled:2" in page.inner_text("#flash-notice")
    page.reload()
    assert page.locator("#flash").count() == 0


@pytest.fixture(scope="module")
def echo(managed: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The image echo model (6x8 RGB in, the same out as numbers and as an image), deployed."""
    path = models.image_echo(tmp_path_factory.mktemp("echo") / "echo.onnx")
    r = api(managed, "POST", "/models", files={"file": ("echo.onnx", path.read_bytes())})
    assert r.status_code == 201, r.text
    return {"path": path, "model": r.json(), **create(managed, "echo:1", name="echo")}


def png(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height))
    image.putdata(
        [((x * 30) % 256, (y * 40) % 256, 200) for y in range(height) for x in range(width)]
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.mark.slow
def test_an_image_output_is_shown_and_the_image_curl_example_runs(page, managed, echo, tmp_path):
    page.goto(f"{managed['server'].base}/deployments/{echo['id']}")
    curl = page.inner_text("#example-curl")
    lines = curl.splitlines()
    assert len(lines) >= 3 and max(map(len, lines)) < 120, curl
    # the example, run as shown, with an image file of the name it says
    (tmp_path / "image.png").write_bytes(png(8, 6))
    done = subprocess.run(
        ["bash", "-c", curl + " -sS --fail-with-body"],
        cwd=tmp_path,
        env={**os.environ, "TOKEN": echo["token"]},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"picture": "data:image/png;base64,' in done.stdout.replace('":"', '": "')
    # Try it: the image output is an image, of the model's size
    page.set_input_files("#try-1", str(tmp_path / "image.png"))
    page.click("#try-submit")
    shown = page.locator("img[data-output=picture]")
    shown.wait_for()
    size = shown.evaluate("i => [i.complete, i.naturalWidth, i.naturalHeight]")
    assert size == [True, 8, 6]


def test_the_model_page_breadcrumb_download_image_settings_and_deploy(page, managed, echo):
    base = managed["server"].base
    page.goto(f"{base}/models/echo/1")
    assert page.inner_text(".crumbs").startswith("Models /")
    page.click(".crumbs a")
    page.wait_for_url("**/models")
    page.goto(f"{base}/models/echo/1")
    settings = page.inner_text("#image-settings + .scroll")
    assert "6 x 8" in settings and "RGB" in settings and "NHWC" in settings
    with page.expect_download() as download:
        page.click("#download-model")
    assert Path(download.value.path()).read_bytes() == echo["path"].read_bytes()
    # not for anyone else
    anonymous = httpx.get(f"{base}/models/echo/1/model.onnx", follow_redirects=False)
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
    before = ids(managed)
    page.click("#deploy button")
    page.wait_for_selector("#new-token")
    (new,) = ids(managed) - before
    assert page.inner_text("#deployment-id") == new
    assert "echo (version 1)" in page.inner_text("#model-ref")


def test_the_deployments_list_fits_a_phone(browser, managed):
    for n in range(2):
        create(managed, name=f"a rather long deployment name for a small screen {n}")
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    tab = context.new_page()
    tab.goto(managed["server"].base + "/login")
    tab.fill("#token", managed["admin"])
    tab.click("button[type=submit]")
    tab.wait_for_url("**/deployments")
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width}px wide on a 360px screen"
    # every cell of every row (its link, its status toggle, its date) is on screen, without
    # scrolling the table sideways
    outside = tab.evaluate(
        """[...document.querySelectorAll('main table td')]
           .map(e => e.getBoundingClientRect())
           .filter(r => r.left < 0 || r.right > 360 || r.width === 0).length"""
    )
    assert outside == 0
    assert tab.get_by_role("switch").first.is_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / "test_the_deployments_list_fits_a_phone.png"), full_page=True)
    context.close()


@pytest.mark.slow
def test_the_usage_chart_draws_each_minute_and_each_hour(page, managed):
    d = create(managed, "scaled:1", name="prg usage")
    good = {"x": {"shape": [2], "data": [1.0, 2.0]}}
    wait_for(lambda: predict(d["url"], d["token"], good).status_code == 200, 10)  # served
    for _ in range(4):
        assert predict(d["url"], d["token"], good).status_code == 200
    for _ in range(2):
        assert predict(d["url"], d["token"], {"nope": 1}).status_code == 400

    # each server writes usage every few seconds
    def counted() -> Any:
        series = api(managed, "GET", f"/deployments/{d['id']}/usage").json()
        # 7 or more: the wait until it is served may count a refused request or two
        return sum(p["requests"] for p in series["points"]) >= 7 and series

    series = wait_for(counted, 15)
    assert len(series["points"]) == 1440 and series["step_seconds"] == 60
    used = [p for p in series["points"] if p["requests"]]
    assert sum(p["errors"] for p in used) >= 2 and sum(p["rows"] for p in used) >= 5
    assert all(p["latency_ms"] > 0 for p in used)
    page.goto(f"{managed['server'].base}/deployments/{d['id']}")
    chart = page.locator("svg.usage-chart").first
    requests = chart.locator("g[data-series=requests] polyline")
    points = requests.get_attribute("points")
    assert points is not None and len(points.split()) == 1440
    # the points of the minutes with requests are the only ones above the axis
    y_of = [float(p.split(",")[1]) for p in points.split()]
    assert sum(y < max(y_of) for y in y_of) == len(used)
    errors = chart.locator("g[data-series=errors] polyline").get_attribute("points")
    assert errors is not None and len(errors.split()) == 1440
    page.click("#usage-month")
    page.wait_for_url("**usage=month**")
    month = page.locator("svg.usage-chart g[data-series=requests] polyline").get_attribute("points")
    assert month is not None and len(month.split()) == 720
    assert "720 points, one an hour" in page.inner_text("#usage")
