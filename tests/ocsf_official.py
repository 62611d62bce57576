"""Checks an event against the official OCSF schema, offline, as an OCSF-aware ingest would.

The schema is the compiled OCSF 1.8.0 export that the ``ocsf-json-schema`` package ships
(never sandguard's own description of its events). ``problems`` returns every error and
every warning the OCSF server's validator gives, each as one line naming the attribute:

- the JSON Schema of the class with the profiles the event declares in
  ``metadata.profiles`` (types, enums, required attributes, ``at_least_one`` constraints,
  no unknown attributes, no nulls);
- deprecated attributes, objects and enum values (JSON Schema only annotates them);
- enum siblings that disagree with their id (``action`` with ``action_id``...), class and
  category names, ``type_uid``;
- observables whose ``name`` points at nothing, whose ``value`` differs from the value
  there, or whose ``type_id`` is not the one the schema defines for that attribute.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from jsonschema import Draft202012Validator
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

OCSF_VERSION = "1.8.0"
OTHER = 99  # the enum value whose sibling holds a source-specific caption
_STEP = re.compile(r"^([a-z_0-9]+)(?:\[(\d*)\])?$")


@functools.cache
def raw_schema() -> dict[str, Any]:
    schema: dict[str, Any] = get_ocsf_schema(version=OCSF_VERSION)
    assert schema["version"] == OCSF_VERSION
    return schema


@functools.cache
def _validator(class_name: str, profiles: tuple[str, ...]) -> Draft202012Validator:
    schema = OcsfJsonSchemaEmbedded(raw_schema()).get_class_schema(class_name, list(profiles))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def problems(event: dict[str, Any]) -> list[str]:
    """Every reason an OCSF consumer would reject or warn about ``event``; [] when none."""
    classes = {c["uid"]: c for c in raw_schema()["classes"].values()}
    cls = classes.get(event.get("class_uid"))
    if cls is None:
        return [f"class_uid: {event.get('class_uid')!r} is not an OCSF {OCSF_VERSION} class"]
    profiles = tuple(sorted(event.get("metadata", {}).get("profiles", [])))
    out = [_schema_error(e) for e in _validator(cls["name"], profiles).iter_errors(event)]
    out += _class_checks(cls, event)
    out += _walk(event, cls["attributes"], "")
    out += _observable_problems(event, cls)
    return out


def _schema_error(err: Any) -> str:
    path = ".".join(str(p) for p in err.absolute_path) or "(event)"
    return f"{path}: {err.message[:300]}"


def _class_checks(cls: dict[str, Any], event: dict[str, Any]) -> list[str]:
    out = []
    want = cls["uid"] * 100 + event.get("activity_id", -1)
    if event.get("type_uid") != want:
        out.append(f"type_uid: {event.get('type_uid')} is not class_uid*100+activity_id ({want})")
    for key, caption in (("class_name", cls["caption"]), ("category_name", cls["category_name"])):
        if key in event and event[key] != caption:
            out.append(f"{key}: {event[key]!r} is not {caption!r}")
    return out


def _walk(obj: dict[str, Any], attrs: dict[str, Any], at: str) -> list[str]:
    """Deprecations and enum siblings, recursively through every object the event holds."""
    out: list[str] = []
    for key, value in obj.items():
        spec = attrs.get(key)
        if spec is None:
            continue  # an unknown attribute: the JSON Schema reports it
        where = f"{at}{key}"
        if "@deprecated" in spec:
            out.append(f"{where}: deprecated since {spec['@deprecated'].get('since')}")
        out += _enum_problems(obj, key, value, spec, where)
        if spec.get("type") == "object_t":
            out += _walk_object(value, spec["object_type"], where)
    return out


def _enum_problems(obj: dict[str, Any], key: str, value: Any, spec: dict[str, Any], where: str) -> list[str]:
    enum = spec.get("enum")
    if not enum or isinstance(value, list) or str(value) not in enum:
        return []
    item = enum[str(value)]
    out = [f"{where}: value {value} deprecated"] if "@deprecated" in item else []
    sibling = spec.get("sibling")
    if sibling and sibling in obj and value != OTHER and obj[sibling] != item["caption"]:
        out.append(f"{sibling}: {obj[sibling]!r} disagrees with {where}={value} ({item['caption']!r})")
    return out


def _walk_object(value: Any, object_type: str, where: str) -> list[str]:
    obj_def = raw_schema()["objects"].get(object_type, {})
    out = [f"{where}: object {object_type} deprecated"] if "@deprecated" in obj_def else []
    items = value if isinstance(value, list) else [value]
    for i, item in enumerate(items):
        if isinstance(item, dict) and obj_def.get("attributes"):
            at = f"{where}[{i}]." if isinstance(value, list) else f"{where}."
            out += _walk(item, obj_def["attributes"], at)
    return out


def _observable_problems(event: dict[str, Any], cls: dict[str, Any]) -> list[str]:
    out = []
    for i, obs in enumerate(event.get("observables", [])):
        name = obs.get("name", "")
        try:
            spec, found = resolve(event, cls, name)
        except LookupError as exc:
            out.append(f"observables[{i}].name: {name!r} points at nothing ({exc})")
            continue
        if "value" in obs and obs["value"] != _as_text(found):
            out.append(f"observables[{i}].value: {obs['value']!r} is not the value at {name} ({found!r})")
        want = expected_type_id(spec)
        if obs.get("type_id") != OTHER and obs.get("type_id") != want:
            out.append(f"observables[{i}].type_id: {obs.get('type_id')} for {name}, the schema says {want}")
    return out


def _as_text(value: Any) -> str:
    if isinstance(value, dict) and "value" in value:
        return str(value["value"])  # a long_string (script_content)
    return str(value).lower() if isinstance(value, bool) else str(value)


def resolve(event: dict[str, Any], cls: dict[str, Any], name: str) -> tuple[dict[str, Any], Any]:
    """The attribute definition and the value at an observable name such as ``a.b[0].c``."""
    attrs, value, spec = cls["attributes"], event, {}
    for step in name.split("."):
        m = _STEP.match(step)
        if m is None or not isinstance(value, dict) or m[1] not in value or m[1] not in attrs:
            raise LookupError(f"no {step!r}")
        spec, value = attrs[m[1]], value[m[1]]
        if m[2] is not None:
            if not isinstance(value, list) or not m[2] or int(m[2]) >= len(value):
                raise LookupError(f"no element {step!r}")
            value = value[int(m[2])]
        if spec.get("type") == "object_t":
            attrs = raw_schema()["objects"][spec["object_type"]]["attributes"]
    return {**spec, "name": name.rsplit(".", 1)[-1].split("[", 1)[0]}, value


def expected_type_id(spec: dict[str, Any]) -> int | None:
    """The observable type_id of an attribute, the most general definition first (OCSF
    "Defining and Using Observables": dictionary type, dictionary attribute, object, then
    the attribute as defined in its object)."""
    schema = raw_schema()
    dictionary = schema["dictionary"]
    by_type = dictionary["types"]["attributes"].get(spec.get("type", ""), {}).get("observable")
    by_attr = dictionary["attributes"].get(spec["name"], {}).get("observable")
    by_object = schema["objects"].get(spec.get("object_type", ""), {}).get("observable")
    for found in (by_type, by_attr, by_object, spec.get("observable")):
        if found is not None:
            return int(found)
    return None
