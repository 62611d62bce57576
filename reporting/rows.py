"""Events -> table rows (tuples in ``reporting.tables`` column order).

Metric samples, the hot path, go from the decoded JSON dict straight to a row with
plain type checks (no pydantic): ``metric_row`` returns None for anything it is not
sure of, and the sink then validates the message with ``schemas.decode`` (for the
exact error) and builds the row from the validated model's dump, through the same
function. Other topics are low-volume and always go through the models.
"""

from __future__ import annotations

from typing import Any

import orjson

from schemas import (
    ActionResult,
    AuditEvent,
    ConnectEvent,
    DeadLetter,
    EnforcementCommand,
    ExecEvent,
    ExitEvent,
    LimitsSample,
    PolicyEvent,
    ProcessSnapshot,
    Violation,
    ViolationActivity,
    stable_id,
)

Row = tuple[Any, ...]

# (field, default) of the unsigned integer fields of MetricSample, in column order.
_METRIC_INTS = (
    "cpu_usage_ns_total", "cpu_periods_total", "cpu_throttled_periods_total",
    "cpu_throttled_ns_total", "memory_usage_bytes", "memory_working_set_bytes",
)  # fmt: skip
_METRIC_INTS_2 = ("memory_failcnt_total", "memory_oom_kills_total", "pids_current")
_SOCKETS = ("tcp", "tcp_orphan", "tcp_time_wait", "udp", "raw", "tcp6", "udp6")
_METRIC_KEYS = frozenset({
    "event_id", "time", "container_id", "host", "schema_version", "kind", "interval_ms",
    "cpu_percent", *_METRIC_INTS, "memory_limit_bytes", *_METRIC_INTS_2, "pids_max",
    "pids_max_events_total", "open_fds", "sockets", "disk_usage_bytes", "partial",
})  # fmt: skip
_SOCKET_KEYS = frozenset({*_SOCKETS, "tcp_states"})
# Columns are UInt32/UInt64: values outside these bounds cannot be stored as sent.
U32 = 2**32 - 1
U64 = 2**64 - 1


def _uint(v: Any, top: int = U64) -> bool:
    return type(v) is int and 0 <= v <= top


def _opt_uint(v: Any, top: int = U64) -> bool:
    return v is None or (type(v) is int and 0 <= v <= top)


def metric_row(d: Any) -> Row | None:
    """The metrics row of a MetricSample as a JSON dict; None if the shape is not exactly right."""
    if type(d) is not dict or d.get("kind", "metric") != "metric" or not _METRIC_KEYS.issuperset(d):
        return None
    eid, ts, cid = d.get("event_id"), d.get("time"), d.get("container_id")
    host, sv = d.get("host", ""), d.get("schema_version", "1.0")
    if type(eid) is not str or not _uint(ts) or type(cid) is not str or type(host) is not str:
        return None
    ints = [d.get(k, 0) for k in _METRIC_INTS]
    ints2 = [d.get(k, 0) for k in _METRIC_INTS_2]
    interval, cpu = d.get("interval_ms"), d.get("cpu_percent")
    mem_limit, pids_max = d.get("memory_limit_bytes"), d.get("pids_max")
    pids_events, fds, disk = (
        d.get("pids_max_events_total", 0),
        d.get("open_fds", 0),
        d.get("disk_usage_bytes"),
    )
    if not (
        all(_uint(v) for v in ints)
        and all(_uint(v, U32) for v in ints2)
        and _opt_uint(interval, U32)
        and (cpu is None or (type(cpu) in (int, float) and cpu >= 0))
        and _opt_uint(mem_limit)
        and _opt_uint(pids_max, U32)
        and _uint(pids_events)
        and _uint(fds, U32)
        and _opt_uint(disk)
        and type(sv) is str
    ):
        return None
    socks = _sockets(d.get("sockets"))
    partial = d.get("partial", [])
    if socks is None or type(partial) is not list or not all(type(p) is str for p in partial):
        return None
    return (
        eid, ts, cid, host, interval, ints[0], None if cpu is None else float(cpu), *ints[1:],
        mem_limit, *ints2, pids_max, pids_events, fds, *socks, disk, partial, sv,
    )  # fmt: skip


def _sockets(s: Any) -> tuple[Any, ...] | None:
    if s is None:
        return (0, 0, 0, 0, 0, 0, 0, {})
    if type(s) is not dict or not _SOCKET_KEYS.issuperset(s):
        return None
    vals = [s.get(k, 0) for k in _SOCKETS]
    states = s.get("tcp_states", {})
    if not all(_uint(v, U32) for v in vals) or type(states) is not dict:
        return None
    if not all(type(k) is str and _uint(v, U32) for k, v in states.items()):
        return None
    return (*vals, states)


def limits_row(e: LimitsSample) -> Row:
    return (
        e.event_id, e.time, e.container_id, e.host, e.memory_limit_bytes, e.memory_swap_limit_bytes,
        e.cpu_quota_us, e.cpu_period_us, e.pids_max, e.nofile_soft, e.nofile_hard, e.schema_version,
    )  # fmt: skip


def process_rows(e: ProcessSnapshot) -> tuple[Row, list[Row]]:
    """The snapshot's header row and one row per listed process."""
    head = (
        e.event_id, e.time, e.container_id, e.host, e.full, e.seq, e.count, len(e.processes),
        list(e.exited), e.schema_version,
    )  # fmt: skip
    procs = [
        (
            e.event_id,
            e.time,
            e.container_id,
            e.host,
            e.full,
            p.pid,
            p.ns_pid,
            p.ppid,
            p.uid,
            p.comm,
            p.exe or "",
            list(p.argv),
            " ".join(p.argv),
            p.argv_truncated,
            p.state,
            p.start_time,
            i,
        )
        for i, p in enumerate(e.processes)
    ]
    return head, procs


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def audit_row(e: AuditEvent, offset: int = -1) -> Row:
    """``offset``: the message's offset in its partition (-1: unknown), the processor's order."""
    return (
        e.event_id, e.time, e.container_id, e.host, e.category.value, e.action, e.actor, e.allowed,
        e.violation_type.value if e.violation_type else "", e.subject or "", e.reason or "",
        _json(e.details), e.schema_version, offset,
    )  # fmt: skip


def sandbox_row(e: PolicyEvent) -> Row:
    p, lim = e.policy, e.policy.resource_limits
    return (
        e.event_id, e.time, e.container_id, e.host, False, e.policy_id, p.name, p.version, p.mode.value,
        e.sandbox_name, e.image, dict(e.labels), p.network_policy.value, lim.memory_mb, lim.cpu_percent,
        lim.disk_mb, lim.max_processes, lim.max_open_files, lim.max_network_connections,
        lim.execution_timeout, p.enable_monitoring, p.violation_threshold,
        p.auto_terminate_on_violation, p.canonical_json(), e.schema_version,
    )  # fmt: skip


def tombstone_row(topic: str, key: str, partition: int, offset: int, timestamp_ms: int) -> Row:
    """A destroyed sandbox (a tombstone on the policies topic); its id is stable across replays."""
    eid = stable_id("tombstone", topic, key, partition, offset)
    return (
        eid, timestamp_ms, key, "", True, "", "", "", "", "", "", {}, "", 0, 0.0, 0, 0, 0, 0, 0, False,
        0, False, "", "",
    )  # fmt: skip


# create < update < close at the same millisecond: the latest state of a finding wins.
_ACTIVITY_RANK = {ViolationActivity.CREATE: 0, ViolationActivity.UPDATE: 1, ViolationActivity.CLOSE: 2}


def violation_row(v: Violation) -> Row:
    ev = v.evidence
    proc = ev.process
    return (
        v.event_id, v.time, v.container_id, v.host, v.violation_id, v.activity.value,
        v.detected_time * 4 + _ACTIVITY_RANK[v.activity], v.rule_id, v.violation_type.value,
        v.severity.value, v.severity.ocsf_id, v.title, v.message, v.count, v.first_seen, v.last_seen,
        v.sample_time, v.detected_time, v.policy_id, v.policy_name, v.policy_version, v.mode,
        v.disposition.value, v.container_name, v.image, dict(v.labels),
        proc.comm if proc else "", (proc.exe or "") if proc else "",
        " ".join(proc.argv) if proc else "", ev.command or "", ev.path or "",
        _json(ev.model_dump(mode="json")), v.schema_version,
    )  # fmt: skip


def command_row(c: EnforcementCommand) -> Row:
    return (
        c.event_id, c.time, c.container_id, c.host, c.command_id, c.action.value, c.mode,
        list(c.violation_ids), list(c.rule_ids), c.reason, c.policy_id,
        _json(c.limits.model_dump(mode="json")) if c.limits else "", c.throttle_factor,
        c.keep_filesystem, c.first_violation_time, c.schema_version,
    )  # fmt: skip


def action_row(a: ActionResult) -> Row:
    return (
        a.event_id, a.time, a.container_id, a.host, a.command_id, a.action.value, a.result.value,
        a.reason, list(a.violation_ids), list(a.rule_ids), a.command_time,
        None if a.latency_ms is None else max(0, min(a.latency_ms, U32)), _json(a.details),
        a.schema_version,
    )  # fmt: skip


def deadletter_row(d: DeadLetter) -> Row:
    return (
        d.event_id, d.time, d.component, d.source_topic, d.partition, d.offset, d.key, d.value,
        d.error, d.schema_version,
    )  # fmt: skip


def exec_row(e: ExecEvent) -> Row:
    return (
        e.event_id, e.time, e.container_id, e.host, e.pid, e.ppid, e.ns_pid, e.uid, e.program, e.comm,
        e.filename, e.exe, e.script or "", list(e.argv), e.argv_truncated, e.cwd, e.parent_exe,
        e.parent_comm, [k.value for k in e.stdio], [k.value for k in e.parent_stdio], e.exe_writable,
        e.exe_fs, e.blocked, e.mode, e.mnt_ns, e.ktime_ns, e.source.value, e.best_effort, e.schema_version,
        e.pgid, e.sid,
    )  # fmt: skip


def exit_row(e: ExitEvent) -> Row:
    return (
        e.event_id, e.time, e.container_id, e.host, e.pid, e.exit_code, e.signal, e.ktime_ns,
        e.source.value, e.schema_version,
    )  # fmt: skip


def connect_row(e: ConnectEvent) -> Row:
    return (
        e.event_id, e.time, e.container_id, e.host, e.pid, e.comm, e.exe, e.uid, e.phase, e.family,
        e.protocol, e.daddr, e.dport, e.saddr, e.sport, e.result, e.old_state or "", e.new_state or "",
        e.ktime_ns, e.source.value, e.schema_version, e.ns_pid,
    )  # fmt: skip
