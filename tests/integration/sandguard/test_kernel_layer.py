"""The kernel layer through the public facade (embedded): a new sandbox is covered before
create_sandbox returns, a blocked program started by the sandbox's own code is killed at
exec in enforce mode with an action naming it, and only recorded in audit mode."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from sandguard import SandboxManager, SecurityPolicy
from schemas import ActionResult, Consumer, EnforcementAction, ExecEvent, decode, topics
from tests.conftest import NEEDS_ROOT

pytestmark = NEEDS_ROOT  # the reason is said where it is defined
PYTHON = "sandguard/python:3"
# Runs rm at once, from inside Python: never in any command line the validator sees.
AGENT = (
    "import os\nopen('/work/v', 'w').write('x')\nos.system('rm -f /work/v')\n"
    "print(os.path.exists('/work/v'))\n"
)


async def _kernel_events(consumer: Consumer, sid: str, timeout_s: float = 10.0) -> list[object]:
    """What the pipeline published on the kernel and action topics for ``sid`` (polled)."""
    seen: list[object] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen += [decode(r.topic, r.value) for r in await consumer.getmany(timeout_ms=200) if r.key == sid]
        if any(isinstance(e, ActionResult) and e.action is EnforcementAction.BLOCK_EXEC for e in seen):
            break
    return seen


async def _report_with_kernel_events(manager: SandboxManager, sid: str) -> dict[str, Any]:
    """The history is written within about a second; polled with a deadline."""
    deadline = time.monotonic() + 15
    while True:
        report = await manager.get_security_report(sid)
        if report.get("kernel_layer") and report.get("kernel_events", {}).get("execs"):
            return report
        assert time.monotonic() < deadline, "the kernel events never reached the history"
        await asyncio.sleep(0.25)


@pytest.mark.parametrize("mode", ["enforce", "audit"])
async def test_a_blocked_program_is_killed_before_it_runs(embedded_data_dir: Path, mode: str) -> None:
    policy = SecurityPolicy(blocked_commands={"rm"}, mode=mode)
    manager = SandboxManager(policy, data_dir=embedded_data_dir)
    try:
        sid = await manager.create_sandbox(image=PYTHON)
        assert manager.pipeline is not None  # the in-process bus keeps no history: subscribe first
        consumer = await manager.pipeline.bus.consumer([topics.KERNEL, topics.ACTIONS], group=f"t-{sid[:12]}")
        await manager.write_file(sid, "/work/agent.py", AGENT.encode())
        result = await manager.execute(sid, "python3 /work/agent.py", timeout=30)
        assert result.stdout.strip() == ("True" if mode == "enforce" else "False")
        events = await _kernel_events(consumer, sid)
        await consumer.stop()
        blocked = [e for e in events if isinstance(e, ExecEvent) and e.program == "rm"]
        assert blocked and blocked[0].blocked is (mode == "enforce")
        action = next(e for e in events if isinstance(e, ActionResult))
        assert action.details["program"] == "rm" and action.details["parent"] == "sh"
        assert action.result.value == ("applied" if mode == "enforce" else "audit_only")
        report = await _report_with_kernel_events(manager, sid)
        assert {"mode": "bpf", "prevention": "in-kernel"}.items() <= report["kernel_layer"][0].items()
        assert report["kernel_events"]["blocked"] == (1 if mode == "enforce" else 0)
    finally:
        await manager.cleanup()
