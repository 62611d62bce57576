"""Command paths in /work and /tmp, judged by where they really lead, on the real engine.

Validation refuses a command path in a writable place (a link the sandbox made can give
any program any name); the manager then resolves it on the sandbox's storage and lets it
run only when it leads to a program of the image that the policy allows. The attacks come
first (each link made in one execute, used in the next, so it exists when validated),
then the everyday venv.
"""

from __future__ import annotations

import pytest

from sandbox import CommandDeniedError, SandboxManager
from tests.integration.sandbox.conftest import MakeManager, quick_policy

PYTHON_IMAGE = "sandguard/python:3"
LINKED = "may be a link the sandbox made"


async def run(manager: SandboxManager, sid: str, command: str) -> str:
    result = await manager.execute(sid, command, timeout=30)
    assert result.exit_code == 0, result
    return result.stdout


async def refused(manager: SandboxManager, sid: str, command: str) -> CommandDeniedError:
    with pytest.raises(CommandDeniedError) as caught:
        await manager.execute(sid, command, timeout=10)
    return caught.value


@pytest.fixture
async def rm_blocked(make_manager: MakeManager) -> tuple[SandboxManager, str]:
    manager = await make_manager(quick_policy(blocked_commands={"rm"}))
    return manager, await manager.create_sandbox()


async def test_a_link_to_a_blocked_program_is_refused_naming_the_program(
    rm_blocked: tuple[SandboxManager, str],
) -> None:
    manager, sid = rm_blocked
    await run(manager, sid, "touch /work/victim && ln -s /usr/bin/rm /work/tidy && ln -s /bin/rm /tmp/t")
    for path in ("/work/tidy", "/tmp/t"):
        denied = await refused(manager, sid, f"{path} -f /work/victim")
        assert denied.word == "rm" and f"{path!r} is a link to" in denied.reason, denied
        assert not await manager.validate_command_execution(sid, f"{path} -f /work/victim")
    assert await run(manager, sid, "ls /work") == "tidy\nvictim\n"


async def test_chains_and_dotdot_are_followed_to_the_program(rm_blocked: tuple[SandboxManager, str]) -> None:
    manager, sid = rm_blocked
    await run(
        manager,
        sid,
        "mkdir -p /work/d/e && ln -s /usr/bin/rm /work/other && ln -s /work/other /work/x"
        " && ln -s x /work/y && ln -s /work /tmp/b && ln -s ../../tmp/b /work/d/up",
    )
    for path in ("/work/x", "/work/y", "/work/d/e/../../x", "/work/d/up/other", "/tmp/b/d/up/d/../x"):
        denied = await refused(manager, sid, f"{path} -f /work/victim")
        assert denied.word == "rm" and "is a link to '/usr/bin/rm'" in denied.reason, (path, denied)


async def test_links_to_descriptors_processes_and_loops_stay_refused(
    rm_blocked: tuple[SandboxManager, str],
) -> None:
    manager, sid = rm_blocked
    await run(
        manager,
        sid,
        "ln -s /proc/self/exe /work/self && ln -s /dev/fd/3 /work/fd && ln -s /work/loop /work/loop"
        " && ln -s /work/python /work/inside && cp /bin/busybox /work/copy && touch /work/f.txt",
    )
    for path in ("/work/self", "/work/fd"):
        denied = await refused(manager, sid, f"{path} -f /work/victim")
        assert "cannot be judged" in denied.reason, denied
    # A loop, a link that stays in /work, a regular file, nothing at all (also on the way
    # out through '..', which the kernel refuses too), a relative path: the path's own refusal.
    for path in (
        "/work/loop",
        "/work/inside",
        "/work/copy",
        "/work/missing",
        "/work/missing/../../usr/bin/ls",
        "/work/f.txt/../../usr/bin/ls",
        "venv/bin/python",
    ):
        denied = await refused(manager, sid, f"{path} -c 1")
        assert denied.word == path and LINKED in denied.reason, denied


async def test_a_venv_python_runs_under_the_default_command_policy(make_manager: MakeManager) -> None:
    """The default blocked commands; quick_policy only makes the resource limits small."""
    manager = await make_manager(quick_policy(limits={"memory_mb": 256}), image=PYTHON_IMAGE)
    sid = await manager.create_sandbox()
    await run(
        manager, sid, "python3 -m venv --without-pip /work/venv && python3 -m venv --without-pip /tmp/venv"
    )
    await manager.write_file(sid, "/work/f.json", b'{"a": 1}')
    assert (
        await run(manager, sid, "/work/venv/bin/python -c 'import sys; print(sys.prefix)'") == "/work/venv\n"
    )
    assert '"a": 1' in await run(manager, sid, "/tmp/venv/bin/python3 -m json.tool f.json")
    assert await run(manager, sid, "cd /work && /work/venv/bin/python3 -c 1 && echo ok") == "ok\n"
    assert await manager.validate_command_execution(sid, "/work/venv/bin/python -m pytest -q")
    # The same line cannot point the link elsewhere first: only the first program is followed.
    repoint = "ln -sf /usr/bin/rm /work/venv/bin/python; /work/venv/bin/python -f /work/f.json"
    with pytest.raises(CommandDeniedError, match=LINKED):
        await manager.execute(sid, repoint, timeout=10)
    assert await manager.read_file(sid, "/work/f.json") == b'{"a": 1}'
