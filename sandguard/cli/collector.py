"""``sandguard collector``: one per host; samples every sandbox and streams to Kafka.

Starts sampling at once and connects to the broker in the background: while Kafka
is unreachable the collector buffers (and counts what it must drop), it never waits.
SIGTERM or SIGINT stop it cleanly: sampling stops, the buffer is flushed (bounded in
time), the Docker stream and the Kafka producer are closed.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import click
import structlog

from sandguard.logs import configure_logging
from sandguard.settings import Settings

log = structlog.get_logger(__name__)

# Reconnect to a broker that is not there yet: every 2 s (a restart takes ~5-10 s here).
BUS_RETRY_S = 2.0

_DEFAULTS = Settings()


@click.command()
@click.option("--kafka-bootstrap", default=_DEFAULTS.kafka_bootstrap, show_default=True)
@click.option("--kafka-namespace", default=_DEFAULTS.kafka_namespace, help="prefix of topics and groups")
@click.option("--interval", "interval_s", type=click.FloatRange(min=0.05), default=1.0, show_default=True)
@click.option("--all-containers", is_flag=True, help="watch every container, not only sandguard's sandboxes")
@click.option(
    "--label", default="sandguard.sandbox=1", show_default=True, help="label (k=v) of the containers to watch"
)
@click.option("--host-name", default=_DEFAULTS.host, show_default=True, help="this host's name in events")
@click.option(
    "--metrics-port", type=int, default=_DEFAULTS.metrics_port, help="Prometheus on 127.0.0.1; 0: off"
)
@click.option("--full-snapshot-every", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--tcp-states-every", type=click.IntRange(min=0), default=0, help="0: never (costly)")
@click.option("--buffer", "buffer_capacity", type=click.IntRange(min=1), default=20_000, show_default=True)
@click.option("--log-format", type=click.Choice(["console", "json"]), default=_DEFAULTS.log_format)
@click.option("--log-level", default=_DEFAULTS.log_level)
def collector(**options: Any) -> None:
    """Sample every sandbox on this host from cgroups and /proc and stream it to Kafka."""
    configure_logging(fmt=options.pop("log_format"), level=options.pop("log_level"))
    asyncio.run(_run(**options))


async def _run(
    *, kafka_bootstrap: str, kafka_namespace: str, metrics_port: int, host_name: str, **config: Any
) -> None:
    from prometheus_client import CollectorRegistry, start_http_server

    from collectors import Collector, CollectorConfig
    from sandguard.bus import KafkaBus

    registry = CollectorRegistry()
    server = start_http_server(metrics_port, addr="127.0.0.1", registry=registry) if metrics_port else None
    bus = KafkaBus(kafka_bootstrap, namespace=kafka_namespace)
    col = Collector(bus, config=CollectorConfig(host=host_name, **config), registry=registry)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
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
        if server is not None:
            server[0].shutdown()


async def _connect(bus: Any) -> None:
    """Starts the bus, retrying until the broker answers; publishing waits for it meanwhile."""
    while True:
        try:
            await bus.start()
        except Exception as exc:  # broker not reachable yet: the collector keeps buffering
            log.warning("bus_unavailable", error=f"{type(exc).__name__}: {exc}", retry_in_s=BUS_RETRY_S)
            await bus.stop()
            await asyncio.sleep(BUS_RETRY_S)
        else:
            log.info("bus_connected", bootstrap=bus.bootstrap)
            return
