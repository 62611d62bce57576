"""Kernel event source: exec events per second at the fastest exec loop, events lost,
traced/untraced wall time of an exec-heavy workload, the tracer's CPU per exec, and
exec-to-kill latency of a blocked program.

``python -m bench.kernel_events --json [--cpu-containers 200]`` (root; Docker engine;
deploy/local/kernel.sh; Kafka for the CPU part, as bench/collector.py).
Traced and untraced runs alternate, in turn first and second (the machine is shared and
noisy): the ratio reported is the median of each round's traced/untraced pair, with its
spread (min, max) and the best-of-each ratio beside it. Loops are bounded in count;
nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import docker
from prometheus_client import CollectorRegistry

from bench.collector import RUN_LABEL, cpu_ticks, remove_containers, scrape, start_containers
from bench.stats import percentile
from collectors.docker_port import ContainerInfo
from collectors.kernel.kmetrics import KernelMetrics
from collectors.kernel.source import KernelSource
from sandguard.bus import drop_namespace
from sandguard.logs import configure_logging
from sandguard.settings import Settings
from schemas import ActionResult, ExecEvent, decode, labels, topics

IMAGE = "sandguard/busybox:1"
# 3,000 execs: ~2 s at the ~1,500-2,000 execs/s one busybox loop runs here.
LOOP_EXECS = 3_000
ROUNDS = 5
BLOCKED_RUNS = 300
TICKS = os.sysconf("SC_CLK_TCK")


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _loop(cid: str, n: int, prog: str = "/bin/true") -> float:
    t0 = time.perf_counter()
    script = f"i=0; while [ $i -lt {n} ]; do {prog}; i=$((i+1)); done"
    subprocess.run(["docker", "exec", cid, "sh", "-c", script], capture_output=True, check=False)
    return time.perf_counter() - t0


def _cpu_s(pid: int | None) -> float:
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Round:
    def __init__(self, cid: str, pid: int) -> None:
        self.cid, self.pid, self.raw, self.lost = cid, pid, list[tuple[str, bytes]](), 0

    async def traced(self, n: int, blocked_runs: int) -> tuple[float, float, float]:
        """(wall s, tracer CPU s, reader CPU s) of one traced loop."""
        src = KernelSource(host="bench", emit=lambda out: self.raw.extend((t, v) for t, _, v in out),
                           metrics=KernelMetrics(CollectorRegistry()))  # fmt: skip
        await src.start()
        policy = {labels.MODE: "enforce", labels.BLOCKED: "rm"}
        src.add(ContainerInfo(id=self.cid, pid=self.pid, labels=policy))
        await src.sync()
        tracer0, reader0 = _cpu_s(src.tracer_pid), time.process_time()
        wall = await asyncio.to_thread(_loop, self.cid, n)
        await src.sync(30.0)
        tracer, reader = _cpu_s(src.tracer_pid) - tracer0, time.process_time() - reader0
        if blocked_runs:
            await asyncio.to_thread(_loop, self.cid, blocked_runs, "/bin/rm -f /nonexistent")
            await src.sync(30.0)
        self.lost += src.lost
        await src.stop()
        return wall, tracer, reader


async def run(n: int, rounds: int) -> dict[str, Any]:
    cid = _docker("run", "-d", "--rm", "--network", "none", IMAGE, "sleep", "600")
    try:
        r = Round(cid, int(_docker("inspect", "-f", "{{.State.Pid}}", cid)))
        untraced, traced = [], []
        for i in range(rounds):
            if i % 2:
                traced.append(await r.traced(n, 0))
            untraced.append(await asyncio.to_thread(_loop, cid, n))
            if not i % 2:
                traced.append(await r.traced(n, BLOCKED_RUNS if i == 0 else 0))
    finally:
        _docker("rm", "-f", cid)
    seen = [decode(t, v) for t, v in r.raw]
    execs = [e for e in seen if isinstance(e, ExecEvent) and e.argv == ("/bin/true",)]
    kills = sorted(a.details["exec_to_kill_us"] for a in seen if isinstance(a, ActionResult))
    best = min(traced)
    ratios = sorted(t[0] / u for t, u in zip(traced, untraced, strict=True))
    return {
        "exec_loop_count": n, "rounds": rounds,
        "exec_events_per_s": round(n / best[0], 1),
        "exec_events_seen": len(execs), "exec_events_expected": rounds * n,
        "exec_events_lost": r.lost + max(0, rounds * n - len(execs)),
        "exec_overhead_ratio": round(percentile(ratios, 50), 3),
        "exec_overhead_ratio_spread": [round(ratios[0], 3), round(ratios[-1], 3)],
        "exec_overhead_ratio_best_of_each": round(best[0] / min(untraced), 3),
        "untraced_s": [round(u, 3) for u in untraced], "traced_s": [round(t[0], 3) for t in traced],
        "tracer_cpu_us_per_exec": round(percentile((t[1] for t in traced), 50) / n * 1e6, 1),
        "reader_cpu_us_per_exec": round(percentile((t[2] for t in traced), 50) / n * 1e6, 1),
        "blocked_runs": BLOCKED_RUNS, "blocked_killed": len(kills),
        "exec_to_kill_us_p50": round(percentile(kills, 50)) if kills else None,
        "exec_to_kill_us_p99": round(percentile(kills, 99)) if kills else None,
    }  # fmt: skip


# Findings are one per rule, sandbox and subject: each sample is the first exec of a
# distinct blocked program (audit mode: recorded, not killed), 100 ms apart, so the number
# of samples is the number of programs (coreutils of the Python image, all present).
FINDING_PROGRAMS = (
    "rm", "rmdir", "chmod", "chown", "chgrp", "mkdir", "touch", "ln", "cp", "mv", "cat", "head",
    "tail", "sort", "uniq", "wc", "cut", "tr", "date", "env", "id", "uname", "hostname", "nproc",
    "sleep", "true", "false", "basename", "dirname", "seq", "tee", "yes", "od", "nl", "pwd",
    "whoami", "stat", "du", "df", "md5sum",
)  # fmt: skip
FINDING_AGENT = (
    "import subprocess, time\n"
    "for name in {names!r}:\n"
    "    subprocess.run([name, '--version'], capture_output=True)\n"
    "    time.sleep(0.1)\n"
)


async def finding_latency(n: int, data_dir: Path) -> dict[str, Any]:
    """exec (kernel time) to finding (the engine's decision), embedded pipeline, p50/p99 ms."""
    from sandguard import SandboxManager, SecurityPolicy

    names = FINDING_PROGRAMS[:n]
    manager = SandboxManager(SecurityPolicy(blocked_commands=set(names), mode="audit"), data_dir=data_dir)
    lat: list[int] = []
    try:
        sid = await manager.create_sandbox(image="sandguard/python:3")
        assert manager.pipeline is not None
        consumer = await manager.pipeline.bus.consumer([topics.VIOLATIONS], group=f"bench-{sid[:12]}")
        await manager.write_file(sid, "/work/agent.py", FINDING_AGENT.format(names=names).encode())
        await manager.execute(sid, "python3 /work/agent.py", timeout=120)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(lat) < len(names):
            for r in await consumer.getmany(timeout_ms=200):
                v = decode(r.topic, r.value)
                if v.container_id == sid and v.rule_id == "process.blocked" and v.activity == "create":
                    lat.append(v.detected_time - v.sample_time)
        await consumer.stop()
    finally:
        await manager.cleanup()
    lat.sort()
    return {"findings": len(lat), "exec_to_finding_ms_p50": round(percentile(lat, 50), 2) if lat else None,
            "exec_to_finding_ms_p99": round(percentile(lat, 99), 2) if lat else None}  # fmt: skip


def _children_ticks(pid: int) -> int:
    """CPU ticks of a process and its direct children (the tracer runs as one)."""
    total = cpu_ticks(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                total += cpu_ticks(int(child))
    return total


def collector_cpu(run_id: str, containers: int, seconds: float, bootstrap: str, kernel: bool) -> float:
    """The real ``sandguard collector`` at 1 Hz on Kafka, its tracer included: % of one core."""
    port = 19500 + os.getpid() % 400 + (1 if kernel else 0)
    exe = Path(sys.executable).parent / "sandguard"
    args = [str(exe), "collector", "--bootstrap", bootstrap, "--namespace", f"bench-{run_id}.",
            "--label", f"{RUN_LABEL}={run_id}", "--metrics-port", str(port), "--log-level", "warning",
            "--kernel-events" if kernel else "--no-kernel-events"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if scrape(port, "sandguard_collector_containers_watched") >= containers:
                    break
            time.sleep(0.5)
        time.sleep(5)  # every container sampled a few times, Kafka connected, the tracer attached
        t0, c0 = time.monotonic(), _children_ticks(proc.pid)
        time.sleep(seconds)
        t1, c1 = time.monotonic(), _children_ticks(proc.pid)
        return (c1 - c0) / TICKS / (t1 - t0) * 100
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        asyncio.run(drop_namespace(bootstrap, f"bench-{run_id}."))


def cpu_at(n: int, seconds: float, bootstrap: str) -> dict[str, Any]:
    """Collector CPU over n idle sandboxes, kernel events on and off, side by side."""
    client = docker.from_env(timeout=300)
    run_id = uuid.uuid4().hex[:12]
    try:
        start_containers(client, run_id, n)
        on = collector_cpu(run_id, n, seconds, bootstrap, kernel=True)
        off = collector_cpu(run_id, n, seconds, bootstrap, kernel=False)
    finally:
        remove_containers(client, run_id)
    return {"cpu_containers": n, "collector_cpu_percent_kernel_on": round(on, 2),
            "collector_cpu_percent_kernel_off": round(off, 2)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--execs", type=int, default=LOOP_EXECS)
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    ap.add_argument("--findings", type=int, default=len(FINDING_PROGRAMS), help="exec_to_finding samples")
    ap.add_argument("--cpu-containers", type=int, default=0, help="also collector CPU at N sandboxes")
    ap.add_argument("--cpu-seconds", type=float, default=30.0)
    ap.add_argument("--bootstrap", default=Settings().kafka_bootstrap)
    args = ap.parse_args()
    configure_logging(level="error")  # logs to stderr (the blocked-exec warnings too): stdout is the result
    result = asyncio.run(run(args.execs, args.rounds))
    if args.findings:
        with tempfile.TemporaryDirectory(prefix="sandguard-bench-") as tmp:
            result.update(asyncio.run(finding_latency(args.findings, Path(tmp))))
    if args.cpu_containers:
        result.update(cpu_at(args.cpu_containers, args.cpu_seconds, args.bootstrap))
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
