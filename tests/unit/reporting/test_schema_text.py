"""The DDL in schemas.clickhouse: versions in order, placeholders filled, nothing of ours imported."""

from __future__ import annotations

import ast
from pathlib import Path

import reporting
from schemas import clickhouse
from schemas.clickhouse import TTL_CLASS, migrations, ttl_expression


def test_versions_are_contiguous_from_one() -> None:
    assert [m.version for m in migrations()] == list(range(1, len(migrations()) + 1))


def test_every_placeholder_is_filled_and_retention_is_used() -> None:
    for m in migrations():
        for stmt in m.statements(db="sg_x", metrics_ttl_days=11, history_ttl_days=222):
            assert "$" not in stmt and stmt.strip()
    text = " ".join(
        s for m in migrations() for s in m.statements(db="d", metrics_ttl_days=11, history_ttl_days=222)
    )
    assert "INTERVAL 11 DAY" in text and "INTERVAL 222 DAY" in text


def test_every_table_with_a_ttl_is_created() -> None:
    text = " ".join(m.text for m in migrations())
    for table in TTL_CLASS:
        assert f"$db.{table}\n" in text or f"$db.{table} " in text, table
    assert ttl_expression("violations", 5) == "toDateTime(first_seen) + toIntervalDay(5)"


def test_the_ddl_package_imports_nothing_of_ours() -> None:
    tree = ast.parse(Path(clickhouse.__file__).read_text())
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m.split(".")[0] for m in imported} & {"reporting", "sandguard", "schemas"}


def test_the_public_names_of_reporting() -> None:
    assert reporting.__all__ == [
        "ClickHouseStore", "HistoryReports", "MigrationError", "ReportingError", "Sink", "SinkAbandonedError",
        "StoreQueryError", "StoreUnavailableError", "UnknownSandboxError", "open_store", "replay",
    ]  # fmt: skip
