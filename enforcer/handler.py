"""One command, start to finish: is it ours, was it seen, what does it mean, act, report.

The order of steps is what makes a crash at any point converge on replay:

1. a command already ``done`` in the ledger is not acted again (a redelivery of the
   same record is silent; the same command read again elsewhere is a ``duplicate``);
2. the container is inspected, the plan fixed from that state, and the plan written to
   the ledger as an ``intent`` *before* the engine is touched;
3. a command found with an ``intent`` (a crash after step 2) re-runs the recorded plan,
   which first checks whether its effect already holds, so the effect happens once;
4. the caller publishes the result, flushes, marks the command ``done``, then commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from common.retry import DEPENDENCY, DOCKER_OPERATION, Backoff, retry_async
from enforcer.exceptions import (
    CommandRefusedError,
    ContainerNotFoundError,
    DockerActionError,
    EngineUnavailableError,
)
from enforcer.ledger import Done, Ledger, LedgerEntry, Position
from enforcer.metrics import EnforcerMetrics
from enforcer.plans import (
    DEFAULT_FLOOR_PERCENT,
    SANDBOX_LABELS,
    ContainerOperation,
    Plan,
    check_container_id,
    check_identity,
    check_labels,
    effect_holds,
    plan_action,
)
from enforcer.port import DockerPort, ObservedContainer
from schemas import ActionOutcome, ActionResult, EnforcementCommand, now_ms, stable_id
from schemas.topics import ACTIONS

T = TypeVar("T")
Details = dict[str, Any]
log = structlog.get_logger("enforcer")

# An engine error answered with 5xx is retried per common.retry.DOCKER_OPERATION (3 attempts,
# ~0.25 s at worst, inside the 0.5 s budget of a terminate); an engine that does not answer
# is waited for per DEPENDENCY (the command stays valid; a restarting dockerd is picked up
# within seconds).


@dataclass(frozen=True, slots=True)
class Inbound:
    """A decoded command and where it was read."""

    command: EnforcementCommand
    position: Position | None = None


@dataclass(frozen=True, slots=True)
class Handled:
    result: ActionResult
    done: Done | None  # what the ledger records once the result is delivered


@dataclass(frozen=True, slots=True)
class _Verdict:
    outcome: ActionOutcome
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    plan: Plan | None = None


@dataclass(frozen=True, slots=True)
class HandlerOptions:
    host: str
    audit_only: bool = False
    claim_unassigned: bool = False
    required_labels: Mapping[str, str | None] = field(default_factory=lambda: dict(SANDBOX_LABELS))
    floor_percent: float = DEFAULT_FLOOR_PERCENT
    host_cpus: int = 1


class CommandHandler:
    """Decides and carries out commands; the bus and the commit belong to the caller."""

    def __init__(
        self,
        port: DockerPort,
        ledger: Ledger,
        options: HandlerOptions,
        metrics: EnforcerMetrics,
        *,
        executor: Executor | None = None,
        stopping: Callable[[], bool] = lambda: False,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._port = port
        self._ledger = ledger
        self._opt = options
        self._metrics = metrics
        self._executor = executor
        self._stopping = stopping
        self._clock = clock
        self._batch: dict[str, Position | None] = {}

    def begin_batch(self) -> None:
        """Forgets the commands of the previous batch (they are in the ledger now)."""
        self._batch = {}

    def skip_reason(self, command: EnforcementCommand) -> str | None:
        """Why this enforcer does not act on the command at all, or None when it is ours."""
        if command.host == self._opt.host:
            return None
        if not command.host:
            return None if self._opt.claim_unassigned else "unassigned"
        return "other_host"

    async def handle(self, inbound: Inbound) -> Handled | None:
        """The result to publish, or None when nothing is to be said (not ours, redelivered)."""
        command = inbound.command
        reason = self.skip_reason(command)
        if reason is not None:
            self._metrics.ignored.labels(reason).inc()
            log.debug("command_ignored", command_id=command.command_id, host=command.host, reason=reason)
            return None
        self._metrics.commands.labels(command.action.value).inc()
        if command.command_id in self._batch:
            return self._duplicate(inbound, "repeated in the same batch", {})
        self._batch[command.command_id] = inbound.position  # before any await: lanes run concurrently
        entry = await self._ledger.get(command.command_id)
        if entry is not None and entry.status == "done":
            return self._seen_before(inbound, entry)
        verdict = await self._verdict(inbound, entry)
        return self._finish(inbound, verdict, entry)

    def _seen_before(self, inbound: Inbound, entry: LedgerEntry) -> Handled | None:
        """None for a redelivery of the record already handled (a replay after a crash
        between the ledger and the commit), else a duplicate: the command read again."""
        if inbound.position is not None and entry.position == inbound.position:
            self._metrics.ignored.labels("redelivered").inc()
            log.info("command_redelivered", command_id=entry.command_id, outcome=entry.outcome)
            return None
        original = {"original_result": entry.outcome, "original_event_id": entry.result_event_id}
        return self._duplicate(inbound, "already handled", original)

    async def _verdict(self, inbound: Inbound, entry: LedgerEntry | None) -> _Verdict:
        command = inbound.command
        try:
            return await self._decide_and_act(inbound, entry)
        except CommandRefusedError as exc:
            self._metrics.errors.labels("refused").inc()
            log.warning("command_refused", command_id=command.command_id, reason=exc.reason)
            return _Verdict(ActionOutcome.FAILED, exc.reason, {"refused": True})
        except DockerActionError as exc:
            self._metrics.errors.labels("docker").inc()
            return _Verdict(ActionOutcome.FAILED, str(exc), {"status": exc.status})

    async def _decide_and_act(self, inbound: Inbound, entry: LedgerEntry | None) -> _Verdict:
        command = inbound.command
        check_container_id(command)
        recovering = entry is not None and entry.status == "intent"
        try:
            state = await self._engine(self._port.inspect, command.container_id)
        except ContainerNotFoundError:
            return self._gone_verdict(entry, recovering)
        check_identity(command, state)
        check_labels(state, self._opt.required_labels)
        plan = (
            Plan.from_dict(entry.plan) if recovering and entry and entry.plan else self._plan(command, state)
        )
        base = {"plan": plan.to_dict(), "before": state.resources(), "status_before": state.status}
        if self._opt.audit_only or command.mode == "audit":
            return _Verdict(
                ActionOutcome.AUDIT_ONLY, "audit mode: nothing done", {**base, "would": True}, plan
            )
        if plan.gone:
            return _Verdict(ActionOutcome.ALREADY_GONE, f"container {state.status}", base, plan)
        if plan.operation is ContainerOperation.NONE:
            return _Verdict(ActionOutcome.APPLIED, plan.note, base, plan)
        if not recovering:
            await self._ledger.record_intent(
                command.command_id,
                container_id=state.id,
                action=command.action.value,
                plan=plan.to_dict(),
                position=inbound.position,
                now=self._clock(),
            )
        return await self._carry_out(command, plan, state, {**base, "recovered": recovering})

    def _plan(self, command: EnforcementCommand, state: ObservedContainer) -> Plan:
        return plan_action(
            command, state, floor_percent=self._opt.floor_percent, host_cpus=self._opt.host_cpus
        )

    @staticmethod
    def _gone_verdict(entry: LedgerEntry | None, recovering: bool) -> _Verdict:
        if recovering and entry and entry.plan and entry.plan.get("operation") == ContainerOperation.REMOVE:
            # Our own removal finished before the crash: the command did take effect.
            return _Verdict(ActionOutcome.APPLIED, "", {"recovered": True, "plan": entry.plan})
        details = {"recovered": True} if recovering else {}
        return _Verdict(ActionOutcome.ALREADY_GONE, "no such container on this host", details)

    async def _carry_out(
        self, command: EnforcementCommand, plan: Plan, state: ObservedContainer, details: Details
    ) -> _Verdict:
        """Runs the plan until its effect holds: retries 5xx errors, re-reads the state after
        any error (a 409 on pause may mean another actor paused it first)."""
        backoff = Backoff(DOCKER_OPERATION)
        while not effect_holds(plan, state):
            try:
                await self._engine(self._operation(plan), state.id, *self._args(plan))
            except ContainerNotFoundError:
                return _Verdict(ActionOutcome.ALREADY_GONE, "container removed meanwhile", details, plan)
            except DockerActionError as exc:
                after = await self._after_error(
                    command, plan, state.id, exc, backoff=backoff, details=details
                )
                if isinstance(after, _Verdict):
                    return after
                state = after
            else:
                return _Verdict(ActionOutcome.APPLIED, "", {**details, "attempts": backoff.attempt + 1}, plan)
        return _Verdict(ActionOutcome.APPLIED, "", {**details, "attempts": backoff.attempt}, plan)

    async def _after_error(
        self,
        command: EnforcementCommand,
        plan: Plan,
        container_id: str,
        exc: DockerActionError,
        *,
        backoff: Backoff,
        details: Details,
    ) -> ObservedContainer | _Verdict:
        """The state to try again from, or the final verdict."""
        delay, attempt = backoff.failed(), backoff.attempt
        log.warning("docker_action_error", command_id=command.command_id, attempt=attempt, error=str(exc))
        self._metrics.errors.labels("docker").inc()
        try:
            state = await self._engine(self._port.inspect, container_id)
        except ContainerNotFoundError:
            if plan.operation is ContainerOperation.REMOVE:  # the removal landed despite the error
                return _Verdict(ActionOutcome.APPLIED, "", {**details, "attempts": attempt}, plan)
            return _Verdict(ActionOutcome.ALREADY_GONE, "container removed meanwhile", details, plan)
        if effect_holds(plan, state):
            return state
        if not state.alive and plan.operation is not ContainerOperation.REMOVE:
            return _Verdict(ActionOutcome.ALREADY_GONE, f"container {state.status}", details, plan)
        if not exc.transient or backoff.exhausted:
            return _Verdict(ActionOutcome.FAILED, str(exc), {**details, "attempts": attempt}, plan)
        await asyncio.sleep(delay)
        return state

    def _operation(self, plan: Plan) -> Callable[..., None]:
        ops: dict[ContainerOperation, Callable[..., None]] = {
            ContainerOperation.UPDATE: self._port.update,
            ContainerOperation.PAUSE: self._port.pause,
            ContainerOperation.UNPAUSE: self._port.unpause,
            ContainerOperation.STOP: self._port.stop,
            ContainerOperation.REMOVE: self._port.remove,
        }
        return ops[plan.operation]

    @staticmethod
    def _args(plan: Plan) -> tuple[Any, ...]:
        return (dict(plan.resources),) if plan.operation is ContainerOperation.UPDATE else ()

    async def _engine(self, fn: Callable[..., T], *args: Any) -> T:
        """Runs a blocking port call in a worker thread; waits out an unreachable engine."""
        loop = asyncio.get_running_loop()
        return await retry_async(
            lambda: loop.run_in_executor(self._executor, fn, *args),
            policy=DEPENDENCY,
            retry_on=(EngineUnavailableError,),
            log=log,
            event="engine_unavailable",
            stopping=self._stopping,
            on_error=lambda _: self._metrics.errors.labels("engine_unavailable").inc(),
        )

    # --- results ------------------------------------------------------------------

    def _duplicate(self, inbound: Inbound, why: str, original: dict[str, Any]) -> Handled:
        command, pos = inbound.command, inbound.position
        where = (pos.topic, pos.partition, pos.offset) if pos else ("", -1, self._clock())
        event_id = stable_id(ACTIONS, command.command_id, "duplicate", *where)
        verdict = _Verdict(ActionOutcome.DUPLICATE, why, original)
        return Handled(self._result(command, verdict, event_id, self._clock()), None)

    def _finish(self, inbound: Inbound, verdict: _Verdict, entry: LedgerEntry | None) -> Handled:
        command = inbound.command
        done_at = self._clock()
        result = self._result(command, verdict, stable_id(ACTIONS, command.command_id), done_at)
        plan = verdict.plan.to_dict() if verdict.plan else (entry.plan if entry else None)
        done = Done(
            command.command_id, command.container_id, command.action.value, verdict.outcome.value,
            result.event_id, inbound.position, plan,
        )  # fmt: skip
        self._observe(result, done_at)
        return Handled(result, done)

    def _result(
        self, command: EnforcementCommand, verdict: _Verdict, event_id: str, done_at: int
    ) -> ActionResult:
        latency = None
        if command.first_violation_time is not None and verdict.outcome is not ActionOutcome.DUPLICATE:
            latency = max(0, done_at - command.first_violation_time)
        details = {
            **verdict.details,
            "mode": "audit" if self._opt.audit_only or command.mode == "audit" else "enforce",
            "command_to_action_ms": max(0, done_at - command.time),
        }
        if command.policy_id:
            details["policy_id"] = command.policy_id
        result = ActionResult(
            event_id=event_id,
            time=done_at,
            container_id=command.container_id,
            host=self._opt.host,
            command_id=command.command_id,
            action=command.action,
            result=verdict.outcome,
            reason=verdict.reason,
            violation_ids=command.violation_ids,
            rule_ids=command.rule_ids,
            command_time=command.time,
            latency_ms=latency,
            details=details,
        )
        self._metrics.actions.labels(command.action.value, verdict.outcome.value).inc()
        self._log(result)
        return result

    def _observe(self, result: ActionResult, done_at: int) -> None:
        if result.result is not ActionOutcome.APPLIED:
            return
        action = result.action.value
        self._metrics.command_to_action.labels(action).observe(max(0, done_at - result.command_time) / 1000)
        if result.latency_ms is not None:
            self._metrics.violation_to_action.labels(action).observe(result.latency_ms / 1000)

    @staticmethod
    def _log(result: ActionResult) -> None:
        level = log.warning if result.result is ActionOutcome.FAILED else log.info
        level(
            "enforcement_action",
            command_id=result.command_id,
            container_id=result.container_id,
            action=result.action.value,
            result=result.result.value,
            reason=result.reason,
            latency_ms=result.latency_ms,
            command_to_action_ms=result.details.get("command_to_action_ms"),
            violation_ids=list(result.violation_ids),
            rule_ids=list(result.rule_ids),
            mode=result.details.get("mode"),
        )
