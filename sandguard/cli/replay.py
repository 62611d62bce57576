"""``sandguard replay``: rebuild the ClickHouse history from the topics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from prometheus_client import CollectorRegistry

from reporting.replay import IDLE_S
from reporting.replay import replay as run_replay
from sandguard.cli._common import kafka_options, settings_from
from sandguard.cli._reporting import make_bus, make_store, store_options
from sandguard.logs import configure_logging
from sandguard.settings import Settings


@click.command()
@store_options
@click.option(
    "--truncate", is_flag=True, help="empty the tables first (loses what the topics no longer retain)"
)
@click.option(
    "--idle-seconds", type=float, default=IDLE_S, show_default=True, help="stop after this long idle"
)
@kafka_options
def replay(
    *,
    clickhouse_url: str | None,
    data_dir: Path | None,
    truncate: bool,
    idle_seconds: float,
    bootstrap: str | None,
    namespace: str | None,
) -> None:
    """Re-read every topic from the beginning with a fresh consumer group; events are stored once."""
    settings = settings_from(bootstrap=bootstrap, namespace=namespace)
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    n = asyncio.run(_run(settings, clickhouse_url, data_dir, truncate, idle_seconds))
    click.echo(f"replayed {n} records")


async def _run(
    settings: Settings, url: str | None, data_dir: Path | None, truncate: bool, idle_s: float
) -> int:
    store = await asyncio.to_thread(make_store, settings, url, data_dir)
    bus = make_bus(settings)
    await bus.start()
    try:
        return await run_replay(bus, store, registry=CollectorRegistry(), truncate=truncate, idle_s=idle_s)
    finally:
        await bus.stop()
        store.close()
