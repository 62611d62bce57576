"""What happens to each sandbox after its creation, folded into its record and audited.

Three sources: the engine's events (stopped, removed, paused), the bus (the processors'
commands and violations, the enforcer's results), and the end of the sandbox's lifetime
(the engine stops it when its timer ends; a check shortly after kills it if not).
Each change of status is published once as a lifecycle audit event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import structlog

from sandbox import audit
from sandbox.docker_sandbox import DockerSandbox
from sandbox.engine import Engine
from sandbox.engine_events import ContainerEvent
from sandbox.port import EngineError
from sandbox.record import (
    DENIAL_RULES,
    apply_action,
    apply_command,
    apply_violation,
    observe_pause,
    observe_stop,
)
from sandbox.results import SandboxStatus, utc_from_ms, utc_now
from schemas import ActionResult, EnforcementCommand, Violation

log = structlog.get_logger(__name__)

# The engine stops a sandbox when its timer ends; the manager checks this long after.
EXPIRY_CHECK_DELAY_S = 2.0
_ACTIONS = {SandboxStatus.EXPIRED: "expire", SandboxStatus.TERMINATED: "terminated"}


class SandboxFollower:
    def __init__(self, sandboxes: Mapping[str, DockerSandbox], engine: Engine) -> None:
        self._sandboxes = sandboxes
        self._engine = engine
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- lifetime ---------------------------------------------------------------

    def schedule_expiry(self, sandbox: DockerSandbox) -> None:
        delay = (sandbox.record.expires_at - utc_now()).total_seconds() + EXPIRY_CHECK_DELAY_S
        loop = asyncio.get_running_loop()
        self._timers[sandbox.id] = loop.call_later(max(0.0, delay), self._spawn_expiry, sandbox.id)

    def forget(self, sandbox_id: str) -> None:
        timer = self._timers.pop(sandbox_id, None)
        if timer is not None:
            timer.cancel()

    def _spawn_expiry(self, sandbox_id: str) -> None:
        self._timers.pop(sandbox_id, None)
        self._spawn(self._expire(sandbox_id))

    async def _expire(self, sandbox_id: str) -> None:
        """The engine should have stopped it; if not, it is killed now."""
        sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None or not sandbox.record.active:
            return
        before = sandbox.status
        await sandbox.refresh()
        if sandbox.record.active:
            log.warning("sandbox_outlived_its_lifetime", sandbox_id=sandbox_id)
            try:
                await self._engine.port.kill(sandbox_id)
            except EngineError as exc:
                self._engine.metrics.errors.labels("expiry_kill").inc()
                log.exception("expiry_kill_failed", sandbox_id=sandbox_id, error=exc.message)
            sandbox.record.status = SandboxStatus.EXPIRED
        self._changed(sandbox, before)

    # --- events -----------------------------------------------------------------

    def on_engine_event(self, event: ContainerEvent) -> None:
        self._apply(event.container_id, lambda sandbox: self._observe(sandbox, event))

    def _observe(self, sandbox: DockerSandbox, event: ContainerEvent) -> None:
        at = utc_from_ms(event.time_ns // 1_000_000)
        if event.action == "die":
            observe_stop(sandbox.record, at=at, exit_code=event.exit_code)
        elif event.action == "destroy":
            observe_stop(sandbox.record, at=at, exit_code=None, removed=True)
            self._spawn(sandbox.release_storage())  # removed by the enforcer or by hand
        elif event.action in ("pause", "unpause"):
            observe_pause(sandbox.record, at=at, paused=event.action == "pause")

    def on_action(self, result: ActionResult) -> None:
        def act(sandbox: DockerSandbox) -> None:
            apply_action(sandbox.record, result)
            self._engine.totals["actions"] += 1

        self._apply(result.container_id, act)

    def _apply(self, container_id: str, change: Callable[[DockerSandbox], None]) -> None:
        """``change`` to one of our sandboxes (others are ignored), then its status audited."""
        sandbox = self._sandboxes.get(container_id)
        if sandbox is not None:
            before = sandbox.status
            change(sandbox)
            self._changed(sandbox, before)

    def on_command(self, command: EnforcementCommand) -> None:
        sandbox = self._sandboxes.get(command.container_id)
        if sandbox is not None:
            apply_command(sandbox.record, command)

    def on_violation(self, violation: Violation) -> None:
        sandbox = self._sandboxes.get(violation.container_id)
        if sandbox is None:
            return
        new = violation.violation_id not in sandbox.record.violations
        apply_violation(sandbox.record, violation)
        if new and violation.rule_id not in DENIAL_RULES:
            self._engine.totals["violations"] += 1

    def _changed(self, sandbox: DockerSandbox, before: SandboxStatus) -> None:
        """Audits a change of status (once per change)."""
        after = sandbox.status
        if after is before:
            return
        if after is SandboxStatus.TERMINATED:
            self._engine.totals["terminated"] += 1
        r = sandbox.record
        why = None
        if after is SandboxStatus.TERMINATED and r.termination:
            why = r.termination.reason
        elif after is SandboxStatus.PAUSED and r.pause:
            why = r.pause.reason
        event = audit.lifecycle(
            sandbox.id,
            self._engine.options.host,
            _ACTIONS.get(after, after.value),
            reason=why,
            previous_status=before.value,
        )
        self._spawn(self._engine.publisher.audit(event))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
