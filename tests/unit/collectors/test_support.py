"""Small pieces the collector leans on: the tick grid, event ids, rate-limited error logs,
the descriptor budget, the configuration's checks."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from collectors.clock import next_tick
from collectors.config import CollectorConfig
from collectors.errors import ErrorReporter
from collectors.files import FdBudget, KeptFile
from collectors.ids import EventIds
from collectors.metrics import CollectorMetrics
from tests.unit.collectors.conftest import FakeClock


def test_next_tick_grid_and_skips() -> None:
    assert next_tick(10.0, 1.0, 9.5) == (0, 10.0)
    assert next_tick(10.0, 1.0, 10.2) == (1, 11.0)
    assert next_tick(10.0, 1.0, 13.7) == (4, 14.0)  # a pass that overran skips ticks


def test_event_ids_are_unique_uuids() -> None:
    a, b = EventIds(), EventIds()
    ids = [a() for _ in range(1000)] + [b() for _ in range(1000)]
    assert len(set(ids)) == 2000
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_errors_are_counted_always_and_logged_once_a_minute(
    metrics: CollectorMetrics, clock: FakeClock
) -> None:
    reporter = ErrorReporter(counter=metrics.read_errors, clock=clock)
    with capture_logs() as logs:
        for _ in range(100):
            reporter.report("memory", "c1", PermissionError(13, "denied"))
            clock.advance(0.1)  # 10 s in all
        clock.advance(60)
        reporter.report("memory", "c2", PermissionError(13, "denied"))
    assert metrics.read_errors.labels("memory")._value.get() == 101
    assert [e["suppressed_since_last_log"] for e in logs] == [0, 99]
    assert reporter.kinds() == 1


def test_kept_files_respect_the_budget(tmp_path: Path) -> None:
    f = tmp_path / "value"
    f.write_text("1\n")
    budget = FdBudget(1)
    kept, extra = KeptFile(str(f), budget), KeptFile(str(f), budget)
    assert kept.read() == extra.read() == b"1\n"
    assert (kept.fd >= 0, extra.fd) == (True, -1)  # over budget: opened per read
    f.write_text("22\n")
    assert kept.read() == b"22\n"  # re-read at offset 0 on the same descriptor
    kept.close()
    assert budget.used == 0


def test_kept_file_grows_for_big_content(tmp_path: Path) -> None:
    f = tmp_path / "procs"
    f.write_text("\n".join(str(i) for i in range(5000)))
    assert KeptFile(str(f), FdBudget(1), size=64).read() == f.read_bytes()


def test_rlimit_budget() -> None:
    assert FdBudget.from_rlimit().limit > 0
    assert os.sysconf("SC_CLK_TCK") > 0


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        CollectorConfig(host="h", interval_s=0)
    with pytest.raises(ValueError, match="full_snapshot_every"):
        CollectorConfig(host="h", full_snapshot_every=0)
