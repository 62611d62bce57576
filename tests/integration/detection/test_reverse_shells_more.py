"""Reverse shells beyond the six families (attacks.MORE_REVERSE_SHELLS and the busybox
ones), each against a listener inside its own sandbox that proves the shell answers, in
audit mode (nothing acts, so each shell lives to answer). One stack, one sandbox per
family: findings are deduplicated per program, so families cannot share a sandbox.
"""

from __future__ import annotations

import asyncio
import functools
import json

from schemas import PolicyMode, Violation
from tests.conftest import BUSYBOX_IMAGE
from tests.integration.detection.attacks import (
    BUSYBOX_DRIVER,
    BUSYBOX_REVERSE_SHELLS,
    DRIVER,
    MORE_REVERSE_SHELLS,
)
from tests.integration.detection.conftest import MakeStack, Stack, detection_policy
from tests.integration.detection.test_benign import _docker_exec

DRIVER_TIMEOUT_S = 40
FINDING_TIMEOUT_S = 10


def _found(stack: Stack, sid: str) -> list[Violation]:
    return [v for v in stack.seen.violations(sid) if v.rule_id == "process.reverse_shell"]


async def _python_family(stack: Stack, family: str) -> tuple[str, str]:
    m = stack.manager
    argv, conns = MORE_REVERSE_SHELLS[family]
    sid = await m.create_sandbox()
    await m.write_file(sid, "/work/driver.py", DRIVER)
    await m.write_file(sid, "/work/payload.json", json.dumps(argv))
    run = await m.execute(
        sid, ["python3", "/work/driver.py", "/work/payload.json", str(conns)], timeout=DRIVER_TIMEOUT_S
    )
    return sid, run.stdout + run.stderr


async def _busybox_family(stack: Stack, family: str) -> tuple[str, str]:
    m = stack.manager
    sid = await m.create_sandbox(image=BUSYBOX_IMAGE)
    await m.write_file(sid, "/work/driver.txt", BUSYBOX_DRIVER)
    await m.write_file(sid, "/work/payload.txt", BUSYBOX_REVERSE_SHELLS[family] + "\n")
    out, err = await asyncio.to_thread(_docker_exec, sid, ["sh", "/work/driver.txt", "/work/payload.txt"])
    return sid, out + err


async def _judge(stack: Stack, runs: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Families that did not answer (a broken payload proves nothing) or were not found."""
    bad = {f: out[-300:] for f, (_, out) in runs.items() if not out.startswith("ANSWERED")}
    for family, (sid, _) in runs.items():
        try:
            await stack.wait_for(
                f"a reverse shell finding for {family}",
                functools.partial(_found, stack, sid),
                FINDING_TIMEOUT_S,
            )
        except AssertionError:
            bad[family] = "NOT DETECTED"
    return bad


async def test_more_reverse_shell_families_are_detected(make_stack: MakeStack) -> None:
    stack = await make_stack(detection_policy(mode=PolicyMode.AUDIT, blocked_commands=set()))
    runs = {f: await _python_family(stack, f) for f in MORE_REVERSE_SHELLS}
    assert await _judge(stack, runs) == {}


async def test_busybox_reverse_shells_are_detected(make_stack: MakeStack) -> None:
    policy = detection_policy(mode=PolicyMode.AUDIT, blocked_commands=set())
    stack = await make_stack(policy, image=BUSYBOX_IMAGE)
    runs = {f: await _busybox_family(stack, f) for f in BUSYBOX_REVERSE_SHELLS}
    assert await _judge(stack, runs) == {}
