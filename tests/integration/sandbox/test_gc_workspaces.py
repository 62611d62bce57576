"""``sandguard sandbox gc`` reclaims the workspace loop images a killed manager left
(issue: the gc removed its containers and volumes but left its loop devices attached and
its images on disk), and never those of a manager still running."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from sandbox import SandboxManager
from sandbox.workspace import loops_under
from tests.conftest import NEEDS_ROOT
from tests.integration.sandbox.conftest import MakeManager
from tests.integration.sandbox.test_lifetime import ROOT, VICTIM, _made_line

pytestmark = NEEDS_ROOT  # loop devices
# The victim makes two sandboxes (Docker, loop devices) on a loaded host: 60 s is wide.
MADE_WITHIN_S = 60.0
GC_TIMEOUT_S = 120.0


def _gc(lease_dir: Path, workspace_dir: Path) -> dict[str, Any]:
    cli = str(Path(sys.executable).with_name("sandguard"))
    argv = [cli, "sandbox", "gc", "--lease-dir", str(lease_dir), "--workspace-dir", str(workspace_dir)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=GC_TIMEOUT_S, cwd=ROOT)
    lines = out.stdout.splitlines()  # its log lines share stdout: the report is the {...} block
    start, end = lines.index("{"), lines.index("}")
    report: dict[str, Any] = json.loads("\n".join(lines[start : end + 1]))
    return report


async def test_gc_frees_a_killed_managers_loop_images_and_not_a_live_ones(
    make_manager: MakeManager, run_id: str, tmp_path: Path
) -> None:
    leases, workspaces = tmp_path / "leases", tmp_path / "workspaces"
    victim = subprocess.Popen(
        [sys.executable, str(VICTIM), str(leases), run_id, str(workspaces)], stdout=subprocess.PIPE, cwd=ROOT
    )
    try:
        line = await asyncio.wait_for(asyncio.to_thread(_made_line, victim), MADE_WITHIN_S)
        dead = json.loads(line.removeprefix("MADE "))["manager_id"]
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        assert victim.stdout is not None
        victim.stdout.close()
    assert len(list(loops_under(workspaces / dead))) == 4  # two sandboxes, /work and /tmp each
    live: SandboxManager = await make_manager(lease_directory=str(leases), workspace_dir=str(workspaces))
    sandbox_id = await live.create_sandbox()
    in_use = list(loops_under(workspaces / live.manager_id))
    assert len(in_use) == 2

    report = await asyncio.to_thread(_gc, leases, workspaces)

    assert report["workspaces"] == [dead]
    assert not list(loops_under(workspaces / dead)) and not (workspaces / dead).exists()
    assert list(loops_under(workspaces / live.manager_id)) == in_use
    await live.write_file(sandbox_id, "/work/still.txt", b"here")  # its /work still works
    assert await live.read_file(sandbox_id, "/work/still.txt") == b"here"
