"""The embedded processor: the engine over any ``schemas.Bus``, state in dicts.

One consumer over the five input topics; each batch goes through
``Pipeline.handle_batch`` (record by record, each container's state written once), its
outputs published, the bus flushed, then the batch committed, so a crash re-delivers at
most the last batch and nothing is lost.

Usage::

    runner = ProcessorRunner(bus, default_policy=policy, registry=registry)
    await runner.start()      # consumes in a background task
    ...
    await runner.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from prometheus_client import CollectorRegistry

from common.retry import DEPENDENCY, Backoff, log_recovered, pause
from processors.metrics import ProcessorMetrics
from processors.pipeline import INPUT_TOPICS, Output, Pipeline
from processors.stores import PolicyStore, StateStore
from schemas import Bus, Consumer, Lifecycle, SecurityPolicy, now_ms

log = structlog.get_logger(__name__)

GROUP = "sandguard-processor"
# 500 records per poll: ~2.5 ms of engine work, so a stop or a flush never waits long.
BATCH = 500
POLL_TIMEOUT_MS = 200
# A container with no event for an hour of event time is gone without a destroy event
# (its collector died with it); its state is closed and dropped, checked every 10,000 events.
IDLE_EVICT_MS = 3600 * 1000
EVICT_EVERY = 10_000


class RunnerStateError(RuntimeError):
    """Raised when start/stop are called out of order (e.g. start after stop)."""


class ProcessorRunner:
    def __init__(
        self,
        bus: Bus,
        *,
        default_policy: SecurityPolicy | None = None,
        registry: CollectorRegistry | None = None,
        group: str = GROUP,
        clock: Callable[[], int] | None = now_ms,
        batch: int = BATCH,
        idle_evict_ms: int = IDLE_EVICT_MS,
    ) -> None:
        self.bus = bus
        self.group = group
        self.batch = batch
        self.idle_evict_ms = idle_evict_ms
        self.metrics = ProcessorMetrics(registry)
        self.states: dict[str, bytes] = {}
        self.policies: dict[str, bytes] = {}
        self.pipeline = Pipeline(
            states=StateStore(self.states),
            policies=PolicyStore(self.policies, default_policy or SecurityPolicy()),
            metrics=self.metrics,
            clock=clock,
        )
        self.state = Lifecycle.NEW
        self._consumer: Consumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._since_evict = 0
        self._newest = 0

    async def start(self, *, background: bool = True) -> None:
        """Subscribes; ``background=False`` leaves the consuming to ``run_once`` (tests, replay)."""
        if self.state is not Lifecycle.NEW:
            raise RunnerStateError(f"cannot start a runner that is {self.state.value}")
        self._consumer = await self.bus.consumer(INPUT_TOPICS, group=self.group)
        self.state = Lifecycle.RUNNING
        if background:
            self._task = asyncio.create_task(self._loop(), name="sandguard-processor")

    async def stop(self) -> None:
        if self.state is not Lifecycle.RUNNING:
            self.state = Lifecycle.STOPPED
            return
        self.state = Lifecycle.STOPPED
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def run_once(self, *, timeout_ms: int = POLL_TIMEOUT_MS) -> int:
        """Handles one batch; returns how many records it held (0 after a quiet timeout)."""
        if self._consumer is None:
            raise RunnerStateError("run_once needs start() first")
        records = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=self.batch)
        if not records:
            return 0
        await self._publish(self.pipeline.handle_batch(records))
        await self._consumer.commit()
        await self._maybe_evict(len(records), max(r.timestamp_ms for r in records))
        self.metrics.containers.set(len(self.states))
        return len(records)

    async def _loop(self) -> None:
        backoff = Backoff(DEPENDENCY)
        while self.state is Lifecycle.RUNNING:
            try:
                await self.run_once()
            except Exception as exc:  # the bus failed: count, log, retry per the policy
                self.metrics.errors.labels("bus").inc()
                await pause(log, "processor_batch_failed", backoff, exc)
            else:
                log_recovered(log, "processor_batch_recovered", backoff)

    async def _maybe_evict(self, n: int, newest: int) -> None:
        self._since_evict += n
        self._newest = max(self._newest, newest)
        if self._since_evict < EVICT_EVERY:
            return
        self._since_evict = 0
        await self._publish(self.evict_idle(self._newest - self.idle_evict_ms))

    async def _publish(self, outs: list[Output]) -> None:
        """Sends and flushes ``outs``; then they count as delivered (before any commit)."""
        for o in outs:
            await self.bus.publish(o.topic, o.key, o.value)
            self.metrics.out_by_topic[o.topic].inc()
        await self.bus.flush()
        self.pipeline.delivered(o.id for o in outs)

    def evict_idle(self, before_ms: int) -> list[Output]:
        """Closes and drops containers whose newest event is older than ``before_ms``."""
        outs: list[Output] = []
        store = self.pipeline.states
        for cid in list(self.states):
            state = store.get(cid)
            if state is None or state.last_time >= before_ms:
                continue
            outs += self.pipeline.retire(cid, state, self.pipeline.policies.get(cid), now=None)
        self.metrics.containers.set(len(self.states))
        return outs
