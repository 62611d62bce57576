"""Docker events as lifecycle audit events; processes coming and going; containers that
vanish; the events stream breaking and coming back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from schemas.events import AuditCategory
from tests.conftest import PYTHON_IMAGE
from tests.integration.collectors.conftest import Running

Sandbox = Callable[..., Any]
Start = Callable[..., Any]


def actions(r: Running, cid: str) -> list[str]:
    return [e.action for e in r.log.of(cid, "audit") if e.category == AuditCategory.LIFECYCLE]


async def test_start_oom_die_destroy(sandbox: Sandbox, start_collector: Start) -> None:
    r = await start_collector()
    await asyncio.sleep(1)  # the events stream is open
    c = await asyncio.to_thread(
        sandbox,
        ["python3", "-c", "bytearray(200 << 20)"],
        image=PYTHON_IMAGE,
        mem_limit="48m",
        memswap_limit="48m",
    )
    await r.log.wait_for(lambda: "die" in actions(r, c.id), what="die")
    await asyncio.to_thread(c.remove)
    await r.log.wait_for(lambda: "destroy" in actions(r, c.id), what="destroy")
    seen = actions(r, c.id)
    assert [a for a in seen if a in ("create", "start", "oom", "die", "destroy")] == [
        "create",
        "start",
        "oom",
        "die",
        "destroy",
    ]
    die = next(e for e in r.log.of(c.id, "audit") if e.action == "die")
    assert die.details["exit_code"] == 137 and die.host == "test-host"
    assert die.details["labels"]["sandguard.sandbox"] == "1"
    await r.log.wait_for(lambda: r.collector.tracked()["containers"] == 0, what="state released")
    assert r.collector.tracked()["kept_fds"] == 0


async def test_exec_and_process_deltas(sandbox: Sandbox, start_collector: Start) -> None:
    c = sandbox("sleep 1000")
    r = await start_collector(full_snapshot_every=1000)
    await r.log.wait_for(lambda: r.log.of(c.id, "processes"), what="first snapshot")
    await asyncio.to_thread(c.exec_run, ["sleep", "77"], detach=True)
    exec_start = await r.log.wait_for(
        lambda: [e for e in r.log.of(c.id, "audit") if e.action == "exec_start"], what="exec_start"
    )
    assert exec_start[0].subject == "sleep 77"
    delta = await r.log.wait_for(
        lambda: [s for s in r.log.of(c.id, "processes") if not s.full and s.processes], what="a delta"
    )
    (new,) = delta[0].processes
    assert (new.argv, new.comm, new.exe) == (("sleep", "77"), "sleep", "/bin/busybox")
    assert new.ns_pid is not None
    await asyncio.to_thread(c.exec_run, ["kill", str(new.ns_pid)])  # the pid it has inside
    gone = await r.log.wait_for(
        lambda: [s for s in r.log.of(c.id, "processes") if new.pid in s.exited], what="an exit"
    )
    assert gone[0].count == 1
    seqs = [s.seq for s in r.log.of(c.id, "processes")]
    assert seqs == list(range(len(seqs)))  # no gap: nothing was lost


async def test_events_stream_reconnects(sandbox: Sandbox, start_collector: Start) -> None:
    r = await start_collector()
    await asyncio.sleep(1)
    r.collector._discovery.break_stream()  # the connection to the engine drops
    await r.log.wait_for(lambda: r.collector._discovery.reconnects >= 1, what="a reconnect")
    c = await asyncio.to_thread(sandbox, "sleep 1000")
    await r.log.wait_for(lambda: "start" in actions(r, c.id), what="start after reconnect")
    await r.log.wait_for(lambda: r.log.of(c.id, "metric"), what="samples after reconnect")
    assert r.collector.metrics.docker_errors.labels("events")._value.get() >= 1


async def test_collector_health_events(sandbox: Sandbox, start_collector: Start) -> None:
    r = await start_collector()
    start = await r.log.wait_for(
        lambda: [e for e in r.log.events if e.kind == "audit" and e.category == AuditCategory.COLLECTOR],
        what="collector start",
    )
    assert start[0].action == "start" and start[0].host == "test-host"


async def test_a_restart_starts_over_with_a_full_snapshot(sandbox: Sandbox, start_collector: Start) -> None:
    c = sandbox("sleep 1000")
    first = await start_collector(full_snapshot_every=1000)
    await first.log.wait_for(lambda: len(first.log.of(c.id, "processes")) >= 1, what="first run's snapshot")
    await asyncio.to_thread(c.exec_run, ["sleep", "55"], detach=True)
    await first.log.wait_for(lambda: len(first.log.of(c.id, "processes")) >= 2, what="a delta")
    await first.collector.stop()
    second = await start_collector(full_snapshot_every=1000)
    prefix = second.collector._ids.prefix

    def second_run() -> list[Any]:
        return [s for s in second.log.of(c.id, "processes") if s.event_id.startswith(prefix)]

    snaps = await second.log.wait_for(second_run, what="second run's snapshot")
    assert (snaps[0].full, snaps[0].seq, snaps[0].count) == (True, 0, 2)  # consumers resync on seq 0
    # A restart may replay the engine's last second of events: the same fact, the same id.
    ids: dict[tuple[str, int], set[str]] = {}
    for e in second.log.of(c.id, "audit"):
        ids.setdefault((e.action, e.time), set()).add(e.event_id)
    assert (
        "exec_start",
        next(e.time for e in second.log.of(c.id, "audit") if e.action == "exec_start"),
    ) in ids
    assert all(len(v) == 1 for v in ids.values()), ids
