"""The engine's events for this manager's containers (die, oom, pause, unpause, destroy).

They tell the manager at once that a sandbox stopped (its lifetime ended, the enforcer
or someone else killed it) or was paused, so operations are refused with the reason
without a failed round trip first. The stream is followed by common.docker_events (the
one follower: it reopens a broken stream from the last event seen, nothing missed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from common.docker_events import EventFollower, event_time_ns
from sandbox.metrics import ManagerMetrics
from sandbox.port import SandboxEngine

WATCHED = ("die", "oom", "pause", "unpause", "destroy")
_ERRORS = {"stream": "engine_events", "handler": "engine_event_handler"}


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


def parse_event(raw: Mapping[str, Any]) -> ContainerEvent | None:
    """One event of the stream; None for events that are not container events."""
    if raw.get("Type") != "container" or not raw.get("id"):
        return None
    actor = raw.get("Actor") or {}
    return ContainerEvent(
        container_id=str(raw["id"]),
        action=str(raw.get("Action") or raw.get("status") or "").split(":", 1)[0],
        time_ns=event_time_ns(raw),
        attributes={str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()},
    )


def container_events(
    port: SandboxEngine, *, label: str, on_event: Callable[[ContainerEvent], None], metrics: ManagerMetrics
) -> EventFollower:
    """A follower of the events of the containers with ``label``, from now on."""
    filters = {"type": ["container"], "label": [label], "event": list(WATCHED)}

    def handle(raw: dict[str, Any]) -> None:
        event = parse_event(raw)
        if event is not None:
            metrics.events_in.labels("engine").inc()
            on_event(event)

    return EventFollower(
        lambda since: port.events(since, filters),
        name="sandbox-engine",
        on_event=handle,
        on_error=lambda kind: metrics.errors.labels(_ERRORS[kind]).inc(),
    )
