"""A running container against a policy: the live limits, and the gaps fixed at creation."""

from __future__ import annotations

from typing import Any

from sandbox.compliance import config_gaps
from sandbox.config import container_config, live_limits
from schemas import NetworkPolicy, ResourceLimits, SecurityPolicy

POLICY = SecurityPolicy(resource_limits=ResourceLimits(memory_mb=128, cpu_percent=30, max_processes=20))


def inspected(body: dict[str, Any]) -> dict[str, Any]:
    """What `docker inspect` shows of a container created from ``body`` (the fields we read)."""
    return {"Config": {"User": body["User"]}, "HostConfig": body["HostConfig"]}


def test_live_limits() -> None:
    assert live_limits(POLICY) == {
        "Memory": 128 * 1024 * 1024,
        "MemorySwap": 128 * 1024 * 1024,
        "CpuPeriod": 100_000,
        "CpuQuota": 30_000,
        "PidsLimit": 20,
    }


def test_our_own_sandbox_has_no_gaps() -> None:
    body = container_config(POLICY, image="i", labels={}, network_name=None, volume_labels={})
    assert config_gaps(POLICY, inspected(body)) == []


def test_a_plain_container_shows_every_gap() -> None:
    plain = {
        "Config": {"User": ""},
        "HostConfig": {
            "ReadonlyRootfs": False,
            "CapDrop": None,
            "SecurityOpt": ["seccomp=unconfined"],
            "Privileged": True,
            "Binds": ["/:/host"],
            "Init": None,
            "NetworkMode": "bridge",
        },
    }
    gaps = {g.setting: g for g in config_gaps(POLICY, plain)}
    assert set(gaps) == {
        "read_only_rootfs",
        "cap_drop",
        "no_new_privileges",
        "seccomp",
        "privileged",
        "user",
        "host_mounts",
        "init",
        "nofile",
        "network",
    }
    assert gaps["user"].actual == "root" and "recreate" in gaps["network"].reason


def test_network_modes_per_policy() -> None:
    for policy, mode, internal, ok in [
        (NetworkPolicy.FULL, "bridge", False, True),
        (NetworkPolicy.INTERNAL, "sandguard-m-internal", True, True),
        (NetworkPolicy.INTERNAL, "bridge", False, False),
        (NetworkPolicy.RESTRICTED, "sandguard-m-restricted", False, True),
        (NetworkPolicy.NONE, "host", False, False),
    ]:
        body = container_config(
            SecurityPolicy(network_policy=policy), image="i", labels={}, network_name=mode, volume_labels={}
        )
        body["HostConfig"]["NetworkMode"] = mode
        gaps = config_gaps(SecurityPolicy(network_policy=policy), inspected(body), network_internal=internal)
        assert (not gaps) is ok, (policy, mode)
