"""``sandguard topics``: the declared topics, and their idempotent creation on a cluster."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import click

from sandguard.bus import KafkaSecurity, ensure_topics
from sandguard.bus.acls import ROLES, apply_acls
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


def parse_grants(acls: tuple[str, ...]) -> dict[str, str]:
    """``role=user`` pairs (``--acl``) as role -> SCRAM user name."""
    out: dict[str, str] = {}
    for pair in acls:
        role, sep, user = pair.partition("=")
        if not sep or not user or role not in ROLES:
            raise click.BadParameter(
                f"{pair!r}: expected ROLE=USER, ROLE one of {sorted(ROLES)}", param_hint="--acl"
            )
        out[role] = user
    return out


async def _create(bootstrap: str, namespace: str, partitions: int | None, principals: dict[str, str]) -> int:
    """The topics, then each role's ACLs for its principal; how many ACLs."""
    security = KafkaSecurity.from_settings(Settings())
    await ensure_topics(bootstrap, namespace=namespace, partitions=partitions, security=security)
    return await apply_acls(bootstrap, security, principals, namespace=namespace) if principals else 0


@topics.command("create")
@click.option("--bootstrap", default=None, help="Kafka bootstrap servers (default: settings)")
@click.option("--namespace", default=None, help="prefix of every topic name")
@click.option("--partitions", type=int, default=None, help="override the declared partition counts")
@click.option(
    "--acl", "acls", multiple=True, metavar="ROLE=USER",
    help="also grant ROLE's least-privilege ACLs to the SCRAM user USER (repeatable; run as admin)",
)  # fmt: skip
def create(
    bootstrap: str | None, namespace: str | None, partitions: int | None, acls: tuple[str, ...]
) -> None:
    """Creates the topics that do not exist yet, and the ACLs asked for (idempotent)."""
    s = Settings()
    principals = parse_grants(acls)
    ns = s.kafka_namespace if namespace is None else namespace
    granted = asyncio.run(_create(bootstrap or s.kafka_bootstrap, ns, partitions, principals))
    click.echo(
        f"{len(TOPICS)} topics present"
        + (f", {granted} ACLs for {len(principals)} roles" if principals else "")
    )
