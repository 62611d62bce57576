"""Audit and policy events of the sandbox API, built (pure) and published (AuditPublisher).

Every exec and file operation gives one AuditEvent on ``sandguard.audit``, allowed or
denied (denials typed permission_violation or file_access_violation, so the processors
can count them as violations); lifecycle changes too. Each sandbox's policy is on the
compacted ``sandguard.policies`` topic from creation, with a tombstone on destroy. All
keyed by the container id.

No event is lost for its content or for a passing outage (issue 17): text that cannot
be encoded (a lone surrogate in a command) is escaped at the boundary
(``encode_safely``); a publish that fails is retried, then spilled to a bounded queue
that is delivered, in order, before the next event gets through. Every retry, spill and
(past the bound) drop is counted. Publishing never fails the operation, and one attempt
never waits more than PUBLISH_TIMEOUT_S on a bus that does not take the record.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from typing import Any

import structlog
from pydantic import BaseModel

from common.retry import PUBLISH, retry_async
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
# Events kept through an outage: 10,000 × ~1 KB = 10 MB at most; past it the oldest go,
# counted.
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
    """Publishes on the bus it was given; never raises (see the module docstring)."""

    def __init__(self, bus: Bus, metrics: ManagerMetrics) -> None:
        self._bus = bus
        self.metrics = metrics
        self._spill: deque[tuple[str, str, bytes | None]] = deque()

    @property
    def spilled(self) -> int:
        """Events waiting for the bus to come back."""
        return len(self._spill)

    async def audit(self, event: AuditEvent) -> None:
        await self._publish(t.AUDIT, event.container_id, event)

    async def policy(self, event: PolicyEvent) -> None:
        await self._publish(t.POLICIES, event.container_id, event)

    async def tombstone(self, container_id: str) -> None:
        await self._publish(t.POLICIES, container_id, None)

    async def _publish(self, topic: str, key: str, event: BaseModel | None) -> None:
        value = None if event is None else encode_safely(event)
        if self._spill and not await self.flush():
            self._spill_one(topic, key, value)  # still out: keep the order, do not wait again
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
            self._spill_one(topic, key, value)

    async def flush(self) -> bool:
        """Delivers the spilled events in order; False when the bus still refuses."""
        while self._spill:
            topic, key, value = self._spill[0]
            try:
                await self._send(topic, key, value)
            except Exception as exc:
                log.warning(
                    "event_publish_failed", topic=topic, key=key, error=repr(exc), spilled=len(self._spill)
                )
                return False
            self._spill.popleft()
        return True

    async def _send(self, topic: str, key: str, value: bytes | None) -> None:
        await asyncio.wait_for(self._bus.publish(topic, key, value), PUBLISH_TIMEOUT_S)
        self.metrics.events_out.labels(topic).inc()

    def _spill_one(self, topic: str, key: str, value: bytes | None) -> None:
        self.metrics.errors.labels("publish").inc()
        self.metrics.errors.labels("publish_spilled").inc()
        if len(self._spill) >= SPILL_MAX:
            self._spill.popleft()
            self.metrics.errors.labels("publish_dropped").inc()
            log.error("event_spill_full", max=SPILL_MAX)
        self._spill.append((topic, key, value))
