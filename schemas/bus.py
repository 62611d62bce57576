"""The bus interface: what every component publishes to and consumes from.

Two implementations live in ``sandguard.bus`` (Kafka and in-process) with the same
semantics, so a component never knows which one it was given:

* ``publish`` waits for room in a bounded buffer (back-pressure), not for delivery;
  ``flush`` waits for delivery of everything published so far.
* Order is kept per key (container id) within a topic.
* A consumer in a group gets each record until it is committed; ``commit`` marks
  everything returned by ``getmany`` (or ``getmany_batches``) so far as done, so call
  it after the work.
* ``getmany_batches`` is the bulk consumers' form of ``getmany`` (the sink): the same
  records, per topic partition as parallel lists, with no object per record.
* A ``None`` value is a tombstone (compacted topics: the key was deleted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes | None
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """Records of one topic partition in offset order, as parallel lists of equal length.

    Why lists and not a ``Record`` each: at 200,000 records/s an object per record is
    about a microsecond of Python and keeps the garbage collector busy with objects that
    live as long as a sink's batch. Keys are the wire bytes (decoded by ``key``/``record``
    only where one is needed). Holders of many batches keep only untracked objects.
    """

    topic: str
    partition: int
    offsets: Sequence[int]
    timestamps_ms: Sequence[int]
    keys: Sequence[bytes | None]
    values: Sequence[bytes | None]

    def __len__(self) -> int:
        return len(self.values)

    def key(self, i: int) -> str | None:
        return decode_key(self.keys[i])

    def record(self, i: int) -> Record:
        """The i-th record as a ``Record`` (for the rare one that needs it: a dead letter, a model)."""
        return Record(
            self.topic, self.partition, self.offsets[i], self.key(i), self.values[i], self.timestamps_ms[i]
        )


def decode_key(raw: bytes | None) -> str | None:
    """A message key as text. Not UTF-8 (any producer may write one) becomes U+FFFD marks,
    so the record still reaches its handler or the dead-letter topic instead of failing the poll."""
    return None if raw is None else raw.decode("utf-8", "replace")


def batches_of(records: Sequence[Record]) -> list[RecordBatch]:
    """Records grouped per topic partition (order kept within each): ``getmany_batches`` for a
    consumer that has ``getmany`` only, or a ``RecordBatch`` of records made by hand."""
    groups: dict[tuple[str, int], list[Record]] = {}
    for r in records:
        groups.setdefault((r.topic, r.partition), []).append(r)
    return [_batch(topic, partition, rs) for (topic, partition), rs in groups.items()]


def _batch(topic: str, partition: int, rs: Sequence[Record]) -> RecordBatch:
    keys = [None if r.key is None else r.key.encode() for r in rs]
    return RecordBatch(
        topic, partition, [r.offset for r in rs], [r.timestamp_ms for r in rs], keys, [r.value for r in rs]
    )


@runtime_checkable
class Consumer(Protocol):
    async def getmany(self, *, timeout_ms: int = 1000, max_records: int = 500) -> list[Record]:
        """Next records of the subscribed topics; an empty list after timeout_ms."""
        ...

    async def getmany_batches(self, *, timeout_ms: int = 1000, max_records: int = 500) -> list[RecordBatch]:
        """What ``getmany`` would return, grouped per topic partition (one batch each, in
        offset order); an empty list after timeout_ms."""
        ...

    async def commit(self) -> None:
        """Marks every record returned so far as processed."""
        ...

    async def stop(self) -> None:
        """Commits nothing more and leaves the group."""
        ...


@runtime_checkable
class Bus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Flushes, then closes; consumers made by this bus are stopped."""
        ...

    async def publish(self, topic: str, key: str | None, value: bytes | None) -> None: ...

    async def flush(self) -> None: ...

    async def consumer(self, topics: Sequence[str], *, group: str, from_beginning: bool = True) -> Consumer:
        """A started consumer in ``group``; without a committed offset it starts at the
        beginning of each partition (from_beginning) or at its end."""
        ...
