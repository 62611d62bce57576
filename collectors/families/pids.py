"""Pids: processes and threads in the cgroup, the limit, and how often fork hit it.

The pids controller is the same in v1 and v2, so one reader serves both. Its
``cgroup.procs`` is also the container's process list.
"""

from __future__ import annotations

from typing import NamedTuple

from collectors.cgroups import CgroupPaths
from collectors.families.base import SCALAR, KeptFiles
from collectors.files import FdBudget, read_once
from collectors.parsers import flat_value, parse_int, parse_max, parse_pid_list


class PidsUsage(NamedTuple):
    current: int
    max: int | None
    max_events: int  # forks refused at the limit: the fork-bomb signal


class PidsFamily(KeptFiles):
    name = "pids"

    def __init__(self, directory: str | None, procs_dir: str, budget: FdBudget) -> None:
        super().__init__(budget)
        self._current = self._file(directory, "pids.current", SCALAR) if directory else None
        self._max = self._file(directory, "pids.max", SCALAR) if directory else None
        self._events = self._file(directory, "pids.events", 256) if directory else None
        # Opened per read, never kept: cgroup v1 caches the pid list of an open
        # cgroup.procs and serves the same list again to re-reads that come sooner than
        # its 1 s expiry, so a kept descriptor read every second would never see a new pid.
        self._procs_path = f"{procs_dir}/cgroup.procs"

    @property
    def has_counters(self) -> bool:
        """False without a pids controller: only the process list (from another cgroup)."""
        return self._current is not None

    def read(self) -> PidsUsage:
        if self._current is None or self._max is None or self._events is None:
            raise FileNotFoundError("no pids controller for this container")
        return PidsUsage(
            parse_int(self._current.read()),
            parse_max(self._max.read()),
            flat_value(self._events.read(), b"max") or 0,
        )

    def procs(self) -> list[int]:
        """The container's processes (thread group ids), in the order the kernel lists them."""
        return parse_pid_list(read_once(self._procs_path))


def pids_family(paths: CgroupPaths, budget: FdBudget) -> PidsFamily | None:
    pids = paths.get("pids")
    procs = pids or paths.get("memory") or paths.get("cpu")
    if procs is None:
        return None
    return PidsFamily(pids.path if pids else None, procs.path, budget)
