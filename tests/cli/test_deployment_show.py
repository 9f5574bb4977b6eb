"""`forwardpass deployment show`: the limits line, and the JSON that scripts read."""

from __future__ import annotations

import httpx

from forwardpass.cli.deployment import limits_text
from tests import models
from tests.support import Server, bearer, cli_json, run_cli

PLAN = {"max_body_bytes": None, "max_rows": None, "rate": None, "burst": None, "run_timeout": None}


def test_no_rate_shows_no_limit_and_no_burst():
    effective = {
        "max_body_bytes": 100,
        "max_rows": 10,
        "rate": 0.0,
        "burst": 1,
        "run_timeout": 30.0,
    }
    assert limits_text(PLAN, effective) == (
        "max_body_bytes 100 (plan), max_rows 10 (plan), rate no limit (plan), "
        "run_timeout 30 s (plan)"
    )
    own = {**PLAN, "rate": 0.0, "burst": 3}
    assert ", rate no limit, run_timeout" in limits_text(own, {**effective, "burst": 3})


def test_a_rate_shows_with_its_burst():
    effective = {"max_body_bytes": 100, "max_rows": 10, "rate": 2.5, "burst": 3, "run_timeout": 1.5}
    assert limits_text({**PLAN, "rate": 2.5, "run_timeout": 1.5}, effective) == (
        "max_body_bytes 100 (plan), max_rows 10 (plan), rate 2.5, burst 3 (plan), run_timeout 1.5 s"
    )


def test_show_in_text_and_json(tmp_path):
    cli_json(tmp_path, "model", "import", str(models.scaled(tmp_path / "s.onnx", 1.0)))
    created = cli_json(tmp_path, "deployment", "create", "s")
    text = run_cli(tmp_path, "deployment", "show", created["id"]).stdout
    assert "rate no limit (plan), run_timeout 30 s (plan)\n" in text and "burst" not in text
    shown = cli_json(tmp_path, "deployment", "show", created["id"])
    # Scripts read these: the plan's rate is still 0.0 with a burst of 1 in JSON.
    assert shown["limits"] == PLAN
    assert shown["effective_limits"] == {
        "max_body_bytes": 32 * 1024 * 1024,
        "max_rows": 10000,
        "rate": 0.0,
        "burst": 1,
        "run_timeout": 30.0,
    }
    rated = run_cli(tmp_path, "deployment", "update", created["id"], "--rate", "2").stdout
    assert "rate 2.0, burst 2 (plan), run_timeout 30 s (plan)" in rated
    timed = cli_json(tmp_path, "deployment", "update", created["id"], "--run-timeout", "1.5")
    assert timed["limits"]["run_timeout"] == timed["effective_limits"]["run_timeout"] == 1.5
    zero = ("deployment", "update", created["id"], "--run-timeout", "0")
    refused = run_cli(tmp_path, *zero, check=False)
    assert refused.returncode != 0 and "run_timeout must be above 0" in refused.stderr
    plan = run_cli(tmp_path, "deployment", "update", created["id"], "--plan-limits").stdout
    assert "run_timeout 30 s (plan)" in plan


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
