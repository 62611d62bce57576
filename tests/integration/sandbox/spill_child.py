"""The manager process of test_audit_spill: ``python -m tests.integration.sandbox.spill_child``.

``spill BOOTSTRAP NS DIR N UNIX_SOCKET``: runs in a network namespace of its own whose only
way to the broker is a forwarder (127.0.0.1:9092 here -> ``UNIX_SOCKET`` -> the host's
broker), so the test makes the bus unreachable for real by ending the host's side. It
starts a manager, prints ``READY``, publishes N audit events on the test's signal (a line on
stdin), prints ``SPILLED <ids>`` once they are all spilled, then waits to be killed.
``relay UNIX_SOCKET BOOTSTRAP``: the host's side of that forwarder (the test kills it).
``deliver BOOTSTRAP NS DIR``: a manager on the same spill directory, direct to the broker;
prints ``DELIVERED`` once the spill it adopted has gone out, then closes.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry

from sandbox import SandboxManager, audit
from sandguard.bus import KafkaBus

# The adopted spill goes out within seconds of the start (the bus is there); 60 s is wide.
DELIVER_WITHIN_S = 60.0


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass  # the other side went: so does this one
    finally:
        writer.close()


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def forwarder(connect: Callable[[], Awaitable[Streams]]) -> Callable[..., Awaitable[None]]:
    """A connection handler that joins each accepted stream to a new one from ``connect``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await connect()
        except OSError:
            writer.close()  # the far side is gone: refused, as a dead broker is
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return handle


async def manager(bootstrap: str, namespace: str, directory: str) -> tuple[KafkaBus, SandboxManager]:
    bus = KafkaBus(bootstrap, namespace=namespace, create_topics=False)
    await bus.start()
    m = SandboxManager(bus=bus, spill_dir=directory, registry=CollectorRegistry(),
                       watch_enforcement=False, workspace="tmpfs")  # fmt: skip
    await m.start()
    return bus, m


async def spill(bootstrap: str, namespace: str, directory: str, count: int, socket_path: str) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    host, port = bootstrap.rsplit(":", 1)
    await asyncio.start_server(forwarder(lambda: asyncio.open_unix_connection(socket_path)), host, int(port))
    _, m = await manager(bootstrap, namespace, directory)
    print("READY", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # the test has cut the bus
    # One container: one partition, so the order they arrive in is the order they were made.
    events = [audit.lifecycle("c" * 64, "spill-test", "spill_probe", seq=i) for i in range(count)]
    for ev in events:
        await m.publisher.audit(ev)
    print("SPILLED", m.publisher.spilled, *(e.event_id for e in events), flush=True)
    await asyncio.sleep(3600)


async def relay(socket_path: str, bootstrap: str) -> None:
    host, port = bootstrap.rsplit(":", 1)
    await asyncio.start_unix_server(forwarder(lambda: asyncio.open_connection(host, int(port))), socket_path)
    print("READY", flush=True)
    await asyncio.sleep(3600)


async def deliver(bootstrap: str, namespace: str, directory: str) -> None:
    bus, m = await manager(bootstrap, namespace, directory)
    async with asyncio.timeout(DELIVER_WITHIN_S):
        while m.publisher.spilled:
            await asyncio.sleep(0.1)
    print("DELIVERED", flush=True)
    await m.cleanup()
    await bus.stop()


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "spill":
        asyncio.run(spill(args[0], args[1], args[2], int(args[3]), args[4]))
    elif mode == "relay":
        asyncio.run(relay(args[0], args[1]))
    else:
        asyncio.run(deliver(args[0], args[1], args[2]))
