"""Each hardening property, seen from inside the sandbox and by inspecting it."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox import CommandDeniedError, SandboxManager
from sandbox.seccomp import security_option
from tests.integration.sandbox.conftest import MakeManager, cgroup, inspect, quick_policy

MIB = 1024 * 1024


async def run(manager: SandboxManager, sid: str, command: str) -> str:
    result = await manager.execute(sid, command, timeout=10)
    assert result.exit_code == 0, result
    return result.stdout


async def test_no_capabilities_no_privileges_not_root(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    status = dict(
        line.split(":\t", 1)
        for line in (await run(manager, sid, "cat /proc/self/status")).splitlines()
        if ":\t" in line
    )
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[cap], 16) == 0, cap
    assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2"  # 2: filter mode, the default profile
    assert (await run(manager, sid, "id -u; id -g")).split() == ["1000", "1000"]


async def test_root_is_read_only_and_the_workspace_writable(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    denied = await manager.execute(sid, "touch /x", timeout=10)
    assert denied.exit_code != 0 and "Read-only file system" in denied.stderr
    assert (
        await run(manager, sid, "echo hi > /work/a && echo yo > /tmp/b && cat /work/a /tmp/b") == "hi\nyo\n"
    )
    listing = await run(manager, sid, "ls -ln /work/a")
    assert listing.split()[2:4] == ["1000", "1000"]


async def test_only_loopback_without_network(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    assert (await run(manager, sid, "ls /sys/class/net")).split() == ["lo"]


async def test_an_init_reaps_and_the_lifetime_is_the_main_process(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    assert (await run(manager, sid, "cat /proc/1/cmdline | tr '\\0' ' '")).startswith(
        "/sbin/docker-init -- sleep "
    )
    # A zombie's parent dies; the init reaps it (no Z state left behind).
    await run(manager, sid, "sh -c 'sleep 0.2 & exec true'; sleep 0.5")
    assert " Z " not in await run(manager, sid, "ps -o pid,stat,comm")


async def test_limits_are_in_the_configuration_and_the_kernel(
    make_manager: MakeManager, docker_client: Any
) -> None:
    policy = quick_policy(
        limits={
            "memory_mb": 96,
            "cpu_percent": 30.0,
            "max_processes": 12,
            "max_open_files": 256,
            "disk_mb": 200,
        }
    )
    manager = await make_manager(policy)
    sid = await manager.create_sandbox()
    host = inspect(docker_client, sid)["HostConfig"]
    assert host["Memory"] == host["MemorySwap"] == 96 * MIB
    assert (host["CpuPeriod"], host["CpuQuota"], host["PidsLimit"]) == (100_000, 30_000, 12)
    assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"] and host["Init"] and not host["Privileged"]
    assert host["SecurityOpt"] == ["no-new-privileges:true", security_option()]
    assert cgroup(sid, "memory", "memory.limit_in_bytes") == str(96 * MIB)
    assert cgroup(sid, "pids", "pids.max") == "12"
    assert cgroup(sid, "cpu", "cpu.cfs_quota_us") == "30000"
    assert (await run(manager, sid, "ulimit -n")).strip() == "256"
    sizes = await run(manager, sid, "df -m /work /tmp | tail -2")
    work, tmp = (int(line.split()[1]) for line in sizes.splitlines())
    # ext4 on disk (sandbox.workspace): the split's sizes less the filesystem's own ~3 %
    assert work + tmp <= 200 and 0.95 * 138 <= work <= 138 and 0.95 * 50 <= tmp <= 50


async def test_no_host_mounts_and_labels(manager: SandboxManager, docker_client: Any) -> None:
    sid = await manager.create_sandbox(labels={"team": "blue"})
    info = inspect(docker_client, sid)
    assert not info["HostConfig"]["Binds"]
    mounts = info["Mounts"]
    assert sorted(m["Destination"] for m in mounts) == ["/tmp", "/work"]
    assert all(m["Type"] == "volume" and m["Driver"] == "local" for m in mounts)
    for m in mounts:
        volume = docker_client.api.inspect_volume(m["Name"])
        assert (
            volume["Options"]["type"] == "ext4"
            and volume["Options"]["device"].startswith("/dev/loop")
            and volume["Labels"]["sandguard.manager"] == manager.manager_id
        )
    labels = info["Config"]["Labels"]
    assert labels["sandguard.sandbox"] == "1" and labels["team"] == "blue"
    assert labels["sandguard.policy_id"] == manager.security_policy.policy_id
    assert labels["sandguard.manager"] == manager.manager_id and info["Config"]["User"] == "65534:65534"


async def test_written_files_do_not_run_unless_the_policy_allows_it(make_manager: MakeManager) -> None:
    """/work, /tmp and /dev/shm are noexec by default: a program the sandbox writes is refused
    by the kernel, and validation refuses to run a path there (only a link the sandbox made
    could run from there: any program, under any name); allow_workspace_exec mounts /work
    and /tmp exec. (The kernel's own refusal is shown in tests/integration/detection.)"""
    for allowed in (False, True):
        manager = await make_manager(quick_policy(blocked_commands={"rm"}, allow_workspace_exec=allowed))
        sid = await manager.create_sandbox()
        await manager.write_file(sid, "/work/hello.py", b"#!/bin/sh\necho ran\n")
        script = "chmod +x /work/hello.py && /work/hello.py; cp /work/hello.py /tmp/h && /tmp/h"
        if allowed:
            result = await manager.execute(sid, f"sh -c '{script}'", timeout=10)
            assert result.stdout.count("ran") == 2, result
        else:
            with pytest.raises(CommandDeniedError, match="may be a link the sandbox made"):
                await manager.execute(sid, f"sh -c '{script}'", timeout=10)
        mounts = await run(manager, sid, "cat /proc/mounts")
        options = {line.split()[1]: line.split()[3].split(",") for line in mounts.splitlines()}
        assert ("noexec" in options["/work"]) is not allowed and "noexec" in options["/dev/shm"]
