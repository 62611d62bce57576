"""The process table of one container, kept between samples so each sample costs one
pread of /proc/<pid>/stat per process; cmdline, exe and status are read only for new
processes and after an exec (detected from the image addresses in stat, see ProcStat).

A process that exits between listing and reading is simply not there: that is the
normal life of a container, not an error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

from collectors.files import FdBudget, KeptFile, is_gone, read_head, read_once
from collectors.parsers import ProcStat, parse_cmdline, parse_proc_stat, parse_proc_status
from schemas.events import ProcessInfo

# argv is evidence for process rules, not an archive: 64 arguments or 4 KiB, whichever first.
MAX_ARGS = 64
MAX_CMDLINE_BYTES = 4096
# /proc/<pid>/stat is ~300 bytes; 512 leaves room for a 64-byte comm with escapes.
STAT_SIZE = 512


def fd_counter(proc_root: str) -> Callable[[int], int]:
    """Counts a process's open descriptors. Linux 6.2+ reports the count as the size of
    /proc/<pid>/fd (one stat, ~2.2 µs); older kernels report 0 there, so list the
    directory (~6.5 µs). Decided once, on our own descriptors (0, 1, 2 are open)."""
    if proc_root == "/proc" and os.stat("/proc/self/fd").st_size > 0:
        return lambda pid: os.stat(f"/proc/{pid}/fd").st_size

    def by_listing(pid: int) -> int:
        return len(os.listdir(f"{proc_root}/{pid}/fd"))

    return by_listing


class _Proc:
    """What is known of one process; ``info`` is rebuilt only when something reportable changed.
    ``state`` is the latest scheduler state, copied into ``info`` only when a snapshot asks."""

    __slots__ = ("image", "info", "starttime", "stat", "state")

    def __init__(self, stat: KeptFile) -> None:
        self.stat = stat
        self.starttime = -1
        self.image: tuple[int, ...] = ()
        self.info: ProcessInfo | None = None
        self.state = ""


class Scan(NamedTuple):
    changed: list[ProcessInfo]  # new, or changed program, parent or name
    exited: list[int]
    open_fds: int
    fd_errors: int  # processes whose descriptors could not be counted (not vanished ones)


class ProcessTracker:
    """Tracks the processes of one container between samples."""

    def __init__(
        self,
        *,
        proc_root: str,
        budget: FdBudget,
        boot_ms: int,
        ticks_per_s: int,
        count_fds: Callable[[int], int],
    ) -> None:
        self._proc = proc_root
        self._budget = budget
        self._boot_ms = boot_ms
        self._ms_per_tick = 1000 / ticks_per_s
        self._count_fds = count_fds
        self._known: dict[int, _Proc] = {}

    def __len__(self) -> int:
        return len(self._known)

    def scan(self, pids: list[int]) -> Scan:
        changed: list[ProcessInfo] = []
        exited: list[int] = []
        fds = fd_errors = 0
        seen: dict[int, _Proc] = {}
        for pid in pids:
            p = self._observe(pid, changed, exited)
            if p is None:
                continue
            seen[pid] = p
            try:
                fds += self._count_fds(pid)
            except OSError as exc:
                fd_errors += not is_gone(exc)
        for pid, p in self._known.items():
            if pid not in seen:
                p.stat.close()
                exited.append(pid)
        self._known = seen
        return Scan(changed, exited, fds, fd_errors)

    def _observe(self, pid: int, changed: list[ProcessInfo], exited: list[int]) -> _Proc | None:
        p = self._known.get(pid)
        st = self._read_stat(p) if p is not None else None
        if p is not None and st is None:
            # The process we knew exited; the pid may already belong to a new one.
            p.stat.close()
            exited.append(pid)
            p = None
        if p is None:
            p = _Proc(KeptFile(f"{self._proc}/{pid}/stat", self._budget, STAT_SIZE))
            st = self._read_stat(p)
            if st is None:
                p.stat.close()
                return None
        assert st is not None
        info = self._update(pid, p, st)
        if info is not None:
            changed.append(info)
        return p

    def _read_stat(self, p: _Proc) -> ProcStat | None:
        try:
            return parse_proc_stat(p.stat.read())
        except OSError as exc:
            if is_gone(exc):
                return None
            raise

    def _update(self, pid: int, p: _Proc, st: ProcStat) -> ProcessInfo | None:
        old, p.state = p.info, st.state
        if old is None or st.starttime_ticks != p.starttime or st.image != p.image:
            p.starttime, p.image = st.starttime_ticks, st.image
            p.info = self._describe(pid, st)
            return p.info
        if st.ppid != old.ppid or st.comm != old.comm:
            p.info = old.model_copy(update={"ppid": st.ppid, "comm": st.comm, "state": st.state})
            return p.info
        return None  # a state flip (R and S, all the time) is not a change: see snapshot()

    def _describe(self, pid: int, st: ProcStat) -> ProcessInfo:
        base = f"{self._proc}/{pid}"
        try:
            status = parse_proc_status(read_once(f"{base}/status"))
            euid, ns_pid = status.euid, status.ns_pid
        except OSError:
            euid, ns_pid = -1, None
        try:
            argv, truncated = parse_cmdline(
                read_head(f"{base}/cmdline", MAX_CMDLINE_BYTES + 1),
                max_args=MAX_ARGS,
                max_bytes=MAX_CMDLINE_BYTES,
            )
        except OSError:
            argv, truncated = (), False
        try:
            exe: str | None = os.readlink(f"{base}/exe")
        except OSError:
            exe = None  # zombie, or exited since the stat read
        return ProcessInfo(
            pid=pid,
            ns_pid=ns_pid,
            ppid=st.ppid,
            uid=euid,
            comm=st.comm,
            exe=exe,
            argv=argv,
            argv_truncated=truncated,
            state=st.state,
            start_time=self._boot_ms + int(st.starttime_ticks * self._ms_per_tick),
        )

    def snapshot(self) -> tuple[ProcessInfo, ...]:
        for p in self._known.values():
            if p.info is not None and p.info.state != p.state:
                p.info = p.info.model_copy(update={"state": p.state})
        return tuple(p.info for p in self._known.values() if p.info is not None)

    def close(self) -> None:
        for p in self._known.values():
            p.stat.close()
        self._known.clear()
