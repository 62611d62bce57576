"""The exported JSON Schemas are up to date and describe what goes on the wire."""

from __future__ import annotations

import json

import jsonschema
import orjson
import pytest

from schemas import (
    AuditCategory,
    AuditEvent,
    Evidence,
    LimitsSample,
    MetricSample,
    ProcessInfo,
    Severity,
    Violation,
    encode,
    stable_id,
)
from schemas import topics as t
from schemas.jsonschema_export import SCHEMA_DIR, render, topic_schemas
from tests.unit.schemas.violation_shapes import all_shapes, violation


def test_checked_in_schemas_are_up_to_date() -> None:
    """Regenerate with: python -m schemas.jsonschema_export"""
    for name, schema in topic_schemas().items():
        path = SCHEMA_DIR / f"{name}.json"
        assert path.read_text(encoding="utf-8") == render(schema), f"{path} is stale"
    assert sorted(p.stem for p in SCHEMA_DIR.glob("*.json")) == sorted(t.TOPICS)


def _validate(topic: str, wire: bytes) -> None:
    schema = json.loads((SCHEMA_DIR / f"{topic}.json").read_text(encoding="utf-8"))
    jsonschema.validate(orjson.loads(wire), schema)


def test_wire_messages_validate_against_their_schema() -> None:
    _validate(t.METRICS, encode(MetricSample(container_id="c", cpu_percent=3.5)))
    _validate(t.METRICS, encode(LimitsSample(container_id="c", pids_max=10)))
    _validate(t.AUDIT, encode(AuditEvent(container_id="c", category=AuditCategory.FILE, action="read")))
    proc = ProcessInfo(pid=10, ns_pid=3, ppid=1, uid=1000, comm="nc", argv=("nc", "-e", "/bin/sh"))
    v = Violation(
        container_id="c", violation_id=stable_id("c", "process.reverse_shell", "nc", 0),
        rule_id="process.reverse_shell", violation_type="suspicious_activity", severity=Severity.CRITICAL,
        title="Reverse shell", message="nc -e /bin/sh", first_seen=1, last_seen=2, sample_time=2,
        evidence=Evidence(process=proc, samples=({"time": 2, "value": 1},)),
    )  # fmt: skip
    _validate(t.VIOLATIONS, encode(v))
    doc = orjson.loads(encode(v))
    assert (
        doc["evidences"][0]["process"]["pid"] == 10 and doc["evidences"][0]["process"]["namespace_pid"] == 3
    )
    assert (
        doc["finding_info"]["created_time"] == 1 and doc["finding_info"]["modified_time"] == v.detected_time
    )


def test_every_violation_shape_validates_against_our_schema() -> None:
    schema = json.loads((SCHEMA_DIR / f"{t.VIOLATIONS}.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    bad = [
        (name, e.message) for name, v in all_shapes() for e in validator.iter_errors(orjson.loads(encode(v)))
    ]
    assert bad == []


def test_our_schema_types_each_evidence_item() -> None:
    """A command line in a process object without a pid (issue 16) is rejected, as are an
    item of no known kind and a null."""
    schema = json.loads((SCHEMA_DIR / f"{t.VIOLATIONS}.json").read_text(encoding="utf-8"))
    doc = orjson.loads(encode(violation("command.denied")))
    for item in ({"process": {"cmd_line": "rm -rf /"}}, {"thing": 1}, {"file": {"path": None}}, {}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**doc, "evidences": [item]}, schema)
    model = schema["$defs"]["SandguardViolation"]
    jsonschema.validate(violation().model_dump(mode="json"), {**model, "$defs": schema["$defs"]})
