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
