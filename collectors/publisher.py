"""Drains the buffer to the bus in batches: publish, flush, and only then forget.

A batch that fails (broker down, delivery timed out) is retried whole after a backoff,
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
from schemas import topics
from schemas.bus import Bus
from schemas.codec import encode

log = structlog.get_logger(__name__)

# Backoff after a failed batch: 0.5 s doubling to 8 s, so a broker that is back is
# used within seconds and one that is down is not hammered.
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 8.0


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
        self._failing_since: float | None = None
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
        backoff = BACKOFF_FIRST_S
        while batch:
            try:
                for topic, key, value in batch:
                    await self._bus.publish(topic, key, value)
                await self._bus.flush()
            except Exception as exc:  # any bus failure: counted, logged, retried
                self._failed(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            self._delivered(batch)
            break
        self.in_flight = 0
        if not len(self._buffer):
            self._drained.set()

    def _failed(self, exc: Exception) -> None:
        self._metrics.publish_errors.inc()
        now = self._clock.monotonic()
        if self._failing_since is None:
            self._failing_since = now
            log.warning("publish_failed", error=f"{type(exc).__name__}: {exc}", buffered=len(self._buffer))

    def _delivered(self, batch: list[Out]) -> None:
        for topic, n in Counter(t for t, _, _ in batch).items():
            self._metrics.published.labels(topic).inc(n)
        if self._failing_since is not None:
            log.info("publish_recovered", after_s=round(self._clock.monotonic() - self._failing_since, 1))
            self._failing_since = None
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
