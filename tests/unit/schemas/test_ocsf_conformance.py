"""Every violation sandguard publishes is a valid OCSF 1.8.0 Detection Finding, checked
offline against the official schema (tests/ocsf_official.py), never against our own.

Fails on any schema error, deprecated attribute or value, enum sibling that disagrees
with its id, and observable that points nowhere or has the wrong type.
"""

from __future__ import annotations

import pytest

from schemas import Violation, to_ocsf
from schemas.ocsf import OCSF_VERSION
from schemas.rules import RULES
from tests.ocsf_official import OCSF_VERSION as OFFICIAL_VERSION
from tests.ocsf_official import problems
from tests.unit.schemas.violation_shapes import EVIDENCE_KINDS, UNKNOWNS, all_shapes, lifecycle, violation


def _report(shapes: list[tuple[str, Violation]]) -> list[str]:
    return [f"{name}: {p}" for name, v in shapes for p in problems(to_ocsf(v))]


def test_we_claim_the_version_we_validate_against() -> None:
    assert OCSF_VERSION == OFFICIAL_VERSION == "1.8.0"


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_every_rule_in_every_activity_disposition_and_mode(rule_id: str) -> None:
    shapes = [(f"{v.activity}/{v.disposition}/{v.mode}", v) for v in lifecycle(rule_id)]
    assert len(shapes) == 3 * 4 * 2
    assert _report(shapes) == []


@pytest.mark.parametrize("kind", sorted(EVIDENCE_KINDS))
def test_every_evidence_kind(kind: str) -> None:
    shapes = [(str(v.activity), v) for v in lifecycle("process.blocked", evidence=EVIDENCE_KINDS[kind])]
    assert _report(shapes) == []


@pytest.mark.parametrize("name", sorted(UNKNOWNS))
def test_unknown_optionals_are_omitted(name: str) -> None:
    v = violation("memory.level", **UNKNOWNS[name])
    assert problems(to_ocsf(v)) == []


def test_the_whole_matrix_is_valid() -> None:
    """The count is printed for the report: how many event shapes were validated."""
    shapes = list(all_shapes())
    bad = _report(shapes)
    print(f"validated {len(shapes)} event shapes against OCSF {OFFICIAL_VERSION}: {len(bad)} problems")
    assert len(shapes) >= 16 * 24 and bad == []


def test_the_validator_catches_what_issue_16_found() -> None:
    """The checker itself: each defect the issue reported is caught (errors and warnings)."""
    doc = to_ocsf(violation("command.denied", evidence=EVIDENCE_KINDS["command-refused"]))
    broken = {**doc, "evidences": [{"process": {"cmd_line": "rm -rf /"}}]}
    assert any("evidences.0.process" in p for p in problems(broken))
    device = {**doc["device"], "container": {**doc["device"]["container"], "image": {"uid": "i", "tag": "3"}}}
    assert any("image.tag: deprecated since 1.4.0" in p for p in problems({**doc, "device": device}))
    nulled = {**doc, "evidences": [{"file": {"path": None, "name": "x", "type_id": 0}}]}
    assert any("None is not of type" in p for p in problems(nulled))
    wrong_sibling = {**doc, "action_id": 2, "action": "Observed"}
    assert any("disagrees with action_id=2" in p for p in problems(wrong_sibling))
    obs = {**doc, "observables": [{"name": "device.hostname", "type_id": 9, "value": "nope"}]}
    assert len(problems(obs)) == 2  # the wrong value and the wrong type
