"""Fixtures of the reporting unit tests: report dicts shaped as HistoryReports returns them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

MB = 1024 * 1024
T = 1_795_822_630_000  # 2026-11-27 23:37:10 UTC
DAY = 86_400_000

SandboxReport = Callable[..., dict[str, Any]]


def _samples(n: int, start: int, every_ms: int) -> list[dict[str, Any]]:
    return [
        {"t": start + i * every_ms, "cpu_percent": None if i == 0 else 20.0 + i % 3,
         "memory_peak_bytes": MB + i * 1000, "processes_peak": 2 + i % 2, "connections_peak": 0}
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture
def sandbox_report() -> SandboxReport:
    """A sandbox that lived 10 s (10 samples at 1 Hz), one finding, one action; a 24 h window."""

    def make(*, samples: int = 10, every_ms: int = 1000, **overrides: Any) -> dict[str, Any]:
        series = _samples(samples, T, every_ms)
        last = series[-1]["t"] if series else T
        report: dict[str, Any] = {
            "report_timestamp": "2026-11-28T00:00:00+00:00",
            "container_id": "c" * 64,
            "known": True,
            "window": {"since": T + 3 * 3_600_000 - DAY, "until": T + 3 * 3_600_000},
            "activity": {"first": T, "last": last},
            "series": series,
            "series_resolution": {"source": "raw", "step_ms": 5},
            "sandbox": {
                "image": "sandguard/busybox:1",
                "sandbox_name": "sb-one",
                "host": "h",
                "policy_id": "p-1",
                "policy_name": "demo",
                "first_seen": T - 500,
                "destroyed_at": last + 500,
            },
            "policy": {
                "name": "demo",
                "resource_limits": {
                    "cpu_percent": 25.0,
                    "memory_mb": 128,
                    "max_processes": 24,
                    "max_network_connections": 10,
                },
                "blocked_commands": ["rm", "sudo"],
            },
            "policy_summary": {"network_policy": "none", "resource_limits": None, "monitoring_enabled": True},
            "total_violations": 1,
            "recent_violations_24h": 1,
            "total_occurrences": 3,
            "monitored_containers": 2,
            "violations_by_severity": {"medium": 1},
            "violations": [
                {
                    "rule_id": "cpu.throttled",
                    "violation_type": "resource_limit_exceeded",
                    "severity": "medium",
                    "title": "CPU pinned",
                    "message": "CPU throttled in 87% of periods",
                    "count": 3,
                    "disposition": "terminated",
                    "first_seen": T + 4000,
                    "last_seen": T + 6000,
                    "process_cmdline": "",
                    "command": "",
                    "path": "",
                }
            ],
            "actions": [
                {
                    "time_ms": T + 7000,
                    "action": "terminate",
                    "result": "applied",
                    "reason": "3 violations",
                    "rule_ids": ["cpu.throttled"],
                    "latency_ms": 3000,
                    "command_id": "x",
                }
            ],
            "top_processes": [],
            "timeline": [],
        }
        report.update(overrides)
        return report

    return make


@pytest.fixture
def fleet_report() -> Callable[..., dict[str, Any]]:
    def make(**overrides: Any) -> dict[str, Any]:
        report: dict[str, Any] = {
            "report_timestamp": "2026-11-28T00:00:00+00:00",
            "window": {"since": T - DAY, "until": T + 60_000},
            "sandboxes": {"total": 3, "active": 1, "destroyed": 2},
            "monitored_containers": 1,
            "violations_by_type": {"permission_violation": 6, "suspicious_activity": 1},
            "violations_by_severity": {"critical": 1, "medium": 6},
            "violations_by_rule": {},
            "top_sandboxes": [
                {
                    "container_id": "a" * 64,
                    "image": "img:1",
                    "sandbox_name": "sb-a",
                    "findings": 7,
                    "occurrences": 9,
                    "max_severity_id": 5,
                    "rules": ["r.two", "r.one"],
                }
            ],
            "top_images": [{"image": "img:1", "findings": 7, "sandboxes": 1, "occurrences": 9}],
            "violations_over_time": {
                "bucket_ms": 1000,
                "bucket_minutes": 0.017,
                "since": T,
                "until": T + 10_000,
                "points": [
                    {"t": T + 2000, "violation_type": "permission_violation", "findings": 6},
                    {"t": T + 9000, "violation_type": "suspicious_activity", "findings": 1},
                ],
            },
            "actions": [{"action": "terminate", "result": "applied", "n": 3}],
            "enforcement_latency_ms": {"n": 3, "p50": 125, "p95": 2154, "p99": 2154, "max": 2154},
        }
        report.update(overrides)
        return report

    return make
