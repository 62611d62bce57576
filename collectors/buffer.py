"""The bounded buffer between sampling and publishing: sampling never waits for the broker.

When full, the oldest event is dropped (the newest say more about a sandbox now) and
counted by topic. Drops are remembered until reported; the containers whose process
deltas were lost are remembered too, so their next snapshot is a full one.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from collectors.metrics import CollectorMetrics
from schemas import topics

Out = tuple[str, str | None, bytes]


@dataclass
class Drops:
    """Drops not yet reported."""

    count: int = 0
    by_topic: Counter[str] = field(default_factory=Counter)
    containers: set[str] = field(default_factory=set)
    first_ms: int = 0
    last_ms: int = 0


class PublishBuffer:
    """FIFO of encoded events; used from the event loop's thread only."""

    def __init__(self, capacity: int, metrics: CollectorMetrics) -> None:
        self.capacity = capacity
        self._q: deque[Out] = deque()
        self._metrics = metrics
        self._ready = asyncio.Event()
        self.drops = Drops()
        self.lost_process_keys: set[str] = set()

    def __len__(self) -> int:
        return len(self._q)

    def extend(self, items: Iterable[Out], now_ms: int) -> None:
        q = self._q
        produced: Counter[str] = Counter()
        for item in items:
            produced[item[0]] += 1
            if len(q) >= self.capacity:
                self._drop(q.popleft(), now_ms)
            q.append(item)
        for topic, n in produced.items():
            self._metrics.produced.labels(topic).inc(n)
        self._metrics.buffer_depth.set(len(q))
        if q:
            self._ready.set()

    def push_front(self, item: Out) -> None:
        """For the collector's own reports, which must not be dropped to make room."""
        self._q.appendleft(item)
        self._ready.set()

    def _drop(self, item: Out, now_ms: int) -> None:
        topic, key, _ = item
        d = self.drops
        d.count += 1
        d.by_topic[topic] += 1
        if key:
            d.containers.add(key)
            if topic == topics.PROCESSES:
                self.lost_process_keys.add(key)
        d.first_ms = d.first_ms or now_ms
        d.last_ms = now_ms
        self._metrics.dropped.labels(topic).inc()

    def take(self, n: int) -> list[Out]:
        q = self._q
        batch = [q.popleft() for _ in range(min(n, len(q)))]
        if not q:
            self._ready.clear()
        self._metrics.buffer_depth.set(len(q))
        return batch

    async def wait(self) -> None:
        await self._ready.wait()

    def take_drops(self) -> Drops | None:
        if not self.drops.count:
            return None
        d, self.drops = self.drops, Drops()
        return d

    def take_lost_process_keys(self) -> set[str]:
        keys, self.lost_process_keys = self.lost_process_keys, set()
        return keys
