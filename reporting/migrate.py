"""Applies the versioned DDL of ``schemas.clickhouse`` idempotently, and keeps TTLs as configured.

Each migration runs once and is recorded (version, name, checksum) in
``schema_migrations``; its statements are ``IF NOT EXISTS`` so a run interrupted
half-way is simply run again. A recorded checksum that differs from the released
file is an error: a released migration is never edited, a new one follows it.
Retention is configuration, not schema: at every start each table's TTL is compared
with the settings and changed in place when they differ.
"""

from __future__ import annotations

from typing import Protocol

import structlog

from reporting.exceptions import MigrationError
from schemas import Store
from schemas.clickhouse import MIGRATIONS_TABLE, TTL_CLASS, Migration, migrations, ttl_expression

log = structlog.get_logger(__name__)


class _Sql(Store, Protocol):
    database: str


_APPLIED = f"SELECT version, checksum FROM {MIGRATIONS_TABLE} FINAL"  # noqa: S608 - a constant name
_CREATE_LEDGER = f"""
CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE}
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree ORDER BY version
"""


def apply_migrations(store: _Sql, *, metrics_ttl_days: int, history_ttl_days: int) -> list[int]:
    """Runs the migrations not applied yet; returns their versions."""
    store.command(_CREATE_LEDGER)
    done = {int(str(v)): str(c) for v, c in store.query(_APPLIED)}
    applied = []
    for m in migrations():
        if m.version in done:
            if done[m.version] != m.checksum:
                raise MigrationError(m.version, m.name, "changed after it was applied; add a new migration")
            continue
        _apply(store, m, metrics_ttl_days, history_ttl_days)
        applied.append(m.version)
    ensure_ttls(store, metrics_ttl_days=metrics_ttl_days, history_ttl_days=history_ttl_days)
    return applied


def _apply(store: _Sql, m: Migration, metrics_ttl_days: int, history_ttl_days: int) -> None:
    for stmt in m.statements(
        db=store.database, metrics_ttl_days=metrics_ttl_days, history_ttl_days=history_ttl_days
    ):
        store.command(stmt)
    store.insert(MIGRATIONS_TABLE, [(m.version, m.name, m.checksum)], ["version", "name", "checksum"])
    log.info("migration_applied", version=m.version, name=m.name)


def ensure_ttls(store: _Sql, *, metrics_ttl_days: int, history_ttl_days: int) -> list[str]:
    """Changes the TTL of every table whose retention differs from the settings."""
    days = {"metrics": metrics_ttl_days, "history": history_ttl_days}
    engines: dict[str, str] = {
        str(name): str(engine)
        for name, engine in store.query(
            "SELECT name, engine_full FROM system.tables WHERE database = {db:String}", {"db": store.database}
        )
    }
    changed = []
    for table, cls in TTL_CLASS.items():
        want = ttl_expression(table, days[cls])
        if table in engines and f"toIntervalDay({days[cls]})" not in str(engines[table]):
            store.command(f"ALTER TABLE {table} MODIFY TTL {want}")
            changed.append(table)
            log.info("ttl_changed", table=table, days=days[cls])
    return changed
