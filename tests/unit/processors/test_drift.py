"""Drift of the limits in force from the policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas import LimitsSample
from tests.unit.processors.conftest import CID, MIB, Feed, audit

MATCHING: dict[str, Any] = {
    "memory_limit_bytes": 256 * MIB,
    "cpu_quota_us": 25_000,
    "cpu_period_us": 100_000,
    "pids_max": 10,
    "nofile_soft": 1024,
    "nofile_hard": 1024,
}
LIMITS = {"memory_mb": 256, "cpu_percent": 25.0, "max_processes": 10}


def _limits(t: float, **kw: Any) -> LimitsSample:
    return LimitsSample(container_id=CID, host="h1", time=int(t * 1000), **{**MATCHING, **kw})


def test_limits_matching_the_policy_are_no_drift(feed: Callable[..., Feed]) -> None:
    f = feed(limits=LIMITS)
    f(_limits(1), _limits(2, cpu_quota_us=25_400), _limits(3, nofile_soft=None, nofile_hard=None))
    assert f.violations == [] and f.commands == []


def test_drift_is_a_violation_and_asks_to_reapply_once(feed: Callable[..., Feed]) -> None:
    f = feed(limits=LIMITS)
    vs, cs = f(_limits(1, memory_limit_bytes=None, cpu_quota_us=None))
    assert [v.rule_id for v in vs] == ["limits.drift"]
    assert vs[0].evidence.samples[0]["memory_limit_bytes"] == {"in_force": None, "policy": 256 * MIB}
    assert vs[0].evidence.samples[0]["cpu_percent"] == {"in_force": None, "policy": 25.0}
    assert [(c.action.value, c.limits) for c in cs] == [("reapply_limits", f.ctx.policy.limits)]
    f(_limits(2, memory_limit_bytes=None, cpu_quota_us=None))
    assert len(f.commands) == 1


def test_each_limit_is_compared(feed: Callable[..., Feed]) -> None:
    for field, value in [("pids_max", 11), ("nofile_hard", 4096), ("cpu_quota_us", 50_000)]:
        f = feed(limits=LIMITS)
        f(_limits(1, **{field: value}))
        assert [v.rule_id for v in f.violations] == ["limits.drift"], field


def test_after_a_throttle_the_throttled_cpu_is_expected(feed: Callable[..., Feed]) -> None:
    f = feed(limits=LIMITS, violation_threshold=1, escalation_response="throttle", throttle_factor=0.5)
    f(audit(1, "exec", "exec", "sudo x", allowed=False))
    assert [c.action.value for c in f.commands] == ["throttle"]
    f(_limits(2, cpu_quota_us=12_500))
    assert [v.rule_id for v in f.violations] == ["command.denied"]
    f(_limits(3))  # the full quota again: somebody undid the throttle
    assert [v.rule_id for v in f.violations][-1] == "limits.drift"
