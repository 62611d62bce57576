"""What the manager learns of enforcement: the enforcer's results on the bus (simulated
here by publishing what the enforcer publishes) and the engine's own account (the
container really killed or paused)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox import SandboxManager, SandboxPaused, SandboxStatus, SandboxTerminated
from sandguard.bus import LocalBus
from schemas import (
    ActionOutcome,
    ActionResult,
    EnforcementAction,
    EnforcementCommand,
    Severity,
    Violation,
    encode,
    now_ms,
)
from schemas import topics as t
from tests.integration.sandbox.conftest import eventually

REASON = "3 violations within 300 s (pids.limit_hit) reached the threshold of policy default"


def action(sid: str, kind: EnforcementAction = EnforcementAction.TERMINATE, **overrides: Any) -> ActionResult:
    args: dict[str, Any] = {
        "container_id": sid,
        "command_id": f"cmd-{kind.value}",
        "action": kind,
        "result": ActionOutcome.APPLIED,
        "reason": REASON,
        "rule_ids": ("pids.limit_hit",),
        "violation_ids": ("v-1", "v-2"),
        "command_time": now_ms() - 50,
        "host": "test",
    }
    args.update(overrides)
    return ActionResult(**args)


def command(
    sid: str, kind: EnforcementAction = EnforcementAction.TERMINATE, **overrides: Any
) -> EnforcementCommand:
    """What the processors publish: the command, with why."""
    args: dict[str, Any] = {
        "container_id": sid,
        "command_id": f"cmd-{kind.value}",
        "action": kind,
        "reason": REASON,
        "rule_ids": ("pids.limit_hit",),
        "violation_ids": ("v-1", "v-2"),
    }
    args.update(overrides)
    return EnforcementCommand(**args)


def status_of(manager: SandboxManager, sid: str) -> SandboxStatus:
    return manager.sandbox(sid).status


async def test_a_terminated_sandbox_says_when_and_why(
    manager: SandboxManager, bus: LocalBus, docker_client: Any
) -> None:
    sid = await manager.create_sandbox()
    await bus.publish(t.ENFORCEMENT, sid, encode(command(sid)))
    result = action(sid, reason="")  # the enforcer says what it did, not why
    docker_client.api.kill(sid)  # what the enforcer does, then it reports
    await bus.publish(t.ACTIONS, sid, encode(result))
    await eventually(
        lambda: (term := manager.sandbox(sid).record.termination) is not None and term.source == "enforcer",
        what="the enforcer's result",
    )
    with pytest.raises(SandboxTerminated) as info:
        await manager.execute(sid, "echo hi")
    err = info.value
    assert (
        err.reason == REASON and err.rule_ids == ("pids.limit_hit",) and err.violation_ids == ("v-1", "v-2")
    )
    assert int(err.at.timestamp() * 1000) == result.time
    assert "terminated" in str(err) and REASON in str(err) and err.at.isoformat() in str(err)
    with pytest.raises(SandboxTerminated):
        await manager.read_file(sid, "/work/x.txt")
    report = await manager.get_security_report(sid)
    assert report["status"] == "terminated" and report["actions"][0]["command_id"] == "cmd-terminate"
    assert report["enforcement"]["termination"]["reason"] == REASON
    assert report["enforcement"]["termination"]["exit_code"] == 137  # the engine's account, kept
    assert manager.get_stats()["security"]["terminated"] == 1


async def test_a_result_alone_is_enough(manager: SandboxManager, bus: LocalBus) -> None:
    sid = await manager.create_sandbox()
    await bus.publish(t.ACTIONS, sid, encode(action(sid, reason="")))
    await eventually(lambda: status_of(manager, sid) is SandboxStatus.TERMINATED, what="termination")
    with pytest.raises(SandboxTerminated, match=r"pids\.limit_hit"):  # without the command, its rules say why
        await manager.execute(sid, "true")


async def test_a_kill_outside_the_manager_is_seen_by_the_engine(
    manager: SandboxManager, docker_client: Any
) -> None:
    sid = await manager.create_sandbox()
    docker_client.api.kill(sid)
    await eventually(lambda: status_of(manager, sid) is SandboxStatus.TERMINATED, what="the die event")
    with pytest.raises(SandboxTerminated) as info:
        await manager.execute(sid, "true")
    assert "SIGKILL" in info.value.reason and info.value.termination.source == "engine"
    assert info.value.termination.exit_code == 137


async def test_pause_and_unpause(manager: SandboxManager, bus: LocalBus, docker_client: Any) -> None:
    sid = await manager.create_sandbox()
    docker_client.api.pause(sid)
    await bus.publish(
        t.ENFORCEMENT, sid, encode(command(sid, EnforcementAction.PAUSE, reason="suspicious tool"))
    )
    await bus.publish(t.ACTIONS, sid, encode(action(sid, EnforcementAction.PAUSE, reason="")))
    await eventually(
        lambda: (p := manager.sandbox(sid).record.pause) is not None and p.source == "enforcer", what="pause"
    )
    with pytest.raises(SandboxPaused, match="suspicious tool"):
        await manager.execute(sid, "true")
    docker_client.api.unpause(sid)
    await eventually(lambda: status_of(manager, sid) is SandboxStatus.RUNNING, what="unpause")
    assert (await manager.execute(sid, "echo back")).stdout == "back\n"


async def test_violations_and_throttles_are_reported(manager: SandboxManager, bus: LocalBus) -> None:
    sid = await manager.create_sandbox()
    violation = Violation(
        container_id=sid,
        violation_id="v-9",
        rule_id="cpu.throttled",
        violation_type="resource_limit_exceeded",
        severity=Severity.MEDIUM,
        title="CPU pinned",
        message="throttled 80 % of periods",
        first_seen=1,
        last_seen=2,
        sample_time=2,
    )
    await bus.publish(t.VIOLATIONS, sid, encode(violation))
    await bus.publish(t.ACTIONS, sid, encode(action(sid, EnforcementAction.THROTTLE)))
    await eventually(lambda: manager.sandbox(sid).record.throttled, what="throttle")
    report = await manager.get_security_report(sid)
    assert report["total_violations"] == 1 and report["violation_types"] == {"resource_limit_exceeded": 1}
    assert report["enforcement"]["throttled"] and report["status"] == "running"
    assert manager.get_stats()["security"]["violations"] == 1
    assert (await manager.execute(sid, "echo still")).ok
