"""Reverse shells against a loopback listener inside the sandbox, judged from kernel
evidence: each family works (the listener gets a shell's answer) and is reported as a
CRITICAL reverse shell; in enforce mode the sandbox is terminated."""

from __future__ import annotations

import json

import pytest

from sandbox import SandboxTerminated
from schemas import ActionOutcome, EnforcementAction, PolicyMode
from tests.integration.detection.attacks import DRIVER, REVERSE_SHELLS
from tests.integration.detection.conftest import MakeStack, Stack, detection_policy

# Seconds the driver may take: a 10 s accept, a 10 s read and the shell's start.
DRIVER_TIMEOUT_S = 40
# The finding follows the exec within milliseconds; the margin is for a loaded machine.
FINDING_TIMEOUT_S = 15


async def _attack(stack: Stack, family: str) -> tuple[str, str]:
    m = stack.manager
    sid = await m.create_sandbox()
    await m.write_file(sid, "/work/driver.py", DRIVER)
    await m.write_file(sid, "/work/payload.json", json.dumps(REVERSE_SHELLS[family]))
    try:
        run = await m.execute(sid, "python3 /work/driver.py /work/payload.json", timeout=DRIVER_TIMEOUT_S)
    except SandboxTerminated as exc:  # enforce mode: the enforcer may end it mid-attack
        return sid, f"TERMINATED {exc}"
    return sid, run.stdout + run.stderr


@pytest.mark.parametrize("family", sorted(REVERSE_SHELLS))
async def test_reverse_shell_family_is_detected(make_stack: MakeStack, family: str) -> None:
    # Audit: every command is recorded, nothing acts, so the shell lives to answer.
    stack = await make_stack(detection_policy(mode=PolicyMode.AUDIT, blocked_commands=set()))
    sid, out = await _attack(stack, family)
    assert out.startswith("ANSWERED"), out  # the payload gave a working shell
    found = await stack.wait_for(
        f"a reverse shell finding for {family}",
        lambda: [v for v in stack.seen.violations(sid) if v.rule_id == "process.reverse_shell"],
        FINDING_TIMEOUT_S,
    )
    v = found[0]
    assert (v.severity.value, v.mode) == ("critical", "audit"), v
    assert v.evidence.samples and v.evidence.samples[0].get("why"), v.evidence


async def test_reverse_shell_terminates_the_sandbox_in_enforce_mode(make_stack: MakeStack) -> None:
    stack = await make_stack(detection_policy(blocked_commands=set()))
    sid, _ = await _attack(stack, "python pty")
    done = await stack.wait_for(
        "the sandbox terminated",
        lambda: [
            a for a in stack.seen.actions(sid)
            if a.action is EnforcementAction.TERMINATE and a.result is ActionOutcome.APPLIED
        ],
        FINDING_TIMEOUT_S,
    )  # fmt: skip
    assert "process.reverse_shell" in done[0].rule_ids
