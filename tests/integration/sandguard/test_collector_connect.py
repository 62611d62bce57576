"""The collector's first connection to Kafka (sandguard collector): a broker that is not up
yet is waited out with the one retry policy, logged the one way, and used once it answers.

"Not up yet" is real: the bootstrap address is a loopback port nobody listens on, until the
test opens it as a plain TCP relay to the test broker (the broker's metadata then sends the
client to the broker itself)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest
from structlog.testing import capture_logs

from common.retry import RetryPolicy
from sandguard.bus import KafkaBus
from sandguard.bus.gate import StartGate
from sandguard.cli import collector as collector_cli

FAST = RetryPolicy(first_s=0.05, max_s=0.2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


def _relay_to(
    host: str, port: int
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, port)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)

    return relay


async def _until(predicate: Callable[[], bool], timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_a_broker_that_comes_up_late_is_waited_for_then_used(
    kafka_bootstrap: str, kafka_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collector_cli, "DEPENDENCY", FAST)
    broker_host, _, broker_port = kafka_bootstrap.rpartition(":")
    port = _free_port()
    bus = StartGate(KafkaBus(f"127.0.0.1:{port}", namespace=kafka_namespace, start_timeout_s=1.0))
    with capture_logs() as logs:
        connect = asyncio.create_task(collector_cli._connect(bus))
        await _until(lambda: any(e["event"] == "bus_unavailable" for e in logs), 20)
        assert not connect.done()  # still waiting: the gate is closed, publishers wait
        relay = await asyncio.start_server(_relay_to(broker_host, int(broker_port)), "127.0.0.1", port)
        try:
            await asyncio.wait_for(connect, 60)
        finally:
            relay.close()
    try:
        assert bus.is_open
        retries = [e for e in logs if e["event"] == "bus_unavailable"]
        assert retries[0]["log_level"] == "warning" and retries[0]["attempt"] == 1
        assert "BusUnavailableError" in retries[0]["error"]
        recovered = [e for e in logs if e["event"] == "bus_unavailable_recovered"]
        assert len(recovered) == 1 and recovered[0]["attempts"] >= 1
        assert logs[-1]["event"] == "bus_connected"
    finally:
        await bus.stop()
