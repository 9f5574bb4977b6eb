"""The container image test_image.py runs, built from the Containerfile.

No container registry is reachable here, so the base image is made from Debian's packages
(mmdebstrap, then `podman import`) and kept under ~/.cache/forwardpass-ci, named by a hash
of what it holds: a second run reuses it, and podman's layer cache keeps the installed
dependencies until pyproject.toml changes. A missing podman or mmdebstrap fails the test.

A cold build takes minutes, so when test_image.py is collected, the build starts in a
process of its own (`python -m tests.deploy.image_build LOG`) beside the tests that run
before it (conftest.py), and its fixture waits for that process.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.deploy.tools import ROOT, tool

BASE_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates", "passwd")
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "forwardpass-ci"
IMAGE = "localhost/forwardpass-ci:test"
INSTALL = "apt-get install podman mmdebstrap runc (.ci/run does)"
TIMEOUT = 900  # seconds, the base and the image together


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [tool("podman", INSTALL), *args], capture_output=True, text=True, timeout=timeout
    )
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done


def base_image() -> str:
    """The local base image: Debian's Python, made by mmdebstrap once per recipe."""
    recipe = {"suite": BASE_SUITE, "variant": "minbase", "include": BASE_PACKAGES}
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    tag = f"localhost/forwardpass-ci-base:{key}"
    if podman("image", "exists", tag, check=False).returncode == 0:
        return tag
    tarball = CACHE / f"base-{key}.tar"
    if not tarball.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = CACHE / f"base-{key}.partial.tar"
        done = subprocess.run(
            [
                tool("mmdebstrap", INSTALL),
                "--variant=minbase",
                "--format=tar",
                f"--include={','.join(BASE_PACKAGES)}",
                BASE_SUITE,
                str(partial),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        partial.rename(tarball)  # whole or absent: an interrupted run leaves no half tarball
    podman("import", str(tarball), tag, timeout=300)
    return tag


def build() -> None:
    """The image from the Containerfile on the base, its output on standard output."""
    base = base_image()
    print(f"base image {base}", flush=True)
    done = subprocess.run(
        [
            tool("podman", INSTALL),
            "build",
            # podman's default OCI isolation needs rlimits this kind of machine refuses.
            "--isolation=chroot",
            "--network=host",
            # The host's certificates let pip reach the package index during the build.
            "--volume=/etc/ssl/certs:/etc/ssl/certs:ro",
            # The docker format keeps the HEALTHCHECK, which OCI images have no field for.
            "--format=docker",
            f"--build-arg=BASE={base}",
            f"--tag={IMAGE}",
            f"--file={ROOT / 'Containerfile'}",
            str(ROOT),
        ],
        stderr=subprocess.STDOUT,
        timeout=TIMEOUT - 60,
    )
    if done.returncode != 0:
        sys.exit(f"podman build exited {done.returncode}")


class Build:
    """The build in its own process: started once, waited for by whoever needs the image."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path()
        self.started = 0.0

    def start(self) -> None:
        if self.process is not None:
            return
        self.log = Path(tempfile.mkdtemp(prefix="forwardpass-image-")) / "build.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.deploy.image_build"],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stopped with its podman when the session ends
            )
        self.started = time.monotonic()

    def image(self) -> str:
        """The image's tag once it is built; the test fails with the build's log if not."""
        self.start()
        assert self.process is not None
        waited = TIMEOUT - (time.monotonic() - self.started)
        try:
            code = self.process.wait(timeout=max(waited, 1))
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"the image was not built in {TIMEOUT} s:\n{self._tail()}")
        assert code == 0, f"the image build failed:\n{self._tail()}"
        return IMAGE

    def stop(self) -> None:
        """Ends a build still running (the session is over, or its tests were not run)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            self.process.wait()

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]


BUILD = Build()

if __name__ == "__main__":
    build()
