"""disk.level: the workspace nearly full informs, and never escalates unless asked (issue 15)."""

from __future__ import annotations

from collections.abc import Callable

from schemas.policy import workspace_quota_mb
from schemas.rules import ADVISORY_RULES, RULES
from tests.unit.processors.conftest import MIB, Feed, metric

DISK_MB = 400  # /work 275 MiB + /tmp 100 MiB: a quota of 375 MiB, the level at 337.5 MiB
QUOTA = 375 * MIB
LEVEL = int(QUOTA * 0.9)


def test_the_quota_is_work_and_tmp() -> None:
    assert workspace_quota_mb(DISK_MB) * MIB == QUOTA


def test_over_90_percent_of_the_quota_fires_once_low(feed: Callable[..., Feed]) -> None:
    f = feed(limits={"disk_mb": DISK_MB})
    f(metric(0, disk_usage_bytes=LEVEL), metric(1, disk_usage_bytes=None))
    assert f.violations == []  # at the level is not over it; a sample without disk is no judgement
    f(metric(2, disk_usage_bytes=LEVEL + 1))
    assert f.rules() == [("disk.level", "create", 1)]
    v = f.violations[0]
    assert v.severity.value == "low" and "of 375 MiB" in v.message
    assert v.evidence.samples[0]["quota_bytes"] == QUOTA


def test_benign_use_under_the_level_is_quiet(feed: Callable[..., Feed]) -> None:
    f = feed(limits={"disk_mb": DISK_MB})
    f(*(metric(t, disk_usage_bytes=t * 10 * MIB) for t in range(30)))  # up to 290 MiB: 77 %
    assert f.violations == []


def test_no_action_by_default_even_at_threshold_one(feed: Callable[..., Feed]) -> None:
    f = feed(limits={"disk_mb": DISK_MB}, violation_threshold=1, auto_terminate_on_violation=True)
    f(*(metric(t, disk_usage_bytes=QUOTA) for t in range(0, 3600, 5)))
    assert f.violations and f.commands == []
    assert "disk.level" in ADVISORY_RULES and not RULES["disk.level"].escalates


def test_a_policy_can_ask_for_an_action(feed: Callable[..., Feed]) -> None:
    f = feed(limits={"disk_mb": DISK_MB}, immediate_rules={"disk.level"}, auto_terminate_on_violation=True)
    f(metric(0, disk_usage_bytes=QUOTA))
    assert [c.action.value for c in f.commands] == ["terminate"]


def test_the_rule_can_be_disabled(feed: Callable[..., Feed]) -> None:
    f = feed(limits={"disk_mb": DISK_MB}, disabled_rules={"disk.level"})
    f(metric(0, disk_usage_bytes=QUOTA))
    assert f.violations == []
