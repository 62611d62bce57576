"""``sandguard collector``: one per host; samples every sandbox and streams to Kafka.

Starts sampling at once and connects to the broker in the background: while Kafka
is unreachable the collector buffers (and counts what it must drop), it never waits;
its publisher waits for the bus (``StartGate``), so nothing is published before it is up.
SIGTERM or SIGINT stop it cleanly: sampling stops, the buffer is flushed (bounded in
time), the Docker stream and the Kafka producer are closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import click
import structlog
from prometheus_client import CollectorRegistry

from common.retry import DEPENDENCY, retry_async
from sandguard.cli._common import host_service_options, settings_from, start_service, stop_on_signals
from sandguard.settings import Settings
from schemas import labels

log = structlog.get_logger(__name__)


@click.command()
@click.option("--interval", "interval_s", type=click.FloatRange(min=0.05), default=1.0, show_default=True)
@click.option("--all-containers", is_flag=True, help="watch every container, not only sandguard's sandboxes")
@click.option(
    "--label",
    default=labels.SANDBOX_SELECTOR,
    show_default=True,
    help="label (k=v) of the containers to watch",
)
@click.option("--full-snapshot-every", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--tcp-states-every", type=click.IntRange(min=0), default=0, help="0: never (costly)")
@click.option(
    "--kernel-events/--no-kernel-events",
    default=True,
    show_default=True,
    help="every exec, exit and connect from the kernel; blocked programs killed at exec",
)
@click.option("--buffer", "buffer_capacity", type=click.IntRange(min=1), default=20_000, show_default=True)
@host_service_options
def collector(
    *,
    bootstrap: str | None,
    namespace: str | None,
    host: str | None,
    metrics_port: int | None,
    log_format: str | None,
    log_level: str | None,
    **config: Any,
) -> None:
    """Sample every sandbox on this host from cgroups and /proc and stream it to Kafka."""
    settings = settings_from(
        bootstrap=bootstrap, namespace=namespace, host=host, metrics_port=metrics_port,
        log_format=log_format, log_level=log_level,
    )  # fmt: skip
    registry = start_service(settings)
    asyncio.run(_run(settings, registry, **config))


async def _run(settings: Settings, registry: CollectorRegistry, **config: Any) -> None:
    from collectors import Collector, CollectorConfig
    from sandguard.bus import KafkaBus, KafkaSecurity
    from sandguard.bus.gate import StartGate

    security = KafkaSecurity.from_settings(settings)
    # A wrong password or CA fails now, with its reason; a broker that is down does not.
    await security.verify(settings.kafka_bootstrap)
    bus = StartGate(KafkaBus(settings.kafka_bootstrap, namespace=settings.kafka_namespace, security=security))
    col = Collector(bus, config=CollectorConfig(host=settings.host, **config), registry=registry)
    stop = stop_on_signals()
    await col.start()
    connect = asyncio.create_task(_connect(bus))
    try:
        await stop.wait()
        log.info("collector_stopping")
    finally:
        connect.cancel()
        await asyncio.gather(connect, return_exceptions=True)
        await col.stop()
        await bus.stop()


async def _connect(bus: Any) -> None:
    """Starts the bus, retrying until the broker answers; publishing waits for it meanwhile
    (the gate opens once started)."""

    async def start() -> None:
        try:
            await bus.start()
        except Exception:  # broker not reachable yet: the collector keeps buffering
            await bus.stop()
            raise

    await retry_async(start, policy=DEPENDENCY, retry_on=(Exception,), log=log, event="bus_unavailable")
    log.info("bus_connected", bootstrap=bus.bus.bootstrap)
