"""execute(): results, timeouts that kill every process of the command, capped output,
environment and working directory, and denials that raise and leave an audit event."""

from __future__ import annotations

import asyncio

import pytest

from sandbox import (
    CommandDeniedError,
    EnvironmentDeniedError,
    InvalidSandboxRequest,
    PathDeniedError,
    SandboxManager,
)
from sandguard.bus import LocalBus
from schemas import AuditCategory, AuditEvent, SecurityViolationType
from schemas import topics as t
from tests.integration.sandbox.conftest import MakeManager, cgroup, drain, eventually


async def test_exit_code_and_both_streams(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    result = await manager.execute(sid, "echo out; echo err >&2; exit 3", timeout=10)
    assert (result.exit_code, result.stdout, result.stderr, result.timed_out) == (3, "out\n", "err\n", False)
    argv = await manager.execute(sid, ["sh", "-c", 'printf "%s" "$0"', "a b"], timeout=10)
    assert argv.stdout == "a b" and argv.ok


async def test_a_timeout_kills_every_process_of_the_command(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    command = "(sleep 100 &); setsid sleep 101 & sleep 102 & echo started; wait"
    result = await manager.execute(sid, command, timeout=1)
    assert result.timed_out and result.stdout == "started\n" and result.killed_processes >= 3
    # The init and the lifetime timer only, once the killed are reaped (a moment later).
    await eventually(lambda: cgroup(sid, "pids", "pids.current") == "2", timeout_s=5, what="reaped")


async def test_a_cancelled_caller_kills_the_command(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    task = asyncio.create_task(manager.execute(sid, "sleep 100", timeout=60))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await eventually(lambda: cgroup(sid, "pids", "pids.current") == "2", timeout_s=5, what="reaped")


async def test_output_is_capped_and_the_cap_reported(make_manager: MakeManager) -> None:
    manager = await make_manager(output_limit=1000)
    sid = await manager.create_sandbox()
    result = await manager.execute(sid, "yes | head -c 3000000; echo e >&2", timeout=20)
    assert result.exit_code == 0 and result.output_limit == 1000
    assert len(result.stdout) == 1000 and result.stdout_bytes == 3_000_000 and result.stdout_truncated
    assert result.stderr == "e\n" and not result.stderr_truncated


async def test_environment_and_working_directory(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    result = await manager.execute(sid, 'echo "$GREETING"; pwd', env={"GREETING": "hi there"}, workdir="/tmp")
    assert result.stdout == "hi there\n/tmp\n"


async def test_concurrent_commands_in_one_sandbox(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    results = await asyncio.gather(
        *(manager.execute(sid, f"sleep 0.3; echo {i}", timeout=10) for i in range(5))
    )
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(5)]


async def test_a_denied_command_raises_and_leaves_an_audit_event(
    manager: SandboxManager, bus: LocalBus
) -> None:
    audit = await bus.consumer([t.AUDIT], group="test-audit")
    sid = await manager.create_sandbox()
    with pytest.raises(CommandDeniedError) as info:
        await manager.execute(sid, "echo ok && /bin/r\\m -rf /work")
    assert info.value.word == "rm" and isinstance(info.value, PermissionError)
    events = [e for _, e in await drain(audit, t.AUDIT) if isinstance(e, AuditEvent) and e.allowed is False]
    assert len(events) == 1
    ev = events[0]
    assert ev.container_id == sid and ev.category is AuditCategory.EXEC
    assert ev.violation_type is SecurityViolationType.PERMISSION_VIOLATION and "rm" in (ev.reason or "")
    assert ev.details["rule_id"] == "command.denied" and ev.details["word"] == "rm"
    assert manager.get_stats()["security"]["denied_commands"] == 1
    assert await manager.validate_command_execution(sid, "rm x") is False
    assert await manager.validate_command_execution(sid, "python script.py") is True


async def test_denied_environment_and_workdir(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    with pytest.raises(EnvironmentDeniedError):
        await manager.execute(sid, "ls", env={"LD_PRELOAD": "/work/evil.so"})
    with pytest.raises(PathDeniedError):
        await manager.execute(sid, "ls", workdir="/etc")
    with pytest.raises(InvalidSandboxRequest):
        await manager.execute(sid, "ls", timeout=0)
    report = await manager.get_security_report(sid)
    assert report["denied"] == {"commands": 1, "file_operations": 1}
    assert report["violation_types"] == {"permission_violation": 1, "file_access_violation": 1}
