"""Every query of docs/hunting.md, read from the doc, run on the fleet history stored by the sink."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from reporting.store import ClickHouseStore
from sandguard.bus import LocalBus
from tests.integration.reporting.conftest import RunSink
from tests.integration.reporting.fleet import BOMB, MINER, Fleet

DOC = Path(__file__).parents[3] / "docs" / "hunting.md"
_QUERY = re.compile(r"^## (\d+)\. (.+?)\n.*?```sql\n(.*?)```", re.S | re.M)


def hunting_queries() -> dict[int, str]:
    found = {int(n): sql for n, _, sql in _QUERY.findall(DOC.read_text(encoding="utf-8"))}
    assert sorted(found) == list(range(1, 14)), "docs/hunting.md must hold queries 1 to 13"
    # 11-13 read the kernel's events: test_hunting_kernel.py runs them on a history of their own.
    return {n: sql for n, sql in found.items() if n <= 10}


QUERIES = hunting_queries()


def _expected(fleet: Fleet) -> dict[int, Any]:
    """What each query must return on the fleet history (only the columns that identify the answer)."""
    return {
        1: [(BOMB, ["nc"])],
        2: [(BOMB, "applied", ["pids.limit_hit"], 1500)],
        3: [(BOMB, "sandguard/busybox:1", "/bin/busybox"), (BOMB, "sandguard/busybox:1", "/tmp/rm")],
        4: [("sandguard/busybox:1", 1, 1, 2)],
        5: 2,  # actions over the days the window covers
        6: [(BOMB, "exec", "sudo sh")],
        7: [(MINER,)],
        8: [(MINER, "cpu.throttled", 3, "throttled"), (BOMB, "pids.limit_hit", 2, "terminated")],
        9: [(BOMB, "/tmp/rm", "rm -rf /work")],
        10: [("process.suspicious", "create"), ("process.blocked", "create"), ("pids.limit_hit", "create")],
    }


def _shape(n: int, rows: list[dict[str, Any]]) -> Any:
    keys = {
        1: ("container_id", "tools"),
        2: ("container_id", "result", "rule_ids", "latency_ms"),
        3: ("container_id", "image", "exe"),
        4: ("image", "findings", "sandboxes", "occurrences"),
        6: ("container_id", "category", "subject"),
        7: ("container_id",),
        8: ("container_id", "rule_id", "count", "disposition"),
        9: ("container_id", "exe", "cmdline"),
        10: ("rule_id", "activity"),
    }
    if n == 5:
        return sum(r["actions"] for r in rows)
    return [tuple(r[k] for k in keys[n]) for r in rows]


@pytest.fixture
async def history(store: ClickHouseStore, fleet: Fleet, run_sink: RunSink) -> ClickHouseStore:
    bus = LocalBus()
    await bus.start()
    await run_sink(bus, store, fleet.events)
    return store


@pytest.mark.parametrize("n", sorted(QUERIES))
def test_hunting_query(n: int, history: ClickHouseStore, fleet: Fleet) -> None:
    rows = history.query_dicts(QUERIES[n])
    assert _shape(n, rows) == _expected(fleet)[n]
