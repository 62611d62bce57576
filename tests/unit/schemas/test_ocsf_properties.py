"""Valid and lossless by construction: arbitrary violations (any text where sandguard
carries text, any numbers in their ranges) render to valid OCSF 1.8.0 and read back."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import Disposition, Evidence, ProcessInfo, Violation, ViolationActivity, from_ocsf, to_ocsf
from schemas import topics as t
from schemas.jsonschema_export import SCHEMA_DIR
from schemas.rules import RULES
from tests.ocsf_official import problems

OURS = jsonschema.Draft202012Validator(
    json.loads((SCHEMA_DIR / f"{t.VIOLATIONS}.json").read_text(encoding="utf-8"))
)

# Text as JSON carries it: no lone surrogates (no UTF-8 encoding exists for them).
TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=24)
MS = st.integers(min_value=0, max_value=2**42)
SAMPLE_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), TEXT)
CONNECT = st.fixed_dictionaries(
    {"daddr": st.one_of(TEXT, st.ip_addresses().map(str)), "dport": st.integers(-5, 70_000),
     "protocol": st.sampled_from(["tcp", "udp", "other", ""])}
)  # fmt: skip
SAMPLE = st.one_of(st.dictionaries(TEXT, SAMPLE_VALUE, max_size=4), CONNECT)

PROCESS = st.builds(
    ProcessInfo, pid=st.integers(0, 2**22), ns_pid=st.one_of(st.none(), st.integers(0, 2**22)),
    ppid=st.integers(0, 2**22), uid=st.integers(0, 2**32 - 1), comm=TEXT, exe=st.one_of(st.none(), TEXT),
    argv=st.lists(TEXT.filter(lambda s: "\x00" not in s), max_size=5).map(tuple),  # /proc splits on NUL
    argv_truncated=st.booleans(), state=TEXT, start_time=MS,
)  # fmt: skip
EVIDENCE = st.builds(
    Evidence, process=st.one_of(st.none(), PROCESS), command=st.one_of(st.none(), TEXT),
    path=st.one_of(st.none(), TEXT), samples=st.lists(SAMPLE, max_size=3).map(tuple),
)  # fmt: skip


@st.composite
def violations(draw: Any) -> Violation:
    rule = RULES[draw(st.sampled_from(sorted(RULES)))]
    return Violation(
        event_id=draw(TEXT), time=draw(MS), container_id=draw(TEXT.filter(bool)), host=draw(TEXT),
        violation_id=draw(TEXT), activity=draw(st.sampled_from(ViolationActivity)), rule_id=rule.rule_id,
        violation_type=rule.violation_type, severity=rule.severity, title=draw(TEXT), message=draw(TEXT),
        count=draw(st.integers(1, 2**31)), first_seen=draw(MS), last_seen=draw(MS), sample_time=draw(MS),
        detected_time=draw(MS), policy_id=draw(TEXT), policy_name=draw(TEXT), policy_version=draw(TEXT),
        mode=draw(st.sampled_from(["enforce", "audit"])), disposition=draw(st.sampled_from(Disposition)),
        container_name=draw(TEXT), image=draw(TEXT), labels=draw(st.dictionaries(TEXT, TEXT, max_size=3)),
        evidence=draw(EVIDENCE),
    )  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(violations())
def test_any_violation_is_valid_ocsf_and_reads_back(v: Violation) -> None:
    doc = orjson.loads(orjson.dumps(to_ocsf(v)))
    assert problems(doc) == []
    assert [e.message for e in OURS.iter_errors(doc)] == []
    assert from_ocsf(doc) == v
