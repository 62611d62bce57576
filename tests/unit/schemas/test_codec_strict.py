"""Strict decoding: an event without its event_id is refused on every topic (a default
uuid4 at decode would make each replay of it a new event)."""

from __future__ import annotations

import orjson
import pytest

from processors.metrics import ProcessorMetrics
from processors.pipeline import Pipeline
from processors.stores import PolicyStore, StateStore
from schemas import (
    ActionOutcome,
    ActionResult,
    AuditCategory,
    AuditEvent,
    EnforcementAction,
    EnforcementCommand,
    EventDecodeError,
    LimitsSample,
    MetricSample,
    ProcessSnapshot,
    Record,
    SecurityPolicy,
    decode,
    encode,
)
from schemas import topics as t
from schemas.codec import MISSING_EVENT_ID

EVENTS = [
    (t.METRICS, MetricSample(container_id="c1")),
    (t.METRICS, LimitsSample(container_id="c1")),
    (t.PROCESSES, ProcessSnapshot(container_id="c1", full=True)),
    (t.AUDIT, AuditEvent(container_id="c1", category=AuditCategory.EXEC, action="exec", actor="x")),
    (t.ENFORCEMENT, EnforcementCommand(container_id="c1", command_id="k", action=EnforcementAction.PAUSE)),
    (t.ACTIONS, ActionResult(container_id="c1", command_id="k", action=EnforcementAction.PAUSE,
                             result=ActionOutcome.APPLIED, command_time=1)),
]  # fmt: skip


def _without_id(raw: bytes) -> bytes:
    return orjson.dumps({k: v for k, v in orjson.loads(raw).items() if k != "event_id"})


@pytest.mark.parametrize(("topic", "event"), EVENTS, ids=[type(e).__name__ for _, e in EVENTS])
def test_an_event_without_its_id_is_refused(topic: str, event: object) -> None:
    raw = encode(event)  # type: ignore[arg-type]
    assert decode(topic, raw).event_id == event.event_id  # type: ignore[attr-defined]
    with pytest.raises(EventDecodeError, match="event_id: Field required"):
        decode(topic, _without_id(raw))


def test_the_processor_dead_letters_it_with_the_reason() -> None:
    p = Pipeline(
        states=StateStore({}), policies=PolicyStore({}, SecurityPolicy()), metrics=ProcessorMetrics()
    )
    raw = _without_id(encode(MetricSample(container_id="c1")))
    (out,) = p.handle(Record(t.METRICS, 0, 7, "c1", raw, 0))
    letter = decode(t.DEADLETTER, out.value)
    assert (out.topic, letter.source_topic, letter.offset) == (t.DEADLETTER, t.METRICS, 7)
    assert letter.error == MISSING_EVENT_ID
