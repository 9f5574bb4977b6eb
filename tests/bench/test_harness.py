"""The benchmark's correctness check, against the session server (the benchmark itself
runs only from bench/run.py: no timing in the test suite)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import run


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> run.Workload:
    return run.build_workload(tmp_path_factory.mktemp("bench"))


def test_the_check_accepts_forwardpass_and_refuses_wrong_answers(
    served: dict[str, Any], workload: run.Workload
) -> None:
    d = served["demo"]
    system = run.System(
        "forwardpass",
        "the session server",
        d["url"],
        f"Bearer {d['token']}",
        encode=run.rows_body,
        decode=run.rows_answer,
    )
    assert run.check(system, workload).startswith("same answers as ONNX Runtime")

    def off_by_a_little(answer: Any) -> list[float]:
        return [v * 1.001 for v in run.rows_answer(answer)]

    wrong = run.System(
        "wrong",
        "answers 0.1 % off",
        d["url"],
        f"Bearer {d['token']}",
        encode=run.rows_body,
        decode=off_by_a_little,
    )
    with pytest.raises(AssertionError, match="differ from ONNX Runtime"):
        run.check(wrong, workload)


def test_the_ratio_table_takes_each_servers_best_throughput_at_100_rows() -> None:
    def point(rows_s: float) -> run.Point:
        return run.Point(rows_s / 100, rows_s, 1.0, 2.0, 3.0, 0, 1)

    # forwardpass peaks at 64 connections, the minimal server at 16: 0.95 of its best,
    # though behind it at one connection and ahead at 64.
    points = {
        ("forwardpass", 100, 1): point(150_000),
        ("forwardpass", 100, 16): point(180_000),
        ("forwardpass", 100, 64): point(190_000),
        ("minimal", 100, 1): point(200_000),
        ("minimal", 100, 16): point(200_000),
        ("minimal", 100, 64): point(170_000),
    }
    table = {
        line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in run.ratios(points)[2:]
    }
    assert table[
        "100 rows, best of the connection counts: forwardpass rows/s / minimal's (>= 0.9)"
    ] == ["0.95", "yes |"]
    assert table["100 rows, 1 conns: forwardpass rows/s / minimal's (>= 0.9)"] == ["0.75", "no |"]
