"""Finding a container's cgroups from its init process, on v1 cgroupfs, v1 systemd
(hybrid, cpu and cpuacct co-mounted) and v2 systemd trees."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from collectors.cgroups import CgroupLocator
from collectors.exceptions import CgroupNotFoundError
from tests.unit.collectors.conftest import INIT_PID, TREES, cgroup_dir


@pytest.mark.parametrize("name", sorted(TREES))
def test_locates_every_controller(tree: Callable[[str], Path], name: str) -> None:
    root = tree(name)
    locator = CgroupLocator(proc_root=str(root / "proc"), host_root=str(root))
    paths = locator.locate(TREES[name], INIT_PID)
    version = 2 if name.startswith("v2") else 1
    for controller in ("cpu", "cpuacct", "memory", "pids"):
        d = paths.get(controller)
        assert d is not None, controller
        assert d.version == version
        assert Path(d.path) == cgroup_dir(root, name, controller)


def test_hybrid_host_prefers_v1_controllers(tree: Callable[[str], Path]) -> None:
    """v1_systemd has an empty unified hierarchy too (cgroup.controllers is empty)."""
    root = tree("v1_systemd")
    paths = CgroupLocator(proc_root=str(root / "proc"), host_root=str(root)).locate("c", INIT_PID)
    assert {d.version for d in paths.dirs.values()} == {1}


def test_inside_a_cgroup_namespace_the_mount_root_is_stripped(tmp_path: Path) -> None:
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/9").mkdir(parents=True)
    (tmp_path / "proc/self/mountinfo").write_text(
        "40 31 0:36 /outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    )
    (tmp_path / "proc/9/cgroup").write_text("4:memory:/outer/docker/abc\n")
    paths = CgroupLocator(proc_root=str(tmp_path / "proc"), host_root=str(tmp_path)).locate("abc", 9)
    memory = paths.get("memory")
    assert memory is not None
    assert memory.path == f"{tmp_path}/sys/fs/cgroup/memory/docker/abc"


def test_exited_process_is_a_clear_error(tree: Callable[[str], Path]) -> None:
    root = tree("v1_cgroupfs")
    locator = CgroupLocator(proc_root=str(root / "proc"), host_root=str(root))
    with pytest.raises(CgroupNotFoundError) as err:
        locator.locate("abc", 999_999)
    assert err.value.container_id == "abc" and err.value.pid == 999_999


def test_no_readable_controller_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/9").mkdir(parents=True)
    (tmp_path / "proc/self/mountinfo").write_text("")
    (tmp_path / "proc/9/cgroup").write_text("0::/x\n")
    with pytest.raises(CgroupNotFoundError, match="no cpu, memory or pids"):
        CgroupLocator(proc_root=str(tmp_path / "proc"), host_root=str(tmp_path)).locate("x", 9)


def test_the_live_host_layout_is_found() -> None:
    """This machine: v1 with cgroupfs; our own process may sit in a nested memory cgroup."""
    paths = CgroupLocator().locate("self", 1)
    assert paths.get("memory") is not None
