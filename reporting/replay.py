"""Rebuilds the history from the topics: a fresh consumer group reads every topic from the start.

Events are stored by id, so replaying into tables that already hold them changes
nothing and fills whatever was missing. ``truncate=True`` empties the tables first (a
full rebuild, e.g. after a schema change): only what the topics still retain comes
back, so metrics older than the metrics topic's retention (3 days) are gone.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import structlog
from prometheus_client import CollectorRegistry

from reporting.sink import Sink
from reporting.tables import DATA_TABLES
from schemas import TOPICS, Bus, Store

log = structlog.get_logger(__name__)

# The replay ends after 5 s without a record: on Kafka an empty fetch takes the poll
# timeout (0.2 s), so that is 25 empty polls in a row, past any fetch hiccup.
IDLE_S = 5.0


def truncate_tables(store: Store) -> None:
    for table in DATA_TABLES:
        store.command(f"TRUNCATE TABLE IF EXISTS {table}")
    log.warning("tables_truncated", tables=list(DATA_TABLES))


async def replay(
    bus: Bus,
    store: Store,
    *,
    registry: CollectorRegistry,
    topics: Sequence[str] = tuple(TOPICS),
    truncate: bool = False,
    idle_s: float = IDLE_S,
    group: str | None = None,
) -> int:
    """Consumes ``topics`` from the beginning until idle; returns how many records were stored."""
    if truncate:
        await asyncio.to_thread(truncate_tables, store)
    group = group or f"sandguard-replay-{uuid.uuid4().hex[:12]}"
    sink = Sink(bus, store, registry=registry, group=group, topics=topics, from_beginning=True)
    await sink.start()
    await sink.run(until_idle_s=idle_s)
    await sink.close()
    log.info("replay_done", group=group, records=sink.committed_records)
    return sink.committed_records
