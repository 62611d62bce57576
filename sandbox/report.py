"""Security reports and statistics, from what the manager knows, merged with the history. Pure.

A report carries every field of the original (report_timestamp, container_id,
total_violations, recent_violations_24h, violation_types, monitored_containers,
policy_summary, recent_metrics) and sandguard's own: status, enforcement (when and why
a sandbox was terminated or paused), the actions seen, denials and operation counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sandbox.record import SandboxRecord
from sandbox.results import SandboxStatus
from schemas import SecurityPolicy

RECENT = timedelta(hours=24)
# Violations listed in a report (counts cover all of them).
REPORT_VIOLATIONS = 50
# Keys only the manager knows for sure: the history never overrides them.
LOCAL_KEYS = frozenset({
    "container_id", "sandbox_id", "sandbox_name", "image", "status", "created_at", "expires_at",
    "policy_id", "policy_name", "policy_summary", "enforcement", "denied", "operations",
    "monitored_containers", "report_timestamp",
})  # fmt: skip
COUNT_KEYS = ("total_violations", "recent_violations_24h")


def _enforcement(record: SandboxRecord) -> dict[str, Any]:
    return {
        "status": record.status.value,
        "termination": record.termination.model_dump(mode="json") if record.termination else None,
        "pause": record.pause.model_dump(mode="json") if record.pause else None,
        "throttled": record.throttled,
    }


def policy_summary(record: SandboxRecord) -> dict[str, Any]:
    p = record.policy
    return {
        "network_policy": p.network_policy.value,
        "resource_limits": p.resource_limits.model_dump(mode="json"),
        "monitoring_enabled": p.enable_monitoring and record.monitored,
        "policy_id": p.policy_id,
        "policy_name": p.name,
        "mode": p.mode.value,
        "violation_threshold": p.violation_threshold,
        "auto_terminate_on_violation": p.auto_terminate_on_violation,
    }


def local_report(record: SandboxRecord, *, monitored_containers: int, now: datetime) -> dict[str, Any]:
    violations = list(record.violations.values())
    return {
        "report_timestamp": now.isoformat(),
        "container_id": record.sandbox_id,
        "sandbox_id": record.sandbox_id,
        "sandbox_name": record.name,
        "image": record.image,
        "status": record.status.value,
        "created_at": record.created_at.isoformat(),
        "expires_at": record.expires_at.isoformat(),
        "policy_id": record.policy.policy_id,
        "policy_name": record.policy.name,
        "total_violations": len(violations),
        "recent_violations_24h": sum(1 for v in violations if v.timestamp >= now - RECENT),
        "violation_types": dict(Counter(v.violation_type.value for v in violations)),
        "violations": [v.model_dump(mode="json") for v in violations[-REPORT_VIOLATIONS:]],
        "monitored_containers": monitored_containers,
        "policy_summary": policy_summary(record),
        "recent_metrics": [],
        "denied": {"commands": record.denied_commands, "file_operations": record.denied_file_operations},
        "operations": {"exec": record.execs, "file": record.file_operations},
        "actions": [a.model_dump(mode="json") for a in record.actions],
        "enforcement": _enforcement(record),
        "sources": ["manager"],
    }


def policy_report(
    container_id: str, policy: SecurityPolicy, *, monitored: bool, monitored_containers: int, now: datetime
) -> dict[str, Any]:
    """The report of a container the manager did not create (SandboxSecurityManager's
    monitored containers): its policy, and nothing seen yet."""
    record = SandboxRecord(container_id, "", "", policy, {}, now, now, monitored=monitored)
    report = local_report(record, monitored_containers=monitored_containers, now=now)
    report.update(
        sandbox_name=None, image=None, status=None, created_at=None, expires_at=None, enforcement=None
    )
    return report


def _union(first: Iterable[Any], second: Iterable[Any], key: str) -> list[Any]:
    seen: dict[Any, Any] = {}
    for item in (*first, *second):
        ident = item.get(key) if isinstance(item, Mapping) else None
        seen[ident if ident is not None else id(item)] = item
    return list(seen.values())


def merge_reports(local: dict[str, Any], history: Mapping[str, Any]) -> dict[str, Any]:
    """The manager's report completed by the history's (ReportSource.security_report)."""
    out = dict(local)
    for key, value in history.items():
        if key in LOCAL_KEYS:
            continue
        if key in COUNT_KEYS and isinstance(value, int):
            out[key] = max(int(local.get(key, 0)), value)
        elif key == "violation_types" and isinstance(value, Mapping):
            types = Counter(local.get(key, {}))
            out[key] = {k: max(types.get(k, 0), int(v)) for k, v in {**types, **value}.items()}
        elif key == "violations" and isinstance(value, list):
            out[key] = _union(value, local.get(key, []), "violation_id")
        elif key == "actions" and isinstance(value, list):
            out[key] = _union(value, local.get(key, []), "command_id")
        else:
            out[key] = value
    out["sources"] = ["manager", "history"]
    return out


def manager_stats(
    records: Iterable[SandboxRecord], *, totals: Mapping[str, int], manager_id: str, host: str
) -> dict[str, Any]:
    recs = list(records)
    by_status = Counter(r.status.value for r in recs)
    active = sum(1 for r in recs if r.active)
    types: Counter[str] = Counter(v.violation_type.value for r in recs for v in r.violations.values())
    return {
        "manager_id": manager_id,
        "host": host,
        "total_sandboxes": totals.get("created", 0),
        "active_sandboxes": active,
        "sandboxes": {
            "created": totals.get("created", 0),
            "active": active,
            "destroyed": totals.get("destroyed", 0),
            "by_status": {
                s.value: by_status.get(s.value, 0) for s in SandboxStatus if s is not SandboxStatus.DESTROYED
            },
        },
        "security": {
            "denied_commands": totals.get("denied_commands", 0),
            "denied_file_operations": totals.get("denied_file_operations", 0),
            "violations": totals.get("violations", 0),
            "violations_by_type": dict(types),
            "actions": totals.get("actions", 0),
            "terminated": totals.get("terminated", 0),
            "monitored_sandboxes": sum(1 for r in recs if r.monitored and r.active),
        },
        "operations": {"exec": totals.get("execs", 0), "file": totals.get("file_operations", 0)},
    }
