"""Audit and policy events of the sandbox API, built (pure) and published (AuditPublisher).

Every exec and file operation gives one AuditEvent on ``sandguard.audit``, allowed or
denied (denials typed permission_violation or file_access_violation, so the processors
can count them as violations); lifecycle changes too. Each sandbox's policy is on the
compacted ``sandguard.policies`` topic from creation, with a tombstone on destroy. All
keyed by the container id. A failed publish is logged with the event and counted; it
never fails the operation (the engine's own events, through the collector, remain).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from pydantic import BaseModel

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
    container_id: str, host: str, action: str, path: str, *, policy_id: str, details: Mapping[str, Any]
) -> AuditEvent:
    return AuditEvent(
        container_id=container_id,
        host=host,
        category=AuditCategory.FILE,
        action=action,
        actor=ACTOR,
        allowed=True,
        subject=_subject(path),
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
    return AuditEvent(
        container_id=container_id,
        host=host,
        category=AuditCategory.FILE,
        action=action,
        actor=ACTOR,
        allowed=True,
        subject=_subject(path),
        reason=reason,
        details={"policy_id": policy_id, "outcome": "failed", **details},
    )


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


class AuditPublisher:
    """Publishes on the bus it was given; never raises (see the module docstring)."""

    def __init__(self, bus: Bus, metrics: ManagerMetrics) -> None:
        self._bus = bus
        self._metrics = metrics

    async def audit(self, event: AuditEvent) -> None:
        await self._publish(t.AUDIT, event.container_id, event)

    async def policy(self, event: PolicyEvent) -> None:
        await self._publish(t.POLICIES, event.container_id, event)

    async def tombstone(self, container_id: str) -> None:
        await self._publish(t.POLICIES, container_id, None)

    async def _publish(self, topic: str, key: str, event: BaseModel | None) -> None:
        try:
            await self._bus.publish(topic, key, None if event is None else encode(event))
        except Exception as exc:
            self._metrics.errors.labels("publish").inc()
            log.exception(
                "event_publish_failed",
                topic=topic,
                key=key,
                error=repr(exc),
                payload=None if event is None else event.model_dump(mode="json"),
            )
            return
        self._metrics.events_out.labels(topic).inc()
