"""Lifetimes, concurrency, destruction and cleanup, against the real engine."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import pytest

from sandbox import (
    ManagerClosed,
    SandboxCreateError,
    SandboxExpired,
    SandboxManager,
    SandboxNotFound,
    SandboxStatus,
)
from sandguard.bus import LocalBus
from schemas import AuditEvent, NetworkPolicy, PolicyEvent
from schemas import topics as t
from tests.integration.sandbox.conftest import (
    RUN_LABEL,
    MakeManager,
    drain,
    eventually,
    inspect,
    quick_policy,
)


async def test_the_lifetime_ends_the_sandbox(
    make_manager: MakeManager, docker_client: Any, bus: LocalBus
) -> None:
    audit = await bus.consumer([t.AUDIT], group="test-audit")
    manager = await make_manager(quick_policy(limits={"execution_timeout": 2}))
    sid = await manager.create_sandbox()
    assert (await manager.execute(sid, "echo early")).stdout == "early\n"
    await eventually(
        lambda: manager.sandbox(sid).status is SandboxStatus.EXPIRED, timeout_s=15, what="expiry"
    )
    assert not inspect(docker_client, sid)["State"]["Running"]
    with pytest.raises(SandboxExpired) as info:
        await manager.execute(sid, "echo late")
    assert info.value.lifetime_seconds == 2
    actions = [e.action for _, e in await drain(audit, t.AUDIT) if isinstance(e, AuditEvent)]
    assert "expire" in actions


async def test_a_command_cannot_outlive_its_sandbox(make_manager: MakeManager) -> None:
    manager = await make_manager(quick_policy(limits={"execution_timeout": 2}))
    sid = await manager.create_sandbox()
    with pytest.raises(SandboxExpired):
        await manager.execute(sid, "sleep 30", timeout=60)


async def test_twenty_concurrent_creates_all_work(make_manager: MakeManager) -> None:
    manager = await make_manager()
    ids = await asyncio.gather(*(manager.create_sandbox() for _ in range(20)))
    assert len(set(ids)) == 20
    results = await asyncio.gather(*(manager.execute(sid, "echo $HOSTNAME-ok") for sid in ids))
    assert all(r.stdout == "sandbox-ok\n" for r in results)
    assert manager.get_stats()["active_sandboxes"] == 20
    assert manager.metrics.registry.get_sample_value("sandguard_sandboxes_active") == 20
    assert manager.metrics.registry.get_sample_value("sandguard_sandboxes_created_total") == 20


async def test_destroy_removes_and_tombstones(
    make_manager: MakeManager, bus: LocalBus, docker_client: Any
) -> None:
    policies = await bus.consumer([t.POLICIES], group="test-policies")
    manager = await make_manager()
    sid = await manager.create_sandbox(labels={"team": "red"})
    await manager.destroy_sandbox(sid)
    records = await drain(policies, t.POLICIES)
    assert [r.key for r, _ in records] == [sid, sid]
    first = records[0][1]
    assert isinstance(first, PolicyEvent) and first.policy_id == manager.security_policy.policy_id
    assert first.labels == {"team": "red"} and records[1][0].value is None  # the tombstone
    with pytest.raises(SandboxNotFound, match="destroyed"):
        await manager.execute(sid, "true")
    assert not docker_client.api.containers(all=True, filters={"id": sid})
    report = await manager.get_security_report(sid)  # still reportable after destruction
    assert report["status"] == "destroyed"


async def test_cleanup_leaves_nothing_behind(
    make_manager: MakeManager, docker_client: Any, run_id: str
) -> None:
    manager = await make_manager()
    for policy in NetworkPolicy:
        await manager.create_sandbox(policy=quick_policy(network_policy=policy))
    mine = {"label": f"sandguard.manager={manager.manager_id}"}
    assert len(docker_client.api.containers(filters=mine)) == 4
    await manager.cleanup()
    assert docker_client.api.containers(all=True, filters=mine) == []
    assert (docker_client.api.volumes(filters=mine).get("Volumes") or []) == []
    assert docker_client.api.networks(filters=mine) == []
    assert docker_client.api.containers(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}) == []
    rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=True, timeout=30).stdout
    assert manager.manager_id not in rules
    with pytest.raises(ManagerClosed):
        await manager.create_sandbox()


async def test_a_failed_create_leaves_nothing(manager: SandboxManager, docker_client: Any) -> None:
    with pytest.raises(SandboxCreateError, match="not found"):
        await manager.create_sandbox(image="sandguard/no-such-image:0")
    assert (
        docker_client.api.containers(all=True, filters={"label": f"sandguard.manager={manager.manager_id}"})
        == []
    )
    assert manager.list_sandboxes() == []


async def test_concurrent_removals_of_one_container_both_succeed(
    manager: SandboxManager, docker_client: Any
) -> None:
    """The enforcer may remove a sandbox at the moment its manager does: the engine
    answers the second removal 409 "already in progress" (or 404); neither may fail."""
    from sandbox.docker_sandbox import remove_container

    engine = await manager.engine()
    ids = await asyncio.gather(*(manager.create_sandbox() for _ in range(4)))
    for sid in ids:
        await asyncio.gather(remove_container(engine, sid), remove_container(engine, sid))
    left = docker_client.containers.list(
        all=True, filters={"label": f"sandguard.manager={manager.manager_id}"}
    )
    assert left == []
