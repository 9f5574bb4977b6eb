"""FORWARDPASS_EXECUTION_PROVIDERS: checked at start, given to every session, shown."""

from __future__ import annotations

import onnxruntime as ort
import pytest

from forwardpass.errors import ProviderUnavailable
from forwardpass.runtime import providers
from tests.support import cli_env, run_cli


def test_the_default_is_the_cpu_without_a_gpu():
    assert not providers.gpu_visible()  # this machine has none
    assert providers.chosen("") == ["CPUExecutionProvider"]


def test_a_list_is_kept_in_order():
    assert providers.chosen(" CPUExecutionProvider , ") == ["CPUExecutionProvider"]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("NoSuchExecutionProvider", "not an ONNX Runtime execution provider"),
        ("CUDAExecutionProvider,CPUExecutionProvider", "not available in this ONNX Runtime"),
    ],
)
def test_an_unknown_or_unavailable_provider_is_refused(setting, message):
    assert "CUDAExecutionProvider" not in ort.get_available_providers()
    with pytest.raises(ProviderUnavailable, match=message):
        providers.chosen(setting)


@pytest.mark.slow
def test_serve_refuses_to_start_with_an_unavailable_provider(tmp_path):
    env = cli_env(tmp_path, FORWARDPASS_EXECUTION_PROVIDERS="CUDAExecutionProvider")
    done = run_cli(tmp_path, "serve", "--port", "0", env=env, check=False)
    assert done.returncode == 1
    assert "CUDAExecutionProvider is not available" in done.stderr


def test_the_session_runs_on_the_providers_given(model_files):
    from forwardpass.runtime import Model

    model = Model(model_files["demo"], providers=providers.chosen("CPUExecutionProvider"))
    assert model.providers == ["CPUExecutionProvider"]
