"""Audit and policy events: built with the right type, topic and key; a failing bus is
counted and logged, never raised into the operation."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from sandbox import audit
from sandbox.audit import MAX_SUBJECT_CHARS, AuditPublisher
from sandbox.metrics import ManagerMetrics
from sandbox.results import ExecResult
from sandguard.bus import LocalBus
from schemas import AuditCategory, AuditEvent, PolicyEvent, SecurityPolicy, SecurityViolationType, decode
from schemas import topics as t

CID = "c" * 64


def test_an_allowed_exec_carries_its_outcome() -> None:
    result = ExecResult(
        sandbox_id=CID,
        command="ls",
        exit_code=2,
        timeout=5,
        output_limit=10,
        stdout_bytes=30,
        stdout_truncated=True,
        timed_out=False,
    )
    ev = audit.exec_allowed(CID, "h", "ls", result, "pol-1")
    assert (ev.category, ev.action, ev.allowed, ev.subject) == (AuditCategory.EXEC, "exec", True, "ls")
    assert ev.details["exit_code"] == 2 and ev.details["truncated"] is True and ev.violation_type is None


def test_a_denial_is_typed_for_the_processors() -> None:
    ev = audit.denied(
        CID,
        "h",
        category=AuditCategory.FILE,
        action="read",
        subject="/etc/passwd",
        violation_type=SecurityViolationType.FILE_ACCESS_VIOLATION,
        reason="blocked",
        details={},
    )
    assert ev.allowed is False and ev.violation_type is SecurityViolationType.FILE_ACCESS_VIOLATION


def test_subjects_are_capped() -> None:
    ev = audit.lifecycle(CID, "h", "create")
    assert ev.category is AuditCategory.LIFECYCLE
    long = audit.file_allowed(CID, "h", "write", "/work/" + "a" * 10_000, policy_id="p", details={})
    assert long.subject is not None and len(long.subject) == MAX_SUBJECT_CHARS + 1


async def test_events_go_to_their_topics_keyed_by_container() -> None:
    bus = LocalBus()
    consumer = await bus.consumer([t.AUDIT, t.POLICIES], group="g")
    metrics = ManagerMetrics(CollectorRegistry())
    pub = AuditPublisher(bus, metrics)
    await pub.audit(audit.lifecycle(CID, "h", "create"))
    await pub.policy(audit.policy_event(CID, "h", SecurityPolicy(), name="n", image="i", labels={"a": "b"}))
    await pub.tombstone(CID)
    records = await consumer.getmany(timeout_ms=100)
    assert [(r.topic, r.key) for r in records] == [(t.AUDIT, CID), (t.POLICIES, CID), (t.POLICIES, CID)]
    assert isinstance(decode(t.AUDIT, records[0].value), AuditEvent)
    policy = decode(t.POLICIES, records[1].value)
    assert isinstance(policy, PolicyEvent) and policy.policy_id == SecurityPolicy().policy_id
    assert records[2].value is None
    assert metrics.registry.get_sample_value("sandguard_sandbox_events_out_total", {"topic": t.POLICIES}) == 2


async def test_a_failed_publish_is_counted_not_raised() -> None:
    bus = LocalBus()
    await bus.stop()  # publishing now raises BusClosedError
    metrics = ManagerMetrics(CollectorRegistry())
    await AuditPublisher(bus, metrics).audit(audit.lifecycle(CID, "h", "create"))
    assert metrics.registry.get_sample_value("sandguard_sandbox_errors_total", {"kind": "publish"}) == 1


def test_policy_changes_are_policy_events() -> None:
    ev = audit.policy_change(CID, "h", "policy_applied", policy_id="pol-1", gaps=[])
    assert ev.category is AuditCategory.POLICY and ev.details == {"policy_id": "pol-1", "gaps": []}


async def test_a_publish_on_a_stuck_bus_gives_up_and_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bus that never takes the record (a fake: no real bus hangs on demand) holds the
    operation at most PUBLISH_TIMEOUT_S; the failure is counted, the operation goes on."""

    class StuckBus(LocalBus):
        async def publish(self, topic: str, key: str | None, value: bytes | None) -> None:
            await asyncio.Event().wait()  # never set

    monkeypatch.setattr(audit, "PUBLISH_TIMEOUT_S", 0.05)
    metrics = ManagerMetrics(CollectorRegistry())
    publisher = AuditPublisher(StuckBus(), metrics)
    async with asyncio.timeout(5):
        await publisher.audit(audit.lifecycle("c1", "h", "create"))
    assert metrics.errors.labels("publish")._value.get() == 1
