"""Fixtures of the reporting integration tests: a real embedded engine per test, the sink
over the in-process bus or real Kafka, and the fleet history of ``fleet.py``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from reporting.sink import Sink
from reporting.store import ClickHouseStore
from schemas import Bus
from tests.integration.reporting.fleet import Fleet, build_fleet

Events = Sequence[tuple[str, str | None, bytes | None]]
# How long a test waits for the sink to store what was published (bounded, never timed-asserted).
DRAIN_TIMEOUT_S = 60.0


@pytest.fixture
def make_store(engine_path: Path) -> Iterator[Callable[..., ClickHouseStore]]:
    """Opens stores on the session's engine, in a fresh database per test."""
    made: list[ClickHouseStore] = []
    database = f"t_{uuid.uuid4().hex[:12]}"

    def make(**overrides: object) -> ClickHouseStore:
        options: dict[str, object] = {"path": engine_path, "database": database, **overrides}
        store = ClickHouseStore(**options)  # type: ignore[arg-type]
        made.append(store)
        return store.open()

    yield make
    for s in made:
        s.close()
    with ClickHouseStore(path=engine_path, database=database, migrate=False) as cleaner:
        cleaner.command(f"DROP DATABASE IF EXISTS {database} SYNC")


@pytest.fixture
def store(make_store: Callable[..., ClickHouseStore]) -> ClickHouseStore:
    return make_store()


@pytest.fixture
def fleet() -> Fleet:
    return build_fleet()


async def publish(bus: Bus, events: Events) -> None:
    for topic, key, value in events:
        await bus.publish(topic, key, value)
    await bus.flush()


async def drain(sink: Sink, expected: int, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
    """Runs the sink until it committed ``expected`` records, then stops it."""
    task = asyncio.create_task(sink.run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while sink.committed_records < expected and loop.time() < deadline and not task.done():
        await asyncio.sleep(0.05)
    await sink.stop()
    await task
    await sink.close()
    assert sink.committed_records >= expected, f"sink stored {sink.committed_records} of {expected}"


SinkFactory = Callable[..., Sink]


@pytest.fixture
def make_sink() -> SinkFactory:
    def make(bus: Bus, store: ClickHouseStore, **overrides: object) -> Sink:
        options: dict[str, object] = {"registry": CollectorRegistry(), "max_delay_s": 0.1, **overrides}
        return Sink(bus, store, **options)  # type: ignore[arg-type]

    return make


RunSink = Callable[[Bus, ClickHouseStore, Events], Awaitable[Sink]]


@pytest.fixture
def run_sink(make_sink: SinkFactory) -> RunSink:
    """Publishes ``events`` on a started bus and runs a sink until all of them are stored."""

    async def run(bus: Bus, store: ClickHouseStore, events: Events) -> Sink:
        sink = make_sink(bus, store)
        await sink.start()
        await publish(bus, events)
        await drain(sink, len(events))
        return sink

    return run
