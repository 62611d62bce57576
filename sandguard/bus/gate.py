"""A bus whose producers wait until the real bus is up, instead of failing meanwhile.

The collector starts sampling at once and connects to Kafka in the background; through
this gate its publisher simply waits (its own bounded buffer absorbing and counting what
it must drop) until ``open()``, so nothing is published before the bus is started and no
BusNotStartedError is logged at every start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from schemas.bus import Bus, Consumer


class StartGate:
    """``schemas.Bus`` over ``bus``: publish and flush wait for ``open()``."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._open = asyncio.Event()

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    def open(self) -> None:
        """The wrapped bus is started: waiting producers go on."""
        self._open.set()

    async def start(self) -> None:
        await self.bus.start()
        self.open()

    async def stop(self) -> None:
        self._open.clear()
        await self.bus.stop()

    async def publish(self, topic: str, key: str | None, value: bytes | None) -> None:
        await self._open.wait()
        await self.bus.publish(topic, key, value)

    async def flush(self) -> None:
        await self._open.wait()
        await self.bus.flush()

    async def consumer(self, topics: Sequence[str], *, group: str, from_beginning: bool = True) -> Consumer:
        await self._open.wait()
        return await self.bus.consumer(topics, group=group, from_beginning=from_beginning)
