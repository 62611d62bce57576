"""The enforcement watcher on the in-process bus: ours applied, others skipped,
undecodable ones dead-lettered with the reason."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from sandbox.metrics import ManagerMetrics
from sandbox.watcher import EnforcementWatcher
from sandguard.bus import LocalBus
from schemas import ActionResult, DeadLetter, EnforcementCommand, Violation, decode, encode
from schemas import topics as t

CID = "c" * 64


async def test_ours_are_applied_and_garbage_is_dead_lettered(
    make_action: Callable[..., ActionResult], make_violation: Callable[..., Violation]
) -> None:
    bus = LocalBus()
    dead = await bus.consumer([t.DEADLETTER], group="dlq")
    actions: list[ActionResult] = []
    violations: list[Violation] = []
    commands: list[EnforcementCommand] = []
    metrics = ManagerMetrics(CollectorRegistry())
    watcher = EnforcementWatcher(
        bus,
        group="mgr",
        metrics=metrics,
        on_action=actions.append,
        on_violation=violations.append,
        on_command=commands.append,
        wanted=lambda key: key == CID,
    )
    await watcher.start()
    await bus.publish(t.ACTIONS, "other", encode(make_action(container_id="other")))
    await bus.publish(t.ACTIONS, CID, b"{not json")
    await bus.publish(t.ACTIONS, CID, encode(make_action()))
    await bus.publish(t.VIOLATIONS, CID, encode(make_violation()))
    command = EnforcementCommand(container_id=CID, command_id="cmd-1", action="terminate", reason="why")
    await bus.publish(t.ENFORCEMENT, CID, encode(command))
    for _ in range(100):
        if actions and violations and commands:
            break
        await asyncio.sleep(0.01)
    letters = await dead.getmany(timeout_ms=1000)
    await watcher.stop()
    assert [a.container_id for a in actions] == [CID] and violations[0].violation_id == "v-1"
    assert commands[0].reason == "why"
    assert len(letters) == 1 and letters[0].key == CID
    letter = decode(t.DEADLETTER, letters[0].value)
    assert isinstance(letter, DeadLetter) and letter.source_topic == t.ACTIONS and letter.value == "{not json"
    assert metrics.registry.get_sample_value("sandguard_sandbox_errors_total", {"kind": "decode"}) == 1
