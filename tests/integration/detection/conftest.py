"""A detection stack on the real kernel, Docker engine and enforcer: the sandbox manager,
the collector with kernel events on, the rule engine (the embedded runner) and the
enforcer, wired by the in-process bus exactly as the embedded mode wires them. Every
event of the test is kept, so a test reads what the kernel saw and what the rules said.

Only sandboxes of this test's manager are watched (its label), so parallel tests on the
same engine never see each other. Attack traffic stays on 127.0.0.1 inside a sandbox's
own network namespace (policy ``none``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from collectors import Collector, CollectorConfig
from enforcer import DockerEngine, Enforcer
from processors.runner import ProcessorRunner
from sandbox import SandboxManager
from sandguard.bus import LocalBus
from schemas import (
    ActionResult,
    EnforcementCommand,
    ExecEvent,
    ResourceLimits,
    SecurityPolicy,
    Violation,
    decode,
    labels,
)
from schemas import topics as t
from schemas.bus import Consumer
from tests.conftest import PYTHON_IMAGE

RUN_LABEL = "test.run"
# A sandbox lives at most 3 minutes here; every test finishes well within.
LIFETIME_S = 180
# What the tests read: what the kernel saw, what the rules said, what was done.
READ_TOPICS = (t.KERNEL, t.VIOLATIONS, t.ENFORCEMENT, t.ACTIONS)
POLL_S = 0.1


def detection_policy(**overrides: Any) -> SecurityPolicy:
    limits = {"memory_mb": 256, "cpu_percent": 100.0, "max_processes": 64, "execution_timeout": LIFETIME_S}
    limits.update(overrides.pop("limits", {}))
    return SecurityPolicy(resource_limits=ResourceLimits(**limits), **overrides)


@dataclass
class Seen:
    """Everything the test's stack published, decoded, in order."""

    events: list[Any] = field(default_factory=list)

    def of(self, cid: str, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind) and e.container_id == cid]

    def violations(self, cid: str) -> list[Violation]:
        return self.of(cid, Violation)

    def rules(self, cid: str) -> set[str]:
        return {v.rule_id for v in self.violations(cid)}

    def execs(self, cid: str) -> list[ExecEvent]:
        return self.of(cid, ExecEvent)

    def commands(self, cid: str) -> list[EnforcementCommand]:
        return self.of(cid, EnforcementCommand)

    def actions(self, cid: str) -> list[ActionResult]:
        return self.of(cid, ActionResult)

    def summary(self) -> dict[str, Any]:
        """Per container: programs executed and rules fired (a failing wait says what it saw)."""
        out: dict[str, Any] = {}
        for e in self.events:
            entry = out.setdefault(e.container_id[:12], {"execs": [], "rules": []})
            if isinstance(e, ExecEvent):
                entry["execs"].append(
                    f"{e.program or e.filename or e.exe or e.comm or '?'}{' (blocked)' if e.blocked else ''}"
                )
            elif isinstance(e, Violation):
                entry["rules"].append(e.rule_id)
        return out


@dataclass
class Stack:
    manager: SandboxManager
    collector: Collector
    seen: Seen

    async def wait_for(self, what: str, check: Callable[[], Any], timeout_s: float = 20.0) -> Any:
        """Polls ``check`` until it is truthy; fails naming ``what`` at the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            result = check()
            if result:
                return result
            await asyncio.sleep(POLL_S)
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; seen: {self.seen.summary()}")

    async def settle(self, quiet_s: float = 1.5, timeout_s: float = 20.0) -> None:
        """Waits until no event arrived for ``quiet_s`` (the pipeline caught up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last, since = len(self.seen.events), loop.time()
        while loop.time() < deadline:
            await asyncio.sleep(POLL_S)
            if len(self.seen.events) != last:
                last, since = len(self.seen.events), loop.time()
            elif loop.time() - since >= quiet_s:
                return
        raise AssertionError(f"events kept coming for {timeout_s} s")


MakeStack = Callable[..., Awaitable[Stack]]


async def _read(consumer: Consumer, seen: Seen) -> None:
    while True:
        for r in await consumer.getmany(timeout_ms=100):
            seen.events.append(decode(r.topic, r.value))
        await consumer.commit()


@pytest.fixture
async def make_stack(run_id: str, tmp_path: Path) -> AsyncIterator[MakeStack]:
    """make_stack(policy, image=...) -> a started stack; everything stopped and removed after."""
    closers: list[Callable[[], Awaitable[Any]]] = []

    async def make(policy: SecurityPolicy | None = None, *, image: str = PYTHON_IMAGE) -> Stack:
        bus = LocalBus()
        await bus.start()
        closers.append(bus.stop)
        registry = CollectorRegistry()
        seen = Seen()
        reader = asyncio.create_task(_read(await bus.consumer(READ_TOPICS, group="test-reader"), seen))
        closers.append(lambda: _cancel(reader))
        runner = ProcessorRunner(bus, default_policy=policy, registry=registry, group="test-detection")
        await runner.start()
        closers.append(runner.stop)
        manager = SandboxManager(
            policy or detection_policy(), bus=bus, image=image, labels={RUN_LABEL: run_id}, registry=registry
        )
        await manager.start()
        closers.append(manager.cleanup)
        await _start_enforcer(bus, manager, registry, tmp_path / f"enforcer-{len(closers)}", closers)
        label = labels.manager_selector(manager.manager_id)
        config = CollectorConfig(host=manager.host, label=label, kernel_events=True)
        collector = Collector(bus, config=config, registry=registry)
        await collector.start()
        closers.append(collector.stop)
        return Stack(manager, collector, seen)

    yield make
    for close in reversed(closers):
        with contextlib.suppress(Exception):  # cleanup goes on whatever one part did
            await close()


async def _start_enforcer(
    bus: LocalBus,
    manager: SandboxManager,
    registry: CollectorRegistry,
    state_dir: Path,
    closers: list[Callable[[], Awaitable[Any]]],
) -> None:
    """The real enforcer, acting only on this manager's sandboxes (as in the embedded mode)."""
    engine = await asyncio.to_thread(DockerEngine.from_env)
    closers.append(lambda: asyncio.to_thread(engine.close))
    only = {labels.SANDBOX: "1", labels.MANAGER: manager.manager_id}
    enforcer = Enforcer(
        bus, engine, host=manager.host, state_dir=state_dir, registry=registry, claim_unassigned=True,
        group="test-detection-enforcer", required_labels=only,
    )  # fmt: skip
    await enforcer.start()
    closers.append(enforcer.stop)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
