"""Collector cost against the Docker stats API, on the same containers, in one run.

    .venv/bin/python bench/collector.py --containers 50 --json

1. Starts max(N, --cpu-containers) busybox sandboxes (``sleep``), labelled with a run id.
2. ours: the collector's own sampling pass (cgroups + /proc, process list, events encoded)
   over N containers, repeated; CPU µs per container (median pass; wall time beside it).
3. docker stats: ``stats(stream=False)`` as the original monitor used it, and
   ``one_shot=True``, serially over the same N containers; µs per container.
4. cpu: the real ``sandguard collector`` process at 1 Hz over --cpu-containers containers,
   publishing to Kafka, its CPU time over --cpu-seconds as a percent of one core.
5. Removes every container it created (by its run id label).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker

from collectors import Collector, CollectorConfig
from sandguard.bus import LocalBus, drop_namespace
from sandguard.logs import configure_logging

try:
    from bench import cli
    from bench.stats import percentile
except ModuleNotFoundError:  # run as a script (python bench/x.py): bench/ is on the path
    import cli  # type: ignore[import-not-found,no-redef]
    from stats import percentile  # type: ignore[import-not-found,no-redef]

IMAGE = "sandguard/busybox:1"
RUN_LABEL = "sandguard.bench.run"


def start_containers(client: docker.DockerClient, run_id: str, n: int) -> list[str]:
    labels = {"sandguard.sandbox": "1", RUN_LABEL: run_id}

    def one(_: int) -> str:
        c = client.containers.run(IMAGE, "sleep 3600", labels=labels, network_mode="none", detach=True)
        return str(c.id)

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(n)))


def remove_containers(client: docker.DockerClient, run_id: str) -> None:
    found = client.containers.list(all=True, sparse=True, filters={"label": f"{RUN_LABEL}={run_id}"})
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda c: c.remove(force=True), found))


async def ours(run_id: str, n: int, passes: int) -> dict[str, float]:
    """µs per container of the production sampling pass over the first n containers."""
    bus = LocalBus()
    await bus.start()
    label = f"{RUN_LABEL}={run_id}"
    # No scheduled passes during the measurement: the interval is longer than the bench.
    collector = Collector(bus, config=CollectorConfig(host="bench", interval_s=3600, label=label))
    await collector.start()
    try:
        while collector.tracked()["watched"] < n:
            await asyncio.sleep(0.2)
        await collector.sample_now()  # first pass: opens files, reads cmdline/exe of every pid
        watched = collector.tracked()["containers"]
        cpu, wall = [], []
        for _ in range(passes):
            c0, w0 = time.process_time(), time.perf_counter()
            await collector.sample_now()
            cpu.append((time.process_time() - c0) / watched * 1e6)
            wall.append((time.perf_counter() - w0) / watched * 1e6)
        # CPU time is the cost; wall time also counts waiting for a busy shared machine.
        return {"us": percentile(cpu, 50), "wall_us": percentile(wall, 50), "containers": watched}
    finally:
        await collector.stop(drain_timeout_s=1)
        await bus.stop()


def docker_stats(client: docker.DockerClient, ids: list[str], *, one_shot: bool) -> float:
    """µs per container of the stats API, serially (as a monitor polling each container)."""
    api = client.api
    t0 = time.perf_counter()
    for cid in ids:
        if one_shot:
            api.stats(cid, stream=False, one_shot=True)
        else:
            api.stats(cid, stream=False)
    return (time.perf_counter() - t0) / len(ids) * 1e6


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def scrape(port: int, name: str) -> float:
    """A metric from the collector's endpoint, summed over its labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        lines = r.read().decode().splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith((name + " ", name + "{")))


def collector_cpu(run_id: str, containers: int, seconds: float, bootstrap: str) -> dict[str, float]:
    """The real collector process at 1 Hz with Kafka on: CPU % of one core, RSS."""
    port = 19000 + os.getpid() % 1000
    exe = Path(sys.executable).parent / "sandguard"
    args = [str(exe), "collector", "--bootstrap", bootstrap, "--namespace", f"bench-{run_id}."]
    args += ["--label", f"{RUN_LABEL}={run_id}", "--metrics-port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if scrape(port, "sandguard_collector_containers_watched") >= containers:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        time.sleep(5)  # every container sampled a few times, Kafka connected
        published0 = scrape(port, "sandguard_collector_events_published_total")
        t0, c0 = time.monotonic(), cpu_ticks(proc.pid)
        time.sleep(seconds)
        t1, c1 = time.monotonic(), cpu_ticks(proc.pid)
        hz = os.sysconf("SC_CLK_TCK")
        rss = next(
            int(line.split()[1])
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
        return {
            "cpu_percent": (c1 - c0) / hz / (t1 - t0) * 100,
            "watched": scrape(port, "sandguard_collector_containers_watched"),
            "rss_mb": rss / 1024,
            "published_per_s": (scrape(port, "sandguard_collector_events_published_total") - published0)
            / (t1 - t0),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        asyncio.run(drop_namespace(bootstrap, f"bench-{run_id}."))


def main() -> None:
    parser = cli.parser(__doc__, kafka=True)
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--cpu-containers", type=int, default=200)
    parser.add_argument("--cpu-seconds", type=float, default=30.0)
    parser.add_argument("--passes", type=int, default=20)
    opts = parser.parse_args()
    configure_logging(level="warning")  # logs to stderr: stdout carries only the result

    client = docker.from_env(timeout=300)
    run_id = uuid.uuid4().hex[:12]
    try:
        ids = start_containers(client, run_id, opts.containers)
        ours_result = asyncio.run(ours(run_id, opts.containers, opts.passes))
        stats_us = docker_stats(client, ids, one_shot=False)
        one_shot_us = docker_stats(client, ids, one_shot=True)
        more = max(0, opts.cpu_containers - opts.containers)
        start_containers(client, run_id, more)
        cpu = collector_cpu(run_id, opts.containers + more, opts.cpu_seconds, opts.bootstrap)
    finally:
        remove_containers(client, run_id)
    result: dict[str, Any] = {
        "containers": opts.containers,
        "ours_us_per_sample": round(ours_result["us"], 1),
        "ours_wall_us_per_sample": round(ours_result["wall_us"], 1),
        "docker_stats_us_per_sample": round(stats_us, 1),
        "docker_one_shot_us_per_sample": round(one_shot_us, 1),
        "ratio_vs_docker_stats": round(stats_us / ours_result["us"], 1),
        "ratio_vs_docker_one_shot": round(one_shot_us / ours_result["us"], 1),
        "cpu_percent_at_200x1hz": round(cpu["cpu_percent"], 2),
        "cpu_containers": int(cpu["watched"]),
        "collector_rss_mb_at_200": round(cpu["rss_mb"], 1),
        "events_published_per_s_at_200": round(cpu["published_per_s"], 1),
    }
    cli.emit(result, opts.json)


if __name__ == "__main__":
    main()
