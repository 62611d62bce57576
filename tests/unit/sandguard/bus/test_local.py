"""LocalBus: the in-process bus keeps Kafka's semantics where the pipeline relies on them."""

from __future__ import annotations

import asyncio

import pytest

from sandguard.bus import BusClosedError, LocalBus
from schemas import topics
from schemas.bus import Bus, Consumer


async def drain(consumer: Consumer, n: int) -> list[tuple[str | None, bytes | None]]:
    got: list[tuple[str | None, bytes | None]] = []
    while len(got) < n:
        records = await consumer.getmany(timeout_ms=200)
        assert records, f"only {len(got)} of {n} records arrived"
        got += [(r.key, r.value) for r in records]
    return got


@pytest.fixture
async def bus() -> LocalBus:
    b = LocalBus(queue_size=4)
    await b.start()
    return b


async def test_implements_the_protocols(bus: LocalBus) -> None:
    assert isinstance(bus, Bus)
    assert isinstance(await bus.consumer([topics.METRICS], group="g"), Consumer)


async def test_order_per_key_and_canonical_names(bus: LocalBus) -> None:
    c = await bus.consumer([topics.METRICS, topics.AUDIT], group="g")
    for i in range(4):
        await bus.publish(topics.METRICS if i % 2 else topics.AUDIT, f"k{i % 2}", str(i).encode())
    records = await c.getmany(timeout_ms=100)
    assert [(r.topic, r.key, r.value) for r in records] == [
        (topics.AUDIT, "k0", b"0"),
        (topics.METRICS, "k1", b"1"),
        (topics.AUDIT, "k0", b"2"),
        (topics.METRICS, "k1", b"3"),
    ]
    assert [r.offset for r in records if r.topic == topics.METRICS] == [0, 1]


async def test_every_group_gets_every_record(bus: LocalBus) -> None:
    a = await bus.consumer([topics.METRICS], group="a")
    b = await bus.consumer([topics.METRICS], group="b")
    await bus.publish(topics.METRICS, "k", b"v")
    assert await drain(a, 1) == await drain(b, 1) == [("k", b"v")]


async def test_one_consumer_per_group_and_topic(bus: LocalBus) -> None:
    await bus.consumer([topics.METRICS], group="g")
    with pytest.raises(ValueError, match="already consumes"):
        await bus.consumer([topics.METRICS], group="g")


async def test_back_pressure_when_a_queue_is_full(bus: LocalBus) -> None:
    c = await bus.consumer([topics.METRICS], group="g")
    for i in range(4):
        await bus.publish(topics.METRICS, "k", str(i).encode())
    blocked = asyncio.create_task(bus.publish(topics.METRICS, "k", b"4"))
    await asyncio.sleep(0.05)
    assert not blocked.done()  # the 5th waits for room
    assert len(await c.getmany(timeout_ms=100, max_records=1)) == 1
    await asyncio.wait_for(blocked, 1)
    assert [v for _, v in await drain(c, 4)] == [b"1", b"2", b"3", b"4"]


async def test_uncommitted_records_go_to_the_next_consumer_of_the_group(bus: LocalBus) -> None:
    c = await bus.consumer([topics.METRICS], group="g")
    for i in range(3):
        await bus.publish(topics.METRICS, "k", str(i).encode())
    assert len(await c.getmany(timeout_ms=100, max_records=2)) == 2  # processed, not committed
    await c.stop()
    again = await bus.consumer([topics.METRICS], group="g")
    assert [v for _, v in await drain(again, 3)] == [b"0", b"1", b"2"]
    await again.commit()
    await again.stop()
    third = await bus.consumer([topics.METRICS], group="g")
    assert await third.getmany(timeout_ms=50) == []


async def test_stopping_a_consumer_frees_a_blocked_publisher(bus: LocalBus) -> None:
    c = await bus.consumer([topics.METRICS], group="g")
    for i in range(4):
        await bus.publish(topics.METRICS, "k", str(i).encode())
    blocked = asyncio.create_task(bus.publish(topics.METRICS, "k", b"4"))
    await asyncio.sleep(0.05)
    await c.stop()
    await asyncio.wait_for(blocked, 1)
    again = await bus.consumer([topics.METRICS], group="g")
    assert [v for _, v in await drain(again, 5)] == [b"0", b"1", b"2", b"3", b"4"]


async def test_compacted_topic_keeps_the_latest_value_per_key(bus: LocalBus) -> None:
    await bus.publish(topics.POLICIES, "a", b"a1")
    await bus.publish(topics.POLICIES, "b", b"b1")
    await bus.publish(topics.POLICIES, "a", b"a2")
    await bus.publish(topics.POLICIES, "b", None)  # tombstone: sandbox destroyed
    await bus.publish(topics.METRICS, "a", b"not kept")
    late = await bus.consumer([topics.POLICIES, topics.METRICS], group="late")
    assert await drain(late, 1) == [("a", b"a2")]
    live = await bus.consumer([topics.POLICIES], group="live", from_beginning=False)
    await bus.publish(topics.POLICIES, "a", None)
    assert await drain(live, 1) == [("a", None)]  # tombstones reach live consumers


async def test_a_stopped_bus_refuses_and_restarts(bus: LocalBus) -> None:
    c = await bus.consumer([topics.METRICS], group="g")
    await bus.publish(topics.METRICS, "k", b"0")
    await bus.stop()
    with pytest.raises(BusClosedError) as err:
        await bus.publish(topics.METRICS, "k", b"1")
    assert err.value.topic == topics.METRICS
    await bus.start()
    assert await c.getmany(timeout_ms=50) == []  # stopped with the bus
    again = await bus.consumer([topics.METRICS], group="g")
    assert await drain(again, 1) == [("k", b"0")]


async def test_batches_are_getmany_grouped_per_topic_with_the_same_commits(bus: LocalBus) -> None:
    c = await bus.consumer([topics.METRICS, topics.AUDIT], group="g")
    for i in range(4):
        await bus.publish(topics.METRICS if i % 2 else topics.AUDIT, f"k{i}" if i else None, str(i).encode())
    batches = await c.getmany_batches(timeout_ms=100, max_records=3)
    assert [(b.topic, list(b.offsets), list(b.keys), list(b.values)) for b in batches] == [
        (topics.AUDIT, [0, 1], [None, b"k2"], [b"0", b"2"]),
        (topics.METRICS, [0], [b"k1"], [b"1"]),
    ]
    assert batches[0].record(1).key == "k2" and batches[0].key(0) is None
    await c.stop()  # nothing committed: all of it goes to the group's next consumer
    again = await bus.consumer([topics.METRICS, topics.AUDIT], group="g")
    assert sum(len(b) for b in await again.getmany_batches(timeout_ms=100)) == 4
    await again.commit()
    await again.stop()
    third = await bus.consumer([topics.METRICS, topics.AUDIT], group="g")
    assert await third.getmany_batches(timeout_ms=50) == []
