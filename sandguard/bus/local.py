"""In-process bus for the embedded mode: same topic names, keys and per-key order as Kafka.

Each consumer group has a bounded queue per topic; ``publish`` waits when a group's
queue is full, so a slow consumer slows its producers instead of growing memory
(back-pressure). Records published before a group subscribes are not replayed,
except on compacted topics, whose latest value per key is kept and handed to new
subscribers (a late processor still learns every sandbox's policy). Nothing
survives the process, so ``commit`` only records progress for metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from schemas.bus import Consumer, Record
from schemas.topics import TOPICS

# 10,000 records per group and topic: ~5 s of 200 containers × (metric + processes + limits)
# at 1 Hz, enough to ride out a consumer's pause, small enough (~10 MB) to bound memory.
DEFAULT_QUEUE_SIZE = 10_000


class BusClosedError(RuntimeError):
    """Raised when publishing to a bus that was stopped."""


class _LocalConsumer:
    def __init__(
        self, bus: LocalBus, topics: Sequence[str], group: str, queue: asyncio.Queue[Record]
    ) -> None:
        self._bus = bus
        self.topics = tuple(topics)
        self.group = group
        self.queue = queue
        self.returned = 0
        self.committed = 0

    async def getmany(self, *, timeout_ms: int = 1000, max_records: int = 500) -> list[Record]:
        out: list[Record] = []
        if self.queue.empty():
            try:
                out.append(await asyncio.wait_for(self.queue.get(), timeout_ms / 1000))
            except TimeoutError:
                return out
        while len(out) < max_records and not self.queue.empty():
            out.append(self.queue.get_nowait())
        self.returned += len(out)
        return out

    async def commit(self) -> None:
        self.committed = self.returned

    async def stop(self) -> None:
        self._bus._unsubscribe(self)


class LocalBus:
    """``schemas.Bus`` in one process. Safe for many producers and consumers on one event loop."""

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._subs: dict[str, list[_LocalConsumer]] = {}
        self._compacted: dict[str, dict[str | None, Record]] = {
            name: {} for name, spec in TOPICS.items() if spec.compacted
        }
        self._offsets: dict[str, int] = {}
        self._closed = False
        self.published = 0

    async def start(self) -> None:
        self._closed = False

    async def stop(self) -> None:
        self._closed = True
        for subs in list(self._subs.values()):
            for c in list(subs):
                self._unsubscribe(c)

    async def flush(self) -> None:
        """Nothing is in flight: publish returns once every subscribed queue holds the record."""

    async def publish(self, topic: str, key: str | None, value: bytes | None) -> None:
        if self._closed:
            raise BusClosedError(f"bus stopped; cannot publish to {topic}")
        offset = self._offsets.get(topic, 0)
        self._offsets[topic] = offset + 1
        record = Record(topic, 0, offset, key, value, time.time_ns() // 1_000_000)
        compacted = self._compacted.get(topic)
        if compacted is not None:
            if value is None:
                compacted.pop(key, None)
            else:
                compacted[key] = record
        self.published += 1
        for consumer in tuple(self._subs.get(topic, ())):
            await consumer.queue.put(record)

    async def consumer(self, topics: Sequence[str], *, group: str, from_beginning: bool = True) -> Consumer:
        for topic in topics:
            if any(c.group == group for c in self._subs.get(topic, ())):
                raise ValueError(f"group {group!r} already consumes {topic} in this process")
        backlog = [
            record
            for topic in topics
            if from_beginning and topic in self._compacted
            for record in self._compacted[topic].values()
        ]
        # The backlog of compacted topics never blocks a subscription: room is made for it.
        c = _LocalConsumer(self, topics, group, asyncio.Queue(self._queue_size + len(backlog)))
        for record in backlog:
            c.queue.put_nowait(record)
        for topic in topics:
            self._subs.setdefault(topic, []).append(c)
        return c

    def lag(self) -> dict[str, int]:
        """Records waiting per group (for metrics)."""
        return {c.group: c.queue.qsize() for subs in self._subs.values() for c in subs}

    def _unsubscribe(self, consumer: _LocalConsumer) -> None:
        for topic in consumer.topics:
            subs = self._subs.get(topic, [])
            if consumer in subs:
                subs.remove(consumer)
