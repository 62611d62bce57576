"""What the sink, replay and report commands share: settings -> bus and store."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

import click
import structlog

from reporting.exceptions import StoreUnavailableError
from reporting.store import ClickHouseStore
from sandguard.bus import KafkaBus, KafkaSecurity
from sandguard.datadir import DataDirInUseError, lock_data_dir
from sandguard.settings import Settings

log = structlog.get_logger(__name__)


def store_options(fn: Callable[..., object]) -> Callable[..., object]:
    fn = click.option(
        "--clickhouse-url",
        default=None,
        help="ClickHouse server (http://host:8123); default: embedded engine",
    )(fn)
    return click.option(
        "--data-dir", type=click.Path(path_type=Path), default=None, help="embedded engine data"
    )(fn)


def make_store(settings: Settings, url: str | None, data_dir: Path | None) -> ClickHouseStore:
    """The configured store, opened; a server that is down is retried by its users."""
    url = url or settings.clickhouse_url
    m_ttl, h_ttl = settings.metrics_ttl_days, settings.history_ttl_days
    if url:
        store = ClickHouseStore(
            url=url, username=settings.clickhouse_user, password=settings.clickhouse_password,
            metrics_ttl_days=m_ttl, history_ttl_days=h_ttl,
            ca_file=settings.clickhouse_ca_file, verify=settings.clickhouse_verify,
        )  # fmt: skip
    else:
        path = (data_dir or settings.data_dir) / "clickhouse"
        try:
            lock_data_dir(path)
        except DataDirInUseError as exc:
            raise click.ClickException(str(exc)) from exc
        store = ClickHouseStore(path=path, metrics_ttl_days=m_ttl, history_ttl_days=h_ttl)
    try:
        store.open()
    except StoreUnavailableError as exc:
        if store.embedded:
            raise click.ClickException(str(exc)) from exc
        log.warning("store_unavailable_at_start", error=exc.reason)
    return store


def make_bus(settings: Settings) -> KafkaBus:
    return KafkaBus(
        settings.kafka_bootstrap,
        namespace=settings.kafka_namespace,
        security=KafkaSecurity.from_settings(settings),
    )


def on_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], object]) -> None:
    """SIGINT and SIGTERM ask for a clean stop (flush, commit) instead of killing the batch."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(_call(stop)))


async def _call(stop: Callable[[], object]) -> None:
    result = stop()
    if asyncio.iscoroutine(result):
        await result
