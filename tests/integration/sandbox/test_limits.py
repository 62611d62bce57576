"""Attacks on the limits, held by the kernel: a fork bomb, a memory bomb, a CPU hog.

Each is bounded by its command timeout; the host is checked to stay responsive (a call
to the engine and a process spawn still complete while the attack runs).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

from tests.conftest import PYTHON_IMAGE
from tests.integration.sandbox.conftest import MakeManager, cgroup, inspect, quick_policy

FORK_BOMB = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"


def host_probe(docker_client: Any) -> None:
    docker_client.api.ping()
    subprocess.run(["true"], check=True, timeout=30)


async def test_a_fork_bomb_stays_at_the_pids_limit(make_manager: MakeManager, docker_client: Any) -> None:
    manager = await make_manager(quick_policy(limits={"max_processes": 16}), image=PYTHON_IMAGE)
    sid = await manager.create_sandbox()
    bomb = asyncio.create_task(manager.execute(sid, ["python3", "-c", FORK_BOMB], timeout=4))
    peak = 0
    while not bomb.done():
        peak = max(peak, int(cgroup(sid, "pids", "pids.current")))
        await asyncio.to_thread(host_probe, docker_client)
        await asyncio.sleep(0.1)
    result = bomb.result()
    assert result.timed_out and result.killed_processes > 1
    assert 0 < peak <= 16
    events = dict(line.split() for line in cgroup(sid, "pids", "pids.events").splitlines())
    assert int(events["max"]) > 0  # forks were refused by the kernel
    # Every process of the bomb was killed: only the init and the lifetime timer remain.
    assert cgroup(sid, "pids", "pids.current") == "2"
    assert (await manager.execute(sid, "echo alive", timeout=5)).stdout == "alive\n"


async def test_a_memory_bomb_is_oom_killed_inside_the_sandbox_only(
    make_manager: MakeManager, docker_client: Any
) -> None:
    manager = await make_manager(quick_policy(limits={"memory_mb": 32}))
    sid = await manager.create_sandbox()
    result = await manager.execute(sid, "tail /dev/zero", timeout=30)  # one endless line, held in memory
    assert result.exit_code == 137 and not result.timed_out
    oom = dict(line.split() for line in cgroup(sid, "memory", "memory.oom_control").splitlines())
    assert int(oom["oom_kill"]) >= 1
    assert int(cgroup(sid, "memory", "memory.max_usage_in_bytes")) <= 32 * 1024 * 1024
    assert inspect(docker_client, sid)["State"]["Running"]  # the sandbox itself lives on
    assert (await manager.execute(sid, "echo alive", timeout=5)).stdout == "alive\n"
    await asyncio.to_thread(host_probe, docker_client)


async def test_a_cpu_hog_stays_under_its_quota(make_manager: MakeManager) -> None:
    manager = await make_manager(quick_policy(limits={"cpu_percent": 20.0}))
    sid = await manager.create_sandbox()
    used_before = int(cgroup(sid, "cpuacct", "cpuacct.usage"))
    started = time.monotonic()
    result = await manager.execute(sid, "while :; do :; done", timeout=3)
    wall = time.monotonic() - started
    share = (int(cgroup(sid, "cpuacct", "cpuacct.usage")) - used_before) / 1e9 / wall
    assert result.timed_out
    assert share < 0.2 * 1.5  # a fifth of a CPU, with room for accounting at the edges
    stat = dict(line.split() for line in cgroup(sid, "cpu", "cpu.stat").splitlines())
    # On a busy host the hog may not even get its fifth; when it did, the kernel throttled it.
    assert int(stat["nr_throttled"]) > 0 or share < 0.15
