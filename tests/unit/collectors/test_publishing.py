"""The buffer between sampling and the bus, and the publisher that drains it, on the real
in-process bus: drops when full, retries while the bus is down, a drop report after."""

from __future__ import annotations

import asyncio

import pytest

from collectors.buffer import PublishBuffer
from collectors.ids import EventIds
from collectors.metrics import CollectorMetrics
from collectors.publisher import Publisher
from common.retry import RetryPolicy
from sandguard.bus import LocalBus
from schemas import topics
from schemas.codec import decode
from schemas.events import AuditCategory
from tests.unit.collectors.conftest import FakeClock


def items(n: int, topic: str = topics.METRICS, start: int = 0) -> list[tuple[str, str | None, bytes]]:
    return [(topic, f"c{i % 3}", str(start + i).encode()) for i in range(n)]


def test_buffer_drops_the_oldest_and_counts(metrics: CollectorMetrics) -> None:
    buf = PublishBuffer(3, metrics)
    buf.extend(items(2), now_ms=10)
    buf.extend(items(2, topics.PROCESSES, start=2), now_ms=20)
    assert [v for _, _, v in buf.take(10)] == [b"1", b"2", b"3"]
    drops = buf.take_drops()
    assert drops is not None and (drops.count, dict(drops.by_topic), drops.first_ms) == (
        1,
        {topics.METRICS: 1},
        20,
    )
    assert buf.take_drops() is None  # reported once
    assert metrics.dropped.labels(topics.METRICS)._value.get() == 1
    assert metrics.buffer_depth._value.get() == 0


def test_lost_process_deltas_are_remembered(metrics: CollectorMetrics) -> None:
    buf = PublishBuffer(1, metrics)
    buf.extend([(topics.PROCESSES, "c1", b"a"), (topics.METRICS, "c2", b"b")], now_ms=1)
    assert buf.take_lost_process_keys() == {"c1"}
    assert buf.take_lost_process_keys() == set()


@pytest.fixture
async def bus() -> LocalBus:
    b = LocalBus()
    await b.start()
    return b


def publisher(bus: LocalBus, buf: PublishBuffer, metrics: CollectorMetrics, clock: FakeClock) -> Publisher:
    return Publisher(bus, buf, metrics, host="h", ids=EventIds(), clock=clock, batch=100)


async def test_delivers_in_order(bus: LocalBus, metrics: CollectorMetrics, clock: FakeClock) -> None:
    c = await bus.consumer([topics.METRICS], group="g")
    buf = PublishBuffer(100, metrics)
    pub = publisher(bus, buf, metrics, clock)
    buf.extend(items(5), now_ms=1)
    await pub.deliver_once()
    assert [r.value for r in await c.getmany(timeout_ms=100)] == [str(i).encode() for i in range(5)]
    assert metrics.published.labels(topics.METRICS)._value.get() == 5


async def test_bus_down_then_back_loses_nothing_within_the_bound(
    bus: LocalBus, metrics: CollectorMetrics, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("collectors.publisher.DEPENDENCY", RetryPolicy(first_s=0.01, max_s=0.08))
    buf = PublishBuffer(4, metrics)
    pub = publisher(bus, buf, metrics, clock)
    await bus.stop()  # the broker goes away
    buf.extend(items(2), now_ms=1)
    task = asyncio.create_task(pub.run())
    await asyncio.sleep(0.1)
    assert metrics.publish_errors._value.get() >= 1
    buf.extend(items(4, start=2), now_ms=2)  # 2 in flight + 4 buffered: nothing dropped yet
    assert buf.take_drops() is None
    buf.extend(items(1, start=6), now_ms=3)  # one more than the bound: the oldest buffered goes
    await bus.start()
    c = await bus.consumer([topics.METRICS, topics.AUDIT], group="g")
    got = []
    for _ in range(20):
        got += await c.getmany(timeout_ms=100)
        if len(got) >= 7:
            break
    task.cancel()
    values = [r.value for r in got if r.topic == topics.METRICS]
    assert values == [b"0", b"1", b"3", b"4", b"5", b"6"]  # b"2" was dropped
    (report,) = [decode(r.topic, r.value) for r in got if r.topic == topics.AUDIT]
    assert (report.category, report.action, report.details["dropped"]) == (
        AuditCategory.COLLECTOR,
        "dropped",
        1,
    )
    assert report.details["by_topic"] == {topics.METRICS: 1}


async def test_wait_drained(bus: LocalBus, metrics: CollectorMetrics, clock: FakeClock) -> None:
    buf = PublishBuffer(100, metrics)
    pub = publisher(bus, buf, metrics, clock)
    task = asyncio.create_task(pub.run())
    buf.extend(items(10), now_ms=1)
    await asyncio.wait_for(pub.wait_drained(), 2)
    assert len(buf) == 0 and pub.in_flight == 0
    task.cancel()
