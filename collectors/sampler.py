"""One container's sample: metrics every interval, a process snapshot (full or delta) and
the limits in force, each built once and encoded once.

The events are built with their ordinary constructors: with pydantic 2.14 validating
a MetricSample (Rust) costs ~6.8 µs here and ``model_construct`` (Python) ~12.9 µs.

Every family is read on its own: one that fails is counted, named in ``partial`` and
skipped; the rest is still published. A container that vanished mid-read raises
ContainerGoneError (expected during churn, never an error).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from collectors.buffer import Out  # (topic, key, value): what goes to the publish buffer
from collectors.cgroups import CgroupLocator
from collectors.docker_port import ContainerInfo
from collectors.errors import ErrorReporter
from collectors.exceptions import ContainerGoneError
from collectors.families import (
    CgroupLimits,
    DiskFamily,
    SocketsFamily,
    cpu_family,
    limits_family,
    memory_family,
    pids_family,
)
from collectors.files import FdBudget, is_gone
from collectors.ids import EventIds
from collectors.processes import ProcessTracker
from schemas import topics
from schemas.codec import encode
from schemas.events import LimitsSample, MetricSample, ProcessSnapshot, SocketCounts

_NO_SOCKETS = SocketCounts(tcp=0, tcp_orphan=0, tcp_time_wait=0, udp=0, raw=0, tcp6=0, udp6=0, tcp_states={})


@dataclass(frozen=True, slots=True)
class SamplerContext:
    """What every container's sampler shares."""

    host: str
    locator: CgroupLocator
    budget: FdBudget
    errors: ErrorReporter
    ids: EventIds
    boot_ms: int
    ticks_per_s: int
    count_fds: Any  # Callable[[int], int]
    full_every: int
    limits_every: int
    limits_heartbeat_every: int
    disk_every: int
    tcp_states_every: int


class ContainerSampler:
    def __init__(self, info: ContainerInfo, ctx: SamplerContext) -> None:
        self.id = info.id
        self._ctx = ctx
        proc = ctx.locator.proc_root
        paths = ctx.locator.locate(info.id, info.pid)
        self._anchor = next(iter(paths.dirs.values())).path  # gone with the container
        self._init = f"{proc}/{info.pid}"  # and so is its init process, a moment earlier
        self._cpu = cpu_family(paths, ctx.budget)
        self._memory = memory_family(paths, ctx.budget)
        self._pids = pids_family(paths, ctx.budget)
        self._limits = limits_family(paths, proc, info.pid, ctx.budget)
        self._sockets = SocketsFamily(proc, info.pid, ctx.budget)
        self._disk = DiskFamily(proc, info.pid, info.disk_mounts)
        self._procs = ProcessTracker(
            proc_root=proc,
            budget=ctx.budget,
            boot_ms=ctx.boot_ms,
            ticks_per_s=ctx.ticks_per_s,
            count_fds=ctx.count_fds,
        )
        present = {
            "cpu": self._cpu is not None,
            "memory": self._memory is not None,
            "pids": self._pids is not None and self._pids.has_counters,
        }
        self._missing = tuple(n for n, ok in present.items() if not ok)
        self._n = 0  # samples taken
        self._seq = 0  # process snapshots published
        self._prev_cpu: tuple[int, float] | None = None
        self._prev_mono: float | None = None
        self._limits_sent: CgroupLimits | None = None
        self._limits_sent_at = 0
        self._disk_bytes: int | None = None
        self._tcp_states: dict[str, int] = {}
        self.force_full = True

    @property
    def processes(self) -> int:
        return len(self._procs)

    def sample(self, mono: float, wall_ms: int, out: list[Out]) -> None:
        """Appends this interval's events to ``out``."""
        partial: list[str] = list(self._missing)
        fields: dict[str, Any] = {}
        self._read_cpu(mono, fields, partial)
        self._read_memory(fields, partial)
        pids = self._read_pids(fields, partial)
        self._read_sockets(fields, partial)
        self._read_disk(fields, partial)
        snapshot = self._read_processes(pids, wall_ms, fields, partial) if pids is not None else None
        limits = self._read_limits(wall_ms, partial)
        interval = None if self._prev_mono is None else round((mono - self._prev_mono) * 1000)
        self._prev_mono = mono
        self._n += 1
        sample = MetricSample(
            event_id=self._ctx.ids(),
            time=wall_ms,
            container_id=self.id,
            host=self._ctx.host,
            interval_ms=interval,
            partial=tuple(partial),
            **fields,
        )
        out.append((topics.METRICS, self.id, encode(sample)))
        if limits is not None:
            out.append((topics.METRICS, self.id, encode(limits)))
        if snapshot is not None:
            out.append((topics.PROCESSES, self.id, encode(snapshot)))

    def _failed(self, family: str, exc: Exception, partial: list[str]) -> None:
        if isinstance(exc, OSError) and is_gone(exc) and self._gone():
            raise ContainerGoneError(self.id) from exc
        self._ctx.errors.report(family, self.id, exc)
        partial.append(family)

    def _gone(self) -> bool:
        """The init process exits first, then the runtime removes the cgroups: either way
        the container is over, and a file that vanished with it is not an error."""
        return not os.path.isdir(self._anchor) or not os.path.exists(self._init)

    def _read_cpu(self, mono: float, fields: dict[str, Any], partial: list[str]) -> None:
        if self._cpu is None:
            return
        try:
            cpu = self._cpu.read()
        except (OSError, ValueError) as exc:
            self._failed("cpu", exc, partial)
            return
        prev, self._prev_cpu = self._prev_cpu, (cpu.usage_ns, mono)
        if prev is not None and mono > prev[1]:
            fields["cpu_percent"] = round((cpu.usage_ns - prev[0]) / (mono - prev[1]) / 1e7, 2)
        fields["cpu_usage_ns_total"] = cpu.usage_ns
        fields["cpu_periods_total"] = cpu.periods
        fields["cpu_throttled_periods_total"] = cpu.throttled_periods
        fields["cpu_throttled_ns_total"] = cpu.throttled_ns

    def _read_memory(self, fields: dict[str, Any], partial: list[str]) -> None:
        if self._memory is None:
            return
        try:
            m = self._memory.read()
        except (OSError, ValueError) as exc:
            self._failed("memory", exc, partial)
            return
        fields["memory_usage_bytes"] = m.usage
        fields["memory_working_set_bytes"] = m.working_set
        fields["memory_limit_bytes"] = m.limit
        fields["memory_failcnt_total"] = m.failcnt
        fields["memory_oom_kills_total"] = m.oom_kills

    def _read_pids(self, fields: dict[str, Any], partial: list[str]) -> list[int] | None:
        if self._pids is None:
            return None
        try:
            if self._pids.has_counters:  # else "pids" is in partial already (_missing)
                p = self._pids.read()
                fields["pids_current"] = p.current
                fields["pids_max"] = p.max
                fields["pids_max_events_total"] = p.max_events
        except (OSError, ValueError) as exc:
            self._failed("pids", exc, partial)
        try:
            return self._pids.procs()
        except (OSError, ValueError) as exc:
            self._failed("processes", exc, partial)
            return None

    def _read_sockets(self, fields: dict[str, Any], partial: list[str]) -> None:
        try:
            s = self._sockets.read()
            every = self._ctx.tcp_states_every
            if every and self._n % every == 0:
                self._tcp_states = self._sockets.tcp_states() if s.tcp + s.tcp6 else {}
        except (OSError, ValueError) as exc:
            self._failed("sockets", exc, partial)
            fields["sockets"] = _NO_SOCKETS
            return
        fields["sockets"] = SocketCounts(
            tcp=s.tcp,
            tcp_orphan=s.tcp_orphan,
            tcp_time_wait=s.tcp_time_wait,
            udp=s.udp,
            raw=s.raw,
            tcp6=s.tcp6,
            udp6=s.udp6,
            tcp_states=self._tcp_states,
        )

    def _read_disk(self, fields: dict[str, Any], partial: list[str]) -> None:
        if self._n % self._ctx.disk_every == 0:
            try:
                self._disk_bytes = self._disk.read()
            except (OSError, ValueError) as exc:
                self._failed("disk", exc, partial)
        fields["disk_usage_bytes"] = self._disk_bytes

    def _read_processes(
        self, pids: list[int], wall_ms: int, fields: dict[str, Any], partial: list[str]
    ) -> ProcessSnapshot | None:
        try:
            scan = self._procs.scan(pids)
        except (OSError, ValueError) as exc:
            self._failed("processes", exc, partial)
            return None
        fields["open_fds"] = scan.open_fds
        if scan.fd_errors:
            self._failed("fds", PermissionError(f"{scan.fd_errors} fd directories unreadable"), partial)
        full = self.force_full or self._n % self._ctx.full_every == 0
        if not full and not scan.changed and not scan.exited:
            return None
        self.force_full = False
        seq, self._seq = self._seq, self._seq + 1
        return ProcessSnapshot(
            event_id=self._ctx.ids(),
            time=wall_ms,
            container_id=self.id,
            host=self._ctx.host,
            full=full,
            seq=seq,
            processes=self._procs.snapshot() if full else tuple(scan.changed),
            exited=() if full else tuple(scan.exited),
            count=len(self._procs),
        )

    def _read_limits(self, wall_ms: int, partial: list[str]) -> LimitsSample | None:
        if self._n % self._ctx.limits_every != 0:
            return None
        try:
            lim = self._limits.read()
        except (OSError, ValueError) as exc:
            self._failed("limits", exc, partial)
            return None
        due = self._n - self._limits_sent_at >= self._ctx.limits_heartbeat_every
        if lim == self._limits_sent and not due:
            return None
        self._limits_sent, self._limits_sent_at = lim, self._n
        return LimitsSample(
            event_id=self._ctx.ids(),
            time=wall_ms,
            container_id=self.id,
            host=self._ctx.host,
            memory_limit_bytes=lim.memory,
            memory_swap_limit_bytes=lim.memory_swap,
            cpu_quota_us=lim.cpu_quota_us,
            cpu_period_us=lim.cpu_period_us,
            pids_max=lim.pids_max,
            nofile_soft=lim.nofile_soft,
            nofile_hard=lim.nofile_hard,
        )

    def close(self) -> None:
        for family in (self._cpu, self._memory, self._pids, self._limits, self._sockets, self._disk):
            if family is not None:
                family.close()
        self._procs.close()
