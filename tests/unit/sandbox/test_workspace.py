"""Disk workspaces' pure parts: the volumes in the configuration, the sparse copy, the owner
marks that tell a crashed manager's directory, and the order of the OOM score changes.
(The loop devices, mounts and ENOSPC are tested on the real kernel in the integration tests.)"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from sandbox import workspace as ws
from sandbox.config import VOLUME_FLAGS, container_config
from sandbox.exceptions import InvalidSandboxRequest
from sandbox.oom import CORE_OOM_SCORE_ADJ, protect_core
from sandbox.workspaces import store_for
from schemas import ResourceLimits, SecurityPolicy

DEVICES = {"/work": "/dev/loop3", "/tmp": "/dev/loop4"}


def mounts(workspace: dict[str, str] | None) -> dict[str, Any]:
    body = container_config(
        SecurityPolicy(resource_limits=ResourceLimits(disk_mb=400)),
        image="img",
        labels={},
        network_name=None,
        volume_labels={"sandguard.manager": "m1"},
        workspace=workspace,
    )
    return {m["Target"]: m["VolumeOptions"] for m in body["HostConfig"]["Mounts"]}


def test_disk_volumes_are_ext4_on_the_given_devices_nosuid_nodev() -> None:
    got = mounts(DEVICES)
    for target, device in DEVICES.items():
        options = got[target]["DriverConfig"]["Options"]
        assert options == {"type": "ext4", "device": device, "o": ",".join((*VOLUME_FLAGS, "noexec"))}
        assert got[target]["NoCopy"] is True and got[target]["Labels"]["sandguard.resource"] == "volume"
    assert {"nosuid", "nodev"} <= set(VOLUME_FLAGS)


def test_a_missing_device_is_refused_by_name() -> None:
    with pytest.raises(InvalidSandboxRequest) as info:
        mounts({"/work": "/dev/loop3"})
    assert info.value.field == "workspace" and "/tmp" in str(info.value)


def test_tmpfs_volumes_keep_the_same_flags() -> None:
    options = mounts(None)["/tmp"]["DriverConfig"]["Options"]["o"].split(",")
    assert "mode=1777" in options and set(VOLUME_FLAGS) <= set(options)


def test_an_unknown_workspace_kind_is_refused() -> None:
    with pytest.raises(InvalidSandboxRequest, match="'ramdisk' is not one of"):
        store_for("ramdisk", "/nowhere", "m1")
    assert store_for("tmpfs", "/nowhere", "m1") is None


def test_copy_sparse_copies_the_data_and_keeps_the_holes(tmp_path: Path) -> None:
    source, target = tmp_path / "a.img", tmp_path / "b.img"
    with source.open("wb") as f:
        f.truncate(64 << 20)
        f.write(b"superblock")
        f.seek(40 << 20)
        f.write(b"inode table")
    ws.copy_sparse(source, target)
    assert target.read_bytes() == source.read_bytes()
    assert target.stat().st_blocks * 512 < 1 << 20  # 64 MiB long, a few KiB on disk


def test_copy_sparse_of_an_empty_image(tmp_path: Path) -> None:
    source, target = tmp_path / "a.img", tmp_path / "b.img"
    with source.open("wb") as f:
        f.truncate(1 << 20)
    ws.copy_sparse(source, target)
    assert target.stat().st_size == 1 << 20 and target.read_bytes() == bytes(1 << 20)


def mark(directory: Path, pid: int, start: str | None, namespace: str | None = None) -> None:
    directory.mkdir(parents=True)
    namespace = namespace or os.readlink("/proc/self/ns/pid")
    (directory / ws.OWNER_FILE).write_text(f"{pid} {start} {namespace}\n")


def test_orphans_are_directories_whose_owner_process_is_gone(tmp_path: Path) -> None:
    me = os.getpid()
    mark(tmp_path / "alive", me, ws._start_time(me))
    mark(tmp_path / "reused-pid", me, "1")  # this pid, another start time: a reused pid
    mark(tmp_path / "dead", 2**22 + 1, "5")  # above any pid_max: no such process
    mark(tmp_path / "elsewhere", 2**22 + 1, "5", "pid:[1]")  # another pid namespace: not judged
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / ws.OWNER_FILE).write_text("not a pid\n")
    (tmp_path / ".new.new").mkdir()  # a manager still making its directory
    store = ws.WorkspaceStore(tmp_path, "self")
    assert store.orphans() == ["dead", "garbled", "reused-pid"]


def test_open_marks_the_directory_with_this_process(tmp_path: Path) -> None:
    store = ws.WorkspaceStore(tmp_path / "root", "m1")
    store.open()
    assert ws.owner_alive(store.dir / ws.OWNER_FILE)
    assert oct((tmp_path / "root" / "m1").stat().st_mode & 0o777) == "0o700"
    assert ws.WorkspaceStore(tmp_path / "root", "m2").orphans() == []
    store.close()
    assert not store.dir.exists()


def test_loops_under_reads_the_backing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys_block = tmp_path / "sys"
    for name, backing in (
        ("loop1", "/state/m1/a.img"),
        ("loop2", "/state/m10/b.img (deleted)"),
        ("loop3", "/x"),
    ):
        (sys_block / name / "loop").mkdir(parents=True)
        (sys_block / name / "loop" / "backing_file").write_text(backing + "\n")
    (sys_block / "loop9").mkdir()  # unattached: no loop/ directory
    monkeypatch.setattr(ws, "SYS_BLOCK", sys_block)
    assert list(ws.loops_under(Path("/state/m1"))) == ["/dev/loop1"]  # not m10's
    assert list(ws.loops_under(Path("/state/m10"))) == ["/dev/loop2"]


def fake_proc(tmp_path: Path, init: int, children: list[int]) -> Path:
    """A /proc of files: lets the test see which scores were written and in what order."""
    for pid in (init, *children):
        (tmp_path / str(pid) / "task" / str(pid)).mkdir(parents=True)
        (tmp_path / str(pid) / "oom_score_adj").write_text("500\n")
    (tmp_path / str(init) / "task" / str(init) / "children").write_text(" ".join(map(str, children)))
    return tmp_path


def test_protect_core_lowers_the_init_and_its_children(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, 40, [41])
    assert protect_core(40, proc) == CORE_OOM_SCORE_ADJ
    assert [(proc / p / "oom_score_adj").read_text() for p in ("40", "41")] == [str(CORE_OOM_SCORE_ADJ)] * 2


def test_protect_core_of_a_vanished_process_says_so(tmp_path: Path) -> None:
    assert protect_core(40, tmp_path) is None


def test_dev_shm_holds_at_most_a_quarter_of_the_memory() -> None:
    small = container_config(
        SecurityPolicy(resource_limits=ResourceLimits(memory_mb=64, disk_mb=1024)),
        image="img",
        labels={},
        network_name=None,
        volume_labels={},
    )
    assert small["HostConfig"]["ShmSize"] == 16 * 1024 * 1024  # not the 64 MiB share of disk_mb


def test_make_image_sets_the_root_and_reads_it_back(tmp_path: Path) -> None:
    image = tmp_path / "tmp.img"
    ws.make_image(image, 16, (1000, 1000), 0o1777)  # mkfs.ext4 and debugfs, no mount: ~30 ms
    ws._check_root(image, (1000, 1000), 0o1777)
    with pytest.raises(ws.WorkspaceError, match="wanted mode/uid/gid"):
        ws._check_root(image, (1000, 1000), 0o755)


def test_a_debugfs_that_did_nothing_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ws, "DEBUGFS_SCRIPT", "sif / mode 0o{mode:o}\n")  # a format debugfs ignores
    with pytest.raises(ws.WorkspaceError, match="debugfs"):
        ws.make_image(tmp_path / "tmp.img", 16, (1000, 1000), 0o1777)
