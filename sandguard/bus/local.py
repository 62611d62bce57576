"""In-process bus for the embedded mode: same topic names, keys and per-key order as Kafka.

Each consumer has a bounded queue; ``publish`` waits when a subscribed queue is full,
so a slow consumer slows its producers instead of growing memory (back-pressure).
A group marked ``never_block`` (the sink: the store must never hold back detection or
enforcement) is the exception: past its queue, records wait in a spill of bounded size
and are handed over in order as the consumer catches up; past that bound the oldest are
dropped, counted and logged. Nothing is lost silently.
Records published before a group subscribes are not replayed, except on compacted
topics, whose latest value per key is kept and handed to new subscribers (a late
processor still learns every sandbox's policy). Like Kafka, a record is redelivered
until committed: a consumer that stops leaves its uncommitted and unread records to
the next consumer of its group in this process. Nothing survives the process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from common.spill import Spill
from sandguard.bus.exceptions import BusClosedError
from schemas.bus import Consumer, Record, RecordBatch, batches_of
from schemas.topics import TOPICS

# 10,000 records per consumer: ~5 s of 200 containers × (metric + processes + limits)
# at 1 Hz, enough to ride out a consumer's pause, small enough (~10 MB) to bound memory.
DEFAULT_QUEUE_SIZE = 10_000
# Spill of a never_block group: 100,000 records, ~3 min of 200 containers x 3 events/s
# with the store away, ~100 MB at ~1 KB a record: the bound of what a stalled store costs.
DEFAULT_SPILL_RECORDS = 100_000

__all__ = ["DEFAULT_QUEUE_SIZE", "BusClosedError", "LocalBus"]


class _LocalConsumer:
    def __init__(
        self, bus: LocalBus, topics: Sequence[str], group: str, queue: asyncio.Queue[Record]
    ) -> None:
        self._bus = bus
        self.topics = tuple(topics)
        self.group = group
        self.queue = queue
        self.uncommitted: list[Record] = []
        self.stopped = False
        self.spill: Spill[Record] | None = None  # set for a never_block group

    def offer(self, record: Record) -> bool:
        """Queues without waiting when it can (a never_block consumer always can); False
        when the caller must wait for room."""
        spill = self.spill
        if spill is None:
            if self.queue.full():
                return False
            self.queue.put_nowait(record)
            return True
        if len(spill) or self.queue.full():  # behind others already spilled: keep the order
            spill.append(record)  # past its bound the oldest go, counted and logged
        else:
            self.queue.put_nowait(record)
        return True

    def refill(self) -> None:
        """Moves spilled records into the queue as room frees up, in order."""
        spill = self.spill
        if spill is None:
            return
        while len(spill) and not self.queue.full():
            self.queue.put_nowait(spill.popleft())

    async def getmany(self, *, timeout_ms: int = 1000, max_records: int = 500) -> list[Record]:
        out: list[Record] = []
        self.refill()
        if self.queue.empty():
            try:
                out.append(await asyncio.wait_for(self.queue.get(), timeout_ms / 1000))
            except TimeoutError:
                return out
        while len(out) < max_records and not self.queue.empty():
            out.append(self.queue.get_nowait())
            if self.spill is not None and len(self.spill):
                self.refill()
        self.uncommitted.extend(out)
        return out

    async def getmany_batches(self, *, timeout_ms: int = 1000, max_records: int = 500) -> list[RecordBatch]:
        return batches_of(await self.getmany(timeout_ms=timeout_ms, max_records=max_records))

    def is_stopped(self) -> bool:
        return self.stopped

    async def commit(self) -> None:
        self.uncommitted.clear()

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
        self._parked: dict[tuple[str, str], list[Record]] = {}  # (group, topic) -> for the next consumer
        self._offsets: dict[str, int] = {}
        self._closed = False
        self._never_block: dict[str, int] = {}  # group -> spill bound
        self._spills: dict[str, Spill[Record]] = {}  # group -> its spill (kept across its consumers)

    def never_block(self, group: str, *, spill_records: int = DEFAULT_SPILL_RECORDS) -> None:
        """Publishers never wait for ``group``: past its queue, records spill (bounded, in
        order); past the bound the oldest are dropped and counted (``spill_stats``)."""
        if spill_records < 1:
            raise ValueError(f"spill_records must be at least 1, got {spill_records}")
        self._never_block[group] = spill_records

    def spill_stats(self) -> dict[str, dict[str, int]]:
        """Per never_block group: records waiting in the spill, spilled and dropped in total."""
        return {
            g: {"waiting": len(s), "spilled": s.spilled, "dropped": s.dropped}
            for g, s in self._spills.items()
        }

    @property
    def is_running(self) -> bool:
        """Usable from construction until stop() (start() after stop() reopens it)."""
        return not self._closed

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
            raise BusClosedError(topic)
        offset = self._offsets.get(topic, 0)
        self._offsets[topic] = offset + 1
        record = Record(topic, 0, offset, key, value, time.time_ns() // 1_000_000)
        compacted = self._compacted.get(topic)
        if compacted is not None:
            if value is None:
                compacted.pop(key, None)
            else:
                compacted[key] = record
        for consumer in tuple(self._subs.get(topic, ())):
            if not consumer.stopped and not consumer.offer(record):
                await consumer.queue.put(record)
                if consumer.is_stopped():  # it stopped while we waited for room: keep it for the group
                    self._park(consumer, [])

    async def consumer(self, topics: Sequence[str], *, group: str, from_beginning: bool = True) -> Consumer:
        for topic in topics:
            if any(c.group == group for c in self._subs.get(topic, ())):
                raise ValueError(f"group {group!r} already consumes {topic} in this process")
        parked = [r for topic in topics for r in self._parked.pop((group, topic), [])]
        backlog = [
            record
            for topic in topics
            if from_beginning and topic in self._compacted
            for record in self._compacted[topic].values()
        ]
        # Redelivered and compacted backlogs never block a subscription: room is made for them.
        c = _LocalConsumer(self, topics, group, asyncio.Queue(self._queue_size + len(parked) + len(backlog)))
        for record in parked + backlog:
            c.queue.put_nowait(record)
        if group in self._never_block:
            c.spill = self._spills.setdefault(
                group, Spill(self._never_block[group], name=f"bus group {group}")
            )
            c.refill()
        for topic in topics:
            self._subs.setdefault(topic, []).append(c)
        return c

    def lag(self) -> dict[str, int]:
        """Records waiting per group (for metrics)."""
        return {
            c.group: c.queue.qsize() + (len(c.spill) if c.spill is not None else 0)
            for subs in self._subs.values()
            for c in subs
        }

    def _unsubscribe(self, consumer: _LocalConsumer) -> None:
        if consumer.stopped:
            return
        consumer.stopped = True
        for topic in consumer.topics:
            subs = self._subs.get(topic, [])
            if consumer in subs:
                subs.remove(consumer)
        left = list(consumer.uncommitted)
        consumer.uncommitted.clear()
        self._park(consumer, left)

    def _park(self, consumer: _LocalConsumer, records: list[Record]) -> None:
        """Keeps a stopped consumer's records for its group's next consumer; emptying its
        queue also frees publishers blocked on it."""
        while not consumer.queue.empty():
            records.append(consumer.queue.get_nowait())
        for record in records:
            self._parked.setdefault((consumer.group, record.topic), []).append(record)
