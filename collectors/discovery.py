"""Which containers to watch: a listing at start, then the Docker events stream.

The stream is blocking (docker-py), so it is followed in a thread that hands events
to the event loop. When it breaks it is reopened from the time of the last event
seen (so nothing is missed, and a replayed event keeps its id) and a resync (a fresh
listing) is asked for, in case the engine dropped events while we were away.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import structlog

from collectors.docker_port import DockerPort, EventStream
from collectors.lifecycle import ACTIONS, event_time_ns
from collectors.metrics import CollectorMetrics

log = structlog.get_logger(__name__)

# Reconnect backoff: 0.5 s doubling to 10 s.
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0
# The stream opens this long before the first listing, so a container started between
# the two is seen by one or both (handling it twice is harmless).
OVERLAP_S = 1.0

RESYNC: dict[str, Any] = {"Type": "sandguard.resync"}


def _since(ns: int) -> str:
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


class Discovery:
    def __init__(self, docker: DockerPort, *, label: str | None, metrics: CollectorMetrics) -> None:
        self._docker = docker
        self._label = label
        self._metrics = metrics
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._stopping = threading.Event()
        self._stream: EventStream | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._since = _since(time.time_ns() - int(OVERLAP_S * 1e9))
        self.reconnects = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._follow, name="docker-events", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stopping.set()
        self.break_stream()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10)

    def break_stream(self) -> None:
        """Closes the current stream (stop, or a test's way to cut the connection)."""
        _close_quietly(self._stream)

    def _emit(self, item: dict[str, Any]) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop closed under us: the collector is gone
            self._stopping.set()

    def _follow(self) -> None:
        backoff = BACKOFF_FIRST_S
        while not self._stopping.is_set():
            try:
                self._stream = self._docker.events(since=self._since, label=self._label, actions=ACTIONS)
                if self.reconnects:
                    self._emit(RESYNC)
                for ev in self._stream:
                    self._since = _since(event_time_ns(ev) + 1)
                    self._emit(ev)
                    backoff = BACKOFF_FIRST_S
                broken: Exception = ConnectionError("docker events stream ended")
            except Exception as exc:  # any stream failure: counted, logged, reconnected
                broken = exc
            finally:
                self._close_stream()
            if self._stopping.is_set():
                break
            self._metrics.docker_errors.labels("events").inc()
            log.warning(
                "docker_events_broken", error=f"{type(broken).__name__}: {broken}", retry_in_s=backoff
            )
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)
            self.reconnects += 1

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        _close_quietly(stream)


def _close_quietly(stream: Any) -> None:
    """Closes an events stream; one that is half-dead or broken may fail to: nothing to release."""
    if stream is None:
        return
    try:
        stream.close()
    except Exception as exc:
        log.debug("events_close_failed", error=str(exc))
