"""The pure parts of the backtest: selections, gaps, the comparison, the suggestion's arithmetic,
and the limits a sandbox would have shown under a trial policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from processors.engine import PolicyContext, compile_policy
from sandguard.backtest import Selection, SelectionError, parse_label
from sandguard.backtest.baseline import percentile
from sandguard.backtest.compare import Side, compare_sandbox
from sandguard.backtest.gaps import SampleGaps, collector_gaps
from sandguard.backtest.policies import as_if
from sandguard.backtest.selection import RecordedSandbox
from sandguard.backtest.suggest import split
from schemas import LimitsSample, ResourceLimits, SecurityPolicy
from schemas.policy import MIB


def test_a_selection_refuses_an_inverted_window_and_two_filters() -> None:
    with pytest.raises(SelectionError) as e:
        Selection(10, 5)
    assert e.value.field == "until"
    with pytest.raises(SelectionError) as e:
        Selection(0, 5, image="a", label=("k", "v"))
    assert e.value.field == "label" and "not image and label" in e.value.reason
    with pytest.raises(SelectionError):
        parse_label("novalue")
    assert parse_label("team=a=b") == ("team", "a=b")
    assert Selection(0, 5, label=("k", "v")).describe() == "label k=v"


def test_missing_samples_beyond_five_intervals_are_a_gap_and_jitter_is_not() -> None:
    g = SampleGaps()
    for t in (0, 1000, 2000, 3400, 4000, 5000, 12_000, 13_000):  # 1.4 s late once: jitter; 7 s: a gap
        g.sample("c", t)
    assert [(x.start, x.end, x.kind) for x in g.gaps] == [(5000, 12_000, "missing_samples")]
    assert "about 6 samples missing" in g.gaps[0].detail


class Audit:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.rows


def test_collector_drops_and_downtime_are_gaps_of_the_sandboxes_they_name() -> None:
    drop = orjson.dumps(
        {"dropped": 40, "containers": ["c1", "other"], "first_drop_ms": 100, "last_drop_ms": 900}
    )
    rows = [
        (50, "h1", "dropped", drop.decode()),
        (1000, "h1", "stop", "{}"),
        (5000, "h1", "start", "{}"),
        (6000, "h2", "stop", "{}"),
        (7000, "h1", "stop", "{}"),
    ]
    gaps = collector_gaps(Audit(rows), 0, 9000, {"c1"}, {"h1"})  # type: ignore[arg-type]
    assert [(g.container_id, g.start, g.end, g.kind) for g in gaps] == [
        ("c1", 100, 900, "dropped_events"),
        ("", 1000, 5000, "collector_down"),
        ("", 7000, 9000, "collector_down"),
    ]


def _side(*events: tuple[str, str, int, str], commands: tuple[tuple[str, str, int], ...] = ()) -> Side:
    s = Side()
    for vid, rule, count, activity in events:
        key = (f"{vid}-{activity}-{count}", vid, activity, rule, count, 1, 2, 2, "detected", "enforce")
        s.events[key] = (f"{rule} message", "high")
    s.commands = [(f"e{cid}", cid, action, "enforce", (), (), t) for cid, action, t in commands]
    return s


def test_the_comparison_finds_new_and_gone_findings_and_terminations() -> None:
    stored = _side(
        ("v1", "cpu.level", 1, "create"), ("v1", "cpu.level", 4, "close"), ("v2", "memory.level", 1, "create")
    )
    trial = _side(
        ("v1", "cpu.level", 1, "create"),
        ("v1", "cpu.level", 4, "close"),
        ("v3", "process.blocked", 1, "create"),
        commands=(("k1", "terminate", 99),),
    )
    r = compare_sandbox(stored, trial)
    assert [f["violation_id"] for f in r["new_findings"]] == ["v3"]
    assert [f["violation_id"] for f in r["gone_findings"]] == ["v2"]
    assert r["stored"]["terminated_at"] is None and r["backtest"]["terminated_at"] == 99
    rules = {
        x["rule_id"]: (x["stored_findings"], x["backtest_findings"], x["stored_occurrences"])
        for x in r["rules"]
    }
    assert rules == {"cpu.level": (1, 1, 4), "memory.level": (1, 0, 1), "process.blocked": (0, 1, 0)}
    assert r["agreement"] == {
        "stored_events": 3,
        "reproduced_events": 2,
        "extra_events": 1,
        "stored_commands": 0,
        "reproduced_commands": 0,
        "extra_commands": 1,
    }


def test_runs_are_split_oldest_first_and_percentiles_are_values_seen() -> None:
    runs = [RecordedSandbox(f"c{i}", created=1000 - i) for i in range(10)]
    learn, held = split(runs, 0.2)
    assert [sb.container_id for sb in held] == ["c1", "c0"] and len(learn) == 8
    assert split(runs[:1], 0.2) == (runs[:1], [])
    assert percentile([5, 1, 3, 2, 4], 0.5) == 3 and percentile([5, 1, 3, 2, 4], 0.99) == 5
    assert percentile(list(range(1, 101)), 0.99) == 99


def _ctx(**limits: Any) -> PolicyContext:
    return PolicyContext(compile_policy(SecurityPolicy(resource_limits=ResourceLimits(**limits))))


def test_limits_that_matched_the_recorded_policy_become_the_trials_and_a_drift_stays() -> None:
    recorded, trial = (
        _ctx(memory_mb=256, cpu_percent=50, max_processes=20),
        _ctx(memory_mb=64, cpu_percent=10, max_processes=8),
    )
    s = LimitsSample(
        container_id="c",
        time=5,
        memory_limit_bytes=256 * MIB,
        memory_swap_limit_bytes=256 * MIB,
        cpu_quota_us=50_000,
        cpu_period_us=100_000,
        pids_max=20,
        nofile_soft=1024,
    )
    got = as_if(s, recorded, trial, 1.0)
    assert (got.memory_limit_bytes, got.cpu_quota_us, got.pids_max, got.nofile_soft, got.time) == (
        64 * MIB,
        10_000,
        8,
        1024,
        5,
    )
    drifted = s.model_copy(update={"memory_limit_bytes": 999 * MIB})
    assert as_if(drifted, recorded, trial, 1.0) is drifted
