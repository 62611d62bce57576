"""SandboxManager on the shipped fake engine (sandbox.fake): no Docker engine needed.

The manager's own logic is tested here: validation before anything reaches the engine,
audit events for what is allowed and what is denied, refusals of a stopped or paused
sandbox, destroy and cleanup. What only an engine can show (limits, seccomp, a command's
timeout, the network) is proved by tests/integration/sandbox on the real one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from sandbox import (
    CommandDeniedError,
    DockerUnavailable,
    PathDeniedError,
    SandboxCreateError,
    SandboxManager,
    SandboxNotFound,
    SandboxPaused,
    SandboxTerminated,
    SymlinkEscapeError,
)
from sandbox.fake import FakeSandboxEngine
from sandbox.port import SandboxEngine
from sandguard.bus import LocalBus
from schemas import AuditEvent, Consumer, SecurityPolicy, decode
from schemas import topics as t

DEADLINE_S = 5.0


@pytest.fixture
def fake(tmp_path: Path) -> FakeSandboxEngine:
    return FakeSandboxEngine(
        tmp_path / "engine", on_exec=lambda spec: (0, b"ran " + spec.argv[-1].encode(), b"")
    )


@pytest.fixture
async def bus() -> AsyncIterator[LocalBus]:
    """The in-process bus; stopping it stops its consumers."""
    local = LocalBus()
    await local.start()
    try:
        yield local
    finally:
        await local.stop()


@pytest.fixture
async def audit(bus: LocalBus) -> Consumer:
    """The audit topic, read from before the manager starts (the local bus keeps no history)."""
    return await bus.consumer([t.AUDIT], group="test", from_beginning=False)


@pytest.fixture
async def manager(
    fake: FakeSandboxEngine, bus: LocalBus, audit: Consumer, tmp_path: Path
) -> AsyncIterator[SandboxManager]:
    m = SandboxManager(
        SecurityPolicy(blocked_commands={"rm", "sudo"}),
        bus=bus,
        port=fake,
        workspace="tmpfs",
        lease_directory=str(tmp_path / "leases"),
        registry=CollectorRegistry(),
        watch_enforcement=False,
    )
    await m.start()
    yield m
    await m.cleanup()


async def audit_events(consumer: Consumer) -> list[AuditEvent]:
    records = await consumer.getmany(timeout_ms=100, max_records=1000)
    return [e for e in (decode(r.topic, r.value) for r in records) if isinstance(e, AuditEvent)]


async def until(check: Callable[[], bool]) -> None:
    async with asyncio.timeout(DEADLINE_S):
        while not check():
            await asyncio.sleep(0.01)


def test_the_fake_is_a_sandbox_engine(fake: FakeSandboxEngine) -> None:
    assert isinstance(fake, SandboxEngine)


async def test_lifecycle_create_exec_files_destroy(
    manager: SandboxManager, fake: FakeSandboxEngine, audit: Consumer
) -> None:
    sid = await manager.create_sandbox()
    assert fake.made[sid].status == "running"
    result = await manager.execute(sid, "echo hi", timeout=5)
    assert (result.exit_code, result.stdout) == (0, "ran echo hi")
    container, spec, _ = next(iter(fake.execs.values()))
    assert container == sid and spec.argv == ("/bin/sh", "-c", "echo hi") and spec.user
    assert await manager.write_file(sid, "/work/a/b.txt", b"hello") == "/work/a/b.txt"
    assert await manager.read_file(sid, "/work/a/b.txt") == b"hello"
    assert [f.path for f in await manager.list_files(sid, "/work", recursive=True)] == [
        "/work/a",
        "/work/a/b.txt",
    ]
    await manager.destroy_sandbox(sid)
    assert sid not in fake.made
    with pytest.raises(SandboxNotFound, match="destroyed"):
        await manager.execute(sid, "true")
    actions = [(e.category.value, e.action) for e in await audit_events(audit)]
    assert actions[0] == ("lifecycle", "create") and actions[-1] == ("lifecycle", "destroy")
    assert ("exec", "exec") in actions and ("file", "write") in actions and ("file", "read") in actions


async def test_a_blocked_command_is_refused_audited_and_never_reaches_the_engine(
    manager: SandboxManager, fake: FakeSandboxEngine, audit: Consumer
) -> None:
    sid = await manager.create_sandbox()
    with pytest.raises(CommandDeniedError):
        await manager.execute(sid, "rm -rf /work")
    assert not fake.execs
    denied = [e for e in await audit_events(audit) if e.allowed is False]
    assert len(denied) == 1 and denied[0].subject == "rm -rf /work" and denied[0].category.value == "exec"
    assert manager.sandbox(sid).record.denied_commands == 1


async def test_paths_outside_the_workspace_and_links_out_are_refused(
    manager: SandboxManager, fake: FakeSandboxEngine, audit: Consumer
) -> None:
    sid = await manager.create_sandbox()
    Path(fake.made[sid].mounts["/work"], "out.txt").symlink_to("/etc/shadow")
    for path, refusal in (("/etc/shadow", PathDeniedError), ("/work/out.txt", SymlinkEscapeError)):
        with pytest.raises(refusal):
            await manager.read_file(sid, path)
    assert not await manager.validate_file_operation(sid, "/work/out.txt")
    denied = [e.subject for e in await audit_events(audit) if e.allowed is False]
    assert denied == ["/etc/shadow", "/work/out.txt"]


async def test_a_sandbox_stopped_or_paused_outside_is_refused_with_the_reason(
    manager: SandboxManager, fake: FakeSandboxEngine
) -> None:
    stopped, paused = await manager.create_sandbox(), await manager.create_sandbox()
    fake.stop(stopped)
    fake.set_paused(paused, True)
    await until(lambda: manager.sandbox(stopped).record.status.value != "running")
    await until(lambda: manager.sandbox(paused).record.status.value == "paused")
    with pytest.raises(SandboxTerminated):
        await manager.execute(stopped, "true")
    with pytest.raises(SandboxPaused):
        await manager.write_file(paused, "/work/x", b"x")


async def test_an_exec_refused_by_the_engine_reports_the_sandbox_state(
    manager: SandboxManager, fake: FakeSandboxEngine
) -> None:
    sid = await manager.create_sandbox()
    fake.made[sid].status = "exited"  # stopped without an event (the stream was down)
    with pytest.raises(SandboxTerminated):
        await manager.execute(sid, "true")


async def test_a_missing_image_and_cleanup(manager: SandboxManager, fake: FakeSandboxEngine) -> None:
    fake.missing_images.add("nope:1")
    with pytest.raises(SandboxCreateError, match="image not found"):
        await manager.create_sandbox(image="nope:1")
    await manager.create_sandbox()
    await manager.create_sandbox()
    await manager.cleanup()
    assert fake.made == {} and fake.closed


async def test_every_call_reaches_the_port(manager: SandboxManager, fake: FakeSandboxEngine) -> None:
    before: Any = len(fake.calls)
    await manager.create_sandbox()
    operations = [op for op, _ in fake.calls[before:]]
    assert operations[:3] == ["create", "start", "inspect"]


async def test_an_engine_that_does_not_answer_fails_the_start_clearly(
    fake: FakeSandboxEngine, bus: LocalBus, tmp_path: Path
) -> None:
    fake.unavailable("ping")
    leases = str(tmp_path / "leases")
    registry = CollectorRegistry()
    m = SandboxManager(bus=bus, port=fake, workspace="tmpfs", lease_directory=leases, registry=registry)
    with pytest.raises(DockerUnavailable, match="connection refused"):
        await m.create_sandbox()
    await m.cleanup()
    assert fake.made == {} and not any(Path(leases).iterdir())
