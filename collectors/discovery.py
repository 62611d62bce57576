"""Which containers to watch: a listing at start, then the Docker events stream.

The stream is followed by common.docker_events (the one follower, shared with the
sandbox package): when it breaks it is reopened from the time of the last event seen (so
nothing is missed, and a replayed event keeps its id) and a resync (a fresh listing) is
asked for, in case the engine dropped events while we were away.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from collectors.docker_port import ContainerLister
from collectors.lifecycle import ACTIONS
from collectors.metrics import CollectorMetrics
from common.docker_events import EventFollower

# The stream opens this long before the first listing, so a container started between
# the two is seen by one or both (handling it twice is harmless).
OVERLAP_S = 1.0

RESYNC: dict[str, Any] = {"Type": "sandguard.resync"}


class Discovery:
    def __init__(self, docker: ContainerLister, *, label: str | None, metrics: CollectorMetrics) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._follower = EventFollower(
            lambda since: docker.events(since=since, label=label, actions=ACTIONS),
            name="collector",
            on_event=self.queue.put_nowait,
            on_error=lambda kind: metrics.docker_errors.labels("events").inc(),
            on_reopen=lambda: self.queue.put_nowait(RESYNC),
            since_ns=time.time_ns() - int(OVERLAP_S * 1e9),
        )

    @property
    def reconnects(self) -> int:
        return self._follower.reconnects

    def start(self) -> None:
        self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()

    def break_stream(self) -> None:
        """Cuts the current stream (a test's way to drop the connection); it is reopened."""
        self._follower.break_stream()
