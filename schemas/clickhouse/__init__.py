"""ClickHouse DDL of the history: versioned migrations as SQL text, rendered per deployment.

Pure data: the files in ``migrations/`` are named ``NNNN_name.sql``, hold statements
separated by ``;`` at the end of a line, and use ``$db``, ``$metrics_ttl_days`` and
``$history_ttl_days`` placeholders. ``reporting`` applies them in order and records
each in ``$db.schema_migrations``; a migration, once released, is never edited (its
checksum is recorded), only followed by a new one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from string import Template

# A server's login when the deployment gives none: ClickHouse's own default user, no password.
DEFAULT_USER = "default"
# Defaults of the retention settings: metrics are high-volume and lose value fast
# (30 days); findings, actions and audit are evidence (400 days: a year plus a quarter).
METRICS_TTL_DAYS = 30
HISTORY_TTL_DAYS = 400

# Which retention each table follows (tables absent here keep data forever).
TTL_CLASS: dict[str, str] = {
    "metrics": "metrics",
    "limits": "metrics",
    "process_snapshots": "history",
    "processes": "history",
    "audit": "history",
    "sandboxes": "history",
    "violation_events": "history",
    "violations": "history",
    "commands": "history",
    "actions": "history",
    "deadletters": "history",
    "metrics_1m": "history",
    "exec_events": "history",
    "exit_events": "history",
    "connect_events": "history",
}

# The time column each table's TTL is computed from.
TTL_COLUMN: dict[str, str] = {"violations": "toDateTime(first_seen)", "metrics_1m": "minute"}

MIGRATIONS_TABLE = "schema_migrations"

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_SPLIT = re.compile(r";\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    text: str  # the template, as released

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def statements(self, *, db: str, metrics_ttl_days: int, history_ttl_days: int) -> list[str]:
        """The statements with this deployment's database and retention filled in."""
        sql = Template(self.text).substitute(
            db=db, metrics_ttl_days=int(metrics_ttl_days), history_ttl_days=int(history_ttl_days)
        )
        parts = (_strip_comments(p) for p in _SPLIT.split(sql))
        return [p for p in parts if p]


def _strip_comments(sql: str) -> str:
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    return "\n".join(lines).strip()


def migrations() -> list[Migration]:
    """Every migration, in version order."""
    out = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            out.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    out.sort(key=lambda m: m.version)
    if len({m.version for m in out}) != len(out):
        raise ValueError("two migrations share a version number")
    return out


def ttl_expression(table: str, days: int) -> str:
    """The TTL clause body of ``table`` for ``days`` of retention."""
    column = TTL_COLUMN.get(table, "toDateTime(time)")
    return f"{column} + toIntervalDay({int(days)})"


__all__ = [
    "DEFAULT_USER",
    "HISTORY_TTL_DAYS",
    "METRICS_TTL_DAYS",
    "MIGRATIONS_TABLE",
    "TTL_CLASS",
    "TTL_COLUMN",
    "Migration",
    "migrations",
    "ttl_expression",
]
