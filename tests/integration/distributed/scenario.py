"""The demo's scenario, run the same way on any SandboxManager (embedded or on Kafka), and
what the pipeline made of it, read from the bus: violations, commands and action results
per sandbox role.

Roles: a well-behaved worker; an agent whose dangerous commands are refused (audit
events the rules count, escalated to a termination); a CPU miner pinned at its quota; a
fork bomb held by the kernel's pids limit; agent code that starts a reverse shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sandbox import CommandDeniedError, SandboxTerminated
from sandguard.demo import BUSYBOX, FORK_BOMB, MINER, REFUSED_COMMANDS, REVERSE_SHELL_PY, miner_policy
from schemas import ActionOutcome, ActionResult, EnforcementCommand, Violation, decode
from schemas import topics as t
from schemas.bus import Bus, Consumer

ROLES = ("worker", "agent", "miner", "forkbomb", "reverse-shell")
# Misbehaviour runs at most this long; the pipeline acts within seconds (1 s samples, 2 of
# 10 s for level rules, escalation at 3), so 60 s is a wide margin on a loaded 2-core host.
SETTLE_S = 60.0
# After the outcomes are in, late events (repeats, closings, duplicates) get this long.
QUIET_S = 4.0
# What "settled" means per role: these rules seen and these actions applied.
TERMINATED = ("agent", "miner", "reverse-shell")
FORKBOMB_RULE = "pids.limit_hit"
WATCH_TOPICS = (t.VIOLATIONS, t.ENFORCEMENT, t.ACTIONS)


@dataclass
class Seen:
    """What the pipeline published about the scenario's sandboxes."""

    violations: dict[str, list[Violation]] = field(default_factory=lambda: defaultdict(list))
    commands: dict[str, list[EnforcementCommand]] = field(default_factory=lambda: defaultdict(list))
    results: dict[str, list[ActionResult]] = field(default_factory=lambda: defaultdict(list))

    def add(self, topic: str, value: bytes | None) -> None:
        if value is None:
            return
        event: Any = decode(topic, value)
        target: dict[str, list[Any]] = {
            t.VIOLATIONS: self.violations,
            t.ENFORCEMENT: self.commands,
            t.ACTIONS: self.results,
        }[topic]  # type: ignore[assignment]
        target[event.container_id].append(event)

    def applied(self, cid: str, action: str) -> list[ActionResult]:
        applied = ActionOutcome.APPLIED
        return [r for r in self.results[cid] if r.action.value == action and r.result is applied]

    def rules(self, cid: str) -> set[str]:
        return {v.rule_id for v in self.violations[cid]}


class Watch:
    """Reads the violations, commands and results topics into ``seen`` until stopped."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.seen = Seen()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def on(cls, bus: Bus, group: str) -> Watch:
        watch = cls(await bus.consumer(WATCH_TOPICS, group=group, from_beginning=True))
        watch._task = asyncio.create_task(watch._run())
        return watch

    async def _run(self) -> None:
        while True:
            for r in await self.consumer.getmany(timeout_ms=200):
                self.seen.add(r.topic, r.value)
            await self.consumer.commit()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()


async def create(manager: Any) -> dict[str, str]:
    """One sandbox per role (the demo's images), labelled with its role."""
    images = {"miner": BUSYBOX, "forkbomb": BUSYBOX}
    ids = {}
    for role in ROLES:
        extra: dict[str, Any] = {"image": images[role]} if role in images else {}
        if role == "miner":
            extra["policy"] = miner_policy(manager.security_policy)
        ids[role] = await manager.create_sandbox(labels={"role": role}, **extra)
    await manager.write_file(ids["reverse-shell"], "/work/agent.py", REVERSE_SHELL_PY)
    return ids


async def behave(manager: Any, ids: dict[str, str]) -> dict[str, Any]:
    """The worker's job and the agent's refused commands; returns what they printed."""
    job = await manager.execute(ids["worker"], "python3 -c 'print(sum(range(10)))'", timeout=30)
    refused = 0
    for command in REFUSED_COMMANDS:
        try:
            await manager.execute(ids["agent"], command, timeout=10)
        except CommandDeniedError:
            refused += 1
    return {"worker_output": job.stdout.strip(), "refused": refused}


def start_misbehaving(manager: Any, ids: dict[str, str]) -> list[asyncio.Task[Any]]:
    """The hogs, each an exec bounded by SETTLE_S (the pipeline ends most of them sooner)."""
    runs = {"miner": MINER, "forkbomb": FORK_BOMB, "reverse-shell": "python3 /work/agent.py"}
    return [asyncio.create_task(manager.execute(ids[r], cmd, timeout=SETTLE_S)) for r, cmd in runs.items()]


def settled(seen: Seen, ids: dict[str, str]) -> bool:
    return all(seen.applied(ids[r], "terminate") for r in TERMINATED) and FORKBOMB_RULE in seen.rules(
        ids["forkbomb"]
    )


async def wait_settled(watch: Watch, ids: dict[str, str], hogs: list[asyncio.Task[Any]]) -> float:
    """Until every expected outcome is in (or SETTLE_S), then QUIET_S for late events;
    the hogs are ended either way. Returns the seconds it took to settle."""
    began = time.monotonic()
    while time.monotonic() - began < SETTLE_S and not settled(watch.seen, ids):
        await asyncio.sleep(0.25)
    took = time.monotonic() - began
    await asyncio.sleep(QUIET_S)
    for hog in hogs:
        hog.cancel()
    results = await asyncio.gather(*hogs, return_exceptions=True)
    unexpected = [r for r in results if isinstance(r, BaseException) and not _expected_end(r)]
    assert not unexpected, unexpected
    return took


def _expected_end(exc: BaseException) -> bool:
    return isinstance(exc, (SandboxTerminated, asyncio.CancelledError))


def outcome(seen: Seen, ids: dict[str, str]) -> dict[str, dict[str, list[str]]]:
    """Per role: the rules that fired and the actions applied (what both modes must agree on)."""
    out = {}
    for role, cid in ids.items():
        applied = sorted({r.action.value for r in seen.results[cid] if r.result is ActionOutcome.APPLIED})
        out[role] = {"rules": sorted(seen.rules(cid)), "actions": applied}
    return out


def duplicate_actions(seen: Seen) -> dict[str, int]:
    """Commands acted on more than once (APPLIED twice for one command id): must be none."""
    counts: dict[str, int] = defaultdict(int)
    for results in seen.results.values():
        for r in results:
            if r.result is ActionOutcome.APPLIED:
                counts[r.command_id] += 1
    return {cid: n for cid, n in counts.items() if n > 1}
