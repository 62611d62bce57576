"""The exec gate of a manager on Kafka, the collector in another process: ``create_sandbox``
waits for the collector's ``kernel_covered`` audit event for the new container (published
once its namespaces and blocked names are in the tracer's maps).

Each wait reads one partition, from just before it asks: the audit topic is keyed by
container, so the answer is on the partition the container's id hashes to, and it was
written after the container started, so not before the wait began less ``SKEW_MARGIN_MS``
(``KafkaBus.tail(key=..., since_ms=...)``, positioned by ``offsets_for_times``). An answer
written just before the reader starts is still read; the rest of the topic (other
partitions, older records, and everything while no creation waits) is never fetched, so
a manager's cost does not grow with the cluster's audit traffic or the topic's age. Only
records that name ``kernel_covered`` are decoded (a byte search first).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

import structlog
from aiokafka.errors import KafkaError

from common.retry import DEPENDENCY, Backoff, log_recovered, pause
from common.tasks import cancel_and_wait
from sandbox.gate import Coverage
from sandguard.bus.exceptions import BusError
from sandguard.bus.kafka import KafkaBus, KafkaTail
from schemas import AuditCategory, AuditEvent, EventDecodeError, decode
from schemas import topics as t

log = structlog.get_logger(__name__)

COVERED = "kernel_covered"
_MARK = COVERED.encode()
# The collector covers a sandbox ~10-50 ms after its start (docker event, inspect, prctl)
# and publishes within its 20 ms linger; 15 s leaves room for a loaded host and a broker
# leader change, and is what a creation waits at most when no collector answers.
COVER_TIMEOUT_S = 15.0
# Containers whose coverage came before their creator asked: 10,000 × ~100 bytes = 1 MB.
REMEMBERED = 10_000
POLL_MS = 200
# How far before the wait the reader starts: the answer is written after the container
# started (ms before the wait) by the collector's clock (record CreateTime); 5 s covers that
# and any clock skew between hosts kept by NTP (ms). Records older than that are never read.
SKEW_MARGIN_MS = 5_000


class CoverageBook:
    """The answers read so far and the creations waiting for one (pure, no I/O)."""

    def __init__(self, remembered: int = REMEMBERED) -> None:
        self._remembered = remembered
        self._seen: OrderedDict[str, Coverage] = OrderedDict()
        self._waiting: dict[str, asyncio.Event] = {}

    def note(self, cid: str, ev: AuditEvent) -> None:
        """One audit event of ``cid``: kept when it is a collector's kernel_covered."""
        if ev.category is not AuditCategory.COLLECTOR or ev.action != COVERED or ev.container_id != cid:
            return
        mode = str(ev.details.get("mode", ""))
        covered = mode in ("bpf", "proc_connector")
        why = "" if covered else f"the collector's kernel layer is {mode}: {ev.reason or 'no reason given'}"
        self._seen[cid] = Coverage(covered, mode, why)
        while len(self._seen) > self._remembered:
            self._seen.popitem(last=False)
        waiter = self._waiting.get(cid)
        if waiter is not None:
            waiter.set()

    async def wait(self, cid: str, timeout_s: float) -> Coverage:
        event = self._waiting.setdefault(cid, asyncio.Event())
        try:
            if cid not in self._seen:
                await asyncio.wait_for(event.wait(), timeout_s)
        except TimeoutError:
            return Coverage(False, "", f"no kernel_covered from a collector within {timeout_s:g} s")
        finally:
            self._waiting.pop(cid, None)
        return self._seen.pop(cid)


class CoverageGate:
    """``CoverageGate(bus)``; ``await start()`` before the first sandbox, then it is the
    manager's ``exec_gate``; ``await stop()``."""

    def __init__(self, bus: KafkaBus, *, timeout_s: float = COVER_TIMEOUT_S) -> None:
        self._bus = bus
        self.timeout_s = timeout_s
        self.book = CoverageBook()
        self._started = False

    async def start(self) -> None:
        self._started = True

    async def stop(self) -> None:
        self._started = False

    async def __call__(self, container_id: str) -> Coverage:
        if not self._started:
            return Coverage(False, "", "the coverage reader is not started")
        since = time.time_ns() // 1_000_000 - SKEW_MARGIN_MS
        reader = asyncio.create_task(self._run(container_id, since), name="kernel-coverage")
        try:
            return await self.book.wait(container_id, self.timeout_s)
        finally:
            await cancel_and_wait(reader)

    async def _run(self, cid: str, since_ms: int) -> None:
        """Reads ``cid``'s partition from ``since_ms`` until the wait ends (cancelled)."""
        backoff = Backoff(DEPENDENCY)
        while True:
            try:
                tail = await self._bus.tail([t.AUDIT], key=cid, since_ms=since_ms)
            except (KafkaError, BusError) as exc:
                await pause(log, "kernel_coverage_read_failed", backoff, exc)
                continue
            try:
                await self._follow(tail, cid, backoff)
            finally:
                await tail.stop()

    async def _follow(self, tail: KafkaTail, cid: str, backoff: Backoff) -> None:
        while True:
            try:
                records = await tail.getmany(timeout_ms=POLL_MS)
            except KafkaError as exc:
                await pause(log, "kernel_coverage_read_failed", backoff, exc)
                continue
            log_recovered(log, "kernel_coverage_read_recovered", backoff)
            for r in records:
                if r.key == cid and r.value is not None and _MARK in r.value:
                    self._read(r.key, r.value)

    def _read(self, cid: str, value: bytes) -> None:
        try:
            self.book.note(cid, decode(t.AUDIT, value))
        except EventDecodeError as exc:  # not ours to dead-letter (the sink does): skipped, said
            log.warning("kernel_coverage_unreadable", container_id=cid[:12], error=str(exc)[:200])
