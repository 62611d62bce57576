"""The container configuration built from a policy: every hardening property, by key."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.config import container_config
from sandbox.exceptions import InvalidSandboxRequest
from sandbox.seccomp import security_option
from schemas import NetworkPolicy, ResourceLimits, SecurityPolicy
from schemas.policy import CPU_PERIOD_US, MIB, MIN_CPU_QUOTA_US, cpu_quota_us, split_disk


def build(policy: SecurityPolicy | None = None, **overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "image": "sandguard/busybox:1",
        "labels": {"sandguard.sandbox": "1", "team": "a"},
        "network_name": None,
        "volume_labels": {"sandguard.manager": "m1"},
    }
    args.update(overrides)
    return container_config(policy or SecurityPolicy(), **args)


def test_limits_come_from_the_policy() -> None:
    limits = ResourceLimits(memory_mb=256, cpu_percent=25.0, max_processes=10, max_open_files=64)
    host = build(SecurityPolicy(resource_limits=limits))["HostConfig"]
    assert host["Memory"] == host["MemorySwap"] == 256 * MIB
    assert (host["CpuPeriod"], host["CpuQuota"]) == (CPU_PERIOD_US, 25_000)
    assert host["PidsLimit"] == 10
    assert {"Name": "nofile", "Soft": 64, "Hard": 64} in host["Ulimits"]
    assert {"Name": "core", "Soft": 0, "Hard": 0} in host["Ulimits"]


def test_hardening_is_in_the_configuration() -> None:
    body = build()
    host = body["HostConfig"]
    assert body["User"] == "65534:65534"  # the init and the timer: out of the sandbox user's reach
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and host["CapAdd"] == []
    assert host["SecurityOpt"] == ["no-new-privileges:true", security_option()]  # never unconfined
    assert host["Privileged"] is False and host["Init"] is True
    assert host["Binds"] == [] and host["Devices"] == []
    assert all(m["Type"] == "volume" for m in host["Mounts"])
    assert host["NetworkMode"] == "none" and "Sysctls" not in host
    assert body["Entrypoint"] == [""]  # an image's entrypoint cannot wrap the timer


def test_lifetime_is_the_main_process() -> None:
    body = build(SecurityPolicy(resource_limits=ResourceLimits(execution_timeout=42)))
    assert body["Cmd"] == ["sleep", "42"]


def test_workspace_volumes_are_tmpfs_sized_and_owned() -> None:
    host = build(SecurityPolicy(resource_limits=ResourceLimits(disk_mb=400)))["HostConfig"]
    mounts = {m["Target"]: m for m in host["Mounts"]}
    assert set(mounts) == {"/work", "/tmp"}
    work = mounts["/work"]["VolumeOptions"]
    assert work["DriverConfig"]["Options"]["type"] == "tmpfs"
    assert "size=275m" in work["DriverConfig"]["Options"]["o"]
    assert "uid=1000,gid=1000" in work["DriverConfig"]["Options"]["o"]
    assert "size=100m" in mounts["/tmp"]["VolumeOptions"]["DriverConfig"]["Options"]["o"]
    assert work["Labels"]["sandguard.manager"] == "m1" and work["NoCopy"] is True
    assert host["ShmSize"] == 25 * MIB


def test_workspace_and_tmp_are_noexec_unless_the_policy_allows_it() -> None:
    def options(policy: SecurityPolicy) -> list[list[str]]:
        mounts = build(policy)["HostConfig"]["Mounts"]
        return [m["VolumeOptions"]["DriverConfig"]["Options"]["o"].split(",") for m in mounts]

    assert all("noexec" in o and "exec" not in o for o in options(SecurityPolicy()))
    allowed = SecurityPolicy(allow_workspace_exec=True)
    assert all("exec" in o and "noexec" not in o for o in options(allowed))


@given(st.integers(min_value=1, max_value=1024 * 1024))
def test_disk_split_stays_within_disk_mb(disk_mb: int) -> None:
    split = split_disk(disk_mb)
    assert min(split.work_mb, split.tmp_mb, split.shm_mb) >= 1
    assert split.work_mb + split.tmp_mb + split.shm_mb <= max(disk_mb, 3)


@pytest.mark.parametrize(("percent", "quota"), [(50.0, 50_000), (200.0, 200_000), (0.1, MIN_CPU_QUOTA_US)])
def test_cpu_quota_is_percent_of_one_cpu(percent: float, quota: int) -> None:
    assert cpu_quota_us(percent) == quota


@pytest.mark.parametrize("network", [NetworkPolicy.INTERNAL, NetworkPolicy.RESTRICTED, NetworkPolicy.FULL])
def test_networked_sandboxes_join_the_network_without_ipv6(network: NetworkPolicy) -> None:
    host = build(SecurityPolicy(network_policy=network), network_name="sandguard-m1-x")["HostConfig"]
    assert host["NetworkMode"] == "sandguard-m1-x"
    assert host["Sysctls"]["net.ipv6.conf.all.disable_ipv6"] == "1"


def test_a_network_policy_without_a_network_is_refused() -> None:
    with pytest.raises(InvalidSandboxRequest, match="needs a Docker network"):
        build(SecurityPolicy(network_policy=NetworkPolicy.RESTRICTED))


def test_a_policy_leaving_no_pid_for_a_command_is_refused() -> None:
    with pytest.raises(InvalidSandboxRequest) as info:
        build(SecurityPolicy(resource_limits=ResourceLimits(max_processes=2)))
    assert info.value.field == "resource_limits.max_processes"


def test_runtime_and_labels_pass_through() -> None:
    body = build(runtime="runsc")
    assert body["HostConfig"]["Runtime"] == "runsc"
    assert body["Labels"] == {"sandguard.sandbox": "1", "team": "a"}
