"""What the embedded engine (chdb 4.4, ClickHouse 26.9) actually dedupes, and why the schema is as it is.

Pinned here so an engine upgrade that changes any of it fails loudly:
- plain MergeTree stores a retried insert twice;
- with ``non_replicated_deduplication_window`` and an ``insert_deduplication_token`` a
  retried batch is stored once, and so is its materialized view's output when the view's
  target has a window too and ``deduplicate_blocks_in_dependent_materialized_views`` is set;
- but the same events in other batches (a replay, a restart after a crash before the
  commit) are new blocks to the engine: block dedup cannot catch them.
Hence: tables keyed by event id (ReplacingMergeTree), every query with FINAL, and a rollup
made of idempotent aggregates.
"""

from __future__ import annotations

from reporting.store import ClickHouseStore
from reporting.tables import METRICS
from schemas import MetricSample, now_ms
from tests.integration.reporting.fleet import MIN

ROWS = [("a", 1), ("b", 2), ("c", 3)]
TOKEN = {"insert_deduplication_token": "batch-1", "deduplicate_blocks_in_dependent_materialized_views": 1}


def _tables(store: ClickHouseStore, window: int) -> None:
    setting = f"SETTINGS non_replicated_deduplication_window = {window}"
    store.command(f"CREATE TABLE t (id String, v UInt32) ENGINE = MergeTree ORDER BY id {setting}")
    store.command(f"CREATE TABLE agg (n UInt64) ENGINE = SummingMergeTree ORDER BY tuple() {setting}")
    store.command("CREATE MATERIALIZED VIEW mv TO agg AS SELECT count() AS n FROM t")


def _counts(store: ClickHouseStore) -> tuple[int, int]:
    return store.query("SELECT count() FROM t")[0][0], store.query("SELECT sum(n) FROM agg")[0][0]


def test_plain_mergetree_stores_a_retry_twice(store: ClickHouseStore) -> None:
    _tables(store, 0)
    for _ in range(2):
        store.insert("t", ROWS, ["id", "v"])
    assert _counts(store) == (6, 6)


def test_a_dedup_token_catches_the_same_batch_retried_views_included(store: ClickHouseStore) -> None:
    _tables(store, 100)
    for _ in range(2):
        store.insert("t", ROWS, ["id", "v"], settings=TOKEN)
    assert _counts(store) == (3, 3)


def test_block_dedup_misses_the_same_events_in_other_batches(store: ClickHouseStore) -> None:
    _tables(store, 100)
    store.insert("t", ROWS, ["id", "v"])
    store.insert("t", ROWS[:2], ["id", "v"])  # a replay that cut its batches elsewhere
    store.insert("t", ROWS[2:], ["id", "v"])
    assert _counts(store) == (6, 6)


def _samples(now: int) -> list[tuple[object, ...]]:
    from reporting.rows import metric_row

    out = []
    for i in range(6):  # one minute, six samples, 10 s apart; CPU counter +1 s per 10 s: 10 %
        m = MetricSample(
            container_id="c1", time=now - now % MIN + i * 10_000, cpu_usage_ns_total=i * 1_000_000_000,
            memory_usage_bytes=(i + 1) << 20, pids_current=i, pids_max=50, memory_limit_bytes=64 << 20,
        )  # fmt: skip
        out.append(metric_row(m.model_dump(mode="json")) or ())
    return out


def test_our_tables_count_events_once_before_and_after_merges(store: ClickHouseStore) -> None:
    rows = _samples(now_ms() - 5 * MIN)
    store.insert("metrics", rows, METRICS)
    store.insert("metrics", rows[:3], METRICS)  # the replay, batched otherwise
    store.insert("metrics", rows[3:], METRICS)
    assert store.query("SELECT count() FROM metrics")[0][0] == 12  # duplicates until a merge
    assert store.query("SELECT count() FROM metrics FINAL")[0][0] == 6
    roll = store.query_dicts("SELECT * FROM metrics_1m_view")
    assert len(roll) == 1
    r = roll[0]
    assert r["sample_count"] == 6 and round(r["cpu_percent_avg"], 3) == 10.0
    assert r["memory_peak_bytes"] == 6 << 20 and r["processes_peak"] == 5 and r["processes_limit"] == 50
    store.command("OPTIMIZE TABLE metrics FINAL")
    store.command("OPTIMIZE TABLE metrics_1m FINAL")
    assert store.query("SELECT count() FROM metrics")[0][0] == 6
    assert store.query("SELECT sample_count, round(cpu_percent_avg, 3) FROM metrics_1m_view") == [(6, 10.0)]
