import pytest

from forwardpass.errors import BadData
from forwardpass.limits import LimitOverrides, Limits, retry_after
from forwardpass.settings import Settings


def test_a_deployment_overrides_the_plan_field_by_field() -> None:
    plan = Settings(max_body_bytes=1000, max_rows=10, rate=5.0, burst=0, run_timeout=60.0)
    assert Limits.of(LimitOverrides(), plan) == Limits(1000, 10, 5.0, 5, 60.0)
    own = LimitOverrides(max_rows=3, rate=0.5, run_timeout=1.5)
    assert Limits.of(own, plan) == Limits(1000, 3, 0.5, 1, 1.5)  # burst: a second's worth, >= 1
    assert Limits.of(LimitOverrides(rate=0), plan).rate == 0  # 0: this one is not limited


@pytest.mark.parametrize(
    "bad",
    [
        {"max_rows": 0},
        {"max_body_bytes": -1},
        {"rate": -1.0},
        {"rate": float("inf")},
        {"run_timeout": 0},
        {"run_timeout": -1.0},
        {"run_timeout": float("nan")},
        {"run_timeout": float("inf")},
    ],
)
def test_nonsense_limits_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(BadData):
        LimitOverrides(**bad)  # type: ignore[arg-type]


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert retry_after(0.01) == {"Retry-After": "1"}
    assert retry_after(1.2) == {"Retry-After": "2"}


def test_the_plan_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDPASS_RATE", "2.5")
    monkeypatch.setenv("FORWARDPASS_REDIS_FAIL_OPEN", "false")
    monkeypatch.setenv("FORWARDPASS_MAX_ENABLED_DEPLOYMENTS", "3")
    settings = Settings.load()
    assert (settings.rate, settings.redis_fail_open, settings.max_enabled_deployments) == (
        2.5,
        False,
        3,
    )
