"""Drains the buffer to the bus in batches: publish, flush, and only then forget.

A batch that fails (broker down, delivery timed out) is retried whole, waiting out the
bus per the one retry policy (``common.retry.DEPENDENCY``),
so an event leaves the collector only once the bus acknowledged it; a retried batch
may deliver some events twice, which their ids make harmless. While the broker is
away the buffer absorbs new events and drops the oldest past its bound; when a
batch goes through again, the drops are reported once on sandguard.audit.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import structlog

from collectors.buffer import Drops, Out, PublishBuffer
from collectors.clock import Clock
from collectors.ids import EventIds
from collectors.lifecycle import collector_audit
from collectors.metrics import CollectorMetrics
from common.retry import DEPENDENCY, retry_async
from schemas import topics
from schemas.bus import Bus
from schemas.codec import encode

log = structlog.get_logger(__name__)


class Publisher:
    def __init__(
        self,
        bus: Bus,
        buffer: PublishBuffer,
        metrics: CollectorMetrics,
        *,
        host: str,
        ids: EventIds,
        clock: Clock,
        batch: int,
    ) -> None:
        self._bus = bus
        self._buffer = buffer
        self._metrics = metrics
        self._host = host
        self._ids = ids
        self._clock = clock
        self._batch = batch
        self.in_flight = 0
        self._drained = asyncio.Event()

    async def wait_drained(self) -> None:
        """Until the buffer is empty and nothing is in flight."""
        while len(self._buffer) or self.in_flight:
            self._drained.clear()
            await self._drained.wait()

    async def run(self) -> None:
        """Forever (until cancelled): wait for events, deliver them, report drops."""
        while True:
            await self._buffer.wait()
            await self.deliver_once()

    async def deliver_once(self) -> None:
        batch = self._buffer.take(self._batch)
        self.in_flight = len(batch)
        if batch:
            await retry_async(
                lambda: self._send(batch),
                policy=DEPENDENCY,
                retry_on=(Exception,),  # any bus failure: counted, logged, retried
                log=log,
                event="publish_failed",
                on_error=lambda _: self._metrics.publish_errors.inc(),
            )
            self._delivered(batch)
        self.in_flight = 0
        if not len(self._buffer):
            self._drained.set()

    async def _send(self, batch: list[Out]) -> None:
        for topic, key, value in batch:
            await self._bus.publish(topic, key, value)
        await self._bus.flush()

    def _delivered(self, batch: list[Out]) -> None:
        for topic, n in Counter(t for t, _, _ in batch).items():
            self._metrics.published.labels(topic).inc(n)
        drops = self._buffer.take_drops()
        if drops is not None:
            self._report(drops)

    def _report(self, drops: Drops) -> None:
        log.warning("events_dropped", count=drops.count, by_topic=dict(drops.by_topic))
        event = collector_audit(
            "dropped",
            host=self._host,
            event_id=self._ids(),
            time_ms=self._clock.time_ms(),
            reason="publish buffer full while the bus was unavailable",
            details={
                "dropped": drops.count,
                "by_topic": dict(drops.by_topic),
                "containers": sorted(drops.containers),
                "first_drop_ms": drops.first_ms,
                "last_drop_ms": drops.last_ms,
            },
        )
        self._buffer.push_front((topics.AUDIT, None, encode(event)))
