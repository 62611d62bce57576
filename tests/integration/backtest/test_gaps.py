"""Gaps in the history are shown as gaps, on the real engine: a sandbox whose samples stop
for a minute, and a collector that reported dropping events."""

from __future__ import annotations

from reporting import rows as R
from reporting.store import ClickHouseStore
from reporting.tables import COLUMNS
from sandguard.backtest import Selection, backtest
from sandguard.backtest.readers import MetricsReader, Span
from schemas import AuditCategory, AuditEvent, MetricSample, PolicyEvent, SecurityPolicy, now_ms


def _row(m: MetricSample) -> tuple[object, ...]:
    row = R.metric_row(m.model_dump(mode="json"))
    assert row is not None
    return row


def test_missing_samples_and_dropped_events_are_reported_as_gaps(store: ClickHouseStore) -> None:
    cid, t0 = "g" * 64, now_ms() - 600_000
    policy = SecurityPolicy(name="gaps")
    store.insert(
        "sandboxes",
        [
            R.sandbox_row(
                PolicyEvent(
                    container_id=cid,
                    time=t0,
                    host="h1",
                    policy_id=policy.policy_id,
                    policy=policy,
                    image="img:gaps",
                )
            )
        ],
        COLUMNS["sandboxes"],
    )
    # Samples every second for 2 minutes, except a minute from 60 s on: the collector was down.
    times = [t0 + 1000 * s for s in range(1, 121) if not 60 <= s < 120] + [t0 + 200_000]
    samples = [MetricSample(container_id=cid, time=t, host="h1", cpu_usage_ns_total=t) for t in times]
    store.insert("metrics", [_row(s) for s in samples], COLUMNS["metrics"])
    dropped = AuditEvent(
        container_id="",
        time=t0 + 150_000,
        host="h1",
        category=AuditCategory.COLLECTOR,
        action="dropped",
        details={
            "dropped": 12,
            "containers": [cid],
            "first_drop_ms": t0 + 130_000,
            "last_drop_ms": t0 + 140_000,
        },
    )
    store.insert("audit", [R.audit_row(dropped)], COLUMNS["audit"])
    report = backtest(store, Selection(t0 - 1000, t0 + 300_000, image="img:gaps"), policy, source="test")
    gaps = [(g["container_id"][:1], g["start"] - t0, g["end"] - t0, g["kind"]) for g in report["gaps"]]
    assert gaps == [
        ("g", 59_000, 120_000, "missing_samples"),
        ("g", 120_000, 200_000, "missing_samples"),
        ("g", 130_000, 140_000, "dropped_events"),
    ]
    assert report["sandboxes"][0]["gaps"] and report["totals"]["backtest_findings"] == 0


def test_samples_come_back_from_the_engine_as_they_were_sent(store: ClickHouseStore) -> None:
    """CPU is a Float32 column; the collector's 0.01 steps come back as the doubles it sent."""
    cid, t0 = "r" * 64, now_ms() - 60_000
    cpus = [0.01, 12.34, 33.33, 99.99, 187.65, 400.0, None]
    sent = [
        MetricSample(container_id=cid, time=t0 + i, host="h", cpu_percent=c, memory_working_set_bytes=i << 20)
        for i, c in enumerate(cpus)
    ]
    store.insert("metrics", [_row(m) for m in sent], COLUMNS["metrics"])
    items = MetricsReader().read(store, Span((cid,), t0, t0 + 100))
    assert [ev for _, _, _, ev in items] == sent
