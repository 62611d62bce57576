"""``sandguard topics``: the declared topics, and their idempotent creation on a cluster."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import click

from sandguard.bus import KafkaSecurity, ensure_topics
from sandguard.settings import Settings
from schemas.topics import TOPICS


@click.group()
def topics() -> None:
    """Kafka topics of sandguard (declared once in schemas/topics.py)."""


@topics.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def list_topics(as_json: bool) -> None:
    """Prints every topic with its partitions, retention and compaction."""
    specs = list(TOPICS.values())
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(s) for s in specs], indent=2))
        return
    for s in specs:
        days = "forever" if s.retention_ms == -1 else f"{s.retention_ms // 86_400_000}d"
        flag = "compacted" if s.compacted else ""
        click.echo(f"{s.name:<24} p={s.partitions:<3} {days:<8} {flag:<10} {s.description}")


@topics.command("create")
@click.option("--bootstrap", default=None, help="Kafka bootstrap servers (default: settings)")
@click.option("--namespace", default=None, help="prefix of every topic name")
@click.option("--partitions", type=int, default=None, help="override the declared partition counts")
def create(bootstrap: str | None, namespace: str | None, partitions: int | None) -> None:
    """Creates the topics that do not exist yet (idempotent)."""
    s = Settings()
    asyncio.run(
        ensure_topics(
            bootstrap or s.kafka_bootstrap,
            namespace=s.kafka_namespace if namespace is None else namespace,
            partitions=partitions,
            security=KafkaSecurity.from_settings(s),
        )
    )
    click.echo(f"{len(TOPICS)} topics present")
