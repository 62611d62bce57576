"""The sink and replay over a real Kafka broker into the embedded engine."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from common.retry import RetryPolicy
from reporting.replay import replay
from reporting.store import ClickHouseStore
from sandguard.bus import KafkaBus
from tests.integration.reporting.conftest import SinkFactory, drain, publish
from tests.integration.reporting.fleet import Fleet

# Two partitions per topic: enough to exercise per-partition commits, cheap to create.
PARTITIONS = 2


def _count(store: ClickHouseStore, table: str) -> int:
    return int(store.query(f"SELECT count() FROM {table} FINAL")[0][0])


def _bus(bootstrap: str, ns: str) -> KafkaBus:
    return KafkaBus(bootstrap, namespace=ns, partitions=PARTITIONS)


async def test_kafka_events_in_exact_rows_out_and_replays_store_once(
    kafka_bootstrap: str, kafka_namespace: str, store: ClickHouseStore, fleet: Fleet, make_sink: SinkFactory
) -> None:
    bus = _bus(kafka_bootstrap, kafka_namespace)
    await bus.start()
    try:
        sink = make_sink(bus, store)
        await sink.start()
        await publish(bus, fleet.events)
        await drain(sink, len(fleet.events))
        # Twice more from the beginning, with fresh groups: every event again.
        for _ in range(2):
            n = await replay(bus, store, registry=CollectorRegistry(), idle_s=1.0)
            assert n == len(fleet.events)
    finally:
        await bus.stop()
    for table, n in fleet.counts.items():
        assert _count(store, table) == n, table
    assert _count(store, "violations") == 4
    assert store.query("SELECT sum(sample_count) FROM metrics_1m_view")[0][0] == fleet.counts["metrics"]
    assert store.query("SELECT countIf(is_destroyed) FROM sandbox_state")[0][0] == 1


async def test_replay_with_truncate_rebuilds_the_tables(
    kafka_bootstrap: str, kafka_namespace: str, store: ClickHouseStore, fleet: Fleet
) -> None:
    bus = _bus(kafka_bootstrap, kafka_namespace)
    await bus.start()
    try:
        await publish(bus, fleet.events)
        await replay(bus, store, registry=CollectorRegistry(), idle_s=1.0)
        store.command("ALTER TABLE audit DELETE WHERE 1 SETTINGS mutations_sync = 1")
        assert _count(store, "audit") == 0
        await replay(bus, store, registry=CollectorRegistry(), idle_s=1.0, truncate=True)
    finally:
        await bus.stop()
    for table, n in fleet.counts.items():
        assert _count(store, table) == n, table


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens


async def test_server_down_commits_nothing_and_the_next_sink_stores_everything(
    kafka_bootstrap: str,
    kafka_namespace: str,
    make_store: Callable[..., ClickHouseStore],
    fleet: Fleet,
    make_sink: SinkFactory,
) -> None:
    down = ClickHouseStore(url=f"http://127.0.0.1:{_closed_port()}")  # never answers
    bus = _bus(kafka_bootstrap, kafka_namespace)
    await bus.start()
    try:
        registry = CollectorRegistry()
        sink = make_sink(bus, down, registry=registry, retry=RetryPolicy(first_s=0.05, max_s=0.2))
        await sink.start()
        await publish(bus, fleet.events)
        task = asyncio.create_task(sink.run())
        while (registry.get_sample_value("sandguard_sink_retries_total", {"reason": "unavailable"}) or 0) < 5:
            await asyncio.sleep(0.05)
        await sink.stop()
        await task
        await sink.close()
        assert sink.committed_records == 0
        assert registry.get_sample_value("sandguard_sink_store_up") == 0
        # The same group, now with a store that works, gets every event (nothing was committed).
        store = make_store()
        second = make_sink(bus, store)
        await second.start()
        await drain(second, len(fleet.events))
    finally:
        await bus.stop()
    for table, n in fleet.counts.items():
        assert _count(store, table) == n, table
