"""The sink over the in-process bus into the real embedded engine: exact rows out."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from prometheus_client import CollectorRegistry

from common.retry import RetryPolicy
from reporting.store import ClickHouseStore
from sandguard.bus import LocalBus
from schemas import MetricSample, decode, encode, now_ms
from schemas import topics as t
from tests.integration.reporting.conftest import RunSink, SinkFactory, drain, publish
from tests.integration.reporting.fleet import BOMB, MINER, WEB, Fleet


def _count(store: ClickHouseStore, table: str) -> int:
    return int(store.query(f"SELECT count() FROM {table} FINAL")[0][0])


async def test_every_table_gets_exactly_the_events(
    store: ClickHouseStore, fleet: Fleet, run_sink: RunSink
) -> None:
    bus = LocalBus()
    await bus.start()
    await run_sink(bus, store, fleet.events)
    for table, n in fleet.counts.items():
        assert _count(store, table) == n, table
    # One finding per violation_id, whatever the number of its updates.
    assert _count(store, "violations") == 4
    rows = store.query("SELECT rule_id, count, disposition FROM violations FINAL ORDER BY rule_id")
    assert rows == [
        ("cpu.throttled", 3, "throttled"),
        ("pids.limit_hit", 2, "terminated"),
        ("process.blocked", 1, "detected"),
        ("process.suspicious", 1, "detected"),
    ]


async def test_metric_row_matches_the_event_field_by_field(
    store: ClickHouseStore, fleet: Fleet, run_sink: RunSink
) -> None:
    bus = LocalBus()
    await bus.start()
    await run_sink(bus, store, fleet.events)
    sent = next(
        decode(t.METRICS, v) for tp, _, v in fleet.events if tp == t.METRICS and b'"metric"' in (v or b"")
    )
    assert isinstance(sent, MetricSample)
    got = store.query_dicts(
        "SELECT toUnixTimestamp64Milli(time) AS ms, connections, * FROM metrics FINAL "
        "WHERE event_id = {e:String}",
        {"e": sent.event_id},
    )[0]
    assert got["ms"] == sent.time
    assert got["container_id"] == sent.container_id
    assert got["cpu_usage_ns_total"] == sent.cpu_usage_ns_total
    assert abs(got["cpu_percent"] - (sent.cpu_percent or 0)) < 1e-4
    assert got["memory_usage_bytes"] == sent.memory_usage_bytes
    assert got["pids_max"] == sent.pids_max
    assert got["sock_tcp_states"] == sent.sockets.tcp_states
    assert got["connections"] == sent.sockets.connections


async def test_sandbox_lifecycle_and_policy_in_force(
    store: ClickHouseStore, fleet: Fleet, run_sink: RunSink
) -> None:
    bus = LocalBus()
    await bus.start()
    await run_sink(bus, store, fleet.events)
    state = {r["container_id"]: r for r in store.query_dicts("SELECT * FROM sandbox_state")}
    assert set(state) == {WEB, MINER, BOMB}
    assert state[BOMB]["is_destroyed"] and not state[WEB]["is_destroyed"]
    assert state[BOMB]["image"] == "sandguard/busybox:1"  # the policy in force survives the tombstone
    assert state[MINER]["max_processes"] == 10
    assert orjson.loads(state[MINER]["policy"])["violation_threshold"] == 3


async def test_poison_messages_go_to_the_dead_letter_topic_counted(
    store: ClickHouseStore, make_sink: SinkFactory
) -> None:
    bus = LocalBus()
    await bus.start()
    registry = CollectorRegistry()
    sink = make_sink(bus, store, registry=registry)
    await sink.start()
    watcher = await bus.consumer([t.DEADLETTER], group="watch")
    good = MetricSample(container_id="c1", time=now_ms())
    no_id = orjson.dumps({k: v for k, v in orjson.loads(encode(good)).items() if k != "event_id"})
    bad = [
        (t.METRICS, "c1", b"{not json"),
        (t.METRICS, "c1", orjson.dumps({**orjson.loads(encode(good)), "cpu_percent": "hot"})),
        (t.AUDIT, "c1", b'{"kind": "audit"}'),
        (t.METRICS, "c1", no_id),
        (t.VIOLATIONS, "c1", b'{"class_uid": 1}'),
    ]
    await publish(bus, [*bad, (t.METRICS, "c1", encode(good))])
    await drain(sink, len(bad) + 1)
    letters = {
        d.value: d for d in (decode(t.DEADLETTER, r.value) for r in await watcher.getmany(timeout_ms=1000))
    }
    assert sorted(letters) == sorted(v.decode() for _, _, v in bad)
    assert all(letters[v.decode()].source_topic == topic for topic, _, v in bad)
    assert "cpu_percent" in letters[bad[1][2].decode()].error
    assert "event_id: Field required" in letters[no_id.decode()].error
    assert registry.get_sample_value("sandguard_sink_deadletters_total", {"topic": t.METRICS}) == 3
    assert _count(store, "metrics") == 1


async def test_a_tombstone_among_metric_samples_is_dead_lettered_and_the_samples_stored(
    store: ClickHouseStore, make_sink: SinkFactory
) -> None:
    bus = LocalBus()
    await bus.start()
    sink = make_sink(bus, store)
    await sink.start()
    watcher = await bus.consumer([t.DEADLETTER], group="watch")
    now = now_ms()
    samples = [(t.METRICS, "c1", encode(MetricSample(container_id="c1", time=now - i))) for i in range(5)]
    await publish(bus, [*samples[:2], (t.METRICS, "c1", None), *samples[2:]])
    await drain(sink, 6)
    letters = [decode(t.DEADLETTER, r.value) for r in await watcher.getmany(timeout_ms=1000)]
    assert [(d.source_topic, d.key, d.offset) for d in letters] == [(t.METRICS, "c1", 2)]
    assert "tombstone" in letters[0].error
    assert _count(store, "metrics") == 5


async def test_the_same_sample_twice_in_one_batch_is_counted_once(
    store: ClickHouseStore, run_sink: RunSink
) -> None:
    bus = LocalBus()
    await bus.start()
    sample = encode(MetricSample(container_id="c1", time=now_ms()))
    await run_sink(bus, store, [(t.METRICS, "c1", sample)] * 3)
    assert _count(store, "metrics") == 1
    assert store.query("SELECT sum(sample_count) FROM metrics_1m_view")[0][0] == 1


async def test_at_least_one_insert_in_flight(store: ClickHouseStore, make_sink: SinkFactory) -> None:
    with pytest.raises(ValueError, match="max_inflight"):
        make_sink(LocalBus(), store, max_inflight=0)


async def test_a_broken_dead_letter_is_stored_not_republished(
    store: ClickHouseStore, run_sink: RunSink
) -> None:
    bus = LocalBus()
    await bus.start()
    await run_sink(bus, store, [(t.DEADLETTER, None, b"\xff garbage")])
    rows = store.query("SELECT source_topic, value, error FROM deadletters FINAL")
    assert len(rows) == 1 and rows[0][0] == t.DEADLETTER and "garbage" in rows[0][1]


async def test_the_same_events_twice_are_stored_and_counted_once(
    store: ClickHouseStore, fleet: Fleet, run_sink: RunSink
) -> None:
    # Tombstones carry no event id: theirs derives from the broker's offset and timestamp,
    # which only Kafka keeps across replays (tested in test_sink_kafka.py).
    events = [e for e in fleet.events if e[2] is not None]
    for _ in range(2):  # a replay: every event again, in other batches
        bus = LocalBus()
        await bus.start()
        await run_sink(bus, store, events)
    for table, n in fleet.counts.items():
        assert _count(store, table) == n - (table == "sandboxes"), table
    assert _count(store, "violations") == 4
    # The rollup is built from idempotent aggregates: the duplicates changed nothing.
    samples = store.query("SELECT sum(sample_count) FROM metrics_1m_view")[0][0]
    assert samples == fleet.counts["metrics"]


async def test_store_closed_for_a_while_loses_nothing(
    store: ClickHouseStore, fleet: Fleet, make_sink: SinkFactory
) -> None:
    bus = LocalBus()
    await bus.start()
    registry = CollectorRegistry()
    sink = make_sink(bus, store, registry=registry, retry=RetryPolicy(first_s=0.05, max_s=0.2))
    await sink.start()
    half = len(fleet.events) // 2
    task = asyncio.create_task(drain(sink, len(fleet.events)))
    await publish(bus, fleet.events[:half])
    while sink.committed_records < half:
        await asyncio.sleep(0.05)
    store.close()  # the engine goes away
    publishing = asyncio.create_task(publish(bus, fleet.events[half:]))
    while (registry.get_sample_value("sandguard_sink_retries_total", {"reason": "unavailable"}) or 0) < 3:
        await asyncio.sleep(0.05)
    assert sink.committed_records == half  # nothing committed while the store is down
    store.open()
    await publishing
    await task
    for table, n in fleet.counts.items():
        assert _count(store, table) == n, table
    assert registry.get_sample_value("sandguard_sink_store_up") == 1


async def test_a_batch_ages_from_its_first_record_not_from_the_last_flush(
    store: ClickHouseStore, make_sink: SinkFactory
) -> None:
    bus = LocalBus()
    await bus.start()
    registry = CollectorRegistry()
    sink = make_sink(bus, store, registry=registry, max_delay_s=1.0)
    await sink.start()
    task = asyncio.create_task(sink.run())
    await asyncio.sleep(1.1)  # the sink sat idle longer than its batch delay first
    for i in range(10):  # then 10 records, 20 ms apart: well within one batch delay
        m = MetricSample(container_id="c1", time=now_ms() - 1000 + i)
        await bus.publish(t.METRICS, "c1", encode(m))
        await asyncio.sleep(0.02)
    while sink.committed_records < 10:
        await asyncio.sleep(0.05)
    await sink.stop()
    await task
    assert registry.get_sample_value("sandguard_sink_batches_total") == 1  # one insert, not one per record
    assert _count(store, "metrics") == 10
