"""Audit and policy events: built with the right type, topic and key; a failing bus is
counted and logged, never raised into the operation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from common.retry import RetryPolicy
from common.spill import read_journal
from sandbox import audit
from sandbox.audit import MAX_SUBJECT_CHARS, AuditPublisher
from sandbox.metrics import ManagerMetrics
from sandbox.results import ExecResult
from sandguard.bus import LocalBus
from schemas import (
    AuditCategory,
    AuditEvent,
    PolicyEvent,
    SecurityPolicy,
    SecurityViolationType,
    decode,
    encode,
)
from schemas import topics as t
from schemas.bus import Record

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


class FlakyBus(LocalBus):
    """The in-process bus refusing its first ``failures`` publishes: a fault it cannot
    produce on demand (a broker outage)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def publish(self, topic: str, key: str | None, value: bytes | None) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("broker unavailable")
        await super().publish(topic, key, value)


def test_lone_surrogates_and_odd_text_are_escaped_not_dropped() -> None:
    """Issue 17: 'rm -f /work/f1.txt # \\udcff' was refused, but its event failed to
    encode and was dropped, so escalation never counted it."""
    event = audit.denied(
        CID,
        "h",
        category=AuditCategory.EXEC,
        action="exec",
        subject="rm -f /work/f1.txt # \udcff",
        violation_type=SecurityViolationType.PERMISSION_VIOLATION,
        reason="'rm' is a blocked command \ud800",
        details={"word": "rm\udcff", "nested": {"list": ["ok", "\udfff"]}, "n": 3},
    )
    decoded = decode(t.AUDIT, audit.encode_safely(event))
    assert isinstance(decoded, AuditEvent)
    assert decoded.subject == "rm -f /work/f1.txt # \\udcff"
    assert decoded.reason == "'rm' is a blocked command \\ud800"
    assert decoded.details == {"word": "rm\\udcff", "nested": {"list": ["ok", "\\udfff"]}, "n": 3}
    plain = audit.lifecycle(CID, "h", "create")
    assert audit.encode_safely(plain) == encode(plain)


async def test_an_event_with_odd_text_reaches_the_bus() -> None:
    bus = LocalBus()
    consumer = await bus.consumer([t.AUDIT], group="g")
    metrics = ManagerMetrics(CollectorRegistry())
    await AuditPublisher(bus, metrics).audit(audit.lifecycle(CID, "h", "create", reason="x \udcff"))
    records = await consumer.getmany(timeout_ms=100)
    assert len(records) == 1 and decode(t.AUDIT, records[0].value).reason == "x \\udcff"


async def test_a_failed_publish_is_retried() -> None:
    bus = FlakyBus(failures=2)
    consumer = await bus.consumer([t.AUDIT], group="g")
    metrics = ManagerMetrics(CollectorRegistry())
    await AuditPublisher(bus, metrics).audit(audit.lifecycle(CID, "h", "create"))
    assert len(await consumer.getmany(timeout_ms=100)) == 1
    assert metrics.registry.get_sample_value("sandguard_sandbox_errors_total", {"kind": "publish_retry"}) == 2


async def test_an_outage_spills_events_and_delivers_them_in_order_later() -> None:
    flaky = FlakyBus(failures=1000)
    consumer = await flaky.consumer([t.AUDIT], group="g")
    metrics = ManagerMetrics(CollectorRegistry())
    pub = AuditPublisher(flaky, metrics)
    for action in ("first", "second"):
        await pub.audit(audit.lifecycle(CID, "h", action))
    assert pub.spilled == 2
    flaky.failures = 0
    await pub.audit(audit.lifecycle(CID, "h", "third"))
    records = await consumer.getmany(timeout_ms=100)
    assert [decode(t.AUDIT, r.value).action for r in records] == ["first", "second", "third"]
    assert pub.spilled == 0
    assert (
        metrics.registry.get_sample_value("sandguard_sandbox_errors_total", {"kind": "publish_spilled"}) == 2
    )


async def test_a_publish_on_a_stuck_bus_gives_up_and_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bus that never takes the record (a fake: no real bus hangs on demand) holds each
    attempt at most PUBLISH_TIMEOUT_S; the event is spilled and counted, the operation goes on."""

    class StuckBus(LocalBus):
        async def publish(self, topic: str, key: str | None, value: bytes | None) -> None:
            await asyncio.Event().wait()  # never set

    monkeypatch.setattr(audit, "PUBLISH_TIMEOUT_S", 0.05)
    monkeypatch.setattr(audit, "PUBLISH", RetryPolicy(first_s=0.01, max_s=0.04, attempts=4))
    metrics = ManagerMetrics(CollectorRegistry())
    publisher = AuditPublisher(StuckBus(), metrics)
    async with asyncio.timeout(5):
        await publisher.audit(audit.lifecycle("c1", "h", "create"))
    assert publisher.spilled == 1  # kept for later, counted
    assert (
        metrics.registry.get_sample_value("sandguard_sandbox_errors_total", {"kind": "publish_spilled"}) == 1
    )


async def test_the_spill_is_delivered_when_the_bus_is_back_without_a_new_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audit, "PUBLISH", RetryPolicy(first_s=0.01, max_s=0.01, attempts=2))
    flaky = FlakyBus(failures=1000)
    consumer = await flaky.consumer([t.AUDIT], group="g")
    pub = AuditPublisher(flaky, ManagerMetrics(CollectorRegistry()))
    await pub.open()
    await pub.audit(audit.lifecycle(CID, "h", "lonely"))
    assert pub.spilled == 1
    flaky.failures = 0  # back; no event follows
    async with asyncio.timeout(10):  # the recovery's first waits: 0.5, 1 s
        records = await consumer.getmany(timeout_ms=5000)
    assert [decode(t.AUDIT, r.value).action for r in records] == ["lonely"]
    await pub.close()


async def test_a_durable_spill_is_delivered_by_the_next_publisher_of_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closed with events still waiting (the bus never came back): they stay on disk, and
    the next publisher on the directory delivers them, in order, at its open."""
    monkeypatch.setattr(audit, "PUBLISH", RetryPolicy(first_s=0.01, max_s=0.01, attempts=2))
    down = AuditPublisher(
        FlakyBus(failures=1000), ManagerMetrics(CollectorRegistry()), spill_dir=tmp_path, owner="a"
    )
    await down.open()
    for action in ("first", "second"):
        await down.audit(audit.lifecycle(CID, "h", action))
    await down.close()
    assert down.journal is not None and down.journal.exists()
    bus = LocalBus()
    consumer = await bus.consumer([t.AUDIT], group="g")
    heir = AuditPublisher(bus, ManagerMetrics(CollectorRegistry()), spill_dir=tmp_path, owner="b")
    await heir.open()
    records: list[Record] = []
    async with asyncio.timeout(5):
        while len(records) < 2:
            records += await consumer.getmany(timeout_ms=1000)
    assert [decode(t.AUDIT, r.value).action for r in records] == ["first", "second"]
    await heir.close()
    assert not list(tmp_path.glob("*.spill"))


async def test_an_unwritable_spill_directory_keeps_the_spill_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    pub = AuditPublisher(LocalBus(), ManagerMetrics(CollectorRegistry()), spill_dir=blocker / "spill")
    await pub.open()
    assert pub.journal is None
    await pub.close()


async def test_a_full_durable_spill_drops_the_oldest_counted_and_keeps_the_newest_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "SPILL_MAX", 2)
    monkeypatch.setattr(audit, "PUBLISH", RetryPolicy(first_s=0.01, max_s=0.01, attempts=1))
    metrics = ManagerMetrics(CollectorRegistry())
    pub = AuditPublisher(FlakyBus(failures=1000), metrics, spill_dir=tmp_path, owner="a")
    await pub.open()
    for action in ("1", "2", "3", "4"):
        await pub.audit(audit.lifecycle(CID, "h", action))
    await pub.close()
    assert (
        metrics.registry.get_sample_value("sandguard_sandbox_errors_total", {"kind": "publish_dropped"}) == 2
    )
    assert pub.journal is not None
    kept = [decode(t.AUDIT, value).action for _, _, value in read_journal(pub.journal) if value is not None]
    assert kept == ["3", "4"]
