"""A short live scenario on the embedded default: what ``deploy/local/demo.sh`` runs.

Four sandboxes under one policy: a well-behaved one does real work; an agent's
dangerous commands are refused before they run; a CPU miner is caught pinned at its
quota; a fork bomb is held by the kernel and caught by its pids counter; a reverse
shell is terminated at once. Then the security report, from the embedded history.
Every step prints what happened; the JSON summary at the end is what the test checks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reporting import HistoryReports
from reporting.html import render_html
from reporting.render_text import render_fleet
from sandbox import CommandDeniedError, PathDeniedError, SandboxTerminated, ValidationDenied
from sandguard.facade import EmbeddedSandboxManager
from schemas import DetectionSettings, NetworkPolicy, ResourceLimits, SecurityPolicy, Store, now_ms

BUSYBOX = "sandguard/busybox:1"
# Windows short enough for a demo: a level rule needs 2 samples in 10 s.
DEMO_DETECTION = DetectionSettings(window_seconds=10, min_samples=2, escalation_window_seconds=120)
# How long the demo waits for the pipeline to see and judge (1 s samples; rules need 2-3).
WAIT_S = 25.0

# Commands an over-eager agent might try; each is refused by parsing, not by substrings.
REFUSED_COMMANDS = (
    "rm -rf /work/*",
    "echo ok && sudo id",
    "python3 -c 'print(1)'; /bin/r\\m -f x",
    'sh -c "kill -9 1"',
    "find /work -name '*.py' -exec rm {} ;",
    "$CMD /etc/passwd",
)
MINER = "sh -c 'while :; do :; done'"
# Passes validation (only sh and sleep run) and forks until the kernel's pids limit holds it.
FORK_BOMB = "sh -c 'while :; do sleep 60 & done'"
# The agent's own code starts the shell, out of the validator's sight: runtime detection
# reads the process's argv. It never connects (no network); the argv is the evidence.
# A real reverse shell over loopback inside the sandbox: the agent listens, and a bash wired
# to /dev/tcp connects to it. The kernel sees bash start with a socket on its stdin/stdout.
REVERSE_SHELL_PY = (
    "import socket, subprocess, time\n"
    "srv = socket.socket()\n"
    "srv.bind(('127.0.0.1', 4445))\n"
    "srv.listen(1)\n"
    "subprocess.Popen(['bash', '-c', 'bash -i >& /dev/tcp/127.0.0.1/4445 0>&1'])\n"
    "conn, _ = srv.accept()\n"
    "conn.sendall(b'id\\n')\n"
    "time.sleep(60)\n"
)
REFUSED_PATHS = ("../../etc/passwd", "/etc/shadow", "/work/notes.exe", "/proc/self/environ")


def demo_policy() -> SecurityPolicy:
    return SecurityPolicy(
        name="demo",
        resource_limits=ResourceLimits(
            memory_mb=128, cpu_percent=25.0, max_processes=24, execution_timeout=180
        ),
        network_policy=NetworkPolicy.NONE,
        violation_threshold=3,
        auto_terminate_on_violation=True,
        detection=DEMO_DETECTION,
    )


# The miner's quota: 5 % of a CPU. It reaches that (and is throttled, which is what the
# rule sees) even on a host loaded far past its cores, where it may never get 25 %: with
# load 11 on 2 cores a 25 % miner went unthrottled for 40 s.
MINER_CPU_PERCENT = 5.0


def miner_policy(policy: SecurityPolicy) -> SecurityPolicy:
    """``policy`` with the miner's CPU quota."""
    limits = policy.resource_limits.model_copy(update={"cpu_percent": MINER_CPU_PERCENT})
    return policy.model_copy(update={"resource_limits": limits})


class Demo:
    def __init__(self, manager: EmbeddedSandboxManager, say: Callable[[str], None]) -> None:
        self.m = manager
        self.say = say
        self.summary: dict[str, Any] = {"refused_commands": 0, "refused_paths": 0}

    async def well_behaved(self) -> str:
        sid = await self.m.create_sandbox(labels={"demo": "worker"})
        self.say(f"[worker] sandbox {sid[:12]} (python image, no network, read-only root)")
        await self.m.write_file(sid, "/work/job.py", "import json, statistics\n"
                                "print(json.dumps({'mean': statistics.mean(range(1000))}))\n")  # fmt: skip
        result = await self.m.execute(sid, "python3 /work/job.py", timeout=30)
        self.say(f"[worker] python3 /work/job.py -> exit {result.exit_code}: {result.stdout.strip()}")
        who = await self.m.execute(sid, "id -u; cat /proc/self/status | grep CapEff", timeout=10)
        self.say(f"[worker] uid and capabilities: {' '.join(who.stdout.split())}")
        self.summary["worker_output"] = result.stdout.strip()
        return sid

    async def refusals(self, sid: str) -> None:
        """Validation refuses each; each refusal is also an audit event the rules count."""
        for command in REFUSED_COMMANDS:
            try:
                await self.m.execute(sid, command, timeout=10)
                self.say(f"[agent] NOT refused: {command}")
            except CommandDeniedError as exc:
                self.summary["refused_commands"] += 1
                self.say(f"[agent] refused {command!r}: {exc.word!r}, {exc.reason}")
        for path in REFUSED_PATHS:
            try:
                await self.m.read_file(sid, path)
                self.say(f"[agent] NOT refused: {path}")
            except (PathDeniedError, ValidationDenied) as exc:
                self.summary["refused_paths"] += 1
                self.say(f"[agent] refused {path!r}: {exc.reason}")

    async def misbehaving(self) -> dict[str, str]:
        miner = await self.m.create_sandbox(
            image=BUSYBOX, policy=miner_policy(self.m.security_policy), labels={"demo": "miner"}
        )
        bomb = await self.m.create_sandbox(image=BUSYBOX, labels={"demo": "forkbomb"})
        shell = await self.m.create_sandbox(labels={"demo": "reverse-shell"})
        await self.m.write_file(shell, "/work/agent.py", REVERSE_SHELL_PY)
        self.say(f"[miner] {miner[:12]}: a CPU hog under a {MINER_CPU_PERCENT:g} % quota")
        self.say(f"[forkbomb] {bomb[:12]}: forks until the pids limit (24)")
        self.say(f"[reverse-shell] {shell[:12]}: agent code that starts a shell wired to /dev/tcp")
        hogs = [
            self.m.execute(miner, MINER, timeout=WAIT_S),
            self.m.execute(bomb, FORK_BOMB, timeout=WAIT_S),
            self.m.execute(shell, "python3 /work/agent.py", timeout=WAIT_S),
        ]
        results = await asyncio.gather(*hogs, return_exceptions=True)
        for name, r in zip(("miner", "forkbomb", "reverse-shell"), results, strict=True):
            outcome = type(r).__name__ if isinstance(r, BaseException) else f"exit {r.exit_code}"
            self.say(f"[{name}] command ended: {outcome}")
        return {"miner": miner, "forkbomb": bomb, "reverse-shell": shell}

    async def outcomes(self, sandboxes: dict[str, str]) -> None:
        for name, sid in sandboxes.items():
            try:
                await self.m.execute(sid, "echo still here", timeout=5)
                self.say(f"[{name}] still running")
                self.summary.setdefault("running", []).append(name)
            except SandboxTerminated as exc:
                self.say(f"[{name}] terminated: {exc}")
                self.summary.setdefault("terminated", []).append(name)
            report = await self.m.get_security_report(sid)
            rules = report.get("violations_by_rule") or report.get("violation_rules") or {}
            self.say(f"[{name}] report: {report.get('total_violations', 0)} violations {dict(rules)}")
            self.summary.setdefault("violations", {})[name] = report.get("total_violations", 0)


async def run_demo(*, data_dir: Path, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Runs the scenario; returns the summary (also printed as JSON by the CLI)."""
    started, started_ms = time.monotonic(), now_ms()
    manager = EmbeddedSandboxManager(demo_policy(), data_dir=data_dir)
    demo = Demo(manager, say)
    try:
        worker = await demo.well_behaved()
        await demo.refusals(worker)
        bad = await demo.misbehaving()
        await demo.outcomes({"worker": worker, **bad})
    finally:
        await manager.cleanup()
    if manager.pipeline is not None and manager.pipeline.store is not None:
        page = data_dir / "report.html"
        await asyncio.to_thread(write_reports, manager.pipeline.store, started_ms, bad["miner"], page, say)
        demo.summary["html_report"] = str(page)
    demo.summary["seconds"] = round(time.monotonic() - started, 1)
    return demo.summary


def write_reports(
    store: Store, since_ms: int, sandbox_id: str, page: Path, say: Callable[[str], None]
) -> None:
    """The fleet report of this run in the terminal, and a sandbox's charts as a page."""
    reports = HistoryReports(store)
    fleet = reports.fleet_report(since_ms=since_ms)
    say("\n" + render_fleet(fleet))
    page.write_text(render_html(sandbox=reports.sandbox_report(sandbox_id), fleet=fleet), encoding="utf-8")
    say(f"HTML report (charts of the miner and the fleet): {page}")
