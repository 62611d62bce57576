"""The recorded history (real sandboxes, embedded mode) shared by the backtest tests: it
takes ~40 s to record, so it is recorded once per test process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reporting.store import ClickHouseStore
from sandguard.embedded import shared_store
from tests.integration.backtest.recorded import Recorded, record


@pytest.fixture(scope="session")
def recorded(embedded_data_dir: Path) -> Recorded:
    return asyncio.run(record(embedded_data_dir, uuid.uuid4().hex[:12]))


@pytest.fixture(scope="session")
def history(embedded_data_dir: Path, recorded: Recorded) -> ClickHouseStore:
    """The store the embedded pipelines wrote the recorded history to."""
    return shared_store(embedded_data_dir / "clickhouse")


@pytest.fixture
def store(engine_path: Path) -> Iterator[ClickHouseStore]:
    """A fresh database on the session's engine, for histories a test writes itself."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    s = ClickHouseStore(path=engine_path, database=database).open()
    yield s
    s.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    s.close()
