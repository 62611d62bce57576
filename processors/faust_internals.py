"""The fence: every private member of faust, mode and aiokafka that the Faust worker touches.

Why a fence: ``processors.faust_batch`` (batched delivery) and ``processors.faust_changelog``
(batched changelog writes) buy the worker's throughput (about 48,700 events/s against
2,455 with Faust agents, ``bench/results/processor.json``) by reaching under Faust's
public API. Private members change without notice between releases, so they are all
here, each listed in ``INTERNALS`` with what it is, why it is needed and which public
alternative was rejected, and ``tests/unit/processors/test_faust_internals.py`` checks
every entry (and each method's parameter names) against the installed faust-streaming,
mode-streaming and aiokafka, naming the member and the versions when one changed. Another
test fails if a private member of those packages is used anywhere else. Outside this
module, the worker uses only the public names defined here (``FencedConsumer``,
``current_event``, ``aiokafka_producer``, ``store_*``).

Checked against faust-streaming 0.15.3, mode-streaming 0.7.1, aiokafka 0.14.0.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable, Iterator, Set
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from faust.streams import _current_event
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, ConsumerMessage

# A fetch waits this long for records (Faust's own loop uses 1 s too).
FETCH_TIMEOUT_S = 1.0

# method: a callable looked up on ``owner``, its parameter names pinned; override: the
# same, and we replace it; instance: an attribute Faust sets in ``__init__`` (checked on
# a built consumer); module: a module-level name.
Kind = Literal["method", "override", "instance", "module"]


@dataclass(frozen=True, slots=True)
class Internal:
    """One private member the worker relies on (what, why, and the public way not taken)."""

    owner: str  # "module:Class" or "module"
    name: str
    kind: Kind
    params: tuple[str, ...]  # parameter names of a method, ``self`` included
    what: str
    why: str
    rejected: str


_CONSUMER = "faust.transport.consumer:Consumer"
_SERVICE = "mode.services:Service"

INTERNALS: tuple[Internal, ...] = (
    Internal(_CONSUMER, "_drain_messages", "override", ("self", "fetcher"),
             "Faust's fetch loop: one message at a time into the streams (consumer.py 1170).",
             "Replaced so registered topics arrive one partition batch per handler call: the "
             "per-message path (four asyncio tasks per message in wait_first) caps a worker near "
             "10,600 events/s.",
             "Stream.take_events batches after that same path (8,900/s) and cannot write tables "
             "(faust-streaming#497); isolated_partitions agents crash on reassignment (#529)."),
    Internal(_SERVICE, "_stopped", "instance", (),
             "mode's event set when a service (the consumer, the fetcher) is stopped.",
             "The fetch loop ends when either is stopped, exactly as Faust's own loop does.",
             "Service.should_stop is also true after a crash: a different loop condition."),
    Internal(_CONSUMER, "_wait_next_records", "method", ("self", "timeout"),
             "One fetch of the active partitions (assigned, not paused), waiting for flow.",
             "The fetch Faust's loop makes, with its flow checks (consumer.py 776).",
             "Consumer.getmany yields one message at a time: the per-message path again."),
    Internal(_CONSUMER, "_get_active_partitions", "method", ("self",),
             "The assigned partitions that are not paused (e.g. not in recovery).",
             "A batch fetched before a rebalance is processed only if its partition is still ours.",
             "Consumer.assignment() includes paused partitions (in recovery): unsafe."),
    Internal(_CONSUMER, "_buffered_partitions", "instance", (),
             "Partitions with records already buffered (set in Consumer.__init__).",
             "Faust's getmany treats them as active; the batch path must too.",
             "No public accessor exists."),
    Internal(_CONSUMER, "_read_offset", "instance", (),
             "Per partition, the last offset handed to processing (defaultdict of None).",
             "Skip records read already (a re-fetch after a seek) and advance it per batch.",
             "No public accessor; Monitor.tp_read_offsets is a metric, not the consumer's state."),
    Internal(_CONSUMER, "_commit_every", "instance", (),
             "broker_commit_every, copied at construction.",
             "Faust's loop commits inline every N acks; the batch path keeps that behaviour.",
             "app.conf.broker_commit_every is the same number, but the counter below is private."),
    Internal(_CONSUMER, "_n_acked", "instance", (),
             "Acks since the last inline commit (reset by the fetch loop).",
             "Same inline commit as Faust's loop (consumer.py 1217).",
             "No public counter of acks."),
    Internal(_CONSUMER, "_add_gap", "method", ("self", "tp", "offset_from", "offset_to"),
             "Records a hole in the offsets (a compacted topic) as acked.",
             "Without it commits stop at the first gap of the compacted policies topic.",
             "No public method records gaps."),
    Internal("faust.transport.drivers.aiokafka:Consumer", "_to_message", "method",
             ("self", "tp", "record"),
             "An aiokafka ConsumerRecord as Faust's ConsumerMessage.",
             "Handlers receive Faust messages (ack, tp, offset), as streams do.",
             "Building ConsumerMessage ourselves would copy its field mapping and drift."),
    Internal(_CONSUMER, "_unacked_messages", "instance", (),
             "The weak set of messages in flight; wait_empty waits until it is empty.",
             "A batch is registered in flight before its handler runs, so a revocation waits "
             "for its writes (as streams.py 1304 does per event).",
             "Consumer.track_message also calls the sensors' on_message_in for each message, the "
             "per-message bookkeeping the batch path avoids."),
    Internal("faust.streams", "_current_event", "module", (),
             "The ContextVar behind faust.streams.current_event().",
             "RocksDB reads and writes pick the partition's database from the current event: "
             "the batch handler runs under an event of its own partition.",
             "Running the handler inside a Stream is the per-message path again."),
    Internal("faust.transport.drivers.aiokafka:Producer", "_ensure_producer", "method", ("self",),
             "The started aiokafka producer under Faust's producer.",
             "Changelog records and outputs go to it as aiokafka record batches; Faust flushes "
             "it before every commit.",
             "Producer.send queues one FutureMessage per record (~50 µs each, measured)."),
    Internal("faust.stores.rocksdb:Store", "_get", "method", ("self", "key"),
             "The store's raw read, bytes in and out (rocksdb.py 495; abstract in SerializedStore).",
             "Keys and values are bytes already; the raw codec's encoding costs more than RocksDB.",
             "store[key] goes through SerializedStore's codec for every access."),
    Internal("faust.stores.rocksdb:Store", "_set", "method", ("self", "key", "value"),
             "The store's raw write (rocksdb.py 474), to the current event's partition.",
             "As _get; the changelog record is written in bulk by faust_changelog.",
             "table[key] = value also queues one FutureMessage per write (~50 µs each)."),
    Internal("faust.stores.rocksdb:Store", "_del", "method", ("self", "key"),
             "The store's raw delete (rocksdb.py 543).",
             "As _set (the tombstone goes in the changelog batch).",
             "del table[key] queues one FutureMessage per deletion."),
    Internal("faust.stores.rocksdb:Store", "_contains", "method", ("self", "key"),
             "The store's raw membership test (rocksdb.py 646).",
             "As _get.",
             "key in store goes through the codec."),
)  # fmt: skip


class FencedConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer: its fetch loop hands each fetch to ``drain_once``, and the
    private state that a fetch loop needs is reachable through public names."""

    async def drain_once(self, records: Any, active: set[TP] | None) -> None:
        """One fetch's records (by partition) and the partitions that were active."""
        raise NotImplementedError

    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's loop (consumer.py 1170) with the per-message part replaced by ``drain_once``."""
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                # One fetch at a time: fetching the next batch in the consumer thread while
                # this one is processed was slower on two busy cores (the GIL is shared).
                records, active = await self._wait_next_records(FETCH_TIMEOUT_S)
                await self.drain_once(records, active)
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

    # Read-only views, not copies: asked for every partition batch.
    def partitions_active(self) -> Set[TP]:
        return self._get_active_partitions()

    def partitions_buffered(self) -> Set[TP]:
        return self._buffered_partitions

    def offset_read(self, tp: TP) -> int | None:
        return self._read_offset[tp]

    def mark_read(self, tp: TP, offset: int) -> None:
        self._read_offset[tp] = offset

    async def commit_if_due(self) -> None:
        """Faust's inline commit every ``broker_commit_every`` acks (consumer.py 1217)."""
        every = self._commit_every
        if every is not None and self._n_acked >= every:
            self._n_acked = 0
            await self.commit()

    async def record_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        await self._add_gap(tp, offset_from, offset_to)

    def as_message(self, tp: TP, record: Any) -> ConsumerMessage:
        return self._to_message(tp, record)

    def hold_in_flight(self, messages: Iterable[ConsumerMessage]) -> None:
        """In flight until acked: a revocation's ``wait_empty`` waits for them."""
        add = self._unacked_messages.add
        for message in messages:
            add(message)


@contextmanager
def current_event(event: Any) -> Iterator[None]:
    """``faust.streams.current_event()`` is ``event`` inside (table partitions follow it)."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def aiokafka_producer(producer: Any) -> Any:
    """The aiokafka producer under Faust's (started) ``producer``."""
    return producer._ensure_producer()


def store_get(store: Any, key: bytes) -> bytes | None:
    return store._get(key)  # type: ignore[no-any-return]


def store_set(store: Any, key: bytes, value: bytes) -> None:
    store._set(key, value)


def store_del(store: Any, key: bytes) -> None:
    store._del(key)


def store_contains(store: Any, key: bytes) -> bool:
    return bool(store._contains(key))
