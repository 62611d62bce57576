"""The distributed processor: the engine on Faust workers (``sandguard processor``).

The five input topics (policies, metrics, processes, audit, kernel; co-partitioned by container
id) are delivered in batches, one partition's fetched records at a time, to one
synchronous handler (``processors.faust_batch``: Faust's per-message stream path caps a
worker near 10,000 events/s here). A container's state is read and written by that one
handler, never concurrently, and each batch writes a container's state once. States and
policies live in two plain tables (not windowed: windows are the engine's own, by event
time) in the rocksdict store, changelogged in Kafka record batches
(``processors.faust_changelog``) and recovered when a worker restarts or takes over a
partition; outputs go to the same producer, batched by it. Messages are raw bytes: one
``model_validate_json`` per event in the pipeline, no pickle, no Faust codec. Errors are
handled per event (dead-letter topic), never left to Faust, which would ack and lose the
event. The web server is off.

Usage::

    app = build_app(ProcessorConfig(bootstrap="127.0.0.1:9092", datadir=Path("/var/lib/x")))
    run_worker(app)     # blocks until SIGTERM/SIGINT

Topics must exist first (``sandguard.bus.ensure_topics``): a topic that Kafka creates
on first use gets the broker's default partition count and breaks co-partitioning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
import structlog
from faust.types import TP, ConsumerMessage
from prometheus_client import CollectorRegistry

from processors.exceptions import WorkerError
from processors.faust_batch import BatchingApp
from processors.faust_changelog import ChangelogTable
from processors.metrics import ProcessorMetrics
from processors.pipeline import INPUT_TOPICS, Output, Pipeline
from processors.stores import PolicyStore, StateStore
from schemas import Record, SecurityPolicy, now_ms
from schemas import topics as t
from schemas.bus import decode_key
from schemas.topics import TOPICS

log = structlog.get_logger(__name__)

APP_ID = "sandguard-processor"
# Offsets are committed every second: a crash re-delivers at most ~1 s of events, which
# the state's offsets recognise, so a short interval costs commits, not correctness.
COMMIT_INTERVAL_S = 1.0
# A worker that dies is noticed within 10 s (Faust's default is 60 s): its partitions move
# to the others after at most that, plus one rebalance; heartbeats every 3 s (a third).
SESSION_TIMEOUT_S = 10.0
HEARTBEAT_S = 3.0
# Outputs wait up to 10 ms to share a produce request with others.
PRODUCER_LINGER_S = 0.010
# A Kafka record batch holds up to 512 KiB (Faust's default, 16 KiB, is a dozen states: a
# fetch's changelog records would wait for a dozen round trips per partition). Kafka
# refuses batches over a topic's max.message.bytes, 1 MiB by default.
PRODUCER_BATCH_BYTES = 512 * 1024
# Bytes a fetch brings per partition: 4 MiB is ~12,000 samples, so a fetch round trip
# serves several batches (Faust's 1 MiB default left the worker waiting on the broker a
# third of the time: 33,000 -> 54,000 events/s measured). aiokafka's fetch_max_bytes
# (50 MiB) still bounds a whole fetch.
FETCH_PARTITION_BYTES = 4 * 1024 * 1024
# Records per fetch, all partitions together: at ~30 µs an event a fetch is ~60 ms of work,
# so a revocation waits at most that long for the batch in hand, and a backlog still
# coalesces many events of a container into one state write.
FETCH_MAX_RECORDS = 2000
# Offsets are committed by the timer above. Faust also commits inline every N acks (default
# 10,000), and that commit stalls the fetch loop for a producer flush and a round trip
# (~50 ms measured, a fifth of the time at 40,000 events/s): every 1,000,000 acks only.
COMMIT_EVERY = 1_000_000


@dataclass(frozen=True, slots=True)
class ProcessorConfig:
    bootstrap: str = "127.0.0.1:9092"
    namespace: str = ""
    datadir: Path = Path("/var/lib/sandguard/processor")
    default_policy: SecurityPolicy = field(default_factory=SecurityPolicy)
    partitions: int | None = None  # None: as declared in schemas.topics
    app_id: str = APP_ID
    loglevel: str = "warning"
    commit_interval_s: float = COMMIT_INTERVAL_S
    credentials: Any = None  # Faust's broker_credentials (TLS, SASL); None: plaintext


class ProcessorApp:
    """The Faust app, its pipeline and metrics (what ``run_worker`` runs)."""

    def __init__(self, config: ProcessorConfig, *, registry: CollectorRegistry | None = None,
                 clock: Callable[[], int] | None = now_ms) -> None:  # fmt: skip
        self.config = config
        self.metrics = ProcessorMetrics(registry)
        ns = config.namespace
        parts = config.partitions or TOPICS[t.METRICS].partitions
        self.faust = BatchingApp(
            ns + config.app_id,
            broker=f"kafka://{config.bootstrap}",
            broker_credentials=config.credentials,
            store="rocksdb://",
            datadir=str(config.datadir),
            web_enabled=False,
            key_serializer="raw",
            value_serializer="raw",
            topic_partitions=parts,
            topic_disable_leader=True,
            consumer_auto_offset_reset="earliest",
            broker_commit_interval=config.commit_interval_s,
            producer_acks=-1,
            broker_session_timeout=SESSION_TIMEOUT_S,
            broker_heartbeat_interval=HEARTBEAT_S,
            producer_linger=PRODUCER_LINGER_S,
            broker_max_poll_records=FETCH_MAX_RECORDS,
            producer_max_batch_size=PRODUCER_BATCH_BYTES,
            consumer_max_fetch_size=FETCH_PARTITION_BYTES,
            broker_commit_every=COMMIT_EVERY,
            # Faust's default, relied on: a revocation waits for the batch in flight
            # (processors.faust_batch).
            stream_wait_empty=True,
            autodiscover=False,
        )
        self._tables = [
            ChangelogTable(self.faust.Table(name, key_type=bytes, value_type=bytes, partitions=parts))
            for name in ("states", "policies")
        ]
        self.pipeline = Pipeline(
            states=StateStore(self._tables[0]),
            policies=PolicyStore(self._tables[1], config.default_policy),
            metrics=self.metrics,
            clock=clock,
        )
        self._outputs = {name: ns + name for name in (t.VIOLATIONS, t.ENFORCEMENT, t.DEADLETTER)}
        inputs = [
            self.faust.topic(ns + name, key_type=bytes, value_type=bytes, partitions=parts)
            for name in INPUT_TOPICS
        ]
        self._names = {ns + name: name for name in INPUT_TOPICS}
        self.faust.batch_topics(inputs, self.handle_batch)
        # A backlog (a worker that starts or takes over late) fetches a sandbox's policy
        # with its first samples; judged before it, a flood's one pids event counts
        # against the default threshold under the container's own limits, and nothing
        # follows once the policy arrives (the flaky SASL_SSL round trip).
        self.faust.deliver_first([ns + t.POLICIES])

        async def on_assigned(sender: Any, assigned: Any, **_: Any) -> None:
            """Each assignment replaces the last: the gauge is what this worker owns now.
            Partitions that come back were written by another worker meanwhile (and are
            recovered before processing resumes): the cached states and policies go."""
            self.pipeline.invalidate()
            inputs = sum(1 for tp in assigned if tp.topic in self._names)
            self.metrics.assigned.set(inputs)
            log.info("processor_assigned", input_partitions=inputs, group=self.faust.conf.id)

        self.faust.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]

    async def handle_batch(self, tp: TP, messages: Sequence[ConsumerMessage]) -> None:
        """One partition's fetched messages: processed, then the tables' writes (each
        container's state once) to the changelog partition of ``tp`` and the outputs to
        their topics, in Kafka batches (see ``processors.faust_batch``)."""
        topic = self._names[tp.topic]
        records = [
            Record(topic, m.partition, m.offset, decode_key(m.key), m.value, int(m.timestamp * 1000))
            for m in messages
        ]
        with self.faust.in_partition(messages[-1]):
            outs = self.pipeline.handle_batch(records)
        producer = self.faust.kafka_producer()
        for table in self._tables:
            await table.send(producer, tp.partition, self.faust.changelog_failed)
        for out in outs:
            await self._send(producer, out)

    async def _send(self, producer: Any, out: Output) -> None:
        def done(fut: Any) -> None:
            exc = None if fut.cancelled() else fut.exception()
            if exc is None and not fut.cancelled():
                self.pipeline.delivered((out.id,))
                return
            self.metrics.errors.labels("send").inc()
            self.pipeline.undelivered((out.id,))
            log.error("send_failed", topic=out.topic, error=str(exc))

        sent = await producer.send(self._outputs[out.topic], out.value, key=out.key.encode())
        sent.add_done_callback(done)
        self.metrics.out_by_topic[out.topic].inc()


def build_app(
    config: ProcessorConfig,
    *,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], int] | None = now_ms,
) -> ProcessorApp:
    try:
        config.datadir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkerError(
            config.namespace + config.app_id, f"data directory {config.datadir}: {exc}"
        ) from exc
    return ProcessorApp(config, registry=registry, clock=clock)


def run_worker(app: ProcessorApp) -> None:
    """Builds a Faust worker for ``app`` and runs it until a signal stops it (blocks)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    worker = faust.Worker(app.faust, loglevel=app.config.loglevel, loop=loop, quiet=True)
    # Faust's terminal spinner sets the root logger to DEBUG (faust/worker.py
    # _setup_spinner_handler) whatever the level asked: every debug call of aiokafka and
    # Faust then builds a LogRecord (~2 per event in a profile). No spinner, no DEBUG.
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise WorkerError(app.faust.conf.id, f"worker exited with {exc.code}") from exc
