"""Escalation judged again when a container's policy arrives or changes.

Until a sandbox's policy is known it is judged by the processor's default escalation
settings (``processors.own_limits``), and its violations wait in the state's escalation
window (part of the changelogged state, so a restart keeps them). Kafka orders a key's
events within a topic, not across topics: the policy may come a fetch after the first
violations. A busybox fork flood gives one ``pids.limit_hit`` (its shell exits at the
first refused fork), under the default's threshold of 5; when the sandbox's own policy
(threshold 1) arrived, nothing judged that violation again, so the sandbox ran on.

Now the arrival, or a re-apply, judges the window under the policy, at the newest event
time seen (never the wall clock, so a replay decides the same with the same ids). Only an
action stricter than the one in force is new: a re-apply finds its own action in force
(and the window emptied by it), a looser policy never undoes an action.

Until the policy arrives, the stand-in keeps violations for the longest window a policy
may set (a day, bounded by ``MAX_ESCALATION`` entries: ~50 KB a container) while its own
threshold counts only those within its own window; so a policy that arrives later with a
long window judges every violation of that window.
"""

from __future__ import annotations

from processors.engine.escalation import DISPOSITION, command, escalation_action
from processors.engine.findings import StepRun, maybe_update
from processors.engine.policy import CompiledPolicy
from processors.engine.state import MAX_ESCALATION
from schemas import EnforcementAction
from schemas.rules import ADVISORY_RULES, HINT_RULES

# Actions from the mildest; a re-apply of limits is not an escalation.
_RANK = {"": 0, "throttle": 1, "pause": 2, "terminate": 3}
NOTE = " (judged again when the policy arrived or changed)"

Entry = tuple[int, str, str]  # (time, violation id, rule), as in ContainerState.escalation


def on_policy(run: StepRun, t: int) -> None:
    """Issues what the policy calls for over the window as of ``t``, when that is stricter
    than the action in force."""
    state, pol = run.state, run.ctx.policy
    window = _counted(run, t)
    immediate = [e for e in window if e[2] in pol.immediate]
    if not immediate and len(window) < min(pol.threshold, MAX_ESCALATION):
        return
    action = escalation_action(run)
    if action is None or _RANK[action.value] <= _RANK.get(state.enforced, 0):
        return
    items = immediate or window
    command(run, action, t, items, min(e[0] for e in items), immediate=bool(immediate), note=NOTE)
    if not pol.audit:
        _dispose(run, action, items, t)


def _counted(run: StepRun, t: int) -> list[Entry]:
    """The window's violations that count under the policy; older ones leave it, as at the
    next violation they would."""
    window, pol = run.state.escalation, run.ctx.policy
    while window and window[0][0] <= t - pol.escalation_window_ms:
        window.popleft()
    return [e for e in window if _counts(pol, e[2])]


def _counts(pol: CompiledPolicy, rule_id: str) -> bool:
    if rule_id not in pol.enabled or rule_id in HINT_RULES or rule_id in pol.audit_rules:
        return False
    return rule_id not in ADVISORY_RULES or rule_id in pol.immediate


def _dispose(run: StepRun, action: EnforcementAction, items: list[Entry], t: int) -> None:
    """The newest violation of the decision that is still open says what was done."""
    state = run.state
    open_by_id = {f.violation_id: f for f in state.findings.values()}
    for _, vid, _ in reversed(items):
        f = open_by_id.get(vid)
        if f is not None:
            f.disposition = DISPOSITION[action].value
            maybe_update(run, f, t, changed=True)
            break
    if action is EnforcementAction.THROTTLE:
        state.cpu_factor = run.ctx.policy.throttle_factor
