"""The engine's events for this manager's containers (die, oom, pause, unpause, destroy).

They tell the manager at once that a sandbox stopped (its lifetime ended, the enforcer
or someone else killed it) or was paused, so operations are refused with the reason
without a failed round trip first. On a broken stream it reconnects from the time of
the last event seen, so nothing in between is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import structlog

from sandbox.engine_http import EngineError, EngineHTTP
from sandbox.exceptions import DockerUnavailable
from sandbox.metrics import ManagerMetrics

log = structlog.get_logger(__name__)

WATCHED = ("die", "oom", "pause", "unpause", "destroy")
RECONNECT_S = 1.0
OPEN_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class ContainerEvent:
    container_id: str
    action: str
    time_ns: int
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int | None:
        code = self.attributes.get("exitCode")
        return int(code) if code is not None and code.lstrip("-").isdigit() else None


def parse_event(line: bytes) -> ContainerEvent | None:
    """One line of the events stream; None for lines that are not container events."""
    try:
        raw: dict[str, Any] = json.loads(line)
    except ValueError:
        return None
    if raw.get("Type") != "container" or not raw.get("id"):
        return None
    actor = raw.get("Actor") or {}
    return ContainerEvent(
        container_id=str(raw["id"]),
        action=str(raw.get("Action") or raw.get("status") or "").split(":", 1)[0],
        time_ns=int(raw.get("timeNano") or int(raw.get("time", 0)) * 1_000_000_000),
        attributes={str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()},
    )


def events_path(label: str, since_ns: int) -> str:
    filters = {"type": ["container"], "label": [label], "event": list(WATCHED)}
    since = f"{since_ns // 1_000_000_000}.{since_ns % 1_000_000_000:09d}"
    return f"/events?since={since}&filters={quote(json.dumps(filters), safe='')}"


class ContainerEvents:
    def __init__(
        self,
        http: EngineHTTP,
        *,
        label: str,
        on_event: Callable[[ContainerEvent], None],
        metrics: ManagerMetrics,
    ) -> None:
        self._http = http
        self._label = label
        self._on_event = on_event
        self._metrics = metrics
        self._opened = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Returns once the stream is open, so no event of a later sandbox is missed."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(time.time_ns()), name="sandbox-engine-events")
        try:
            async with asyncio.timeout(OPEN_TIMEOUT_S):
                await self._opened.wait()
        except TimeoutError as exc:
            raise DockerUnavailable("the engine's event stream did not open") from exc

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, since_ns: int) -> None:
        while True:
            try:
                async for line in self._http.lines(events_path(self._label, since_ns), self._opened.set):
                    event = parse_event(line)
                    if event is None:
                        continue
                    since_ns = max(since_ns, event.time_ns)
                    self._metrics.events_in.labels("engine").inc()
                    self._dispatch(event)
            except asyncio.CancelledError:
                raise
            except (EngineError, DockerUnavailable, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                self._metrics.errors.labels("engine_events").inc()
                log.warning("engine_events_reconnecting", error=repr(exc))
            await asyncio.sleep(RECONNECT_S)

    def _dispatch(self, event: ContainerEvent) -> None:
        try:
            self._on_event(event)
        except Exception as exc:
            self._metrics.errors.labels("engine_event_handler").inc()
            log.exception(
                "engine_event_handler_failed",
                action=event.action,
                container_id=event.container_id,
                error=repr(exc),
            )
