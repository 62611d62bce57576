"""The numbers of docs/scaling.md, measured in one bounded run.

    .venv/bin/python -m bench.scaling --json [--sizes 50,200,1000] [--project N]
        [--max-minutes 40] [--ch-sandboxes 100]

1. collector: for each size, busybox sandboxes (``sleep``) are started (bench.collector's
   helpers), then the collector's own sampling pass (CPU µs per container, in-process) and
   the real ``sandguard collector`` process at 1 Hz publishing to the local broker (CPU % of
   one core, RSS, events/s). A size whose containers would not fit in the host's available
   memory (measured shim and container cost per sandbox, with a 4 GiB reserve) or that
   the run's --max-minutes does not leave time to start, stops the run and says why.
   Sandboxes are started 100 at a time, 4 at once. --project sizes (none by default: 1,000
   is measured) are extrapolated by a least-squares line through the measured sizes (CPU %
   and RSS grow linearly: a fixed process plus a cost per sandbox), marked ``projected``.
2. traffic: the collector (in-process, 1 Hz, LocalBus) over the first size's sandboxes for
   one full-snapshot cycle (30 s after a warm-up): events/s and bytes/s per sandbox on each
   topic, raw and lz4-compressed (the producer's codec), and per day.
3. plan: processor workers and partitions for 1,000 and 10,000 sandboxes from those rates
   and the worker throughput measured by bench/processor.py (bench/results/processor.json),
   with half of each worker kept as headroom.
4. clickhouse: the captured events replicated for --ch-sandboxes sandboxes over one hour
   (new ids, container ids and times; metric counters and gauges moved by a random walk),
   stored by the real sink into the embedded engine, merged (OPTIMIZE FINAL); rows and bytes
   on disk per table from system.parts, scaled to 1,000 sandboxes per day.
Removes every container and topic it created.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import docker
import lz4.frame  # type: ignore[import-untyped]
import orjson
from prometheus_client import CollectorRegistry

from bench import cli
from bench.collector import RUN_LABEL, collector_cpu, ours, remove_containers, start_containers
from collectors import Collector, CollectorConfig
from reporting.sink import Sink
from reporting.store import ClickHouseStore
from sandguard.bus import LocalBus
from sandguard.logs import configure_logging
from schemas import topics as t

DAY_S = 86_400
# One full process snapshot every 30 samples (CollectorConfig.full_snapshot_every) at 1 Hz.
CAPTURE_S = 30.0
WARMUP_S = 5.0
# Processor input topics (processors.pipeline.INPUT_TOPICS).
PROCESSOR_INPUTS = (t.METRICS, t.PROCESSES, t.POLICIES, t.AUDIT)
# Half of a worker's measured throughput is headroom (catch-up after a rebalance or outage).
WORKER_HEADROOM = 0.5
# Memory kept free for the other users of the machine when deciding a size fits.
RESERVE_BYTES = 4 << 30
# Sandboxes started between two checks of the deadline and of host memory.
GROW_CHUNK = 100
HOUR_S = 3600


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


async def capture(run_id: str, seconds: float) -> tuple[int, dict[str, list[bytes]]]:
    """Every event the collector publishes over ``seconds`` after a warm-up, by topic."""
    bus = LocalBus(queue_size=1_000_000)
    await bus.start()
    consumer = await bus.consumer(list(t.TOPICS), group="capture")
    collector = Collector(
        bus, config=CollectorConfig(host="bench", interval_s=1.0, label=f"{RUN_LABEL}={run_id}")
    )
    await collector.start()
    try:
        await asyncio.sleep(WARMUP_S)
        while await consumer.getmany(timeout_ms=0, max_records=100_000):
            pass  # the start-up snapshot is not steady state
        by_topic: dict[str, list[bytes]] = defaultdict(list)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for r in await consumer.getmany(timeout_ms=200, max_records=10_000):
                if r.value is not None:
                    by_topic[r.topic].append(r.value)
        return collector.tracked()["containers"], dict(by_topic)
    finally:
        await collector.stop(drain_timeout_s=1)
        await bus.stop()


def traffic(sandboxes: int, seconds: float, by_topic: dict[str, list[bytes]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for topic, values in sorted(by_topic.items()):
        raw = sum(len(v) for v in values)
        packed = len(lz4.frame.compress(b"".join(values)))
        per_s = 1 / (sandboxes * seconds)
        out[topic] = {
            "events_per_s_per_sandbox": round(len(values) * per_s, 4),
            "bytes_per_s_per_sandbox": round(raw * per_s, 1),
            "lz4_bytes_per_s_per_sandbox": round(packed * per_s, 1),
            "mb_per_day_per_1000_sandboxes_lz4": round(packed * per_s * DAY_S * 1000 / 1e6, 1),
            "bytes_per_event": round(raw / len(values)),
        }
    return out


def plan(rates: dict[str, Any], worker_events_per_s: float) -> dict[str, Any]:
    per_sandbox = sum(rates.get(topic, {}).get("events_per_s_per_sandbox", 0.0) for topic in PROCESSOR_INPUTS)
    out: dict[str, Any] = {"processor_input_events_per_s_per_sandbox": round(per_sandbox, 3)}
    for fleet in (1_000, 10_000):
        load = per_sandbox * fleet
        workers = max(2, math.ceil(load / (worker_events_per_s * WORKER_HEADROOM)))  # 2: one may fail
        partitions = max(12, 12 * math.ceil(2 * workers / 12))  # twice the workers, multiple of 12
        out[str(fleet)] = {"input_events_per_s": round(load), "workers": workers, "partitions": partitions}
    return out


def _vary(event: dict[str, Any], cid: str, at_ms: int, rng: random.Random) -> dict[str, Any]:
    e = {**event, "event_id": uuid.uuid4().hex, "container_id": cid, "time": at_ms}
    if event.get("kind") == "metrics":
        e["cpu_usage_ns_total"] = int(event.get("cpu_usage_ns_total", 0)) + at_ms * rng.randint(0, 200)
        e["cpu_percent"] = round(rng.uniform(0, 40), 2)
        e["memory_usage_bytes"] = int(event.get("memory_usage_bytes", 0)) + rng.randint(0, 64) * 65536
    return e


def replicate(
    by_topic: dict[str, list[bytes]], per_s: dict[str, float], sandboxes: int
) -> list[tuple[str, bytes]]:
    """One hour of ``sandboxes`` sandboxes at the captured per-sandbox rates, ending now."""
    rng = random.Random(7)
    start_ms = int(time.time() * 1000) - HOUR_S * 1000
    out: list[tuple[str, bytes]] = []
    for topic, values in by_topic.items():
        templates = [orjson.loads(v) for v in values]
        every_ms = 1000 / per_s[topic]  # one sandbox's interval between events of this topic
        for s in range(sandboxes):
            cid = uuid.UUID(int=rng.getrandbits(128)).hex * 2
            n = int(HOUR_S * 1000 / every_ms)
            for i in range(n):
                ev = _vary(templates[(s + i) % len(templates)], cid, start_ms + int(i * every_ms), rng)
                out.append((topic, orjson.dumps(ev)))
    return out


async def store_all(events: list[tuple[str, bytes]], data: Path) -> dict[str, Any]:
    store = ClickHouseStore(path=data).open()
    bus = LocalBus(queue_size=len(events) + 1)
    await bus.start()
    sink = Sink(bus, store, registry=CollectorRegistry())
    await sink.start()
    for topic, value in events:
        await bus.publish(topic, None, value)
    await sink.run(until_idle_s=2.0)
    await sink.close()
    await bus.stop()
    try:
        tables = store.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree'"
        )
        for (name,) in tables:
            store.command(f"OPTIMIZE TABLE {name} FINAL")
        rows = store.query(
            "SELECT table, sum(rows), sum(bytes_on_disk), sum(data_uncompressed_bytes) FROM system.parts"
            " WHERE active AND database = currentDatabase() GROUP BY table ORDER BY table"
        )
        return {
            str(r[0]): {"rows": int(r[1]), "bytes_on_disk": int(r[2]), "uncompressed": int(r[3])}
            for r in rows
        }
    finally:
        store.close()


def clickhouse(by_topic: dict[str, list[bytes]], rates: dict[str, Any], sandboxes: int) -> dict[str, Any]:
    per_s = {topic: rates[topic]["events_per_s_per_sandbox"] for topic in by_topic}
    events = replicate(by_topic, per_s, sandboxes)
    with tempfile.TemporaryDirectory(prefix="sandguard-scaling-") as tmp:
        tables = asyncio.run(store_all(events, Path(tmp) / "clickhouse"))
    scale = 24 * 1000 / sandboxes  # one hour of `sandboxes` -> one day of 1,000
    out: dict[str, Any] = {"events_stored": len(events), "sandboxes": sandboxes, "hours": 1}
    for table, v in tables.items():
        if v["rows"] and not table.startswith("schema_"):  # the migrations ledger: fixed
            out[table] = {
                "rows_per_day_per_1000": round(v["rows"] * scale),
                "mb_on_disk_per_day_per_1000": round(v["bytes_on_disk"] * scale / 1e6, 1),
                "bytes_per_row_on_disk": round(v["bytes_on_disk"] / v["rows"], 1),
                "compression_ratio": round(v["uncompressed"] / max(1, v["bytes_on_disk"]), 1),
            }
    return out


def grow(client: docker.DockerClient, run_id: str, started: int, size: int, deadline: float) -> str | None:
    """Starts sandboxes up to ``size``, GROW_CHUNK at a time (4 at once); None when all
    are up, else why it stopped: the run's deadline, host memory, or Docker's refusal."""
    per_container = 0
    while started < size:
        more = min(GROW_CHUNK, size - started)
        if time.monotonic() > deadline:
            return f"deadline: {started} of {size} started"
        if per_container and mem_available() - RESERVE_BYTES < more * per_container * 1.5:
            return f"memory: {started} of {size} started, {mem_available() >> 20} MiB available"
        before = mem_available()
        try:
            start_containers(client, run_id, more)
        except docker.errors.APIError as exc:
            return f"docker: {started} of {size} started: {exc}"
        started += more
        per_container = max(per_container, (before - mem_available()) // more)
    return None


def collector_sizes(
    client: docker.DockerClient, run_id: str, sizes: list[int], opts: argparse.Namespace
) -> Any:
    results: dict[str, Any] = {}
    deadline = time.monotonic() + opts.max_minutes * 60
    mem0, started = mem_available(), 0
    for size in sizes:
        t0 = time.monotonic()
        stopped = grow(client, run_id, started, size, deadline)
        started, start_s = len(ours_running(client, run_id)), time.monotonic() - t0
        if stopped is not None:
            results[str(size)] = {"skipped": stopped}
            break
        passes = asyncio.run(ours(run_id, size, opts.passes))
        proc = collector_cpu(run_id, size, opts.cpu_seconds, opts.bootstrap)
        results[str(size)] = {
            "pass_cpu_us_per_sandbox": round(passes["us"], 1),
            "process_cpu_percent_of_core_at_1hz": round(proc["cpu_percent"], 2),
            "process_rss_mb": round(proc["rss_mb"], 1),
            "published_events_per_s": round(proc["published_per_s"], 1),
            "watched": int(proc["watched"]),
            "host_memory_per_sandbox_mb": round((mem0 - mem_available()) / size / 2**20, 1),
            "start_s": round(start_s, 1),
            "load_1m": round(os.getloadavg()[0], 2),
        }
    return results


def ours_running(client: docker.DockerClient, run_id: str) -> list[Any]:
    return list(client.containers.list(sparse=True, filters={"label": f"{RUN_LABEL}={run_id}"}))


def _line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares intercept and slope."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return my - slope * mx, slope


def project(measured: dict[str, Any], sizes: list[int]) -> dict[str, Any]:
    points = {int(k): v for k, v in measured.items() if "skipped" not in v}
    if len(points) < 2:
        return {}
    xs = [float(x) for x in points]
    out: dict[str, Any] = {}
    for size in sizes:
        one: dict[str, Any] = {"projected": True}
        for key in ("process_cpu_percent_of_core_at_1hz", "process_rss_mb"):
            a, b = _line(xs, [float(v[key]) for v in points.values()])
            one[key] = round(a + b * size, 2)
            one[key.replace("process_", "per_sandbox_")] = round(b, 4)
        out[str(size)] = one
    return out


def main() -> None:
    parser = cli.parser(__doc__, kafka=True)
    parser.add_argument("--sizes", default="50,200,1000")
    parser.add_argument("--project", default="")
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--cpu-seconds", type=float, default=15.0)
    parser.add_argument("--ch-sandboxes", type=int, default=100)
    parser.add_argument("--max-minutes", type=float, default=40.0, help="bound on starting sandboxes")
    opts = parser.parse_args()
    configure_logging(level="warning")
    sizes = sorted(int(s) for s in opts.sizes.split(","))
    processor = json.loads((Path(__file__).parent / "results" / "processor.json").read_text())
    worker_eps = float(processor["after"][0]["worker_events_per_s"])
    client = docker.from_env(timeout=300)
    run_id = uuid.uuid4().hex[:12]
    # Should this run be killed, its sandboxes are found by this label.
    print(f"sandboxes labelled {RUN_LABEL}={run_id}", file=sys.stderr, flush=True)
    result: dict[str, Any] = {"load_1m_before": round(os.getloadavg()[0], 2)}
    try:
        start_containers(client, run_id, sizes[0])
        watched, by_topic = asyncio.run(capture(run_id, CAPTURE_S))
        rates = traffic(watched, CAPTURE_S, by_topic)
        result["traffic"] = {"sandboxes": watched, "seconds": CAPTURE_S, "topics": rates}
        result["plan"] = {**plan(rates, worker_eps), "worker_events_per_s_measured": worker_eps}
        remove_containers(client, run_id)
        result["collector"] = collector_sizes(client, run_id, sizes, opts)
        result["collector"].update(
            project(result["collector"], [int(s) for s in opts.project.split(",") if s])
        )
    finally:
        remove_containers(client, run_id)
    result["clickhouse"] = clickhouse(by_topic, rates, opts.ch_sandboxes)
    result["load_1m_after"] = round(os.getloadavg()[0], 2)
    cli.emit(result, opts.json)


if __name__ == "__main__":
    main()
