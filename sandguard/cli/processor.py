"""``sandguard processor``: one Faust worker of the rule engine (distributed mode).

Start as many as the partitions allow (12 by default); they share the partitions of the
input topics and take over each other's when one stops. The workers' tables must have as
many partitions as the input topics, so topics that exist already (another component
created them first) decide, whatever ``--partitions`` says.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import structlog

from sandguard.bus import KafkaSecurity, ensure_topics, topic_partitions
from sandguard.cli._common import kafka_options, service_options, settings_from, start_service
from schemas import load_policy
from schemas import topics as t

log = structlog.get_logger(__name__)


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="table store [SANDGUARD_DATA_DIR/processor]",
)
@click.option("--default-policy", type=click.Path(path_type=Path), default=None, help="policy file")
@click.option("--partitions", type=int, default=None, help="partitions of the topics (default: declared)")
@click.option("--faust-log-level", default="warning", show_default=True, help="Faust's own log level")
@kafka_options
@service_options
def processor(
    *,
    data_dir: Path | None,
    default_policy: Path | None,
    partitions: int | None,
    faust_log_level: str,
    **given: str | int | None,
) -> None:
    """Runs a processor worker until SIGTERM or SIGINT."""
    from processors.faust_app import ProcessorConfig, build_app, run_worker

    s = settings_from(**given)
    registry = start_service(s)
    policy = load_policy(default_policy) if default_policy else s.load_default_policy()
    security = KafkaSecurity.from_settings(s)
    asyncio.run(security.verify(s.kafka_bootstrap))  # a wrong password or CA: a clear error, now
    partitions = asyncio.run(_topics(s.kafka_bootstrap, s.kafka_namespace, partitions, security))
    config = ProcessorConfig(
        bootstrap=s.kafka_bootstrap,
        namespace=s.kafka_namespace,
        datadir=data_dir or s.data_dir / "processor",
        default_policy=policy,
        partitions=partitions,
        loglevel=faust_log_level,
        credentials=security.faust_credentials(),
    )
    run_worker(build_app(config, registry=registry))


async def _topics(bootstrap: str, namespace: str, wanted: int | None, security: KafkaSecurity) -> int:
    """Creates the topics that are missing; returns the partitions the input topics have."""
    await ensure_topics(bootstrap, namespace=namespace, partitions=wanted, security=security)
    found = await topic_partitions(bootstrap, namespace + t.METRICS, security=security)
    have = found or wanted or t.TOPICS[t.METRICS].partitions
    if wanted is not None and have != wanted:
        log.warning("partitions_as_existing", wanted=wanted, existing=have, topic=namespace + t.METRICS)
    return have
