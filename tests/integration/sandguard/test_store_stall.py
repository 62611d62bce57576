"""The store never holds the system back (embedded mode): with every insert stalled,
publishing goes on at once, the rules judge and the enforcer acts; what the sink could not
store waits (bounded, counted) and is stored once the store recovers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from reporting import ClickHouseStore
from sandguard.bus import LocalBus
from sandguard.embedded import SINK_GROUP, EmbeddedPipeline, PipelineOptions
from schemas import MetricSample, SecurityPolicy, Store, decode, encode, labels
from schemas import topics as t

# A queue of 50 records per consumer, and 3x as many events: without the spill the
# publisher would wait on the stalled sink after the 50th.
QUEUE = 50
EVENTS = 3 * QUEUE
# Before the burst: waves of 10 samples every 0.3 s until the sink holds both of its
# insert slots (reporting.sink.INSERTS_IN_FLIGHT), then its 0.5 s batch delay, doubled.
WAVE, WAVE_PAUSE_S, INSERT_SLOTS, SINK_BATCH_S = 10, 0.3, 2, 1.0
# Publishing 150 records in-process takes milliseconds; 5 s is a wide margin on a loaded host.
PUBLISH_WITHIN_S = 5.0
WAIT_S = 60.0
STALL_TIMEOUT_S = 120.0  # an insert is never held longer, whatever the test does


class StallingStore:
    """The real store, with inserts held until ``release()``. A fake fault: a real engine
    cannot be made to stall on demand, and this is the fault under test."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._open = threading.Event()
        self._open.set()
        self.held = 0

    def stall(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def _wait(self) -> None:
        if not self._open.is_set():
            self.held += 1
            self._open.wait(STALL_TIMEOUT_S)

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        self._store.command(sql, parameters)

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self._store.query(sql, parameters)

    def query_dicts(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._store.query_dicts(sql, parameters)

    def insert(self, table: str, rows: Sequence[Sequence[Any]], column_names: Sequence[str], *,
               settings: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        self._wait()
        self._store.insert(table, rows, column_names, settings=settings)

    def insert_columns(self, table: str, columns: Sequence[Sequence[Any]], column_names: Sequence[str], *,
                       settings: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        self._wait()
        self._store.insert_columns(table, columns, column_names, settings=settings)

    def insert_raw(self, table: str, data: bytes | Iterable[bytes], *, fmt: str,
                   settings: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        self._wait()
        self._store.insert_raw(table, data, fmt=fmt, settings=settings)

    def close(self) -> None:
        self._store.close()


async def _until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = await check() if asyncio.iscoroutinefunction(check) else check()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {WAIT_S} s")


@pytest.fixture
def own_database(engine_path: Path, run_id: str) -> Iterator[ClickHouseStore]:
    """The session's engine, in a database of this test's own (dropped after)."""
    store = ClickHouseStore(path=engine_path, database=f"stall_{run_id}").open()
    yield store
    store.command(f"DROP DATABASE IF EXISTS stall_{run_id} SYNC")
    store.close()


async def test_a_stalled_store_holds_back_neither_rules_nor_enforcer(
    embedded_data_dir: Path, run_id: str, own_database: ClickHouseStore
) -> None:
    store = StallingStore(own_database)
    bus = LocalBus(queue_size=QUEUE)
    policy = SecurityPolicy(immediate_rules={"memory.oom_kill"})
    only_mine = f"test.run={run_id}"  # the collector and enforcer touch nothing else on the engine
    pipeline = EmbeddedPipeline(
        PipelineOptions(
            host="stall-test", data_dir=embedded_data_dir, default_policy=policy, watch_label=only_mine,
            enforcer_labels={labels.SANDBOX: "1", "test.run": run_id},
            enforcer_state_dir=embedded_data_dir / "enforcer" / run_id,
        ),
        bus=bus, store=store, registry=CollectorRegistry(),
    )  # fmt: skip
    await pipeline.start()
    watch = await bus.consumer([t.VIOLATIONS, t.ACTIONS], group="watch")
    cid = run_id.ljust(64, "0")  # a container id no engine has: the enforcer finds it gone
    published = 0

    async def publish(n: int) -> None:
        nonlocal published
        for _ in range(n):
            sample = MetricSample(container_id=cid, host="stall-test", memory_oom_kills_total=published)
            await bus.publish(t.METRICS, cid, encode(sample))
            published += 1

    try:
        store.stall()

        async def sink_stuck() -> bool:  # both insert slots held: the sink stops consuming
            await publish(WAVE)
            await asyncio.sleep(WAVE_PAUSE_S)
            return store.held >= INSERT_SLOTS

        await _until(sink_stuck, "the sink stuck in its inserts")
        await publish(WAVE)  # its next batch: due after 0.5 s, then it waits for a slot
        await asyncio.sleep(SINK_BATCH_S)
        async with asyncio.timeout(PUBLISH_WITHIN_S):
            await publish(EVENTS)  # blocked after QUEUE records on a bus with back-pressure
        assert bus.spill_stats()[SINK_GROUP]["waiting"] > 0

        seen: list[Any] = []

        async def judged_and_acted() -> bool:
            seen.extend(decode(r.topic, r.value) for r in await watch.getmany(timeout_ms=200))
            return {type(e).__name__ for e in seen} >= {"Violation", "ActionResult"}

        await _until(judged_and_acted, "a violation and an action while the store is stalled")
        store.release()

        counts: list[int] = []

        async def stored() -> bool:  # at least once each (a retried insert stores a row twice until merged)
            sql = "SELECT count() FROM metrics WHERE container_id = {c:String}"
            rows = await asyncio.to_thread(store.query, sql, {"c": cid})
            counts.append(int(rows[0][0]))
            return counts[-1] >= published

        try:
            await _until(stored, f"all {published} samples stored after the store recovered")
        except AssertionError as exc:
            dead = store.query("SELECT source_topic, substring(error, 1, 300) FROM deadletters LIMIT 3")
            raise AssertionError(
                f"{exc}; stored {counts[-3:]}, spill {bus.spill_stats()}, lag {bus.lag()}, dead {dead}"
            ) from None
        after = bus.spill_stats()[SINK_GROUP]
        assert (after["waiting"], after["dropped"]) == (0, 0)
    finally:
        store.release()
        await watch.stop()
        await pipeline.stop()
