"""The file API against a sandbox that swaps a directory and a symlink under it (issue 17).

Code in the sandbox exchanges /work/d (a directory holding a decoy ``passwd``) with a
symlink to /etc, as fast as it can, while the manager reads ``/work/d/passwd`` and
writes ``/work/d/planted.txt``. Before the fix the archive API followed the swapped
link as root in the engine: it returned the image's /etc files and wrote into the
read-only root. Every read must now give the decoy or a denial, and nothing may appear
or change in /etc.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from sandbox import (
    PathDeniedError,
    SandboxFileError,
    SandboxFileNotFound,
    SandboxManager,
    SandboxOperationError,
)
from tests.conftest import BUSYBOX_IMAGE, PYTHON_IMAGE
from tests.integration.sandbox.conftest import MakeManager, quick_policy

RACE_S = 20.0
# The swapper outlives the race by this much, so it is still swapping at the end.
SWAP_MARGIN_S = 6
DECOY = b"decoy"
# What /work/d may hold (second red-team: listings and writes that make directories race
# too). busybox's three renames are not atomic: 'mv a b' onto an existing directory b
# moves a into it, so d, l and t can turn up inside; /etc has none of those names.
LISTED = {"passwd", "planted.txt", "new", "d", "l", "t"}
# renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE): syscall 316 on x86_64.
PY_SWAPPER = """
import ctypes, time
libc = ctypes.CDLL(None, use_errno=True)
end = time.time() + {seconds}
n = 0
while time.time() < end:
    libc.syscall(316, -100, b"/work/d", -100, b"/work/l", 2)
    n += 1
print(n)
"""
# busybox has no python: the same swap in three renames (not atomic, still a race).
SH_SWAPPER = (
    "timeout {seconds} sh -c 'while :; do mv /work/d /work/t; mv /work/l /work/d; mv /work/t /work/l; "
    "echo; done' | wc -l"
)
ETC_STATE = "ls -la /etc | md5sum; md5sum /etc/passwd; ls /etc/planted.txt /etc/new 2>&1 || true"


def _swapper(image: str) -> str:
    seconds = int(RACE_S) + SWAP_MARGIN_S
    if image == PYTHON_IMAGE:
        return "python3 -c '" + PY_SWAPPER.format(seconds=seconds) + "'"
    return SH_SWAPPER.format(seconds=seconds)


async def _race(manager: SandboxManager, sid: str) -> tuple[list[bytes], int, int, list[str]]:
    reads: list[bytes] = []
    writes = denials = 0
    errors: list[str] = []
    deadline = time.monotonic() + RACE_S
    while time.monotonic() < deadline:
        try:
            reads.append(await manager.read_file(sid, "/work/d/passwd"))
        except (PathDeniedError, SandboxFileNotFound, SandboxFileError):
            denials += 1
        except SandboxOperationError as exc:
            errors.append(str(exc))
        for path in ("/work/d/planted.txt", "/work/d/new/deep/planted.txt"):  # the second makes dirs
            try:
                await manager.write_file(sid, path, b"planted")
                writes += 1
            except (PathDeniedError, SandboxFileError):
                denials += 1
            except SandboxOperationError as exc:
                errors.append(str(exc))
        try:  # a listing that followed the link would name /etc's files
            reads += [
                e.name.encode() for e in await manager.list_files(sid, "/work/d") if e.name not in LISTED
            ]
        except (PathDeniedError, SandboxFileNotFound, SandboxFileError):
            denials += 1
        except SandboxOperationError as exc:
            errors.append(str(exc))
    return reads, writes, denials, errors


@pytest.mark.slow
@pytest.mark.parametrize("image", [PYTHON_IMAGE, BUSYBOX_IMAGE])
async def test_a_swapped_symlink_never_leads_a_read_or_write_out_of_the_workspace(
    make_manager: MakeManager, image: str
) -> None:
    policy = quick_policy(blocked_commands=set(), allowed_file_extensions=set(), limits={"max_processes": 50})
    manager = await make_manager(policy, image=image)
    sid = await manager.create_sandbox()
    setup = await manager.execute(sid, "mkdir /work/d && printf decoy > /work/d/passwd && ln -s /etc /work/l")
    assert setup.exit_code == 0, setup.stderr
    before = (await manager.execute(sid, ETC_STATE)).stdout
    swapper = asyncio.create_task(manager.execute(sid, _swapper(image), timeout=RACE_S + SWAP_MARGIN_S + 10))
    await asyncio.sleep(0.5)  # the swapper is running
    reads, writes, denials, errors = await _race(manager, sid)
    swaps = await swapper
    assert int(swaps.stdout.strip() or 0) > 100, f"the swapper did not run: {swaps}"
    leaked = [data[:60] for data in reads if data != DECOY]
    assert not leaked, f"{len(leaked)} of {len(reads)} reads left the workspace: {leaked[:3]}"
    assert (await manager.execute(sid, ETC_STATE)).stdout == before, "something in /etc changed"
    # busybox's three-rename swap leaves /work/d a directory only briefly: reads may all
    # be denied there, so only some operation must have got through.
    assert reads or writes, "the race must also let operations through"
    assert denials > 0, "the swap was never seen: the race did not happen"
    assert not errors, f"a race must be a denial, not an engine error: {errors[:3]}"
