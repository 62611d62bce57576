"""The JSON Schema of ``sandguard.violations``: what sandguard guarantees of its OCSF 1.8
Detection Findings, typed down to each evidence item and observable.

It describes sandguard's subset (schemas.ocsf); the official OCSF 1.8.0 schema describes
the rest, and the conformance tests check every event against that one as well.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from schemas.events import Violation
from schemas.ocsf import CATEGORY_UID, CLASS_UID, OCSF_VERSION
from schemas.ocsf_evidence import MAX_PORT, OUTBOUND, UNIX_SHELL

_INT = {"type": "integer"}
_STR = {"type": "string"}
_MS = {"type": "integer", "description": "epoch milliseconds"}
_LABELS = {"type": "array", "items": _STR, "description": "key=value"}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object with these properties and no others (OCSF objects are closed)."""
    props = {**required, **(optional or {})}
    return {
        "type": "object",
        "required": sorted(required),
        "properties": props,
        "additionalProperties": False,
    }


def _evidence_item() -> dict[str, Any]:
    process = _obj(
        {"pid": {**_INT, "description": "host pid"}, "parent_process": _obj({"pid": _INT}),
         "user": _obj({"uid": {**_STR, "description": "numeric uid, as text"}})},
        {"namespace_pid": {**_INT, "description": "pid inside the container"}, "name": _STR,
         "path": _STR, "cmd_line": {**_STR, "description": "argv, shell-quoted"}, "created_time": _MS},
    )  # fmt: skip
    content = _obj({"value": {**_STR, "description": "the command line"}})
    script = _obj(
        {"type_id": {"const": UNIX_SHELL}, "type": {"const": "Unix Shell"}, "script_content": content}
    )
    file = _obj({"path": _STR, "name": _STR, "type_id": {"const": 0}})
    data = _obj({"samples": {"type": "array", "items": {"type": "object"}}})
    endpoint = _obj({"ip": _STR}, {"port": {"type": "integer", "minimum": 0, "maximum": MAX_PORT}})
    protocol = {"protocol_name": {"enum": ["tcp", "udp"]}, "protocol_num": {"enum": [6, 17]}}
    connection = _obj({"direction_id": {"const": OUTBOUND}, "direction": {"const": "Outbound"}}, protocol)
    kinds = {"process": process, "script": script, "file": file, "data": data, "dst_endpoint": endpoint}
    return {
        "type": "object",
        "properties": {**kinds, "connection_info": connection},
        "additionalProperties": False,
        "oneOf": [{"required": [k]} for k in kinds],
        "dependentRequired": {"dst_endpoint": ["connection_info"], "connection_info": ["dst_endpoint"]},
        "description": "one item per kind: a process seen running (with its pid), a command known "
        "by its text only (refused, or its pid unseen), a file path, resource samples, a "
        "connection (made from a sample holding a kernel connect event)",
    }


def _device() -> dict[str, Any]:
    image = _obj({"uid": {**_STR, "description": "the image reference as given"}},
                 {"name": _STR, "tags": {"type": "array", "items": _obj({"name": {"const": "tag"},
                                                                         "value": _STR})}})  # fmt: skip
    container = _obj({"uid": _STR, "runtime": {"const": "docker"}},
                     {"name": _STR, "image": image, "labels": _LABELS})  # fmt: skip
    return _obj(
        {"hostname": _STR, "type_id": {"const": 1}, "type": {"const": "Server"}, "container": container}
    )


def _finding_info() -> dict[str, Any]:
    analytic = _obj({"uid": {**_STR, "description": "rule id"}, "type_id": {"const": 1},
                     "type": {"const": "Rule"}}, {"name": _STR})  # fmt: skip
    return _obj(
        {"uid": {**_STR, "description": "stable violation id: dedupe and update by it"},
         "types": {"type": "array", "items": _STR, "minItems": 1, "maxItems": 1}, "analytic": analytic,
         "first_seen_time": _MS, "last_seen_time": _MS, "created_time": _MS, "modified_time": _MS},
        {"title": _STR, "desc": _STR},
    )  # fmt: skip


def _unmapped() -> dict[str, Any]:
    extra = _obj({}, {"process": _obj({}, {"argv_truncated": {"const": True}, "state": _STR})})
    ours = _obj(
        {"schema_version": _STR, "mode": {"enum": ["enforce", "audit"]},
         "sample_time": {**_MS, "description": "the triggering event"}},
        {"time": {**_MS, "description": "when observed; only when it differs from sample_time"},
         "disposition": {"enum": ["throttled", "paused", "terminated"],
                         "description": "audit mode: what enforce mode would have done"},
         "image": {**_STR, "description": "only when there is no device to carry it"},
         "labels": {"type": "object", "additionalProperties": _STR,
                    "description": "only when a key holds '=' (key=value would be ambiguous)"},
         "policy_version": {**_STR, "description": "only when the policy has no uid or name"},
         "evidence": extra},
    )  # fmt: skip
    return _obj({"sandguard": ours})


def _lifecycle() -> dict[str, Any]:
    return {
        "activity_id": {"enum": [1, 2, 3], "description": "1 Create, 2 Update, 3 Close"},
        "activity_name": {"enum": ["Create", "Update", "Close"]},
        "type_uid": {"enum": [CLASS_UID * 100 + i for i in (1, 2, 3)]},
        "status_id": {"enum": [1, 2, 4], "description": "1 New (create), 2 In Progress (update), "
                      "4 Resolved (close)"},
        "status": {"enum": ["New", "In Progress", "Resolved"]},
        "is_alert": {"type": "boolean", "description": "true on create only"},
        "action_id": {"enum": [2, 3, 4], "description": "2 Denied (paused, terminated), "
                      "3 Observed (detected, audit mode), 4 Modified (throttled)"},
        "disposition_id": {"enum": [2, 4, 14, 15], "description": "2 Blocked (terminated), "
                           "4 Isolated (paused), 14 Delayed (throttled), 15 Detected"},
    }  # fmt: skip


def ocsf_finding_schema() -> dict[str, Any]:
    """What every message on sandguard.violations holds (OCSF 1.8 Detection Finding)."""
    observable = _obj({"name": {**_STR, "description": "attribute path in this event"}, "type_id": _INT,
                       "type": _STR, "value": _STR})  # fmt: skip
    required = {
        "class_uid": {"const": CLASS_UID}, "category_uid": {"const": CATEGORY_UID},
        **_lifecycle(), "severity_id": {"enum": [2, 3, 4, 5]}, "severity": _STR,
        "time": {**_MS, "description": "when sandguard decided"}, "count": _INT,
        "action": _STR, "disposition": _STR,
        "metadata": _obj({"uid": {**_STR, "description": "event id"}, "version": {"const": OCSF_VERSION},
                          "product": _obj({"name": _STR, "vendor_name": _STR, "version": _STR}),
                          "profiles": {"const": ["security_control", "container"]}, "log_name": _STR}),
        "finding_info": _finding_info(),
        "resources": {"type": "array", "minItems": 1, "items": _obj(
            {"uid": _STR, "type": {"const": "container"}}, {"name": _STR, "labels": _LABELS})},
        "observables": {"type": "array", "items": observable},
        "unmapped": _unmapped(),
    }  # fmt: skip
    optional = {
        "class_name": _STR, "category_name": _STR, "type_name": _STR, "timezone_offset": {"const": 0},
        "start_time": _MS, "end_time": _MS, "message": _STR, "status_detail": _STR,
        "policy": _obj({}, {"uid": _STR, "name": _STR, "version": _STR}),
        "device": _device(), "evidences": {"type": "array", "minItems": 1, "items": _evidence_item()},
    }  # fmt: skip
    model = TypeAdapter(Violation).json_schema()
    return {
        **_obj(required, optional),
        "$defs": {**model.pop("$defs", {}), "SandguardViolation": model},  # its refs are to #/$defs
        "description": f"OCSF {OCSF_VERSION} Detection Finding (security_control and container profiles), "
        "valid against the official schema; #/$defs/SandguardViolation is the model it is read back "
        "into; unmapped.sandguard holds only what OCSF has no attribute for",
    }
