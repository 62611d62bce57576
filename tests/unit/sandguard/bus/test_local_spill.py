"""LocalBus never_block: a slow consumer (the sink) never holds back the publishers; what
it cannot take waits in a bounded spill, in order, and what exceeds the bound is counted."""

from __future__ import annotations

import asyncio

import pytest

from sandguard.bus import LocalBus
from schemas import topics
from tests.unit.sandguard.bus.test_local import drain

# Publishing 50 records into a queue of 4 without a consumer reading: with back-pressure
# it would wait forever; a never_block group must let it finish at once (1 s is lavish).
PUBLISH_WITHIN_S = 1.0


@pytest.fixture
async def bus() -> LocalBus:
    b = LocalBus(queue_size=4)
    b.never_block("sink", spill_records=100)
    await b.start()
    return b


async def test_publishers_never_wait_for_a_never_block_group(bus: LocalBus) -> None:
    sink = await bus.consumer([topics.METRICS], group="sink")
    async with asyncio.timeout(PUBLISH_WITHIN_S):
        for i in range(50):
            await bus.publish(topics.METRICS, "k", str(i).encode())
    assert bus.lag() == {"sink": 50}
    assert bus.spill_stats()["sink"] == {"waiting": 46, "spilled": 46, "dropped": 0}
    got = await drain(sink, 50)
    assert [v for _, v in got] == [str(i).encode() for i in range(50)]  # in order, spill included
    assert bus.spill_stats()["sink"]["waiting"] == 0


async def test_past_the_bound_the_oldest_are_dropped_and_counted(bus: LocalBus) -> None:
    sink = await bus.consumer([topics.METRICS], group="sink")
    for i in range(150):
        await bus.publish(topics.METRICS, "k", str(i).encode())
    assert bus.spill_stats()["sink"] == {"waiting": 100, "spilled": 146, "dropped": 46}
    got = [v for _, v in await drain(sink, 104)]
    # The queue's 4 first, then the newest 100: the 46 oldest of the spill went, counted.
    assert got == [str(i).encode() for i in (*range(4), *range(50, 150))]


async def test_other_groups_keep_back_pressure(bus: LocalBus) -> None:
    await bus.consumer([topics.METRICS], group="sink")
    await bus.consumer([topics.METRICS], group="rules")
    for i in range(4):
        await bus.publish(topics.METRICS, "k", str(i).encode())
    blocked = asyncio.create_task(bus.publish(topics.METRICS, "k", b"5"))
    await asyncio.sleep(0.05)
    assert not blocked.done()  # waits for "rules", never for "sink"
    blocked.cancel()


async def test_a_spill_outlives_its_consumer_for_the_next_of_the_group(bus: LocalBus) -> None:
    first = await bus.consumer([topics.METRICS], group="sink")
    for i in range(10):
        await bus.publish(topics.METRICS, "k", str(i).encode())
    await first.stop()
    second = await bus.consumer([topics.METRICS], group="sink")
    assert [v for _, v in await drain(second, 10)] == [str(i).encode() for i in range(10)]


def test_a_spill_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="spill_records must be at least 1"):
        LocalBus().never_block("sink", spill_records=0)
