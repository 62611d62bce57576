"""What a manager knows of each sandbox, and how enforcement outcomes change it. Pure.

The processors say why on ``sandguard.enforcement`` (each command's reason) and what
they found on ``sandguard.violations``; the enforcer says what it did, and when, on
``sandguard.actions``. The manager folds all three into the sandbox's record, so
execute() can say a sandbox was terminated (when, why, by which rules) and the report
can list actions and violations without asking the history store.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sandbox.exceptions import SandboxError, SandboxExpired, SandboxNotFound, SandboxPaused, SandboxTerminated
from sandbox.results import SandboxStatus, Termination, utc_from_ms, utc_now
from schemas import (
    RULES,
    ActionOutcome,
    ActionResult,
    EnforcementAction,
    EnforcementCommand,
    SecurityPolicy,
    SecurityViolation,
    SecurityViolationType,
    Violation,
)

# Per sandbox: the last 100 actions and commands and 500 violations (a few KB each at
# most) keep a report useful without letting a noisy sandbox grow the manager unbounded.
MAX_ACTIONS = 100
MAX_COMMANDS = 100
MAX_VIOLATIONS = 500
# Rules the processors derive from our own denial audit events: the record already
# holds those denials, so they are not counted twice.
DENIAL_RULES = frozenset({"command.denied", "file.denied"})
_EFFECTIVE = (ActionOutcome.APPLIED, ActionOutcome.ALREADY_GONE)
# A sandbox whose timer exits cleanly this close to its end of life expired (the engine's
# clock and ours read the same host clock; 2 s covers a loaded engine's event delay).
EXPIRY_SLACK = timedelta(seconds=2)
SIGKILL_EXIT = 137


@dataclass
class SandboxRecord:
    sandbox_id: str
    name: str
    image: str
    policy: SecurityPolicy
    labels: dict[str, str]
    created_at: datetime
    expires_at: datetime
    status: SandboxStatus = SandboxStatus.RUNNING
    termination: Termination | None = None
    pause: Termination | None = None
    throttled: bool = False
    monitored: bool = True
    execs: int = 0
    file_operations: int = 0
    denied_commands: int = 0
    denied_file_operations: int = 0
    actions: deque[ActionResult] = field(default_factory=lambda: deque(maxlen=MAX_ACTIONS))
    violations: OrderedDict[str, SecurityViolation] = field(default_factory=OrderedDict)
    # Why each enforcement command was issued (the processors' reason), by command id.
    command_reasons: OrderedDict[str, str] = field(default_factory=OrderedDict)
    # A terminate command seen on the bus and not yet answered: when the engine reports the
    # kill before the enforcer's result arrives, the kill is this command's doing.
    pending_terminate: EnforcementCommand | None = None

    @property
    def active(self) -> bool:
        return self.status in (SandboxStatus.RUNNING, SandboxStatus.PAUSED)

    def add_violation(self, violation: SecurityViolation) -> None:
        self.violations[violation.violation_id] = violation
        self.violations.move_to_end(violation.violation_id)
        while len(self.violations) > MAX_VIOLATIONS:
            self.violations.popitem(last=False)


def _why(record: SandboxRecord, command_id: str, rule_ids: tuple[str, ...], note: str) -> str:
    """The command's reason when known; else what the enforcer said; else its rules."""
    return record.command_reasons.get(command_id) or note or f"rules {', '.join(rule_ids) or 'unknown'}"


def _outcome(record: SandboxRecord, result: ActionResult, action: str) -> Termination:
    return Termination(
        at=utc_from_ms(result.time),
        reason=_why(record, result.command_id, result.rule_ids, result.reason),
        source="enforcer",
        action=action,
        command_id=result.command_id,
        rule_ids=result.rule_ids,
        violation_ids=result.violation_ids,
        note=result.reason,
    )


def apply_command(record: SandboxRecord, command: EnforcementCommand) -> None:
    """Remembers why a command was issued; a result that came first gets the reason now."""
    if command.action is EnforcementAction.TERMINATE and command.mode == "enforce":
        record.pending_terminate = command
    if not command.reason:
        return
    record.command_reasons[command.command_id] = command.reason
    while len(record.command_reasons) > MAX_COMMANDS:
        record.command_reasons.popitem(last=False)
    if record.termination is not None and record.termination.command_id == command.command_id:
        record.termination = record.termination.model_copy(update={"reason": command.reason})
    if record.pause is not None and record.pause.command_id == command.command_id:
        record.pause = record.pause.model_copy(update={"reason": command.reason})


def _seen_by_engine_only(record: SandboxRecord) -> bool:
    return record.status is SandboxStatus.TERMINATED and (
        record.termination is None or record.termination.source == "engine"
    )


def apply_action(record: SandboxRecord, result: ActionResult) -> None:
    """Folds one enforcement result into the record (only effective ones change state).

    A terminate may arrive after the engine reported the container stopped: it then
    replaces the engine's account (which knows no reason) and keeps its exit code.
    """
    record.actions.append(result)
    pending = record.pending_terminate
    if pending is not None and pending.command_id == result.command_id:
        record.pending_terminate = None
    if result.result not in _EFFECTIVE:
        return
    if result.action is EnforcementAction.TERMINATE and (record.active or _seen_by_engine_only(record)):
        seen = record.termination
        record.status = SandboxStatus.TERMINATED
        record.termination = _outcome(record, result, "terminate").model_copy(
            update={
                "exit_code": seen.exit_code if seen else None,
                "oom_killed": bool(seen and seen.oom_killed),
            }
        )
        return
    if not record.active:
        return
    if result.action is EnforcementAction.PAUSE:
        record.status = SandboxStatus.PAUSED
        record.pause = _outcome(record, result, "pause")
    elif result.action is EnforcementAction.UNPAUSE:
        record.status = SandboxStatus.RUNNING
        record.pause = None
    elif result.action is EnforcementAction.THROTTLE:
        record.throttled = True
    elif result.action is EnforcementAction.REAPPLY_LIMITS:
        record.throttled = False


def apply_violation(record: SandboxRecord, violation: Violation) -> None:
    """Keeps the latest state of each violation (processors update counts and dispositions)."""
    if violation.rule_id in DENIAL_RULES:
        return
    record.add_violation(
        SecurityViolation(
            violation_id=violation.violation_id,
            timestamp=utc_from_ms(violation.detected_time),
            violation_type=violation.violation_type,
            severity=violation.severity,
            container_id=violation.container_id,
            details={
                "title": violation.title,
                "message": violation.message,
                "policy_id": violation.policy_id,
            },
            action_taken=violation.disposition.value,
            rule_id=violation.rule_id,
            count=violation.count,
        )
    )


def denial_violation(
    record: SandboxRecord, rule_id: str, violation_type: SecurityViolationType, details: dict[str, object]
) -> SecurityViolation:
    """A refused operation, as the original API reported violations."""
    violation = SecurityViolation(
        violation_type=violation_type,
        severity=RULES[rule_id].severity,
        container_id=record.sandbox_id,
        details=details,
        action_taken="denied",
        rule_id=rule_id,
    )
    record.add_violation(violation)
    return violation


def _stop_reason(exit_code: int | None, oom_killed: bool, removed: bool) -> str:
    if removed:
        return "the container was removed outside the manager"
    if oom_killed:
        return f"its main process was killed by the OOM killer (exit code {exit_code})"
    if exit_code == SIGKILL_EXIT:
        return "the container was killed (SIGKILL, exit code 137)"
    return f"the container stopped with exit code {exit_code} before the end of its lifetime"


def observe_stop(
    record: SandboxRecord,
    *,
    at: datetime,
    exit_code: int | None,
    oom_killed: bool = False,
    removed: bool = False,
) -> None:
    """The engine says the container stopped (or is gone): expired, or terminated. After
    the enforcer's account, it only adds the exit code."""
    t = record.termination
    if record.status is SandboxStatus.TERMINATED and t is not None and t.exit_code is None and not removed:
        record.termination = t.model_copy(update={"exit_code": exit_code, "oom_killed": oom_killed})
        return
    if not record.active:
        return
    if not removed and exit_code == 0 and at >= record.expires_at - EXPIRY_SLACK:
        record.status = SandboxStatus.EXPIRED
        return
    record.status = SandboxStatus.TERMINATED
    cmd = record.pending_terminate
    if cmd is not None:
        record.termination = Termination(
            at=at, reason=cmd.reason or _why(record, cmd.command_id, cmd.rule_ids, ""), source="enforcer",
            command_id=cmd.command_id, rule_ids=cmd.rule_ids, violation_ids=cmd.violation_ids,
            exit_code=exit_code, oom_killed=oom_killed,
        )  # fmt: skip
        return
    record.termination = Termination(
        at=at,
        reason=_stop_reason(exit_code, oom_killed, removed),
        source="engine",
        action="stop",
        exit_code=exit_code,
        oom_killed=oom_killed,
    )


def observe_pause(record: SandboxRecord, *, at: datetime, paused: bool) -> None:
    """The engine says the container was paused or unpaused (the enforcer's result, with
    its reason, may come before or after)."""
    if paused and record.status is SandboxStatus.RUNNING:
        record.status = SandboxStatus.PAUSED
        record.pause = Termination(
            at=at, reason="paused by the enforcer or outside the manager", source="engine", action="pause"
        )
    elif not paused and record.status is SandboxStatus.PAUSED:
        record.status = SandboxStatus.RUNNING
        record.pause = None


def unusable(r: SandboxRecord) -> SandboxError | None:
    """Why the sandbox cannot run anything now, as the error to raise (None when it can)."""
    if r.status is SandboxStatus.RUNNING:
        return None
    if r.status is SandboxStatus.DESTROYED:
        return SandboxNotFound(r.sandbox_id, "destroyed")
    if r.status is SandboxStatus.EXPIRED:
        return SandboxExpired(r.sandbox_id, r.expires_at, r.policy.resource_limits.execution_timeout)
    if r.status is SandboxStatus.PAUSED:
        pause = r.pause or Termination(at=utc_now(), reason="paused", source="engine", action="pause")
        return SandboxPaused(r.sandbox_id, pause.at, pause.reason)
    return SandboxTerminated(
        r.sandbox_id, r.termination or Termination(at=utc_now(), reason="unknown", source="manager")
    )
