"""Violations as OCSF 1.8 Detection Findings (class 2004) with the Security Control profile.

A SIEM that speaks OCSF reads ``sandguard.violations`` with no custom parser
(docs/siem.md). Our own fields that OCSF has no place for go under
``unmapped.sandguard``; ``from_ocsf`` reads a finding back into the model, losslessly.
"""

from __future__ import annotations

from typing import Any

from schemas.events import Disposition, Evidence, Violation, ViolationActivity
from schemas.violations import Severity

OCSF_VERSION = "1.8.0"
PRODUCT = {"name": "sandguard", "vendor_name": "sandguard", "version": "0.1.0"}
CLASS_UID = 2004
CATEGORY_UID = 2

_ACTIVITY_ID = {ViolationActivity.CREATE: 1, ViolationActivity.UPDATE: 2, ViolationActivity.CLOSE: 3}
_ACTIVITY = {v: k for k, v in _ACTIVITY_ID.items()}
_DISPOSITION_ID = {
    Disposition.TERMINATED: 2,  # Blocked
    Disposition.PAUSED: 4,  # Isolated
    Disposition.THROTTLED: 14,  # Delayed
    Disposition.DETECTED: 15,  # Detected
}
_DISPOSITION = {v: k for k, v in _DISPOSITION_ID.items()}
_DISPOSITION_NAME = {2: "Blocked", 4: "Isolated", 14: "Delayed", 15: "Detected"}
_SEVERITY = {s.ocsf_id: s for s in Severity}


def _labels(labels: dict[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in sorted(labels.items())]


def _container(v: Violation) -> dict[str, Any]:
    name, _, tag = v.image.partition(":")
    return {
        "uid": v.container_id,
        "name": v.container_name,
        "image": {"name": name, "tag": tag or "latest", "uid": v.image},
        "runtime": "docker",
        "labels": _labels(v.labels),
    }


def _evidences(e: Evidence) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if e.process is not None:
        p = e.process
        proc: dict[str, Any] = {
            "pid": p.pid, "name": p.comm, "path": p.exe, "cmd_line": " ".join(p.argv),
            "user": {"uid": str(p.uid)}, "created_time": p.start_time,
        }  # fmt: skip
        if p.ns_pid is not None:
            proc["namespace_pid"] = p.ns_pid  # the pid inside the container
        out.append({"process": proc})
    if e.command is not None:
        out.append({"process": {"cmd_line": e.command}})
    if e.path is not None:
        out.append({"file": {"path": e.path, "name": e.path.rsplit("/", 1)[-1], "type_id": 1}})
    if e.samples:
        out.append({"data": {"samples": list(e.samples)}})
    return out


def to_ocsf(v: Violation) -> dict[str, Any]:
    activity_id = _ACTIVITY_ID[v.activity]
    disposition_id = _DISPOSITION_ID[v.disposition]
    return {
        "activity_id": activity_id,
        "activity_name": v.activity.value.capitalize(),
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "type_uid": CLASS_UID * 100 + activity_id,
        "severity_id": v.severity.ocsf_id,
        "severity": v.severity.value.capitalize(),
        "time": v.detected_time,
        "start_time": v.first_seen,
        "end_time": v.last_seen,
        "count": v.count,
        "message": v.message,
        "status_id": 1,
        "status": "New",
        "is_alert": True,
        "action_id": 3 if v.disposition is Disposition.DETECTED or v.mode == "audit" else 2,
        "action": "Observed" if v.disposition is Disposition.DETECTED or v.mode == "audit" else "Denied",
        "disposition_id": disposition_id,
        "disposition": _DISPOSITION_NAME[disposition_id],
        "metadata": {"product": PRODUCT, "version": OCSF_VERSION, "uid": v.event_id,
                     "profiles": ["security_control", "container"]},
        "finding_info": {
            "uid": v.violation_id,
            "title": v.title,
            "desc": v.message,
            "types": [v.violation_type.value],
            "analytic": {"uid": v.rule_id, "name": v.title, "type_id": 1, "type": "Rule"},
            "first_seen_time": v.first_seen,
            "last_seen_time": v.last_seen,
            "created_time": v.first_seen,  # the same on every event of one finding
            "modified_time": v.detected_time,
        },
        "policy": {"uid": v.policy_id, "name": v.policy_name, "version": v.policy_version},
        "device": {"hostname": v.host, "type_id": 1, "type": "Server", "container": _container(v)},
        "resources": [{"uid": v.container_id, "name": v.container_name, "type": "container",
                       "labels": _labels(v.labels)}],
        "evidences": _evidences(v.evidence),
        "unmapped": {"sandguard": {
            "schema_version": v.schema_version, "time": v.time, "rule_id": v.rule_id,
            "violation_type": v.violation_type.value, "mode": v.mode, "sample_time": v.sample_time,
            "detected_time": v.detected_time, "labels": v.labels, "image": v.image,
            "evidence": v.evidence.model_dump(mode="json"),
        }},
    }  # fmt: skip


def from_ocsf(doc: dict[str, Any]) -> Violation:
    """Reads a finding written by ``to_ocsf``; raises KeyError/ValueError on anything else."""
    if not isinstance(doc, dict):
        raise TypeError(f"a finding is a JSON object, not {type(doc).__name__}")
    if doc.get("class_uid") != CLASS_UID:
        raise ValueError(f"class_uid {doc.get('class_uid')!r} is not a Detection Finding ({CLASS_UID})")
    ours = doc["unmapped"]["sandguard"]
    info = doc["finding_info"]
    container = doc["device"]["container"]
    return Violation(
        event_id=doc["metadata"]["uid"], time=ours["time"], container_id=container["uid"],
        host=doc["device"].get("hostname", ""), schema_version=ours["schema_version"],
        violation_id=info["uid"], activity=_ACTIVITY[doc["activity_id"]], rule_id=ours["rule_id"],
        violation_type=ours["violation_type"], severity=_SEVERITY[doc["severity_id"]],
        title=info["title"], message=doc["message"], count=doc["count"],
        first_seen=info["first_seen_time"], last_seen=info["last_seen_time"],
        sample_time=ours["sample_time"], detected_time=ours["detected_time"],
        policy_id=doc["policy"]["uid"], policy_name=doc["policy"]["name"],
        policy_version=doc["policy"]["version"], mode=ours["mode"],
        disposition=_DISPOSITION[doc["disposition_id"]], container_name=container.get("name", ""),
        image=ours["image"], labels=ours["labels"], evidence=Evidence.model_validate(ours["evidence"]),
    )  # fmt: skip
