"""``sandguard sink``: every topic into ClickHouse, batched, stored once per event."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from prometheus_client import CollectorRegistry, start_http_server

from reporting.sink import DEFAULT_GROUP, MAX_BATCH_DELAY_S, MAX_BATCH_ROWS, Sink
from sandguard.cli._reporting import make_bus, make_store, on_signals, store_options
from sandguard.logs import configure_logging
from sandguard.settings import Settings


@click.command()
@store_options
@click.option("--group", default=DEFAULT_GROUP, show_default=True, help="consumer group")
@click.option("--batch-rows", type=int, default=MAX_BATCH_ROWS, show_default=True)
@click.option("--batch-seconds", type=float, default=MAX_BATCH_DELAY_S, show_default=True)
def sink(
    clickhouse_url: str | None, data_dir: Path | None, group: str, batch_rows: int, batch_seconds: float
) -> None:
    """Consume every sandguard topic from Kafka and store it in ClickHouse (until SIGTERM)."""
    settings = Settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    asyncio.run(_run(settings, clickhouse_url, data_dir, group, rows=batch_rows, seconds=batch_seconds))


async def _run(
    settings: Settings, url: str | None, data_dir: Path | None, group: str, *, rows: int, seconds: float
) -> None:
    registry = CollectorRegistry()
    if settings.metrics_port:
        start_http_server(settings.metrics_port, settings.metrics_addr, registry=registry)
    store = await asyncio.to_thread(make_store, settings, url, data_dir)
    bus = make_bus(settings)
    await bus.start()
    worker = Sink(bus, store, registry=registry, group=group, max_rows=rows, max_delay_s=seconds)
    on_signals(asyncio.get_running_loop(), worker.stop)
    try:
        await worker.run()
    finally:
        await worker.close()
        await bus.stop()
        store.close()
