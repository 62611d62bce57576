"""Script files run by a shell, judged by their content, on the real engine.

``sh /work/run.sh`` is refused by the first validation (the file is not on the command
line); the manager then reads the file as the file API reads and validates again with
its content. A benign script runs; one that runs a blocked program is refused naming
the program and the script, and never runs. In the busybox (ash) and Python (dash,
bash) images.
"""

from __future__ import annotations

import pytest

from sandbox import CommandDeniedError
from schemas.policy import DEFAULT_EXTENSIONS
from tests.conftest import PYTHON_IMAGE
from tests.integration.sandbox.conftest import MakeManager, quick_policy

RUN = "/work/run.sh"
BENIGN = """#!/bin/sh
set -eu
n=0
for f in a b c; do
  echo "$f" > "/work/$f.txt"
done
ls /work | grep -c txt | tr -d ' '
cat /work/a.txt | wc -l
echo "args: $# $1"
"""
BLOCKED = "echo start\nrm -f /work/victim.txt\n"


@pytest.mark.parametrize(("image", "shells"), [(None, ("sh",)), (PYTHON_IMAGE, ("sh", "bash"))])
async def test_a_written_script_runs_and_a_blocked_one_is_refused(
    make_manager: MakeManager, image: str | None, shells: tuple[str, ...]
) -> None:
    overrides = {} if image is None else {"image": image}
    extensions = DEFAULT_EXTENSIONS | {".sh"}  # for write_file: '.sh' is not a default extension
    policy = quick_policy(
        blocked_commands={"rm"}, limits={"memory_mb": 256}, allowed_file_extensions=extensions
    )
    manager = await make_manager(policy, **overrides)
    sid = await manager.create_sandbox()
    await manager.write_file(sid, RUN, BENIGN)
    await manager.write_file(sid, "/work/victim.txt", b"keep")
    for shell in shells:
        result = await manager.execute(sid, f"{shell} {RUN} --fast", timeout=30)
        assert (result.exit_code, result.stdout) == (0, "4\n1\nargs: 1 --fast\n"), result
    assert await manager.validate_command_execution(sid, f"cd /work && sh {RUN} x")
    await manager.write_file(sid, "/work/bad.sh", BLOCKED)
    with pytest.raises(CommandDeniedError) as caught:
        await manager.execute(sid, "sh /work/bad.sh", timeout=10)
    assert caught.value.word == "rm" and "/work/bad.sh" in caught.value.reason, caught.value
    assert await manager.read_file(sid, "/work/victim.txt") == b"keep"


async def test_scripts_that_cannot_be_judged_stay_refused(make_manager: MakeManager) -> None:
    """The default extensions (no '.sh'): the script is written in the sandbox, still read."""
    manager = await make_manager(quick_policy())
    sid = await manager.create_sandbox()
    made = (
        "cd /work && printf 'echo x\\n%.0s' $(seq 37450) > big.sh && printf 'echo \\351\\n' > latin.sh"
        " && echo 'sh /work/inner.sh' > outer.sh && echo 'echo inner' > inner.sh && wc -c < big.sh"
    )
    assert int((await manager.execute(sid, made, timeout=30)).stdout) > 256 * 1024
    for path in ("/work/big.sh", "/work/latin.sh", "/work/missing.sh", "/work", "/work/outer.sh"):
        with pytest.raises(CommandDeniedError, match="runs the script file"):
            await manager.execute(sid, f"sh {path}", timeout=10)
    # noexec workspace: running the file itself stays refused as a possible link.
    with pytest.raises(CommandDeniedError, match="may be a link"):
        await manager.execute(sid, "/work/inner.sh", timeout=10)
    relative = await manager.execute(sid, "sh inner.sh", timeout=10, workdir="/work")
    assert relative.stdout == "inner\n"
