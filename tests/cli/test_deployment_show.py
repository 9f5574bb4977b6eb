"""`forwardpass deployment show`: the limits line, and the JSON that scripts read."""

from __future__ import annotations

import httpx

from forwardpass.cli.deployment import limits_text
from tests import models
from tests.support import Server, bearer, cli_json, run_cli

PLAN = {"max_body_bytes": None, "max_rows": None, "rate": None, "burst": None}


def test_no_rate_shows_no_limit_and_no_burst():
    effective = {"max_body_bytes": 100, "max_rows": 10, "rate": 0.0, "burst": 1}
    assert limits_text(PLAN, effective) == (
        "max_body_bytes 100 (plan), max_rows 10 (plan), rate no limit (plan)"
    )
    own = {**PLAN, "rate": 0.0, "burst": 3}
    assert limits_text(own, {**effective, "burst": 3}).endswith(", rate no limit")


def test_a_rate_shows_with_its_burst():
    effective = {"max_body_bytes": 100, "max_rows": 10, "rate": 2.5, "burst": 3}
    assert limits_text({**PLAN, "rate": 2.5}, effective) == (
        "max_body_bytes 100 (plan), max_rows 10 (plan), rate 2.5, burst 3 (plan)"
    )


def test_show_in_text_and_json(tmp_path):
    cli_json(tmp_path, "model", "import", str(models.scaled(tmp_path / "s.onnx", 1.0)))
    created = cli_json(tmp_path, "deployment", "create", "s")
    text = run_cli(tmp_path, "deployment", "show", created["id"]).stdout
    assert "rate no limit (plan)\n" in text and "burst" not in text
    shown = cli_json(tmp_path, "deployment", "show", created["id"])
    # Scripts read these: the plan's rate is still 0.0 with a burst of 1 in JSON.
    assert shown["limits"] == PLAN
    assert shown["effective_limits"] == {
        "max_body_bytes": 32 * 1024 * 1024,
        "max_rows": 10000,
        "rate": 0.0,
        "burst": 1,
    }
    rated = run_cli(tmp_path, "deployment", "update", created["id"], "--rate", "2").stdout
    assert "rate 2.0, burst 2 (plan)" in rated


def test_the_url_printed_is_the_running_servers(tmp_path):
    cli_json(tmp_path, "model", "import", str(models.scaled(tmp_path / "s.onnx", 1.0)))
    before = cli_json(tmp_path, "deployment", "create", "s")
    assert before["url"].startswith("http://127.0.0.1:8000/")  # no server has run yet
    server = Server(tmp_path)
    try:
        # The CLI's own environment names no port: the server's is the one printed.
        created = cli_json(tmp_path, "deployment", "create", "s")
        assert created["url"] == server.url(created["id"])
        shown = cli_json(tmp_path, "deployment", "show", before["id"])
        assert shown["url"] == server.url(before["id"])
        answer = httpx.post(
            created["url"], json={"rows": [{"x": [1.0, 2.0]}]}, headers=bearer(created["token"])
        )
        assert answer.status_code == 200
    finally:
        server.stop()
