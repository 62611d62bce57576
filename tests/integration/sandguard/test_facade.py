"""The public facade on the embedded default: the seed's example, monitoring on, history."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import docker
import pytest

from sandguard import (
    CommandDeniedError,
    NetworkPolicy,
    ResourceLimits,
    SandboxManager,
    SandboxSecurityManager,
    SandboxTerminated,
    SecurityPolicy,
)
from sandguard.demo import REVERSE_SHELL_PY

BUSYBOX = "sandguard/busybox:1"
SEED_REPORT_FIELDS = {
    "report_timestamp", "container_id", "total_violations", "recent_violations_24h",
    "violation_types", "monitored_containers", "policy_summary", "recent_metrics",
}  # fmt: skip


def seed_policy() -> SecurityPolicy:
    return SecurityPolicy(
        resource_limits=ResourceLimits(memory_mb=256, cpu_percent=25.0, max_processes=10),
        network_policy=NetworkPolicy.NONE,
        blocked_commands={"rm", "sudo", "kill"},
        enable_monitoring=True,
        violation_threshold=3,
    )


def _containers_of(client: docker.DockerClient, manager: SandboxManager) -> list[object]:
    return list(
        client.containers.list(all=True, filters={"label": f"sandguard.manager={manager.manager_id}"})
    )


async def test_the_seed_example_runs_embedded(
    embedded_data_dir: Path, docker_client: docker.DockerClient
) -> None:
    manager = SandboxManager(security_policy=seed_policy(), data_dir=embedded_data_dir)
    assert manager.pipeline is not None
    try:
        sandbox_id = await manager.create_sandbox()
        assert await manager.validate_command_execution(sandbox_id, "python script.py") is True
        assert await manager.validate_command_execution(sandbox_id, "ls; sudo id") is False
        assert await manager.validate_file_operation(sandbox_id, "/work/data.txt") is True
        assert await manager.validate_file_operation(sandbox_id, "/work/../etc/passwd") is False
        result = await manager.execute(sandbox_id, "python3 -c 'print(1)'", timeout=10)
        assert (result.exit_code, result.stdout.strip(), result.timed_out) == (0, "1", False)
        await manager.write_file(sandbox_id, "/work/data.txt", b"hello")
        assert await manager.read_file(sandbox_id, "/work/data.txt") == b"hello"
        with pytest.raises(CommandDeniedError) as denied:
            await manager.execute(sandbox_id, "rm -rf /work", timeout=10)
        assert isinstance(denied.value, PermissionError) and denied.value.word == "rm"
        report = await manager.get_security_report(sandbox_id)
        assert set(report) >= SEED_REPORT_FIELDS
        assert report["policy_summary"]["network_policy"] == "none"
        await manager.destroy_sandbox(sandbox_id)
    finally:
        await manager.cleanup()
    assert _containers_of(docker_client, manager) == []


async def test_runtime_detection_terminates_and_the_history_explains(embedded_data_dir: Path) -> None:
    """A reverse shell started by the sandbox's own code (out of the validator's sight) is
    seen in the process list, judged by the immediate rule, and terminated by the enforcer;
    execute() then says when and why, and the report holds the finding and the action."""
    manager = SandboxManager(seed_policy(), data_dir=embedded_data_dir)
    try:
        sid = await manager.create_sandbox()
        await manager.write_file(sid, "/work/agent.py", REVERSE_SHELL_PY)
        with pytest.raises(SandboxTerminated) as ended:
            await manager.execute(sid, "python3 /work/agent.py", timeout=30)
        assert "process.reverse_shell" in str(ended.value)
        report = await _report_with_actions(manager, sid)
        assert report["violations_by_rule"].get("process.reverse_shell") == 1
        assert [a["action"] for a in report["actions"]] == ["terminate"]
    finally:
        await manager.cleanup()


async def _report_with_actions(manager: SandboxManager, sid: str) -> dict[str, Any]:
    """The history is written within about a second; poll a bounded number of times."""
    report: dict[str, Any] = {}
    for _ in range(40):
        report = await manager.get_security_report(sid)
        if report.get("actions") and report.get("violations_by_rule"):
            break
        await asyncio.sleep(0.25)
    return report


async def test_monitoring_off_runs_without_a_pipeline(embedded_data_dir: Path) -> None:
    manager = SandboxManager(
        seed_policy().model_copy(update={"enable_monitoring": False}), data_dir=embedded_data_dir
    )
    assert manager.pipeline is None
    try:
        sid = await manager.create_sandbox(image=BUSYBOX)
        assert (await manager.execute(sid, "echo hi", timeout=10)).stdout == "hi\n"
    finally:
        await manager.cleanup()


async def test_seed_security_manager_makes_its_own_embedded_manager(embedded_data_dir: Path) -> None:
    security = SandboxSecurityManager(seed_policy(), data_dir=embedded_data_dir)
    try:
        assert security.validate_command_execution("sudo ls") is False
        assert security.validate_command_execution("python3 x.py") is True
        assert security.validate_file_access("/etc/passwd") is False
        assert security.validate_file_access("/work/notes.md", "write") is True
    finally:
        await security.cleanup()
