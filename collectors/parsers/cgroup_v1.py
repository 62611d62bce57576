"""cgroup v1 files (cpu, cpuacct, memory controllers); pids files are shared with v2 (common)."""

from __future__ import annotations

from typing import NamedTuple

from collectors.parsers.common import flat_value

# v1 reports "no limit" as PAGE_COUNTER_MAX × page size (9223372036854771712 with 4 KiB
# pages); anything at or over 2**62 is no limit on any page size.
V1_UNLIMITED = 2**62


class CpuStatV1(NamedTuple):
    nr_periods: int
    nr_throttled: int
    throttled_ns: int


def parse_cpuacct_usage(data: bytes) -> int:
    """cpuacct.usage: total CPU time of the cgroup in nanoseconds."""
    return int(data)


def parse_cpu_stat_v1(data: bytes) -> CpuStatV1:
    """cpu.stat: CFS bandwidth counters (nr_periods, nr_throttled, throttled_time in ns)."""
    return CpuStatV1(
        flat_value(data, b"nr_periods") or 0,
        flat_value(data, b"nr_throttled") or 0,
        flat_value(data, b"throttled_time") or 0,
    )


def parse_limit_v1(data: bytes) -> int | None:
    """memory.limit_in_bytes / memory.memsw.limit_in_bytes; None when unlimited."""
    value = int(data)
    return None if value >= V1_UNLIMITED else value


def parse_oom_kills_v1(data: bytes) -> int:
    """memory.oom_control: the ``oom_kill`` counter (kernel 4.13+; 0 before)."""
    return flat_value(data, b"oom_kill") or 0


def parse_cfs_quota(data: bytes) -> int | None:
    """cpu.cfs_quota_us: µs per period, -1 (None) when unlimited."""
    value = int(data)
    return None if value < 0 else value
