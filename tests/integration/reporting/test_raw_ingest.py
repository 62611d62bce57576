"""The engine-side JSON path of metric samples never stores what the models refuse.

For each malformed variant of a valid sample, the strict JSONEachRow insert into
``metrics_json`` must fail whenever ``schemas.decode`` fails (it may also fail more
often: the sink then takes the model path). What it stores equals the model path's row.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from reporting.exceptions import StoreQueryError
from reporting.rows import metric_row
from reporting.sink import RAW_METRICS_TABLE, STRICT_JSON
from reporting.store import ClickHouseStore
from reporting.tables import METRICS
from schemas import EventDecodeError, MetricSample, SocketCounts, decode, encode, now_ms
from schemas import topics as t

VALID = orjson.loads(
    encode(MetricSample(
        container_id="c1", time=now_ms(), host="h", interval_ms=1000, cpu_usage_ns_total=5, cpu_percent=1.5,
        memory_usage_bytes=7, memory_limit_bytes=9, pids_current=2, pids_max=10, open_fds=3,
        sockets=SocketCounts(tcp=2, udp=1, tcp_states={"ESTABLISHED": 2}), partial=("disk",),
    ))
)  # fmt: skip


def _body(path: tuple[str, ...], value: Any) -> bytes:
    if value is _HUGE:  # past what orjson (and the models' u64 columns) can hold
        return orjson.dumps(_variant(path, "__huge__")).replace(b'"__huge__"', str(2**70).encode())
    return orjson.dumps(_variant(path, value))


def _variant(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    d = orjson.loads(orjson.dumps(VALID))
    node = d
    for key in path[:-1]:
        node = node[key]
    if value is _DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return dict(d)


_DROP = object()
_HUGE = object()
VARIANTS = [
    (("bogus",), 1), (("event_id",), _DROP), (("container_id",), _DROP), (("time",), _DROP),
    (("time",), "soon"), (("cpu_usage_ns_total",), None), (("cpu_usage_ns_total",), "x"),
    (("cpu_usage_ns_total",), 5.5), (("cpu_usage_ns_total",), True), (("pids_current",), -1),
    (("cpu_percent",), "hot"), (("cpu_percent",), -3.0), (("container_id",), 42),
    (("sockets", "bogus"), 1), (("sockets", "tcp"), "many"), (("sockets", "tcp_states"), {"A": "x"}),
    (("partial",), [1]), (("memory_usage_bytes",), _HUGE), (("host",), None), (("interval_ms",), "1s"),
    (("open_fds",), 2**40), (("sockets",), None), (("kind",), "limits"), (("sockets", "tcp"), None),
    (("host",), 7), (("partial",), None), (("sockets", "tcp_states"), None), (("interval_ms",), -5),
    (("event_id",), None),
]  # fmt: skip


def _raw_accepts(store: ClickHouseStore, body: bytes) -> bool:
    try:
        store.insert_raw(RAW_METRICS_TABLE, body, fmt="JSONEachRow", settings=STRICT_JSON)
    except StoreQueryError:
        return False
    return True


def _model_accepts(body: bytes) -> bool:
    try:
        decode(t.METRICS, body)
    except EventDecodeError:
        return False
    return True


@pytest.mark.parametrize(("path", "value"), VARIANTS, ids=[".".join(p) + f"={v!r}"[:30] for p, v in VARIANTS])
def test_the_raw_path_refuses_what_the_models_refuse(
    store: ClickHouseStore, path: tuple[str, ...], value: Any
) -> None:
    body = _body(path, value)
    if not _model_accepts(body):
        assert not _raw_accepts(store, body)


def test_the_raw_path_stores_the_model_paths_row(store: ClickHouseStore) -> None:
    body = orjson.dumps(VALID)
    assert _raw_accepts(store, body)
    got = store.query_dicts(f"SELECT {', '.join(METRICS)}, toUnixTimestamp64Milli(time) AS ms FROM metrics")
    assert len(got) == 1
    want = dict(zip(METRICS, metric_row(VALID) or (), strict=True))
    row = got[0]
    assert row.pop("ms") == want.pop("time")
    row.pop("time")
    assert row == want


def test_raw_data_in_chunks_is_one_insert_and_all_or_nothing(store: ClickHouseStore) -> None:
    rows = [orjson.dumps({**VALID, "event_id": f"e{i}", "time": VALID["time"] + i}) for i in range(5)]

    def insert(chunks: list[bytes]) -> None:
        store.insert_raw(RAW_METRICS_TABLE, iter(chunks), fmt="JSONEachRow", settings=STRICT_JSON)

    insert([b"\n".join(rows[:2]) + b"\n", b"\n".join(rows[2:])])
    assert store.query("SELECT count() FROM metrics")[0][0] == 5
    with pytest.raises(StoreQueryError):
        insert([rows[0] + b"\n", _body(("cpu_percent",), "hot")])
    assert store.query("SELECT count() FROM metrics")[0][0] == 5
