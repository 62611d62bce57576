"""How enforcement results, violations and the engine's events change a sandbox's record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from sandbox.record import (
    MAX_COMMANDS,
    MAX_VIOLATIONS,
    SandboxRecord,
    apply_action,
    apply_command,
    apply_violation,
    denial_violation,
    observe_pause,
    observe_stop,
)
from sandbox.results import SandboxStatus, utc_now
from schemas import (
    ActionOutcome,
    ActionResult,
    EnforcementAction,
    EnforcementCommand,
    SecurityViolation,
    SecurityViolationType,
    Violation,
)

MakeRecord = Callable[..., SandboxRecord]


def status(record: SandboxRecord) -> SandboxStatus:
    """Read afresh (mypy would keep the narrowing of an earlier assert across a mutation)."""
    return record.status


MakeAction = Callable[..., ActionResult]


def test_a_terminate_says_when_and_why(make_record: MakeRecord, make_action: MakeAction) -> None:
    record = make_record()
    apply_action(record, make_action())
    assert record.status is SandboxStatus.TERMINATED
    t = record.termination
    assert t is not None and t.source == "enforcer" and t.reason == "fork bomb"
    assert t.rule_ids == ("pids.limit_hit",) and t.violation_ids == ("v-1",)
    assert int(t.at.timestamp() * 1000) == 1_700_000_000_500
    assert next(iter(record.actions)).command_id == "cmd-1"


@pytest.mark.parametrize("outcome", [ActionOutcome.FAILED, ActionOutcome.AUDIT_ONLY, ActionOutcome.DUPLICATE])
def test_an_action_that_did_not_act_changes_nothing(
    make_record: MakeRecord, make_action: MakeAction, outcome: ActionOutcome
) -> None:
    record = make_record()
    apply_action(record, make_action(result=outcome))
    assert record.status is SandboxStatus.RUNNING and len(record.actions) == 1


def test_pause_unpause_and_throttle(make_record: MakeRecord, make_action: MakeAction) -> None:
    record = make_record()
    apply_action(record, make_action(action=EnforcementAction.PAUSE, reason="suspicious"))
    pause = record.pause
    assert record.status is SandboxStatus.PAUSED and pause and pause.reason == "suspicious"
    apply_action(record, make_action(action=EnforcementAction.UNPAUSE))
    assert status(record) is SandboxStatus.RUNNING and record.pause is None
    apply_action(record, make_action(action=EnforcementAction.THROTTLE))
    throttled = record.throttled
    apply_action(record, make_action(action=EnforcementAction.REAPPLY_LIMITS))
    assert throttled and not record.throttled


def test_the_enforcers_reason_replaces_the_engines_account(
    make_record: MakeRecord, make_action: MakeAction
) -> None:
    record = make_record()
    observe_stop(record, at=utc_now(), exit_code=137)
    assert record.termination and record.termination.source == "engine"
    apply_action(record, make_action())
    t = record.termination
    assert t and t.source == "enforcer" and t.reason == "fork bomb" and t.exit_code == 137


def test_the_engines_exit_code_completes_the_enforcers_account(
    make_record: MakeRecord, make_action: MakeAction
) -> None:
    record = make_record()
    apply_action(record, make_action())
    observe_stop(record, at=utc_now(), exit_code=137)
    t = record.termination
    assert t is not None and t.source == "enforcer" and t.reason == "fork bomb" and t.exit_code == 137


def test_a_destroyed_or_expired_sandbox_stays_so(make_record: MakeRecord, make_action: MakeAction) -> None:
    for status in (SandboxStatus.DESTROYED, SandboxStatus.EXPIRED):
        record = make_record(status=status)
        apply_action(record, make_action())
        assert record.status is status


def test_a_clean_exit_at_the_end_of_life_is_expiry(make_record: MakeRecord) -> None:
    record = make_record(expires_at=utc_now())
    observe_stop(record, at=utc_now(), exit_code=0)
    assert record.status is SandboxStatus.EXPIRED and record.termination is None


@pytest.mark.parametrize(
    ("code", "oom", "removed", "words"),
    [
        (137, False, False, "SIGKILL"),
        (137, True, False, "OOM"),
        (None, False, True, "removed"),
        (0, False, False, "before the end of its lifetime"),
    ],
)
def test_an_early_stop_is_a_termination_with_the_reason(
    make_record: MakeRecord, code: int | None, oom: bool, removed: bool, words: str
) -> None:
    record = make_record(expires_at=utc_now() + timedelta(minutes=5))
    observe_stop(record, at=utc_now(), exit_code=code, oom_killed=oom, removed=removed)
    assert record.status is SandboxStatus.TERMINATED
    assert record.termination and words in record.termination.reason and record.termination.exit_code == code


def test_engine_pause_and_unpause(make_record: MakeRecord) -> None:
    record = make_record()
    observe_pause(record, at=utc_now(), paused=True)
    assert record.status is SandboxStatus.PAUSED and record.pause and record.pause.source == "engine"
    observe_pause(record, at=utc_now(), paused=False)
    assert status(record) is SandboxStatus.RUNNING


def test_violations_keep_their_latest_state_but_not_our_own_denials(
    make_record: MakeRecord, make_violation: Callable[..., Violation]
) -> None:
    record = make_record()
    apply_violation(record, make_violation(count=1))
    apply_violation(record, make_violation(count=4, disposition="terminated"))
    apply_violation(record, make_violation(violation_id="v-2", rule_id="command.denied"))
    assert list(record.violations) == ["v-1"]
    v = record.violations["v-1"]
    assert (v.count, v.action_taken, v.rule_id) == (4, "terminated", "pids.limit_hit")


def test_violations_are_bounded(make_record: MakeRecord) -> None:
    record = make_record()
    for i in range(MAX_VIOLATIONS + 10):
        record.add_violation(
            SecurityViolation(
                violation_id=f"v{i}",
                violation_type="process_violation",
                severity="low",
                container_id=record.sandbox_id,
            )
        )
    assert len(record.violations) == MAX_VIOLATIONS and "v0" not in record.violations


def test_a_denial_is_a_seed_violation(make_record: MakeRecord) -> None:
    record = make_record()
    v = denial_violation(record, "command.denied", SecurityViolationType.PERMISSION_VIOLATION, {"word": "rm"})
    assert v.action_taken == "denied" and v.severity == "medium" and record.violations[v.violation_id] is v


def make_command(**overrides: object) -> EnforcementCommand:
    args: dict[str, object] = {
        "container_id": "c" * 64,
        "command_id": "cmd-1",
        "action": EnforcementAction.TERMINATE,
        "reason": "3 violations within 300 s (pids.limit_hit) reached the threshold of policy default",
        "rule_ids": ("pids.limit_hit",),
    }
    args.update(overrides)
    return EnforcementCommand(**args)


def test_why_is_the_commands_reason(make_record: MakeRecord, make_action: MakeAction) -> None:
    record = make_record()
    apply_command(record, make_command())
    apply_action(record, make_action(reason=""))  # the enforcer says nothing of why
    t = record.termination
    assert t is not None and t.reason.startswith("3 violations within 300 s") and t.note == ""


def test_a_command_after_its_result_still_explains_it(
    make_record: MakeRecord, make_action: MakeAction
) -> None:
    record = make_record()
    apply_action(record, make_action(reason="container exited"))
    first = record.termination
    assert first is not None and first.reason == "container exited"
    apply_command(record, make_command())
    t = record.termination
    assert t is not None and t.reason.startswith("3 violations") and t.note == "container exited"


def test_without_any_reason_the_rules_explain(make_record: MakeRecord, make_action: MakeAction) -> None:
    record = make_record()
    apply_action(record, make_action(reason=""))
    assert record.termination is not None and record.termination.reason == "rules pids.limit_hit"


def test_command_reasons_are_bounded(make_record: MakeRecord) -> None:
    record = make_record()
    for i in range(MAX_COMMANDS + 5):
        apply_command(record, make_command(command_id=f"cmd-{i}"))
    assert len(record.command_reasons) == MAX_COMMANDS and "cmd-0" not in record.command_reasons


def test_a_kill_seen_before_the_enforcers_result_is_the_pending_commands(
    make_record: MakeRecord, make_action: MakeAction
) -> None:
    """The engine's die event can beat the enforcer's result on the bus: the kill is then
    attributed at once to the terminate command already seen, with its reason and rules."""
    record = make_record()
    command = make_command()
    apply_command(record, command)
    observe_stop(record, at=utc_now(), exit_code=137)
    t = record.termination
    assert status(record) is SandboxStatus.TERMINATED
    assert t is not None and t.source == "enforcer" and t.command_id == command.command_id
    assert t.reason == command.reason and t.rule_ids == command.rule_ids and t.exit_code == 137
    apply_action(record, make_action(command_id=command.command_id))
    assert record.pending_terminate is None and record.termination is not None
    assert record.termination.command_id == command.command_id


def test_an_audit_only_terminate_is_not_pending(make_record: MakeRecord) -> None:
    record = make_record()
    apply_command(record, make_command().model_copy(update={"mode": "audit"}))
    observe_stop(record, at=utc_now(), exit_code=137)
    assert record.termination is not None and record.termination.source == "engine"
