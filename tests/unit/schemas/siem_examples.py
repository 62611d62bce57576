"""The events docs/siem.md shows, made by ``to_ocsf``: one finding through create, update
and close, and the evidence of a refused command.

``python -m tests.unit.schemas.siem_examples`` prints them as the document's JSON blocks;
test_siem_doc checks that the document holds exactly these and that each is valid.
"""

from __future__ import annotations

import json
from typing import Any

from schemas import Evidence, ProcessInfo, Violation, stable_id, to_ocsf
from schemas.rules import RULES

CONTAINER = "4be1c0a9d2e7" + "0" * 52
NC = ProcessInfo(
    pid=48213, ns_pid=7, ppid=48190, uid=1000, comm="nc", exe="/usr/bin/nc.openbsd",
    argv=("nc", "-lvp", "4444"), state="S", start_time=1_795_817_094_100,
)  # fmt: skip
FINDING = stable_id(CONTAINER, "process.blocked", "nc", 1_795_817_094_512 // 300_000)


def _event(activity: str, count: int, disposition: str, last_seen: int, detected: int) -> Violation:
    info = RULES["process.blocked"]
    return Violation(
        event_id=stable_id("violation-event", FINDING, activity, count, disposition), time=last_seen,
        container_id=CONTAINER, host="worker-3", violation_id=FINDING, activity=activity,
        rule_id=info.rule_id, violation_type=info.violation_type, severity=info.severity, title=info.title,
        message="blocked command nc running: nc (pid 7): nc -lvp 4444", count=count,
        first_seen=1_795_817_094_512, last_seen=last_seen, sample_time=last_seen, detected_time=detected,
        policy_id="pol-17d60d40b3a7bf2e", policy_name="agents", policy_version="3", mode="enforce",
        disposition=disposition, container_name="sg-7f3a", image="sandguard/python:3",
        labels={"team": "research"}, evidence=Evidence(process=NC),
    )  # fmt: skip


def lifecycle() -> dict[str, dict[str, Any]]:
    """nc seen running; seen again until the third occurrence pauses the sandbox; the
    window ends with two more occurrences not yet reported."""
    return {
        "create": to_ocsf(_event("create", 1, "detected", 1_795_817_094_512, 1_795_817_094_530)),
        "update": to_ocsf(_event("update", 3, "paused", 1_795_817_096_540, 1_795_817_096_551)),
        "close": to_ocsf(_event("close", 5, "paused", 1_795_817_131_020, 1_795_817_400_000)),
    }


def refused_command() -> dict[str, Any]:
    """What differs for a command refused before it ran: a script, not a process."""
    info = RULES["command.denied"]
    v = Violation(
        container_id=CONTAINER, host="worker-3", violation_id=stable_id(CONTAINER, info.rule_id, "rm", 0),
        rule_id=info.rule_id, violation_type=info.violation_type, severity=info.severity, title=info.title,
        message="command denied: rm -rf /work/* (rm is blocked)", first_seen=1, last_seen=1, sample_time=1,
        evidence=Evidence(command="rm -rf /work/*"),
    )  # fmt: skip
    doc = to_ocsf(v)
    return {"evidences": doc["evidences"], "observables": doc["observables"][-1:]}


def blocks() -> list[str]:
    docs = [*lifecycle().values(), refused_command()]
    return [json.dumps(d, indent=2) for d in docs]


if __name__ == "__main__":
    for b in blocks():
        print(f"```json\n{b}\n```\n")
