"""Processor throughput: the pure engine on one core, and one Faust worker on the local broker.

    python bench/processor.py --json [--containers 200]

prints ``engine_events_per_s`` (metric events through ``step``, states in memory),
``pipeline_events_per_s`` (the same events as bytes through ``Pipeline.handle_batch`` in
fetch-sized batches: one validation, step, each container's state serialised once per
batch: what a worker does per event besides Kafka), ``pipeline_one_by_one_events_per_s``
(``Pipeline.handle``, a state written per event, beside it) and ``worker_events_per_s``
(one ``sandguard processor`` worker, metric events pre-published to the broker, timed
from its first event to its last, violations out) with ``worker_events_per_cpu_s`` (the
same events over the worker's CPU time: its rate on a core of its own). Targets: 200,000 and 20,000 events/s.
``--containers`` spreads the samples over more containers: with 20,000, a fetch of 2,000
records holds one sample per container, so every event costs a state write (the case
of many sandboxes sampled once a second), where 200 lets a batch coalesce ten. The
machine is shared: ``load_1m_before``/``load_1m_after`` are the load averages around the
run. Every loop is bounded in count and time; traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psutil

from processors.engine import ContainerState, PolicyContext, compile_policy, step
from processors.faust_app import FETCH_MAX_RECORDS
from processors.metrics import ProcessorMetrics
from processors.pipeline import Pipeline
from processors.stores import PolicyStore, StateStore
from sandguard.settings import Settings
from schemas import MetricSample, Record, ResourceLimits, SecurityPolicy, SocketCounts, encode
from schemas import topics as t

MIB = 1024 * 1024
CONTAINERS = 200
ENGINE_TARGET = 200_000
WORKER_TARGET = 20_000
WORKER_TIMEOUT_S = 300


def _events(n: int, containers: int = CONTAINERS) -> list[MetricSample]:
    """n samples, 1 s apart per container; one container in ten over its memory limit."""
    out = []
    for i in range(n):
        c, tick = i % containers, i // containers
        mem = (600 if c % 10 == 0 else 200) * MIB
        out.append(MetricSample(
            container_id=f"bench-{c:05d}", host="bench", time=1_800_000_000_000 + tick * 1000,
            cpu_usage_ns_total=tick * 200_000_000, cpu_periods_total=tick * 10,
            cpu_throttled_periods_total=tick * 2, memory_working_set_bytes=mem, pids_current=5,
            open_fds=20, sockets=SocketCounts(tcp=1),
        ))  # fmt: skip
    return out


def bench_engine(n: int, containers: int) -> float:
    ctx = PolicyContext(compile_policy(SecurityPolicy(resource_limits=ResourceLimits(memory_mb=512))))
    events = _events(n, containers)
    states: dict[str, ContainerState | None] = {}
    start = time.perf_counter()
    for ev in events:
        states[ev.container_id] = step(states.get(ev.container_id), ctx, ev).state
    return n / (time.perf_counter() - start)


def _records(n: int, containers: int) -> list[Record]:
    events = _events(n, containers)
    return [Record(t.METRICS, 0, i, e.container_id, encode(e), 0) for i, e in enumerate(events)]


def _pipeline() -> Pipeline:
    return Pipeline(
        states=StateStore({}), policies=PolicyStore({}, SecurityPolicy()), metrics=ProcessorMetrics()
    )


def bench_pipeline(n: int, containers: int) -> float:
    records, p = _records(n, containers), _pipeline()
    start = time.perf_counter()
    for i in range(0, n, FETCH_MAX_RECORDS):
        p.delivered(o.id for o in p.handle_batch(records[i : i + FETCH_MAX_RECORDS]))
    return n / (time.perf_counter() - start)


def bench_pipeline_one_by_one(n: int, containers: int) -> float:
    records, p = _records(n, containers), _pipeline()
    start = time.perf_counter()
    for rec in records:
        p.delivered(o.id for o in p.handle(rec))
    return n / (time.perf_counter() - start)


def _events_total(port: int) -> float:
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return 0.0
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("sandguard_processor_events_total{")
    )


async def _publish(bootstrap: str, ns: str, n: int, partitions: int, containers: int = CONTAINERS) -> None:
    from sandguard.bus import KafkaBus, ensure_topics

    await ensure_topics(bootstrap, namespace=ns, partitions=partitions)
    bus = KafkaBus(bootstrap, namespace=ns, partitions=partitions)
    await bus.start()
    for ev in _events(n, containers):
        await bus.publish(t.METRICS, ev.container_id, encode(ev))
    await bus.flush()
    await bus.stop()


def _worker_argv(profile: Path | None) -> list[str]:
    """The worker's interpreter command; under cProfile (stats written at exit) when asked."""
    if profile is None:
        return [sys.executable, "-c", "from sandguard.cli import main; main()"]
    code = f"import cProfile; from sandguard.cli import main; cProfile.run('main()', {str(profile)!r})"
    return [sys.executable, "-c", code]


def bench_worker(
    bootstrap: str, n: int, partitions: int, containers: int, profile: Path | None = None
) -> dict[str, float]:
    import socket

    from sandguard.bus import drop_namespace

    ns = f"bench-{uuid.uuid4().hex[:8]}."
    asyncio.run(_publish(bootstrap, ns, n, partitions, containers))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        argv = [*_worker_argv(profile), "processor",
                "--bootstrap", bootstrap, "--namespace", ns, "--partitions", str(partitions),
                "--data-dir", str(Path(tmp) / "data"), "--metrics-port", str(port)]  # fmt: skip
        log = open(Path(tmp) / "worker.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
        try:
            return _time_worker(port, n, proc.pid)
        finally:
            proc.terminate()
            proc.wait(60)
            log.close()
            asyncio.run(drop_namespace(bootstrap, ns))


def _time_worker(port: int, n: int, pid: int) -> dict[str, float]:
    """Wall time from the first events counted to the last, and the worker's CPU time (all
    its threads) over the same span: events per CPU second is what the worker would do
    with a core to itself, whatever else the shared machine runs."""
    proc = psutil.Process(pid)
    deadline = time.monotonic() + WORKER_TIMEOUT_S
    first = last = cpu_first = 0.0
    while time.monotonic() < deadline:
        done = _events_total(port)
        now, cpu = time.monotonic(), sum(proc.cpu_times()[:2])
        if done > 0 and not first:
            first, first_count, cpu_first = now, done, cpu
        if done >= n:
            last = now
            break
        time.sleep(0.05)
    if not last:
        raise TimeoutError(f"worker did not process {n} events in {WORKER_TIMEOUT_S} s")
    return {
        "worker_events_per_s": (n - first_count) / max(last - first, 1e-3),
        "worker_events_per_cpu_s": (n - first_count) / max(cpu - cpu_first, 1e-3),
        "worker_events": n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--engine-events", type=int, default=200_000)
    ap.add_argument("--worker-events", type=int, default=100_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--bootstrap", default=Settings().kafka_bootstrap)
    ap.add_argument("--skip-worker", action="store_true")
    ap.add_argument("--containers", type=int, default=CONTAINERS, help="containers the samples spread over")
    ap.add_argument("--profile", type=Path, default=None, help="cProfile stats of the worker to this file")
    args = ap.parse_args()
    n, containers = min(args.engine_events, 100_000), args.containers
    out: dict[str, float] = {"load_1m_before": round(os.getloadavg()[0], 2), "containers": containers}
    out["engine_events_per_s"] = round(bench_engine(args.engine_events, containers))
    out["pipeline_events_per_s"] = round(bench_pipeline(n, containers))
    out["pipeline_one_by_one_events_per_s"] = round(bench_pipeline_one_by_one(n, containers))
    if not args.skip_worker:
        worker = bench_worker(args.bootstrap, args.worker_events, args.partitions, containers, args.profile)
        out.update({k: round(v) for k, v in worker.items()})
        out["worker_vs_target"] = round(out["worker_events_per_s"] / WORKER_TARGET, 2)
    out["engine_vs_target"] = round(out["engine_events_per_s"] / ENGINE_TARGET, 2)
    out["load_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
