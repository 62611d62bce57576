"""SandboxSecurityManager, the original API, on the real engine and bus."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import SandboxManager, SandboxSecurityManager
from sandguard.bus import LocalBus
from schemas import PolicyEvent, ResourceLimits, SecurityPolicy
from schemas import topics as t
from tests.conftest import BUSYBOX_IMAGE
from tests.integration.sandbox.conftest import drain

MIB = 1024 * 1024


@pytest.fixture
def plain_container(docker_client: Any, run_id: str) -> Iterator[Any]:
    """A container not made by sandguard: root, writable root, every default capability."""
    container = docker_client.containers.run(
        BUSYBOX_IMAGE, ["sleep", "120"], detach=True, labels={"sandguard.test.run": run_id}
    )
    yield container
    container.remove(force=True)


async def test_apply_reapplies_live_limits_on_a_sandbox(manager: SandboxManager, docker_client: Any) -> None:
    security = SandboxSecurityManager(manager=manager)
    sid = await manager.create_sandbox()
    docker_client.api.update_container(sid, mem_limit=200 * MIB, memswap_limit=200 * MIB, cpu_quota=90_000)
    applied = await security.apply_security_policy(sid)
    host = docker_client.api.inspect_container(sid)["HostConfig"]
    assert host["Memory"] == 64 * MIB and host["CpuQuota"] == 50_000 and host["PidsLimit"] == 20
    assert applied.compliant and applied.applied["Memory"] == 64 * MIB


async def test_apply_reports_what_cannot_change_live(manager: SandboxManager, plain_container: Any) -> None:
    security = SandboxSecurityManager(
        SecurityPolicy(resource_limits=ResourceLimits(memory_mb=100)), manager=manager
    )
    applied = await security.apply_security_policy(plain_container)
    gaps = {g.setting for g in applied.gaps}
    assert {"read_only_rootfs", "cap_drop", "no_new_privileges", "user", "init", "network"} <= gaps
    plain_container.reload()
    assert plain_container.attrs["HostConfig"]["Memory"] == 100 * MIB  # the live part was applied


async def test_monitoring_is_switched_by_publishing_the_policy(
    manager: SandboxManager, bus: LocalBus, plain_container: Any
) -> None:
    policies = await bus.consumer([t.POLICIES], group="test-policies")
    security = SandboxSecurityManager(manager=manager)
    sid = await manager.create_sandbox()
    await security.stop_monitoring(sid)
    await security.start_monitoring(plain_container.id)
    events = [(r.key, e) for r, e in await drain(policies, t.POLICIES) if isinstance(e, PolicyEvent)]
    by_key = {key: [e.policy.enable_monitoring for k, e in events if k == key] for key, _ in events}
    assert by_key[sid] == [True, False] and by_key[plain_container.id] == [True]
    report = await security.get_security_report(plain_container.id)
    assert report["container_id"] == plain_container.id and report["policy_summary"]["monitoring_enabled"]
    assert (await security.get_security_report(sid))["policy_summary"]["monitoring_enabled"] is False
    await security.cleanup()
