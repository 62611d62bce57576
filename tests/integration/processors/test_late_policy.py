"""Embedded mode, real sandbox: the demo's fork bomb, its policy published after the first
samples were judged.

The sandbox's policy (threshold 1) is held back by the test while the bomb runs: the
processor judges the flood by the container's own limits and the default escalation
settings (five violations), and busybox's ``sh`` exits at its first refused fork, so one
``pids.limit_hit`` is all there is. When the policy is let through, the engine judges
that violation again under it and the real enforcer terminates the sandbox, once.

``HeldPolicies`` is the one stand-in: the in-process bus delivers in publish order, so it
cannot produce by itself the late delivery Kafka gives (a policy in a later fetch than
the samples); it only delays the manager's policy records, unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from collectors import Collector, CollectorConfig
from processors.runner import ProcessorRunner
from processors.stores import OWN_LIMITS_POLICY_ID
from sandbox import SandboxManager
from sandguard.bus import LocalBus
from sandguard.demo import FORK_BOMB, demo_policy
from schemas import ActionOutcome, Consumer, labels
from schemas import topics as t
from tests.conftest import BUSYBOX_IMAGE
from tests.integration.detection.conftest import (
    READ_TOPICS,
    RUN_LABEL,
    Seen,
    Stack,
    _cancel,
    _read,
    _start_enforcer,
)

pytestmark = pytest.mark.slow

# The bomb's shell is done within a second; its 23 sleeps hold the pids limit for 60 s,
# past every wait below.
BOMB_TIMEOUT_S = 90


class HeldPolicies:
    """A bus that holds the policies topic's records until ``release`` (see the module
    docstring); everything else goes straight through to ``inner``."""

    def __init__(self, inner: LocalBus) -> None:
        self.inner = inner
        self.held: list[tuple[str | None, bytes | None]] = []

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(self, topic: str, key: str | None, value: bytes | None) -> None:
        if topic == t.POLICIES:
            self.held.append((key, value))
            return
        await self.inner.publish(topic, key, value)

    async def flush(self) -> None:
        await self.inner.flush()

    async def consumer(self, topics: Sequence[str], *, group: str, from_beginning: bool = True) -> Consumer:
        return await self.inner.consumer(topics, group=group, from_beginning=from_beginning)

    async def release(self) -> None:
        held, self.held = self.held, []
        for key, value in held:
            await self.inner.publish(t.POLICIES, key, value)


@pytest.fixture
async def late_stack(run_id: str, tmp_path: Path) -> AsyncIterator[tuple[Stack, HeldPolicies]]:
    """Processor (default policy), enforcer and collector on one LocalBus; the manager
    publishes through ``HeldPolicies``."""
    closers: list[Callable[[], Awaitable[Any]]] = []
    try:
        bus = LocalBus()
        await bus.start()
        closers.append(bus.stop)
        registry, seen = CollectorRegistry(), Seen()
        reader = asyncio.create_task(_read(await bus.consumer(READ_TOPICS, group="test-reader"), seen))
        closers.append(lambda: _cancel(reader))
        runner = ProcessorRunner(bus, registry=registry, group="test-late-policy")
        await runner.start()
        closers.append(runner.stop)
        held = HeldPolicies(bus)
        strict = demo_policy().model_copy(update={"name": "demo-strict", "violation_threshold": 1})
        manager = SandboxManager(
            strict, bus=held, image=BUSYBOX_IMAGE, labels={RUN_LABEL: run_id}, registry=registry
        )
        await manager.start()
        closers.append(manager.cleanup)
        await _start_enforcer(bus, manager, registry, tmp_path / "enforcer", closers)
        config = CollectorConfig(host=manager.host, label=labels.manager_selector(manager.manager_id))
        collector = Collector(bus, config=config, registry=registry)
        await collector.start()
        closers.append(collector.stop)
        yield Stack(manager, collector, seen), held
    finally:
        for close in reversed(closers):
            with contextlib.suppress(Exception):  # cleanup goes on whatever one part did
                await close()


async def test_a_policy_published_after_the_first_samples_terminates_the_fork_bomb(
    late_stack: tuple[Stack, HeldPolicies],
) -> None:
    stack, held = late_stack
    sid = await stack.manager.create_sandbox()
    assert [k for k, _ in held.held] == [sid]  # the processor does not know the policy yet
    bomb = asyncio.create_task(stack.manager.execute(sid, FORK_BOMB, timeout=BOMB_TIMEOUT_S))
    try:
        (hit,) = await stack.wait_for(
            "the fork flood judged by the default", lambda: stack.seen.violations(sid), timeout_s=30
        )
        assert (hit.rule_id, hit.policy_id) == ("pids.limit_hit", OWN_LIMITS_POLICY_ID)
        await stack.settle()
        assert stack.seen.commands(sid) == []  # one violation: under the default's threshold
        await held.release()
        done = await stack.wait_for("the sandbox terminated", lambda: stack.seen.actions(sid), timeout_s=30)
        await stack.settle()
    finally:
        with contextlib.suppress(Exception):  # the bomb ends with its sandbox
            await asyncio.wait_for(bomb, BOMB_TIMEOUT_S)
    (cmd,) = stack.seen.commands(sid)
    assert (cmd.action.value, cmd.policy_id, cmd.violation_ids) == (
        "terminate", stack.manager.security_policy.policy_id, (hit.violation_id,)
    )  # fmt: skip
    assert [(a.action.value, a.result) for a in done] == [("terminate", ActionOutcome.APPLIED)]
    assert [a.command_id for a in stack.seen.actions(sid)] == [cmd.command_id]  # once
