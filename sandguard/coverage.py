"""The exec gate of a manager on Kafka, the collector in another process: ``create_sandbox``
waits for the collector's ``kernel_covered`` audit event for the new container (published
once its namespaces and blocked names are in the tracer's maps).

The reader is positioned at the audit topic's end when the manager starts, before any
sandbox exists (``KafkaBus.tail``): an event published after that is never skipped, however
soon after the container's start it comes. It reads every audit record and decodes only
those that name ``kernel_covered`` (a byte search first), remembering the last
``REMEMBERED`` covered containers (the answer may come before create_sandbox asks).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict

import structlog
from aiokafka.errors import KafkaError

from common.retry import DEPENDENCY, Backoff, log_recovered, pause
from sandbox.gate import Coverage
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
        self._tail: KafkaTail | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._tail is not None:
            return
        self._tail = await self._bus.tail([t.AUDIT])
        self._task = asyncio.create_task(self._run(self._tail), name="kernel-coverage")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __call__(self, container_id: str) -> Coverage:
        if self._tail is None:
            return Coverage(False, "", "the coverage reader is not started")
        return await self.book.wait(container_id, self.timeout_s)

    async def _run(self, tail: KafkaTail) -> None:
        backoff = Backoff(DEPENDENCY)
        while True:
            try:
                records = await tail.getmany(timeout_ms=POLL_MS)
            except KafkaError as exc:
                await pause(log, "kernel_coverage_read_failed", backoff, exc)
                continue
            log_recovered(log, "kernel_coverage_read_recovered", backoff)
            for r in records:
                if r.key and r.value is not None and _MARK in r.value:
                    self._read(r.key, r.value)

    def _read(self, cid: str, value: bytes) -> None:
        try:
            self.book.note(cid, decode(t.AUDIT, value))
        except EventDecodeError as exc:  # not ours to dead-letter (the sink does): skipped, said
            log.warning("kernel_coverage_unreadable", container_id=cid[:12], error=str(exc)[:200])
