"""The one follower of a Docker engine's events stream, for every component that follows it.

The stream breaks (the engine restarts, a proxy cuts it, a test cuts it on purpose). The
follower reopens it from the time of the last event seen plus one nanosecond, so nothing
in between is missed and nothing is handed over twice; waits between attempts follow
common.retry's DEPENDENCY policy and are logged the one way. ``on_reopen`` tells the
caller that a stream was reopened (the collectors then list the engine again, in case it
dropped events while no one listened). Events come from a ``source``: the components
pass ``aiodocker_events`` (aiodocker, the one streaming client, see bench/docker_client.py)
or, in unit tests, any async iterator.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import aiodocker
import structlog

from common.retry import DEPENDENCY, Backoff, RetryPolicy, log_recovered, pause
from common.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

Event = dict[str, Any]
# since ("seconds.nanoseconds") -> the events from then on, until the stream ends.
DockerEventSource = Callable[[str], AsyncIterator[Event]]
NS = 1_000_000_000


def since_param(ns: int) -> str:
    """The engine's ``since`` for a time in nanoseconds."""
    return f"{ns // NS}.{ns % NS:09d}"


def event_time_ns(event: Mapping[str, Any]) -> int:
    """When the engine saw it (``timeNano``, else ``time`` in seconds)."""
    ns = event.get("timeNano")
    return int(ns) if ns else int(event.get("time", 0)) * NS


def streaming_url(api: Any) -> str | None:
    """aiodocker's address for the engine a Docker SDK APIClient talks to: its tcp address
    or its unix socket (the adapter's public ``socket_path``); None when neither is known
    (then aiodocker takes the environment's: DOCKER_HOST or the local socket)."""
    base = str(api.base_url)
    if base.startswith("http://"):
        return "tcp://" + base.removeprefix("http://")
    socket_path = getattr(api.get_adapter(base), "socket_path", None)
    return f"unix://{socket_path}" if socket_path else None


async def aiodocker_events(
    client: aiodocker.Docker, since: str, filters: Mapping[str, Sequence[str]]
) -> AsyncIterator[Event]:
    """The events of one stream opened on ``client``, until it ends (or an error is raised)."""
    # aiodocker's events API is untyped.
    subscriber = client.events.subscribe(  # type: ignore[no-untyped-call]
        create_task=True, since=since, filters=json.dumps({k: list(v) for k, v in filters.items()})
    )
    try:
        while (event := await subscriber.get()) is not None:
            yield event
    finally:
        await client.events.stop()  # type: ignore[no-untyped-call] # raises what broke the stream


def _ignore(*args: Any) -> None:
    """The default of the optional callbacks."""


@dataclass(eq=False)
class EventFollower:
    """Hands each event to ``on_event`` (on the event loop) until stopped; reopens broken
    streams from ``since_ns`` on (now by default). ``on_error(kind)`` counts a broken stream
    ("stream") or a failed handler ("handler"); neither stops the follower."""

    source: DockerEventSource
    _: KW_ONLY
    name: str
    on_event: Callable[[Event], None]
    on_error: Callable[[str], None] = _ignore
    on_reopen: Callable[[], None] = _ignore
    since_ns: int = field(default_factory=time.time_ns)
    policy: RetryPolicy = DEPENDENCY
    reconnects: int = field(default=0, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _stream: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"{self.name}-events")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def break_stream(self) -> None:
        """Cuts the current stream, as a dropped connection would (it is reopened)."""
        if self._stream is not None:
            self._stream.cancel()

    async def _run(self) -> None:
        backoff = Backoff(self.policy)
        while True:
            self._stream = asyncio.create_task(self._follow(backoff))
            try:
                await self._stream
                error: BaseException = ConnectionError("the engine ended the events stream")
            except asyncio.CancelledError:
                if self._task is None or self._task.cancelling():
                    self._stream.cancel()
                    raise
                error = ConnectionError("the events stream was cut")
            except Exception as exc:  # any stream failure: counted, logged, reopened
                error = exc
            self.on_error("stream")
            await pause(log, "docker_events_broken", backoff, error, follower=self.name)
            self.reconnects += 1

    async def _follow(self, backoff: Backoff) -> None:
        events = self.source(since_param(self.since_ns))
        if self.reconnects:
            self.on_reopen()
        async for event in events:
            log_recovered(log, "docker_events_recovered", backoff, follower=self.name)
            self.since_ns = max(self.since_ns, event_time_ns(event) + 1)
            self._dispatch(event)

    def _dispatch(self, event: Event) -> None:
        try:
            self.on_event(event)
        except Exception as exc:
            self.on_error("handler")
            log.exception("docker_event_handler_failed", follower=self.name, error=repr(exc))
