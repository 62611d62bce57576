"""Nothing is lost (DESIGN.md principle 6): audit events a manager could not publish are on
disk, and when the manager is killed (``kill -9``) while the broker is unreachable, the
next manager on the same spill directory delivers them, each once, when the bus is back.

The manager runs in a network namespace of its own (``unshare -n``) whose only way to the
broker is a forwarder the test holds: ending it makes the broker unreachable for real
(connections reset, reconnects refused), while the broker itself keeps serving others."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from sandguard.bus import ensure_topics
from schemas import AuditEvent, decode
from schemas import topics as t
from tests.conftest import NEEDS_ROOT

pytestmark = NEEDS_ROOT  # unshare -n and the manager's engine need root
ROOT = Path(__file__).resolve().parents[3]
EVENTS = 3
# Start (Docker, Kafka) on a loaded host: seconds; the spill of 3 events on a cut bus: the
# first waits out 4 attempts of <= 2 s, the others one: ~15 s. 120 s each is a wide margin.
STEP_S = 120.0


def _child(*args: str, netns: bool = False) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "tests.integration.sandbox.spill_child", *args]
    return subprocess.Popen(["unshare", "-n", *argv] if netns else argv, cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(os.environ))  # fmt: skip


def _end(proc: subprocess.Popen[str]) -> int:
    """SIGKILL (nothing of its shutdown runs, as after a crash), reaped, its pipes closed."""
    proc.kill()
    code = proc.wait(timeout=30)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()
    return code


async def _line(proc: subprocess.Popen[str], word: str) -> list[str]:
    assert proc.stdout is not None
    async with asyncio.timeout(STEP_S):
        while True:
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line, f"the manager ended before {word} (exit {proc.poll()})"
            if line.startswith(word):
                return line.split()[1:]


def _probes(msgs: list[ConsumerRecord[bytes, bytes]]) -> list[str]:
    events = [decode(t.AUDIT, m.value) for m in msgs if m.value is not None]
    return [e.event_id for e in events if isinstance(e, AuditEvent) and e.action == "spill_probe"]


async def _audit_ids(bootstrap: str, namespace: str, wanted: set[str]) -> list[str]:
    """The probe events' ids on the namespace's audit topic, in order, read until ``wanted``
    are all in and 2 s more (where a duplicate would show)."""
    consumer = AIOKafkaConsumer(
        namespace + t.AUDIT, bootstrap_servers=bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    seen: list[str] = []
    try:
        async with asyncio.timeout(STEP_S):
            while not wanted <= set(seen):
                seen += [
                    i for msgs in (await consumer.getmany(timeout_ms=500)).values() for i in _probes(msgs)
                ]
        seen += [i for msgs in (await consumer.getmany(timeout_ms=2000)).values() for i in _probes(msgs)]
    finally:
        await consumer.stop()
    return seen


async def test_events_spilled_by_a_killed_manager_arrive_after_restart(
    kafka_bootstrap: str, kafka_namespace: str, tmp_path: Path
) -> None:
    await ensure_topics(kafka_bootstrap, namespace=kafka_namespace)
    spill_dir = tmp_path / "spill"
    sock = str(Path(tempfile.mkdtemp(prefix="sg-relay-")) / "kafka.sock")  # AF_UNIX paths: < 108 bytes
    relay = _child("relay", sock, kafka_bootstrap)
    child: subprocess.Popen[str] | None = None
    try:
        await _line(relay, "READY")
        child = _child(
            "spill", kafka_bootstrap, kafka_namespace, str(spill_dir), str(EVENTS), sock, netns=True
        )
        await _line(child, "READY")
        _end(relay)  # the broker is now unreachable from the manager: connections gone, none new
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        spilled, *ids = await _line(child, "SPILLED")
        assert int(spilled) == EVENTS and len(ids) == EVENTS
        assert list(spill_dir.glob("*.spill")), "the spill is on disk"
    finally:
        _end(relay)
        killed = None if child is None else _end(child)
    assert killed == -9
    heir = _child("deliver", kafka_bootstrap, kafka_namespace, str(spill_dir))
    try:
        await _line(heir, "DELIVERED")
        assert heir.wait(timeout=STEP_S) == 0
    finally:
        _end(heir)
    assert await _audit_ids(kafka_bootstrap, kafka_namespace, set(ids)) == ids  # in order, each once
    assert not list(spill_dir.glob("*.spill")), "delivered: no journal left"
