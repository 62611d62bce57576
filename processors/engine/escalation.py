"""Escalation: violations within a window reaching the threshold become an enforcement command.

The action is the policy's: terminate when ``auto_terminate_on_violation``, otherwise its
``escalation_response`` (alert issues no command). Immediate rules skip the count. In
audit mode the command is still issued, marked ``mode="audit"``: the enforcer records
what it would have done. The same action is not repeated within the escalation window
(a paused container keeps its memory level, which would otherwise re-pause it), and
nothing follows a terminate. When the container's policy arrives late or changes, the
window is judged again under it (``processors.engine.arrival``).
"""

from __future__ import annotations

from processors.engine.findings import StepRun
from processors.engine.state import MAX_ESCALATION, Finding
from schemas import Disposition, EnforcementAction, EnforcementCommand, EscalationResponse, stable_id
from schemas.policy import MAX_ESCALATION_WINDOW_S
from schemas.rules import ADVISORY_RULES

_RESPONSE_ACTION = {
    EscalationResponse.THROTTLE: EnforcementAction.THROTTLE,
    EscalationResponse.PAUSE: EnforcementAction.PAUSE,
    EscalationResponse.TERMINATE: EnforcementAction.TERMINATE,
}
DISPOSITION = {
    EnforcementAction.THROTTLE: Disposition.THROTTLED,
    EnforcementAction.PAUSE: Disposition.PAUSED,
    EnforcementAction.TERMINATE: Disposition.TERMINATED,
}


def escalation_action(run: StepRun) -> EnforcementAction | None:
    pol = run.ctx.policy
    if pol.auto_terminate:
        return EnforcementAction.TERMINATE
    return _RESPONSE_ACTION.get(pol.response)


def on_occurrence(run: StepRun, f: Finding, t: int) -> bool:
    """Counts one violation; issues a command when due. Returns True if the finding's
    disposition changed."""
    state = run.state
    pol = run.ctx.policy
    if state.enforced == EnforcementAction.TERMINATE.value:
        return False
    if f.rule_id in ADVISORY_RULES and f.rule_id not in pol.immediate:
        return False  # informs only (a disk nearly full is not an attack): never in the window
    window = state.escalation
    while window and window[0][0] <= t - _kept_ms(run):
        window.popleft()
    window.append((t, f.violation_id, f.rule_id))
    while len(window) > MAX_ESCALATION:
        window.popleft()
    immediate = f.rule_id in pol.immediate
    if not immediate and len(_in_window(run, t)) < min(pol.threshold, MAX_ESCALATION):
        return False
    action = escalation_action(run)
    if action is None:
        if not pol.provisional:  # a provisional policy's window waits for the real one
            window.clear()
        return False
    if state.enforced == action.value and t - state.enforced_at < pol.escalation_window_ms:
        return False
    entries = [f] if immediate else None
    issue(run, action, t, entries)
    if not pol.audit:
        f.disposition = DISPOSITION[action].value
        if action is EnforcementAction.THROTTLE:
            state.cpu_factor = pol.throttle_factor
    return not pol.audit


def issue(run: StepRun, action: EnforcementAction, t: int, only: list[Finding] | None = None) -> None:
    """Emits a command for the violations in the escalation window (or ``only`` those)."""
    if only is not None:
        items = [(t, x.violation_id, x.rule_id) for x in only]
        command(run, action, t, items, min(x.first_seen for x in only), immediate=True)
    else:
        items = _in_window(run, t)
        command(run, action, t, items, items[0][0], immediate=False)


def _kept_ms(run: StepRun) -> int:
    """How long the window keeps a violation: the policy's window; a provisional policy's
    (a stand-in until the sandbox's own arrives, ``processors.engine.arrival``) keeps the
    longest a policy may set, so a later policy with a long window judges all of it."""
    pol = run.ctx.policy
    return MAX_ESCALATION_WINDOW_S * 1000 if pol.provisional else pol.escalation_window_ms


def _in_window(run: StepRun, t: int) -> list[tuple[int, str, str]]:
    """The violations that count now: those within the policy's own window (a provisional
    policy's window may hold older ones, kept for the policy to come)."""
    start = t - run.ctx.policy.escalation_window_ms
    return [e for e in run.state.escalation if e[0] > start]


def command(
    run: StepRun,
    action: EnforcementAction,
    t: int,
    items: list[tuple[int, str, str]],
    first: int,
    *,
    immediate: bool,
    note: str = "",
) -> None:
    """Emits the command for ``items`` (time, violation id, rule) of the window; any action
    but a re-apply empties the window and is the one in force from ``t``."""
    state = run.state
    pol = run.ctx.policy
    vids = tuple(dict.fromkeys(v for _, v, _ in items))
    rules = tuple(dict.fromkeys(r for _, _, r in items))
    cid = stable_id("command", state.container_id, action.value, t, *vids)
    if action is not EnforcementAction.REAPPLY_LIMITS:
        state.escalation.clear()
        state.enforced = action.value
        state.enforced_at = t
    run.commands.append(
        EnforcementCommand(
            event_id=stable_id("command-event", cid),
            time=t,
            container_id=state.container_id,
            host=run.host or state.host,
            command_id=cid,
            action=action,
            mode="audit" if pol.audit else "enforce",
            violation_ids=vids,
            rule_ids=rules,
            reason=_reason(run, action, rules, immediate) + note,
            policy_id=pol.policy_id,
            limits=pol.limits,
            throttle_factor=_factor(run, action),
            keep_filesystem=pol.keep_filesystem,
            first_violation_time=first,
        )
    )


def _reason(run: StepRun, action: EnforcementAction, rules: tuple[str, ...], immediate: bool) -> str:
    pol = run.ctx.policy
    if action is EnforcementAction.REAPPLY_LIMITS:
        return f"limits in force differ from policy {pol.name} ({', '.join(rules)})"
    if immediate:
        return f"immediate rule {rules[0]} of policy {pol.name}"
    window_s = pol.escalation_window_ms // 1000
    return (
        f"{pol.threshold} violations within {window_s} s ({', '.join(rules)}) "
        f"reached the threshold of policy {pol.name}"
    )


def _factor(run: StepRun, action: EnforcementAction) -> float | None:
    """A throttle's factor; a re-apply keeps a throttle in force rather than undoing it."""
    if action is EnforcementAction.THROTTLE:
        return run.ctx.policy.throttle_factor
    if action is EnforcementAction.REAPPLY_LIMITS and run.state.cpu_factor != 1.0:
        return run.state.cpu_factor
    return None
