"""Queries 11-13 of docs/hunting.md (kernel events), read from the doc, run on a history of
kernel events stored by the sink: every command a sandbox ran, the process tree behind a
finding, egress destinations per image."""

from __future__ import annotations

import re
from typing import Any

import pytest

from reporting.store import ClickHouseStore
from sandguard.bus import LocalBus
from schemas import (
    ConnectEvent,
    Evidence,
    ExecEvent,
    ExitEvent,
    PolicyEvent,
    ProcessInfo,
    SecurityPolicy,
    SecurityViolationType,
    Severity,
    Violation,
    encode,
    now_ms,
    stable_id,
)
from schemas import topics as t
from tests.integration.reporting.conftest import RunSink
from tests.integration.reporting.test_hunting import _QUERY, DOC

A, B = "c-kern-a001", "c-kern-b002"
IMAGES = {A: "sandguard/python:3", B: "sandguard/busybox:1"}
Events = list[tuple[str, str | None, bytes | None]]


def _queries() -> dict[int, str]:
    found = {int(n): sql for n, _, sql in _QUERY.findall(DOC.read_text(encoding="utf-8"))}
    return {n: found[n] for n in (11, 12, 13)}


def _exec(
    cid: str, at: int, pid: int, ppid: int, program: str, argv: tuple[str, ...], **kw: Any
) -> ExecEvent:
    return ExecEvent(event_id=stable_id("x", cid, pid, at), time=at, container_id=cid, host="h", pid=pid,
                     ppid=ppid, program=program, comm=program, exe=f"/usr/bin/{program}", argv=argv,
                     filename=f"/usr/bin/{program}", ktime_ns=at * 1_000_000, **kw)  # fmt: skip


def _connect(cid: str, at: int, pid: int, daddr: str, dport: int, result: int) -> ConnectEvent:
    return ConnectEvent(event_id=stable_id("c", cid, pid, at), time=at, container_id=cid, host="h", pid=pid,
                        comm="python3", daddr=daddr, dport=dport, result=result)  # fmt: skip


def history_events(now: int) -> tuple[Events, list[Any]]:
    t0 = now - 60_000
    out: Events = []
    for cid in (A, B):
        p = SecurityPolicy()
        ev = PolicyEvent(container_id=cid, time=t0, host="h", policy_id=p.policy_id, policy=p,
                         image=IMAGES[cid])  # fmt: skip
        out.append((t.POLICIES, cid, encode(ev)))
    kern: list[Any] = [
        _exec(A, t0 + 1000, 100, 90, "sh", ("sh", "-c", "python3 agent.py")),
        _exec(A, t0 + 1100, 101, 100, "python3", ("python3", "agent.py")),
        _exec(A, t0 + 1200, 102, 101, "sh", ("sh", "-c", "rm -f x")),
        _exec(A, t0 + 1300, 103, 102, "rm", ("rm", "-f", "x"), blocked=True, mode="enforce"),
        ExitEvent(event_id=stable_id("e", A, 103), time=t0 + 1301, container_id=A, host="h", pid=103,
                  signal=9),
        _exec(B, t0 + 2000, 200, 190, "ls", ("ls", "/work")),
        _connect(A, t0 + 1500, 101, "127.0.0.1", 8080, 0),
        _connect(A, t0 + 1600, 101, "127.0.0.1", 8080, 0),
        _connect(A, t0 + 1700, 101, "192.0.2.9", 443, 111),
        _connect(B, t0 + 2100, 200, "127.0.0.1", 53, 0),
    ]
    out += [(t.KERNEL, e.container_id, encode(e)) for e in kern]
    v = Violation(
        event_id=stable_id("kv"), container_id=A, time=t0 + 1400, violation_id=stable_id("kv-id"),
        rule_id="process.blocked", violation_type=SecurityViolationType.SUSPICIOUS_ACTIVITY,
        severity=Severity.HIGH, title="blocked program", message="rm", first_seen=t0 + 1300,
        last_seen=t0 + 1300, sample_time=t0 + 1300,
        evidence=Evidence(process=ProcessInfo(pid=103, ppid=102, uid=1000, comm="rm", argv=("rm", "-f"))),
    )  # fmt: skip
    out.append((t.VIOLATIONS, A, encode(v)))
    return out, kern


@pytest.fixture
async def kernel_history(store: ClickHouseStore, run_sink: RunSink) -> ClickHouseStore:
    bus = LocalBus()
    await bus.start()
    events, _ = history_events(now_ms())
    await run_sink(bus, store, events)
    return store


def test_every_command_a_sandbox_ran(kernel_history: ClickHouseStore) -> None:
    rows = kernel_history.query_dicts(_queries()[11])
    got = [(r["container_id"], r["program"], r["blocked"]) for r in rows]
    assert got == [
        (A, "sh", False), (A, "python3", False), (A, "sh", False), (A, "rm", True), (B, "ls", False)
    ]  # fmt: skip
    assert rows[3]["argv"] == ["rm", "-f", "x"] and rows[3]["parent_comm"] == ""


def test_the_process_tree_behind_a_finding(kernel_history: ClickHouseStore) -> None:
    rows = kernel_history.query_dicts(_queries()[12])
    keys = ("rule_id", "pid", "program", "parent_pid", "parent", "grandparent")
    got = [tuple(r[k] for k in keys) for r in rows]
    assert got == [("process.blocked", 103, "rm", 102, "sh", "python3")]


def test_egress_destinations_per_image(kernel_history: ClickHouseStore) -> None:
    rows = kernel_history.query_dicts(_queries()[13])
    got = [(r["image"], r["daddr"], r["dport"], r["attempts"], r["succeeded"], r["sandboxes"]) for r in rows]
    assert got == [
        ("sandguard/busybox:1", "127.0.0.1", 53, 1, 1, 1),
        ("sandguard/python:3", "127.0.0.1", 8080, 2, 2, 1),
        ("sandguard/python:3", "192.0.2.9", 443, 1, 0, 1),
    ]


def test_the_doc_names_the_kernel_tables() -> None:
    assert all(re.search(r"\bFROM (exec|connect)_events\b", sql) for sql in _queries().values())
