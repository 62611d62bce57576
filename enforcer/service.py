"""The enforcer of one host: reads sandguard.enforcement, acts, reports on sandguard.actions.

Consumer groups: every host's enforcer must see every command for its host, and
commands are keyed by container, not by host, so one partition holds commands for
many hosts. Enforcers of several hosts in one group would split the partitions and
each would skip (and commit past) the others' commands: those would never be acted
on. So each host has a group of its own (``sandguard-enforcer.<host>``); every
enforcer reads every command and acts on those whose ``host`` is its own. A second
process for the same host may join the same group as a standby; it must share the
state directory (the ledger is a SQLite file, safe for several processes).

Commands for another host are counted and committed past: in this host's group
they are done. A command with no host is ignored too unless ``claim_unassigned``
(single-host and embedded setups, where every container is local).

A batch is committed only when each of its commands has been acted on, its result
published and flushed, and the ledger marked: a crash anywhere before the commit
replays the batch, and the ledger makes the replay converge (see enforcer.handler).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry

from common.retry import DELIVERY, retry_async
from enforcer.exceptions import EnforcerStateError, EngineUnavailableError, ResultPublishError
from enforcer.handler import CommandHandler, Handled, HandlerOptions, Inbound
from enforcer.lanes import run_in_lanes
from enforcer.ledger import DEFAULT_RETENTION_MS, Ledger, Position
from enforcer.metrics import EnforcerMetrics
from enforcer.plans import DEFAULT_FLOOR_PERCENT, SANDBOX_LABELS
from enforcer.port import DockerPort
from schemas import Bus, Consumer, EventDecodeError, Lifecycle, Record, dead_letter, decode, encode, now_ms
from schemas.policy import host_cpus
from schemas.topics import ACTIONS, DEADLETTER, ENFORCEMENT

log = structlog.get_logger("enforcer")

COMPONENT = "enforcer"
LEDGER_FILE = "enforcer-ledger.sqlite3"
# Concurrent actions on different containers: 8 keeps a 2-core engine busy without
# queueing inside dockerd (each action is one ~0.1 s API call, measured).
DEFAULT_CONCURRENCY = 8
# A poll returns as soon as a command arrives; 200 ms only bounds how late a stop is seen.
POLL_MS = 200
# 100 commands per batch: one flush and one commit for up to 100 actions, while a batch
# (~0.1 s per lane) stays short enough that a restart replays little.
MAX_BATCH = 100
# Delivery of results is retried per common.retry.DELIVERY, then the enforcer stops
# without committing and the batch is replayed on restart.
# The ledger forgets expired commands once an hour (pruning is one indexed DELETE).
PRUNE_INTERVAL_MS = 3600 * 1000
# A stop lets the batch in hand finish: actions take ~0.1 s; 30 s covers a slow engine.
STOP_GRACE_S = 30.0


def group_for(host: str) -> str:
    """The consumer group of a host's enforcer (one group per host: see module doc)."""
    return f"sandguard-enforcer.{host}"


class Enforcer:
    """Acts on the containers of one host. ``start()``, then ``stop()`` (or ``async with``).

    ``required_labels`` (KEY: VALUE, or KEY: None for any value) names the containers it
    may touch; None means sandguard's sandboxes (``sandguard.sandbox=1``), ``{}`` any
    container of the host.
    """

    def __init__(
        self,
        bus: Bus,
        docker: DockerPort,
        *,
        host: str,
        state_dir: Path,
        registry: CollectorRegistry | None = None,
        audit_only: bool = False,
        claim_unassigned: bool = False,
        required_labels: Mapping[str, str | None] | None = None,
        group: str | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        floor_percent: float = DEFAULT_FLOOR_PERCENT,
        retention_ms: int = DEFAULT_RETENTION_MS,
    ) -> None:
        if not host:
            raise ValueError("host must name this host (commands are matched on it)")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.host = host
        self.group = group or group_for(host)
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = EnforcerMetrics(self.registry)
        self.ledger = Ledger(state_dir / LEDGER_FILE, retention_ms=retention_ms)
        self._bus = bus
        self._concurrency = concurrency
        self._docker_pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="enforcer-docker")
        options = HandlerOptions(
            host=host,
            audit_only=audit_only,
            claim_unassigned=claim_unassigned,
            required_labels=dict(SANDBOX_LABELS if required_labels is None else required_labels),
            floor_percent=floor_percent,
            host_cpus=host_cpus(),
        )
        self.handler = CommandHandler(
            docker, self.ledger, options, self.metrics, executor=self._docker_pool, stopping=self._is_stopping
        )
        self.state = Lifecycle.NEW
        self._consumer: Consumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0

    # --- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Opens the ledger, joins the host's group and starts acting."""
        if self.state is not Lifecycle.NEW:
            raise EnforcerStateError(self.state, "start")
        await self.ledger.open()
        try:
            await self._prune()
            self._consumer = await self._bus.consumer([ENFORCEMENT], group=self.group, from_beginning=True)
        except BaseException:
            await self.ledger.close()
            self._docker_pool.shutdown(wait=False)
            self.state = Lifecycle.FAILED
            raise
        self.state = Lifecycle.RUNNING
        self._task = asyncio.create_task(self._loop(), name=f"enforcer-{self.host}")
        log.info("enforcer_started", host=self.host, group=self.group, ledger=str(self.ledger.path))

    async def stop(self) -> None:
        """Finishes the batch in hand (committing it), then leaves the group."""
        if self.state is Lifecycle.NEW:
            raise EnforcerStateError(self.state, "stop")
        if self.state is Lifecycle.STOPPED:
            return
        if self.state is Lifecycle.RUNNING:
            self.state = Lifecycle.STOPPING
        if self._task is not None:
            with contextlib.suppress(Exception):  # a failure was logged and is raised by wait()
                await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE_S)
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        await self._close()

    async def wait(self) -> None:
        """Returns when the enforcer stops; raises the error that stopped it, if any."""
        if self._task is None:
            raise EnforcerStateError(self.state, "wait for")
        await asyncio.shield(self._task)

    async def __aenter__(self) -> Enforcer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _is_stopping(self) -> bool:
        return self.state is not Lifecycle.RUNNING

    async def _close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        self._docker_pool.shutdown(wait=False, cancel_futures=True)
        await self.ledger.close()
        if self.state is not Lifecycle.FAILED:
            self.state = Lifecycle.STOPPED
        log.info("enforcer_stopped", host=self.host, state=self.state)

    # --- the loop -----------------------------------------------------------------

    async def _loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None  # set by start() before the task exists
        try:
            while self.state is Lifecycle.RUNNING:
                records = await consumer.getmany(timeout_ms=POLL_MS, max_records=MAX_BATCH)
                if records:
                    await self.process(records, consumer)
                if now_ms() - self._last_prune > PRUNE_INTERVAL_MS:
                    await self._prune()
        except EngineUnavailableError as exc:
            if self.state is not Lifecycle.STOPPING:
                self._failed()
                raise
            # Asked to stop while waiting for the engine: the batch stays uncommitted and is
            # replayed by the next start, which is the point of committing after the work.
            log.warning("batch_abandoned_on_stop", host=self.host, error=exc.reason)
        except Exception:
            self._failed()
            raise

    def _failed(self) -> None:
        self.state = Lifecycle.FAILED
        self.metrics.errors.labels("batch").inc()
        log.exception("enforcer_failed", host=self.host)

    async def process(self, records: Sequence[Record], consumer: Consumer) -> list[Handled]:
        """One batch: act, publish, flush, mark done, commit. Returns what was published."""
        self.metrics.lag.set(max(0, now_ms() - min(r.timestamp_ms for r in records)) / 1000)
        inbound = [i for i in (await self._decode_all(records)) if i is not None]
        self.handler.begin_batch()
        outcomes = await run_in_lanes(
            inbound, lambda i: i.command.container_id, self._handle_and_publish, limit=self._concurrency
        )
        handled = [h for h in outcomes if h is not None]
        await self._deliver(handled)
        await self.ledger.record_done([h.done for h in handled if h.done is not None], now_ms())
        await self._commit(consumer)
        return handled

    async def _commit(self, consumer: Consumer) -> None:
        """A failed commit (a rebalance, a broker away) is not fatal: the offsets stay marked and
        go with the next commit, and a replay of the batch meanwhile is absorbed by the ledger."""
        try:
            await consumer.commit()
        except Exception as exc:
            self.metrics.errors.labels("commit").inc()
            log.warning("commit_failed", host=self.host, error=str(exc))

    async def _handle_and_publish(self, inbound: Inbound) -> Handled | None:
        handled = await self.handler.handle(inbound)
        if handled is not None:
            # Published at once (not at the end of the batch) so the result's latency is the action's.
            await self._bus.publish(ACTIONS, handled.result.container_id, encode(handled.result))
        return handled

    async def _decode_all(self, records: Sequence[Record]) -> list[Inbound | None]:
        return [await self._decode(r) for r in records]

    async def _decode(self, record: Record) -> Inbound | None:
        if record.value is None:
            self.metrics.ignored.labels("tombstone").inc()
            return None
        try:
            command = decode(record.topic, record.value)
        except EventDecodeError as exc:
            self.metrics.errors.labels("decode").inc()
            self.metrics.dead_letters.inc()
            log.warning(
                "command_malformed", partition=record.partition, offset=record.offset, error=exc.reason
            )
            letter = dead_letter(
                COMPONENT, record.topic, record.value, exc.reason,
                key=record.key, partition=record.partition, offset=record.offset,
            )  # fmt: skip
            await self._bus.publish(DEADLETTER, record.key, encode(letter))
            return None
        return Inbound(command, Position(record.topic, record.partition, record.offset))

    async def _deliver(self, handled: list[Handled]) -> None:
        """Flushes; on a delivery failure publishes the batch's results again (their event
        ids are stable, so a consumer that got one twice stores it once)."""
        tries = 0

        async def attempt() -> None:
            nonlocal tries
            tries += 1
            if tries > 1:
                for h in handled:
                    await self._bus.publish(ACTIONS, h.result.container_id, encode(h.result))
            await self._bus.flush()

        try:
            await retry_async(
                attempt,
                policy=DELIVERY,
                retry_on=(Exception,),
                log=log,
                event="results_not_delivered",
                on_error=lambda _: self.metrics.errors.labels("publish").inc(),
                count=len(handled),
            )
        except Exception as exc:
            raise ResultPublishError(len(handled), str(exc)) from exc

    async def _prune(self) -> None:
        now = now_ms()
        removed = await self.ledger.prune(now)
        self._last_prune = now
        self.metrics.ledger_rows.set(await self.ledger.count())
        if removed:
            log.info("ledger_pruned", removed=removed)
