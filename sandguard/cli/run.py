"""``sandguard run``: every component of one host in one process, until SIGTERM.

On the in-process bus (the default) it is the embedded mode as a service: every
sandguard sandbox of this host watched, judged under the default policy (or the policy
its manager published), enforced, and stored in the embedded engine. With
``--bus kafka`` the same components run on Kafka and a ClickHouse server: a single-host
distributed deployment, or a host that also does the processing. That is also how many
processes of one host share one pipeline (and its embedded store): each makes a
``SandboxManager(security_policy=..., bus=KafkaBus(...))`` that joins it (docs/deployment.md).
``--label k=v`` narrows what it watches and may act on to the sandboxes with that label.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from sandguard.cli._common import host_service_options, settings_from, start_service, stop_on_signals
from sandguard.settings import Settings
from schemas import labels


@click.command()
@click.option("--bus", "bus_kind", type=click.Choice(["local", "kafka"]), default="local", show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="[SANDGUARD_DATA_DIR]")
@click.option("--clickhouse-url", default=None, help="a ClickHouse server; default: the embedded engine")
@click.option("--default-policy", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--interval", "interval_s", type=click.FloatRange(min=0.05), default=1.0, show_default=True)
@click.option("--audit-only", is_flag=True, help="detect and record; never act on a container")
@click.option("--label", default=None, help="only the sandboxes with this label too (k=v)")
@host_service_options
def run(
    *,
    bus_kind: str,
    clickhouse_url: str | None,
    interval_s: float,
    audit_only: bool,
    label: str | None,
    **given: object,
) -> None:
    """Collector, processor, enforcer and sink of this host in one process."""
    key, sep, value = (label or "").partition("=")
    if label is not None and (not key or not sep):
        raise click.BadParameter(f"{label!r}: expected KEY=VALUE", param_hint="--label")
    settings = settings_from(clickhouse_url=clickhouse_url, **given)
    registry = start_service(settings)
    only = {key: value} if label else {}
    asyncio.run(
        _serve(settings, bus_kind, interval_s=interval_s, audit_only=audit_only, registry=registry, only=only)
    )


async def _serve(
    settings: Settings,
    bus_kind: str,
    *,
    interval_s: float,
    audit_only: bool,
    registry: object,
    only: dict[str, str],
) -> None:
    from prometheus_client import CollectorRegistry

    from sandguard.bus import KafkaBus, KafkaSecurity, LocalBus
    from sandguard.cli._reporting import make_store
    from sandguard.embedded import EmbeddedPipeline, PipelineOptions

    assert isinstance(registry, CollectorRegistry)
    policy = settings.load_default_policy()
    bus = (
        KafkaBus(
            settings.kafka_bootstrap,
            namespace=settings.kafka_namespace,
            security=KafkaSecurity.from_settings(settings),
        )
        if bus_kind == "kafka"
        else LocalBus()
    )
    pipeline = EmbeddedPipeline(
        PipelineOptions(
            host=settings.host, data_dir=settings.data_dir, default_policy=policy,
            watch_label=next((f"{k}={v}" for k, v in only.items()), labels.SANDBOX_SELECTOR),
            enforcer_labels={labels.SANDBOX: "1", **only}, interval_s=interval_s, audit_only=audit_only,
        ),
        bus=bus, registry=registry,
        store=make_store(settings, settings.clickhouse_url, None) if settings.clickhouse_url else None,
    )  # fmt: skip
    stop = stop_on_signals()
    await pipeline.start()
    click.echo(f"sandguard running on {settings.host} ({bus_kind} bus); SIGTERM or Ctrl-C stops it", err=True)
    try:
        await stop.wait()
    finally:
        await pipeline.stop()
