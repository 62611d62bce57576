"""Batched delivery for the Faust worker: each fetched partition's records in one synchronous call.

Why: Faust hands every message to its streams one at a time. Its fetch loop
(``faust/transport/consumer.py`` ``Consumer._drain_messages``, line 1221) awaits
``self.wait_first(callback(message), self.suspend_flow.wait())`` per message, and
``mode.Service.wait_first`` (``mode/services.py`` line 766) wraps that in four
``asyncio`` tasks plus an ``asyncio.wait``; the stream iterator then yields to the loop
once more per event (``faust/_cython/streams.pyx`` ``StreamIterator.next``,
``await sleep(0)``). A Faust agent that does nothing tops out near 10,000 events/s on
this machine; ``Stream.take_events`` batches only after that path, so it is slower
still (measured: 8,900/s). Batching has to happen before it.

What: ``BatchingConsumer`` replaces only that fetch loop. For the topics registered with
``BatchingApp.batch_topics`` it gives each partition's fetched records, in offset order,
to one synchronous handler, then acks them; records of every other topic (the tables'
changelogs during recovery and on standbys) take Faust's own per-message path,
unchanged. Group membership, the table-aware assignor, tables and their changelogs,
recovery, standbys, offset commits and the producer are Faust's.

Why it is correct (faust-streaming 0.15.3, pinned ``<0.16`` in pyproject.toml):

* Same checks as Faust's fetch loop, per batch instead of per message. Records come from
  ``Consumer._wait_next_records`` (consumer.py 776), which fetches only the active
  (assigned, not paused, e.g. not in recovery) partitions. As ``Consumer.getmany``
  (consumer.py 739-768) does, a batch is dropped unprocessed and unacked when flow is
  stopped (a rebalance began: ``App._on_partitions_revoked`` calls ``stop_flow``, base.py
  1811) or the generation changed, and when flow is not active we seek back to the
  committed offsets (``perform_seek``). Offsets below the read offset are skipped and
  gaps (compacted policies topic) are recorded with ``_add_gap`` as in consumer.py
  1212-1219, so commits advance past them.
* Nothing is acked before it is processed and written. The handler is synchronous: it
  reads and writes the tables, queues the outputs and changelog records
  (``send_soon``), and returns; only then are the batch's messages acked
  (``Consumer.ack``, consumer.py 825). Offsets are committed by Faust's commit timer
  from the acked prefix only (``_new_offset``, consumer.py 1097), after
  ``producer.flush()`` (``_commit_offsets``, consumer.py 1070): a committed offset
  implies its state's changelog record and its outputs reached Kafka.
* No rebalance in the middle of a batch. Rebalance callbacks run on this event loop
  (the aiokafka consumer thread hands them over and waits), and a synchronous handler
  never yields, so a revocation waits for the batch, its writes and its acks. Kafka's
  eager protocol assigns a revoked partition to another worker only after this one
  has finished ``on_partitions_revoked``, which commits what was acked
  (``wait_empty``, consumer.py 867, with ``stream_wait_empty`` on).
* The right changelog partition. ``Collection.partition_for_key`` (tables/base.py 305)
  and the RocksDB store (stores/rocksdb.py 474 ``_set``, 495 ``_get``) take the
  partition from ``faust.streams.current_event()`` (streams.py 80). The handler runs
  under an Event of the batch's own partition (``BatchingApp.in_partition``), so every
  table read and write of the batch uses that partition's database and changelog
  partition, exactly as in a stream (and ``_verify_source_topic_partitions`` still
  checks co-partitioning).
* A crash in the middle of a batch (SIGKILL) leaves its offsets uncommitted: the batch
  is delivered again. Part of its state writes may have reached the changelog and part
  of its outputs may have been sent; the pipeline's per-container offset guard skips
  what a saved state already absorbed, its outbox re-sends what was not confirmed, and
  the engine derives identical ids for the rest (``processors.pipeline``). Recovery
  restores the tables from the changelog before the partition resumes
  (tables/recovery.py 306 ``_resume_streams``, which then seeks to the committed
  offsets).

Faust's livelock detector reads ``Monitor.stream_inbound_time`` (drivers/aiokafka.py
859), which streams set per event; batches set it per partition batch.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from time import monotonic
from typing import Any, cast

import faust
from faust.streams import _current_event
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, ConsumerMessage

# The handler of one partition's batch: synchronous, never raises for a bad message.
BatchHandler = Callable[[TP, Sequence[ConsumerMessage]], None]
# A fetch waits this long for records (Faust's own loop uses 1 s too).
FETCH_TIMEOUT_S = 1.0
# Records the producer buffer holds before a batch waits (Faust: 100, one message's worth of
# side effects; a batch queues a changelog record per container plus its outputs): a
# fetch's worth (broker_max_poll_records) when set, else this.
PRODUCER_BUFFER = 2000


class BatchingConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer with a fetch loop that delivers registered topics in batches."""

    batch_handlers: dict[str, BatchHandler]

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - as Faust's
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                await self._drain_once()
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception:
            self.log.exception("Drain messages raised")
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _drain_once(self) -> None:
        records, active = await self._wait_next_records(FETCH_TIMEOUT_S)
        await self.sleep(0)
        if not records or self.should_stop:
            return
        if not self.flow_active:  # as Consumer.getmany: seek back, the records come again
            await self.perform_seek()
            return
        generation = self.app.consumer_generation_id
        for tp, recs in records.items():
            if not self._current(generation):
                return
            if active is None or tp in active or tp in self._buffered_partitions:
                await self._deliver(tp, recs, generation)

    def _current(self, generation: int) -> bool:
        return bool(self.flow_active) and self.app.consumer_generation_id == generation

    async def _deliver(self, tp: TP, records: Sequence[Any], generation: int) -> None:
        messages = await self._fresh(tp, records)
        if not messages:
            return
        commit_every = self._commit_every
        if commit_every is not None and self._n_acked >= commit_every:
            self._n_acked = 0
            await self.commit()
        if not self._current(generation):
            return
        handler = self.batch_handlers.get(tp.topic)
        if handler is None:
            await self._one_by_one(messages)
        else:
            self._batch(tp, messages, handler)
        self._read_offset[tp] = messages[-1].offset
        # Backpressure, as Faust's message handler does per message (conductor.py
        # ``wait_until_producer_ebb``): the batch's changelog records and outputs wait in
        # the producer buffer; past ``max_messages`` the next batch waits for Kafka.
        await self.app.producer.buffer.wait_until_ebb()

    async def _fresh(self, tp: TP, records: Sequence[Any]) -> list[ConsumerMessage]:
        """The records not read yet, as messages; gaps in the offsets recorded (consumer.py 1208)."""
        read = self._read_offset[tp]
        acks = self.app.topics.acks_enabled_for(tp.topic)
        out: list[ConsumerMessage] = []
        to_message = self._to_message
        for rec in records:
            offset = rec.offset
            if read is not None and offset < read:
                continue
            if read and offset - read > 1 and acks:
                await self._add_gap(tp, read + 1, offset)
            read = offset
            out.append(to_message(tp, rec))
        return out

    async def _one_by_one(self, messages: Iterable[ConsumerMessage]) -> None:
        """Faust's own path, message by message (consumer.py 1220)."""
        for message in messages:
            await self.wait_first(self.callback(message), self.suspend_flow.wait())
            self._read_offset[message.tp] = message.offset

    def _batch(self, tp: TP, messages: Sequence[ConsumerMessage], handler: BatchHandler) -> None:
        monitor = self.app.monitor
        monitor.track_tp_end_offset(tp, self.highwater(tp))
        monitor.stream_inbound_time[tp] = monotonic()
        monitor.tp_read_offsets[tp] = messages[-1].offset
        handler(tp, messages)
        ack = self.ack
        for message in messages:
            ack(message)


class BatchingTransport(aiokafka_driver.Transport):
    Consumer = BatchingConsumer


class BatchingApp(faust.App):
    """A Faust app whose consumer delivers the topics given to ``batch_topics`` in batches."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batch_handlers: dict[str, BatchHandler] = {}
        self._batch_channels: list[Any] = []

    def batch_topics(self, topics: Iterable[Any], handler: BatchHandler) -> None:
        """Routes the batches of ``topics`` (Faust topics) to ``handler``; subscribed at start."""
        for topic in topics:
            for name in topic.topics:
                self._batch_handlers[name] = handler
            self._batch_channels.append(topic)

    async def on_first_start(self) -> None:
        await super().on_first_start()
        self.producer.buffer.max_messages = self.conf.broker_max_poll_records or PRODUCER_BUFFER
        # Not at construction: the Conductor is a service bound to the event loop current
        # when it is first built, which must be the worker's (as when agents subscribe).
        for topic in self._batch_channels:
            self.topics.add(topic)

    @contextmanager
    def in_partition(self, message: ConsumerMessage) -> Iterator[None]:
        """Table reads and writes inside go to ``message``'s partition (see the module doc)."""
        event = self.create_event(message.key, message.value, message.headers, message)
        token = _current_event.set(weakref.ref(event))
        try:
            yield
        finally:
            _current_event.reset(token)

    def _new_transport(self) -> Any:
        return BatchingTransport(self.conf.broker_consumer, self)

    def _new_consumer(self) -> Any:
        consumer = cast(BatchingConsumer, super()._new_consumer())
        consumer.batch_handlers = self._batch_handlers
        return consumer
