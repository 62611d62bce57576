"""The hot-path metric row builder agrees with the models: same row for valid samples, None otherwise."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reporting.rows import metric_row, tombstone_row, violation_row
from reporting.tables import METRICS, SANDBOXES, VIOLATION_EVENTS
from schemas import (
    EventDecodeError,
    MetricSample,
    SecurityViolationType,
    Severity,
    SocketCounts,
    Violation,
    ViolationActivity,
    decode,
)
from schemas import topics as t

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**63)


@st.composite
def samples(draw: st.DrawFn) -> MetricSample:
    return MetricSample(
        container_id=draw(st.text(min_size=1, max_size=20)), time=draw(st.integers(1, 2**42)),
        interval_ms=draw(st.none() | u32), cpu_usage_ns_total=draw(u64),
        cpu_percent=draw(st.none() | st.floats(0, 1e4)), memory_usage_bytes=draw(u64),
        memory_limit_bytes=draw(st.none() | u64), pids_current=draw(u32), pids_max=draw(st.none() | u32),
        open_fds=draw(u32),
        sockets=SocketCounts(tcp=draw(u32), tcp_states=draw(st.dictionaries(st.text(), u32))),
        partial=tuple(draw(st.lists(st.text(), max_size=3))),
    )  # fmt: skip


@given(samples())
def test_a_valid_sample_gives_its_row(m: MetricSample) -> None:
    row = metric_row(orjson.loads(m.model_dump_json()))
    assert row is not None and len(row) == len(METRICS)
    got = dict(zip(METRICS, row, strict=True))
    assert got["event_id"] == m.event_id and got["time"] == m.time
    assert got["sock_tcp"] == m.sockets.tcp and got["sock_tcp_states"] == m.sockets.tcp_states
    assert got["cpu_percent"] == m.cpu_percent and got["pids_max"] == m.pids_max


BASE = orjson.loads(MetricSample(container_id="c", time=1).model_dump_json())


@pytest.mark.parametrize(
    ("key", "value"),
    [("cpu_usage_ns_total", -1), ("cpu_usage_ns_total", "1"), ("cpu_usage_ns_total", True), ("bogus", 1),
     ("pids_current", 2**32), ("sockets", {"tcp": -1}), ("sockets", {"nope": 1}), ("partial", [1]),
     ("cpu_percent", "x"), ("event_id", 5), ("kind", "limits"), ("time", -5)],
)  # fmt: skip
def test_anything_doubtful_is_left_to_the_models(key: str, value: Any) -> None:
    assert metric_row({**BASE, key: value}) is None


def test_a_row_is_never_built_for_what_the_models_refuse() -> None:
    for key, value in [("cpu_usage_ns_total", "x"), ("bogus", 1), ("sockets", {"nope": 1})]:
        body = orjson.dumps({**BASE, key: value})
        with pytest.raises(EventDecodeError):
            decode(t.METRICS, body)
        assert metric_row(orjson.loads(body)) is None


def test_the_latest_state_of_a_finding_has_the_highest_version() -> None:
    def version(activity: ViolationActivity, detected: int) -> int:
        v = Violation(
            container_id="c", violation_id="v", activity=activity, rule_id="cpu.level",
            violation_type=SecurityViolationType.RESOURCE_LIMIT_EXCEEDED, severity=Severity.LOW, title="t",
            message="m", first_seen=1, last_seen=2, sample_time=2, detected_time=detected,
        )  # fmt: skip
        return int(dict(zip(VIOLATION_EVENTS, violation_row(v), strict=True))["version"])

    assert version(ViolationActivity.CREATE, 10) < version(ViolationActivity.UPDATE, 10)
    assert version(ViolationActivity.UPDATE, 10) < version(ViolationActivity.CLOSE, 10)
    assert version(ViolationActivity.CLOSE, 10) < version(ViolationActivity.UPDATE, 11)


def test_a_tombstone_has_a_stable_id() -> None:
    a = tombstone_row("sandguard.policies", "c1", 3, 42, 1000)
    assert a == tombstone_row("sandguard.policies", "c1", 3, 42, 1000) and len(a) == len(SANDBOXES)
    assert a[0] != tombstone_row("sandguard.policies", "c1", 3, 43, 1000)[0]
