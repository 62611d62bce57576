"""Batched delivery for the Faust worker: each fetched partition's records in one call.

Why: Faust hands every message to its streams one at a time. Its fetch loop
(``faust/transport/consumer.py`` ``Consumer._drain_messages``, line 1170) awaits
``self.wait_first(callback(message), self.suspend_flow.wait())`` per message (line
1220), and ``mode.Service.wait_first`` (``mode/services.py`` line 766) wraps that in four
``asyncio`` tasks plus an ``asyncio.wait``; the stream iterator then yields to the loop
once more per event (``faust/_cython/streams.pyx`` line 96, ``await sleep(0)``). A Faust
agent that does nothing tops out near 10,600 events/s on this machine;
``Stream.take_events`` batches only after that path, so it is slower still (8,900/s
measured), and it cannot write tables (faust-streaming#497: no current event inside
``take``). ``isolated_partitions`` agents keep the per-message path and crash on
reassignment with more than one worker (faust-streaming#529, the assertion in
``Conductor._update_tp_index``). Batching has to happen before the streams.

What: ``BatchingConsumer`` replaces only that fetch loop. For the topics registered with
``BatchingApp.batch_topics`` it gives each partition's fetched records, in offset order,
to one handler call, then acks them; records of every other topic (the tables'
changelogs during recovery and on standbys) take Faust's own per-message path,
unchanged. Group membership, the table-aware assignor, tables and their changelog
topics, recovery, standbys, offset commits and the producer are Faust's. One coroutine
(the fetch loop) runs every handler call, one partition batch at a time: a container's
state is never read or written by two actors (the ``concurrency>1`` trap).

Why it is correct (faust-streaming 0.15.3, pinned ``<0.16`` in pyproject.toml):

* Same checks as Faust's fetch loop, per batch instead of per message. Records come from
  ``Consumer._wait_next_records`` (consumer.py 776), which fetches only the active
  (assigned, not paused, e.g. not in recovery) partitions. As ``Consumer.getmany``
  (consumer.py 693-775) does, a batch is dropped unprocessed and unacked when flow is
  stopped (a rebalance began: ``App._on_partitions_revoked`` calls ``stop_flow``,
  app/base.py 1811) or the generation changed, and when flow is not active we seek back
  to the committed offsets (``perform_seek``). Offsets below the read offset are skipped
  and gaps (the compacted policies topic) are recorded with ``_add_gap`` as at
  consumer.py 1215, so commits advance past them.
* Nothing is acked before it is processed and its writes are queued in the producer.
  The handler processes the batch, writes the tables (each container's state once) and
  queues their changelog records and the outputs in the aiokafka producer; only then
  are the batch's messages acked (``Consumer.ack``, consumer.py 825). Every ack is of a
  whole batch, in offset order, so no unacked message ever sits below an acked one (the
  commit-past-an-in-flight-message case of faust-streaming#606). Offsets are committed
  from the acked prefix only (``_new_offset``, consumer.py 1097) and after
  ``producer.flush()`` (consumer.py 1073): a committed offset implies its state's
  changelog record and its outputs reached Kafka.
* No rebalance in the middle of a batch. The batch's messages are registered as in
  flight before the handler runs (``Consumer._unacked_messages``, as a stream does at
  streams.py 1304). A revocation runs ``wait_empty`` (consumer.py 867, from
  app/base.py 1829; ``stream_wait_empty`` is on), which waits for those acks, then
  commits; Kafka's eager protocol gives the partition to another worker only after that.
  So a batch's writes all land before the new owner starts recovering its changelog.
* The right partition. The RocksDB store (stores/rocksdb.py 474 ``_set``, 495 ``_get``)
  and ``Collection.partition_for_key`` (tables/base.py 305) take the partition from
  ``faust.streams.current_event()`` (streams.py 80). The handler runs under an Event of
  the batch's own partition (``BatchingApp.in_partition``), so its table reads and
  writes use that partition's database, and ``processors.faust_changelog`` sends the
  batch's changelog records to that same partition number.
* A crash in the middle of a batch (SIGKILL) leaves its offsets uncommitted: the batch
  is delivered again. Part of its changelog records and outputs may have reached Kafka;
  the pipeline's per-container offset guard skips what a saved state already absorbed,
  its outbox re-sends what was not confirmed, and the engine derives identical ids for
  the rest (``processors.pipeline``). Recovery restores the tables from the changelog
  before the partition resumes (tables/recovery.py 306 ``_resume_streams``, which then
  seeks to the committed offsets).
* A changelog batch Kafka finally refuses stops the worker and no commit happens after
  it (``BatchingConsumer.fail``): the store would be ahead of its changelog.

Every private member of faust, mode and aiokafka used here is behind
``processors.faust_internals`` (the fence), each one listed there with why, and checked
against the installed versions by a test.

Faust's livelock detector reads ``Monitor.stream_inbound_time`` (drivers/aiokafka.py
859), which streams set per event; batches set it per partition batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from time import monotonic
from typing import Any, cast

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, ConsumerMessage

from processors.faust_internals import FencedConsumer, aiokafka_producer, current_event

# The handler of one partition's batch; never raises for a bad message.
BatchHandler = Callable[[TP, Sequence[ConsumerMessage]], Awaitable[None]]


class BatchingConsumer(FencedConsumer):
    """Faust's aiokafka consumer with a fetch loop that delivers registered topics in batches."""

    failure: BaseException | None = None

    async def drain_once(self, records: Any, active: set[TP] | None) -> None:
        await self.sleep(0)
        if not records or self.should_stop:
            return
        if not self.flow_active:  # as Consumer.getmany: seek back, the records come again
            await self.perform_seek()
            return
        # Taken after the fetch, as Consumer.getmany does: a fetch that returns after a
        # rebalance's seek is of the new generation. Should records fetched before a
        # rebalance be processed after it, they are still in order for the partitions kept
        # (the seek's re-fetch of them is then skipped by the read offsets) and dropped for
        # the others (``_owned``).
        generation = self.app.consumer_generation_id
        for tp, recs in cast(BatchingApp, self.app).in_delivery_order(records):
            if not self._current(generation):
                return
            if self._owned(tp, active):
                await self._deliver(tp, recs, generation)

    def _owned(self, tp: TP, active: set[TP] | None) -> bool:
        """Fetched from an active partition (as getmany checks), and still assigned and not
        paused now (the fetch may predate a rebalance)."""
        buffered = self.partitions_buffered()
        if active is not None and tp not in active and tp not in buffered:
            return False
        return tp in self.partitions_active() or tp in buffered

    def _current(self, generation: int) -> bool:
        return bool(self.flow_active) and self.app.consumer_generation_id == generation

    async def _deliver(self, tp: TP, records: Sequence[Any], generation: int) -> None:
        messages = await self._fresh(tp, records)
        if not messages:
            return
        await self.commit_if_due()
        if not self._current(generation):
            return
        handler = cast(BatchingApp, self.app).batch_handler(tp.topic)
        if handler is None:
            await self._one_by_one(messages)
        else:
            await self._batch(tp, messages, handler)
        self.mark_read(tp, messages[-1].offset)

    async def _fresh(self, tp: TP, records: Sequence[Any]) -> list[ConsumerMessage]:
        """The records not read yet, as messages; gaps in the offsets recorded (consumer.py 1215)."""
        read = self.offset_read(tp)
        acks = self.app.topics.acks_enabled_for(tp.topic)
        out: list[ConsumerMessage] = []
        to_message = self.as_message
        for rec in records:
            offset = rec.offset
            if read is not None and offset < read:
                continue
            if read and offset - read > 1 and acks:
                await self.record_gap(tp, read + 1, offset)
            read = offset
            out.append(to_message(tp, rec))
        return out

    async def _one_by_one(self, messages: Iterable[ConsumerMessage]) -> None:
        """Faust's own path, message by message (consumer.py 1220)."""
        for message in messages:
            await self.wait_first(self.callback(message), self.suspend_flow.wait())
            self.mark_read(message.tp, message.offset)

    async def _batch(self, tp: TP, messages: Sequence[ConsumerMessage], handler: BatchHandler) -> None:
        if self.failure is not None:
            raise self.failure
        monitor = self.app.monitor
        monitor.track_tp_end_offset(tp, self.highwater(tp))
        monitor.stream_inbound_time[tp] = monotonic()
        monitor.tp_read_offsets[tp] = messages[-1].offset
        # In flight, as a stream's events are (streams.py 1304): a revocation's wait_empty
        # waits for their acks, so it cannot pass a batch whose writes are still going out.
        self.hold_in_flight(messages)
        await handler(tp, messages)
        if self.failure is not None:
            raise self.failure
        ack = self.ack
        for message in messages:
            ack(message)

    def fail(self, exc: BaseException) -> None:
        """A changelog write was refused: no commit from now on, and the worker stops (what
        was acked since the last commit is delivered again to whoever takes over)."""
        if self.failure is None:
            self.failure = exc
            self.log.error("Changelog write failed, stopping: %r", exc)
            self.app.loop.create_task(self.crash(exc))

    async def force_commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        if self.failure is not None:
            self.log.error("Not committing after a failed changelog write: %r", self.failure)
            return False
        return bool(await super().force_commit(topics, start_new_transaction))


class BatchingTransport(aiokafka_driver.Transport):
    Consumer = BatchingConsumer


class BatchingApp(faust.App):
    """A Faust app whose consumer delivers the topics given to ``batch_topics`` in batches."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batch_handlers: dict[str, BatchHandler] = {}
        self._batch_channels: list[Any] = []
        self._first: frozenset[str] = frozenset()
        # The public setter, not an override of App._new_transport: the transport resolves
        # its event loop lazily (faust/transport/base.py), so building it here binds nothing.
        self.transport = BatchingTransport(self.conf.broker_consumer, self)

    def batch_topics(self, topics: Iterable[Any], handler: BatchHandler) -> None:
        """Routes the batches of ``topics`` (Faust topics) to ``handler``; subscribed at start."""
        for topic in topics:
            for name in topic.topics:
                self._batch_handlers[name] = handler
            self._batch_channels.append(topic)

    def batch_handler(self, topic: str) -> BatchHandler | None:
        return self._batch_handlers.get(topic)

    def deliver_first(self, topics: Iterable[str]) -> None:
        """The partitions of ``topics`` go first in every fetch (the context the others'
        records need, e.g. the policies a backlog of samples must be judged by)."""
        self._first = frozenset(topics)

    def in_delivery_order(self, records: Mapping[TP, Any]) -> list[tuple[TP, Any]]:
        """A fetch's partitions, those of ``deliver_first`` first, otherwise as fetched
        (sorted is stable). Kafka orders records within a partition only: a fetch that
        holds a sandbox's policy and its first samples may list the samples first."""
        return sorted(records.items(), key=lambda item: item[0].topic not in self._first)

    async def on_first_start(self) -> None:
        await super().on_first_start()
        # Not at construction: the Conductor is a service bound to the event loop current
        # when it is first built, which must be the worker's (as when agents subscribe).
        for topic in self._batch_channels:
            self.topics.add(topic)

    @contextmanager
    def in_partition(self, message: ConsumerMessage) -> Iterator[None]:
        """Table reads and writes inside go to ``message``'s partition (see the module doc)."""
        event = self.create_event(message.key, message.value, message.headers, message)
        with current_event(event):
            yield

    def kafka_producer(self) -> Any:
        """The aiokafka producer under Faust's: record batches go to it directly, and Faust
        flushes it before every commit."""
        return aiokafka_producer(self.producer)

    def changelog_failed(self, exc: BaseException) -> None:
        cast(BatchingConsumer, self.consumer).fail(exc)
