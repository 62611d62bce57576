"""The bus interface: what every component publishes to and consumes from.

Two implementations live in ``sandguard.bus`` (Kafka and in-process) with the same
semantics, so a component never knows which one it was given:

* ``publish`` waits for room in a bounded buffer (back-pressure), not for delivery;
  ``flush`` waits for delivery of everything published so far.
* Order is kept per key (container id) within a topic.
* A consumer in a group gets each record until it is committed; ``commit`` marks
  everything returned by ``getmany`` so far as done, so call it after the work.
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


@runtime_checkable
class Consumer(Protocol):
    async def getmany(self, *, timeout_ms: int = 1000, max_records: int = 500) -> list[Record]:
        """Next records of the subscribed topics; an empty list after timeout_ms."""
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
