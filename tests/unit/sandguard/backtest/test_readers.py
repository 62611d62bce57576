"""Rows of the history tables back into events: every field the models have, and equal to
the validated event (the readers build them without validation, for speed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import orjson

from reporting.rows import audit_row, limits_row, metric_row, process_rows
from sandguard.backtest.readers import AuditReader, LimitsReader, MetricsReader, ProcessesReader, Span
from schemas import (
    AuditCategory,
    AuditEvent,
    LimitsSample,
    MetricSample,
    ProcessInfo,
    ProcessSnapshot,
    SecurityViolationType,
    SocketCounts,
    Store,
    encode,
)

CID = "c" * 64
SPAN = Span((CID,), 0, 10**13)


def Rows(**tables: list[tuple[Any, ...]]) -> Store:
    return cast("Store", _Rows(**tables))


class _Rows:
    """Answers each query with the rows given for the table it names: the reader's SQL runs
    on the real engine in the integration tests; here only the row mapping is judged."""

    def __init__(self, **tables: list[tuple[Any, ...]]) -> None:
        self.tables = tables

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        for name, rows in self.tables.items():
            if f"FROM {name} FINAL" in sql:
                return rows
        raise AssertionError(f"unexpected query {sql}")


def _columns(row: tuple[Any, ...], names: tuple[str, ...], cols: tuple[str, ...]) -> tuple[Any, ...]:
    by = dict(zip(names, row, strict=True))
    return tuple(by[c] for c in cols)


def test_a_metric_sample_comes_back_equal() -> None:
    m = MetricSample(
        event_id="e1",
        time=5000,
        container_id=CID,
        host="h",
        interval_ms=1000,
        cpu_percent=33.33,
        cpu_usage_ns_total=7,
        cpu_periods_total=9,
        cpu_throttled_periods_total=4,
        cpu_throttled_ns_total=3,
        memory_usage_bytes=100,
        memory_working_set_bytes=90,
        memory_limit_bytes=1000,
        memory_failcnt_total=1,
        memory_oom_kills_total=2,
        pids_current=3,
        pids_max=10,
        pids_max_events_total=5,
        open_fds=8,
        sockets=SocketCounts(tcp=1, udp=2, tcp6=3, udp6=4),
        disk_usage_bytes=77,
    )
    from reporting.tables import METRICS

    stored = metric_row(orjson.loads(encode(m)))
    assert stored is not None
    columns = dict(zip(METRICS, stored, strict=True))
    names = [c if c in columns else "" for c in MetricsReader.FIELDS]
    assert names == list(MetricsReader.FIELDS)  # every field has its column
    row = [columns[c] for c in MetricsReader.FIELDS]
    row[5] = 33.33  # cpu_percent: the engine gives the Float32 back as its shortest decimal, parsed
    row += [columns[c] for c in ("sock_tcp", "sock_udp", "sock_tcp6", "sock_udp6")]
    [(cid, t, rank, ev)] = MetricsReader().read(Rows(metrics=[tuple(row)]), SPAN)
    assert (cid, t, rank) == (CID, 5000, 0)
    assert ev == m and ev.sockets.connections == 10
    assert set(ev.__dict__) == set(
        MetricSample.model_fields
    )  # complete: no field left to a default by accident


def test_limits_and_audit_come_back_equal() -> None:
    lim = LimitsSample(
        event_id="l",
        time=1,
        container_id=CID,
        host="h",
        memory_limit_bytes=5,
        cpu_quota_us=1,
        cpu_period_us=2,
        pids_max=3,
        nofile_soft=4,
        nofile_hard=None,
    )
    row = limits_row(lim)
    [(_, _, rank, got)] = LimitsReader().read(
        Rows(limits=[(row[2], row[1], row[0], row[3], *row[4:11])]), SPAN
    )
    assert rank == 1 and got == lim
    a = AuditEvent(
        event_id="a",
        time=2,
        container_id=CID,
        host="h",
        category=AuditCategory.EXEC,
        action="exec",
        allowed=False,
        violation_type=SecurityViolationType.PERMISSION_VIOLATION,
        subject="rm -rf /",
        reason="blocked",
        details={"command": "rm -rf /"},
    )
    r = audit_row(a, 17)
    stored = (r[2], r[1], r[0], r[3], *r[4:12])
    [(_, _, rank, back)] = AuditReader().read(Rows(audit=[stored]), SPAN)
    assert rank == 3 and back == a and r[-1] == 17


def test_a_snapshot_keeps_its_processes_in_listed_order() -> None:
    procs = tuple(
        ProcessInfo(
            pid=p,
            ns_pid=i + 1,
            ppid=1,
            uid=0,
            comm=f"p{p}",
            exe=None if p == 30 else f"/bin/p{p}",
            argv=(f"p{p}", "-x"),
            start_time=1000 + p,
        )
        for i, p in enumerate((30, 10, 20))
    )
    snap = ProcessSnapshot(
        event_id="s", time=3, container_id=CID, host="h", full=True, seq=4, processes=procs, count=3
    )
    head, rows = process_rows(snap)
    assert [r[-1] for r in rows] == [0, 1, 2]  # the position column
    ordered = sorted(rows, key=lambda r: r[-1])
    stored_procs = [(r[0], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[13], r[14], r[15]) for r in ordered]
    heads = [(head[2], head[1], head[0], head[3], head[4], head[5], head[6], head[8])]
    store = Rows(process_snapshots=heads, processes=stored_procs)
    [(_, _, rank, back)] = ProcessesReader().read(store, SPAN)
    assert rank == 2 and back == snap and back.processes[0].exe is None
