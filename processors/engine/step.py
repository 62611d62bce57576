"""The engine's one entry point: ``step(state, ctx, event) -> StepResult``.

Pure: no I/O, no clock (time comes from the events; the caller may pass ``now`` to
stamp ``detected_time``), no Faust. The same state, context and event always give the
same result, ids included, which is what lets the embedded runner and the Faust
workers agree, and a replay after a crash re-derive identical outputs.

Shape::

    result = step(state_or_None, PolicyContext(compile_policy(policy)), event, now=None)
    result.violations   # list[schemas.Violation]  (CREATE / UPDATE / CLOSE)
    result.commands     # list[schemas.EnforcementCommand]
    result.state        # the new ContainerState (mutated in place), or None when the
                        # container is gone (destroy): drop it

``close(state, ctx, t)`` publishes what is still unreported before a state is dropped.
``reconsider(state, ctx)`` judges escalation again when the container's policy arrives
or changes (``processors.engine.arrival``).
"""

from __future__ import annotations

from dataclasses import dataclass

from processors.engine import arrival, audit, drift, kernel, processes, resources
from processors.engine.findings import StepRun, close_all, expire
from processors.engine.policy import PolicyContext
from processors.engine.state import ContainerState
from schemas import (
    AuditEvent,
    ConnectEvent,
    EnforcementCommand,
    ExecEvent,
    ExitEvent,
    LimitsSample,
    MetricSample,
    ProcessSnapshot,
    Violation,
)

EngineEvent = (
    MetricSample | LimitsSample | ProcessSnapshot | AuditEvent | ExecEvent | ExitEvent | ConnectEvent
)


@dataclass(slots=True)
class StepResult:
    violations: list[Violation]
    commands: list[EnforcementCommand]
    state: ContainerState | None


def new_state(container_id: str) -> ContainerState:
    return ContainerState(container_id=container_id)


def step(
    state: ContainerState | None, ctx: PolicyContext, event: EngineEvent, *, now: int | None = None
) -> StepResult:
    if state is None:
        state = ContainerState(container_id=event.container_id)
    host = event.host
    run = StepRun(state, ctx, host or state.host, now)
    t = event.time
    if t > state.last_time:  # noqa: PLR1730 - max() is a call, 0.1 µs on every event
        state.last_time = t
    if host:
        state.host = host
    if type(event) is MetricSample:  # the hot path: most events are samples
        if ctx.policy.monitoring:
            if state.next_expiry and t >= state.next_expiry:
                expire(run, t)
            resources.on_metric(run, event)
        return StepResult(run.violations, run.commands, state)
    if isinstance(event, AuditEvent) and audit.is_gone(event):
        close_all(run, t)
        return StepResult(run.violations, run.commands, None)
    if not ctx.policy.monitoring:
        return StepResult(run.violations, run.commands, state)
    expire(run, t)
    _dispatch(run, event)
    return StepResult(run.violations, run.commands, state)


def _dispatch(run: StepRun, event: EngineEvent) -> None:
    if isinstance(event, MetricSample):
        resources.on_metric(run, event)
    elif isinstance(event, ProcessSnapshot):
        processes.on_snapshot(run, event)
    elif isinstance(event, LimitsSample):
        drift.on_limits(run, event)
    elif isinstance(event, ExecEvent | ExitEvent | ConnectEvent):
        kernel.on_kernel(run, event)
    else:
        audit.on_audit(run, event)


def close(state: ContainerState, ctx: PolicyContext, t: int, *, now: int | None = None) -> list[Violation]:
    """CLOSE events for every finding with unreported repeats (before the state is dropped)."""
    run = StepRun(state, ctx, state.host, now)
    close_all(run, t)
    return run.violations


def reconsider(state: ContainerState, ctx: PolicyContext, *, now: int | None = None) -> StepResult:
    """The container's policy (``ctx``) arrived or changed: the violations already in its
    escalation window are judged under it, at the newest event time seen."""
    run = StepRun(state, ctx, state.host, now)
    if ctx.policy.monitoring:
        arrival.on_policy(run, state.last_time)
    return StepResult(run.violations, run.commands, state)
