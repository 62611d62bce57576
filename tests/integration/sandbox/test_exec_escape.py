"""A timeout ends everything the command started, however it hid (issue 17).

On main, ``env -i sh -c 'sleep 1003 >/dev/null 2>&1 &'; sleep 60`` with timeout=2 was
reported timed out while ``sleep 1003`` kept running: it had neither the exec's token
(cleared environment) nor its descent (orphaned to the init). Each way of hiding runs
on both images; afterwards nothing but the init and the lifetime timer may be left,
except the processes of another command that is still running.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.conftest import BUSYBOX_IMAGE, PYTHON_IMAGE
from tests.integration.sandbox.conftest import MakeManager, quick_policy

ESCAPES = {
    "cleared-env-orphan": "env -i sh -c 'sleep 1003 >/dev/null 2>&1 &'; sleep 60",
    "new-session": "env -i setsid sh -c 'sleep 1004' >/dev/null 2>&1 & sleep 60",
    "double-fork": "env -i sh -c '(sleep 1005 >/dev/null 2>&1 &) &'; sleep 60",
    "setsid-fork": "setsid -f env -i sleep 1006 >/dev/null 2>&1; sleep 60",
}
# The kill is done when execute() returns; the engine's process list may lag a moment.
GONE_DEADLINE_S = 3.0


def _commands(docker_client: Any, sid: str) -> list[str]:
    """The sandbox's processes as the engine lists them (the test's own view)."""
    return [" ".join(p[-1:]) for p in docker_client.api.top(sid, ps_args="-eo pid,args")["Processes"]]


async def _survivors(docker_client: Any, sid: str, pattern: str) -> list[str]:
    deadline = time.monotonic() + GONE_DEADLINE_S
    while True:
        found = [c for c in await asyncio.to_thread(_commands, docker_client, sid) if pattern in c]
        if not found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("image", [PYTHON_IMAGE, BUSYBOX_IMAGE])
@pytest.mark.parametrize("escape", list(ESCAPES))
async def test_a_timeout_kills_what_the_command_hid(
    make_manager: MakeManager, docker_client: Any, image: str, escape: str
) -> None:
    manager = await make_manager(quick_policy(), image=image)
    sid = await manager.create_sandbox()
    result = await manager.execute(sid, ESCAPES[escape], timeout=2)
    assert result.timed_out
    assert not await _survivors(docker_client, sid, "sleep 100"), f"{escape}: a process outlived the timeout"
    assert await _survivors(docker_client, sid, f"sleep {quick_policy().resource_limits.execution_timeout}")


async def test_another_running_command_is_left_alone(make_manager: MakeManager) -> None:
    manager = await make_manager(quick_policy())
    sid = await manager.create_sandbox()
    other = asyncio.create_task(manager.execute(sid, "sleep 7 && echo survived", timeout=30))
    await asyncio.sleep(0.5)
    result = await manager.execute(sid, ESCAPES["double-fork"], timeout=2)
    assert result.timed_out
    assert (await other).stdout == "survived\n"
