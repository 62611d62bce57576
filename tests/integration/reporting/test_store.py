"""The store on the real embedded engine: migrations, TTLs, errors, and the tables the sink writes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import pytest

from reporting.exceptions import MigrationError, StoreQueryError, StoreUnavailableError
from reporting.rows import metric_row, violation_row
from reporting.store import ClickHouseStore
from reporting.tables import COLUMNS, METRICS, VIOLATION_EVENTS
from schemas import MetricSample, SecurityViolationType, Severity, Violation, now_ms
from schemas.clickhouse import migrations

DAY = 86_400_000


def test_the_sink_tables_have_exactly_the_columns_it_writes(store: ClickHouseStore) -> None:
    for table, cols in COLUMNS.items():
        described = store.query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} "
            "AND default_kind != 'MATERIALIZED' ORDER BY position",
            {"db": store.database, "t": table},
        )
        assert tuple(r[0] for r in described) == cols, table


def test_migrations_apply_once_and_are_recorded(make_store: Callable[..., ClickHouseStore]) -> None:
    store = make_store()
    ledger = store.query("SELECT version, name, checksum FROM schema_migrations FINAL ORDER BY version")
    assert ledger == [(m.version, m.name, m.checksum) for m in migrations()]
    store.close()
    again = make_store()  # a second start: nothing re-applied, nothing fails
    assert again.query("SELECT count() FROM schema_migrations")[0][0] == len(migrations())


def test_a_changed_released_migration_is_refused(make_store: Callable[..., ClickHouseStore]) -> None:
    store = make_store()
    store.insert("schema_migrations", [(1, "tables", "edited")], ["version", "name", "checksum"])
    store.close()
    with pytest.raises(MigrationError) as err:
        make_store()
    assert err.value.version == 1


def _metric(t: int) -> tuple[object, ...]:
    return metric_row(MetricSample(container_id="c1", time=t).model_dump(mode="json")) or ()


def _violation(first_seen: int) -> tuple[object, ...]:
    return violation_row(Violation(
        container_id="c1", time=first_seen, violation_id=f"v{first_seen}", rule_id="cpu.level",
        violation_type=SecurityViolationType.RESOURCE_LIMIT_EXCEEDED, severity=Severity.LOW, title="t",
        message="m", first_seen=first_seen, last_seen=first_seen, sample_time=first_seen,
    ))  # fmt: skip


def test_ttls_drop_old_rows_and_follow_the_settings(make_store: Callable[..., ClickHouseStore]) -> None:
    now = now_ms()
    store = make_store()
    store.insert("metrics", [_metric(now - 40 * DAY), _metric(now - 10 * DAY), _metric(now)], METRICS)
    store.insert(
        "violation_events", [_violation(now - 500 * DAY), _violation(now - 10 * DAY)], VIOLATION_EVENTS
    )
    for table in ("metrics", "violations", "violation_events"):
        store.command(f"OPTIMIZE TABLE {table} FINAL")
    assert store.query("SELECT count() FROM metrics")[0][0] == 2
    assert store.query("SELECT count() FROM violations")[0][0] == 1
    # The rollup keeps history past the raw metrics' retention.
    assert store.query("SELECT count() FROM metrics_1m_view")[0][0] == 3
    store.close()
    shorter = make_store(metrics_ttl_days=7)
    engine = shorter.query(
        "SELECT engine_full FROM system.tables WHERE name = 'metrics' AND database = {db:String}",
        {"db": shorter.database},
    )
    assert "toIntervalDay(7)" in engine[0][0]
    shorter.command("OPTIMIZE TABLE metrics FINAL")
    assert shorter.query("SELECT count() FROM metrics")[0][0] == 1


def test_a_closed_store_is_unavailable_until_reopened(store: ClickHouseStore) -> None:
    store.close()
    with pytest.raises(StoreUnavailableError):
        store.query("SELECT 1")
    store.open()
    assert store.query("SELECT 1") == [(1,)]


def _finishes(fn: Callable[[], object]) -> bool:
    """Runs fn in a thread; False if it is still blocked after 30 s (a deadlock, not a slow call)."""
    worker = threading.Thread(target=fn, daemon=True)
    worker.start()
    worker.join(30)
    return not worker.is_alive()


def _insert_metric(store: ClickHouseStore, ago_ms: int) -> Callable[[], None]:
    return lambda: store.insert("metrics", [_metric(now_ms() - ago_ms)], METRICS)


def test_inserts_have_their_own_connections(make_store: Callable[..., ClickHouseStore]) -> None:
    store = make_store(insert_lanes=2)
    busy = store._free_lanes.get()  # an insert in progress on one connection
    with busy.lock, store._lock:  # and a report's query on the main one
        assert _finishes(_insert_metric(store, 1_000))  # waits for neither
    store._free_lanes.put(busy)
    store.close()  # the insert connections close and reopen with the store
    with pytest.raises(StoreUnavailableError):
        _insert_metric(store, 2_000)()
    store.open()
    _insert_metric(store, 3_000)()
    assert store.query("SELECT count() FROM metrics FINAL")[0][0] == 2


def test_an_insert_waits_for_a_free_connection(make_store: Callable[..., ClickHouseStore]) -> None:
    store = make_store(insert_lanes=1)
    only = store._free_lanes.get()
    worker = threading.Thread(target=_insert_metric(store, 1_000), daemon=True)
    worker.start()
    worker.join(0.2)
    assert worker.is_alive()  # still waiting: there is no other connection
    store._free_lanes.put(only)
    worker.join(30)
    assert not worker.is_alive()
    assert store.query("SELECT count() FROM metrics FINAL")[0][0] == 1
    with pytest.raises(ValueError, match="insert_lanes"):
        ClickHouseStore(path="unused", insert_lanes=0)


def test_a_bad_statement_is_a_query_error_not_an_outage(store: ClickHouseStore) -> None:
    with pytest.raises(StoreQueryError) as err:
        store.query("SELECT no_such_column FROM metrics")
    assert "no_such_column" in err.value.reason


def test_a_server_that_does_not_answer_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = ClickHouseStore(url=f"http://127.0.0.1:{port}")
    with pytest.raises(StoreUnavailableError) as err:
        store.open()
    assert err.value.target == f"http://127.0.0.1:{port}"
    with pytest.raises(StoreUnavailableError):  # later calls try again, and fail the same way
        store.query("SELECT 1")


def test_exactly_one_of_path_or_url() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ClickHouseStore()
