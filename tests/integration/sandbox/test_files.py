"""Files from the host on the sandbox storage: round trips, ownership, listings, denials, symlink escapes."""

from __future__ import annotations

import pytest

from sandbox import (
    FileTooLargeError,
    FileType,
    PathDeniedError,
    SandboxFileError,
    SandboxFileNotFound,
    SandboxManager,
    SymlinkEscapeError,
)
from sandguard.bus import LocalBus
from schemas import AuditEvent, SecurityViolationType
from schemas import topics as t
from tests.integration.sandbox.conftest import MakeManager, drain, quick_policy


async def test_write_read_and_list(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    data = bytes(range(256)) * 4096  # 1 MiB, every byte value
    assert await manager.write_file(sid, "/work/data/blob.txt", data) == "/work/data/blob.txt"
    assert await manager.read_file(sid, "/work/data/blob.txt") == data
    await manager.write_file(sid, "notes.md", "héllo")  # relative: under the workspace
    await manager.write_file(sid, "/tmp/scratch.txt", b"t")
    assert await manager.read_file(sid, "/work/notes.md") == "héllo".encode()
    owners = await manager.execute(sid, "stat -c '%u:%g %n' /work/data /work/data/blob.txt /tmp/scratch.txt")
    assert [line.split()[0] for line in owners.stdout.splitlines()] == ["1000:1000"] * 3
    top = {f.name: f for f in await manager.list_files(sid, "/work")}
    assert set(top) == {"data", "notes.md"} and top["data"].type is FileType.DIRECTORY
    tree = {f.path: f for f in await manager.list_files(sid, "/work", recursive=True)}
    assert tree["/work/data/blob.txt"].size == len(data) and tree["/work/data/blob.txt"].mode == 0o644


async def test_a_write_replaces_a_file(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    await manager.write_file(sid, "/work/a.txt", b"first version")
    await manager.write_file(sid, "/work/a.txt", b"2nd")
    assert (await manager.execute(sid, "cat /work/a.txt")).stdout == "2nd"


async def test_shapes_that_cannot_be_done(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    await manager.write_file(
        sid, "/work/d.txt/x.txt", b"x"
    )  # a directory whose name passes the extension rule
    with pytest.raises(SandboxFileError, match="is a directory"):
        await manager.write_file(sid, "/work/d.txt", b"would replace a directory")
    with pytest.raises(SandboxFileError, match="not a directory"):
        await manager.write_file(sid, "/work/d.txt/x.txt/y.txt", b"would replace a file")
    with pytest.raises(SandboxFileNotFound):
        await manager.read_file(sid, "/work/missing.txt")
    assert await manager.read_file(sid, "/work/d.txt/x.txt") == b"x"  # nothing was replaced


async def test_path_denials_raise_and_leave_audit_events(manager: SandboxManager, bus: LocalBus) -> None:
    audit = await bus.consumer([t.AUDIT], group="test-audit")
    sid = await manager.create_sandbox()
    with pytest.raises(PathDeniedError):
        await manager.read_file(sid, "/etc/passwd")
    with pytest.raises(PathDeniedError):
        await manager.write_file(sid, "/work/../etc/x.txt", b"x")
    with pytest.raises(PathDeniedError):
        await manager.write_file(sid, "/work/tool.exe", b"x")  # extension not allowed
    denied = [e for _, e in await drain(audit, t.AUDIT) if isinstance(e, AuditEvent) and e.allowed is False]
    assert len(denied) == 3 and {e.violation_type for e in denied} == {
        SecurityViolationType.FILE_ACCESS_VIOLATION
    }
    assert {e.action for e in denied} == {"read", "write"}
    assert manager.get_stats()["security"]["denied_file_operations"] == 3


async def test_size_limits_on_write_and_read(make_manager: MakeManager) -> None:
    manager = await make_manager(quick_policy(max_file_size_mb=0.5))
    sid = await manager.create_sandbox()
    with pytest.raises(FileTooLargeError):
        await manager.write_file(sid, "/work/big.txt", b"x" * (600 * 1024))
    await manager.execute(sid, "head -c 700000 /dev/zero > /work/made_inside.txt")
    with pytest.raises(FileTooLargeError):
        await manager.read_file(sid, "/work/made_inside.txt")


async def test_a_symlink_escape_is_refused(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    await manager.execute(
        sid, "ln -s /etc/passwd /work/p.txt; ln -s /etc /work/e; ln -s ../../etc/hosts /work/h.txt"
    )
    for path in ("/work/p.txt", "/work/e/passwd.txt", "/work/h.txt"):
        with pytest.raises(SymlinkEscapeError) as info:
            await manager.read_file(sid, path)
        assert info.value.target.startswith("/etc/")
    with pytest.raises(SymlinkEscapeError):
        await manager.write_file(sid, "/work/e/evil.txt", b"x")
    with pytest.raises(SymlinkEscapeError):
        await manager.list_files(sid, "/work/e")
    assert await manager.validate_file_operation(sid, "/work/p.txt") is False
    assert await manager.validate_file_operation(sid, "/work/new.txt", "write") is True


async def test_a_symlink_loop_is_a_denial(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    await manager.execute(sid, "ln -s /work/b.txt /work/a.txt; ln -s /work/a.txt /work/b.txt")
    with pytest.raises(PathDeniedError, match="symbolic links"):  # engine or resolver: both say so
        await manager.read_file(sid, "/work/a.txt")


async def test_a_symlink_within_the_roots_is_followed(manager: SandboxManager) -> None:
    sid = await manager.create_sandbox()
    await manager.write_file(sid, "/tmp/real.txt", b"real")
    await manager.execute(sid, "ln -s /tmp/real.txt /work/link.txt")
    assert await manager.read_file(sid, "/work/link.txt") == b"real"


async def test_a_name_starting_with_two_dots_is_an_ordinary_file(manager: SandboxManager) -> None:
    """Issue 17: '/work/..data.txt' raised ValueError with no audit event. It is a legal
    file name inside the workspace (not '..'), so it is allowed like any other."""
    sid = await manager.create_sandbox()
    assert await manager.write_file(sid, "/work/..data.txt", b"dots") == "/work/..data.txt"
    assert await manager.read_file(sid, "/work/..data.txt") == b"dots"
    assert (await manager.execute(sid, "cat /work/..data.txt")).stdout == "dots"
    with pytest.raises(PathDeniedError):
        await manager.read_file(sid, "/work/../etc/passwd")


async def test_a_deep_missing_path_is_refused_before_any_lookup(
    manager: SandboxManager, bus: LocalBus
) -> None:
    """Issue 17: 1,500 levels took ~1 s of engine requests and ended 'too many symbolic
    links?'. The depth limit refuses it from the text, with an audit event."""
    audit = await bus.consumer([t.AUDIT], group="test-deep")
    sid = await manager.create_sandbox()
    deep = "/work/" + "a/" * 1500 + "x.txt"
    # "levels deep" is the text check's reason; a lookup would have ended "too many links".
    with pytest.raises(PathDeniedError, match="levels deep"):
        await manager.read_file(sid, deep)
    denied = [e for _, e in await drain(audit, t.AUDIT) if isinstance(e, AuditEvent) and e.allowed is False]
    assert len(denied) == 1 and "levels deep" in (denied[0].reason or "")
