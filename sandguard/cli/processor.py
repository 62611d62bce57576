"""``sandguard processor``: one Faust worker of the rule engine (distributed mode).

Start as many as the partitions allow (12 by default); they share the partitions of the
input topics and take over each other's when one stops.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from sandguard.bus import ensure_topics
from sandguard.logs import configure_logging
from sandguard.settings import Settings
from schemas import SecurityPolicy, load_policy


@click.command()
@click.option("--bootstrap", default=None, help="Kafka bootstrap servers [SANDGUARD_KAFKA_BOOTSTRAP]")
@click.option("--namespace", default=None, help="topic and group prefix [SANDGUARD_KAFKA_NAMESPACE]")
@click.option("--datadir", type=click.Path(path_type=Path), default=None, help="table store directory")
@click.option("--default-policy", type=click.Path(path_type=Path), default=None, help="policy file")
@click.option("--partitions", type=int, default=None, help="partitions of the topics (default: declared)")
@click.option("--metrics-port", type=int, default=None, help="Prometheus port on the metrics address")
@click.option("--loglevel", default="warning", help="Faust's log level")
def processor(
    *,
    bootstrap: str | None,
    namespace: str | None,
    datadir: Path | None,
    default_policy: Path | None,
    partitions: int | None,
    metrics_port: int | None,
    loglevel: str,
) -> None:
    """Runs a processor worker until SIGTERM or SIGINT."""
    from prometheus_client import CollectorRegistry, start_http_server

    from processors.faust_app import ProcessorConfig, build_app, run_worker

    s = Settings()
    configure_logging(fmt=s.log_format, level=s.log_level)
    policy_path = default_policy or s.default_policy
    policy = load_policy(policy_path) if policy_path else SecurityPolicy()
    boot = bootstrap or s.kafka_bootstrap
    ns = s.kafka_namespace if namespace is None else namespace
    asyncio.run(ensure_topics(boot, namespace=ns, partitions=partitions))
    registry = CollectorRegistry()
    port = s.metrics_port if metrics_port is None else metrics_port
    if port:
        start_http_server(port, addr=s.metrics_addr, registry=registry)
    config = ProcessorConfig(
        bootstrap=boot,
        namespace=ns,
        datadir=datadir or s.data_dir / "processor",
        default_policy=policy,
        partitions=partitions,
        loglevel=loglevel,
    )
    run_worker(build_app(config, registry=registry))
