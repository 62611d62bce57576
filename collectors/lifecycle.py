"""Docker events as lifecycle audit events (sandguard.audit).

Ids are derived from the container, the action and the engine's nanosecond time, so
an event replayed after a stream reconnect or a collector restart has the same id
and consumers store it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.events import AuditCategory, AuditEvent, stable_id
from schemas.labels import PREFIX

# What the collector follows; exec_* carry the command, die the exit code.
ACTIONS = ("create", "start", "die", "oom", "destroy", "exec_start", "exec_die", "pause", "unpause")
# Labels copied into the audit details: ours only (others may hold secrets or noise).
LABEL_PREFIX = PREFIX


def split_action(raw: str) -> tuple[str, str | None]:
    """'exec_start: sh -c ls' -> ('exec_start', 'sh -c ls'); 'start' -> ('start', None)."""
    action, sep, rest = raw.partition(":")
    return action.strip(), (rest.strip() or None) if sep else None


def event_time_ns(ev: Mapping[str, Any]) -> int:
    ns = ev.get("timeNano")
    return int(ns) if ns else int(ev.get("time", 0)) * 1_000_000_000


def lifecycle_event(ev: Mapping[str, Any], host: str) -> AuditEvent | None:
    """The audit event for a Docker container event; None for events the collector ignores."""
    if ev.get("Type", "container") != "container":
        return None
    action, command = split_action(str(ev.get("Action") or ev.get("status") or ""))
    if action not in ACTIONS:
        return None
    actor = ev.get("Actor") or {}
    attrs: Mapping[str, str] = actor.get("Attributes") or {}
    container_id = str(actor.get("ID") or ev.get("id") or "")
    if not container_id:
        return None
    ns = event_time_ns(ev)
    details: dict[str, Any] = {"name": attrs.get("name", ""), "image": attrs.get("image", "")}
    if "exitCode" in attrs:
        details["exit_code"] = int(attrs["exitCode"])
    if "execID" in attrs:
        details["exec_id"] = attrs["execID"]
    labels = {k: v for k, v in attrs.items() if k.startswith(LABEL_PREFIX)}
    if labels:
        details["labels"] = labels
    return AuditEvent(
        event_id=stable_id("docker", container_id, action, ns, command or ""),
        time=ns // 1_000_000,
        container_id=container_id,
        host=host,
        category=AuditCategory.LIFECYCLE,
        action=action,
        actor="collector",
        subject=command,
        details=details,
    )


def collector_audit(
    action: str, *, host: str, event_id: str, time_ms: int, details: dict[str, Any], reason: str | None = None
) -> AuditEvent:
    """An audit event about the collector itself (health, dropped events): no container."""
    return AuditEvent(
        event_id=event_id,
        time=time_ms,
        container_id="",
        host=host,
        category=AuditCategory.COLLECTOR,
        action=action,
        actor="collector",
        reason=reason,
        details=details,
    )
