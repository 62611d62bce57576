"""Listens to enforcement commands and results, and violations, for this manager's sandboxes.

Each manager has a group of its own (it wants every event about its sandboxes, not a
share of them) and starts at the end of the topics: what happened before it existed is
the history store's to tell. A message that does not decode goes to the dead-letter
topic with its reason and is counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from common.retry import DEPENDENCY, Backoff, log_recovered, pause
from common.tasks import cancel_and_wait
from sandbox.metrics import ManagerMetrics
from schemas import (
    ActionResult,
    Bus,
    Consumer,
    EnforcementCommand,
    EventDecodeError,
    Record,
    Violation,
    dead_letter,
    decode,
    encode,
)
from schemas import topics as t

log = structlog.get_logger(__name__)

COMPONENT = "sandbox-manager"
POLL_MS = 500
MAX_RECORDS = 500


class EnforcementWatcher:
    def __init__(
        self,
        bus: Bus,
        *,
        group: str,
        metrics: ManagerMetrics,
        on_action: Callable[[ActionResult], None],
        on_violation: Callable[[Violation], None],
        on_command: Callable[[EnforcementCommand], None],
        wanted: Callable[[str | None], bool],
    ) -> None:
        self._bus = bus
        self._group = group
        self._metrics = metrics
        self._on_action = on_action
        self._on_violation = on_violation
        self._on_command = on_command
        self._wanted = wanted
        self._consumer: Consumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is not None:
            return
        self._consumer = await self._bus.consumer(
            [t.ENFORCEMENT, t.ACTIONS, t.VIOLATIONS], group=self._group, from_beginning=False
        )
        self._task = asyncio.create_task(self._run(self._consumer), name=f"{COMPONENT}-watcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def _run(self, consumer: Consumer) -> None:
        backoff = Backoff(DEPENDENCY)  # after a failure of the bus itself: not a hot loop
        while True:
            try:
                records = await consumer.getmany(timeout_ms=POLL_MS, max_records=MAX_RECORDS)
                for record in records:
                    await self.handle(record)
                if records:
                    await consumer.commit()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._metrics.errors.labels("consume").inc()
                await pause(log, "watcher_poll_failed", backoff, exc)
                continue
            log_recovered(log, "watcher_poll_recovered", backoff)

    async def handle(self, record: Record) -> None:
        """One record: ours are applied, others skipped, undecodable ones dead-lettered."""
        if not self._wanted(record.key):
            return
        self._metrics.events_in.labels(record.topic).inc()
        try:
            event = decode(record.topic, record.value)
        except EventDecodeError as exc:
            await self._dead_letter(record, exc.reason)
            return
        if isinstance(event, ActionResult):
            self._on_action(event)
        elif isinstance(event, Violation):
            self._on_violation(event)
        elif isinstance(event, EnforcementCommand):
            self._on_command(event)

    async def _dead_letter(self, record: Record, reason: str) -> None:
        self._metrics.errors.labels("decode").inc()
        log.warning("undecodable_event", topic=record.topic, key=record.key, error=reason)
        letter = dead_letter(
            COMPONENT,
            record.topic,
            record.value,
            reason,
            key=record.key,
            partition=record.partition,
            offset=record.offset,
        )
        await self._bus.publish(t.DEADLETTER, record.key, encode(letter))
