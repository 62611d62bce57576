"""Every cgroup file the collector reads, v1 and v2, parsed from recorded trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.parsers import (
    flat_value,
    parse_cfs_quota,
    parse_cpu_max,
    parse_cpu_stat_v1,
    parse_cpu_stat_v2,
    parse_cpuacct_usage,
    parse_int,
    parse_limit_v1,
    parse_max,
    parse_memory_events,
    parse_oom_kills_v1,
    parse_pid_list,
    working_set,
)
from tests.unit.collectors.conftest import TESTDATA, TREES, cgroup_dir


def read(name: str, controller: str, filename: str) -> bytes:
    return (cgroup_dir(TESTDATA / name, name, controller) / filename).read_bytes()


def test_v1_cpu_files() -> None:
    assert parse_cpuacct_usage(read("v1_cgroupfs", "cpuacct", "cpuacct.usage")) > 0
    # Recorded from a 6.x kernel (nr_bursts lines) and written as a 5.4 kernel (without).
    assert parse_cpu_stat_v1(read("v1_cgroupfs", "cpu", "cpu.stat")) == (3, 0, 0)
    assert parse_cpu_stat_v1(read("v1_systemd", "cpu", "cpu.stat")) == (42, 9, 402118467)
    assert parse_cfs_quota(read("v1_cgroupfs", "cpu", "cpu.cfs_quota_us")) == 50_000
    assert parse_int(read("v1_cgroupfs", "cpu", "cpu.cfs_period_us")) == 100_000


def test_v1_unlimited_quota_and_limits() -> None:
    assert parse_cfs_quota(b"-1\n") is None
    assert parse_limit_v1(b"9223372036854771712\n") is None
    assert parse_limit_v1(b"100663296\n") == 100663296


def test_v1_memory_files() -> None:
    usage = parse_int(read("v1_cgroupfs", "memory", "memory.usage_in_bytes"))
    assert usage > 20 << 20  # the recorded process held 20 MiB
    assert parse_limit_v1(read("v1_cgroupfs", "memory", "memory.limit_in_bytes")) == 96 << 20
    assert parse_limit_v1(read("v1_cgroupfs", "memory", "memory.memsw.limit_in_bytes")) == 96 << 20
    assert parse_int(read("v1_cgroupfs", "memory", "memory.failcnt")) == 0
    assert parse_oom_kills_v1(read("v1_cgroupfs", "memory", "memory.oom_control")) == 0
    assert parse_oom_kills_v1(read("v1_systemd", "memory", "memory.oom_control")) == 2
    # Kernels before 4.13 have no oom_kill line.
    assert parse_oom_kills_v1(b"oom_kill_disable 0\nunder_oom 0\n") == 0


def test_flat_value_matches_whole_keys_only() -> None:
    stat = read("v1_systemd", "memory", "memory.stat")
    assert flat_value(stat, b"inactive_file") == 0
    assert flat_value(stat, b"total_inactive_file") == 1191936
    assert flat_value(stat, b"no_such_key") is None
    assert flat_value(b"max 4", b"max") == 4  # no trailing newline


def test_working_set_is_usage_less_inactive_file() -> None:
    assert working_set(27082752, 1191936) == 27082752 - 1191936
    assert working_set(100, 200) == 0  # the two files are read at different instants
    assert working_set(100, None) == 100


def test_v2_files() -> None:
    assert parse_cpu_stat_v2(read("v2_systemd", "cpu", "cpu.stat")) == (1254312, 42, 9, 402118)
    assert parse_cpu_max(read("v2_systemd", "cpu", "cpu.max")) == (50_000, 100_000)
    assert parse_cpu_max(b"max 100000\n") == (None, 100_000)
    assert parse_int(read("v2_systemd", "memory", "memory.current")) == 27082752
    assert parse_max(read("v2_systemd", "memory", "memory.max")) == 96 << 20
    assert parse_max(read("v2_systemd", "memory", "memory.swap.max")) == 0
    assert parse_max(b"max\n") is None
    assert parse_memory_events(read("v2_systemd", "memory", "memory.events")) == (37, 2)
    assert flat_value(read("v2_systemd", "memory", "memory.stat"), b"inactive_file") == 1191936


def test_v2_cpu_stat_without_usage_is_rejected() -> None:
    with pytest.raises(ValueError, match="usage_usec"):
        parse_cpu_stat_v2(b"nr_periods 1\n")


@pytest.mark.parametrize("name", sorted(TREES))
def test_pids_files(name: str) -> None:
    assert parse_int(read(name, "pids", "pids.current")) == 3
    assert parse_max(read(name, "pids", "pids.max")) == 30
    events = read(name, "pids", "pids.events")
    assert flat_value(events, b"max") == (0 if name == "v1_cgroupfs" else 4)


@pytest.mark.parametrize("name", sorted(TREES))
def test_cgroup_procs(name: str) -> None:
    assert sorted(parse_pid_list(read(name, "pids", "cgroup.procs"))) == [4487, 4518, 4519]


def test_cgroup_procs_v1_repeats_and_empty() -> None:
    assert parse_pid_list(b"4518\n4487\n4519\n4518\n") == [4518, 4487, 4519]
    assert parse_pid_list(b"") == []  # a cgroup whose processes all exited


def test_garbage_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        parse_int(b"not a number\n")
    with pytest.raises(ValueError):
        parse_cpu_max(b"50000\n")
