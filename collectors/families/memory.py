"""Memory: usage, working set, limit, allocation failures at the limit and OOM kills."""

from __future__ import annotations

import os
from typing import NamedTuple, Protocol

from collectors.cgroups import CgroupPaths
from collectors.families.base import SCALAR, KeptFiles
from collectors.files import FdBudget
from collectors.parsers import (
    flat_value,
    parse_int,
    parse_limit_v1,
    parse_max,
    parse_memory_events,
    parse_oom_kills_v1,
    working_set,
)


class MemoryUsage(NamedTuple):
    usage: int
    working_set: int
    limit: int | None
    failcnt: int  # v1 memory.failcnt + memory.memsw.failcnt; v2 memory.events "max"
    oom_kills: int


class MemoryFamily(Protocol):
    name: str

    def read(self) -> MemoryUsage: ...

    def close(self) -> None: ...


class MemoryV1(KeptFiles):
    name = "memory"

    def __init__(self, directory: str, budget: FdBudget) -> None:
        super().__init__(budget)
        self._usage = self._file(directory, "memory.usage_in_bytes", SCALAR)
        self._stat = self._file(directory, "memory.stat")
        self._limit = self._file(directory, "memory.limit_in_bytes", SCALAR)
        self._failcnt = self._file(directory, "memory.failcnt", SCALAR)
        # With swap accounting, a charge is checked against memory+swap first and fails
        # there when that limit is the lower (Docker sets it equal to memory): counted
        # only in memsw.failcnt. Each failed charge is counted in exactly one of the two.
        memsw = f"{directory}/memory.memsw.failcnt"
        self._memsw_failcnt = (
            self._file(directory, "memory.memsw.failcnt", SCALAR) if os.path.exists(memsw) else None
        )
        self._oom = self._file(directory, "memory.oom_control", 256)

    def read(self) -> MemoryUsage:
        usage = parse_int(self._usage.read())
        stat = self._stat.read()
        # total_* counts the cgroup and its children (what usage_in_bytes covers).
        inactive = flat_value(stat, b"total_inactive_file")
        if inactive is None:
            inactive = flat_value(stat, b"inactive_file")
        return MemoryUsage(
            usage,
            working_set(usage, inactive),
            parse_limit_v1(self._limit.read()),
            parse_int(self._failcnt.read())
            + (parse_int(self._memsw_failcnt.read()) if self._memsw_failcnt else 0),
            parse_oom_kills_v1(self._oom.read()),
        )


class MemoryV2(KeptFiles):
    name = "memory"

    def __init__(self, directory: str, budget: FdBudget) -> None:
        super().__init__(budget)
        self._current = self._file(directory, "memory.current", SCALAR)
        self._stat = self._file(directory, "memory.stat")
        self._max = self._file(directory, "memory.max", SCALAR)
        self._events = self._file(directory, "memory.events", 512)

    def read(self) -> MemoryUsage:
        usage = parse_int(self._current.read())
        events = parse_memory_events(self._events.read())
        return MemoryUsage(
            usage,
            working_set(usage, flat_value(self._stat.read(), b"inactive_file")),
            parse_max(self._max.read()),
            events.max,
            events.oom_kill,
        )


def memory_family(paths: CgroupPaths, budget: FdBudget) -> MemoryFamily | None:
    d = paths.get("memory")
    if d is None:
        return None
    return MemoryV1(d.path, budget) if d.version == 1 else MemoryV2(d.path, budget)
