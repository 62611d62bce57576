"""A history recorded from real sandboxes in embedded mode: benign runs of one image,
then misbehaving ones (a CPU burner, denied commands, a blocked program started out of the
validator's sight under another argv[0], a fork flood), all under one policy, stored by the live pipeline."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from sandbox import SandboxError
from sandguard import SandboxManager
from schemas import (
    DetectionSettings,
    EscalationResponse,
    NetworkPolicy,
    ResourceLimits,
    SecurityPolicy,
    now_ms,
)

PYTHON = "sandguard/python:3"
LABEL = "backtest-run"
# Each sandbox lives ~12 s: enough for a 1 Hz collector to see the K=2 of W=10 s rules fire.
RUN_S = 12

IN_FORCE = SecurityPolicy(
    name="recorded",
    # A whole CPU: at 20 % a benign python3 start on a busy host was throttled now and then
    # (cpu.throttled), and the benign run stopped being clean. The burner has its own 5 %.
    resource_limits=ResourceLimits(memory_mb=128, cpu_percent=100.0, max_processes=16),
    network_policy=NetworkPolicy.NONE,
    blocked_commands={"rm", "sudo", "kill"},
    violation_threshold=3,
    auto_terminate_on_violation=False,
    escalation_response=EscalationResponse.TERMINATE,
    detection=DetectionSettings(window_seconds=10, min_samples=2),
)

BURNER = IN_FORCE.model_copy(
    update={"resource_limits": IN_FORCE.resource_limits.model_copy(update={"cpu_percent": 5.0})}
)

BENIGN = (
    "python3 -c 'print(sum(range(10**6)))'",
    "ls -l /work",
    "python3 -c 'import json; print(json.dumps({\"a\": [1, 2, 3]}))'",
)
BURN = f'python3 -c "import time\nend = time.time() + {RUN_S}\nwhile time.time() < end:\n    pass"'
# A child that runs rm (blocked) under argv[0] "sleep": the validator never saw this
# command line, and the disguise names nothing (the file executed is judged, not argv[0]).
DISGUISED = (
    f"python3 -c \"import os, time; os.fork() or os.execv('/bin/rm', ['sleep', '-f', '/work/none']); "
    f'time.sleep({RUN_S})"'
)
FORKS = (
    'python3 -c "import subprocess, time\nps = []\nfor i in range(40):\n    try:\n'
    f"        ps.append(subprocess.Popen(['sleep', '{RUN_S}']))\n    except OSError:\n        pass\n"
    f'time.sleep({RUN_S})"'
)


@dataclass
class Recorded:
    run_id: str
    since: int
    benign: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    split: int = 0  # epoch ms between the benign runs and the misbehaving ones
    until: int = 0


async def _benign(manager: SandboxManager, run_id: str) -> str:
    sid = await manager.create_sandbox(image=PYTHON, labels={LABEL: run_id})
    await manager.write_file(sid, "/work/notes.txt", b"benign")
    for command in BENIGN:
        await manager.execute(sid, command, timeout=20)
    await asyncio.sleep(RUN_S / 2)
    await manager.destroy_sandbox(sid)
    return sid


async def _quietly(manager: SandboxManager, sid: str, command: str) -> None:
    """Runs ``command``; the sandbox may be terminated under it, which ends it too."""
    try:
        await manager.execute(sid, command, timeout=RUN_S + 10)
    except (PermissionError, SandboxError):  # denied, or terminated: both are what the test records
        return


async def _bad(manager: SandboxManager, run_id: str, command: str | None) -> str:
    # The burner gets a 5 % quota: it is throttled even when a busy host gives it only a
    # tenth of a core (at 20 % it may never reach its quota, and nothing is throttled).
    policy = BURNER if command == BURN else None
    sid = await manager.create_sandbox(image=PYTHON, policy=policy, labels={LABEL: run_id})
    if command is None:  # denied commands: three denials reach the threshold
        for denied in ("rm -rf /work", "sudo id", "rm /work/x"):
            await _quietly(manager, sid, denied)
        await asyncio.sleep(RUN_S / 2)
    else:
        await _quietly(manager, sid, command)
    await _quietly_destroy(manager, sid)
    return sid


async def _quietly_destroy(manager: SandboxManager, sid: str) -> None:
    try:
        await manager.destroy_sandbox(sid)
    except SandboxError:  # already terminated and removed by the enforcer
        return


async def record(data_dir: Path, run_id: str) -> Recorded:
    rec = Recorded(run_id, since=now_ms() - 1000)
    manager = SandboxManager(IN_FORCE, data_dir=data_dir)
    try:
        rec.benign = list(await asyncio.gather(*(_benign(manager, run_id) for _ in range(4))))
        await asyncio.sleep(1.5)
        rec.split = now_ms()
        bad = (BURN, None, DISGUISED, FORKS)
        rec.bad = list(await asyncio.gather(*(_bad(manager, run_id, c) for c in bad)))
    finally:
        await manager.cleanup()
    rec.until = now_ms() + 1000
    return rec
