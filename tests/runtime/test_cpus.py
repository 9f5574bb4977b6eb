"""A cgroup's CPU quota, read from cgroup trees laid out as the kernel lays them out.

The container test (tests/deploy/test_image.py) reads a real quota, set by `podman run --cpus`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from forwardpass.runtime import cpus


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """An empty /sys/fs/cgroup and this process's /proc/self/cgroup."""
    root = tmp_path / "cgroup"
    root.mkdir()
    return root, tmp_path / "self-cgroup"


@pytest.mark.parametrize(
    ("cpu_max", "expected"), [("150000 100000", 1.5), ("50000 100000", 0.5), ("max 100000", None)]
)
def test_v2_cpu_max_inside_a_container(tree, cpu_max, expected):
    root, own = tree
    write(own, "0::/")
    write(root / "cpu.max", cpu_max)
    assert cpus.quota(root, own) == expected


def test_v2_the_smallest_quota_of_the_cgroup_and_those_above_it(tree):
    root, own = tree
    write(own, "0::/kubepods/pod1/ctr")
    write(root / "kubepods" / "pod1" / "ctr" / "cpu.max", "max 100000")
    write(root / "kubepods" / "pod1" / "cpu.max", "200000 100000")
    write(root / "kubepods" / "cpu.max", "400000 100000")
    assert cpus.quota(root, own) == 2.0


def test_v1_cfs_quota_and_period(tree):
    root, own = tree
    write(own, "4:memory:/x\n2:cpu,cpuacct:/libpod_parent/ctr\n0::/")
    # As under podman on cgroup v1: the container sees its own cgroup as the mount's root.
    write(root / "cpu,cpuacct" / "cpu.cfs_quota_us", "100000")
    write(root / "cpu,cpuacct" / "cpu.cfs_period_us", "100000")
    assert cpus.quota(root, own) == 1.0


def test_v1_minus_one_is_no_quota(tree):
    root, own = tree
    write(own, "1:cpu:/")
    write(root / "cpu" / "cpu.cfs_quota_us", "-1")
    write(root / "cpu" / "cpu.cfs_period_us", "100000")
    assert cpus.quota(root, own) is None


@pytest.mark.parametrize("junk", ["", "max", "a b", "0 100000", "100000 0"])
def test_unreadable_or_odd_values_are_no_quota(tree, junk):
    root, own = tree
    write(own, "0::/")
    write(root / "cpu.max", junk)
    assert cpus.quota(root, own) is None


def test_no_cgroup_file_system_at_all(tmp_path):
    assert cpus.quota(tmp_path / "missing", tmp_path / "missing-self") is None
