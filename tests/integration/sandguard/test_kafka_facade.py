"""The documented distributed API as written: ``SandboxManager(security_policy=...,
bus=KafkaBus(...))`` starts its bus, publishes on it, stops it; an unreachable broker is
a clear error at once."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from prometheus_client import CollectorRegistry

from sandguard import SandboxManager, SecurityPolicy
from sandguard.bus import BusUnavailableError, KafkaBus
from schemas import PolicyEvent, decode
from schemas import topics as t
from tests.conftest import BUSYBOX_IMAGE

# An unreachable broker is reported well before the bus's own 15 s limit: nothing listens,
# so the connection is refused at once; 10 s leaves room for a loaded machine.
UNREACHABLE_WITHIN_S = 10.0


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns: nothing listens


def _running(bus: KafkaBus) -> bool:
    return bus.is_running  # read through a call: the state changes under the async with


async def _policies(bus_bootstrap: str, namespace: str, key: str) -> list[PolicyEvent | None]:
    reader = KafkaBus(bus_bootstrap, namespace=namespace, create_topics=False)
    await reader.start()
    try:
        consumer = await reader.consumer([t.POLICIES], group="facade-test-reader")
        out: list[PolicyEvent | None] = []
        deadline = time.monotonic() + 30
        while len(out) < 2 and time.monotonic() < deadline:
            for r in await consumer.getmany(timeout_ms=500):
                if r.key == key:
                    out.append(None if r.value is None else decode(t.POLICIES, r.value))
        return out
    finally:
        await reader.stop()


async def test_manager_starts_and_stops_the_bus_it_was_given(
    kafka_bootstrap: str, kafka_namespace: str, run_id: str
) -> None:
    bus = KafkaBus(kafka_bootstrap, namespace=kafka_namespace, partitions=2)
    policy = SecurityPolicy()
    manager = SandboxManager(
        security_policy=policy,
        bus=bus,
        image=BUSYBOX_IMAGE,
        labels={"test.run": run_id},
        registry=CollectorRegistry(),
    )
    async with manager:
        assert _running(bus)
        sid = await manager.create_sandbox()
        result = await manager.execute(sid, "echo ok")
        assert result.stdout == "ok\n"
        await manager.destroy_sandbox(sid)
    assert not _running(bus)
    policy_event, tombstone = await _policies(kafka_bootstrap, kafka_namespace, sid)
    assert policy_event is not None and policy_event.policy_id == policy.policy_id
    assert tombstone is None


async def test_a_bus_the_caller_started_stays_the_callers(kafka_bootstrap: str, kafka_namespace: str) -> None:
    bus = KafkaBus(kafka_bootstrap, namespace=kafka_namespace, partitions=2)
    await bus.start()
    try:
        manager = SandboxManager(bus=bus, image=BUSYBOX_IMAGE, registry=CollectorRegistry())
        await manager.start()
        await manager.cleanup()
        assert bus.is_running
    finally:
        await bus.stop()


async def test_unreachable_kafka_fails_at_once_with_a_clear_error() -> None:
    bootstrap = f"127.0.0.1:{_closed_port()}"
    manager = SandboxManager(bus=KafkaBus(bootstrap), image=BUSYBOX_IMAGE, registry=CollectorRegistry())
    began = asyncio.get_running_loop().time()
    with pytest.raises(BusUnavailableError, match=f"Kafka at {bootstrap} cannot be reached") as caught:
        await manager.start()
    assert asyncio.get_running_loop().time() - began < UNREACHABLE_WITHIN_S
    assert caught.value.bootstrap == bootstrap
    await manager.cleanup()
