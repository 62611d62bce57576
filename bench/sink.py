"""Sink and report benchmark: Kafka -> embedded engine rows/s, and a 24 h sandbox report over 10 M rows.

    .venv/bin/python bench/sink.py --json [--rows 300000] [--report-rows 10000000]

1. ``metric_rows_per_s``: N metric samples are produced to a fresh namespace on the local
   broker first; then a sink (one process, embedded engine) consumes them from the start
   and the clock runs from its first poll to its last commit. Side by side in the same
   run, the same rows are inserted straight into the engine (no Kafka, no decoding), so
   ``sink_vs_direct_insert`` says how much of the time is the engine's.
2. ``report_ms``: 10 M metric rows (116 sandboxes x 1 Hz x 24 h; with ``--dense`` all of
   them in the reported sandbox, ~116 samples/s) are generated in SQL (INSERT ... SELECT
   FROM numbers()), the rollup view fills on the way, and the median of 5
   ``security_report`` calls for one sandbox over its last 24 h is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from reporting.reports import HistoryReports
from reporting.rows import sandbox_row
from reporting.sink import MAX_BATCH_ROWS, RAW_INSERT_SETTINGS, RAW_METRICS_TABLE, Sink
from reporting.store import ClickHouseStore
from reporting.tables import SANDBOXES
from sandguard.bus import KafkaBus, drop_namespace
from sandguard.settings import Settings
from schemas import MetricSample, PolicyEvent, SecurityPolicy, SocketCounts, encode, now_ms
from schemas import topics as t

try:
    from bench.stats import percentile
except ModuleNotFoundError:  # run as a script (python bench/x.py): bench/ is on the path
    from stats import percentile  # type: ignore[import-not-found,no-redef]

TARGET_ROWS_PER_S = 200_000
TARGET_REPORT_MS = 500
DAY_S = 86_400
# 116 sandboxes x 86,400 samples (1 Hz for 24 h) = 10,022,400 rows: the 10 M of the target.
FLEET = 116
PARTITIONS = 4


def _samples(n: int, now: int) -> list[bytes]:
    out = []
    for i in range(n):
        cid = f"bench-{i % 50:03d}"
        m = MetricSample(
            container_id=cid, time=now - (n - i), host="bench", interval_ms=1000,
            cpu_usage_ns_total=i * 1000, cpu_percent=12.5, cpu_periods_total=i, memory_usage_bytes=64 << 20,
            memory_working_set_bytes=60 << 20, memory_limit_bytes=256 << 20, pids_current=3, pids_max=50,
            open_fds=10, sockets=SocketCounts(tcp=1),
        )  # fmt: skip
        out.append(encode(m))
    return out


async def _produce(bootstrap: str, ns: str, values: list[bytes]) -> None:
    bus = KafkaBus(bootstrap, namespace=ns, partitions=PARTITIONS)
    await bus.start()
    try:
        for i, v in enumerate(values):
            await bus.publish(t.METRICS, f"bench-{i % 50:03d}", v)
        await bus.flush()
    finally:
        await bus.stop()


@dataclass
class _Timing:
    wall_s: float = 0.0
    process_cpu_s: float = 0.0  # every thread: the event loop and the engine's inserts
    loop_cpu_s: float = 0.0  # the event-loop thread alone: Kafka records, the sink's Python


async def _consume(bootstrap: str, ns: str, store: ClickHouseStore, n: int, batch_rows: int) -> _Timing:
    bus = KafkaBus(bootstrap, namespace=ns, create_topics=False, max_poll_records=20_000)
    await bus.start()
    sink = Sink(bus, store, registry=CollectorRegistry(), topics=[t.METRICS], max_rows=batch_rows)
    await sink.start()
    consumer = sink._consumer
    assert consumer is not None
    timing, started = _Timing(), None
    while sink.committed_records < n:
        got = await sink.poll(consumer)
        if got and started is None:
            started = (time.perf_counter(), time.process_time(), time.thread_time())
        if sink._batch.rows and sink.idle_polls:
            await sink.flush()
    await sink.flush()
    if started is not None:
        timing.wall_s = time.perf_counter() - started[0]
        timing.process_cpu_s = time.process_time() - started[1]
        timing.loop_cpu_s = time.thread_time() - started[2]
    await sink.close()
    await bus.stop()
    return timing


def _direct_insert_s(store: ClickHouseStore, values: list[bytes]) -> float:
    """The engine's share: the same JSON inserted the way the sink does, without Kafka or Python."""
    data = b"\n".join(values)
    store.command("TRUNCATE TABLE metrics")
    started = time.perf_counter()
    store.insert_raw(RAW_METRICS_TABLE, data, fmt="JSONEachRow", settings=RAW_INSERT_SETTINGS)
    return time.perf_counter() - started


def bench_sink(bootstrap: str, rows: int, data: Path, batch_rows: int) -> dict[str, Any]:
    values = _samples(rows, now_ms())
    ns = f"bench-{uuid.uuid4().hex[:8]}."
    asyncio.run(_produce(bootstrap, ns, values))
    store = ClickHouseStore(path=data / "sink").open()
    try:
        timing = asyncio.run(_consume(bootstrap, ns, store, rows, batch_rows))
        stored = int(store.query("SELECT count() FROM metrics FINAL")[0][0])
        direct = _direct_insert_s(store, values)
    finally:
        store.close()
        asyncio.run(drop_namespace(bootstrap, ns))
    us = 1e6 / rows
    # What two idle cores would do: the event loop needs a core of its own (loop CPU per row),
    # and everything together shares two (process CPU per row / 2); the slower bound wins.
    projected = 1e6 / max(timing.loop_cpu_s * us, timing.process_cpu_s * us / 2)
    return {
        "metric_rows": rows,
        "metric_rows_stored": stored,
        "sink_seconds": round(timing.wall_s, 3),
        "metric_rows_per_s": round(rows / timing.wall_s),
        "sink_cpu_us_per_row": round(timing.process_cpu_s * us, 2),
        "sink_event_loop_cpu_us_per_row": round(timing.loop_cpu_s * us, 2),
        "projected_rows_per_s_on_2_idle_cores": round(projected),
        "direct_insert_rows_per_s": round(rows / direct),
        "sink_vs_direct_insert": round(timing.wall_s / direct, 2),
    }


_GENERATE = """
INSERT INTO metrics (event_id, time, container_id, host, interval_ms, cpu_usage_ns_total, cpu_percent,
    cpu_periods_total, cpu_throttled_periods_total, cpu_throttled_ns_total, memory_usage_bytes,
    memory_working_set_bytes, memory_limit_bytes, pids_current, pids_max, open_fds, sock_tcp, schema_version)
SELECT
    toString(generateUUIDv4()),
    fromUnixTimestamp64Milli(
        {start:Int64} + intDiv(number, {fleet:UInt32}) * {step:UInt32} + (number % {fleet:UInt32})),
    concat('bench-', leftPad(toString(number % {fleet:UInt32}), 3, '0')),
    'bench', 1000,
    intDiv(number, {fleet:UInt32}) * 120000000 + rand() % 1000000,
    (rand() % 5000) / 100,
    intDiv(number, {fleet:UInt32}) * 10, 0, 0,
    (64 + rand() % 32) * 1048576, (60 + rand() % 32) * 1048576, 268435456,
    2 + rand() % 6, 50, 10 + rand() % 5, rand() % 3, '1.0'
FROM numbers({n:UInt64})
"""


def bench_report(report_rows: int, data: Path, *, dense: bool = False) -> dict[str, Any]:
    """``dense``: every row belongs to the reported sandbox (about 116 samples a second for 24 h)."""
    now = now_ms()
    fleet = 1 if dense or report_rows < FLEET * 1000 else FLEET
    per_sandbox = report_rows // fleet
    step_ms = max(1, DAY_S * 1000 // per_sandbox)  # 1000 ms (1 Hz) for the fleet; 8 ms dense
    span_ms = per_sandbox * step_ms
    store = ClickHouseStore(path=data / "report").open()
    try:
        target = "bench-000" if fleet == 1 else "bench-007"
        policy = SecurityPolicy()
        event = PolicyEvent(
            container_id=target,
            time=now - span_ms,
            policy_id=policy.policy_id,
            policy=policy,
            image="bench:1",
        )
        store.insert("sandboxes", [sandbox_row(event)], SANDBOXES)
        started = time.perf_counter()
        params = {"start": now - span_ms, "fleet": fleet, "step": step_ms, "n": per_sandbox * fleet}
        store.command(_GENERATE, params)
        generated_s = time.perf_counter() - started
        total = int(store.query("SELECT count() FROM metrics")[0][0])
        reports = HistoryReports(store)
        runs = []
        for _ in range(5):
            t0 = time.perf_counter()
            r = reports.security_report(target)
            runs.append((time.perf_counter() - t0) * 1000)
        points = len(r["series"])
    finally:
        store.close()
    return {
        "report_metric_rows_total": total,
        "report_generate_s": round(generated_s, 2),
        "report_ms": round(percentile(runs, 50), 1),
        "report_ms_runs": [round(x, 1) for x in runs],
        "report_series_points": points,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rows", type=int, default=400_000, help="metric messages through Kafka")
    ap.add_argument("--report-rows", type=int, default=10_000_000)
    ap.add_argument("--batch-rows", type=int, default=MAX_BATCH_ROWS, help="the sink's batch size")
    ap.add_argument("--skip-report", action="store_true")
    ap.add_argument("--dense", action="store_true", help="all report rows in the one reported sandbox")
    ap.add_argument("--bootstrap", default=Settings().kafka_bootstrap)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sg-bench-") as tmp:
        result = {
            **bench_sink(args.bootstrap, args.rows, Path(tmp), args.batch_rows),
            **({} if args.skip_report else bench_report(args.report_rows, Path(tmp), dense=args.dense)),
            "targets": {"metric_rows_per_s": TARGET_ROWS_PER_S, "report_ms": TARGET_REPORT_MS},
        }
    result["meets_targets"] = result["metric_rows_per_s"] >= TARGET_ROWS_PER_S and (
        args.skip_report or result["report_ms"] <= TARGET_REPORT_MS
    )
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:28} {v}")
    sys.exit(0)


if __name__ == "__main__":
    main()
