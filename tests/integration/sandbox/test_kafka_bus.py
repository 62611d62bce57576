"""The manager on a real Kafka broker: its policy on the compacted topic keyed by
container id with a tombstone on destroy, its audit events, and the enforcer's results
coming back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sandbox import SandboxTerminated
from sandguard.bus import KafkaBus
from schemas import (
    ActionOutcome,
    ActionResult,
    AuditEvent,
    EnforcementAction,
    PolicyEvent,
    decode,
    encode,
    now_ms,
)
from schemas import topics as t
from tests.integration.sandbox.conftest import MakeManager


@pytest.fixture
async def kafka_bus(kafka_bootstrap: str, kafka_namespace: str) -> AsyncIterator[KafkaBus]:
    bus = KafkaBus(kafka_bootstrap, namespace=kafka_namespace, partitions=2)
    await bus.start()
    yield bus
    await bus.stop()


async def read_until(consumer: Any, key: str, want: int, timeout_s: float = 30.0) -> list[Any]:
    """Records of ``key`` until ``want`` of them arrived (bounded in time)."""
    out: list[Any] = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(out) < want and asyncio.get_running_loop().time() < deadline:
        out += [r for r in await consumer.getmany(timeout_ms=500) if r.key == key]
    return out


async def test_policies_audit_and_results_over_kafka(kafka_bus: KafkaBus, make_manager: MakeManager) -> None:
    manager = await make_manager(bus=kafka_bus)
    sid = await manager.create_sandbox()
    with pytest.raises(PermissionError):
        await manager.execute(sid, "sudo id")
    await manager.execute(sid, "echo ok")
    # The enforcer's result, published until the manager's fresh group is assigned its partitions.
    result = ActionResult(
        container_id=sid,
        command_id="cmd-k",
        action=EnforcementAction.TERMINATE,
        result=ActionOutcome.APPLIED,
        reason="reverse shell",
        rule_ids=("process.reverse_shell",),
        command_time=now_ms(),
    )

    async def terminated() -> None:
        while manager.sandbox(sid).record.termination is None:
            await kafka_bus.publish(t.ACTIONS, sid, encode(result))
            await kafka_bus.flush()
            await asyncio.sleep(1.0)

    await asyncio.wait_for(terminated(), timeout=60)
    with pytest.raises(SandboxTerminated, match="reverse shell"):
        await manager.execute(sid, "true")
    await manager.destroy_sandbox(sid)
    await kafka_bus.flush()

    policies = await kafka_bus.consumer([t.POLICIES], group="test-policies")
    records = await read_until(policies, sid, 2)
    assert len(records) == 2 and records[1].value is None  # the policy, then its tombstone
    first = decode(t.POLICIES, records[0].value)
    assert isinstance(first, PolicyEvent) and first.policy_id == manager.security_policy.policy_id
    audit = await kafka_bus.consumer([t.AUDIT], group="test-audit")
    events = [decode(t.AUDIT, r.value) for r in await read_until(audit, sid, 5)]
    actions = [(e.action, e.allowed) for e in events if isinstance(e, AuditEvent)]
    assert ("create", None) in actions and ("exec", False) in actions and ("exec", True) in actions
    assert ("terminated", None) in actions and ("destroy", None) in actions
