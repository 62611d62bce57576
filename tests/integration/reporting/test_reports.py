"""Reports over the fleet history stored through the sink: exact numbers out."""

from __future__ import annotations

import pytest

from reporting.exceptions import UnknownSandboxError
from reporting.reports import HistoryReports
from reporting.store import ClickHouseStore
from sandguard.bus import LocalBus
from schemas import ReportSource
from tests.integration.reporting.conftest import RunSink
from tests.integration.reporting.fleet import (
    BOMB,
    BRIEF,
    BRIEF_ACTION_S,
    BRIEF_SAMPLES,
    MIN,
    MINER,
    WEB,
    Fleet,
    build_brief,
)  # fmt: skip

DAY = 24 * 60 * MIN

SEED_FIELDS = {
    "report_timestamp", "container_id", "total_violations", "recent_violations_24h", "violation_types",
    "monitored_containers", "policy_summary", "recent_metrics",
}  # fmt: skip


@pytest.fixture
async def reports(store: ClickHouseStore, fleet: Fleet, run_sink: RunSink) -> HistoryReports:
    bus = LocalBus()
    await bus.start()
    await run_sink(bus, store, fleet.events)
    return HistoryReports(store)


def test_the_sandbox_report_has_every_seed_field_with_exact_values(reports: HistoryReports) -> None:
    assert isinstance(reports, ReportSource)
    r = reports.security_report(BOMB)
    assert set(r) >= SEED_FIELDS
    assert r["container_id"] == BOMB
    assert r["total_violations"] == 3 and r["recent_violations_24h"] == 3
    assert r["violation_types"] == {
        "process_violation": 1, "resource_limit_exceeded": 1, "suspicious_activity": 1,
    }  # fmt: skip
    assert r["monitored_containers"] == 2  # the bomb was destroyed
    assert r["policy_summary"]["network_policy"] == "none"
    assert r["policy_summary"]["resource_limits"]["max_processes"] == 10
    assert r["policy_summary"]["monitoring_enabled"] is True
    newest = r["recent_metrics"][0]
    assert newest["process_count"] == 10 and newest["cpu_usage_percent"] == 5.0
    assert len(r["recent_metrics"]) == 10


def test_the_sandbox_report_adds_rules_timeline_processes_actions_policy(reports: HistoryReports) -> None:
    r = reports.security_report(BOMB)
    assert r["violations_by_rule"] == {"pids.limit_hit": 1, "process.blocked": 1, "process.suspicious": 1}
    assert r["total_occurrences"] == 4  # the fork bomb finding was updated once
    kinds = [(e["kind"], e["what"]) for e in r["timeline"]]
    assert kinds.count(("violation", "create")) == 3 and ("action", "terminate") in kinds
    assert kinds[0] == ("audit", "lifecycle:create")
    assert [e["time_ms"] for e in r["timeline"]] == sorted(e["time_ms"] for e in r["timeline"])
    procs = {p["comm"]: p for p in r["top_processes"]}
    assert procs["nc"]["example"] == "nc 10.0.0.1 4444" and procs["sh"]["sightings"] == 4
    actions = [(a["action"], a["result"], a["latency_ms"]) for a in r["actions"]]
    assert actions == [("terminate", "applied", 1500)]
    assert r["policy"]["violation_threshold"] == 3
    assert r["sandbox"]["image"] == "sandguard/busybox:1" and r["sandbox"]["destroyed_at"] is not None


def test_the_series_follow_the_rollup_with_limits(reports: HistoryReports, fleet: Fleet) -> None:
    r = reports.sandbox_report(MINER, since_ms=fleet.start, now=fleet.now)
    series = r["series"]
    assert len(series) == fleet.minutes
    assert series[-1]["cpu_percent"] == 25.0 and series[0]["cpu_percent"] == 2.0
    assert {p["memory_limit_bytes"] for p in series} == {256 * 1024 * 1024}
    assert {p["processes_limit"] for p in series} == {10}


def test_a_long_lived_sandbox_is_charted_from_the_rollup_over_its_activity(
    reports: HistoryReports, fleet: Fleet
) -> None:
    r = reports.sandbox_report(BOMB, since_ms=fleet.now - DAY, now=fleet.now)
    assert r["series_resolution"] == {"source": "rollup", "step_ms": MIN}
    assert r["activity"] == {"first": fleet.start + 1000, "last": fleet.start + 109 * MIN + 1000}
    assert len(r["series"]) == 110  # the minutes it lived, not the 24 h asked for


def test_a_short_window_over_a_long_lived_sandbox_reads_the_raw_samples(
    reports: HistoryReports, fleet: Fleet
) -> None:
    r = reports.sandbox_report(MINER, since_ms=fleet.now - 10 * MIN, now=fleet.now)
    assert r["series_resolution"]["source"] == "raw"
    assert [p["t"] for p in r["series"]] == [fleet.start + m * MIN + 1000 for m in range(110, 120)]
    assert {p["cpu_percent"] for p in r["series"]} == {25.0}
    assert {p["throttled_periods"] for p in r["series"][1:]} == {500}  # per sample, from the counter


@pytest.fixture
async def brief(store: ClickHouseStore, run_sink: RunSink) -> tuple[HistoryReports, Fleet]:
    bus = LocalBus()
    await bus.start()
    f = build_brief()
    await run_sink(bus, store, f.events)
    return HistoryReports(store), f


def test_a_short_lived_sandbox_is_charted_from_every_raw_sample(brief: tuple[HistoryReports, Fleet]) -> None:
    reports, f = brief
    start = f.now - 5 * MIN
    r = reports.sandbox_report(BRIEF, since_ms=f.now - DAY, now=f.now)
    assert r["series_resolution"]["source"] == "raw"
    assert r["activity"] == {"first": start + 100, "last": start + (BRIEF_SAMPLES - 1) * 1000 + 100}
    assert [p["t"] for p in r["series"]] == [start + s * 1000 + 100 for s in range(BRIEF_SAMPLES)]
    assert [p["cpu_percent"] for p in r["series"][:4]] == [None, 10.0, 15.0, 20.0]
    assert [p["memory_peak_bytes"] // (1024 * 1024) for p in r["series"]] == list(range(8, 20))
    assert [p["throttled_periods"] for p in r["series"]] == [0] * 5 + [10] * 7


def test_an_action_without_a_reason_shows_its_commands(brief: tuple[HistoryReports, Fleet]) -> None:
    reports, f = brief
    r = reports.sandbox_report(BRIEF, since_ms=f.now - DAY, now=f.now)
    [action] = r["actions"]
    assert action["reason"] == "3 violations within 120 s (cpu.throttled) reached the threshold"
    assert action["time_ms"] == f.now - 5 * MIN + BRIEF_ACTION_S * 1000
    [row] = [e for e in r["timeline"] if e["kind"] == "action"]
    assert row["detail"] == action["reason"]


def test_an_unknown_sandbox_gives_an_empty_report(reports: HistoryReports) -> None:
    r = reports.security_report("nope")
    assert r["known"] is False and r["total_violations"] == 0 and r["recent_metrics"] == []
    assert set(r["policy_summary"].values()) == {None}


def test_an_unknown_sandbox_can_be_an_error(reports: HistoryReports) -> None:
    with pytest.raises(UnknownSandboxError) as err:
        reports.sandbox_report("nope", require_known=True)
    assert err.value.container_id == "nope"


def test_the_fleet_report(reports: HistoryReports, fleet: Fleet) -> None:
    r = reports.fleet_report(since_ms=fleet.start, now=fleet.now)
    assert r["sandboxes"] == {"total": 3, "active": 2, "destroyed": 1}
    assert [(s["container_id"], s["findings"]) for s in r["top_sandboxes"]] == [(BOMB, 3), (MINER, 1)]
    assert [(i["image"], i["findings"]) for i in r["top_images"]] == [
        ("sandguard/busybox:1", 3), ("sandguard/python:3", 1),
    ]  # fmt: skip
    assert r["violations_by_type"] == {
        "resource_limit_exceeded": 2, "process_violation": 1, "suspicious_activity": 1,
    }  # fmt: skip
    over = r["violations_over_time"]
    assert sum(p["findings"] for p in over["points"]) == 4
    # Findings were first seen from minute 62 to 100: 1-min buckets over that span, aligned.
    assert over["bucket_ms"] == MIN and over["since"] % MIN == 0 and over["until"] % MIN == 0
    assert over["since"] <= fleet.start + 62 * MIN and over["until"] >= fleet.start + 101 * MIN
    assert over["until"] - over["since"] < 48 * MIN
    assert all(over["since"] <= p["t"] <= over["until"] - MIN for p in over["points"])
    assert {(a["action"], a["result"]): a["n"] for a in r["actions"]} == {
        ("terminate", "applied"): 1, ("throttle", "applied"): 1,
    }  # fmt: skip
    lat = r["enforcement_latency_ms"]
    assert lat["n"] == 2 and lat["max"] == 4000
    assert WEB not in {s["container_id"] for s in r["top_sandboxes"]}


def test_the_window_bounds_the_fleet_report(reports: HistoryReports, fleet: Fleet) -> None:
    early = reports.fleet_report(since_ms=fleet.start, now=fleet.start + 61 * MIN)
    assert early["top_sandboxes"] == [] and early["enforcement_latency_ms"]["n"] == 0
