"""Security reports: every field of the original, ours beside them, the history merged in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sandbox.record import SandboxRecord, apply_action, denial_violation
from sandbox.report import local_report, manager_stats, merge_reports, policy_report
from sandbox.results import SandboxStatus, utc_now
from schemas import ActionResult, SecurityPolicy, SecurityViolation, SecurityViolationType

SEED_FIELDS = {
    "report_timestamp",
    "container_id",
    "total_violations",
    "recent_violations_24h",
    "violation_types",
    "monitored_containers",
    "policy_summary",
    "recent_metrics",
}


def test_every_seed_field_is_there(make_record: Callable[..., SandboxRecord]) -> None:
    report = local_report(make_record(), monitored_containers=3, now=utc_now())
    assert report.keys() >= SEED_FIELDS
    assert report["policy_summary"].keys() >= {"network_policy", "resource_limits", "monitoring_enabled"}
    assert report["monitored_containers"] == 3 and report["recent_metrics"] == []


def test_counts_types_and_recent(
    make_record: Callable[..., SandboxRecord], make_action: Callable[..., ActionResult]
) -> None:
    record = make_record()
    denial_violation(record, "command.denied", SecurityViolationType.PERMISSION_VIOLATION, {})
    old = SecurityViolation(
        violation_id="old",
        timestamp=utc_now() - timedelta(days=2),
        violation_type="file_access_violation",
        severity="medium",
        container_id="c",
    )
    record.add_violation(old)
    record.denied_commands = 1
    apply_action(record, make_action())
    report = local_report(record, monitored_containers=1, now=utc_now())
    assert report["total_violations"] == 2 and report["recent_violations_24h"] == 1
    assert report["violation_types"] == {"permission_violation": 1, "file_access_violation": 1}
    assert report["status"] == "terminated" and report["enforcement"]["termination"]["reason"] == "fork bomb"
    assert report["actions"][0]["command_id"] == "cmd-1" and report["denied"]["commands"] == 1


def test_the_history_completes_but_never_overrides_what_the_manager_knows(
    make_record: Callable[..., SandboxRecord],
) -> None:
    local = local_report(make_record(status=SandboxStatus.TERMINATED), monitored_containers=1, now=utc_now())
    local["violation_types"] = {"permission_violation": 2}
    local["total_violations"] = 2
    local["violations"] = [{"violation_id": "a"}]
    history = {
        "status": "running",
        "total_violations": 7,
        "recent_violations_24h": 0,
        "violation_types": {"permission_violation": 1, "resource_limit_exceeded": 6},
        "violations": [{"violation_id": "a"}, {"violation_id": "b"}],
        "recent_metrics": [{"cpu": 1}],
        "top_processes": ["python3"],
    }
    merged = merge_reports(local, history)
    assert merged["status"] == "terminated"
    assert merged["total_violations"] == 7
    assert merged["violation_types"] == {"permission_violation": 2, "resource_limit_exceeded": 6}
    assert [v["violation_id"] for v in merged["violations"]] == ["a", "b"]
    assert merged["recent_metrics"] == [{"cpu": 1}] and merged["top_processes"] == ["python3"]
    assert merged["sources"] == ["manager", "history"]


def test_stats_cover_sandboxes_denials_and_violations(make_record: Callable[..., SandboxRecord]) -> None:
    records = [make_record(), make_record(status=SandboxStatus.EXPIRED)]
    totals = {
        "created": 3,
        "destroyed": 1,
        "denied_commands": 2,
        "denied_file_operations": 1,
        "violations": 3,
    }
    stats = manager_stats(records, totals=totals, manager_id="m1", host="h")
    assert stats["total_sandboxes"] == 3 and stats["active_sandboxes"] == 1
    assert stats["sandboxes"]["by_status"]["expired"] == 1
    assert stats["security"]["denied_commands"] == 2 and stats["security"]["violations"] == 3


def test_a_foreign_containers_report_has_its_policy() -> None:
    report = policy_report("x" * 64, SecurityPolicy(), monitored=True, monitored_containers=2, now=utc_now())
    assert report.keys() >= SEED_FIELDS and report["total_violations"] == 0
    assert report["policy_summary"]["monitoring_enabled"] is True and report["status"] is None
