"""Docker events become lifecycle audit events with ids stable across replays."""

from __future__ import annotations

from typing import Any

from collectors.lifecycle import lifecycle_event, split_action
from schemas.codec import decode, encode
from schemas.events import AuditCategory

CID = "ab" * 32


def event(action: str, **attributes: str) -> dict[str, Any]:
    """The shape the engine sends (Docker 20.10 API)."""
    return {
        "status": action,
        "id": CID,
        "from": "sandguard/busybox:1",
        "Type": "container",
        "Action": action,
        "Actor": {"ID": CID, "Attributes": {"image": "sandguard/busybox:1", "name": "sb-1", **attributes}},
        "scope": "local",
        "time": 1_800_000_000,
        "timeNano": 1_800_000_000_123_456_789,
    }


def test_die_carries_the_exit_code() -> None:
    audit = lifecycle_event(event("die", exitCode="137", **{"sandguard.sandbox": "1", "other": "x"}), "h1")
    assert audit is not None
    assert (audit.category, audit.action, audit.container_id, audit.host) == (
        AuditCategory.LIFECYCLE,
        "die",
        CID,
        "h1",
    )
    assert audit.time == 1_800_000_000_123
    assert audit.details == {
        "name": "sb-1",
        "image": "sandguard/busybox:1",
        "exit_code": 137,
        "labels": {"sandguard.sandbox": "1"},  # only our labels are copied
    }
    assert decode("sandguard.audit", encode(audit)) == audit


def test_exec_start_carries_the_command() -> None:
    audit = lifecycle_event(event("exec_start: sh -c rm -rf /work", execID="e1"), "h1")
    assert audit is not None
    assert (audit.action, audit.subject, audit.details["exec_id"]) == (
        "exec_start",
        "sh -c rm -rf /work",
        "e1",
    )


def test_replayed_events_keep_their_id() -> None:
    a, b = lifecycle_event(event("oom"), "h1"), lifecycle_event(event("oom"), "h1")
    assert a is not None and b is not None and a.event_id == b.event_id
    other = lifecycle_event({**event("oom"), "timeNano": 1_800_000_001_000_000_000}, "h1")
    assert other is not None and other.event_id != a.event_id


def test_events_the_collector_ignores() -> None:
    assert lifecycle_event(event("rename"), "h") is None
    assert lifecycle_event({**event("start"), "Type": "network"}, "h") is None
    assert lifecycle_event({**event("start"), "Actor": {}, "id": ""}, "h") is None


def test_split_action() -> None:
    assert split_action("exec_create: ls -l") == ("exec_create", "ls -l")
    assert split_action("pause") == ("pause", None)
    assert split_action("exec_start: ") == ("exec_start", None)
