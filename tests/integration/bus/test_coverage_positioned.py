"""The exec gate reads one container's audit partition from just before it asks (on the
real broker): an answer written before the wait began is read (no gap), one written
after too, and nothing else of the topic: other partitions and older records are never
fetched (KafkaBus.tail with key and since_ms)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from sandguard.bus import KafkaBus
from sandguard.coverage import CoverageGate
from schemas import AuditCategory, AuditEvent, encode
from schemas import topics as t
from schemas.bus import Record

# The broker answers in ms; 20 s bounds a wait on a loaded machine.
WAIT_S = 20.0


def _covered(cid: str) -> bytes:
    event = AuditEvent(container_id=cid, host="h", category=AuditCategory.COLLECTOR,
                       action="kernel_covered", actor="collector", details={"mode": "bpf"})  # fmt: skip
    return encode(event)


@pytest.fixture
async def bus(kafka_bootstrap: str, kafka_namespace: str) -> AsyncIterator[KafkaBus]:
    b = KafkaBus(kafka_bootstrap, namespace=kafka_namespace)
    await b.start()
    yield b
    await b.stop()


async def test_an_answer_written_just_before_the_wait_is_read(bus: KafkaBus) -> None:
    gate = CoverageGate(bus, timeout_s=WAIT_S)
    await gate.start()
    cid = uuid.uuid4().hex * 2
    await bus.publish(t.AUDIT, cid, _covered(cid))
    await bus.flush()
    answer = await gate(cid)
    assert (answer.covered, answer.mode) == (True, "bpf")


async def test_an_answer_written_after_the_wait_began_is_read(bus: KafkaBus) -> None:
    gate = CoverageGate(bus, timeout_s=WAIT_S)
    await gate.start()
    cid = uuid.uuid4().hex * 2
    waiting = asyncio.create_task(gate(cid))
    await asyncio.sleep(0.5)
    await bus.publish(t.AUDIT, cid, _covered(cid))
    assert (await waiting).covered


async def test_no_answer_is_a_refusal_within_the_timeout(bus: KafkaBus) -> None:
    gate = CoverageGate(bus, timeout_s=1.0)
    await gate.start()
    answer = await gate(uuid.uuid4().hex * 2)
    assert not answer.covered and "within 1 s" in answer.reason


async def test_a_keyed_tail_reads_its_partition_from_its_time_only(bus: KafkaBus) -> None:
    """Records of the key before ``since_ms`` are skipped; records of keys on other
    partitions are never fetched; the key's partition after ``since_ms`` is read."""
    cid = uuid.uuid4().hex * 2
    await bus.publish(t.AUDIT, cid, b"old")
    await bus.flush()
    await asyncio.sleep(0.05)
    since = time.time_ns() // 1_000_000
    await asyncio.sleep(0.05)
    tail = await bus.tail([t.AUDIT], key=cid, since_ms=since)
    others = [uuid.uuid4().hex * 2 for _ in range(40)]  # most hash to other partitions
    for key in [*others, cid]:
        await bus.publish(t.AUDIT, key, b"new")
    await bus.flush()
    got: list[Record] = []
    deadline = time.monotonic() + WAIT_S
    while not any(r.key == cid for r in got) and time.monotonic() < deadline:
        got += await tail.getmany(timeout_ms=500)
    got += await tail.getmany(timeout_ms=500)
    await tail.stop()
    assert [(r.key, r.value) for r in got if r.key == cid] == [(cid, b"new")]  # not "old"
    assert len({r.partition for r in got}) == 1  # its partition only
    assert len(got) < len(others) + 1  # the others' records on other partitions were not read
