"""Dedup: one finding per rule, container, subject and dedup window; repeats raise its count.

Windows are tumbling and aligned to the epoch (index = event time // window), so a
finding's id depends only on the container, the rule, the subject and the time of the
event, never on what else arrived first. A finding is published when opened (CREATE),
again when repeats raised its count (UPDATE, at most once per update interval) or its
disposition changed, and a last time when its window ends with repeats not yet
published (CLOSE). Nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from processors.engine.policy import PolicyContext
from processors.engine.state import MAX_FINDINGS, ContainerState, Finding, finding_key
from schemas import (
    Disposition,
    EnforcementCommand,
    Evidence,
    Violation,
    ViolationActivity,
    stable_id,
)
from schemas.rules import RULES


@dataclass(slots=True)
class StepRun:
    """One step's working set: the state it changes and the outputs it collects."""

    state: ContainerState
    ctx: PolicyContext
    host: str
    now: int | None  # decision time given by the caller; None: the event's time
    violations: list[Violation] = field(default_factory=list)
    commands: list[EnforcementCommand] = field(default_factory=list)


Build = Callable[[], tuple[str, dict[str, Any]]]


def open_or_repeat(run: StepRun, rule_id: str, subject: str, t: int, build: Build) -> Finding | None:
    """Records one occurrence; returns the finding (new when ``count == 1``), None if disabled.

    ``build`` makes the message and evidence; a repeat calls it only when the finding is
    about to be published (see ``refresh``), so a flood of repeats costs a counter each."""
    pol = run.ctx.policy
    if rule_id not in pol.enabled:
        return None
    state = run.state
    key = finding_key(rule_id, subject)
    bucket = t // pol.dedup_window_ms
    f = state.findings.get(key)
    if f is not None and f.bucket != bucket:
        close(run, f, t)
        f = None
    if f is None:
        message, evidence = build()
        f = Finding(rule_id, subject, "", bucket, t, t, t, host=run.host, message=message, evidence=evidence)
        return _open(run, key, f)
    f.count += 1
    f.last_seen = max(f.last_seen, t)
    f.sample_time = t
    f.host = run.host or f.host
    return f


def due(run: StepRun, f: Finding, t: int, changed: bool) -> bool:
    """Whether this occurrence gets published (see ``maybe_update``)."""
    return (
        f.emitted_count == 0
        or changed
        or (f.count > f.emitted_count and t - f.emitted_at >= run.ctx.policy.update_interval_ms)
    )


def _open(run: StepRun, key: str, f: Finding) -> Finding:
    state = run.state
    if len(state.findings) >= MAX_FINDINGS:
        oldest = min(state.findings.values(), key=lambda x: (x.last_seen, x.violation_id))
        close(run, oldest, f.first_seen)
    f.violation_id = stable_id(state.container_id, f.rule_id, f.subject, f.bucket)
    f.emitted_count = 0
    state.findings[key] = f
    end = (f.bucket + 1) * run.ctx.policy.dedup_window_ms
    if state.next_expiry == 0 or end < state.next_expiry:
        state.next_expiry = end
    return f


def publish(run: StepRun, f: Finding, activity: ViolationActivity, t: int) -> None:
    f.emitted_count = f.count
    f.emitted_at = t
    run.violations.append(render(run, f, activity))


def maybe_update(run: StepRun, f: Finding, t: int, changed: bool) -> None:
    """Publishes a new finding, or a repeat when the disposition changed or the update
    interval has passed."""
    if f.emitted_count == 0:
        publish(run, f, ViolationActivity.CREATE, t)
    elif due(run, f, t, changed):
        publish(run, f, ViolationActivity.UPDATE, t)


def close(run: StepRun, f: Finding, t: int) -> None:
    """Removes a finding; publishes CLOSE when it has repeats nobody has seen yet."""
    run.state.findings.pop(finding_key(f.rule_id, f.subject), None)
    if f.count > f.emitted_count:
        f.emitted_count = f.count
        run.violations.append(render(run, f, ViolationActivity.CLOSE))


def expire(run: StepRun, t: int) -> None:
    """Closes the findings whose dedup window ended before ``t``."""
    state = run.state
    if state.next_expiry == 0 or t < state.next_expiry:
        return
    window = run.ctx.policy.dedup_window_ms
    for f in sorted(state.findings.values(), key=lambda x: (x.first_seen, x.violation_id)):
        if (f.bucket + 1) * window <= t:
            close(run, f, t)
    ends = [(f.bucket + 1) * window for f in state.findings.values()]
    state.next_expiry = min(ends) if ends else 0


def close_all(run: StepRun, t: int) -> None:
    for f in sorted(run.state.findings.values(), key=lambda x: (x.first_seen, x.violation_id)):
        close(run, f, t)
    run.state.next_expiry = 0


def render(run: StepRun, f: Finding, activity: ViolationActivity) -> Violation:
    info = RULES[f.rule_id]
    pol = run.ctx.policy
    detected = f.sample_time if run.now is None else run.now
    return Violation(
        event_id=stable_id("violation-event", f.violation_id, activity.value, f.count, f.disposition),
        time=f.sample_time,
        container_id=run.state.container_id,
        host=f.host,
        violation_id=f.violation_id,
        activity=activity,
        rule_id=f.rule_id,
        violation_type=info.violation_type,
        severity=info.severity,
        title=info.title,
        message=f.message,
        count=f.count,
        first_seen=f.first_seen,
        last_seen=f.last_seen,
        sample_time=f.sample_time,
        detected_time=detected,
        policy_id=pol.policy_id,
        policy_name=pol.name,
        policy_version=pol.version,
        mode="audit" if pol.audit or f.rule_id in pol.audit_rules else "enforce",
        disposition=Disposition(f.disposition),
        container_name=run.ctx.container_name,
        image=run.ctx.image,
        labels=run.ctx.labels,
        evidence=Evidence.model_validate(f.evidence),
    )
