"""Violations as OCSF 1.8.0 Detection Findings (class 2004) with the Security Control and
Container profiles, valid against the official schema by construction (docs/siem.md).

A SIEM that speaks OCSF reads ``sandguard.violations`` with no custom parser. Unknown
values are omitted, never null; ``unmapped.sandguard`` holds only what OCSF has no
attribute for, and ``from_ocsf`` reads a finding back into the model, losslessly
(findings written before this layout too: consumers replay the topic).
"""

from __future__ import annotations

from typing import Any

from schemas.events import Disposition, Violation, ViolationActivity
from schemas.ocsf_evidence import read_evidences, render_evidences, unmapped_evidence
from schemas.topics import VIOLATIONS
from schemas.violations import Severity

OCSF_VERSION = "1.8.0"
PRODUCT = {"name": "sandguard", "vendor_name": "sandguard", "version": "0.1.0"}
PROFILES = ["security_control", "container"]
CLASS_UID = 2004
CLASS_NAME = "Detection Finding"
CATEGORY_UID = 2
OTHER = 99  # the OCSF id of a value the dictionary has no entry for

_ACTIVITY = {ViolationActivity.CREATE: 1, ViolationActivity.UPDATE: 2, ViolationActivity.CLOSE: 3}
_ACTIVITY_BY_ID = {v: k for k, v in _ACTIVITY.items()}
# The finding's status follows its lifecycle: New, In Progress while repeats are counted,
# Resolved when its window closed (OCSF 1.8 has no "Closed" status).
_STATUS = {
    ViolationActivity.CREATE: (1, "New"),
    ViolationActivity.UPDATE: (2, "In Progress"),
    ViolationActivity.CLOSE: (4, "Resolved"),
}
_CLOSE_DETAIL = "dedup window ended: later occurrences open a new finding"
# (action_id, disposition_id) as the OCSF 1.8 dictionary pairs them: Detected goes with
# Observed, Delayed with Modified (the container's CPU quota was cut), Isolated and
# Blocked with Denied.
_ENFORCED = {
    Disposition.DETECTED: (3, 15),
    Disposition.THROTTLED: (4, 14),
    Disposition.PAUSED: (2, 4),
    Disposition.TERMINATED: (2, 2),
}
_AUDITED = (3, 15)  # audit mode: nothing was done, whatever the disposition would be
_DISPOSITION_BY_ID = {d: k for k, (_, d) in _ENFORCED.items()}
_ACTION_NAME = {2: "Denied", 3: "Observed", 4: "Modified"}
_DISPOSITION_NAME = {2: "Blocked", 4: "Isolated", 14: "Delayed", 15: "Detected"}
_SEVERITY = {s.ocsf_id: s for s in Severity}

# Observables: (attribute path, type_id, type). Under evidences[], per kind of item.
_OBSERVABLES = (
    ("device.hostname", 1, "Hostname"),
    ("resources[0].uid", 10, "Resource UID"),
    ("resources[0].name", 38, "Resource Details Object: name"),
    ("device.container.image.uid", OTHER, "Container Image"),
)
_EVIDENCE_OBSERVABLES = {
    "process": (("pid", 15, "Process ID"), ("name", 9, "Process Name"), ("cmd_line", 13, "Command Line"),
                ("user.uid", 31, "User Object: uid")),
    "script": (("script_content", 36, "Script Content"),),
    "file": (("path", 45, "File Path"), ("name", 7, "File Name")),
    "dst_endpoint": (("ip", 2, "IP Address"), ("port", 11, "Port"), ("hostname", 1, "Hostname")),
}  # fmt: skip


def _some(**values: Any) -> dict[str, Any]:
    """The values that are known: None and empty strings, lists and dicts are omitted."""
    return {k: v for k, v in values.items() if v is not None and v not in ("", [], {})}


def _labels(labels: dict[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in sorted(labels.items())]


def _image(ref: str) -> dict[str, Any] | None:
    """``name[:tag][@digest]``: uid is the reference as given, the tag goes to ``tags``
    (``image.tag`` is deprecated since OCSF 1.4)."""
    if not ref:
        return None
    name, _, _digest = ref.partition("@")
    repo, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:  # no tag, or the colon was a registry port
        repo, tag = name, ""
    return {"uid": ref} | _some(name=repo, tags=[{"name": "tag", "value": tag}] if tag else None)


def _device(v: Violation) -> dict[str, Any] | None:
    if not v.host:
        return None  # a device needs one of hostname, ip, uid...; the container is in resources
    container = {"uid": v.container_id} | _some(name=v.container_name, image=_image(v.image),
                      runtime="docker", labels=_labels(v.labels))  # fmt: skip
    return {"hostname": v.host, "type_id": 1, "type": "Server", "container": container}


def _policy(v: Violation) -> dict[str, Any] | None:
    """A policy object needs its uid or name; a version alone goes to unmapped."""
    if not (v.policy_id or v.policy_name):
        return None
    return _some(uid=v.policy_id, name=v.policy_name, version=v.policy_version)


def _enforcement(v: Violation) -> dict[str, Any]:
    action_id, disposition_id = _AUDITED if v.mode == "audit" else _ENFORCED[v.disposition]
    status_id, status = _STATUS[v.activity]
    closed = v.activity is ViolationActivity.CLOSE
    return _some(
        status_id=status_id, status=status, status_detail=_CLOSE_DETAIL if closed else None,
        # Alertable: a new finding. Updates and the close refine one already raised.
        is_alert=v.activity is ViolationActivity.CREATE,
        action_id=action_id, action=_ACTION_NAME[action_id],
        disposition_id=disposition_id, disposition=_DISPOSITION_NAME[disposition_id],
    )  # fmt: skip


def _finding_info(v: Violation) -> dict[str, Any]:
    analytic = {"uid": v.rule_id} | _some(name=v.title, type_id=1, type="Rule")
    return {"uid": v.violation_id} | _some(
        title=v.title, desc=v.message, types=[v.violation_type.value],
        analytic=analytic, first_seen_time=v.first_seen, last_seen_time=v.last_seen,
        created_time=v.first_seen,  # the same on every event of one finding
        modified_time=v.detected_time,
    )  # fmt: skip


def _unmapped(v: Violation) -> dict[str, Any]:
    audited_action = v.mode == "audit" and v.disposition is not Disposition.DETECTED
    ours = _some(
        schema_version=v.schema_version, mode=v.mode, sample_time=v.sample_time,
        time=v.time if v.time != v.sample_time else None,
        disposition=v.disposition.value if audited_action else None,  # what enforce would do
        image=v.image if not v.host else None,  # no device to carry it
        labels=v.labels if any("=" in k for k in v.labels) else None,
        policy_version=v.policy_version if _policy(v) is None else None,  # "k=v" cannot say which "="
        evidence=unmapped_evidence(v.evidence),
    )  # fmt: skip
    return {"sandguard": ours}


def to_ocsf(v: Violation) -> dict[str, Any]:
    activity_id = _ACTIVITY[v.activity]
    doc = _some(
        activity_id=activity_id, activity_name=v.activity.value.capitalize(),
        category_uid=CATEGORY_UID, category_name="Findings", class_uid=CLASS_UID, class_name=CLASS_NAME,
        type_uid=CLASS_UID * 100 + activity_id, type_name=f"{CLASS_NAME}: {v.activity.value.capitalize()}",
        severity_id=v.severity.ocsf_id, severity=v.severity.value.capitalize(),
        time=v.detected_time, timezone_offset=0, start_time=v.first_seen, end_time=v.last_seen,
        count=v.count, message=v.message, **_enforcement(v),
        metadata={"product": PRODUCT, "version": OCSF_VERSION, "uid": v.event_id,
                  "profiles": PROFILES, "log_name": VIOLATIONS},
        finding_info=_finding_info(v),
        policy=_policy(v),
        device=_device(v),
        resources=[{"uid": v.container_id} | _some(name=v.container_name, type="container",
                         labels=_labels(v.labels))],
        evidences=render_evidences(v.evidence),
        unmapped=_unmapped(v),
    )  # fmt: skip
    doc["observables"] = observables(doc)
    return doc


def _at(doc: Any, path: str) -> Any:
    """The value at ``a.b[0].c`` in ``doc``; None when any step is missing."""
    for step in path.split("."):
        name, _, index = step.partition("[")
        doc = doc.get(name) if isinstance(doc, dict) else None
        if index and isinstance(doc, list):
            doc = doc[int(index[:-1])] if int(index[:-1]) < len(doc) else None
    return doc


def _observable(value: Any, name: str, type_id: int, type_name: str) -> dict[str, Any] | None:
    if isinstance(value, dict):
        value = value.get("value")  # a long_string (script_content)
    if value is None:
        return None
    return {"name": name, "type_id": type_id, "type": type_name, "value": str(value)}


def observables(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Pivots for a SIEM: host, container, image, and per evidence the process, its user,
    the command, the file, the endpoint; each read from where it is in ``doc``."""
    found = [_observable(_at(doc, p), p, t, n) for p, t, n in _OBSERVABLES]
    for i, item in enumerate(doc.get("evidences", [])):
        for kind, fields in _EVIDENCE_OBSERVABLES.items():
            if kind in item:
                found += [
                    _observable(_at(item[kind], p), f"evidences[{i}].{kind}.{p}", t, n) for p, t, n in fields
                ]
    return [o for o in found if o is not None]


def _read_labels(labels: list[str]) -> dict[str, str]:
    return dict(label.split("=", 1) for label in labels)


def from_ocsf(doc: dict[str, Any]) -> Violation:
    """Reads a finding written by ``to_ocsf``; raises KeyError/ValueError on anything else."""
    if not isinstance(doc, dict):
        raise TypeError(f"a finding is a JSON object, not {type(doc).__name__}")
    if doc.get("class_uid") != CLASS_UID:
        raise ValueError(f"class_uid {doc.get('class_uid')!r} is not a Detection Finding ({CLASS_UID})")
    ours = doc["unmapped"]["sandguard"]
    if "rule_id" in ours:
        return _from_legacy(doc)
    info, policy = doc["finding_info"], doc.get("policy", {})
    resource = next(r for r in doc["resources"] if r.get("type") == "container")
    device = doc.get("device", {})
    image = device.get("container", {}).get("image", {}).get("uid", ours.get("image", ""))
    return Violation(
        event_id=doc["metadata"]["uid"], time=ours.get("time", ours["sample_time"]),
        container_id=resource["uid"], host=device.get("hostname", ""), schema_version=ours["schema_version"],
        violation_id=info["uid"], activity=_ACTIVITY_BY_ID[doc["activity_id"]],
        rule_id=info["analytic"]["uid"], violation_type=info["types"][0],
        severity=_SEVERITY[doc["severity_id"]],
        title=info.get("title", ""), message=doc.get("message", ""), count=doc["count"],
        first_seen=info["first_seen_time"], last_seen=info["last_seen_time"], sample_time=ours["sample_time"],
        detected_time=doc["time"], policy_id=policy.get("uid", ""), policy_name=policy.get("name", ""),
        policy_version=policy.get("version", ours.get("policy_version", "")), mode=ours["mode"],
        disposition=ours.get("disposition") or _DISPOSITION_BY_ID[doc["disposition_id"]],
        container_name=resource.get("name", ""), image=image,
        labels=ours.get("labels") or _read_labels(resource.get("labels", [])),
        evidence=read_evidences(doc.get("evidences", []), ours.get("evidence", {})),
    )  # fmt: skip


def _from_legacy(doc: dict[str, Any]) -> Violation:
    """A finding written before the OCSF 1.8 conformance fixes (issue 16), when
    ``unmapped.sandguard`` repeated every field: still on topics and in replays."""
    ours, info, container = doc["unmapped"]["sandguard"], doc["finding_info"], doc["device"]["container"]
    return Violation(
        event_id=doc["metadata"]["uid"], time=ours["time"], container_id=container["uid"],
        host=doc["device"].get("hostname", ""), schema_version=ours["schema_version"],
        violation_id=info["uid"], activity=_ACTIVITY_BY_ID[doc["activity_id"]], rule_id=ours["rule_id"],
        violation_type=ours["violation_type"], severity=_SEVERITY[doc["severity_id"]],
        title=info["title"], message=doc["message"], count=doc["count"],
        first_seen=info["first_seen_time"], last_seen=info["last_seen_time"],
        sample_time=ours["sample_time"], detected_time=ours["detected_time"],
        policy_id=doc["policy"]["uid"], policy_name=doc["policy"]["name"],
        policy_version=doc["policy"]["version"], mode=ours["mode"],
        disposition=_DISPOSITION_BY_ID[doc["disposition_id"]], container_name=container.get("name", ""),
        image=ours["image"], labels=ours["labels"], evidence=ours["evidence"],
    )  # fmt: skip
