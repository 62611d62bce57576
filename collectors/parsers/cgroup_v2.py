"""cgroup v2 (unified) files: cpu.stat, cpu.max, memory.events."""

from __future__ import annotations

from typing import NamedTuple

from collectors.parsers.common import flat_value


class CpuStatV2(NamedTuple):
    usage_usec: int
    nr_periods: int
    nr_throttled: int
    throttled_usec: int


class MemoryEventsV2(NamedTuple):
    max: int  # times usage hit memory.max (v2's counterpart of v1 memory.failcnt)
    oom_kill: int


def parse_cpu_stat_v2(data: bytes) -> CpuStatV2:
    """cpu.stat; the bandwidth lines are absent while the cpu controller is not enabled."""
    usage = flat_value(data, b"usage_usec")
    if usage is None:
        raise ValueError("cpu.stat without usage_usec")
    return CpuStatV2(
        usage,
        flat_value(data, b"nr_periods") or 0,
        flat_value(data, b"nr_throttled") or 0,
        flat_value(data, b"throttled_usec") or 0,
    )


def parse_cpu_max(data: bytes) -> tuple[int | None, int]:
    """cpu.max: ``$MAX $PERIOD``; MAX is ``max`` when unlimited."""
    quota, period = data.split()
    return (None if quota == b"max" else int(quota)), int(period)


def parse_memory_events(data: bytes) -> MemoryEventsV2:
    """memory.events: counters of hitting limits; ``oom_kill`` counts processes killed."""
    return MemoryEventsV2(flat_value(data, b"max") or 0, flat_value(data, b"oom_kill") or 0)
