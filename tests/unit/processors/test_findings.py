"""Dedup and rate: one finding per rule, container, subject and window; repeats raise counts."""

from __future__ import annotations

from collections.abc import Callable

from processors.engine import close
from processors.engine.state import MAX_FINDINGS
from schemas import stable_id
from tests.unit.processors.conftest import CID, Feed, audit, metric


def _oom(t: float, total: int) -> object:
    return metric(t, memory_oom_kills_total=total)


def test_repeats_raise_the_count_of_one_finding(feed: Callable[..., Feed]) -> None:
    f = feed(detection={"dedup_window_seconds": 300})
    f(*(_oom(t, t + 1) for t in range(10)))  # type: ignore[arg-type]
    assert f.rules() == [("memory.oom_kill", "create", 1)]
    assert f.state is not None and f.state.findings["memory.oom_kill\x1fmemory"].count == 10


def test_violation_id_is_deterministic_and_window_aligned(feed: Callable[..., Feed]) -> None:
    f = feed(detection={"dedup_window_seconds": 300})
    f(_oom(10, 1))  # type: ignore[arg-type]
    assert f.violations[0].violation_id == stable_id(CID, "memory.oom_kill", "memory", 0)
    g = feed(detection={"dedup_window_seconds": 300})
    g(_oom(10, 1))  # type: ignore[arg-type]
    assert g.violations == f.violations  # same inputs, same outputs, ids and event ids included


def test_updates_are_rate_limited_to_the_update_interval(feed: Callable[..., Feed]) -> None:
    f = feed(detection={"dedup_window_seconds": 600})
    f(*(_oom(t, t + 1) for t in range(59)))  # type: ignore[arg-type]
    assert f.rules() == [("memory.oom_kill", "create", 1)]
    f(_oom(60, 61))  # type: ignore[arg-type]
    assert f.rules()[-1] == ("memory.oom_kill", "update", 60)
    f(_oom(61, 62))  # type: ignore[arg-type]
    assert len(f.violations) == 2
    assert len({v.event_id for v in f.violations}) == 2
    assert len({v.violation_id for v in f.violations}) == 1


def test_window_end_closes_with_unreported_repeats_then_opens_a_new_finding(
    feed: Callable[..., Feed],
) -> None:
    f = feed(detection={"dedup_window_seconds": 100})
    f(_oom(10, 1), _oom(20, 2), _oom(30, 3))  # type: ignore[arg-type]
    f(_oom(100, 4))  # type: ignore[arg-type]  # the window [0, 100) ended
    assert f.rules() == [
        ("memory.oom_kill", "create", 1),
        ("memory.oom_kill", "close", 3),
        ("memory.oom_kill", "create", 1),
    ]
    first, closing, second = f.violations
    assert first.violation_id == closing.violation_id != second.violation_id
    assert (closing.first_seen, closing.last_seen) == (10_000, 30_000)


def test_window_end_without_repeats_closes_silently(feed: Callable[..., Feed]) -> None:
    f = feed(detection={"dedup_window_seconds": 100})
    f(_oom(10, 1), metric(150))  # type: ignore[arg-type]
    assert f.rules() == [("memory.oom_kill", "create", 1)]
    assert f.state is not None and f.state.findings == {}


def test_subjects_are_separate_findings(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(
        audit(1, "exec", "exec", "rm -rf /", allowed=False),
        audit(2, "exec", "exec", "sudo ls", allowed=False),
        audit(3, "exec", "exec", "rm x", allowed=False),
    )
    assert [(v.rule_id, v.evidence.command) for v in f.violations] == [
        ("command.denied", "rm -rf /"),
        ("command.denied", "sudo ls"),
    ]


def test_too_many_findings_evict_the_oldest_with_its_count(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(audit(0, "exec", "exec", "cmd0 x", allowed=False), audit(0.5, "exec", "exec", "cmd0 y", allowed=False))
    f(*(audit(1 + i, "exec", "exec", f"cmd{i + 1}", allowed=False) for i in range(MAX_FINDINGS)))
    assert f.state is not None and len(f.state.findings) == MAX_FINDINGS
    closes = [v for v in f.violations if v.activity.value == "close"]
    assert [(v.evidence.command, v.count) for v in closes] == [("cmd0 y", 2)]


def test_close_reports_what_is_unreported_before_the_state_goes(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(_oom(1, 1), _oom(2, 2))  # type: ignore[arg-type]
    assert f.state is not None
    vs = close(f.state, f.ctx, 3000)
    assert [(v.activity.value, v.count) for v in vs] == [("close", 2)]


def test_destroy_drops_the_state_after_closing(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(_oom(1, 1), _oom(2, 2))  # type: ignore[arg-type]
    vs, _ = f(audit(3, "lifecycle", "destroy"))
    assert [(v.activity.value, v.count) for v in vs] == [("close", 2)]
    assert f.state is None


def test_violation_carries_policy_container_and_times(feed: Callable[..., Feed]) -> None:
    f = feed(name="strict", version="7", mode="audit")
    f(_oom(5, 1))  # type: ignore[arg-type]
    v = f.violations[0]
    assert (v.policy_name, v.policy_version, v.policy_id) == ("strict", "7", f.ctx.policy.policy_id)
    assert (v.container_id, v.container_name, v.image, v.host) == (CID, "sg-test", "img:1", "h1")
    assert (v.mode, v.disposition.value, v.sample_time, v.detected_time) == ("audit", "detected", 5000, 5000)
