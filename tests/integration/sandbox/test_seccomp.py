"""The project's seccomp profile, tested from inside a sandbox (issue 17).

Debian's Docker 20.10 default profile allows io_uring, whose rings perform I/O that
seccomp never sees; upstream removed it (moby#46762). Every sandbox gets our profile:
the engine's default minus io_uring_setup, io_uring_enter and io_uring_register.
"""

from __future__ import annotations

import errno
from typing import Any

import pytest

from sandbox import SandboxManager
from sandbox.seccomp import BLOCKED_SYSCALLS
from tests.conftest import BUSYBOX_IMAGE, PYTHON_IMAGE
from tests.integration.sandbox.conftest import MakeManager, inspect, quick_policy

# io_uring_setup(entries=8, params) on x86_64 is syscall 425; 426 enter, 427 register.
IO_URING = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
for number, args in ((425, (8, params)), (426, (0, 0, 0, 0, 0, 0)), (427, (0, 0, 0, 0))):
    ret = libc.syscall(number, *args)
    print(number, ret, ctypes.get_errno())
"""


@pytest.mark.parametrize("image", [PYTHON_IMAGE, BUSYBOX_IMAGE])
async def test_every_sandbox_runs_under_the_project_profile(
    make_manager: MakeManager, docker_client: Any, image: str
) -> None:
    manager: SandboxManager = await make_manager(quick_policy(), image=image)
    sid = await manager.create_sandbox()
    options = inspect(docker_client, sid)["HostConfig"]["SecurityOpt"]
    profiles = [o for o in options if o.startswith("seccomp=")]
    assert len(profiles) == 1 and '"io_uring' not in profiles[0] and '"openat"' in profiles[0]
    assert "no-new-privileges:true" in options


async def test_io_uring_is_refused_inside(make_manager: MakeManager) -> None:
    manager = await make_manager(quick_policy(), image=PYTHON_IMAGE)
    sid = await manager.create_sandbox()
    result = await manager.execute(sid, ["python3", "-c", IO_URING], timeout=20)
    assert result.exit_code == 0, result.stderr
    for line in result.stdout.splitlines():
        number, ret, err = (int(x) for x in line.split())
        assert ret == -1 and err in (errno.EPERM, errno.ENOSYS), f"syscall {number} was allowed: {line}"
    assert len(result.stdout.splitlines()) == len(BLOCKED_SYSCALLS)
