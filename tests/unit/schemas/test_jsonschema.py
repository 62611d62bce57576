"""The exported JSON Schemas are up to date and describe what goes on the wire."""

from __future__ import annotations

import json

import jsonschema
import orjson

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
