"""Bytes on the wire <-> event models, one way for every component.

Values are UTF-8 JSON. Violations travel as OCSF Detection Findings (schemas.ocsf);
every other topic carries the pydantic model's JSON. Decoding validates once, so
downstream code on the hot path works on trusted models.

Decoding is strict about identity: every event on the wire carries its ``event_id``
(producers get one by default when they build the model). A message without one is an
EventDecodeError, so it goes to the dead-letter topic with the reason, instead of getting
a fresh uuid4 at every decode, which would make each replay a new event.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

import orjson
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from schemas import topics as t
from schemas.events import (
    ActionResult,
    AuditEvent,
    DeadLetter,
    EnforcementCommand,
    LimitsSample,
    MetricSample,
    PolicyEvent,
    ProcessSnapshot,
    Violation,
)
from schemas.exceptions import EventDecodeError
from schemas.kernel import KernelEventUnion
from schemas.ocsf import from_ocsf, to_ocsf
from schemas.policy import WIRE_CONTEXT

MISSING_EVENT_ID = "event_id: Field required (every event on the wire carries its own id)"

MetricsEvent: TypeAlias = Annotated[MetricSample | LimitsSample, Field(discriminator="kind")]

_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    t.METRICS: TypeAdapter(MetricsEvent),
    t.PROCESSES: TypeAdapter(ProcessSnapshot),
    t.AUDIT: TypeAdapter(AuditEvent),
    t.POLICIES: TypeAdapter(PolicyEvent),
    t.ENFORCEMENT: TypeAdapter(EnforcementCommand),
    t.ACTIONS: TypeAdapter(ActionResult),
    t.DEADLETTER: TypeAdapter(DeadLetter),
    t.KERNEL: TypeAdapter(KernelEventUnion),
}


def encode(event: BaseModel) -> bytes:
    """The wire form of an event (OCSF for violations)."""
    if isinstance(event, Violation):
        return orjson.dumps(to_ocsf(event))
    return event.__pydantic_serializer__.to_json(event)


def decode(topic: str, value: bytes | None) -> Any:
    """The event model of a message on ``topic``; None stays None (a tombstone).

    Raises EventDecodeError with the reason when the bytes are not a valid event.
    """
    if value is None:
        return None
    try:
        if topic == t.VIOLATIONS:
            return from_ocsf(orjson.loads(value))
        adapter = _ADAPTERS[topic]
    except KeyError as exc:
        raise EventDecodeError(topic, f"unknown topic or missing field {exc}") from exc
    except (orjson.JSONDecodeError, ValidationError, TypeError, ValueError) as exc:
        raise EventDecodeError(topic, str(exc)) from exc
    try:
        event = adapter.validate_json(value, context=WIRE_CONTEXT)
    except ValidationError as exc:
        raise EventDecodeError(topic, _short(exc)) from exc
    if "event_id" not in event.model_fields_set:  # filled by its default, not by the sender
        raise EventDecodeError(topic, MISSING_EVENT_ID)
    return event


def _short(exc: ValidationError) -> str:
    errs = exc.errors()
    first = errs[0]
    loc = ".".join(str(p) for p in first["loc"])
    more = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
    return f"{loc}: {first['msg']}{more}"


def dead_letter(
    component: str,
    topic: str,
    value: bytes | None,
    error: str,
    *,
    key: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> DeadLetter:
    """Wraps a message that failed so it lands on the dead-letter topic with its reason."""
    raw = "" if value is None else value.decode("utf-8", errors="backslashreplace")
    return DeadLetter(
        component=component,
        source_topic=topic,
        partition=partition,
        offset=offset,
        key=key,
        value=raw,
        error=error,
    )
