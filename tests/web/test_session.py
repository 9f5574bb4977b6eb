"""The pages' guard over HTTP: login, the session cookie, CSRF and cross-origin posts."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import bearer, wait_for


@pytest.fixture
def session(managed: dict[str, Any]) -> Iterator[tuple[httpx.Client, str]]:
    """A client with an admin session, and the CSRF token of its forms."""
    with httpx.Client(base_url=managed["server"].base, timeout=30) as http:
        yield http, login(http, managed)


def login(http: httpx.Client, managed: dict[str, Any]) -> str:
    page = http.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    r = http.post("/login", data={"csrf": csrf.group(1), "token": managed["admin"]})
    assert r.status_code == 303, r.text
    listing = http.get("/deployments")
    assert listing.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', listing.text)
    assert found is not None
    return found.group(1)


@pytest.fixture
def deployment(managed: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(
        managed["server"].base + "/api/v1/deployments",
        json={"model": "scaled:1"},
        headers=bearer(managed["admin"]),
    )
    return dict(r.json())


def test_pages_need_a_login(managed):
    r = httpx.get(managed["server"].base + "/deployments")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/deployments"


def test_session_cookie_is_signed_httponly_and_strict(managed):
    r = httpx.get(managed["server"].base + "/login")
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    forged = httpx.get(
        managed["server"].base + "/deployments", cookies={"forwardpass_session": "e30.x.y"}
    )
    assert forged.status_code == 303


def test_wrong_admin_token_is_refused(managed):
    with httpx.Client(base_url=managed["server"].base) as http:
        wrong_login(http)


def wrong_login(http: httpx.Client) -> None:
    csrf = re.search(r'name="csrf" value="([^"]+)"', http.get("/login").text)
    assert csrf is not None
    r = http.post("/login", data={"csrf": csrf.group(1), "token": "wrong"})
    assert r.status_code == 401 and "not the admin token" in r.text
    assert http.get("/deployments").status_code == 303


def test_a_deployment_token_opens_no_page(managed, deployment):
    for path in ("/deployments", f"/deployments/{deployment['id']}", "/models", "/login"):
        r = httpx.get(managed["server"].base + path, headers=bearer(deployment["token"]))
        assert r.status_code == 403 and r.json()["errorCode"] == "InsufficientScopeTokenError"


def test_a_form_posted_from_another_origin_is_refused(managed, deployment, session):
    http, csrf = session
    action = f"/deployments/{deployment['id']}/status"
    r = http.post(
        action, data={"csrf": csrf, "enabled": "0"}, headers={"Origin": "http://evil.example"}
    )
    assert r.status_code == 403 and r.json()["errorCode"] == "CrossSiteRequest"
    r = http.post(
        action, data={"csrf": csrf, "enabled": "0"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert r.status_code == 403
    r = http.post(action, data={"enabled": "0"})
    assert r.status_code == 403 and "CSRF" in r.json()["errorMessage"]
    r = http.post(action, data={"csrf": "guessed", "enabled": "0"})
    assert r.status_code == 403
    # nothing changed; the same form from the page's own origin works
    headers = bearer(managed["admin"])
    api = managed["server"].base + f"/api/v1/deployments/{deployment['id']}"
    assert httpx.get(api, headers=headers).json()["status"] == "enabled"
    r = http.post(
        action,
        data={"csrf": csrf, "enabled": "0", "confirmed": "1"},
        headers={"Origin": managed["server"].base},
    )
    assert r.status_code == 303
    assert httpx.get(api, headers=headers).json()["status"] == "disabled"


def test_page_errors_are_shown_on_the_page(managed, deployment, session):
    http, csrf = session
    r = http.post(
        f"/deployments/{deployment['id']}/model", data={"csrf": csrf, "model": "scaled:3"}
    )
    assert r.status_code == 409 and "changed shape" in r.text
    r = http.post(f"/deployments/{deployment['id']}/delete", data={"csrf": csrf})
    assert r.status_code == 409 and "disable it" in r.text


def test_try_it_sends_a_real_prediction(managed, deployment, session):
    http, csrf = session
    tensor = '{"shape": [2], "data": [3, 4]}'
    r = http.post(f"/deployments/{deployment['id']}/try", data={"csrf": csrf, "in:x": tensor})
    assert r.status_code == 200, r.text
    shown = re.search(r'<pre id="try-answer" role="status">(.*?)</pre>', r.text, re.S)
    assert shown is not None
    assert json.loads(html.unescape(shown.group(1)))["y"]["data"] == [3.0, 4.0]
    r = http.post(f"/deployments/{deployment['id']}/try", data={"csrf": csrf, "in:x": "[1, 2"})
    assert r.status_code == 400 and "tensor JSON" in r.text


def test_the_curl_example_of_the_page_runs(managed, deployment, session):
    http, _csrf = session
    page = http.get(f"/deployments/{deployment['id']}").text
    found = re.search(r'<pre id="example-curl">(.*?)</pre>', page, re.S)
    assert found is not None
    command = html.unescape(found.group(1))
    done = subprocess.run(
        ["bash", "-c", command + " -sS --fail-with-body"],
        env={**os.environ, "TOKEN": deployment["token"]},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["rows"][0]["y"]["data"] == [0.0, 0.0]


def test_limits_set_in_the_page_reach_the_api(managed, deployment, session):
    http, csrf = session
    page = f"/deployments/{deployment['id']}"
    assert 'id="limit-rate"' in http.get(page).text
    form = {"csrf": csrf, "max_body_bytes": "", "max_rows": "2", "rate": "", "burst": ""}
    r = http.post(f"{page}/limits", data=form)
    assert r.status_code == 303, r.text
    rows = {"rows": [{"x": {"shape": [2], "data": [1, 2]}}] * 3}
    refused = httpx.post(deployment["url"], json=rows, headers=bearer(deployment["token"]))
    assert refused.status_code == 413 and "limit of 2 rows" in refused.json()["errorMessage"]
    assert 'id="limit-max_rows" name="max_rows" type="number" min="0" step="1" value="2"' in (
        http.get(page).text
    )
    r = http.post(f"{page}/limits", data={**form, "max_rows": "many"})
    assert r.status_code == 400 and "max_rows must be a number" in r.text
    # Blank again: back to the plan's limit.
    assert http.post(f"{page}/limits", data={**form, "max_rows": ""}).status_code == 303
    ok = httpx.post(deployment["url"], json=rows, headers=bearer(deployment["token"]))
    assert ok.status_code == 200, ok.text


def test_the_run_timeout_set_in_the_page_reaches_the_api(managed, deployment, session):
    http, csrf = session
    page = f"/deployments/{deployment['id']}"
    form = {"csrf": csrf, "max_body_bytes": "", "max_rows": "", "rate": "", "burst": ""}
    assert http.post(f"{page}/limits", data={**form, "run_timeout": "2.5"}).status_code == 303
    api = f"{managed['server'].base}/api/v1/deployments/{deployment['id']}"
    shown = httpx.get(api, headers=bearer(managed["admin"])).json()
    assert shown["limits"]["run_timeout"] == shown["effective_limits"]["run_timeout"] == 2.5
    assert 'name="run_timeout" type="number" min="0" step="any" value="2.5"' in (
        http.get(page).text
    )
    for bad in ("0", "-1", "soon"):
        r = http.post(f"{page}/limits", data={**form, "run_timeout": bad})
        assert r.status_code == 400 and "run_timeout" in r.text, (bad, r.text)
    assert http.post(f"{page}/limits", data={**form, "run_timeout": ""}).status_code == 303
    shown = httpx.get(api, headers=bearer(managed["admin"])).json()
    assert shown["limits"]["run_timeout"] is None  # the plan's again


def test_logout_ends_the_session_even_for_a_copied_cookie(managed, deployment, session):
    http, csrf = session
    stolen = http.cookies["forwardpass_session"]
    spec = f"/deployment/{deployment['id']}/openapi.json"
    # A visitor's logout (anyone can get a CSRF token from /login) ends no admin session.
    with httpx.Client(base_url=managed["server"].base) as visitor:
        found = re.search(r'name="csrf" value="([^"]+)"', visitor.get("/login").text)
        assert found is not None
        assert visitor.post("/logout", data={"csrf": found.group(1)}).status_code == 303
    assert http.get("/deployments").status_code == 200
    wait_for(lambda: http.get(spec).status_code == 200)  # once the server has loaded it
    r = http.post("/logout", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    with httpx.Client(base_url=managed["server"].base) as thief:
        thief.cookies.set("forwardpass_session", stolen)
        r = thief.get("/deployments")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert thief.get(spec).status_code == 401  # the spec's download link honours it too
    # Logging in again gives a working session.
    login(http, managed)
    assert http.get(spec).status_code == 200


def test_an_error_is_a_page_for_a_browser_and_json_for_a_program(session):
    http, _csrf = session
    missing = "/deployments/00000000-0000-0000-0000-000000000000"
    page = http.get(missing, headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text and "no deployment" in page.text
    program = http.get(missing, headers={"Accept": "application/json"})
    assert program.status_code == 404 and program.json()["errorCode"] == "ResourceNotFound"


def test_the_favicon_is_served(managed):
    r = httpx.get(managed["server"].base + "/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert r.text.startswith("<svg")


def test_the_new_token_notice_is_an_encrypted_httponly_cookie_for_this_session_only(managed):
    with httpx.Client(base_url=managed["server"].base, timeout=30) as http:
        csrf = login(http, managed)
        r = http.post("/deployments", data={"csrf": csrf, "model": "demo:1", "enabled": "on"})
        assert r.status_code == 303 and re.fullmatch(
            r"/deployments/[0-9a-f-]{36}", r.headers["location"]
        )
        cookie = next(
            c for c in r.headers.get_list("set-cookie") if c.startswith("forwardpass_notice=")
        )
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        sealed = http.cookies["forwardpass_notice"]
        page = http.get(r.headers["location"]).text
        token = re.search(r'id="new-token" value="([^"]+)"', page)
        assert token is not None
        assert token.group(1) not in sealed and token.group(1) not in r.headers["location"]
        assert "forwardpass_notice" not in http.cookies  # deleted by the page that showed it
        assert 'id="new-token"' not in http.get(r.headers["location"]).text
    # the same cookie, copied into another admin session, shows nothing
    with httpx.Client(base_url=managed["server"].base, timeout=30) as other:
        login(other, managed)
        other.cookies.set("forwardpass_notice", sealed)
        assert 'id="new-token"' not in other.get(r.headers["location"]).text
