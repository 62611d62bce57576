"""Metric rules at their boundaries and window edges, with explicit timestamps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from schemas import SocketCounts
from tests.unit.processors.conftest import MIB, Feed, metric

LIMIT = 100 * MIB  # memory_mb=100; level at 110 MiB (× 1.1)


def _mem(t: float, mib: float) -> Any:
    return metric(t, memory_working_set_bytes=int(mib * MIB))


def test_memory_level_needs_k_samples_within_w(feed: Callable[..., Feed]) -> None:
    f = feed(limits={"memory_mb": 100})
    assert f(_mem(0, 120), _mem(10, 120)) == ([], [])
    vs, _ = f(_mem(20, 120))
    assert [(v.rule_id, v.activity.value, v.count) for v in vs] == [("memory.level", "create", 1)]
    assert vs[0].evidence.samples[0] == {"time": 0, "value": 120 * MIB}
    assert vs[0].sample_time == 20_000 and vs[0].first_seen == 20_000


def test_memory_at_exactly_limit_times_tolerance_is_not_over(feed: Callable[..., Feed]) -> None:
    f = feed(limits={"memory_mb": 100})
    at_level = 110.0  # 100 MiB × 1.1
    f(*(_mem(t, at_level) for t in (0, 1, 2, 3)))
    assert f.violations == []
    f(_mem(4, at_level + 1 / MIB), _mem(5, 111), _mem(6, 111))
    assert f.rules() == [("memory.level", "create", 1)]


def test_window_is_half_open_old_edge_excluded(feed: Callable[..., Feed]) -> None:
    # W = 30 s: at t=30 the sample at t=0 is out ((0, 30]); at t=29.999 it is in.
    f = feed(limits={"memory_mb": 100})
    f(_mem(0, 120), _mem(15, 120), _mem(30, 120))
    assert f.violations == []
    g = feed(limits={"memory_mb": 100})
    g(_mem(0, 120), _mem(15, 120), _mem(29.999, 120))
    assert g.rules() == [("memory.level", "create", 1)]


def test_samples_under_level_between_do_not_reset_k_of_w(feed: Callable[..., Feed]) -> None:
    f = feed(limits={"memory_mb": 100}, detection={"window_seconds": 60, "min_samples": 3})
    f(_mem(0, 120), _mem(5, 50), _mem(10, 120), _mem(15, 50))
    assert f.violations == []
    f(_mem(20, 120))
    assert f.rules() == [("memory.level", "create", 1)]


def test_k_and_w_come_from_the_policy(feed: Callable[..., Feed]) -> None:
    f = feed(limits={"memory_mb": 100}, detection={"window_seconds": 5, "min_samples": 1})
    f(_mem(0, 120))
    assert f.rules() == [("memory.level", "create", 1)]


def test_memory_tolerance_from_policy(feed: Callable[..., Feed]) -> None:
    f = feed(limits={"memory_mb": 100}, detection={"memory_tolerance": 1.5, "min_samples": 1})
    f(_mem(0, 149))
    assert f.violations == []
    f(_mem(1, 151))
    assert f.rules() == [("memory.level", "create", 1)]


def test_memory_falls_back_to_usage_without_working_set(feed: Callable[..., Feed]) -> None:
    f = feed(limits={"memory_mb": 100}, detection={"min_samples": 1})
    f(metric(0, memory_usage_bytes=120 * MIB))
    assert f.rules() == [("memory.level", "create", 1)]


def test_cpu_level_from_reported_percent(feed: Callable[..., Feed]) -> None:
    f = feed(limits={"cpu_percent": 50}, detection={"min_samples": 2})
    f(metric(0, cpu_percent=60.0), metric(1, cpu_percent=61.0))  # 50 × 1.2 = 60: 60 is not over
    assert f.violations == []
    f(metric(2, cpu_percent=60.5))
    assert f.rules() == [("cpu.level", "create", 1)]


def test_cpu_level_derived_from_usage_counter(feed: Callable[..., Feed]) -> None:
    f = feed(limits={"cpu_percent": 50}, detection={"min_samples": 1})
    f(metric(0, cpu_usage_ns_total=0))
    f(metric(1, cpu_usage_ns_total=600_000_000))  # 0.6 s of CPU in 1 s = 60 %: not over 60
    assert f.violations == []
    f(metric(2, cpu_usage_ns_total=1_300_000_000))  # 70 %
    assert f.rules() == [("cpu.level", "create", 1)]


@pytest.mark.parametrize(
    ("rule", "limits", "at_limit", "over"),
    [
        ("processes.level", {"max_processes": 10}, {"pids_current": 10}, {"pids_current": 11}),
        (
            "sockets.level",
            {"max_network_connections": 3},
            {"sockets": SocketCounts(tcp=2, udp=1)},
            {"sockets": SocketCounts(tcp=2, tcp6=1, udp6=1)},
        ),
        ("open_files.level", {"max_open_files": 64}, {"open_fds": 64}, {"open_fds": 65}),
    ],
)
def test_count_levels_are_strictly_over(
    feed: Callable[..., Feed],
    rule: str,
    limits: dict[str, int],
    at_limit: dict[str, Any],
    over: dict[str, Any],
) -> None:
    f = feed(limits=limits, detection={"min_samples": 2})
    f(metric(0, **at_limit), metric(1, **at_limit), metric(2, **over))
    assert f.violations == []
    f(metric(3, **over))
    assert f.rules() == [(rule, "create", 1)]
    assert f.violations[0].evidence.samples[-1]["samples_over"] == 2


@pytest.mark.parametrize(
    ("rule", "counter"),
    [
        ("pids.limit_hit", "pids_max_events_total"),
        ("memory.oom_kill", "memory_oom_kills_total"),
        ("memory.failcnt", "memory_failcnt_total"),
    ],
)
def test_attempts_fire_when_the_kernel_counter_grows(
    feed: Callable[..., Feed], rule: str, counter: str
) -> None:
    f = feed()
    f(metric(0, **{counter: 0}), metric(1, **{counter: 0}))
    assert f.violations == []
    f(metric(2, **{counter: 3}))
    assert f.rules() == [(rule, "create", 1)]
    f(metric(3, **{counter: 3}))  # no growth: no occurrence
    assert f.state is not None and f.state.findings[f"{rule}\x1f{rule.split('.', maxsplit=1)[0]}"].count == 1
    f(metric(4, **{counter: 5}))
    assert f.state.findings[f"{rule}\x1f{rule.split('.', maxsplit=1)[0]}"].count == 2


def test_first_sample_counts_from_zero(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(metric(0, memory_oom_kills_total=1))
    assert f.rules() == [("memory.oom_kill", "create", 1)]


def test_counter_that_went_back_restarted(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(metric(0, pids_max_events_total=10))
    f(metric(1, pids_max_events_total=2))
    assert f.state is not None and f.state.findings["pids.limit_hit\x1fpids"].count == 2
    assert f.state.prev_pids_events == 2


def test_duplicate_and_late_samples_are_ignored(feed: Callable[..., Feed]) -> None:
    f = feed()
    f(metric(5, memory_oom_kills_total=1))
    f(metric(5, memory_oom_kills_total=1), metric(4, memory_oom_kills_total=1))
    assert f.rules() == [("memory.oom_kill", "create", 1)]
    assert f.state is not None and f.state.findings["memory.oom_kill\x1fmemory"].count == 1


def _throttle(t: float, periods: int, throttled: int) -> Any:
    return metric(t, cpu_periods_total=periods, cpu_throttled_periods_total=throttled)


def test_cpu_throttled_in_most_periods_over_the_window(feed: Callable[..., Feed]) -> None:
    f = feed(detection={"min_samples": 3, "cpu_throttled_ratio": 0.5})
    # The first sample elapsed no CFS period: it says nothing and does not count towards K.
    f(_throttle(0, 0, 0), _throttle(1, 10, 5), _throttle(2, 20, 10))
    assert f.violations == []
    f(_throttle(3, 30, 15))  # 15 of 30 periods = 0.5 over 3 samples: fires (≥ ratio)
    assert f.rules() == [("cpu.throttled", "create", 1)]
    assert f.violations[0].evidence.samples[0]["throttled_ratio"] == 0.5


def test_cpu_throttled_below_ratio_does_not_fire(feed: Callable[..., Feed]) -> None:
    f = feed(detection={"min_samples": 3, "cpu_throttled_ratio": 0.5})
    f(_throttle(0, 0, 0), _throttle(1, 10, 4), _throttle(2, 20, 9), _throttle(3, 30, 14))
    assert f.violations == []


def test_cpu_throttled_window_forgets_old_periods(feed: Callable[..., Feed]) -> None:
    f = feed(detection={"min_samples": 2, "window_seconds": 10, "cpu_throttled_ratio": 0.5})
    f(_throttle(0, 100, 100))  # all throttled, long ago
    f(_throttle(20, 200, 100), _throttle(21, 300, 100))  # nothing throttled since
    assert f.violations == []
    assert f.state is not None and (f.state.periods_sum, f.state.throttled_sum) == (
        200,
        0,
    )  # two samples in (11, 21]


def test_disabled_rules_are_not_judged(feed: Callable[..., Feed]) -> None:
    f = feed(disabled_rules={"memory.oom_kill"})
    f(metric(0, memory_oom_kills_total=1))
    assert f.violations == []


def test_monitoring_disabled_judges_nothing(feed: Callable[..., Feed]) -> None:
    f = feed(enable_monitoring=False)
    f(metric(0, memory_oom_kills_total=1))
    assert f.violations == []
