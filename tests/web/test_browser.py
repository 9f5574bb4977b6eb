"""The deployment view in real headless Chromium (Debian's, driven by Playwright).

Chromium must be at /usr/bin/chromium (`.ci/run` installs it); without it these tests fail.
Each test saves a screenshot under test-results/screenshots/.
"""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.test_api import answer
from tests.support import bearer, free_port, wait_for
from tests.web.conftest import ROW, SHOTS


def predict(url: str, token: str, row: dict[str, Any]) -> httpx.Response:
    return httpx.post(url, json={"rows": [row]}, headers=bearer(token), timeout=30)


def test_login_refuses_a_wrong_token(browser, managed):
    context = browser.new_context()
    tab = context.new_page()
    tab.goto(managed["server"].base + "/login")
    tab.fill("#token", "not the token")
    tab.click("button[type=submit]")
    assert "not the admin token" in tab.inner_text("#error")
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / "test_login_refuses_a_wrong_token.png"))
    context.close()


def test_deployment_view_end_to_end(page, managed):
    base = managed["server"].base
    # create a deployment and read its token off the page
    page.select_option("#new-model", "demo:1")
    page.fill("#new-name", "from the browser")
    page.click("#create button[type=submit]")
    page.wait_for_selector("#new-token")
    token, url = page.input_value("#new-token"), page.input_value("#url")
    deployment_id = page.inner_text("#deployment-id")
    assert url == f"{base}/deployment/{deployment_id}/forward"
    assert "categorical (2)" in page.inner_text("#params-h + form")
    assert "Bearer $TOKEN" in page.inner_text("#example-curl")
    assert "Weight" in page.inner_text("#example-output")
    page.click("label[for=fmt-python]")
    assert page.is_visible("#example-python") and not page.is_visible("#example-curl")
    page.click("label[for=fmt-triton]")
    assert page.is_visible("#example-triton") and not page.is_visible("#example-python")
    assert f"client.infer('{deployment_id}'" in page.inner_text("#example-triton")
    page.click("label[for=fmt-python]")
    shot = SHOTS / "deployment-page.png"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)

    # predict with that token over HTTP
    answer = wait_for(lambda: (r := predict(url, token, ROW)).status_code == 200 and r, 10)
    assert "Weight" in answer.json()["rows"][0]

    # disable in the page (once confirmed): predictions refused; enable: served
    page.click("#enable-toggle")
    page.click("#confirm-dialog-yes")
    page.wait_for_selector("#status-badge.disabled")
    wait_for(lambda: predict(url, token, ROW).status_code == 403, 10)
    assert predict(url, token, ROW).json()["errorCode"] == "DeploymentNotEnabled"
    page.focus("#enable-toggle")  # by keyboard this time
    page.keyboard.press("Enter")
    page.wait_for_selector("#status-badge.enabled")
    wait_for(lambda: predict(url, token, ROW).status_code == 200, 10)

    # rename a feature: the API takes the new name
    page.fill('input[name="inputs:Size"]', "Length")
    page.click("#names button[type=submit]")
    page.wait_for_selector('input[name="inputs:Size"][value="Length"]')
    renamed = {"Type": "animal", "Sound": "woof", "Length": 0.9}
    wait_for(lambda: predict(url, token, renamed).status_code == 200, 10)
    assert predict(url, token, ROW).json()["errorCode"] == "FeatureNotFound"

    # Try it: a real prediction from the form
    page.select_option('[name="in:Type"]', "vehicle")
    page.select_option('[name="in:Sound"]', "tchoo")
    page.fill('[name="in:Length"]', "48")
    page.click("#try-submit")
    shown = json.loads(page.inner_text("#try-answer"))
    expected = predict(url, token, {"Type": "vehicle", "Sound": "tchoo", "Length": 48.0})
    assert shown == expected.json()["rows"][0]

    # download the spec
    with page.expect_download() as download:
        page.click("#download-spec")
    spec = json.loads(Path(download.value.path()).read_text())
    assert "Length" in spec["components"]["schemas"]["input-row"]["properties"]

    # delete: only once disabled
    assert not page.is_visible("#delete")
    page.click("#enable-toggle")
    page.click("#confirm-dialog-yes")
    page.wait_for_selector("#status-badge.disabled")
    page.click("#delete")
    page.click("#confirm-dialog-yes")
    page.wait_for_url("**/deployments")
    assert deployment_id not in page.content()
    gone = httpx.get(f"{base}/api/v1/deployments/{deployment_id}", headers=bearer(managed["admin"]))
    assert gone.status_code == 404


def test_version_switch_from_the_page(page, managed):
    base = managed["server"].base
    created = httpx.post(
        f"{base}/api/v1/deployments", json={"model": "scaled:1"}, headers=bearer(managed["admin"])
    ).json()
    page.goto(f"{base}/deployments/{created['id']}")
    page.select_option("#switch-model", "scaled:3")
    page.click("text=Switch version")
    assert "changed shape" in page.inner_text("#error")
    page.select_option("#switch-model", "scaled:2")
    page.click("text=Switch version")
    page.wait_for_selector("#model-ref:has-text('version 2')")
    row = {"x": {"shape": [2], "data": [1.0, 2.0]}}
    wait_for(lambda: answer(predict(created["url"], created["token"], row)) == [2.0, 4.0], 10)


class _Evil(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        body = (
            f'<form id="f" method="post" action="{self.target}">'
            '<input name="enabled" value="0"><input name="csrf" value="guess"></form>'
            "<script>document.getElementById('f').submit()</script>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.mark.parametrize(
    ("host", "refusal"),
    [
        # another site: SameSite=Strict keeps the session cookie back, so no session
        ("localhost", 303),
        # the same site on another port: the cookie goes along, the Origin check refuses
        ("127.0.0.1", 403),
    ],
)
def test_a_form_from_another_origin_is_refused(page, managed, host, refusal):
    base = managed["server"].base
    created = httpx.post(
        f"{base}/api/v1/deployments", json={"model": "scaled:1"}, headers=bearer(managed["admin"])
    ).json()
    _Evil.target = f"{base}/deployments/{created['id']}/status"
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Evil)
    thread = threading.Thread(target=evil.serve_forever, daemon=True)
    thread.start()
    try:
        with page.expect_response(lambda r: r.url == _Evil.target) as posted:
            page.goto(f"http://{host}:{evil.server_address[1]}/")
        assert posted.value.status == refusal
        page.wait_for_load_state()
    finally:
        evil.shutdown()
        evil.server_close()
    shown = httpx.get(
        f"{base}/api/v1/deployments/{created['id']}", headers=bearer(managed["admin"])
    ).json()
    assert shown["status"] == "enabled"


def test_upload_a_model_and_read_its_signature(page, managed, model_files):
    page.goto(managed["server"].base + "/models")
    page.set_input_files("#up-file", str(model_files["iris"]))
    page.fill("#up-name", "iris flowers")
    page.click("#upload button[type=submit]")
    page.wait_for_url("**/models/iris%20flowers/1")
    assert "setosa, versicolor, virginica" in page.inner_text("main")
    page.goto(managed["server"].base + "/deployments")
    assert "iris flowers:1" in page.inner_text("#new-model")


def test_deployment_page_fits_a_phone(browser, managed):
    base = managed["server"].base
    created = httpx.post(
        f"{base}/api/v1/deployments", json={"model": "demo"}, headers=bearer(managed["admin"])
    ).json()
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    tab = context.new_page()
    tab.goto(f"{base}/deployments/{created['id']}")
    tab.fill("#token", managed["admin"])
    tab.click("button[type=submit]")
    tab.wait_for_selector("#deployment-id")
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px screen"
    # every control has a label a screen reader can read
    unlabelled = tab.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
           .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
           .map(e => e.name || e.id)"""
    )
    assert unlabelled == []
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / "test_deployment_page_fits_a_phone.png"), full_page=True)
    context.close()
