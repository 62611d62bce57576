"""JSON Schemas of every topic's messages, for consumers who do not read Python.

``python -m schemas.jsonschema_export`` writes them to ``schemas/jsonschema/`` (one file
per topic, named after it); a unit test fails when the checked-in files are stale.
Every topic's schema comes from its pydantic model, except ``sandguard.violations``,
whose messages are OCSF Detection Findings (schemas.ocsf): its schema pins what
sandguard guarantees of them (OCSF's own schema describes the rest).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from schemas import topics as t
from schemas.codec import _ADAPTERS
from schemas.events import SCHEMA_VERSION, Violation
from schemas.ocsf import CATEGORY_UID, CLASS_UID, OCSF_VERSION
from schemas.topics import TOPICS

SCHEMA_DIR = Path(__file__).resolve().parent / "jsonschema"
BASE_URI = "https://sandguard.dev/schemas/"

_INT = {"type": "integer"}
_STR = {"type": "string"}
_MS = {"type": "integer", "description": "epoch milliseconds"}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": sorted(required), "properties": {**required, **(optional or {})}}


def ocsf_finding_schema() -> dict[str, Any]:
    """What every message on sandguard.violations holds (OCSF 1.8 Detection Finding)."""
    ours = TypeAdapter(Violation).json_schema()
    analytic = _obj({"uid": {**_STR, "description": "rule id"}, "name": _STR, "type_id": {"const": 1}})
    finding = _obj(
        {"uid": {**_STR, "description": "stable violation id: dedupe and update by it"},
         "title": _STR, "types": {"type": "array", "items": _STR}, "analytic": analytic,
         "first_seen_time": _MS, "last_seen_time": _MS, "created_time": _MS, "modified_time": _MS},
        {"desc": _STR},
    )  # fmt: skip
    container = _obj({"uid": _STR}, {"name": _STR, "image": {"type": "object"}, "runtime": _STR,
                                     "labels": {"type": "array", "items": _STR}})  # fmt: skip
    unmapped = _obj(
        {
            "sandguard": _obj(
                {
                    k: {}
                    for k in (
                        "schema_version",
                        "rule_id",
                        "violation_type",
                        "mode",
                        "sample_time",
                        "detected_time",
                        "evidence",
                    )
                }
            )
        }
    )
    return {
        **_obj(
            {
                "class_uid": {"const": CLASS_UID}, "category_uid": {"const": CATEGORY_UID},
                "activity_id": {"enum": [1, 2, 3], "description": "1 Create, 2 Update, 3 Close"},
                "type_uid": {"enum": [CLASS_UID * 100 + i for i in (1, 2, 3)]},
                "severity_id": {"enum": [1, 2, 3, 4, 5]}, "severity": _STR,
                "time": {**_MS, "description": "when sandguard decided (epoch ms)"},
                "count": _INT, "message": _STR, "status_id": {"const": 1}, "is_alert": {"const": True},
                "action_id": {"enum": [2, 3], "description": "2 Denied, 3 Observed (audit mode, alerts)"},
                "disposition_id": {"enum": [2, 4, 14, 15],
                                   "description": "2 Blocked (terminated), 4 Isolated (paused), "
                                                  "14 Delayed (throttled), 15 Detected"},
                "metadata": _obj({"uid": {**_STR, "description": "event id"},
                                  "version": {"const": OCSF_VERSION},
                                  "product": _obj({"name": _STR, "vendor_name": _STR, "version": _STR})}),
                "finding_info": finding,
                "policy": _obj({"uid": _STR, "name": _STR, "version": _STR}),
                "device": _obj({"hostname": _STR, "container": container}),
                "resources": {"type": "array", "items": _obj({"uid": _STR, "type": {"const": "container"}})},
                "evidences": {"type": "array", "items": {"type": "object"}},
                "unmapped": unmapped,
            },
            {"start_time": _MS, "end_time": _MS},
        ),
        "$defs": {"SandguardViolation": ours},
        "description": "OCSF Detection Finding; unmapped.sandguard holds the fields of "
        "#/$defs/SandguardViolation that OCSF has no place for",
    }  # fmt: skip


def topic_schemas() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, spec in TOPICS.items():
        body = ocsf_finding_schema() if name == t.VIOLATIONS else _ADAPTERS[name].json_schema()
        out[name] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{BASE_URI}{SCHEMA_VERSION}/{name}.json",
            "title": f"{name}: {spec.value}",
            "x-sandguard-schema-version": SCHEMA_VERSION,
            "x-kafka": {"key": "container id", "partitions": spec.partitions, "compacted": spec.compacted},
            **body,
            "description": f"{spec.description}. {body.get('description', '')}".strip(),
        }
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, schema in topic_schemas().items():
        path = directory / f"{name}.json"
        path.write_text(render(schema), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_DIR):
        print(p)
