"""Escalation to commands, immediate rules, audit mode."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.unit.processors.conftest import INET, Feed, audit, kexec, metric, proc, snapshot


def _denied(t: float, cmd: str) -> object:
    return audit(t, "exec", "exec", cmd, allowed=False)


def test_threshold_within_window_terminates_when_auto_terminate(feed: Callable[..., Feed]) -> None:
    f = feed(violation_threshold=3, auto_terminate_on_violation=True, keep_filesystem_on_terminate=True)
    f(_denied(1, "a"), _denied(2, "b"))  # type: ignore[arg-type]
    assert f.commands == []
    vs, cs = f(_denied(3, "c"))  # type: ignore[arg-type]
    assert [c.action.value for c in cs] == ["terminate"]
    cmd = cs[0]
    assert cmd.violation_ids == tuple(v.violation_id for v in f.violations)
    assert (cmd.host, cmd.first_violation_time, cmd.keep_filesystem, cmd.mode) == (
        "h1",
        1000,
        True,
        "enforce",
    )
    assert cmd.limits == f.ctx.policy.limits and cmd.rule_ids == ("command.denied",)
    assert vs[0].disposition.value == "terminated"


def test_violations_outside_the_escalation_window_do_not_count(feed: Callable[..., Feed]) -> None:
    f = feed(
        violation_threshold=3, auto_terminate_on_violation=True, detection={"escalation_window_seconds": 10}
    )
    f(_denied(0, "a"), _denied(5, "b"), _denied(10, "c"))  # type: ignore[arg-type]
    assert f.commands == []  # the one at t=0 left the window (0, 10] at t=10
    f(_denied(11, "d"))  # type: ignore[arg-type]
    assert [c.action.value for c in f.commands] == ["terminate"]


@pytest.mark.parametrize(
    ("response", "action"), [("throttle", "throttle"), ("pause", "pause"), ("terminate", "terminate")]
)
def test_configured_response_without_auto_terminate(
    feed: Callable[..., Feed], response: str, action: str
) -> None:
    f = feed(violation_threshold=2, escalation_response=response, throttle_factor=0.25)
    f(_denied(1, "a"), _denied(2, "b"))  # type: ignore[arg-type]
    assert [c.action.value for c in f.commands] == [action]
    assert f.commands[0].throttle_factor == (0.25 if action == "throttle" else None)


def test_alert_response_issues_no_command(feed: Callable[..., Feed]) -> None:
    f = feed(violation_threshold=2, escalation_response="alert")
    f(*(_denied(t, f"c{t}") for t in range(6)))  # type: ignore[arg-type]
    assert f.commands == [] and len(f.violations) == 6


def test_same_action_not_repeated_within_window_and_nothing_after_terminate(
    feed: Callable[..., Feed],
) -> None:
    f = feed(violation_threshold=2, escalation_response="pause", detection={"escalation_window_seconds": 100})
    f(*(_denied(t, f"c{t}") for t in range(1, 9)))  # type: ignore[arg-type]
    assert [c.action.value for c in f.commands] == ["pause"]
    f(_denied(120, "x"), _denied(121, "y"))  # type: ignore[arg-type]
    assert [c.action.value for c in f.commands] == ["pause", "pause"]
    g = feed(violation_threshold=2, auto_terminate_on_violation=True)
    g(*(_denied(t, f"c{t}") for t in range(1, 9)))  # type: ignore[arg-type]
    assert [c.action.value for c in g.commands] == ["terminate"]


def test_immediate_rule_acts_at_once(feed: Callable[..., Feed]) -> None:
    f = feed(auto_terminate_on_violation=True, violation_threshold=100)
    f(metric(1, memory_oom_kills_total=1))
    assert f.commands == []
    # A shell with a socket on its stdin/stdout (kernel evidence; argv text alone is a hint
    # that never acts, see test_processes).
    rs = kexec(2, 4, "/bin/sh", "sh", "-i", exe="/bin/dash", stdio=(INET, INET, INET))
    vs, cs = f(rs)
    assert [c.action.value for c in cs] == ["terminate"]
    assert cs[0].rule_ids == ("process.reverse_shell",) and cs[0].violation_ids == (vs[0].violation_id,)
    assert "immediate rule process.reverse_shell" in cs[0].reason


def test_policy_can_make_any_rule_immediate_or_none(feed: Callable[..., Feed]) -> None:
    f = feed(auto_terminate_on_violation=True, immediate_rules={"memory.oom_kill"})
    f(metric(1, memory_oom_kills_total=1))
    assert [c.action.value for c in f.commands] == ["terminate"]
    g = feed(auto_terminate_on_violation=True, immediate_rules=set())
    g(snapshot(1, proc(4, "bash", "bash", "-i", "/dev/tcp/127.0.0.1/1")))
    assert g.commands == []


def test_audit_mode_records_what_would_be_done(feed: Callable[..., Feed]) -> None:
    f = feed(mode="audit", auto_terminate_on_violation=True, violation_threshold=2)
    f(_denied(1, "a"), _denied(2, "b"))  # type: ignore[arg-type]
    assert [(c.action.value, c.mode) for c in f.commands] == [("terminate", "audit")]
    assert {(v.mode, v.disposition.value) for v in f.violations} == {("audit", "detected")}


def test_command_ids_are_deterministic(feed: Callable[..., Feed]) -> None:
    runs = []
    for _ in range(2):
        f = feed(violation_threshold=2, auto_terminate_on_violation=True)
        f(_denied(1, "a"), _denied(2, "b"))  # type: ignore[arg-type]
        runs.append(f.commands)
    assert runs[0] == runs[1] and runs[0][0].command_id == runs[0][0].model_dump()["command_id"]
    assert runs[0][0].event_id != runs[0][0].command_id
