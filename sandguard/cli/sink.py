"""``sandguard sink``: every topic into ClickHouse, batched, stored once per event."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from prometheus_client import CollectorRegistry

from reporting.sink import DEFAULT_GROUP, MAX_BATCH_DELAY_S, MAX_BATCH_ROWS, Sink
from sandguard.cli._common import kafka_options, service_options, settings_from, start_service
from sandguard.cli._reporting import make_bus, make_store, on_signals, store_options
from sandguard.settings import Settings


@click.command()
@store_options
@click.option("--group", default=DEFAULT_GROUP, show_default=True, help="consumer group")
@click.option("--batch-rows", type=int, default=MAX_BATCH_ROWS, show_default=True)
@click.option("--batch-seconds", type=float, default=MAX_BATCH_DELAY_S, show_default=True)
@kafka_options
@service_options
def sink(
    *,
    clickhouse_url: str | None,
    data_dir: Path | None,
    group: str,
    batch_rows: int,
    batch_seconds: float,
    **given: str | int | None,
) -> None:
    """Consume every sandguard topic from Kafka and store it in ClickHouse (until SIGTERM)."""
    settings = settings_from(**given)
    registry = start_service(settings)
    asyncio.run(
        _run(settings, registry, clickhouse_url, data_dir, group, rows=batch_rows, seconds=batch_seconds)
    )


async def _run(
    settings: Settings,
    registry: CollectorRegistry,
    url: str | None,
    data_dir: Path | None,
    group: str,
    *,
    rows: int,
    seconds: float,
) -> None:
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
