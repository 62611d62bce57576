"""The workspace keeps its promise (issue 15): /work and /tmp are disk, full is ENOSPC, never an
OOM kill; a memory bomb kills only itself; storage goes with its sandbox, and a crashed
manager's with the next cleanup. Real sandboxes on both images, real loop devices."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox import SandboxManager, SandboxStatus, WorkspaceFullError
from sandbox.config import OOM_SCORE_ADJ
from sandbox.oom import CORE_OOM_SCORE_ADJ, FALLBACK_OOM_SCORE_ADJ
from sandbox.workspace import loops_under
from sandguard.bus import LocalBus
from schemas import AuditEvent
from schemas import topics as t
from tests.conftest import BUSYBOX_IMAGE, PYTHON_IMAGE
from tests.integration.sandbox.conftest import (
    RUN_LABEL,
    MakeManager,
    drain,
    eventually,
    inspect,
    quick_policy,
)

IMAGES = [BUSYBOX_IMAGE, PYTHON_IMAGE]
# Memory smaller than the workspace: a file that fits the disk quota would not fit in memory,
# so a workspace charged to memory could not pass these tests.
MEMORY_MB = 64
DISK_MB = 384  # /work 256 MiB (384 - a quarter for /tmp - 24 for /dev/shm), /tmp 96 MiB
KEEP = "/work/keep.txt"
KEEP_TEXT = "results that must survive"
MIB = 1024 * 1024


def policy(**limits: Any) -> Any:
    return quick_policy(limits={"memory_mb": MEMORY_MB, "disk_mb": DISK_MB, **limits})


async def sh(manager: SandboxManager, sid: str, command: str, timeout: float = 60) -> Any:
    return await manager.execute(sid, command, timeout=timeout)


async def available_mib(manager: SandboxManager, sid: str, path: str = "/work") -> tuple[int, int]:
    """(size, available) in MiB as ``df`` inside the sandbox advertises them."""
    out = (await sh(manager, sid, f"df -k {path} | tail -1")).stdout.split()
    return int(out[1]) // 1024, int(out[3]) // 1024


async def assert_alive_with_files(manager: SandboxManager, sid: str) -> None:
    result = await sh(manager, sid, f"cat {KEEP}")
    assert result.exit_code == 0 and result.stdout == KEEP_TEXT, result
    assert manager.sandbox(sid).status is SandboxStatus.RUNNING


async def sandbox_with_files(
    make_manager: MakeManager, image: str, **limits: Any
) -> tuple[SandboxManager, str]:
    manager = await make_manager(policy(**limits), image=image)
    sid = await manager.create_sandbox()
    await manager.write_file(sid, KEEP, KEEP_TEXT)
    return manager, sid


@pytest.mark.parametrize("image", IMAGES)
async def test_fill_to_90_percent_then_past_is_enospc(make_manager: MakeManager, image: str) -> None:
    manager, sid = await sandbox_with_files(make_manager, image)
    size, free = await available_mib(manager, sid)
    assert 0.9 * 256 <= size <= 256 and free > 0.9 * size  # the real figure, ext4 overhead only
    ninety = int(free * 0.9)
    filled = await sh(manager, sid, f"dd if=/dev/zero of=/work/ninety bs=1M count={ninety}")
    assert filled.exit_code == 0, filled  # 90 % of the space: more than the memory limit, kept
    past = await sh(manager, sid, f"dd if=/dev/zero of=/work/past bs=1M count={free}")
    assert past.exit_code == 1 and "No space left on device" in past.stderr, past
    await assert_alive_with_files(manager, sid)
    listed = await sh(manager, sid, "wc -c < /work/ninety")
    assert int(listed.stdout) == ninety * MIB
    assert (await available_mib(manager, sid))[1] <= 1  # full, and still answering


async def test_the_issue_as_reported_on_the_default_limits(make_manager: MakeManager) -> None:
    """Issue 15 as filed: memory_mb=512, disk_mb=1024; 90 % of what df shows, then a
    fallocate of 700 MiB; every command after still runs and reads the earlier files."""
    manager = await make_manager(quick_policy(limits={"memory_mb": 512, "disk_mb": 1024}), image=PYTHON_IMAGE)
    sid = await manager.create_sandbox()
    await manager.write_file(sid, KEEP, KEEP_TEXT)
    _, free = await available_mib(manager, sid)
    big = await sh(manager, sid, f"dd if=/dev/zero of=/work/big bs=1M count={int(free * 0.9)}", timeout=120)
    assert big.exit_code == 0, big
    notes = await sh(manager, sid, "fallocate -l 700M /work/notes.txt")
    assert notes.exit_code != 0 and "No space left on device" in notes.stderr, notes
    await assert_alive_with_files(manager, sid)


@pytest.mark.parametrize("image", IMAGES)
async def test_fallocate_beyond_the_quota_is_enospc(make_manager: MakeManager, image: str) -> None:
    manager, sid = await sandbox_with_files(make_manager, image)
    size, _ = await available_mib(manager, sid)
    result = await sh(manager, sid, f"fallocate -l {size + 64}M /work/notes.txt")
    assert result.exit_code != 0 and "No space left on device" in result.stderr, result
    await assert_alive_with_files(manager, sid)
    tmp_size, _ = await available_mib(manager, sid, "/tmp")
    result = await sh(manager, sid, f"fallocate -l {tmp_size + 16}M /tmp/big")
    assert result.exit_code != 0 and "No space left on device" in result.stderr, result
    await assert_alive_with_files(manager, sid)


@pytest.mark.parametrize("image", IMAGES)
async def test_a_full_dev_shm_is_enospc_and_leaves_memory_for_commands(
    make_manager: MakeManager, image: str
) -> None:
    manager, sid = await sandbox_with_files(make_manager, image)
    size, _ = await available_mib(manager, sid, "/dev/shm")
    assert size <= MEMORY_MB // 4  # a tmpfs: memory, so a quarter of it at most
    full = await sh(manager, sid, f"dd if=/dev/zero of=/dev/shm/fill bs=1M count={MEMORY_MB}")
    assert full.exit_code == 1 and "No space left on device" in full.stderr, full
    await assert_alive_with_files(manager, sid)
    bomb = await sh(manager, sid, BOMB.format(n=4 * MEMORY_MB * MIB))
    assert bomb.exit_code == 137, bomb  # with /dev/shm full, a bomb still kills only itself
    await assert_alive_with_files(manager, sid)


# Grows a shell variable past the memory limit: the kernel's OOM killer must pick this shell.
BOMB = "x=$(head -c {n} /dev/zero | tr '\\0' a); echo ${{#x}}"


@pytest.mark.parametrize("image", IMAGES)
async def test_memory_bomb_kills_only_the_bomb(make_manager: MakeManager, image: str) -> None:
    manager, sid = await sandbox_with_files(make_manager, image)
    written = await sh(manager, sid, "dd if=/dev/zero of=/work/data bs=1M count=128")
    assert written.exit_code == 0, written  # twice the memory limit on disk, before the bomb
    bomb = await sh(manager, sid, BOMB.format(n=4 * MEMORY_MB * MIB))
    assert bomb.exit_code == 137, bomb
    await assert_alive_with_files(manager, sid)
    assert (await sh(manager, sid, "wc -c < /work/data")).stdout.strip() == str(128 * MIB)
    again = await sh(manager, sid, "echo still here")
    assert again.exit_code == 0 and again.stdout == "still here\n"


async def test_core_processes_are_the_oom_killers_last_choice(
    manager: SandboxManager, docker_client: Any
) -> None:
    sid = await manager.create_sandbox()
    init = int(inspect(docker_client, sid)["State"]["Pid"])
    children = Path(f"/proc/{init}/task/{init}/children")
    await eventually(lambda: bool(children.read_text().split()), what="the lifetime process")
    lifetime = children.read_text().split()
    assert len(lifetime) == 1
    scores = {int(Path(f"/proc/{pid}/oom_score_adj").read_text()) for pid in (init, int(lifetime[0]))}
    assert scores in ({CORE_OOM_SCORE_ADJ}, {FALLBACK_OOM_SCORE_ADJ})  # fallback: no CAP_SYS_RESOURCE
    command = await sh(manager, sid, "cat /proc/self/oom_score_adj")
    assert int(command.stdout) == OOM_SCORE_ADJ > max(scores)
    lowered = await sh(manager, sid, f"echo {min(scores) - 1} > /proc/self/oom_score_adj")
    assert lowered.exit_code != 0  # a command cannot go below the sandbox's own processes


async def test_write_file_refused_for_space_is_audited(bus: LocalBus, make_manager: MakeManager) -> None:
    audit = await bus.consumer([t.AUDIT], group="test-audit")
    manager, sid = await sandbox_with_files(make_manager, BUSYBOX_IMAGE, disk_mb=64)
    _, free = await available_mib(manager, sid)
    await sh(manager, sid, f"dd if=/dev/zero of=/work/fill bs=1M count={free}")
    with pytest.raises(WorkspaceFullError) as info:
        await manager.write_file(sid, "/work/more.txt", b"x" * (2 * MIB))
    assert isinstance(info.value, OSError) and info.value.errno == 28
    events = [e for _, e in await drain(audit, t.AUDIT) if isinstance(e, AuditEvent)]
    event = next(e for e in events if e.details.get("errno") == "ENOSPC")
    assert event.container_id == sid and event.action == "write" and event.subject == "/work/more.txt"
    await assert_alive_with_files(manager, sid)


async def test_destroy_releases_the_storage(manager: SandboxManager, docker_client: Any) -> None:
    store = (await manager.engine()).workspaces
    assert store is not None
    sid = await manager.create_sandbox()
    volumes = [m["Name"] for m in inspect(docker_client, sid)["Mounts"]]
    assert len(list(loops_under(store.dir))) == 2 and len(list(store.dir.glob("sandguard-*.img"))) == 2
    await manager.destroy_sandbox(sid)
    assert not list(loops_under(store.dir)) and not list(store.dir.glob("sandguard-*.img"))
    names = {v["Name"] for v in docker_client.api.volumes().get("Volumes") or []}
    assert not names & set(volumes)
    await manager.cleanup()
    assert not store.dir.exists()


async def test_storage_of_a_sandbox_removed_outside_the_manager_is_freed(
    manager: SandboxManager, docker_client: Any
) -> None:
    store = (await manager.engine()).workspaces
    assert store is not None
    sid = await manager.create_sandbox()
    assert len(list(loops_under(store.dir))) == 2
    docker_client.api.remove_container(sid, force=True, v=True)  # as the enforcer would
    await eventually(lambda: not list(loops_under(store.dir)), what="the loop devices freed")
    await eventually(lambda: not list(store.dir.glob("sandguard-*.img")), what="the images deleted")


async def test_mounts_are_ext4_nosuid_nodev_with_no_host_path(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    mountinfo = (await sh(manager, sid, "cat /proc/self/mountinfo")).stdout
    by_point = {line.split()[4]: line for line in mountinfo.splitlines()}
    for target in ("/work", "/tmp"):
        fields, _, source = by_point[target].partition(" - ")
        assert fields.split()[3] == "/"  # the root of a filesystem of its own, no host directory
        assert {"nosuid", "nodev"} <= set(fields.split()[5].split(","))
        assert source.split()[0] == "ext4" and source.split()[1].startswith("/dev/loop")
    assert "/var/lib/sandguard" not in mountinfo and "/var/lib/docker/volumes" not in mountinfo
    modes = (await sh(manager, sid, "stat -c '%a %u %g' /work /tmp")).stdout.split("\n")
    assert modes[:2] == ["755 1000 1000", "1777 1000 1000"]  # as the tmpfs volumes were
    listing = await sh(manager, sid, "ls -A /work /tmp")
    assert "lost+found" not in listing.stdout


CRASHING_MANAGER = """
import asyncio, sys
from sandbox import SandboxManager
from sandguard.bus import LocalBus
from tests.integration.sandbox.conftest import quick_policy

async def main() -> None:
    bus = LocalBus()
    await bus.start()
    manager = SandboxManager(quick_policy(), bus=bus, image=sys.argv[1], workspace_dir=sys.argv[2],
                             labels={"test.run": sys.argv[3]})
    for _ in range(2):
        sid = await manager.create_sandbox()
        await manager.write_file(sid, "/work/data.txt", "mid-run")
    print("MANAGER", manager.manager_id, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def manager_line(stdout: Any) -> str:
    """The crashing manager's id, from the line it prints among its logs."""
    for line in stdout:
        if line.startswith("MANAGER "):
            return str(line.split()[1])
    raise AssertionError("the manager did not start")


async def test_a_crashed_managers_storage_is_reclaimed_by_the_next_cleanup(
    tmp_path: Path, bus: LocalBus, run_id: str, docker_client: Any
) -> None:
    root = tmp_path / "workspaces"
    survivor = SandboxManager(
        quick_policy(), bus=bus, image=BUSYBOX_IMAGE, workspace_dir=str(root), labels={RUN_LABEL: run_id}
    )
    await survivor.start()
    try:
        crashed_id = await crash_a_manager(root, run_id)
        left = root / crashed_id
        assert len(list(loops_under(left))) == 4 and len(list(left.glob("sandguard-*.img"))) == 4
        label = {"label": f"sandguard.manager={crashed_id}"}
        assert len(docker_client.api.containers(filters=label)) == 2  # still running, storage attached
    finally:
        await survivor.cleanup()  # also what reclaims a crashed manager's leftovers if the test fails
    assert not left.exists() and not list(root.iterdir())
    assert not list(loops_under(left))  # the devices themselves may already serve others
    assert not docker_client.api.containers(all=True, filters=label)
    assert not docker_client.api.volumes(filters=label).get("Volumes")


async def crash_a_manager(root: Path, run_id: str) -> str:
    """A manager in a process of its own, with two sandboxes holding files, killed with -9."""
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_MANAGER, BUSYBOX_IMAGE, str(root), run_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=Path(__file__).parents[3],
    )
    try:
        assert child.stdout is not None
        return await asyncio.wait_for(asyncio.to_thread(manager_line, child.stdout), 120)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
