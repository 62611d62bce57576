"""The compose stack (deploy/compose.yaml) brought up by ``deploy/local/stack.sh up`` on
the real engine: every service healthy, Prometheus text on every endpoint, the demo's
fork flood terminated by the stack's own processors and enforcer, and ``down`` leaving
nothing behind."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from collectors.kernel.probe import BTF, EXEC_TRACEPOINT
from sandguard import SandboxManager
from sandguard.bus import KafkaBus
from sandguard.demo import FORK_BOMB
from schemas import DetectionSettings, NetworkPolicy, ResourceLimits, SecurityPolicy
from tests.conftest import BUSYBOX_IMAGE

STACK = Path(__file__).resolve().parents[3] / "deploy" / "local" / "stack.sh"
PROJECT = "sgstack-test"
# Not 19092 (a stack brought up by hand) nor 9092 (the test broker).
KAFKA_PORT = 19192
WATCH = ("sandguard-stack", PROJECT)
SERVICES = {"kafka", "collector", "enforcer", "processor-1", "processor-2", "sink"}
# The images' tags, when set (a tree of its own on a shared engine: other trees build the
# default tags from their sources).
IMAGES = ("SANDGUARD_IMAGE", "SANDGUARD_KAFKA_IMAGE", "SANDGUARD_COLLECTOR_IMAGE")
# A first run builds the images (debootstrap, wheels): minutes; later runs take ~40 s.
UP_TIMEOUT_S = 1200
# The stack's set-up (build, up) runs in the first test's fixture: the suite's 300 s
# default timeout is not enough for a first build on a loaded machine.
pytestmark = pytest.mark.timeout(UP_TIMEOUT_S + 300)
# Samples every second; the pids rule needs a few; then a command, then the kill.
TERMINATED_WITHIN_S = 90.0
READ_METRICS = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9464/metrics').read().decode())"


@dataclass(frozen=True)
class Stack:
    """``deploy/local/stack.sh`` for one stack: its project, its Kafka's port on the host,
    secured or not, and more of the script's environment."""

    project: str = PROJECT
    port: int = KAFKA_PORT
    secure: bool = False
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, verb: str, *args: str, timeout_s: float = 300) -> str:
        """``stack.sh verb *args``; its stdout."""
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "SANDGUARD_STACK_PROJECT": self.project,
            "SANDGUARD_STACK_KAFKA_PORT": str(self.port),
            "SANDGUARD_WATCH_LABEL": f"{WATCH[0]}={self.project}",
            "SANDGUARD_HOST": socket.gethostname(),
            **self.env,
            **{name: os.environ[name] for name in IMAGES if name in os.environ},
        }
        argv = [str(STACK), verb, *args, *(["--secure"] if self.secure else [])]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
        assert done.returncode == 0, f"stack.sh {verb}: {done.stdout}\n{done.stderr[-4000:]}"
        return done.stdout


_stack = Stack()


def left_behind(project: str) -> str:
    """The ids of the containers, networks and volumes of ``project`` that still exist."""
    label = f"label=com.docker.compose.project={project}"
    argvs = [["docker", "ps", "-aq"], ["docker", "network", "ls", "-q"], ["docker", "volume", "ls", "-q"]]
    return "".join(
        subprocess.run([*a, "--filter", label], capture_output=True, text=True, check=True).stdout
        for a in argvs
    ).strip()


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, str]]:
    try:
        out = _stack("up", timeout_s=UP_TIMEOUT_S)
        yield json.loads(out.strip().splitlines()[-1])["services"]
    finally:
        _stack("down")
        assert left_behind(PROJECT) == ""


def test_every_service_is_healthy(stack: dict[str, str]) -> None:
    assert stack == dict.fromkeys(sorted(SERVICES), "healthy")


def test_every_endpoint_serves_prometheus_text(stack: dict[str, str]) -> None:
    targets = json.loads(_stack("scrape").strip().splitlines()[-1])["targets"]
    assert len(targets) == 5
    assert all(t["ok"] and t["sandguard_families"] > 0 for t in targets.values())


def _collector(*argv: str) -> str:
    """``argv`` run in the stack's collector container; its output."""
    cid = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}",
         "--filter", "label=com.docker.compose.service=collector"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.split()[0]  # fmt: skip
    argv = ("docker", argv[0], cid, *argv[1:])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout + done.stderr


def test_the_collector_reports_its_kernel_mode(stack: dict[str, str]) -> None:
    """bpf (the loader) where this kernel offers BPF (BTF and tracefs, as here), else the named
    fallback with its reason in the collector's log."""
    text = _collector("exec", "/opt/sandguard/bin/python", "-c", READ_METRICS)
    in_force = re.findall(r'^sandguard_collector_kernel_mode\{mode="(\w+)"\} 1\.0$', text, re.MULTILINE)
    assert len(in_force) == 1, text[-2000:]
    mode = in_force[0]
    if Path(BTF).exists() and Path(EXEC_TRACEPOINT).exists():
        assert mode == "bpf", _collector("logs")[-3000:]
    else:
        logs = _collector("logs")
        assert mode in ("proc_connector", "off") and "kernel_events_degraded" in logs, logs[-3000:]


def flood_policy() -> SecurityPolicy:
    """The demo's fork bomb under a 24-process limit, terminated at the first violation."""
    return SecurityPolicy(
        name="stack-test",
        resource_limits=ResourceLimits(
            memory_mb=64, cpu_percent=25.0, max_processes=24, execution_timeout=180
        ),
        network_policy=NetworkPolicy.NONE,
        violation_threshold=1,
        auto_terminate_on_violation=True,
        detection=DetectionSettings(window_seconds=10, min_samples=2, escalation_window_seconds=120),
    )


async def fork_flood_is_terminated(bus: KafkaBus, project: str = PROJECT) -> None:
    """The demo's fork bomb in a sandbox the stack ``project`` watches, through ``bus`` (the
    stack's Kafka): terminated by the stack's own enforcer, for a pids or process rule."""
    manager = SandboxManager(
        flood_policy(), bus=bus, image=BUSYBOX_IMAGE, labels={WATCH[0]: project}, registry=CollectorRegistry()
    )
    try:
        await manager.start()
        sid = await manager.create_sandbox()
        flood = asyncio.create_task(manager.execute(sid, FORK_BOMB, timeout=TERMINATED_WITHIN_S))

        async def terminated() -> None:
            """Until the stack's enforcer's result (the engine may report the stop first)."""
            while (t := manager.sandbox(sid).record.termination) is None or t.source != "enforcer":
                await asyncio.sleep(0.5)

        await asyncio.wait_for(terminated(), timeout=TERMINATED_WITHIN_S)
        await asyncio.gather(flood, return_exceptions=True)
        termination = manager.sandbox(sid).record.termination
        assert termination is not None and termination.action == "terminate"
        assert any(rule.startswith(("pids.", "process")) for rule in termination.rule_ids), termination
    finally:
        await manager.cleanup()


async def test_fork_flood_is_terminated_by_the_stack(stack: dict[str, str]) -> None:
    bus = KafkaBus(f"127.0.0.1:{KAFKA_PORT}")
    await bus.start()
    try:
        await fork_flood_is_terminated(bus)
    finally:
        await bus.stop()
