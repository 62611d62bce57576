"""Audit and policy events of the sandbox API, built (pure) and published (AuditPublisher).

Every exec and file operation gives one AuditEvent on ``sandguard.audit``, allowed or
denied (denials typed permission_violation or file_access_violation, so the processors
can count them as violations); lifecycle changes too. Each sandbox's policy is on the
compacted ``sandguard.policies`` topic from creation, with a tombstone on destroy. All
keyed by the container id.

No event is lost for its content or for a passing outage (issue 17): text that cannot
be encoded (a lone surrogate in a command) is escaped at the boundary
(``encode_safely``); a publish that fails is retried, then spilled to a bounded queue
that is delivered, in order, before the next event gets through, and in the background
as soon as the bus is back. With a spill directory the spill is durable: a crash of the
manager loses none of it, the next manager to open the directory delivers it (each event
keeps its id, so consumers dedup what a crash made them see twice). Every retry, spill and
(past the bound) drop is counted. Publishing never fails the operation, and one attempt
never waits more than PUBLISH_TIMEOUT_S on a bus that does not take the record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel

from common.retry import DEPENDENCY, PUBLISH, Backoff, log_recovered, retry_async
from common.spill import Entry, JournalSpill, Spill
from common.tasks import cancel_and_wait
from sandbox.metrics import ManagerMetrics
from sandbox.results import ExecResult
from schemas import (
    AuditCategory,
    AuditEvent,
    Bus,
    PolicyEvent,
    SecurityPolicy,
    SecurityViolationType,
    encode,
)
from schemas import topics as t

log = structlog.get_logger(__name__)

ACTOR = "sandbox-manager"
# Subjects (commands, paths) are capped in events: a 1 MB command line is the caller's
# problem, not every consumer's. 4 KiB keeps any realistic command whole.
MAX_SUBJECT_CHARS = 4096
# One publish is retried per common.retry.PUBLISH before it is spilled: 3 waits of 50, 100,
# 200 ms ride out a broker's leader change without holding an operation for long.
# One attempt that takes longer is abandoned (then retried or spilled, counted): a healthy
# bus takes a record in microseconds (in-process) or a few ms (Kafka's buffer); 2 s is far
# past either, and bounds an operation on a stuck bus to ~9 s (4 attempts and the waits).
PUBLISH_TIMEOUT_S = 2.0
# Events kept through an outage: 10,000 × ~1 KB = 10 MB at most (in memory, and ~13 MB in
# a durable spill's journal, base64); past it the oldest go, counted and logged.
SPILL_MAX = 10_000


def _subject(text: str) -> str:
    return text if len(text) <= MAX_SUBJECT_CHARS else text[:MAX_SUBJECT_CHARS] + "…"


def exec_allowed(
    container_id: str, host: str, command: str, result: ExecResult, policy_id: str
) -> AuditEvent:
    return AuditEvent(
        container_id=container_id,
        host=host,
        category=AuditCategory.EXEC,
        action="exec",
        actor=ACTOR,
        allowed=True,
        subject=_subject(command),
        details={
            "policy_id": policy_id,
            "exit_code": result.exit_code,
            "timed_out": result.timed_out,
            "duration_ms": round(result.duration_ms, 3),
            "stdout_bytes": result.stdout_bytes,
            "stderr_bytes": result.stderr_bytes,
            "truncated": result.truncated,
            "killed_processes": result.killed_processes,
        },
    )


def denied(
    container_id: str,
    host: str,
    *,
    category: AuditCategory,
    action: str,
    subject: str,
    violation_type: SecurityViolationType,
    reason: str,
    details: Mapping[str, Any],
) -> AuditEvent:
    return AuditEvent(
        container_id=container_id,
        host=host,
        category=category,
        action=action,
        actor=ACTOR,
        allowed=False,
        violation_type=violation_type,
        subject=_subject(subject),
        reason=reason,
        details=dict(details),
    )


def file_allowed(
    container_id: str,
    host: str,
    action: str,
    path: str,
    *,
    policy_id: str,
    details: Mapping[str, Any],
    reason: str | None = None,
) -> AuditEvent:
    return AuditEvent(
        container_id=container_id,
        host=host,
        category=AuditCategory.FILE,
        action=action,
        actor=ACTOR,
        allowed=True,
        subject=_subject(path),
        reason=reason,
        details={"policy_id": policy_id, **details},
    )


def file_failed(
    container_id: str,
    host: str,
    action: str,
    path: str,
    *,
    policy_id: str,
    reason: str,
    details: Mapping[str, Any],
) -> AuditEvent:
    """An allowed file operation the sandbox could not hold (a write refused for space)."""
    failed = {"outcome": "failed", **details}
    return file_allowed(container_id, host, action, path, policy_id=policy_id, details=failed, reason=reason)


def lifecycle(
    container_id: str, host: str, action: str, *, reason: str | None = None, **details: Any
) -> AuditEvent:
    return AuditEvent(
        container_id=container_id,
        host=host,
        category=AuditCategory.LIFECYCLE,
        action=action,
        actor=ACTOR,
        reason=reason,
        details=details,
    )


def policy_change(container_id: str, host: str, action: str, *, policy_id: str, **details: Any) -> AuditEvent:
    """A policy applied, re-applied, or its monitoring switched on or off."""
    return AuditEvent(
        container_id=container_id,
        host=host,
        category=AuditCategory.POLICY,
        action=action,
        actor=ACTOR,
        details={"policy_id": policy_id, **details},
    )


def policy_event(
    container_id: str, host: str, policy: SecurityPolicy, *, name: str, image: str, labels: Mapping[str, str]
) -> PolicyEvent:
    return PolicyEvent(
        container_id=container_id,
        host=host,
        policy_id=policy.policy_id,
        policy=policy,
        sandbox_name=name,
        image=image,
        labels=dict(labels),
    )


def safe_text(value: Any) -> Any:
    """``value`` with every string made encodable: lone surrogates (and so any byte a
    ``surrogateescape`` decode left) become backslash escapes. Lists and dicts recurse."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, Mapping):
        return {safe_text(k): safe_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [safe_text(v) for v in value]
    return value


def encode_safely(event: BaseModel) -> bytes:
    """The event's wire form; text that cannot be encoded is escaped, never a failure."""
    try:
        return encode(event)
    except ValueError:  # pydantic's serialisation error of a lone surrogate, or a UnicodeError
        cleaned = safe_text(event.model_dump(mode="python"))
        return encode(type(event).model_validate(cleaned))


class AuditPublisher:
    """Publishes on the bus it was given; never raises (see the module docstring).

    ``spill_dir`` makes the spill durable (common.spill.JournalSpill, one journal per
    ``owner``): call ``open()`` before the first event, to adopt the journals of managers
    that died and start delivering them, and ``close()`` at the end.
    """

    def __init__(
        self, bus: Bus, metrics: ManagerMetrics, *, spill_dir: Path | None = None, owner: str = "manager"
    ) -> None:
        self._bus = bus
        self.metrics = metrics
        self._journal = None if spill_dir is None else JournalSpill(spill_dir, owner, SPILL_MAX, name="audit")
        self._spill: Spill[Entry] = Spill(SPILL_MAX, name="audit") if self._journal is None else self._journal
        self._order = asyncio.Lock()  # one deliverer of the spill at a time, in order
        self._spilled_once = asyncio.Event()
        self._recovery: asyncio.Task[None] | None = None
        self._io: asyncio.Future[object] | None = None  # the last file operation of a journal

    @property
    def spilled(self) -> int:
        """Events waiting for the bus to come back."""
        return len(self._spill)

    @property
    def journal(self) -> Path | None:
        """Where the spill is kept on disk (None: in memory only)."""
        return None if self._journal is None else self._journal.path

    async def open(self) -> None:
        """Adopts dead managers' journals (a durable spill) and starts the delivery of what
        waits, in the background, as soon as the bus takes it (idempotent)."""
        if self._recovery is not None:
            return
        if self._journal is not None:
            try:
                adopted = await asyncio.to_thread(self._journal.open)
            except OSError as exc:  # an unwritable directory: the spill is kept in memory
                self._journal = None
                log.exception("audit_spill_journal_unavailable", error=repr(exc))
            else:
                if adopted or self.spilled:
                    self._spilled_once.set()
        self._recovery = asyncio.create_task(self._recover(), name="audit-spill-recovery")

    async def close(self) -> None:
        """Stops the background delivery; a durable spill keeps what still waits."""
        await cancel_and_wait(self._recovery)
        self._recovery = None
        if self._io is not None:
            await asyncio.gather(self._io, return_exceptions=True)  # its errors were the caller's
        if self._journal is not None:
            await asyncio.to_thread(self._journal.close)
            if self.spilled:
                log.error("audit_events_kept_for_next_start", spilled=self.spilled, journal=str(self.journal))

    async def audit(self, event: AuditEvent) -> None:
        await self._publish(t.AUDIT, event.container_id, event)

    async def policy(self, event: PolicyEvent) -> None:
        await self._publish(t.POLICIES, event.container_id, event)

    async def tombstone(self, container_id: str) -> None:
        await self._publish(t.POLICIES, container_id, None)

    async def _publish(self, topic: str, key: str, event: BaseModel | None) -> None:
        value = None if event is None else encode_safely(event)
        if self.spilled and not await self.flush():
            await self._spill_one(topic, key, value)  # still out: keep the order, do not wait again
            return
        try:
            await retry_async(
                lambda: self._send(topic, key, value),
                policy=PUBLISH,
                retry_on=(Exception,),  # any bus failure: counted, retried, then spilled
                log=log,
                event="event_publish_failed",
                on_error=lambda _: self.metrics.errors.labels("publish_retry").inc(),
                topic=topic,
                key=key,
            )
        except Exception:
            await self._spill_one(topic, key, value)

    async def flush(self) -> bool:
        """Delivers the spilled events in order; False when the bus still refuses."""
        async with self._order:
            while self.spilled:
                topic, key, value = self._spill.head()
                try:
                    await self._send(topic, key, value)
                except Exception as exc:
                    log.warning(
                        "event_publish_failed", topic=topic, key=key, error=repr(exc), spilled=self.spilled
                    )
                    return False
                await self._blocking(self._spill.popleft)  # a journal acks it in its file
            return True

    async def _recover(self) -> None:
        """Delivers the spill once the bus is back, without waiting for the next event."""
        backoff = Backoff(DEPENDENCY)
        while True:
            await self._spilled_once.wait()
            if await self.flush():
                self._spilled_once.clear()
                log_recovered(log, "audit_spill_delivered", backoff)
            else:
                await asyncio.sleep(backoff.failed())

    async def _send(self, topic: str, key: str | None, value: bytes | None) -> None:
        """Returns once the bus holds the record: delivered to the broker where the bus can
        say so (``deliver``), so what a crash takes from the producer's buffer is spilled."""
        deliver = getattr(self._bus, "deliver", None)
        send = deliver if callable(deliver) else self._bus.publish
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):  # not wait_for: on 3.11 it can swallow a cancel
            await send(topic, key, value)
        self.metrics.events_out.labels(topic).inc()

    async def _blocking(self, fn: Callable[[], object]) -> None:
        """``fn`` on a thread when the spill is a journal (file writes, fsync), else here."""
        if self._journal is None:
            fn()
            return
        # Shielded and kept: a cancelled caller (close() stops the recovery) leaves the file
        # operation to finish, and close() waits for it before it closes the journal.
        self._io = asyncio.ensure_future(asyncio.to_thread(fn))
        await asyncio.shield(self._io)

    async def _spill_one(self, topic: str, key: str | None, value: bytes | None) -> None:
        self.metrics.errors.labels("publish").inc()
        self.metrics.errors.labels("publish_spilled").inc()
        dropped = self._spill.dropped
        async with self._order:
            await self._blocking(partial(self._spill.append, (topic, key, value)))  # a journal fsyncs it
        if self._spill.dropped > dropped:
            self.metrics.errors.labels("publish_dropped").inc(self._spill.dropped - dropped)
        self._spilled_once.set()
