"""The exec gate in distributed mode: a manager on Kafka with ``kernel_gate=True`` returns a
new sandbox only once the collector (its own OS process, ``sandguard collector``) says its
kernel layer watches it, so a blocked program cannot run even as the sandbox's very first
command; with no collector, creation fails closed in policy mode enforce within the
gate's timeout (a specific error and an audit event), and goes on with a warning in audit
mode."""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

from prometheus_client import CollectorRegistry

from sandbox import KernelCoverageError
from sandguard import SandboxManager, SecurityPolicy
from sandguard.bus import KafkaBus
from sandguard.coverage import COVER_TIMEOUT_S
from schemas import AuditEvent, PolicyMode, decode
from schemas import topics as t
from tests.conftest import NEEDS_ROOT, PYTHON_IMAGE
from tests.integration.distributed.conftest import PARTITIONS, READY_S, RUN_LABEL, Stack

pytestmark = NEEDS_ROOT  # the reason is said where it is defined

# rm run from inside an allowed program, so validation (which refuses "rm" typed into
# execute) lets it through and only the kernel layer stands in its way. Prints rm's status:
# -9 when it was killed at exec, 0 had it run.
FIRST_COMMAND = "python3 -c \"import subprocess; print(subprocess.run(['r' + 'm', '--version']).returncode)\""
# A collector starting (Python, the Docker client, the BPF loader's attach) on a loaded
# 2-core host: seconds; 90 s is a wide margin (the services' own READY_S).
COLLECTOR_START_S = READY_S
# The gate's timeout, and a margin for removing the refused container on a loaded host.
REFUSED_WITHIN_S = COVER_TIMEOUT_S + 20.0


def _manager(bootstrap: str, namespace: str, run_id: str, policy: SecurityPolicy,
             **gate: Any) -> SandboxManager:  # fmt: skip
    bus = KafkaBus(bootstrap, namespace=namespace, partitions=PARTITIONS)
    return SandboxManager(security_policy=policy, bus=bus, image=PYTHON_IMAGE, labels={RUN_LABEL: run_id},
                          registry=CollectorRegistry(), kernel_gate=True, **gate)  # fmt: skip


async def _kernel_mode_bpf(stack: Stack) -> None:
    deadline = time.monotonic() + READY_S
    while 'sandguard_collector_kernel_mode{mode="bpf"} 1.0' not in stack.collector.metrics():
        assert time.monotonic() < deadline, f"kernel layer not in bpf mode: {stack.collector.tail()}"
        await asyncio.sleep(0.25)


async def _first_command_status(manager: SandboxManager, sid: str) -> str:
    result = await manager.execute(sid, FIRST_COMMAND, timeout=30)
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else result.stderr


async def test_a_blocked_program_cannot_run_even_as_the_first_command(stack: Stack, run_id: str) -> None:
    """The first sandbox is created while the collector is still starting (as after a
    collector restart): creation waits for it. Without the gate, rm ran there (checked
    by hand: status 0). Then new sandboxes with the collector running."""
    await asyncio.to_thread(stack.create_topics)
    policy = SecurityPolicy(blocked_commands={"rm"}, mode=PolicyMode.ENFORCE)
    async with _manager(stack.bootstrap, stack.namespace, run_id, policy,
                        kernel_gate_timeout_s=COLLECTOR_START_S) as manager:  # fmt: skip
        early = asyncio.create_task(manager.create_sandbox())
        await _until_a_container(run_id)
        stack.collector.start()
        sid = await early
        assert await _first_command_status(manager, sid) == "-9"
        await _kernel_mode_bpf(stack)
        for _ in range(2):
            sid = await manager.create_sandbox()
            assert await _first_command_status(manager, sid) == "-9"


async def _until_a_container(run_id: str) -> None:
    """Until the engine runs the manager's first container (the gate is waiting then)."""
    deadline = time.monotonic() + READY_S
    while not await asyncio.to_thread(_containers, run_id):
        assert time.monotonic() < deadline, "the first sandbox was not started"
        await asyncio.sleep(0.1)


def _containers(run_id: str) -> list[str]:
    done = subprocess.run(["docker", "ps", "-q", "--filter", f"label={RUN_LABEL}={run_id}"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout.split()


async def _audit(bootstrap: str, namespace: str, action: str) -> list[AuditEvent]:
    reader = KafkaBus(bootstrap, namespace=namespace, create_topics=False)
    await reader.start()
    try:
        consumer = await reader.consumer([t.AUDIT], group="kernel-gate-test")
        out: list[AuditEvent] = []
        deadline = time.monotonic() + 30
        while len(out) < 2 and time.monotonic() < deadline:
            for r in await consumer.getmany(timeout_ms=500):
                ev = decode(t.AUDIT, r.value)
                if ev is not None and ev.action == action:
                    out.append(ev)
        return out
    finally:
        await reader.stop()


async def test_without_a_collector_enforce_fails_closed_and_audit_warns(
    kafka_bootstrap: str, kafka_namespace: str, run_id: str, docker_client: Any
) -> None:
    enforce = SecurityPolicy(blocked_commands={"rm"}, mode=PolicyMode.ENFORCE)
    audit = enforce.model_copy(update={"mode": PolicyMode.AUDIT})
    async with _manager(kafka_bootstrap, kafka_namespace, run_id, enforce) as manager:
        began = time.monotonic()
        refused, kept = await asyncio.gather(
            manager.create_sandbox(), manager.create_sandbox(policy=audit), return_exceptions=True
        )
        assert time.monotonic() - began < REFUSED_WITHIN_S
        assert isinstance(refused, KernelCoverageError), refused
        assert "kernel layer did not start watching it" in str(refused) and "kernel_covered" in str(refused)
        assert isinstance(kept, str)
        assert (await manager.execute(kept, "echo ok")).stdout == "ok\n"
        left = docker_client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"})
        assert [c.id for c in left] == [kept]  # the refused one was removed
    events = await _audit(kafka_bootstrap, kafka_namespace, "kernel_uncovered")
    assert sorted(e.details["refused"] for e in events) == [False, True]
