"""CORS on a deployment's forward and spec endpoints: over HTTP, and from a page in Chromium.

One server allows the origin of a small page server on another loopback port; the
session's `served` server has CORS off (the default).
"""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from forwardpass.importers import onnx as importer
from forwardpass.registry import Registry
from forwardpass.settings import Settings
from tests.support import Server, bearer, cli_env, free_port

CHROMIUM = Path("/usr/bin/chromium")
ROW = {"Type": "animal", "Sound": "woof", "Size": 0.9}


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>front-end</title><p>a page of another origin</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def front() -> Iterator[str]:
    """A page server on its own loopback port: the front-end's origin."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def cors(
    tmp_path_factory: pytest.TempPathFactory, model_files: dict[str, Path], front: str
) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("cors")
    registry = Registry.open(Settings(data_dir=data_dir))  # quicker than two CLI processes
    registry.add_model(importer.import_bytes(model_files["demo"].read_bytes()), "demo")
    created, token = registry.create_deployment("demo")
    registry.close()
    deployment = {"id": created.id, "token": token}
    # The trailing slash is forgiven: a browser's Origin has none.
    env = cli_env(data_dir, FORWARDPASS_CORS_ORIGINS=f"https://other.example, {front}/")
    server = Server(data_dir, env=env)
    deployment["url"] = server.url(deployment["id"])
    yield {"server": server, "deployment": deployment, "origin": front}
    server.stop()


def preflight(url: str, origin: str, method: str = "POST") -> httpx.Response:
    return httpx.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_a_preflight_from_an_allowed_origin_is_answered(cors):
    d = cors["deployment"]
    for url, method in ((d["url"], "POST"), (urljoin(d["url"], "openapi.json"), "GET")):
        answer = preflight(url, cors["origin"], method)
        assert answer.status_code == 200, answer.text
        assert answer.headers["access-control-allow-origin"] == cors["origin"]
        assert method in answer.headers["access-control-allow-methods"]
        assert "authorization" in answer.headers["access-control-allow-headers"].lower()


def test_a_prediction_from_an_allowed_origin_carries_the_headers(cors):
    d = cors["deployment"]
    headers = {**bearer(d["token"]), "Origin": cors["origin"]}
    answer = httpx.post(d["url"], json={"rows": [ROW]}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == cors["origin"]
    assert "Origin" in answer.headers["vary"]
    assert "Server-Timing" in answer.headers["access-control-expose-headers"]
    assert "Weight" in answer.json()["rows"][0]
    # An error too is readable by the page that asked.
    wrong = httpx.post(d["url"], json={"rows": [ROW]}, headers={"Origin": cors["origin"]})
    assert wrong.status_code == 401
    assert wrong.headers["access-control-allow-origin"] == cors["origin"]
    spec = httpx.get(urljoin(d["url"], "openapi.json"), headers=headers)
    assert spec.status_code == 200
    assert spec.headers["access-control-allow-origin"] == cors["origin"]


def test_a_disallowed_origin_gets_no_allow_origin_header(cors):
    d = cors["deployment"]
    evil = "http://evil.example"
    answer = preflight(d["url"], evil)
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "BadData"
    assert "FORWARDPASS_CORS_ORIGINS" in answer.json()["errorMessage"]
    assert "access-control-allow-origin" not in answer.headers
    # The server still answers (CORS is the browser's to enforce), without the header.
    sent = httpx.post(
        d["url"], json={"rows": [ROW]}, headers={**bearer(d["token"]), "Origin": evil}
    )
    assert sent.status_code == 200
    assert "access-control-allow-origin" not in sent.headers


def test_the_management_api_and_pages_stay_same_origin(cors):
    base = cors["server"].base
    for path in ("/api/v1/deployments", "/deployments", "/healthz"):
        answer = httpx.get(base + path, headers={"Origin": cors["origin"]})
        assert "access-control-allow-origin" not in answer.headers, path
    answer = preflight(base + "/api/v1/deployments", cors["origin"], "GET")
    assert "access-control-allow-origin" not in answer.headers


def test_cors_is_off_by_default(served):
    d = served["demo"]
    origin = "http://127.0.0.1:9"
    answer = preflight(d["url"], origin)
    assert answer.status_code == 405
    assert "access-control-allow-origin" not in answer.headers
    sent = httpx.post(
        d["url"], json={"rows": [ROW]}, headers={**bearer(d["token"]), "Origin": origin}
    )
    assert sent.status_code == 200
    assert "access-control-allow-origin" not in sent.headers


@pytest.mark.slow
def test_a_page_of_another_origin_calls_the_deployment_in_chromium(cors):
    if not CHROMIUM.exists():
        message = f"Chromium is not at {CHROMIUM}: apt-get install -y chromium"
        if os.environ.get("FORWARDPASS_TEST_ALLOW_SKIP") == "1":
            pytest.skip(message)
        pytest.fail(message)
    from playwright.sync_api import sync_playwright

    d = cors["deployment"]
    call = """async ([url, token, row]) => {
        try {
            const answer = await fetch(url, {
                method: "POST",
                headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"},
                body: JSON.stringify({rows: [row]}),
            });
            return {status: answer.status, body: await answer.json(),
                    timing: answer.headers.get("Server-Timing")};
        } catch (error) {
            return {error: String(error)};
        }
    }"""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            tab = browser.new_page()
            tab.goto(cors["origin"] + "/")
            result = tab.evaluate(call, [d["url"], d["token"], ROW])
            assert result.get("status") == 200, result
            assert isinstance(result["body"]["rows"][0]["Weight"], float)
            assert result["timing"]  # an exposed header is readable by the page
            # The same page served from an origin not in the list: the browser blocks it.
            tab.goto(cors["origin"].replace("127.0.0.1", "localhost") + "/")
            blocked = tab.evaluate(call, [d["url"], d["token"], ROW])
            assert "error" in blocked, blocked
        finally:
            browser.close()


@pytest.mark.parametrize("origins", ["app.example.com", "https://app.example.com/page"])
def test_an_origin_that_a_browser_never_sends_is_refused_at_start(origins):
    with pytest.raises(ValueError, match="FORWARDPASS_CORS_ORIGINS"):
        Settings(cors_origins=f"*, {origins}")
