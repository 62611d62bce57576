"""JSON Schemas of every topic's messages, for consumers who do not read Python.

``python -m schemas.jsonschema_export`` writes them to ``schemas/jsonschema/`` (one file
per topic, named after it); a unit test fails when the checked-in files are stale.
Every topic's schema comes from its pydantic model, except ``sandguard.violations``,
whose messages are OCSF Detection Findings (schemas.ocsf): its schema
(schemas.jsonschema_ocsf) pins what sandguard guarantees of them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from schemas import topics as t
from schemas.codec import _ADAPTERS
from schemas.events import SCHEMA_VERSION
from schemas.jsonschema_ocsf import ocsf_finding_schema
from schemas.topics import TOPICS

SCHEMA_DIR = Path(__file__).resolve().parent / "jsonschema"
BASE_URI = "https://sandguard.dev/schemas/"


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
