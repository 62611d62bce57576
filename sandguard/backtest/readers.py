"""One reader per history table: rows of a span (sandboxes × time) back into ``schemas`` events.

Each reader yields ``Item``s, ``(container_id, time, rank, event)``, sorted by container
and time; ``rank`` orders events of one millisecond the way the collector publishes
them (a sample, then the limits, then the process snapshot, audit events last). A new
event kind (exec and connect events, say) is one more ``TableReader`` in ``READERS``:
the merge, the engine run and the gap detection take it as it comes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import orjson

from sandguard.backtest.trusted import Builder
from schemas import (
    SCHEMA_VERSION,
    AuditCategory,
    AuditEvent,
    ConnectEvent,
    ExecEvent,
    ExitEvent,
    LimitsSample,
    MetricSample,
    ProcessInfo,
    ProcessSnapshot,
    SecurityViolationType,
    SocketCounts,
    Store,
)

Item = tuple[str, int, int, Any]  # (container_id, time ms, rank, event)

# Distinct socket-count sets kept (a few dozen in practice); the cache starts over past it.
MAX_SOCKET_SETS = 4096

_RANGE = """container_id IN {ids:Array(String)}
  AND time >= fromUnixTimestamp64Milli({lo:Int64}) AND time <= fromUnixTimestamp64Milli({hi:Int64})"""


@dataclass(frozen=True, slots=True)
class Span:
    """What one read covers: these sandboxes, from ``lo`` to ``hi`` (epoch ms, inclusive)."""

    ids: tuple[str, ...]
    lo: int
    hi: int

    def params(self) -> dict[str, Any]:
        return {"ids": list(self.ids), "lo": self.lo, "hi": self.hi}


class TableReader(Protocol):
    table: ClassVar[str]
    rank: ClassVar[int]

    def read(self, store: Store, span: Span) -> list[Item]: ...


class MetricsReader:
    table: ClassVar[str] = "metrics"
    rank: ClassVar[int] = 0
    # The sample's fields in the order of the columns below (the four socket counts last).
    FIELDS = (
        "container_id", "time", "event_id", "host", "interval_ms", "cpu_percent", "cpu_usage_ns_total",
        "cpu_periods_total", "cpu_throttled_periods_total", "cpu_throttled_ns_total", "memory_usage_bytes",
        "memory_working_set_bytes", "memory_limit_bytes", "memory_failcnt_total", "memory_oom_kills_total",
        "pids_current", "pids_max", "pids_max_events_total", "open_fds", "disk_usage_bytes",
    )  # fmt: skip
    # cpu_percent is a Float32 column: its shortest decimal form is the value the collector
    # sent (rounded to 0.01), read back as the same double the engine saw.
    SQL = f"""
SELECT container_id, toUnixTimestamp64Milli(time), event_id, host, interval_ms,
       toFloat64(toString(cpu_percent)), cpu_usage_ns_total, cpu_periods_total, cpu_throttled_periods_total,
       cpu_throttled_ns_total, memory_usage_bytes, memory_working_set_bytes, memory_limit_bytes,
       memory_failcnt_total, memory_oom_kills_total, pids_current, pids_max, pids_max_events_total, open_fds,
       disk_usage_bytes, sock_tcp, sock_udp, sock_tcp6, sock_udp6
FROM metrics FINAL WHERE {_RANGE}
ORDER BY container_id, time, event_id"""  # noqa: S608 - constant text, values bound by the engine
    _sample = Builder(MetricSample)
    _sockets = Builder(SocketCounts)

    def __init__(self) -> None:
        self._known: dict[tuple[int, int, int, int], SocketCounts] = {}

    def read(self, store: Store, span: Span) -> list[Item]:
        make, rank, sockets, fields = self._sample.complete, self.rank, self._socket_counts, self.FIELDS
        constant = {"kind": "metric", "schema_version": SCHEMA_VERSION, "partial": ()}
        out: list[Item] = []
        for row in store.query(self.SQL, span.params()):
            d = dict(zip(fields, row, strict=False))  # the socket counts are the four left over
            d["sockets"] = sockets(*row[20:])
            d.update(constant)
            out.append((row[0], row[1], rank, make(d)))
        return out

    def _socket_counts(self, tcp: int, udp: int, tcp6: int, udp6: int) -> SocketCounts:
        """Counts are few and repeat sample after sample: one frozen instance per distinct set."""
        key = (tcp, udp, tcp6, udp6)
        s = self._known.get(key)
        if s is None:
            if len(self._known) >= MAX_SOCKET_SETS:
                self._known.clear()
            s = self._known[key] = self._sockets({"tcp": tcp, "udp": udp, "tcp6": tcp6, "udp6": udp6})
        return s


class LimitsReader:
    table: ClassVar[str] = "limits"
    rank: ClassVar[int] = 1
    SQL = f"""
SELECT container_id, toUnixTimestamp64Milli(time), event_id, host, memory_limit_bytes,
       memory_swap_limit_bytes, cpu_quota_us, cpu_period_us, pids_max, nofile_soft, nofile_hard
FROM limits FINAL WHERE {_RANGE}
ORDER BY container_id, time, event_id"""  # noqa: S608
    _limits = Builder(LimitsSample)
    _NAMES = ("memory_limit_bytes", "memory_swap_limit_bytes", "cpu_quota_us", "cpu_period_us", "pids_max",
              "nofile_soft", "nofile_hard")  # fmt: skip

    def read(self, store: Store, span: Span) -> list[Item]:
        out: list[Item] = []
        for cid, t, eid, host, *values in store.query(self.SQL, span.params()):
            d = dict(zip(self._NAMES, values, strict=True))
            d.update(event_id=eid, time=t, container_id=cid, host=host)
            out.append((cid, t, self.rank, self._limits(d)))
        return out


class ProcessesReader:
    """A snapshot is a header row (process_snapshots) and one row per process (processes),
    joined by event id; processes keep the order the collector listed them in."""

    table: ClassVar[str] = "process_snapshots"
    rank: ClassVar[int] = 2
    HEADS = f"""
SELECT container_id, toUnixTimestamp64Milli(time), event_id, host, full, seq, count, exited
FROM process_snapshots FINAL WHERE {_RANGE}
ORDER BY container_id, time, event_id"""  # noqa: S608
    PROCS = f"""
SELECT event_id, pid, ns_pid, ppid, uid, comm, exe, argv, argv_truncated, state,
       toUnixTimestamp64Milli(start_time)
FROM processes FINAL WHERE {_RANGE}
ORDER BY container_id, time, event_id, position, pid"""  # noqa: S608
    _snapshot = Builder(ProcessSnapshot)
    _process = Builder(ProcessInfo)

    def read(self, store: Store, span: Span) -> list[Item]:
        params = span.params()
        procs: dict[str, list[ProcessInfo]] = {}
        rows = store.query(self.PROCS, params)
        for eid, pid, ns_pid, ppid, uid, comm, exe, argv, trunc, state, start in rows:
            procs.setdefault(eid, []).append(self._process({
                "pid": pid, "ns_pid": ns_pid, "ppid": ppid, "uid": uid, "comm": comm, "exe": exe or None,
                "argv": tuple(argv), "argv_truncated": trunc, "state": state, "start_time": start,
            }))  # fmt: skip
        out: list[Item] = []
        for cid, t, eid, host, full, seq, count, exited in store.query(self.HEADS, params):
            ev = self._snapshot({
                "event_id": eid, "time": t, "container_id": cid, "host": host, "full": full, "seq": seq,
                "processes": tuple(procs.get(eid, ())), "exited": tuple(exited), "count": count,
            })  # fmt: skip
            out.append((cid, t, self.rank, ev))
        return out


class AuditReader:
    table: ClassVar[str] = "audit"
    rank: ClassVar[int] = 3
    SQL = f"""
SELECT container_id, toUnixTimestamp64Milli(time), event_id, host, category, action, actor, allowed,
       violation_type, subject, reason, details
FROM audit FINAL WHERE {_RANGE}
ORDER BY container_id, time, source_offset, event_id"""  # noqa: S608
    _audit = Builder(AuditEvent)

    def read(self, store: Store, span: Span) -> list[Item]:
        out: list[Item] = []
        rows = store.query(self.SQL, span.params())
        for cid, t, eid, host, category, action, actor, allowed, vtype, subject, reason, details in rows:
            ev = self._audit({
                "event_id": eid, "time": t, "container_id": cid, "host": host,
                "category": AuditCategory(category), "action": action, "actor": actor, "allowed": allowed,
                "violation_type": SecurityViolationType(vtype) if vtype else None,
                "subject": subject or None, "reason": reason or None,
                "details": orjson.loads(details) if details else {},
            })  # fmt: skip
            out.append((cid, t, self.rank, ev))
        return out


class KernelReader:
    """Exec, exit and connect events (sandguard.kernel): one topic, so one reader whose
    events keep the order the collector published them in (the kernel's clock)."""

    table: ClassVar[str] = "exec_events"
    rank: ClassVar[int] = 4
    EXECS = f"""
SELECT container_id, toUnixTimestamp64Milli(time), ktime_ns, event_id, host, pid, ppid, ns_pid, uid, program,
       comm, filename, exe, script, argv, argv_truncated, cwd, parent_exe, parent_comm, stdio, parent_stdio,
       exe_writable, exe_fs, blocked, mode, mnt_ns, source, best_effort, pgid, sid
FROM exec_events FINAL WHERE {_RANGE}"""  # noqa: S608
    EXITS = f"""
SELECT container_id, toUnixTimestamp64Milli(time), ktime_ns, event_id, host, pid, exit_code, signal, source
FROM exit_events FINAL WHERE {_RANGE}"""  # noqa: S608
    CONNECTS = f"""
SELECT container_id, toUnixTimestamp64Milli(time), ktime_ns, event_id, host, pid, comm, exe, uid, phase,
       family, protocol, daddr, dport, saddr, sport, result, old_state, new_state, source, ns_pid
FROM connect_events FINAL WHERE {_RANGE}"""  # noqa: S608
    _EXEC = ("pid", "ppid", "ns_pid", "uid", "program", "comm", "filename", "exe", "script", "argv",
             "argv_truncated", "cwd", "parent_exe", "parent_comm", "stdio", "parent_stdio", "exe_writable",
             "exe_fs", "blocked", "mode", "mnt_ns", "source", "best_effort", "pgid", "sid")  # fmt: skip
    _EXIT = ("pid", "exit_code", "signal", "source")
    _CONNECT = ("pid", "comm", "exe", "uid", "phase", "family", "protocol", "daddr", "dport", "saddr",
                "sport", "result", "old_state", "new_state", "source", "ns_pid")  # fmt: skip

    def read(self, store: Store, span: Span) -> list[Item]:
        params = span.params()
        keyed: list[tuple[str, int, int, Any]] = []
        for sql, model, names in (
            (self.EXECS, ExecEvent, self._EXEC),
            (self.EXITS, ExitEvent, self._EXIT),
            (self.CONNECTS, ConnectEvent, self._CONNECT),
        ):
            for cid, t, ktime, eid, host, *values in store.query(sql, params):
                d = _kernel_fields(dict(zip(names, values, strict=True)))
                d.update(event_id=eid, time=t, container_id=cid, host=host, ktime_ns=ktime)
                keyed.append((cid, t, ktime, model.model_validate(d)))
        keyed.sort(key=lambda k: (k[0], k[1], k[2]))
        return [(cid, t, self.rank, ev) for cid, t, _, ev in keyed]


def _kernel_fields(d: dict[str, Any]) -> dict[str, Any]:
    """Columns back to the model's shapes: '' stored for an absent script or state is None."""
    for name in ("script", "old_state", "new_state"):
        if name in d and not d[name]:
            d[name] = None
    for name in ("argv", "stdio", "parent_stdio"):
        if name in d:
            d[name] = tuple(d[name])
    return d


READERS: Sequence[TableReader] = (
    MetricsReader(),
    LimitsReader(),
    ProcessesReader(),
    AuditReader(),
    KernelReader(),
)
