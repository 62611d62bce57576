"""``sandguard enforcer``: the enforcer of this host, on Kafka, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path

import click
import structlog
from prometheus_client import CollectorRegistry

from enforcer import DockerEngine, DockerPort, Enforcer
from enforcer.service import DEFAULT_CONCURRENCY
from sandguard.bus import KafkaBus, KafkaSecurity
from sandguard.cli._common import host_service_options, settings_from, start_service, stop_on_signals
from schemas import Bus

log = structlog.get_logger("sandguard.cli.enforcer")

# Results are one per action, never a stream worth batching: lingering (20 ms by default)
# would only delay the audit trail. Sends that queue behind an in-flight request still batch.
RESULT_LINGER_MS = 0


def _labels(values: tuple[str, ...]) -> dict[str, str | None]:
    """KEY (present with any value) or KEY=VALUE."""
    out: dict[str, str | None] = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not key:
            raise click.BadParameter(f"{v!r}: expected KEY or KEY=VALUE", param_hint="--require-label")
        out[key] = value if sep else None
    return out


@click.command()
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="where the command ledger lives [settings: data_dir/enforcer]",
)
@click.option("--audit-only", is_flag=True, help="record what would be done; never touch a container")
@click.option(
    "--require-label",
    "require_label",
    multiple=True,
    metavar="KEY[=VALUE]",
    help="act only on containers with this label (repeatable; default: sandguard.sandbox=1)",
)
@click.option(
    "--claim-unassigned", is_flag=True, help="act on commands that name no host (single-host setups)"
)
@click.option("--concurrency", type=click.IntRange(1, 64), default=DEFAULT_CONCURRENCY, show_default=True)
@host_service_options
def enforcer(
    *,
    state_dir: Path | None,
    audit_only: bool,
    require_label: tuple[str, ...],
    claim_unassigned: bool,
    concurrency: int,
    **given: str | int | None,
) -> None:
    """Acts on this host's sandboxes as sandguard.enforcement commands say, once each."""
    settings = settings_from(**given)
    registry = start_service(settings)
    required = _labels(require_label) if require_label else None

    def make(bus: Bus, engine: DockerPort, registry: CollectorRegistry) -> Enforcer:
        return Enforcer(
            bus,
            engine,
            registry=registry,
            host=settings.host,
            state_dir=state_dir or settings.data_dir / "enforcer",
            audit_only=audit_only,
            required_labels=required,
            claim_unassigned=claim_unassigned,
            concurrency=concurrency,
        )

    bus = KafkaBus(
        settings.kafka_bootstrap,
        namespace=settings.kafka_namespace,
        producer_options={"linger_ms": RESULT_LINGER_MS},
        security=KafkaSecurity.from_settings(settings),
    )
    sys.exit(asyncio.run(_serve(bus, make, registry)))


async def _serve(
    bus: KafkaBus,
    make: Callable[[Bus, DockerPort, CollectorRegistry], Enforcer],
    registry: CollectorRegistry,
) -> int:
    engine = DockerEngine.from_env()
    await bus.start()
    service = make(bus, engine, registry)
    try:
        await service.start()
        return await _until_signal(service)
    finally:
        if service.state != "new":
            await service.stop()
        await bus.stop()
        engine.close()


async def _until_signal(service: Enforcer) -> int:
    """0 after SIGTERM/SIGINT, 1 when the enforcer failed on its own."""
    stop = stop_on_signals()
    waiter = asyncio.create_task(service.wait())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not waiter.done():
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
        return 0
    if waiter.exception() is not None:
        log.error("enforcer_exited", error=str(waiter.exception()))
        return 1
    return 0
