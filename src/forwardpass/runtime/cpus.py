"""The CPUs a cgroup's quota grants: cgroup v2's `cpu.max`, or v1's CFS quota and period.

The CPU affinity counts the cores a process may run on, not the share of them it may use:
a container limited to one CPU (`podman run --cpus=1`, a Kubernetes `limits.cpu: 1`) on a
32-core node still sees 32 cores, and ONNX Runtime's spinning threads on all of them would
spend the quota in a fraction of each period and then be throttled for the rest of it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
OWN_CGROUPS = Path("/proc/self/cgroup")


def quota(root: Path = CGROUP_ROOT, own: Path = OWN_CGROUPS) -> float | None:
    """The CPUs this process's cgroups grant it (1.5 for 150 ms per 100 ms), the smallest
    quota of its cgroup and the ones above it; None when none is set or none can be read."""
    v2_path, v1_path = _own_paths(own)
    found = [
        *_limits(root, v2_path, _v2_limit),
        *_limits(root / "cpu", v1_path, _v1_limit),
        *_limits(root / "cpu,cpuacct", v1_path, _v1_limit),
    ]
    return min(found, default=None)


def _own_paths(own: Path) -> tuple[str, str]:
    """This process's cgroup paths: the unified (v2) one and v1's `cpu` controller's.
    Inside a container with its own cgroup namespace both are `/`."""
    v2 = v1 = "/"
    try:
        lines = own.read_text().splitlines()
    except OSError:
        return v2, v1
    for line in lines:
        controllers, _, path = line.partition(":")[2].partition(":")
        if controllers == "":
            v2 = path or "/"
        elif "cpu" in controllers.split(","):
            v1 = path or "/"
    return v2, v1


def _limits(mount: Path, path: str, read: Callable[[Path], float | None]) -> list[float]:
    """The limits `read` finds in the cgroup at `path` under `mount` and in those above it.
    A container often sees its own cgroup as the mount's root, where `path` does not exist."""
    here = mount / path.lstrip("/")
    found = []
    for directory in (here, *here.parents):
        if not directory.is_relative_to(mount):
            break
        limit = read(directory)
        if limit is not None:
            found.append(limit)
    return found


def _v2_limit(directory: Path) -> float | None:
    """`cpu.max` holds `QUOTA PERIOD` in microseconds, QUOTA `max` when unlimited."""
    text = _read(directory / "cpu.max")
    if text is None:
        return None
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    return _ratio(parts[0], parts[1])


def _v1_limit(directory: Path) -> float | None:
    """`cpu.cfs_quota_us` is -1 when unlimited."""
    quota_us = _read(directory / "cpu.cfs_quota_us")
    period_us = _read(directory / "cpu.cfs_period_us")
    if quota_us is None or period_us is None:
        return None
    return _ratio(quota_us, period_us)


def _ratio(quota_us: str, period_us: str) -> float | None:
    try:
        used, period = int(quota_us), int(period_us)
    except ValueError:
        return None
    if used <= 0 or period <= 0:
        return None
    return used / period


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
