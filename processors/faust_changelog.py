"""A Faust table written in batches: the local store at once, the changelog in Kafka batches.

A Faust table write (``table[key] = value``) goes through ``Collection.on_key_set``, which
queues one ``FutureMessage`` per write in Faust's producer buffer; a background task then
publishes them one at a time (``faust/transport/producer.py`` ``_handle_pending``,
``faust/topics.py`` ``publish_message``), and waiting for that buffer to drain
(``wait_until_ebb``, and ``flush`` before every commit) costs an ``asyncio.wait_for`` per
message. Measured: ~50 µs a write, the largest cost of a worker when each event touches
another container.

``ChangelogTable`` does what ``on_key_set`` and ``on_key_del`` do, in bulk: the value goes
to the table's store (RocksDB, the partition of ``faust.streams.current_event()`` as in
``Store._set``), the record is kept in order, and ``send`` ships the records of a batch
to the table's changelog partition as aiokafka record batches (``create_batch`` /
``send_batch``), then records the last offset written as the store's persisted offset,
as ``Collection._on_changelog_sent`` does, so recovery reads only what came after.

Every write of a table goes through here, deletions included (as tombstones), so the
changelog keeps the order of the writes. Faust's commit flushes the aiokafka producer
before it commits offsets (``Consumer._commit_offsets``), which covers these batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from faust.types import TP

from processors.faust_internals import store_contains, store_del, store_get, store_set

# Told when Kafka finally refuses a changelog batch.
OnError = Callable[[BaseException], None]


class ChangelogTable(MutableMapping[str, bytes]):
    """A Faust table (bytes keys and values) as a str-keyed mapping with batched changelog."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self._pending: list[tuple[bytes, bytes | None]] = []

    @property
    def store(self) -> Any:
        # Looked up when used, not kept: Faust builds the store on first access, bound to
        # the event loop current then, which must be the worker's.
        return self.table.data

    # The store's own primitives (``store_get`` and friends, behind the fence of
    # ``processors.faust_internals``; ``SerializedStore.__getitem__`` calls them after
    # encoding): keys and values here are bytes already, and the raw codec's encoding
    # costs more than the RocksDB call itself.

    def __getitem__(self, key: str) -> bytes:
        value = store_get(self.store, key.encode())
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = store_get(self.store, key.encode())
        return default if value is None else value

    def __setitem__(self, key: str, value: bytes) -> None:
        raw = key.encode()
        store_set(self.store, raw, value)
        self._pending.append((raw, value))

    def __delitem__(self, key: str) -> None:
        raw = key.encode()
        store_del(self.store, raw)
        self._pending.append((raw, None))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and store_contains(self.store, key.encode())

    def __iter__(self) -> Iterator[str]:
        return (k.decode() for k in self.table)

    def __len__(self) -> int:
        return len(self.table)

    async def send(self, producer: Any, partition: int, on_error: OnError) -> None:
        """Ships the writes made since the last call, in order, to changelog ``partition``.

        ``producer`` is the aiokafka producer; ``send_batch`` waits while the partition
        still has a batch queued (aiokafka's own backpressure). A batch that Kafka finally
        refuses goes to ``on_error``: the store is ahead of its changelog, so the worker
        must stop before it commits offsets past those writes."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        topic = self.table.changelog_topic.get_topic_name()
        batch = producer.create_batch()
        for key, value in pending:
            if batch.append(key=key, value=value, timestamp=None) is None:  # full
                await self._ship(producer, batch, TP(topic, partition), on_error)
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)  # an empty batch takes any
        await self._ship(producer, batch, TP(topic, partition), on_error)

    async def _ship(self, producer: Any, batch: Any, tp: TP, on_error: OnError) -> None:
        count = batch.record_count()
        sent = await producer.send_batch(batch, tp.topic, partition=tp.partition)

        def persisted(fut: Any) -> None:
            if fut.cancelled():
                return
            exc = fut.exception()
            if exc is not None:
                on_error(exc)
                return
            self.store.set_persisted_offset(tp, fut.result().offset + count - 1)

        sent.add_done_callback(persisted)
